//! The crate boundaries, checked: host-core (everything the front runs) does not depend on
//! wasmtime, even indirectly or to build or test; the built front holds no wasmtime code;
//! plugins depend on the SDK alone; the SDK's vendored WIT is the workspace's.

use std::collections::BTreeSet;

/// Runs cargo in the workspace with `args`; its stdout.
fn cargo(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO"))
        .args(args)
        .args(["--offline", "--locked"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run cargo");
    assert!(output.status.success(), "cargo {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Every package `package` depends on, directly or not, to build, run or test it (`cargo
/// tree`, for this machine's target).
fn dependencies_of(package: &str) -> BTreeSet<String> {
    let tree = cargo(&["tree", "-p", package, "--edges", "normal,build,dev", "--prefix", "none", "--format", "{p}"]);
    tree.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_string).collect()
}

#[test]
fn host_core_does_not_depend_on_wasmtime() {
    let core = dependencies_of("host-core");
    assert!(core.contains("serde"), "{core:?}");
    let wasm: Vec<&String> =
        core.iter().filter(|name| name.contains("wasmtime") || name.contains("cranelift")).collect();
    assert!(wasm.is_empty(), "host-core depends on {wasm:?}");
    // The check sees wasmtime where it is.
    assert!(dependencies_of("host-sandbox").contains("wasmtime"));
}

#[test]
fn the_front_binary_holds_no_wasmtime_code() {
    let count = |path: &str| {
        let bytes = std::fs::read(path).unwrap();
        bytes.windows(8).filter(|window| window == b"wasmtime").count()
    };
    assert_eq!(count(env!("CARGO_BIN_EXE_docker-credential-wasm")), 0, "the front links wasmtime");
    // Symbol names say `wasmtime` wherever its code is linked: the engine's do.
    assert!(count(env!("CARGO_BIN_EXE_docker-credential-wasm-engine")) > 0);
}

/// `build.rs` links the unwinder in (see there): neither program names `libgcc_s` among the
/// libraries it needs.
#[test]
fn neither_program_loads_libgcc_s() {
    for program in [env!("CARGO_BIN_EXE_docker-credential-wasm"), env!("CARGO_BIN_EXE_docker-credential-wasm-engine")] {
        let bytes = std::fs::read(program).unwrap();
        let needed = bytes.windows(b"libgcc_s.so".len()).any(|window| window == b"libgcc_s.so");
        assert!(!needed, "{program} needs libgcc_s.so");
        assert!(bytes.windows(b"libc.so.6".len()).any(|window| window == b"libc.so.6"), "{program} names no libc");
    }
}

#[test]
fn plugins_depend_on_the_sdk_alone() {
    let metadata: serde_json::Value =
        serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps"])).unwrap();
    let plugins: Vec<&serde_json::Value> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["manifest_path"].as_str().unwrap().contains("/plugins/"))
        .collect();
    assert!(plugins.len() >= 4, "{} plugins", plugins.len());
    for plugin in plugins {
        let normal: Vec<&str> = plugin["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(normal, ["docker-credential-wasm-sdk"], "{}", plugin["name"]);
    }
}

#[test]
fn the_sdks_vendored_wit_is_the_workspaces() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let files = |dir: &std::path::Path| -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = ["", "deps"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(dir.join(sub)).unwrap().flatten())
            .filter(|entry| entry.path().is_file())
            .map(|entry| {
                let name = entry.path().strip_prefix(dir).unwrap().display().to_string();
                (name, std::fs::read_to_string(entry.path()).unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let (vendored, workspace) = (files(&root.join("sdk/wit")), files(&root.join("wit")));
    let names = |files: &[(String, String)]| files.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&vendored), names(&workspace), "sdk/wit/ and wit/ hold different files");
    assert!(names(&workspace).contains(&"plugin.wit".to_string()), "{:?}", names(&workspace));
    for ((name, ours), (_, theirs)) in vendored.iter().zip(&workspace) {
        assert!(ours == theirs, "sdk/wit/{name} differs from wit/{name}: copy wit/ into sdk/wit/");
    }
}
