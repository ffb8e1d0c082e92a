//! A real registry for the client tests: Debian's `docker-registry` (the distribution
//! registry) on 127.0.0.1, with htpasswd auth; a tiny OCI image to push to it; and `skopeo`
//! run in a scratch home with our binary first on PATH.

use super::Sandbox;
use sha2::{Digest, Sha256};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "testuser";
pub const PASSWORD: &str = "correct-horse-battery";

/// A registry process we started; killed (by its PID) when dropped.
pub struct Registry {
    child: Child,
    pub port: u16,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn require(tool: &str) {
    let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap().status.success();
    assert!(found, "{tool} is not installed: run .ci/run, or apt-get install skopeo docker-registry apache2-utils");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `docker-registry` on 127.0.0.1 with its storage in `dir`; with htpasswd auth
/// for `USER`/`PASSWORD` when `auth` is set.
pub fn start_registry(dir: &Path, auth: bool) -> Registry {
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let mut config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
        dir.join("storage").display()
    );
    if auth {
        let htpasswd = Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]).output().unwrap();
        assert!(htpasswd.status.success());
        std::fs::write(dir.join("htpasswd"), htpasswd.stdout).unwrap();
        config += &format!("auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n", dir.join("htpasswd").display());
    }
    std::fs::write(dir.join("config.yml"), config).unwrap();
    let log = std::fs::File::create(dir.join("registry.log")).unwrap();
    let child = Command::new("docker-registry")
        .args(["serve", dir.join("config.yml").to_str().unwrap()])
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let registry = Registry { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the registry did not listen on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    registry
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes a one-layer OCI image layout (tag `latest`) into `dir`.
pub fn tiny_image(dir: &Path) -> PathBuf {
    let layout = dir.join("image");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(dir.join("rootfs")).unwrap();
    std::fs::write(dir.join("rootfs/hello.txt"), "hello from docker-credential-wasm\n").unwrap();
    let tar = Command::new("tar")
        .args(["-C", dir.join("rootfs").to_str().unwrap(), "-cf", "-", "hello.txt"])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let blob = |bytes: &[u8]| {
        let digest = sha256_hex(bytes);
        std::fs::write(blobs.join(&digest), bytes).unwrap();
        (format!("sha256:{digest}"), bytes.len())
    };
    let (layer, layer_size) = blob(&tar.stdout);
    let config =
        format!(r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#);
    let (config, config_size) = blob(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{layer_size}}}]}}"#
    );
    let (manifest, manifest_size) = blob(manifest.as_bytes());
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest}","size":{manifest_size},"annotations":{{"org.opencontainers.image.ref.name":"latest"}}}}]}}"#
        ),
    )
    .unwrap();
    layout
}

/// `skopeo` with a scratch HOME, an accept-anything policy and our binary first on PATH.
pub fn skopeo(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> super::Output {
    let bin_dir = Path::new(super::BIN).parent().unwrap();
    let policy = sandbox.write("policy.json", r#"{"default":[{"type":"insecureAcceptAnything"}]}"#);
    let mut command = Command::new("skopeo");
    command
        .arg("--policy")
        .arg(&policy)
        .args(args)
        .env_clear()
        .env("PATH", format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default()))
        .env("HOME", sandbox.dir.path())
        .env("XDG_RUNTIME_DIR", sandbox.path("run"))
        .envs(env.iter().copied());
    super::run(command, "")
}
