//! `docker-credential-wasm-engine`: every action, with plugins run in the WebAssembly
//! sandbox. The front (`docker-credential-wasm`) runs it for everything but cache hits.

fn main() -> std::process::ExitCode {
    docker_credential_wasm::main()
}
