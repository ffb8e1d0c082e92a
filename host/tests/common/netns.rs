//! A network namespace of a test's own (the tests run as root in CI), with the instance
//! metadata address 169.254.169.254 on its loopback: what an instance looks like to a
//! plugin using its default endpoints, with nothing able to leave the namespace.

/// A network namespace of this test's own, deleted (by name) when dropped.
pub struct NetNs(pub String);

impl NetNs {
    /// A namespace with loopback up and 169.254.169.254 on it, as on an EC2 instance.
    /// Needs root (CI runs as root); anything else fails the test with the reason.
    pub fn with_instance_metadata_address() -> NetNs {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("dcw-imds-{}-{count}", std::process::id());
        let ip = |args: &[&str]| {
            let output =
                std::process::Command::new("ip").args(args).output().expect("iproute2's `ip` must be installed");
            assert!(
                output.status.success(),
                "ip {args:?}: {} (this test needs root)",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        ip(&["netns", "add", &name]);
        let ns = NetNs(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ip(&["-n", &ns.0, "addr", "add", "169.254.169.254/32", "dev", "lo"]);
        ns
    }

    /// Runs `start` on a thread that entered the namespace, so the sockets it opens (and
    /// the threads it starts) live there.
    pub fn inside<T: Send + 'static>(&self, start: impl FnOnce() -> T + Send + 'static) -> T {
        use std::os::fd::AsFd;
        let path = format!("/var/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            rustix::thread::move_into_link_name_space(ns.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))
                .unwrap();
            start()
        })
        .join()
        .unwrap()
    }
}

impl NetNs {
    /// The binary under test, run in the namespace with `sandbox`'s clean environment.
    pub fn command(&self, sandbox: &super::Sandbox, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new("ip");
        command
            .args(["netns", "exec", &self.0, super::BIN])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", sandbox.path(""))
            .env("XDG_CONFIG_HOME", sandbox.path("config"));
        command
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A test of a cloud plugin: a scratch home, and the cloud's mock and the binary both inside
/// a namespace of the test's own, with HTTPS through the mock's proxy and its CA trusted.
/// Whatever a test forgets to stub, nothing leaves the namespace.
pub struct Namespaced<M> {
    pub sandbox: super::Sandbox,
    pub mock: M,
    pub ca: std::path::PathBuf,
    pub ns: NetNs,
}

impl<M: std::ops::Deref<Target = super::servers::Servers> + Send + 'static> Namespaced<M> {
    /// Starts the mock with `start`, its plain-HTTP side at the instance metadata address
    /// when `metadata` (a cloud VM), else on an ephemeral loopback port (a machine without).
    pub fn start(metadata: bool, start: fn(std::net::TcpListener) -> M) -> Self {
        let ns = NetNs::with_instance_metadata_address();
        let address = if metadata { "169.254.169.254:80" } else { "127.0.0.1:0" };
        let mock = ns.inside(move || start(std::net::TcpListener::bind(address).unwrap()));
        let sandbox = super::Sandbox::new();
        let ca = sandbox.write("ca.pem", &mock.pki.ca_pem);
        Namespaced { sandbox, mock, ca, ns }
    }

    /// Runs the binary in the namespace with `args`, `stdin` and `env`.
    pub fn run(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> super::Output {
        let mut command = self.ns.command(&self.sandbox, args);
        command.env("HTTPS_PROXY", self.mock.proxy_url()).env("SSL_CERT_FILE", &self.ca).envs(env.iter().copied());
        super::run(command, stdin)
    }

    /// `get` for `registry`, with `config` if given.
    pub fn get(&self, config: Option<&std::path::PathBuf>, registry: &str, env: &[(&str, &str)]) -> super::Output {
        match config {
            Some(config) => self.run(&["--config", config.to_str().unwrap(), "get"], registry, env),
            None => self.run(&["get"], registry, env),
        }
    }
}
