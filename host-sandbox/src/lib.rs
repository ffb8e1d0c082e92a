//! docker-credential-wasm's WebAssembly sandbox: the bindings of the plugin world, the
//! runtime that loads a plugin and runs one call in a fresh store under its limits, the
//! capabilities a call is given (each module owns its interface, state and linking), and
//! the compiled code (the built-ins' and the cache's).

pub mod bindings;
pub mod builtin_code;
pub mod capabilities;
pub mod components;
pub mod runtime;
pub mod world;

pub use runtime::{LoadedPlugin, Sandbox};
pub use world::{Inspection, WIT_PACKAGE, WIT_VERSION, check_exports, check_imports};
