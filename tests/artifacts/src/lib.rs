//! Paths of the test guests (`tests/guests/*`), built for `wasm32-wasip2` by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
