//! A plugin author's loop: `plugin run` runs a .wasm file with the grants given on the
//! command line, and `plugin pin` writes its sha256 into a config that then loads it.

mod common;

use common::{Sandbox, credentials_json, sha256sum};
use std::path::Path;

#[test]
fn plugin_run_needs_no_config_and_grants_only_what_it_is_given() {
    let sandbox = Sandbox::new();
    let wasm = test_artifacts::HOSTILE;
    let output = sandbox.run(&["plugin", "run", wasm, "ok.test"], "", &[]);
    assert_eq!(
        (output.stdout.as_str(), output.code),
        (credentials_json("ok.test", "<token>", "identity-token").as_str(), 0),
        "{}",
        output.stderr
    );
    let env = [("GRANTED", "yes"), ("NOT_GRANTED", "no")];
    let output = sandbox.run(&["plugin", "run", wasm, "env.test", "--env", "GRANTED"], "", &env);
    assert_eq!(output.stdout, credentials_json("env.test", "observer", "GRANTED=yes"));
    let output = sandbox.run(&["plugin", "run", wasm, "x.test", "--network", "ftp://x"], "", &[]);
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.starts_with("docker-credential-wasm: invalid network grant \"ftp://x\""),
        "{}",
        output.stderr
    );
}

#[test]
fn plugin_pin_writes_the_current_sha256_and_keeps_the_rest_of_the_config() {
    let sandbox = Sandbox::new();
    let wasm = sandbox.path("plugin.wasm");
    std::fs::copy(test_artifacts::HOSTILE, &wasm).unwrap();
    let sha = sha256sum(&wasm);
    let stale = "0".repeat(64);
    let text = format!(
        "# routes for the team\n[routes]\n\"*.test\" = \"mine\"\n\n[plugins.mine]\npath = \"{}\" # the build output\nsha256 = \"{stale}\"\n",
        wasm.display()
    );
    let config = sandbox.write("config.toml", &text);
    let pin = |config: &Path| {
        sandbox.run(&["--config", config.to_str().unwrap(), "plugin", "pin", "mine", wasm.to_str().unwrap()], "", &[])
    };
    let output = pin(&config);
    assert_eq!(
        (output.stdout.as_str(), output.code),
        (format!("pinned plugin \"mine\" to {sha} (was {stale}) in {}\n", config.display()).as_str(), 0),
        "{}",
        output.stderr
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text.replace(&stale, &sha));
    assert_eq!(pin(&config).stdout, format!("plugin \"mine\" is already pinned to {sha}\n"));
    let get = sandbox.run(&["--config", config.to_str().unwrap(), "get"], "ok.test", &[]);
    assert_eq!(get.stdout, credentials_json("ok.test", "<token>", "identity-token"));

    // A config with no table for it: the table is made, with the file's path.
    let bare = sandbox.write("bare.toml", "[routes]\n\"*.test\" = \"mine\"\n");
    assert_eq!(pin(&bare).code, 0);
    assert_eq!(
        std::fs::read_to_string(&bare).unwrap(),
        format!(
            "[routes]\n\"*.test\" = \"mine\"\n\n[plugins.mine]\npath = \"{}\"\nsha256 = \"{sha}\"\n",
            wasm.display()
        )
    );
}

#[test]
fn plugin_embed_manifest_writes_a_manifest_the_host_then_reads_and_refuses_a_bad_one() {
    let sandbox = Sandbox::new();
    let wasm = sandbox.path("plugin.wasm");
    std::fs::copy(test_artifacts::HOSTILE, &wasm).unwrap();
    let wasm_arg = wasm.to_str().unwrap();
    let manifest =
        sandbox.write("manifest.toml", "description = \"observes\"\nsettings = [\"mode\"]\nenv = [\"GRANTED\"]\n");
    let embedded = sandbox.run(&["plugin", "embed-manifest", wasm_arg, manifest.to_str().unwrap()], "", &[]);
    assert_eq!(
        (embedded.stdout, embedded.code),
        (format!("embedded {} into {wasm_arg} (sha256 now {})\n", manifest.display(), sha256sum(&wasm)), 0)
    );
    // The host reads it: a setting it does not name is refused before anything runs.
    let run = sandbox.run(&["plugin", "run", wasm_arg, "ok.test", "--setting", "mood=x"], "", &[]);
    assert_eq!(
        (run.stderr.as_str(), run.code),
        (
            "docker-credential-wasm: the plugin failed: cannot load it: unknown setting \"mood\" for plugin \"dev\"; expected one of: mode (the settings its embedded manifest names)\n",
            1
        )
    );

    let before = std::fs::read(&wasm).unwrap();
    let bad = sandbox.write("bad.toml", "description = \"x\"\nsetings = []\n");
    let refused = sandbox.run(&["plugin", "embed-manifest", wasm_arg, bad.to_str().unwrap()], "", &[]);
    assert_eq!(refused.code, 1);
    let expected =
        format!("docker-credential-wasm: {wasm_arg} is left as it is: the manifest {} is not valid: ", bad.display());
    assert!(refused.stderr.starts_with(&expected), "{}", refused.stderr);
    assert!(refused.stderr.contains("unknown field `setings`"), "{}", refused.stderr);
    let junk = sandbox.write("junk.wasm", "not wasm");
    let refused =
        sandbox.run(&["plugin", "embed-manifest", junk.to_str().unwrap(), manifest.to_str().unwrap()], "", &[]);
    assert_eq!(
        (refused.stderr, refused.code),
        (
            format!(
                "docker-credential-wasm: {} is left as it is: not a WebAssembly binary (no \\0asm header)\n",
                junk.display()
            ),
            1
        )
    );
    assert_eq!(std::fs::read(&wasm).unwrap(), before, "a refused manifest leaves the file as it was");
}
