//! Builds every guest under `tests/guests/` and exposes each component's path as a
//! constant named after its directory (`hostile` → `HOSTILE`).

use std::fmt::Write;
use std::path::Path;

fn main() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests directory");
    let root = tests.parent().expect("workspace root");
    let guests = tests.join("guests");
    let dirs = wasm_build::crate_dirs(&guests);
    let components = wasm_build::build(&dirs, "-guest", &[&guests, &root.join("sdk"), &root.join("wit")]);
    let mut constants = String::new();
    for component in components {
        let name = component.name.to_uppercase().replace('-', "_");
        writeln!(constants, "/// The `{}` test guest.\npub const {name}: &str = {:?};", component.name, component.wasm)
            .unwrap();
    }
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("guests.rs");
    std::fs::write(out, constants).unwrap();
}
