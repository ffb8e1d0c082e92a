//! `docker-credential-wasm`, the program clients run: cache hits are answered here, without
//! the WebAssembly engine; everything else runs `docker-credential-wasm-engine`. It calls
//! host-core alone, which does not depend on wasmtime.

fn main() -> std::process::ExitCode {
    host_core::front::main()
}
