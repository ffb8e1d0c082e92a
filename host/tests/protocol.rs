//! The Docker credential-helper protocol, end to end through the built binary and the real
//! `static` plugin: every action and every error case, with exact stdout and exit codes.

mod common;

use common::{NOT_FOUND, Output, Sandbox, credentials_json};

const STATIC: &str = "[routes]\n\"127.0.0.1:5000\" = \"static\"\n\"docker.io\" = \"static\"\n\
    [plugins.static]\nsettings = { username = \"testuser\", secret-env = \"REGISTRY_PASSWORD\" }\nenv = [\"REGISTRY_PASSWORD\"]\n";

fn out(stdout: &str, code: i32) -> (String, i32) {
    (stdout.to_string(), code)
}

fn answer(output: Output) -> (String, i32) {
    (output.stdout, output.code)
}

/// Runs an action with `config` (a file in a fresh scratch dir) and REGISTRY_PASSWORD set.
fn with_config(config: &str, args: &[&str], stdin: &str) -> Output {
    let sandbox = Sandbox::new();
    let path = sandbox.write("config.toml", config);
    let mut full = vec!["--config", path.to_str().unwrap()];
    full.extend_from_slice(args);
    sandbox.run(&full, stdin, &[("REGISTRY_PASSWORD", "hunter2")])
}

#[test]
fn argv_errors_match_the_reference_helper() {
    let sandbox = Sandbox::new();
    let usage = "Usage: docker-credential-wasm <store|get|erase|list|version>\n";
    assert_eq!(answer(sandbox.run(&[], "", &[])), out(usage, 1));
    assert_eq!(answer(sandbox.run(&["get", "extra"], "", &[])), out(usage, 1));
    assert_eq!(answer(sandbox.run(&["fetch"], "", &[])), out("docker-credential-wasm: unknown action: fetch\n", 1));
    assert_eq!(
        answer(sandbox.run(&["version"], "", &[])),
        out("docker-credential-wasm (docker-credential-wasm) 0.1.0\n", 0)
    );
    assert_eq!(answer(sandbox.run(&["--version"], "", &[])), out("docker-credential-wasm 0.1.0\n", 0));
    let help = sandbox.run(&["--help"], "", &[]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Examples:\n  echo 127.0.0.1:5000 | docker-credential-wasm get"), "{}", help.stdout);
    let get_help = sandbox.run(&["get", "--help"], "", &[]);
    assert!(
        get_help.stdout.contains("Example:\n  echo 127.0.0.1:5000 | docker-credential-wasm get"),
        "{}",
        get_help.stdout
    );
}

#[test]
fn get_serves_routed_registries_in_every_spelling() {
    for server_url in ["127.0.0.1:5000", "http://127.0.0.1:5000", "https://127.0.0.1:5000/v2/"] {
        assert_eq!(
            answer(with_config(STATIC, &["get"], &format!("{server_url}\n"))),
            out(&credentials_json(server_url, "testuser", "hunter2"), 0)
        );
    }
    for hub in ["https://index.docker.io/v1/", "docker.io", "index.docker.io"] {
        assert_eq!(answer(with_config(STATIC, &["get"], hub)), out(&credentials_json(hub, "testuser", "hunter2"), 0));
    }
}

#[test]
fn get_errors_are_exact() {
    assert_eq!(answer(with_config(STATIC, &["get"], "")), out("no credentials server URL\n", 1));
    assert_eq!(answer(with_config(STATIC, &["get"], "\n  \n")), out("no credentials server URL\n", 1));
    assert_eq!(answer(with_config(STATIC, &["get"], "registry.example:5000")), out(NOT_FOUND, 1));
    assert_eq!(answer(with_config(STATIC, &["get"], "127.0.0.1:5001")), out(NOT_FOUND, 1));
    assert_eq!(answer(with_config(STATIC, &["get"], "ftp://127.0.0.1:5000")), out(NOT_FOUND, 1));
}

#[test]
fn the_embedded_default_serves_only_ecr_and_lists_without_network() {
    let sandbox = Sandbox::new();
    assert_eq!(answer(sandbox.run(&["get"], "127.0.0.1:5000", &[])), out(NOT_FOUND, 1));
    assert_eq!(answer(sandbox.run(&["get"], "docker.io", &[])), out(NOT_FOUND, 1));
    // The exact ECR Public routes, with ECR's user name; wildcard routes list nothing. No
    // request is made (there is no proxy or network for one here).
    assert_eq!(
        answer(sandbox.run(&["list"], "unused", &[])),
        out("{\"ecr-public.aws.com\":\"AWS\",\"public.ecr.aws\":\"AWS\"}\n", 0)
    );
}

#[test]
fn config_is_found_in_env_then_xdg() {
    let sandbox = Sandbox::new();
    let path = sandbox.write("elsewhere.toml", STATIC);
    let env = [("DOCKER_CREDENTIAL_WASM_CONFIG", path.to_str().unwrap()), ("REGISTRY_PASSWORD", "pw")];
    assert_eq!(
        answer(sandbox.run(&["get"], "127.0.0.1:5000", &env)),
        out(&credentials_json("127.0.0.1:5000", "testuser", "pw"), 0)
    );
    std::fs::create_dir_all(sandbox.path("config/docker-credential-wasm")).unwrap();
    sandbox.write("config/docker-credential-wasm/config.toml", STATIC);
    assert_eq!(
        answer(sandbox.run(&["get"], "127.0.0.1:5000", &[("REGISTRY_PASSWORD", "xdg")])),
        out(&credentials_json("127.0.0.1:5000", "testuser", "xdg"), 0)
    );
    let missing = sandbox.run(&["get"], "127.0.0.1:5000", &[("DOCKER_CREDENTIAL_WASM_CONFIG", "/nonexistent/c.toml")]);
    assert_eq!(
        answer(missing),
        out(
            "docker-credential-wasm: cannot read the config file /nonexistent/c.toml (named by --config or $DOCKER_CREDENTIAL_WASM_CONFIG): No such file or directory (os error 2)\n",
            1
        )
    );
}

#[test]
fn config_errors_name_the_file_line_and_key() {
    let sandbox = Sandbox::new();
    let path = sandbox.write("bad.toml", "[routes]\n\"127.0.0.1:5000\" = \"static\"\n[plugins.static]\nsetting = {}\n");
    let output = sandbox.run(&["--config", path.to_str().unwrap(), "get"], "127.0.0.1:5000", &[]);
    assert_eq!(
        answer(output),
        out(
            &format!(
                "docker-credential-wasm: {}:4:1: unknown key `setting`, expected one of `builtin`, `path`, `sha256`, `settings`, `network`, `env`, `files`, `secrets`, `memory-mib`, `deadline-ms`, `max-requests`, `ignore-store`, `cache`, `cache-max-seconds`, `cache-stale-fallback`\n",
                path.display()
            ),
            1
        )
    );
}

#[test]
fn the_secret_comes_only_from_the_granted_source() {
    let ungranted = STATIC.replace("env = [\"REGISTRY_PASSWORD\"]\n", "");
    assert_eq!(
        answer(with_config(&ungranted, &["get"], "127.0.0.1:5000")),
        out(
            "docker-credential-wasm: plugin \"static\": invalid input: the environment variable REGISTRY_PASSWORD is not set, or not granted: set it where the client runs and add \"REGISTRY_PASSWORD\" to the plugin's `env` grant\n",
            1
        )
    );

    let sandbox = Sandbox::new();
    let secret = sandbox.write("password", "from-a-file\n");
    let config = format!(
        "[routes]\n\"127.0.0.1:5000\" = \"static\"\n[plugins.static]\nsettings = {{ username = \"fileuser\", secret-file = \"{0}\" }}\nfiles = [\"{0}\"]\n",
        secret.display()
    );
    let path = sandbox.write("config.toml", &config);
    let args = ["--config", path.to_str().unwrap(), "get"];
    assert_eq!(
        answer(sandbox.run(&args, "127.0.0.1:5000", &[])),
        out(&credentials_json("127.0.0.1:5000", "fileuser", "from-a-file"), 0)
    );

    sandbox.write("config.toml", &config.replace(&format!("files = [\"{}\"]\n", secret.display()), ""));
    assert_eq!(
        answer(sandbox.run(&args, "127.0.0.1:5000", &[])),
        out(
            &format!(
                "docker-credential-wasm: plugin \"static\": denied: the file {} is not granted to this plugin; add it to the plugin's `files` grant\n",
                secret.display()
            ),
            1
        )
    );

    let literal = "[routes]\n\"127.0.0.1:5000\" = \"static\"\n[plugins.static]\nsettings = { username = \"u\", secret = \"written-in-config\" }\n";
    assert_eq!(
        answer(with_config(literal, &["get"], "127.0.0.1:5000")),
        out(&credentials_json("127.0.0.1:5000", "u", "written-in-config"), 0)
    );
}

#[test]
fn store_and_erase_follow_the_reference_errors_and_ignore_store() {
    let stored = r#"{"ServerURL":"127.0.0.1:5000","Username":"testuser","Secret":"pw"}"#;
    assert_eq!(
        answer(with_config(STATIC, &["store"], stored)),
        out(
            "docker-credential-wasm: plugin \"static\" does not store credentials; to let `docker login` and `docker logout` succeed without it, set ignore-store = true in [plugins.static]\n",
            1
        )
    );
    let ignoring = format!("{STATIC}ignore-store = true\n");
    assert_eq!(answer(with_config(&ignoring, &["store"], stored)), out("", 0));
    assert_eq!(answer(with_config(&ignoring, &["erase"], "127.0.0.1:5000")), out("", 0));
    assert_eq!(
        answer(with_config(STATIC, &["store"], r#"{"ServerURL":"","Username":"u"}"#)),
        out("no credentials server URL\n", 1)
    );
    assert_eq!(
        answer(with_config(STATIC, &["store"], r#"{"ServerURL":"127.0.0.1:5000"}"#)),
        out("no credentials username\n", 1)
    );
    assert_eq!(
        answer(with_config(STATIC, &["store"], "{\"ServerURL\":")),
        out("invalid credentials JSON on stdin: EOF while parsing a value at line 1 column 13\n", 1)
    );
    assert_eq!(
        answer(with_config(STATIC, &["store"], "")),
        out("invalid credentials JSON on stdin: EOF while parsing a value at line 1 column 0\n", 1)
    );
    assert_eq!(answer(with_config(STATIC, &["erase"], "")), out("no credentials server URL\n", 1));
    assert_eq!(answer(with_config(STATIC, &["erase"], "unrouted.example")), out(NOT_FOUND, 1));
}

#[test]
fn list_names_the_exact_routes_of_listing_plugins() {
    assert_eq!(
        answer(with_config(STATIC, &["list"], "unused")),
        out("{\"127.0.0.1:5000\":\"testuser\",\"docker.io\":\"testuser\"}\n", 0)
    );
}

#[test]
fn logs_go_to_stderr_or_a_file_and_never_hold_the_secret() {
    let sandbox = Sandbox::new();
    let path = sandbox.write("config.toml", STATIC);
    let secret = "s3cr3t-value-that-must-not-be-logged";
    let output = sandbox.run(
        &["--config", path.to_str().unwrap(), "--log-level", "trace", "get"],
        "127.0.0.1:5000",
        &[("REGISTRY_PASSWORD", secret)],
    );
    assert_eq!(output.stdout, credentials_json("127.0.0.1:5000", "testuser", secret));
    assert!(
        output.stderr.contains("DEBUG: 127.0.0.1:5000 is routed by \"127.0.0.1:5000\" to plugin \"static\""),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains(secret));

    let log = sandbox.path("helper.log");
    let output = sandbox.run(
        &["--config", path.to_str().unwrap(), "get"],
        "127.0.0.1:5000",
        &[
            ("REGISTRY_PASSWORD", secret),
            ("DOCKER_CREDENTIAL_WASM_LOG", "debug"),
            ("DOCKER_CREDENTIAL_WASM_LOG_FILE", log.to_str().unwrap()),
        ],
    );
    assert_eq!(
        (output.stdout.as_str(), output.stderr.as_str()),
        (credentials_json("127.0.0.1:5000", "testuser", secret).as_str(), "")
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("Z docker-credential-wasm["), "{logged}");
    assert!(logged.contains("DEBUG: config: "), "{logged}");
    assert!(!logged.contains(secret));

    let quiet =
        sandbox.run(&["--config", path.to_str().unwrap(), "get"], "127.0.0.1:5000", &[("REGISTRY_PASSWORD", secret)]);
    assert_eq!(quiet.stderr, "");
}

#[test]
fn a_home_path_without_a_home_is_an_error_never_a_relative_path() {
    // A user with no entry in the password database and no HOME, as a service can run.
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[routes]\n\"a.test\" = \"static\"\n[cache]\ndir = \"~/cache\"\n").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut command = std::process::Command::new("setpriv");
    command
        .args(["--reuid=54321", "--regid=54321", "--clear-groups", "--"])
        .arg(common::BIN)
        .args(["--config", config.to_str().unwrap(), "get"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path());
    let output = common::run(command, "a.test");
    assert_eq!(
        (output.stdout.as_str(), output.code),
        (
            format!(
                "docker-credential-wasm: {}:4:7: \"~/cache\" needs a home directory, but HOME is unset and the password database has none for uid 54321; write an absolute path\n",
                config.display()
            )
            .as_str(),
            1
        ),
        "{}",
        output.stderr
    );
    assert!(!dir.path().join("~").exists(), "nothing was created relative to the working directory");
}
