//! The sandbox, end to end: a hostile plugin (tests/guests/hostile) loaded from a file
//! pinned by sha256 tries to read what it was not granted, forge protocol output, loop,
//! exhaust memory, reach the network or escape through exit; each attempt fails without
//! affecting the protocol's stdout, and each failure is one clear line with exit code 1.

mod common;

use common::{NOT_FOUND, Output, Sandbox, credentials_json, sha256sum};
use std::path::Path;

/// A scratch dir with a config routing `*.test` to the hostile guest.
fn hostile(extra: &str) -> (Sandbox, std::path::PathBuf) {
    plugin_config(Path::new(test_artifacts::HOSTILE), "hostile", extra)
}

fn plugin_config(wasm: &Path, id: &str, extra: &str) -> (Sandbox, std::path::PathBuf) {
    let sandbox = Sandbox::new();
    let config = format!(
        "[routes]\n\"*.test\" = \"{id}\"\n[plugins.{id}]\npath = \"{}\"\nsha256 = \"{}\"\nenv = [\"GRANTED_VAR\"]\ndeadline-ms = 2000\nmemory-mib = 32\n{extra}",
        wasm.display(),
        sha256sum(wasm)
    );
    let path = sandbox.write("config.toml", &config);
    (sandbox, path)
}

fn get(sandbox: &Sandbox, config: &Path, registry: &str, args: &[&str]) -> Output {
    let mut full = vec!["--config", config.to_str().unwrap()];
    full.extend_from_slice(args);
    full.push("get");
    sandbox.run(
        &full,
        registry,
        &[("GRANTED_VAR", "visible"), ("SECRET_VAR", "must-stay-hidden"), ("AWS_SECRET_ACCESS_KEY", "hidden-too")],
    )
}

fn failed(reason: &str) -> String {
    format!("docker-credential-wasm: plugin \"hostile\" failed: {reason}\n")
}

#[test]
fn a_well_behaved_call_passes_identity_tokens_through() {
    let (sandbox, config) = hostile("");
    let output = get(&sandbox, &config, "ok.test", &[]);
    assert_eq!(
        (output.stdout.as_str(), output.code),
        (credentials_json("ok.test", "<token>", "identity-token").as_str(), 0)
    );
}

#[test]
fn only_granted_environment_variables_are_visible() {
    let (sandbox, config) = hostile("");
    let output = get(&sandbox, &config, "env.test", &[]);
    assert_eq!((output.stdout, output.code), (credentials_json("env.test", "observer", "GRANTED_VAR=visible"), 0));
    let ungranted = std::fs::read_to_string(&config).unwrap().replace("env = [\"GRANTED_VAR\"]\n", "");
    std::fs::write(&config, ungranted).unwrap();
    let output = get(&sandbox, &config, "env.test", &[]);
    assert_eq!((output.stdout, output.code), (credentials_json("env.test", "observer", ""), 0));
}

#[test]
fn no_arguments_and_only_the_default_working_directory() {
    let (sandbox, config) = hostile("");
    let output = get(&sandbox, &config, "args.test", &[]);
    assert_eq!((output.stdout, output.code), (credentials_json("args.test", "observer", "args=[] cwd=Some(\"/\")"), 0));
}

#[test]
fn the_file_system_is_closed() {
    let (sandbox, config) = hostile("");
    let output = get(&sandbox, &config, "fs.test", &[]);
    let seen: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let seen = seen["Secret"].as_str().unwrap();
    for path in ["/etc/passwd", "/etc/hostname", "/", ".", "/proc/self/environ", "../../etc/passwd"] {
        assert!(seen.contains(&format!("read {path}: NotFound")), "{seen}");
        assert!(seen.contains(&format!("list {path}: NotFound")), "{seen}");
    }
    assert!(seen.contains("write /tmp/hostile: NotFound"), "{seen}");
    assert!(seen.contains("grant /etc/passwd: Err(Error::Denied(\"the file /etc/passwd is not granted"), "{seen}");
    assert!(!Path::new("/tmp/hostile-plugin-was-here").exists());
}

#[test]
fn granted_files_and_settings_are_readable() {
    let (sandbox, config) = hostile("");
    let file = sandbox.write("granted.txt", "granted contents");
    let extra = format!(
        "files = [\"{}\"]\nsettings = {{ file = \"{}\", region = \"eu-west-1\" }}\n",
        file.display(),
        file.display()
    );
    std::fs::write(&config, std::fs::read_to_string(&config).unwrap() + &extra).unwrap();
    let output = get(&sandbox, &config, "granted-file.test", &[]);
    assert_eq!(
        (output.stdout, output.code),
        (credentials_json("granted-file.test", "observer", "granted contents"), 0)
    );
    let output = get(&sandbox, &config, "settings.test", &[]);
    let expected = format!("file={};region=eu-west-1", file.display());
    assert_eq!((output.stdout, output.code), (credentials_json("settings.test", "observer", &expected), 0));
}

#[test]
fn plugin_stdout_and_stderr_never_reach_the_protocol() {
    let (sandbox, config) = hostile("");
    let output = get(&sandbox, &config, "stdout.test", &["-vv"]);
    assert_eq!((output.stdout.as_str(), output.code), (NOT_FOUND, 1));
    assert!(
        output.stderr.contains("plugin hostile: stdout: {\"ServerURL\":\"stdout.test\",\"Username\":\"forged\""),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("plugin hostile: stderr: \\u{1b}[2Jforged stderr"), "{}", output.stderr);
    assert!(
        output.stderr.contains("WARN: plugin hostile: about to claim not-found\\u{1b}]0;title\\u{7}"),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains('\u{1b}'), "raw escape sequences reached the terminal");

    let quiet = get(&sandbox, &config, "stdout.test", &["--log-level", "off"]);
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str(), quiet.code), (NOT_FOUND, "", 1));
}

#[test]
fn output_floods_are_bounded_and_the_answer_survives() {
    let (sandbox, config) = hostile("");
    let output = get(&sandbox, &config, "spam.test", &[]);
    assert_eq!(
        (output.stdout, output.stderr, output.code),
        (credentials_json("spam.test", "spammer", "still-answers"), String::new(), 0)
    );
}

#[test]
fn an_infinite_loop_is_stopped_by_the_deadline() {
    let (sandbox, config) = hostile("");
    let output = get(&sandbox, &config, "loop.test", &[]);
    assert_eq!((output.stdout, output.code), (failed("it exceeded its deadline of 2000 ms (deadline-ms)"), 1));
}

#[test]
fn a_plugin_blocked_in_a_host_call_is_stopped_by_the_deadline() {
    let (sandbox, config) = hostile("");
    let output = get(&sandbox, &config, "sleep.test", &[]);
    assert_eq!((output.stdout, output.code), (failed("it exceeded its deadline of 2000 ms (deadline-ms)"), 1));
}

#[test]
fn memory_growth_is_stopped_at_the_limit() {
    let (sandbox, config) = hostile("");
    let output = get(&sandbox, &config, "memory.test", &[]);
    assert_eq!((output.stdout, output.code), (failed("it exceeded its memory limit of 32 MiB (memory-mib)"), 1));
}

#[test]
fn traps_and_exits_are_one_line_naming_the_cause() {
    let (sandbox, config) = hostile("");
    for (attack, reason) in [
        ("panic.test", "it trapped: wasm trap: wasm `unreachable` instruction executed"),
        ("recursion.test", "it trapped: wasm trap: call stack exhausted"),
        ("exit.test", "it called exit(0) instead of returning an answer"),
    ] {
        let output = get(&sandbox, &config, attack, &[]);
        assert_eq!((output.stdout, output.code), (failed(reason), 1), "{attack}");
    }
    let logged = get(&sandbox, &config, "panic.test", &["-vv"]);
    assert!(logged.stderr.contains("plugin hostile: stderr: thread '<unnamed>' (1) panicked at"), "{}", logged.stderr);
    assert!(logged.stderr.contains("the plugin panicked on purpose"), "{}", logged.stderr);
}

#[test]
fn oversized_secrets_are_refused() {
    let (sandbox, config) = hostile("");
    let output = get(&sandbox, &config, "huge.test", &[]);
    assert_eq!((output.stdout, output.code), (failed("it returned a secret of 1048576 bytes; the limit is 262144"), 1));
}

#[test]
fn a_component_importing_sockets_is_refused_at_load() {
    let (sandbox, config) = plugin_config(Path::new(test_artifacts::SOCKETS), "sockets", "");
    let output = get(&sandbox, &config, "x.test", &[]);
    assert_eq!(output.code, 1);
    assert!(
        output
            .stdout
            .starts_with("docker-credential-wasm: plugin \"sockets\" failed: cannot load it: it imports wasi:sockets/"),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("which plugins may not use (no wasi:sockets; network only through wasi:http)"));
}

#[test]
fn only_the_pinned_bytes_run() {
    let (sandbox, config) = hostile("");
    let text = std::fs::read_to_string(&config).unwrap();
    let pinned = sha256sum(Path::new(test_artifacts::HOSTILE));
    std::fs::write(&config, text.replace(&pinned, &"0".repeat(64))).unwrap();
    let output = get(&sandbox, &config, "ok.test", &[]);
    assert_eq!(
        (output.stdout, output.code),
        (
            failed(&format!(
                "cannot load it: {} has sha256 {pinned}, but the config pins {}; refusing to run bytes nobody reviewed",
                test_artifacts::HOSTILE,
                "0".repeat(64)
            )),
            1
        )
    );

    let junk = sandbox.write("junk.wasm", "\0asm not really");
    let (sandbox, config) = plugin_config(&junk, "hostile", "");
    let output = get(&sandbox, &config, "ok.test", &[]);
    assert_eq!(output.code, 1);
    assert!(
        output.stdout.starts_with(
            "docker-credential-wasm: plugin \"hostile\" failed: cannot load it: not a valid WebAssembly component: "
        ),
        "{}",
        output.stdout
    );
    assert_eq!(output.stdout.matches('\n').count(), 1);
}

#[test]
fn a_plugin_built_for_another_world_version_is_refused_by_name() {
    let (sandbox, config) = plugin_config(Path::new(test_artifacts::FUTURE_WORLD), "future", "");
    let output = get(&sandbox, &config, "x.test", &[]);
    assert_eq!(
        (output.stdout.as_str(), output.code),
        (
            "docker-credential-wasm: plugin \"future\" failed: cannot load it: it was built for docker-credential-wasm:plugin@0.2.0, but this host speaks docker-credential-wasm:plugin@0.1.1; rebuild it with guest-sdk 0.1.1\n",
            1
        )
    );
}

#[test]
fn a_plugin_built_for_the_first_world_version_still_runs() {
    let (sandbox, config) =
        plugin_config(Path::new(test_artifacts::PAST_WORLD), "past", "settings = { username = \"old-timer\" }\n");
    let output = get(&sandbox, &config, "x.test", &[]);
    assert_eq!(
        (output.stdout.as_str(), output.code),
        (credentials_json("x.test", "old-timer", "built-for-0.1.0:x.test").as_str(), 0),
        "{}",
        output.stderr
    );
}
