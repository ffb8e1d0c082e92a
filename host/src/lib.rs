//! `docker-credential-wasm`: a Docker credential helper whose registry-specific logic runs
//! in sandboxed WebAssembly plugins. Two programs share this library: the front
//! (`docker-credential-wasm`, what clients run), which answers cache hits without the
//! WebAssembly engine, and the engine (`docker-credential-wasm-engine`), which does
//! everything else.

mod app;
mod audit;
mod builtins;
mod cache;
mod capabilities;
mod cli;
mod config;
mod front;
mod kubelet;
mod logging;
mod manifest;
mod protocol;
mod registry;
mod router;
mod runtime;

use std::process::ExitCode;

/// The front's `main`.
pub fn front_main() -> ExitCode {
    report(front::run())
}

/// The engine's `main`.
pub fn engine_main() -> ExitCode {
    report(cli::run())
}

fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{}: {error:#}", app::NAME);
            ExitCode::FAILURE
        }
    }
}
