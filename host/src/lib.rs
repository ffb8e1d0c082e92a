//! The engine program, `docker-credential-wasm-engine`: every command line the front does
//! not answer itself, with plugins run in the WebAssembly sandbox. It joins the two
//! libraries: [`host_core`] (the actions, config, cache) and [`host_sandbox`] (the runtime).

mod audit;
mod cli;
mod configure;
mod doctor;
mod import;
mod plugin_dev;
mod plugins;

/// The engine's `main`.
pub fn main() -> std::process::ExitCode {
    host_core::report(cli::run())
}
