//! Real secret stores for the credential-store tests, each in a scratch home: a headless
//! GNOME Keyring (the Secret Service) on a D-Bus session bus of our own, unlocked with a
//! password on its stdin; and a `pass` password store with a throwaway GnuPG key. Every
//! process is one we started, ended by its PID (or, for GnuPG's agent, by `gpgconf` for
//! our scratch GnuPG home only).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The login keyring's password in the tests.
pub const KEYRING_PASSWORD: &str = "keyring-test-password";

/// A scratch directory with a short path (sockets live in it: at most 108 bytes).
fn short_tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir_in("/tmp").unwrap()
}

pub fn require(tool: &str) {
    let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap().status.success();
    assert!(
        found,
        "{tool} is not installed: run .ci/run, or apt-get install gnome-keyring dbus-daemon pass gnupg golang-docker-credential-helpers"
    );
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not come up within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn end(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A session bus of our own (no service activation: nothing starts behind our back) with
/// GNOME Keyring on it.
pub struct Keyring {
    pub dir: tempfile::TempDir,
    bus: Child,
    daemon: Option<Child>,
    pub address: String,
}

impl Keyring {
    pub fn start() -> Keyring {
        for tool in ["dbus-daemon", "dbus-send", "gnome-keyring-daemon"] {
            require(tool);
        }
        let dir = short_tempdir("kr");
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let bus = Command::new("dbus-daemon")
            .args(["--nofork", "--nopidfile", "--config-file"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let address = format!("unix:path={}", socket.display());
        let mut keyring = Keyring { dir, bus, daemon: None, address };
        wait_for("the session bus", || socket.exists());
        for sub in ["home", "run"] {
            std::fs::create_dir_all(keyring.dir.path().join(sub)).unwrap();
        }
        std::fs::set_permissions(keyring.dir.path().join("run"), std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        keyring.start_daemon();
        keyring
    }

    /// Starts GNOME Keyring, unlocking (or creating) the login keyring.
    pub fn start_daemon(&mut self) {
        let mut daemon = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env_clear()
            .envs(self.env())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        daemon.stdin.take().unwrap().write_all(KEYRING_PASSWORD.as_bytes()).unwrap();
        self.daemon = Some(daemon);
        wait_for("GNOME Keyring", || self.has_owner("org.freedesktop.secrets"));
    }

    /// Ends GNOME Keyring (the bus stays): the keyring has gone away.
    pub fn stop_daemon(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            end(&mut daemon);
        }
        wait_for("GNOME Keyring to leave the bus", || !self.has_owner("org.freedesktop.secrets"));
    }

    /// Stops (`SIGSTOP`) or resumes (`SIGCONT`) GNOME Keyring, which we started: a keyring
    /// that stopped answering, its bus name still owned.
    pub fn signal_daemon(&self, signal: libc::c_int) {
        let pid = self.daemon.as_ref().expect("the keyring runs").id() as libc::pid_t;
        // SAFETY: kill(2) on a child we started and have not reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    fn has_owner(&self, name: &str) -> bool {
        let output = Command::new("dbus-send")
            .args([&format!("--bus={}", self.address), "--print-reply", "--dest=org.freedesktop.DBus", "/"])
            .args(["org.freedesktop.DBus.NameHasOwner", &format!("string:{name}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).contains("boolean true")
    }

    /// What a client of this keyring needs in its environment.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HOME", self.dir.path().join("home").display().to_string()),
            ("XDG_RUNTIME_DIR", self.dir.path().join("run").display().to_string()),
            ("DBUS_SESSION_BUS_ADDRESS", self.address.clone()),
        ]
    }

    /// Locks every collection (as the screen locker would).
    pub fn lock(&self) {
        let output = Command::new("dbus-send")
            .args([&format!("--bus={}", self.address), "--print-reply", "--dest=org.freedesktop.secrets"])
            .args(["/org/freedesktop/secrets", "org.freedesktop.Secret.Service.Lock"])
            .arg("array:objpath:/org/freedesktop/secrets/collection/login")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        if let Some(daemon) = &mut self.daemon {
            end(daemon);
        }
        end(&mut self.bus);
    }
}

/// A `pass` password store with a throwaway GnuPG key, in a scratch home.
pub struct PassStore {
    pub dir: tempfile::TempDir,
}

impl PassStore {
    pub fn start() -> PassStore {
        for tool in ["pass", "gpg", "gpgconf"] {
            require(tool);
        }
        let store = PassStore { dir: short_tempdir("ps") };
        std::fs::create_dir_all(store.home()).unwrap();
        std::fs::create_dir_all(store.gnupg()).unwrap();
        std::fs::set_permissions(store.gnupg(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let uid = "docker-credential-wasm test <test@example.invalid>";
        store.gpg(&["--batch", "--passphrase", "", "--quick-gen-key", uid, "future-default", "default", "never"]);
        let keys = store.gpg(&["--list-keys", "--with-colons"]);
        let fingerprint =
            keys.lines().find_map(|line| line.strip_prefix("fpr:")).and_then(|rest| rest.split(':').nth(8)).unwrap();
        store.pass(&["init", fingerprint]);
        store
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn gnupg(&self) -> PathBuf {
        self.dir.path().join("g")
    }

    /// The password store's directory.
    pub fn store_dir(&self) -> PathBuf {
        self.home().join(".password-store")
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("HOME", self.home().display().to_string()), ("GNUPGHOME", self.gnupg().display().to_string())]
    }

    fn tool(&self, program: &str, args: &[&str]) -> String {
        let output = Command::new(program)
            .args(args)
            .env_clear()
            .envs(self.env())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    pub fn gpg(&self, args: &[&str]) -> String {
        self.tool("gpg", args)
    }

    pub fn pass(&self, args: &[&str]) -> String {
        self.tool("pass", args)
    }

    /// The files of the store below `folder`, relative to the store, sorted.
    pub fn files(&self, folder: &str) -> Vec<String> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.push(path.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.store_dir().join(folder), &self.store_dir(), &mut files);
        files.sort();
        files
    }
}

impl Drop for PassStore {
    fn drop(&mut self) {
        // The agent GnuPG started for our scratch home, and only that one.
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", self.gnupg())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
