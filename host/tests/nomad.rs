//! Run as Nomad's docker driver runs a credential helper: by the agent, as root under
//! systemd, with no `HOME` and nothing in the environment but what the agent has (here
//! `PATH`, the config's path as the unit's `Environment=` would set it, and `TMPDIR` so
//! that the test keeps to its own scratch dir). The config is found, the answer is cached
//! where the README says, and nothing is written anywhere else.

mod common;

use common::{Sandbox, credentials_json};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn with_no_home_the_helper_answers_and_caches_under_the_temp_dir() {
    let sandbox = Sandbox::new();
    let config = sandbox.write(
        "config.toml",
        "[routes]\n\"registry.nomad.test\" = \"static\"\n[plugins.static]\nsettings = { username = \"nomad\", secret = \"s3cret\" }\n",
    );
    let tmp = sandbox.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let get = || {
        let mut command = Command::new(common::BIN);
        command
            .arg("get")
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("DOCKER_CREDENTIAL_WASM_CONFIG", &config)
            .env("TMPDIR", &tmp);
        common::run(command, "registry.nomad.test")
    };
    for _ in 0..2 {
        let output = get();
        assert_eq!(
            (output.stdout.as_str(), output.stderr.as_str(), output.code),
            (credentials_json("registry.nomad.test", "nomad", "s3cret").as_str(), "", 0)
        );
    }
    let uid = rustix::process::getuid().as_raw();
    let cache = tmp.join(format!("docker-credential-wasm-{uid}"));
    assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
    let cached: Vec<_> = std::fs::read_dir(cache.join("credentials")).unwrap().collect();
    assert_eq!(cached.len(), 1, "one answer, cached once and then hit");
    // Nothing else was written: the scratch dir holds the config and the temp dir only.
    let mut written: Vec<String> =
        std::fs::read_dir(sandbox.path("")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    written.sort();
    assert_eq!(written, ["config.toml", "tmp"]);
}
