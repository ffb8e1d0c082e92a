//! Builds every plugin under `plugins/` for `wasm32-wasip2` and generates the table of
//! built-in plugins the host knows by name (digest and manifest). The components stay in
//! `OUT_DIR`, which this build hands to host-sandbox's build script (through this package's
//! `links` key) to embed and compile: this crate itself holds no plugin code.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let plugins = root.join("plugins");
    let dirs = wasm_build::crate_dirs(&plugins);
    let components = wasm_build::build(&dirs, "-plugin", &[&plugins, &root.join("sdk"), &root.join("wit")]);
    let mut table = String::from("pub static BUILTINS: &[Builtin] = &[\n");
    for component in &components {
        writeln!(
            table,
            "    Builtin {{ name: {:?}, sha256: {:?}, manifest_text: include_str!({:?}) }},",
            component.name,
            component.sha256,
            component.dir.join("manifest.toml"),
        )
        .unwrap();
    }
    table.push_str("];\n");
    let out_dir = std::env::var("OUT_DIR").unwrap();
    std::fs::write(Path::new(&out_dir).join("builtins.rs"), table).unwrap();
    // `<name>.wasm` for each built-in, read by host-sandbox's build script.
    println!("cargo::metadata=dir={out_dir}");
}
