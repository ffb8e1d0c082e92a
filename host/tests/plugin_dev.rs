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
