//! Builds every plugin under `plugins/` for `wasm32-wasip2` and generates the table of
//! built-in plugins (component bytes and manifest) that the host embeds.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let plugins = root.join("plugins");
    let dirs = wasm_build::crate_dirs(&plugins);
    let components = wasm_build::build(&dirs, "-plugin", &[&plugins, &root.join("guest-sdk"), &root.join("wit")]);
    let mut table = String::from("pub static BUILTINS: &[Builtin] = &[\n");
    for component in components {
        writeln!(
            table,
            "    Builtin {{ name: {:?}, wasm: include_bytes!({:?}), sha256: {:?}, manifest_text: include_str!({:?}) }},",
            component.name,
            component.wasm,
            component.sha256,
            component.dir.join("manifest.toml"),
        )
        .unwrap();
    }
    table.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtins.rs");
    std::fs::write(out, table).unwrap();
}
