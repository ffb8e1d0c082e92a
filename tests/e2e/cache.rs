//! The credential cache across processes: a hit answers without running the plugin, a
//! changed input is a miss, 64 concurrent cold `get`s make one upstream fetch, a lock
//! holder killed mid-fetch does not block the others, and an unexpired answer stands in
//! for a failed upstream only when the operator allows it. The plugin is the hostile test
//! guest fetching from a loopback mock, so every upstream fetch is counted.

mod common;

use common::mock::Mock;
use common::{Sandbox, credentials_json, sha256sum};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

/// A config routing `*.test` to the hostile guest, which GETs `path` from the mock.
fn setup(mock: &Mock, path: &str, extra: &str) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let wasm = Path::new(test_artifacts::HOSTILE);
    let config = format!(
        "[routes]\n\"*.test\" = \"hostile\"\n[plugins.hostile]\npath = \"{}\"\nsha256 = \"{}\"\nnetwork = [\"http://127.0.0.1:{port}\"]\nenv = [\"TOKEN_PROFILE\"]\nsettings = {{ requests = \"GET http://127.0.0.1:{port}{path}\" }}\n{extra}",
        wasm.display(),
        sha256sum(wasm),
        port = mock.port
    );
    let path = sandbox.write("config.toml", &config);
    (sandbox, path)
}

fn expected(mock: &Mock, path: &str) -> String {
    credentials_json(
        "requests.test",
        "observer",
        &format!("GET http://127.0.0.1:{}{path} => Ok(\"200 location=None body=5\")", mock.port),
    )
}

/// A `get` run as Docker runs it: one argument, the config and the log level in the
/// environment (which is what the front answers from the cache by itself).
fn get(sandbox: &Sandbox, config: &Path, env: &[(&str, &str)]) -> common::Output {
    let mut command = sandbox.command(&["get"]);
    command.env("DOCKER_CREDENTIAL_WASM_CONFIG", config).env("DOCKER_CREDENTIAL_WASM_LOG", "debug");
    command.envs(env.iter().copied());
    common::run(command, "requests.test")
}

fn spawn_get(sandbox: &Sandbox, config: &Path) -> Child {
    let mut command = sandbox.command(&["get"]);
    command.env("DOCKER_CREDENTIAL_WASM_CONFIG", config);
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"requests.test").unwrap();
    child
}

#[test]
fn a_hit_answers_without_running_the_plugin_and_a_changed_input_misses() {
    let mock = Mock::start("127.0.0.1");
    let (sandbox, config) = setup(&mock, "/ok", "");
    let first = get(&sandbox, &config, &[]);
    assert_eq!((first.stdout.as_str(), first.code), (expected(&mock, "/ok").as_str(), 0));
    let second = get(&sandbox, &config, &[]);
    assert_eq!((second.stdout.as_str(), second.code), (expected(&mock, "/ok").as_str(), 0));
    assert_eq!(mock.hits(), 1, "the second get must not run the plugin");
    assert!(second.stderr.contains("requests.test: fresh in the cache until "), "{}", second.stderr);
    assert!(!second.stderr.contains("plugin hostile"), "nothing of the plugin may run on a hit: {}", second.stderr);

    // Even with the component gone, a hit answers: it never loads wasmtime.
    std::fs::remove_dir_all(sandbox.path(".cache/docker-credential-wasm/components")).unwrap();
    assert_eq!(get(&sandbox, &config, &[]).stdout, expected(&mock, "/ok"));
    // Nor does it run the engine: the front alone answers a hit, and only a miss needs the
    // engine, whose absence it names.
    let alone = sandbox.path("front-alone");
    std::fs::create_dir(&alone).unwrap();
    std::fs::copy(common::BIN, alone.join("docker-credential-wasm")).unwrap();
    let front = |env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(alone.join("docker-credential-wasm"));
        command.arg("get").env_clear().env("HOME", sandbox.path("")).env("DOCKER_CREDENTIAL_WASM_CONFIG", &config);
        command.envs(env.iter().copied());
        common::run(command, "requests.test")
    };
    assert_eq!(front(&[]), common::Output { stdout: expected(&mock, "/ok"), stderr: String::new(), code: 0 });
    let miss = front(&[("TOKEN_PROFILE", "other")]);
    assert_eq!(
        (miss.stdout.as_str(), miss.code, miss.stderr.as_str()),
        (
            "",
            1,
            format!(
                "docker-credential-wasm: cannot run the plugin engine {}; install docker-credential-wasm-engine in \
                 the same directory as docker-credential-wasm: No such file or directory (os error 2)\n",
                alone.join("docker-credential-wasm-engine").display()
            )
            .as_str()
        )
    );
    assert_eq!(mock.hits(), 1);

    // A granted input that changes the answer (a profile, a secret) is a miss.
    assert_eq!(get(&sandbox, &config, &[("TOKEN_PROFILE", "other")]).stdout, expected(&mock, "/ok"));
    assert_eq!(mock.hits(), 2);
    // With caching off, every get asks the plugin.
    std::fs::write(&config, std::fs::read_to_string(&config).unwrap() + "cache = false\n").unwrap();
    get(&sandbox, &config, &[]);
    get(&sandbox, &config, &[]);
    assert_eq!(mock.hits(), 4);
}

#[test]
fn a_miss_hands_the_whole_request_to_the_engine() {
    let mock = Mock::start("127.0.0.1");
    let (sandbox, config) = setup(&mock, "/ok", "cache = false\n");
    // Longer than a pipe is sure to hold unasked (one page): the front read it, and the
    // engine gets all of it. (The answer, which repeats it, must fit the test's stdout pipe.)
    let server_url = format!("https://requests.test/{}", "v".repeat(40 * 1024));
    let mut command = sandbox.command(&["get"]);
    command.env("DOCKER_CREDENTIAL_WASM_CONFIG", &config);
    let output = common::run(command, &server_url);
    let body = format!("GET http://127.0.0.1:{}/ok => Ok(\"200 location=None body=5\")", mock.port);
    assert_eq!(
        (output.stdout, output.code),
        (credentials_json(&server_url, "observer", &body), 0),
        "{}",
        output.stderr
    );
    assert_eq!(mock.hits(), 1);
}

#[test]
fn cache_files_are_private_and_corruption_is_a_miss() {
    use std::os::unix::fs::PermissionsExt;
    let mock = Mock::start("127.0.0.1");
    let (sandbox, config) = setup(&mock, "/ok", "");
    get(&sandbox, &config, &[]);
    let root = sandbox.path(".cache/docker-credential-wasm");
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    let entries: Vec<PathBuf> =
        std::fs::read_dir(root.join("credentials")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(mode(&entries[0]), 0o600);
    let cwasm: Vec<PathBuf> = std::fs::read_dir(root.join("components")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(mode(&cwasm[0]), 0o600);
    assert!(
        cwasm[0].file_name().unwrap().to_str().unwrap().starts_with(&sha256sum(Path::new(test_artifacts::HOSTILE)))
    );

    // A corrupt credential entry and a corrupt compiled component: a miss, then rewritten.
    std::fs::write(&entries[0], "{\"username\":").unwrap();
    std::fs::write(&cwasm[0], "not a compiled component").unwrap();
    let output = get(&sandbox, &config, &[]);
    assert_eq!((output.stdout.as_str(), output.code), (expected(&mock, "/ok").as_str(), 0));
    assert_eq!(mock.hits(), 2);
    assert!(std::fs::read_to_string(&entries[0]).unwrap().starts_with("{\"username\":\"observer\""));
    assert_ne!(std::fs::read(&cwasm[0]).unwrap(), b"not a compiled component");
    assert_eq!(get(&sandbox, &config, &[]).stdout, expected(&mock, "/ok"));
    assert_eq!(mock.hits(), 2);
}

#[test]
fn a_builtin_runs_first_from_code_compiled_when_the_program_was_built() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    let config = sandbox.write(
        "config.toml",
        "[routes]\n\"a.test\" = \"static\"\n[plugins.static]\ncache = false\nsettings = { username = \"u\", secret = \"s\" }\n",
    );
    let get = || sandbox.run(&["--config", config.to_str().unwrap(), "-vv", "get"], "a.test", &[]);
    let first = get();
    assert_eq!((first.stdout.as_str(), first.code), (credentials_json("a.test", "u", "s").as_str(), 0));
    assert!(first.stderr.contains("plugin static: compiled when this program was built"), "{}", first.stderr);
    let compiled: Vec<PathBuf> = std::fs::read_dir(sandbox.path(".cache/docker-credential-wasm/components"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(compiled.len(), 1, "{compiled:?}");
    assert_eq!(std::fs::metadata(&compiled[0]).unwrap().permissions().mode() & 0o777, 0o600);
    let second = get();
    assert_eq!(second.stdout, first.stdout);
    assert!(second.stderr.contains("plugin static: precompiled component from the cache"), "{}", second.stderr);
}

#[test]
fn sixty_four_concurrent_cold_gets_make_one_upstream_fetch() {
    let mock = Mock::start("127.0.0.1");
    let (sandbox, config) = setup(&mock, "/ok", "");
    let children: Vec<Child> = (0..64).map(|_| spawn_get(&sandbox, &config)).collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8(output.stdout).unwrap(), expected(&mock, "/ok"));
        assert!(output.status.success());
    }
    assert_eq!(mock.hits(), 1, "{:?}", mock.requests.lock().unwrap());
}

#[test]
fn a_lock_holder_killed_mid_fetch_does_not_block_the_others() {
    let mock = Mock::start("127.0.0.1");
    // The first fetch hangs; the plugin deadline is long, so only the kill can end it.
    let (sandbox, config) = setup(&mock, "/slow-once", "deadline-ms = 50000\n");
    let mut holder = spawn_get(&sandbox, &config);
    while mock.hits() == 0 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let waiter = spawn_get(&sandbox, &config);
    std::thread::sleep(std::time::Duration::from_millis(200));
    holder.kill().unwrap();
    holder.wait().unwrap();
    let output = waiter.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), expected(&mock, "/slow-once"));
    assert_eq!(mock.hits(), 2);
}

#[test]
fn an_unexpired_answer_stands_in_for_a_failed_plugin_only_if_allowed() {
    let mock = Mock::start("127.0.0.1");
    let (sandbox, config) = setup(&mock, "/ok", "cache-max-seconds = 1\n");
    assert_eq!(get(&sandbox, &config, &[]).stdout, expected(&mock, "/ok"));
    // Let the answer go stale (it is fresh for one second), then make the plugin fail: a
    // 1 MiB memory limit stops it before it can answer, as a broken upstream would.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let text = std::fs::read_to_string(&config).unwrap() + "memory-mib = 1\n";
    std::fs::write(&config, &text).unwrap();
    let refused = get(&sandbox, &config, &[]);
    assert_eq!(
        (refused.stdout.as_str(), refused.code),
        ("docker-credential-wasm: plugin \"hostile\" failed: it exceeded its memory limit of 1 MiB (memory-mib)\n", 1)
    );
    std::fs::write(&config, text + "cache-stale-fallback = true\n").unwrap();
    let fallback = get(&sandbox, &config, &[]);
    assert_eq!((fallback.stdout.as_str(), fallback.code), (expected(&mock, "/ok").as_str(), 0), "{fallback:?}");
    assert!(fallback.stderr.contains("(cache-stale-fallback)"), "{}", fallback.stderr);
    assert_eq!(mock.hits(), 1);
}
