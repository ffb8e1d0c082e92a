//! The credential cache across processes: a hit answers without running the plugin, a
//! changed input is a miss, 64 concurrent cold `get`s make one upstream fetch, a lock
//! holder killed mid-fetch does not block the others, and an unexpired answer stands in
//! for a failed upstream only when the operator allows it. The plugin is the hostile test
//! guest fetching from a loopback mock, so every upstream fetch is counted.

mod common;

use common::mock::Mock;
use common::{Sandbox, credentials_json, sha256sum};
use std::io::Write;
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
    let cwasm: Vec<PathBuf> = std::fs::read_dir(root.join("components"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "cwasm"))
        .collect();
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
    assert!(
        first.stderr.contains("plugin static: code compiled when this program was built; mapped from "),
        "{}",
        first.stderr
    );
    let compiled = compiled_files(&sandbox.path(".cache/docker-credential-wasm"));
    assert_eq!(compiled.len(), 1, "{compiled:?}");
    assert_eq!(std::fs::metadata(&compiled[0]).unwrap().permissions().mode() & 0o777, 0o600);
    let second = get();
    assert_eq!(second.stdout, first.stdout);
    assert!(second.stderr.contains("(HMAC verified: the file this program wrote)"), "{}", second.stderr);
    assert!(!second.stderr.contains("WARN"), "{}", second.stderr);
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

/// The compiled-code files in `root`'s components directory (without their MACs).
fn compiled_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("components"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    files.sort();
    files
}

/// A sandbox whose `a.test` is served by the built-in `static` plugin (never cached, so
/// every get runs it) and `*.test` by the hostile guest.
fn static_and_hostile() -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let config = format!(
        "[routes]\n\"a.test\" = \"static\"\n\"*.test\" = \"hostile\"\n[plugins.static]\ncache = false\nsettings = {{ username = \"u\", secret = \"static-secret\" }}\n{}",
        common::hostile_plugin("cache = false\n")
    );
    let config = sandbox.write("config.toml", &config);
    (sandbox, config)
}

fn get_registry(sandbox: &Sandbox, config: &Path, registry: &str) -> common::Output {
    sandbox.run(&["--config", config.to_str().unwrap(), "-vv", "get"], registry, &[])
}

#[test]
fn planted_compiled_code_never_runs() {
    let (sandbox, config) = static_and_hostile();
    let root = sandbox.path(".cache/docker-credential-wasm");
    let static_answer = credentials_json("a.test", "u", "static-secret");
    assert_eq!(get_registry(&sandbox, &config, "a.test").stdout, static_answer);
    let hostile = get_registry(&sandbox, &config, "ok.test");
    assert_eq!(hostile.code, 0, "{hostile:?}");
    let files = compiled_files(&root);
    assert_eq!(files.len(), 2, "{files:?}");
    let static_sha = files
        .iter()
        .find(|f| !f.to_str().unwrap().contains(&sha256sum(Path::new(test_artifacts::HOSTILE))))
        .unwrap()
        .clone();
    let hostile_file = files.iter().find(|f| **f != static_sha).unwrap().clone();

    // Valid compiled code for this very engine (the hostile plugin's), planted under the
    // built-in's name, next to the built-in's MAC: not the file the cache wrote; refused,
    // replaced.
    let refused = |path: &Path| {
        format!(
            "WARN: not running the compiled code {}: its MAC does not match: it is not the file this cache wrote; replacing it",
            path.display()
        )
    };
    std::fs::copy(&hostile_file, &static_sha).unwrap();
    let output = get_registry(&sandbox, &config, "a.test");
    assert_eq!((output.stdout.as_str(), output.code), (static_answer.as_str(), 0), "{}", output.stderr);
    assert!(output.stderr.contains(&refused(&static_sha)), "{}", output.stderr);
    assert_eq!(std::fs::read(&static_sha).unwrap().len(), {
        let pristine = get_registry(&sandbox, &config, "a.test");
        assert!(pristine.stderr.contains("(HMAC verified: the file this program wrote)"), "{}", pristine.stderr);
        std::fs::metadata(&static_sha).unwrap().len() as usize
    });
    assert_ne!(std::fs::read(&static_sha).unwrap(), std::fs::read(&hostile_file).unwrap(), "replaced");

    // The same file changed in place, one byte: refused.
    let mut flipped = std::fs::read(&static_sha).unwrap();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    std::fs::OpenOptions::new().write(true).open(&static_sha).unwrap().write_all(&flipped).unwrap();
    let output = get_registry(&sandbox, &config, "a.test");
    assert_eq!(output.stdout, static_answer);
    assert!(output.stderr.contains(&refused(&static_sha)), "{}", output.stderr);

    // An external plugin's cache file swapped for other code, with that code's MAC: the MAC
    // covers the file's name and identity, so it fails.
    let mac = |path: &Path| PathBuf::from(format!("{}.mac", path.display()));
    std::fs::rename(&static_sha, &hostile_file).unwrap();
    std::fs::rename(mac(&static_sha), mac(&hostile_file)).unwrap();
    let output = get_registry(&sandbox, &config, "ok.test");
    assert_eq!(output.code, 0, "{output:?}");
    assert!(output.stderr.contains(&refused(&hostile_file)), "{}", output.stderr);
    assert!(
        output.stderr.contains("plugin hostile: code compiled now from the pinned bytes; cached at "),
        "{}",
        output.stderr
    );
    let again = get_registry(&sandbox, &config, "ok.test");
    assert!(
        again.stderr.contains("(HMAC verified: the file this cache compiled from the pinned bytes)"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_linked_compiled_file_is_refused_and_replaced() {
    let (sandbox, config) = static_and_hostile();
    let root = sandbox.path(".cache/docker-credential-wasm");
    get_registry(&sandbox, &config, "a.test");
    let file = compiled_files(&root).pop().unwrap();
    let elsewhere = sandbox.write("elsewhere.cwasm", "");
    std::fs::copy(&file, &elsewhere).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
    let output = get_registry(&sandbox, &config, "a.test");
    assert_eq!(output.stdout, credentials_json("a.test", "u", "static-secret"));
    assert!(
        output.stderr.contains(&format!(
            "not running the compiled code {}: {} is a symbolic link; not using it",
            file.display(),
            file.display()
        )),
        "{}",
        output.stderr
    );
    assert!(std::fs::symlink_metadata(&file).unwrap().file_type().is_file(), "replaced by a regular file");
}

#[test]
fn a_sub_directory_others_can_write_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let (sandbox, config) = static_and_hostile();
    let root = sandbox.path(".cache/docker-credential-wasm");
    get_registry(&sandbox, &config, "a.test");
    let components = root.join("components");
    std::fs::set_permissions(&components, std::fs::Permissions::from_mode(0o770)).unwrap();
    let file = compiled_files(&root).pop().unwrap();
    std::fs::write(&file, "planted by the group").unwrap();
    let output = get_registry(&sandbox, &config, "a.test");
    assert_eq!(output.stdout, credentials_json("a.test", "u", "static-secret"));
    assert!(
        output.stderr.contains(&format!(
            "WARN: not caching compiled code: {} can be written by other users (mode 770); not using it",
            components.display()
        )),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("plugin static: code compiled when this program was built; from the program"),
        "{}",
        output.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"planted by the group", "left for its owner to look at");
}

#[test]
fn a_cache_root_others_can_write_or_a_linked_root_is_refused_with_everything_in_it() {
    use std::os::unix::fs::PermissionsExt;
    let mock = Mock::start("127.0.0.1");
    let (sandbox, config) = setup(&mock, "/ok", "");
    assert_eq!(get(&sandbox, &config, &[]).stdout, expected(&mock, "/ok"));
    let root = sandbox.path(".cache/docker-credential-wasm");
    // Someone else's answer, planted in a root that others can write.
    let entry = std::fs::read_dir(root.join("credentials")).unwrap().next().unwrap().unwrap().path();
    let planted = std::fs::read_to_string(&entry).unwrap().replace("observer", "attacker");
    std::fs::write(&entry, planted).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    let output = get(&sandbox, &config, &[]);
    assert_eq!(output.stdout, expected(&mock, "/ok"), "the planted answer was served");
    assert!(
        output.stderr.contains(&format!(
            "WARN: running without a cache: {} can be written by other users (mode 777); not using it",
            root.display()
        )),
        "{}",
        output.stderr
    );
    assert_eq!(std::fs::metadata(&root).unwrap().permissions().mode() & 0o777, 0o777, "refused, not repaired");
    assert_eq!(mock.hits(), 2);

    // A root that is a link to a directory of the user's: not followed.
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
    let moved = sandbox.path("moved-cache");
    std::fs::rename(&root, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &root).unwrap();
    let output = get(&sandbox, &config, &[]);
    assert_eq!(output.stdout, expected(&mock, "/ok"));
    assert!(
        output.stderr.contains(&format!(
            "running without a cache: {} is not a directory (a symbolic link is not followed); not using it",
            root.display()
        )),
        "{}",
        output.stderr
    );
    assert_eq!(mock.hits(), 3);
}

#[test]
fn a_rotated_secret_leaves_no_old_answer_on_disk_and_nothing_outlives_its_use() {
    let sandbox = Sandbox::new();
    let config = sandbox.write(
        "config.toml",
        "[routes]\n\"a.test\" = \"static\"\n[plugins.static]\nsettings = { username = \"u\", secret-env = \"REGISTRY_PASSWORD\" }\nenv = [\"REGISTRY_PASSWORD\"]\n",
    );
    let get = |secret: &str| {
        sandbox.run(&["--config", config.to_str().unwrap(), "get"], "a.test", &[("REGISTRY_PASSWORD", secret)])
    };
    assert_eq!(get("first-secret").stdout, credentials_json("a.test", "u", "first-secret"));
    let credentials = sandbox.path(".cache/docker-credential-wasm/credentials");
    // Left behind: a crashed writer's temp file, and an answer expired long ago.
    let temp = credentials.join(".old.json.1.0.tmp");
    std::fs::write(&temp, "{\"secret\":\"half-written\"}").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&temp)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(600))
        .unwrap();
    let expired = credentials.join(format!("{}-{}.json", "0".repeat(32), "1".repeat(64)));
    std::fs::write(&expired, "{\"username\":\"AWS\",\"secret\":\"expired-token\",\"expires_at\":1000,\"fetched_at\":900,\"fresh_until\":950}").unwrap();

    assert_eq!(get("second-secret").stdout, credentials_json("a.test", "u", "second-secret"));
    let left: Vec<String> =
        std::fs::read_dir(&credentials).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains("second-secret"), "{left:?}");

    // A logout removes the cached answer too.
    let erased = sandbox.run(&["--config", config.to_str().unwrap(), "erase"], "a.test", &[]);
    assert_eq!(erased.code, 1, "static cannot erase: {erased:?}");
    assert_eq!(std::fs::read_dir(&credentials).unwrap().count(), 0);
}
