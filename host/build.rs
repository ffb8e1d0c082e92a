//! Builds every plugin under `plugins/` for `wasm32-wasip2`, compiles each to native code
//! for the target's baseline CPU, and generates the table of built-in plugins (component
//! bytes, compiled code and manifest) that the host embeds, so that no built-in plugin waits
//! for a compiler even on its first run.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let plugins = root.join("plugins");
    let dirs = wasm_build::crate_dirs(&plugins);
    let components = wasm_build::build(&dirs, "-plugin", &[&plugins, &root.join("guest-sdk"), &root.join("wit")]);
    // Two tables in the same order: what every program needs, and the code, which only the
    // engine links (the front never refers to it, so it carries none of those bytes).
    let mut table = String::from("pub static BUILTINS: &[Builtin] = &[\n");
    let mut code = String::from("static CODE: &[Code] = &[\n");
    for component in components {
        let compiled = match precompile(&component.wasm) {
            Ok(compiled) => format!("Some(include_bytes!({compiled:?}))"),
            Err(why) => {
                println!(
                    "cargo:warning=built-in plugin {} is compiled at its first run instead: {why}",
                    component.name
                );
                "None".to_string()
            }
        };
        writeln!(
            table,
            "    Builtin {{ name: {:?}, sha256: {:?}, manifest_text: include_str!({:?}) }},",
            component.name,
            component.sha256,
            component.dir.join("manifest.toml"),
        )
        .unwrap();
        writeln!(code, "    Code {{ wasm: include_bytes!({:?}), compiled: {compiled} }},", component.wasm).unwrap();
    }
    table.push_str("];\n");
    code.push_str("];\n");
    table.push_str(&code);
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtins.rs");
    std::fs::write(out, table).unwrap();
}

/// Compiles the component at `wasm` next to it (`.cwasm`), with the engine settings of
/// `runtime::engine_config` (keep the two in step; a test loads every result) for the
/// target's baseline CPU, so that the code runs on any CPU of the target architecture.
fn precompile(wasm: &Path) -> Result<std::path::PathBuf, String> {
    let target = std::env::var("TARGET").map_err(|e| e.to_string())?;
    let mut config = wasmtime::Config::new();
    config.consume_fuel(true);
    config.target(&target).map_err(|e| e.to_string())?;
    let engine = wasmtime::Engine::new(&config).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(wasm).map_err(|e| e.to_string())?;
    let compiled = engine.precompile_component(&bytes).map_err(|e| e.to_string())?;
    let path = wasm.with_extension("cwasm");
    std::fs::write(&path, compiled).map_err(|e| e.to_string())?;
    Ok(path)
}
