//! `docker-credential-wasm`: a Docker credential helper whose registry-specific logic runs
//! in sandboxed WebAssembly plugins.

mod app;
mod audit;
mod builtins;
mod cache;
mod capabilities;
mod cli;
mod config;
mod kubelet;
mod logging;
mod manifest;
mod protocol;
mod registry;
mod router;
mod runtime;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("docker-credential-wasm: {error:#}");
            ExitCode::FAILURE
        }
    }
}
