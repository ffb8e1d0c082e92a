//! Builds workspace crates into `wasm32-wasip2` components from a build script, the way
//! wasmtime's `test-programs` artifacts crate does: one nested `cargo build` in a separate
//! target directory (so it never waits on the outer build's lock), always in release mode.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A component built from one crate.
pub struct Component {
    /// The crate's directory name (`plugins/static` → `static`).
    pub name: String,
    /// The crate's directory.
    pub dir: PathBuf,
    /// The built `.wasm` component: a copy in this build script's `OUT_DIR`, so that what
    /// this build embeds and hashes cannot be changed by another build (debug and release
    /// share the component build directory).
    pub wasm: PathBuf,
    /// Hex SHA-256 of the component's bytes.
    pub sha256: String,
}

/// Every crate directory (holding a `Cargo.toml`) directly under `parent`, sorted.
pub fn crate_dirs(parent: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", parent.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Builds the crates in `dirs` (whose packages are named `<dir name><package_suffix>`)
/// for `wasm32-wasip2` and returns the components. Emits `rerun-if-changed` for the
/// sources they are built from (`watch`: the crates' parents, the SDK and the WIT).
pub fn build(dirs: &[PathBuf], package_suffix: &str, watch: &[&Path]) -> Vec<Component> {
    for path in watch {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let target_dir = outer_target_dir().join("wasm-components");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--release", "--target", "wasm32-wasip2"]).env("CARGO_TARGET_DIR", &target_dir);
    // Flags meant for the host build must not reach the guest build.
    for var in
        ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_MAKEFLAGS"]
    {
        command.env_remove(var);
    }
    let mut components = Vec::new();
    for dir in dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).expect("UTF-8 crate directory").to_string();
        let package = format!("{name}{package_suffix}");
        command.args(["--package", &package]);
        let wasm = target_dir.join("wasm32-wasip2/release").join(format!("{}.wasm", package.replace('-', "_")));
        components.push(Component { name, dir: dir.clone(), wasm, sha256: String::new() });
    }
    let status = command.status().expect("run cargo to build wasm components");
    assert!(status.success(), "building wasm components failed: {command:?}");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set for build scripts"));
    for component in &mut components {
        let bytes = std::fs::read(&component.wasm)
            .unwrap_or_else(|e| panic!("cargo did not produce {}: {e}", component.wasm.display()));
        component.sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        component.wasm = out_dir.join(format!("{}.wasm", component.name));
        std::fs::write(&component.wasm, &bytes).expect("copy the component into OUT_DIR");
    }
    components
}

/// The outer build's target directory, from `OUT_DIR` (`<target>/<profile>/build/<pkg>/out`).
fn outer_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set for build scripts"));
    out_dir.ancestors().nth(4).expect("OUT_DIR is <target>/<profile>/build/<pkg>/out").to_path_buf()
}
