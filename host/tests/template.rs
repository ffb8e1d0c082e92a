//! The Rust plugin template, built as an author outside this workspace builds it: copied to
//! a scratch directory with the SDK dependency pointed at this checkout, its unit tests run
//! natively, its component built for wasm32-wasip2, and a real `get` through the host with
//! `plugin run` (no config).

mod common;

use common::Sandbox;
use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn cargo(dir: &Path, target_dir: &Path, args: &[&str]) -> std::process::Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo).args(args).current_dir(dir).env("CARGO_TARGET_DIR", target_dir).output().unwrap();
    assert!(output.status.success(), "cargo {args:?}:\n{}", String::from_utf8_lossy(&output.stderr));
    output
}

#[test]
fn the_template_builds_outside_the_workspace_and_answers_a_get() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let sandbox = Sandbox::new();
    let crate_dir = sandbox.path("my-plugin");
    copy_dir(&workspace.join("templates/rust-plugin"), &crate_dir);
    // As an author points at the SDK: here, this checkout's. The workspace's lock file and
    // toolchain, so that the build uses the crates and the compiler CI already has.
    let manifest = crate_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let sdk = format!("docker-credential-wasm-sdk = {{ path = {:?}", workspace.join("sdk").display().to_string());
    let written = "docker-credential-wasm-sdk = { path = \"../../sdk\"";
    assert_eq!(text.matches(written).count(), 2, "the dependency and the dev-dependency (testing): {text}");
    std::fs::write(&manifest, text.replace(written, &sdk)).unwrap();
    for file in ["Cargo.lock", "rust-toolchain.toml"] {
        std::fs::copy(workspace.join(file), crate_dir.join(file)).unwrap();
    }
    let target_dir = workspace.join("target/template");

    let tested = cargo(&crate_dir, &target_dir, &["test", "--quiet"]);
    let tested = String::from_utf8_lossy(&tested.stdout);
    assert!(tested.contains("3 passed"), "{tested}");
    cargo(&crate_dir, &target_dir, &["build", "--quiet", "--release", "--target", "wasm32-wasip2"]);
    let wasm = target_dir.join("wasm32-wasip2/release/my_plugin.wasm");
    assert!(wasm.is_file(), "{}", wasm.display());

    let args = ["plugin", "run", wasm.to_str().unwrap(), "registry.example.com", "--setting", "username=robot"];
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut all = args.to_vec();
        all.extend_from_slice(extra);
        sandbox.run(&all, "", env)
    };
    let answered = run(&["--env", "MY_REGISTRY_TOKEN"], &[("MY_REGISTRY_TOKEN", "s3cret")]);
    assert_eq!(
        (answered.stdout.as_str(), answered.code),
        (common::credentials_json("registry.example.com", "robot", "s3cret").as_str(), 0),
        "{}",
        answered.stderr
    );
    // Not granted, the variable is not there: the plugin says how to grant it.
    let ungranted = run(&[], &[("MY_REGISTRY_TOKEN", "s3cret")]);
    assert_eq!(
        (ungranted.stdout.as_str(), ungranted.code),
        ("plugin error: not found: MY_REGISTRY_TOKEN is not set (or not granted: env = [\"MY_REGISTRY_TOKEN\"])\n", 1),
        "{ungranted:?}"
    );
    // The manifest travels in the component: a setting it does not name is refused.
    let misspelt = run(&["--setting", "usernme=robot"], &[]);
    assert_eq!(
        (misspelt.stderr.as_str(), misspelt.code),
        (
            "docker-credential-wasm: the plugin failed: cannot load it: unknown setting \"usernme\" for plugin \"dev\"; expected one of: username (the settings its embedded manifest names)\n",
            1
        ),
        "{misspelt:?}"
    );
    // `audit` shows what it asks for beside what the operator granted.
    let config = sandbox.write(
        "config.toml",
        &format!(
            "[routes]\n\"registry.example.com\" = \"mine\"\n[plugins.mine]\npath = {:?}\nsha256 = \"{}\"\nsettings = {{ username = \"robot\" }}\n",
            wasm.display().to_string(),
            common::sha256sum(&wasm)
        ),
    );
    let audit = sandbox.run(&["--config", config.to_str().unwrap(), "audit"], "", &[]);
    assert_eq!(audit.code, 0, "{audit:?}");
    assert!(
        audit.stdout.contains(
            "  manifest  Credentials for an in-house registry: a user name setting and a token from a granted variable. (embedded in the component)\n"
        ),
        "{}",
        audit.stdout
    );
    assert!(
        audit.stdout.contains("  secrets   (none)\n  asks      env MY_REGISTRY_TOKEN  NOT GRANTED\n"),
        "{}",
        audit.stdout
    );
}
