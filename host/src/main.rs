//! `docker-credential-wasm`, the program clients run: cache hits are answered here, without
//! the WebAssembly engine; everything else runs `docker-credential-wasm-engine`.

fn main() -> std::process::ExitCode {
    docker_credential_wasm::front_main()
}
