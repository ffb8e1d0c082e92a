//! Embeds the built-in plugins' components (built by host-core's build script, which hands
//! over their directory through its `links` key) and compiles each to native code for the
//! target's baseline CPU, so that no built-in plugin waits for a compiler even on its first
//! run.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    let dir =
        PathBuf::from(std::env::var("DEP_DOCKER_CREDENTIAL_WASM_BUILTINS_DIR").expect("host-core's build script ran"));
    let mut components: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .collect();
    components.sort();
    let mut code = String::from("static CODE: &[(&str, Code)] = &[\n");
    for wasm in &components {
        println!("cargo::rerun-if-changed={}", wasm.display());
        let name = wasm.file_stem().and_then(|n| n.to_str()).expect("a UTF-8 component name");
        let compiled = match precompile(wasm) {
            Ok(compiled) => format!("Some(include_bytes!({compiled:?}))"),
            Err(why) => {
                println!("cargo::warning=built-in plugin {name} is compiled at its first run instead: {why}");
                "None".to_string()
            }
        };
        writeln!(code, "    ({name:?}, Code {{ wasm: include_bytes!({wasm:?}), compiled: {compiled} }}),").unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtin_code.rs");
    std::fs::write(out, code).unwrap();
}

/// Compiles the component at `wasm` into this build's `OUT_DIR`, with the engine settings of
/// `runtime::engine_config` (keep the two in step; a test loads every result) for the
/// target's baseline CPU, so that the code runs on any CPU of the target architecture.
fn precompile(wasm: &Path) -> Result<PathBuf, String> {
    let target = std::env::var("TARGET").map_err(|e| e.to_string())?;
    let mut config = wasmtime::Config::new();
    config.consume_fuel(true);
    config.native_unwind_info(false);
    config.target(&target).map_err(|e| e.to_string())?;
    let engine = wasmtime::Engine::new(&config).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(wasm).map_err(|e| e.to_string())?;
    let compiled = engine.precompile_component(&bytes).map_err(|e| e.to_string())?;
    let name = wasm.file_name().ok_or("no file name")?;
    let path = Path::new(&std::env::var("OUT_DIR").unwrap()).join(name).with_extension("cwasm");
    std::fs::write(&path, compiled).map_err(|e| e.to_string())?;
    Ok(path)
}
