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
