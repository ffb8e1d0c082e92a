//! Shared helpers for the end-to-end tests: run the built `docker-credential-wasm` binary
//! in a clean environment with a bounded wait, and write configs into temp dirs.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_docker-credential-wasm");

/// What one run printed and how it exited.
#[derive(Debug, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// A scratch home for one test: `HOME` and `XDG_CONFIG_HOME` point inside it, so no config
/// of the machine's user is ever read.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` to `name` in the scratch dir and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A command for the binary with only PATH, HOME and XDG_CONFIG_HOME set.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"));
        command
    }

    /// Runs the binary with `args`, `stdin` and extra environment `env`.
    pub fn run(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        run(command, stdin)
    }
}

/// Runs `command`, feeding `stdin` and reading its output as it comes (a child that logs
/// more than a pipe holds must not block); kills it (by its PID, which we started) after
/// 60 s.
pub fn run(command: Command, stdin: &str) -> Output {
    run_with_peak_rss(command, stdin).0
}

/// Runs `command` like [`run`], and also answers the child's own peak resident set size in
/// KiB (from `wait4`, as the kernel counted it).
#[allow(clippy::zombie_processes, reason = "reaped by wait4 below, which also reports its peak RSS")]
pub fn run_with_peak_rss(mut command: Command, stdin: &str) -> (Output, u64) {
    use std::io::Read;
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing stdin: {e}"),
        _ => {}
    }
    let pipe = |mut reader: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = reader.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = pipe(Box::new(child.stdout.take().unwrap()));
    let stderr = pipe(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    // A watchdog ends the child (ours, by its PID) if it hangs.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watched = done.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if watched.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: kill(2) on the child we started and have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for the child we started.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "{command:?} did not exit by itself within 60 s");
    let output = Output {
        stdout: String::from_utf8(stdout.join().unwrap()).unwrap(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
        code: libc::WEXITSTATUS(status),
    };
    (output, usage.ru_maxrss as u64)
}

/// The `[plugins.hostile]` table: the hostile test guest, pinned by its digest, with `extra`
/// lines.
pub fn hostile_plugin(extra: &str) -> String {
    let wasm = Path::new(test_artifacts::HOSTILE);
    format!("[plugins.hostile]\npath = \"{}\"\nsha256 = \"{}\"\n{extra}", wasm.display(), sha256sum(wasm))
}

/// Hex SHA-256 of a file, computed by `sha256sum` as an operator would.
pub fn sha256sum(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// The expected success line of `get`.
pub fn credentials_json(server_url: &str, username: &str, secret: &str) -> String {
    let escape = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
    };
    format!(
        "{{\"ServerURL\":\"{}\",\"Username\":\"{}\",\"Secret\":\"{}\"}}\n",
        escape(server_url),
        escape(username),
        escape(secret)
    )
}

/// The mock cloud a built-in plugin reaches (real names, through the mock's proxy, its
/// CA trusted) and the identity in the environment: the AWS mock with the example key for
/// `ecr`, the Azure mock with its service principal for `acr`, the Google mock with a user's
/// credential file for `gcr`, nothing for `static`.
pub fn mock_cloud(example: &str, sandbox: &Sandbox) -> (Box<dyn std::any::Any>, Vec<(String, String)>) {
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    match example {
        "ecr" => {
            let aws = aws::AwsMock::start();
            aws.identity("AKIDEXAMPLE", "example-secret");
            let ca = sandbox.write("ca.pem", &aws.pki.ca_pem);
            let env = vec![
                pair("HTTPS_PROXY", &aws.proxy_url()),
                pair("SSL_CERT_FILE", ca.to_str().unwrap()),
                pair("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                pair("AWS_SECRET_ACCESS_KEY", "example-secret"),
                pair("AWS_EC2_METADATA_DISABLED", "true"),
            ];
            (Box::new(aws), env)
        }
        "acr" => {
            let azure = azure::AzureMock::start();
            let ca = sandbox.write("ca.pem", &azure.pki.ca_pem);
            let env = vec![
                pair("HTTPS_PROXY", &azure.proxy_url()),
                pair("SSL_CERT_FILE", ca.to_str().unwrap()),
                pair("AZURE_TENANT_ID", azure::TENANT),
                pair("AZURE_CLIENT_ID", azure::SP_CLIENT),
                pair("AZURE_CLIENT_SECRET", azure::SP_SECRET),
            ];
            (Box::new(azure), env)
        }
        "gcr" => {
            let google = google::GoogleMock::start();
            let ca = sandbox.write("ca.pem", &google.pki.ca_pem);
            let (client_id, client_secret, refresh_token) = google::USER_CLIENT;
            let credentials = serde_json::json!({"type": "authorized_user", "client_id": client_id, "client_secret": client_secret, "refresh_token": refresh_token});
            std::fs::create_dir_all(sandbox.path("etc")).unwrap();
            let file = sandbox.write("etc/google-credentials.json", &credentials.to_string());
            let env = vec![
                pair("HTTPS_PROXY", &google.proxy_url()),
                pair("SSL_CERT_FILE", ca.to_str().unwrap()),
                pair("GOOGLE_APPLICATION_CREDENTIALS", file.to_str().unwrap()),
            ];
            (Box::new(google), env)
        }
        "static" => (Box::new(()), Vec::new()),
        other => panic!("{other}: say here which mock cloud it reaches"),
    }
}

pub mod aws;
pub mod azure;
pub mod google;
pub mod kubelet;
pub mod mock;
pub mod netns;
pub mod registry;
pub mod servers;
pub mod stores;
pub mod tls;

pub const NOT_FOUND: &str = "credentials not found in native keychain\n";
