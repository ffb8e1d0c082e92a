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
        output.stderr.contains("INFO: plugin hostile [warn]: about to claim not-found\\u{1b}]0;title\\u{7}"),
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
        ("panic.test", "it panicked at tests/guests/hostile/src/lib.rs:105:24: the plugin panicked on purpose"),
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
    assert_eq!((output.stdout, output.code), (failed("it returned a secret of 61440 bytes; the limit is 57344"), 1));
    let output = get(&sandbox, &config, "oversized.test", &[]);
    assert_eq!(
        (output.stdout, output.code),
        (
            failed(
                "it passed more than 64 KiB to the host at once (one string or list in a call, or its answer); that is the most a plugin may"
            ),
            1
        )
    );
}

#[test]
fn every_use_of_sockets_is_refused_before_any_system_call() {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let target = tcp.local_addr().unwrap();
    let udp = std::net::UdpSocket::bind(target).unwrap();
    udp.set_nonblocking(true).unwrap();
    let (sandbox, config) = plugin_config(
        Path::new(test_artifacts::SOCKETS),
        "sockets",
        &format!("settings = {{ target = \"{target}\" }}\n"),
    );
    let output = get(&sandbox, &config, "x.test", &[]);
    assert_eq!(
        (output.stdout.as_str(), output.code),
        (
            "docker-credential-wasm: plugin \"sockets\": denied: tcp: Permission denied (os error 2); udp: Permission denied (os error 2); lookup: failed to lookup address information: Non-recoverable error\n",
            1
        )
    );
    assert_eq!(
        tcp.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "a connection reached the listener"
    );
    assert_eq!(udp.recv(&mut [0; 16]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock, "a datagram arrived");
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
            "docker-credential-wasm: plugin \"future\" failed: cannot load it: it was built for docker-credential-wasm:plugin@0.2.0, but this host speaks docker-credential-wasm:plugin@0.1.2; rebuild it for that world (in Rust: docker-credential-wasm-sdk 0.2)\n",
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

/// The hostile plugin with the given memory limit and deadline, and `extra` config lines.
fn hostile_limited(memory_mib: u64, deadline_ms: u64, extra: &str) -> (Sandbox, std::path::PathBuf) {
    let sandbox = Sandbox::new();
    let limits = format!("deadline-ms = {deadline_ms}\nmemory-mib = {memory_mib}\n{extra}");
    let config = format!("[routes]\n\"*.test\" = \"hostile\"\n{}", common::hostile_plugin(&limits));
    let path = sandbox.write("config.toml", &config);
    (sandbox, path)
}

/// `get` for `registry`, with the engine's peak RSS in KiB.
fn get_measured(sandbox: &Sandbox, config: &Path, registry: &str) -> (Output, u64) {
    let command = sandbox.command(&["--config", config.to_str().unwrap(), "get"]);
    common::run_with_peak_rss(command, registry)
}

#[test]
fn everything_the_host_holds_for_a_plugin_is_bounded_by_its_memory_limit() {
    let mock = common::mock::Mock::start("127.0.0.1");
    let p = mock.port;
    let extra = format!(
        "network = [\"http://127.0.0.1:{p}\"]\nmax-requests = 1000\nsettings = {{ url = \"http://127.0.0.1:{p}/bytes?n=3145728\" }}\n"
    );
    let (sandbox, config) = hostile_limited(16, 20_000, &(extra + "cache = false\n"));
    // The first run compiles the plugin; the second is what every later miss costs.
    get_measured(&sandbox, &config, "ok.test");
    let (ok, baseline) = get_measured(&sandbox, &config, "ok.test");
    assert_eq!(ok.code, 0, "{ok:?}");
    let resources = ": it held more than 64 host resources (headers, requests, streams) at once";
    for (attack, detail) in [
        ("fields.test", resources),
        ("outgoing.test", resources),
        ("hoard.test", ": HTTP bodies held for it passed 8 MiB (half its limit)"),
        ("memory.test", ""),
    ] {
        let (output, peak) = get_measured(&sandbox, &config, attack);
        eprintln!("{attack}: peak RSS {} KiB; a plain call's {} KiB; limit 16 MiB", peak, baseline);
        assert_eq!(
            (output.stdout.as_str(), output.code),
            (failed(&format!("it exceeded its memory limit of 16 MiB (memory-mib){detail}")).as_str(), 1),
            "{attack}: {}",
            output.stderr
        );
        // What the plugin made the process hold: within two limits (its memory, and what the
        // host holds for it) above a plain call.
        assert!(peak <= baseline + 2 * 16 * 1024, "{attack}: peak RSS {peak} KiB, a plain call {baseline} KiB");
    }
    // Two 3 MiB bodies held, the third refused when it passed 8 MiB.
    assert_eq!(mock.hits(), 3);
}

#[test]
fn a_log_flood_is_cut_to_the_budget_with_one_line_saying_how_much_was_dropped() {
    let (sandbox, config) = hostile_limited(32, 15_000, "cache = false\n");
    // A plugin's records are never louder than info, so the default log takes none of them.
    let quiet = get(&sandbox, &config, "log-flood.test", &[]);
    assert_eq!(
        (quiet.stdout, quiet.stderr, quiet.code),
        (credentials_json("log-flood.test", "flooder", "still-answers"), String::new(), 0)
    );
    let loud = get(&sandbox, &config, "log-flood.test", &["-v"]);
    assert_eq!(loud.code, 0);
    eprintln!("log flood at info: {} bytes of log", loud.stderr.len());
    assert!(loud.stderr.len() <= 256 * 1024 + 1024, "{} bytes of log", loud.stderr.len());
    let lines: Vec<&str> = loud.stderr.lines().collect();
    let records = lines.iter().filter(|line| line.contains("INFO: plugin hostile [error]: eeee")).count();
    assert!(records > 0 && records < 100, "{records}");
    let dropped = 200_000 - records;
    let per_record = 4000 + "hostile".len() + " [error]".len() + 72;
    let summary = format!(
        "INFO: plugin hostile: {dropped} log records ({} bytes) dropped: over the budget of 1000 records and 262144 bytes a plugin call may write",
        dropped * per_record
    );
    assert!(lines.iter().any(|line| line.ends_with(&summary)), "{:?}", lines.last());
}

#[test]
fn refused_requests_in_a_loop_are_held_to_the_same_budget() {
    let (sandbox, config) = hostile_limited(32, 15_000, "cache = false\n");
    // 100,000 refused requests; each refusal is a WARN line.
    let output = get(&sandbox, &config, "deny-flood.test", &[]);
    assert_eq!(output.code, 0, "{}", output.stdout);
    eprintln!("refusal flood at warn: {} bytes of log", output.stderr.len());
    assert!(output.stderr.len() <= 256 * 1024 + 1024, "{} bytes of log", output.stderr.len());
    let lines: Vec<&str> = output.stderr.lines().collect();
    assert_eq!(lines.len(), 1001, "1000 records and the summary");
    assert!(
        lines[0].ends_with("WARN: plugin hostile: denied GET http://192.0.2.1:80/: no network grant allows it; to allow it add \"http://192.0.2.1\" to `network` in [plugins.hostile]"),
        "{}",
        lines[0]
    );
    assert!(
        lines[999].ends_with(
            "WARN: plugin hostile: denied GET http://192.0.2.1:80/: request budget of 32 per call exhausted (max-requests)"
        ),
        "{}",
        lines[999]
    );
    assert!(
        lines[1000].contains("WARN: plugin hostile: 99000 log records (")
            && lines[1000]
                .ends_with(" bytes) dropped: over the budget of 1000 records and 262144 bytes a plugin call may write"),
        "{}",
        lines[1000]
    );
}

#[test]
fn a_plugin_cannot_forge_or_hide_log_lines() {
    let (sandbox, config) = hostile("");
    let output = get(&sandbox, &config, "log-inject.test", &["-v"]);
    assert_eq!((output.stdout.as_str(), output.code), (NOT_FOUND, 1));
    for raw in ['\u{2028}', '\u{2029}', '\u{9b}', '\u{85}', '\u{202e}', '\u{2066}', '\u{2069}'] {
        assert!(!output.stderr.contains(raw), "{raw:?} reached the log: {}", output.stderr);
    }
    assert!(
        output.stderr.contains(
            "INFO: plugin hostile [warn]: one\\u{2028}docker-credential-wasm[1] ERROR: forged line\\u{2029}two\n"
        ),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains(
            "INFO: plugin hostile [warn]: \\u{9b}31mred\\u{85}next \\u{202e}txt.exe\\u{2066}isolated\\u{2069}\n"
        ),
        "{}",
        output.stderr
    );
    assert!(output.stderr.lines().all(|line| line.starts_with("docker-credential-wasm[")), "{}", output.stderr);
}

#[test]
fn a_granted_fifo_is_refused_without_blocking_the_call() {
    let (sandbox, config) = hostile("");
    let fifo = sandbox.path("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let extra = format!("files = [\"{}\"]\nsettings = {{ file = \"{}\" }}\n", fifo.display(), fifo.display());
    std::fs::write(&config, std::fs::read_to_string(&config).unwrap() + &extra).unwrap();
    // Nothing ever writes the FIFO: a blocking open or read would hang until killed.
    let output = get(&sandbox, &config, "granted-file.test", &[]);
    assert_eq!(output.code, 1);
    assert!(
        output.stdout.starts_with("docker-credential-wasm: plugin \"hostile\": ")
            && output.stdout.ends_with(&format!("{} is not a regular file\n", fifo.display())),
        "{}",
        output.stdout
    );
}

#[test]
fn without_home_a_home_grant_is_never_read_from_the_working_directory() {
    let (sandbox, config) = hostile("");
    // What a relative `~/.planted` would find, from the working directory.
    std::fs::create_dir(sandbox.path("~")).unwrap();
    sandbox.write("~/.planted", "planted");
    let extra = "files = [\"~/.planted\"]\nsettings = { file = \"~/.planted\" }\n";
    std::fs::write(&config, std::fs::read_to_string(&config).unwrap() + extra).unwrap();
    let mut command = sandbox.command(&["--config", config.to_str().unwrap(), "get"]);
    command
        .env_remove("HOME")
        .env("DOCKER_CREDENTIAL_WASM_CACHE_DIR", sandbox.path("cache"))
        .current_dir(sandbox.path(""));
    let output = common::run(command, "granted-file.test");
    assert!(!output.stdout.contains("planted"), "{}", output.stdout);
    // The password database's home has no such file.
    assert_eq!((output.stdout.as_str(), output.code), (NOT_FOUND, 1), "{}", output.stderr);
}

#[test]
fn the_log_file_is_private_and_never_opened_through_a_link() {
    let (sandbox, config) = hostile("");
    let log = sandbox.path("dcw.log");
    let output = get(&sandbox, &config, "ok.test", &["-v", "--log-file", log.to_str().unwrap()]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&log).unwrap().permissions().mode() & 0o777, 0o600);

    let victim = sandbox.write("victim", "");
    let link = sandbox.path("link.log");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let output = get(&sandbox, &config, "ok.test", &["-v", "--log-file", link.to_str().unwrap()]);
    assert_eq!((output.stdout.as_str(), output.code), ("", 1));
    assert!(
        output.stderr.starts_with(&format!(
            "docker-credential-wasm: cannot open the log file {} (a symbolic link is not followed): ",
            link.display()
        )),
        "{}",
        output.stderr
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "");
}

#[test]
fn list_runs_each_plugin_in_a_process_of_its_own_and_keeps_only_rows_it_routes_to_it() {
    let sandbox = Sandbox::new();
    let config = sandbox.write(
        "config.toml",
        &format!(
            "[routes]\n\"a.test\" = \"static\"\n\"h.test\" = \"hostile\"\n\"*.wild.test\" = \"hostile\"\n[plugins.static]\nsettings = {{ username = \"u\", secret = \"s\" }}\n{}",
            common::hostile_plugin("")
        ),
    );
    let output = sandbox.run(&["--config", config.to_str().unwrap(), "-vv", "list"], "", &[]);
    assert_eq!(
        (output.stdout.as_str(), output.code),
        ("{\"a.test\":\"u\",\"h.test\":\"hostile\",\"x.wild.test\":\"hostile\"}\n", 0),
        "{}",
        output.stderr
    );
    for dropped in ["a.test", "evil.example"] {
        assert!(
            output.stderr.contains(&format!(
                "WARN: plugin \"hostile\" listed \"{dropped}\", which no route sends to it; left out"
            )),
            "{}",
            output.stderr
        );
    }
    // The process id of the lines saying which code each plugin runs: three processes.
    let pid = |needle: &str| -> String {
        let line = output
            .stderr
            .lines()
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {}", output.stderr));
        line.split(['[', ']']).nth(1).unwrap().to_string()
    };
    let parent = pid("config: ");
    let (static_pid, hostile_pid) = (pid("plugin static: code "), pid("plugin hostile: code "));
    assert!(parent != static_pid && parent != hostile_pid && static_pid != hostile_pid, "{}", output.stderr);
}

#[test]
fn what_is_not_a_component_is_named_with_the_build_that_makes_one() {
    const BUILD: &str = "build the plugin with `cargo build --release --target wasm32-wasip2` and use the .wasm file in target/wasm32-wasip2/release/";
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, why) in [
        (
            "core.wasm",
            &b"\0asm\x01\0\0\0"[..],
            format!(
                "it is a core WebAssembly module, not a component (a wasm32-wasip1 or wasm32-unknown-unknown build): {BUILD}"
            ),
        ),
        ("plugin.so", &b"\x7fELF\x02\x01\x01\0\0\0\0\0"[..], format!("it is not WebAssembly: {BUILD}")),
        ("empty.wasm", &b""[..], format!("it is not WebAssembly (0 bytes): {BUILD}")),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let (sandbox, config) = plugin_config(&path, "hostile", "");
        let output = get(&sandbox, &config, "x.test", &[]);
        assert_eq!((output.stdout, output.code), (failed(&format!("cannot load it: {why}")), 1), "{name}");
    }
}

#[test]
fn a_rebuilt_plugin_whose_pin_was_not_updated_is_refused_not_run_from_its_old_code() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("plugin.wasm");
    std::fs::copy(test_artifacts::HOSTILE, &wasm).unwrap();
    let pinned = sha256sum(&wasm);
    let (sandbox, config) = plugin_config(&wasm, "hostile", "cache = false\n");
    // Compiled and cached once.
    assert_eq!(get(&sandbox, &config, "ok.test", &[]).code, 0);
    // Rebuilt: other bytes (another guest) at the same path, the pin unchanged.
    std::fs::copy(test_artifacts::KUBELET_CONTEXT, &wasm).unwrap();
    let output = get(&sandbox, &config, "ok.test", &[]);
    assert_eq!(
        (output.stdout, output.code),
        (
            failed(&format!(
                "cannot load it: {} has sha256 {}, but the config pins {pinned}; refusing to run bytes nobody reviewed",
                wasm.display(),
                sha256sum(&wasm)
            )),
            1
        )
    );
    // Deleted: its compiled copy does not stand in either.
    std::fs::remove_file(&wasm).unwrap();
    let output = get(&sandbox, &config, "ok.test", &[]);
    assert_eq!(output.code, 1);
    assert!(output.stdout.contains(&format!("cannot load it: cannot read {}", wasm.display())), "{}", output.stdout);
}
