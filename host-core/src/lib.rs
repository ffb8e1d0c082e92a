//! docker-credential-wasm without the WebAssembly engine: the helper and kubelet wire
//! formats, the config with its grants resolved into typed values, routing, the credential
//! cache and its answer policy, and the actions over a [`actions::Plugins`] trait. The front
//! program is all here, so a cache hit cannot reach wasmtime: this crate does not depend on it.

pub mod actions;
pub mod answers;
pub mod builtins;
pub mod cache;
pub mod call;
pub mod config;
pub mod docker_config;
pub mod front;
pub mod grants;
pub mod home;
pub mod invocation;
pub mod kubelet;
pub mod logging;
pub mod manifest;
pub mod protocol;
pub mod registry;
pub mod router;
pub mod startup;

use std::process::ExitCode;

/// The helper's name in usage, version and error lines.
pub const NAME: &str = "docker-credential-wasm";

/// A program's exit code from its `run`, with the error and its causes on stderr.
pub fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{NAME}: {error:#}");
            ExitCode::FAILURE
        }
    }
}
