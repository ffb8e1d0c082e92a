//! Real clients end to end: Debian's `docker-registry` (the distribution registry) on
//! 127.0.0.1 with htpasswd auth, a tiny image pushed with `skopeo copy --dest-creds`, then
//! `skopeo inspect` authenticating through `credHelpers` → `docker-credential-wasm` → the
//! `static` plugin. Needs `skopeo`, `docker-registry` and `htpasswd` (apache2-utils), which
//! `.ci/run` installs.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::Sandbox;
use sha2::{Digest, Sha256};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "testuser";
const PASSWORD: &str = "correct-horse-battery";

/// A registry process we started; killed (by its PID) when dropped.
struct Registry {
    child: Child,
    port: u16,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require(tool: &str) {
    let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap().status.success();
    assert!(found, "{tool} is not installed: run .ci/run, or apt-get install skopeo docker-registry apache2-utils");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `docker-registry` on 127.0.0.1 with its storage in `dir`; with htpasswd auth
/// for `USER`/`PASSWORD` when `auth` is set.
fn start_registry(dir: &Path, auth: bool) -> Registry {
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
fn tiny_image(dir: &Path) -> PathBuf {
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
fn skopeo(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> common::Output {
    let bin_dir = Path::new(common::BIN).parent().unwrap();
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
    common::run(command, "")
}

#[test]
fn skopeo_authenticates_through_the_static_plugin() {
    for tool in ["skopeo", "docker-registry", "htpasswd", "tar"] {
        require(tool);
    }
    let sandbox = Sandbox::new();
    let private = start_registry(&sandbox.path("private"), true);
    let public = start_registry(&sandbox.path("public"), false);
    let image = tiny_image(sandbox.dir.path());
    let source = format!("oci:{}:latest", image.display());
    let private_ref = format!("docker://127.0.0.1:{}/tiny:latest", private.port);
    let public_ref = format!("docker://127.0.0.1:{}/tiny:latest", public.port);

    // Seed both registries; the private one only with explicit credentials.
    let creds = format!("{USER}:{PASSWORD}");
    let pushed =
        skopeo(&sandbox, &["copy", "--dest-tls-verify=false", "--dest-creds", &creds, &source, &private_ref], &[]);
    assert_eq!(pushed.code, 0, "{pushed:?}");
    let pushed = skopeo(&sandbox, &["copy", "--dest-tls-verify=false", &source, &public_ref], &[]);
    assert_eq!(pushed.code, 0, "{pushed:?}");

    // The private registry is routed to the static plugin; the public one is in
    // credHelpers too, but no route serves it.
    let config = sandbox.write(
        "helper.toml",
        &format!(
            "[routes]\n\"127.0.0.1:{}\" = \"static\"\n[plugins.static]\nsettings = {{ username = \"{USER}\", secret-env = \"REGISTRY_PASSWORD\" }}\nenv = [\"REGISTRY_PASSWORD\"]\n",
            private.port
        ),
    );
    let auth = sandbox.write(
        "auth.json",
        &format!(r#"{{"credHelpers":{{"127.0.0.1:{}":"wasm","127.0.0.1:{}":"wasm"}}}}"#, private.port, public.port),
    );
    let inspect = |reference: &str, password: &str| {
        skopeo(
            &sandbox,
            &["inspect", "--tls-verify=false", "--authfile", auth.to_str().unwrap(), reference],
            &[("DOCKER_CREDENTIAL_WASM_CONFIG", config.to_str().unwrap()), ("REGISTRY_PASSWORD", password)],
        )
    };

    let authenticated = inspect(&private_ref, PASSWORD);
    assert_eq!(authenticated.code, 0, "{authenticated:?}");
    let details: serde_json::Value = serde_json::from_str(&authenticated.stdout).unwrap();
    assert_eq!(details["Name"], format!("127.0.0.1:{}/tiny", private.port));
    assert!(details["Digest"].as_str().unwrap().starts_with("sha256:"));

    let anonymous = inspect(&public_ref, PASSWORD);
    assert_eq!(anonymous.code, 0, "not-found must let skopeo continue anonymously: {anonymous:?}");

    let wrong = inspect(&private_ref, "wrong-password");
    assert_ne!(wrong.code, 0);
    assert!(
        wrong.stderr.contains("unauthorized") || wrong.stderr.contains("401"),
        "expected the registry's 401: {wrong:?}"
    );
    assert!(!wrong.stderr.contains("docker-credential-wasm"), "the helper itself must not fail: {wrong:?}");
}

/// The htpasswd registry holding the tiny image, and a config routing it to the static
/// plugin with the password from `REGISTRY_PASSWORD`.
struct Private {
    sandbox: Sandbox,
    registry: Registry,
    /// `127.0.0.1:<port>`.
    name: String,
    /// The image, as skopeo names it.
    reference: String,
    config: PathBuf,
}

impl Private {
    fn start() -> Private {
        for tool in ["skopeo", "docker-registry", "htpasswd", "tar"] {
            require(tool);
        }
        let sandbox = Sandbox::new();
        let registry = start_registry(&sandbox.path("private"), true);
        let image = tiny_image(sandbox.dir.path());
        let name = format!("127.0.0.1:{}", registry.port);
        let reference = format!("docker://{name}/tiny:latest");
        let (creds, source) = (format!("{USER}:{PASSWORD}"), format!("oci:{}:latest", image.display()));
        let pushed =
            skopeo(&sandbox, &["copy", "--dest-tls-verify=false", "--dest-creds", &creds, &source, &reference], &[]);
        assert_eq!(pushed.code, 0, "{pushed:?}");
        let config = sandbox.write(
            "helper.toml",
            &format!(
                "[routes]\n\"{name}\" = \"static\"\n[plugins.static]\nsettings = {{ username = \"{USER}\", secret-env = \"REGISTRY_PASSWORD\" }}\nenv = [\"REGISTRY_PASSWORD\"]\n"
            ),
        );
        Private { sandbox, registry, name, reference, config }
    }
}

#[test]
fn configure_docker_writes_an_authfile_that_skopeo_follows() {
    let Private { sandbox, registry: _running, name: registry, reference: private_ref, config } = Private::start();
    // An auth.json with a field of its own, made to send the routed registry to the helper
    // by `configure-docker` (the config's exact routes are the default).
    let auth = sandbox.write("auth.json", "{\n\t\"auths\": {}\n}\n");
    let configured = sandbox.run(
        &["--config", config.to_str().unwrap(), "configure-docker", "--containers", "--file", auth.to_str().unwrap()],
        "",
        &[],
    );
    assert_eq!(
        (configured.stdout.as_str(), configured.code),
        (format!("{} changed:\n  + {registry}\n", auth.display()).as_str(), 0),
        "{}",
        configured.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&auth).unwrap(),
        format!("{{\n\t\"auths\": {{}},\n\t\"credHelpers\": {{\n\t\t\"{registry}\": \"wasm\"\n\t}}\n}}\n")
    );
    let inspect = skopeo(
        &sandbox,
        &["inspect", "--tls-verify=false", "--authfile", auth.to_str().unwrap(), &private_ref],
        &[("DOCKER_CREDENTIAL_WASM_CONFIG", config.to_str().unwrap()), ("REGISTRY_PASSWORD", PASSWORD)],
    );
    assert_eq!(inspect.code, 0, "{inspect:?}");
}

#[test]
fn docker_config_prints_an_authfile_skopeo_authenticates_with() {
    let Private { sandbox, registry: _running, name: registry, reference: private_ref, config } = Private::start();
    let config_arg = config.to_str().unwrap();
    let printed =
        sandbox.run(&["--config", config_arg, "docker-config", &registry], "", &[("REGISTRY_PASSWORD", PASSWORD)]);
    assert_eq!((printed.code, printed.stderr.as_str()), (0, ""));
    let auth = format!("{USER}:{PASSWORD}");
    let encoded = STANDARD.encode(&auth);
    assert_eq!(
        printed.stdout,
        format!(
            "{{\"auths\":{{\"{registry}\":{{\"auth\":\"{encoded}\",\"password\":\"{PASSWORD}\",\"username\":\"{USER}\"}}}}}}\n"
        )
    );
    // As the kubelet reads a dockerconfigjson: `auths`, and `auth` over username/password.
    let parsed: serde_json::Value = serde_json::from_str(&printed.stdout).unwrap();
    let entry = &parsed["auths"][&registry];
    assert_eq!(STANDARD.decode(entry["auth"].as_str().unwrap()).unwrap(), auth.as_bytes());

    let authfile = sandbox.write("pull-secret.json", &printed.stdout);
    let inspect = skopeo(
        &sandbox,
        &["inspect", "--tls-verify=false", "--authfile", authfile.to_str().unwrap(), &private_ref],
        &[],
    );
    assert_eq!(inspect.code, 0, "{inspect:?}");

    // A registry that gets no credentials: nothing printed, each reason named, exit 1.
    let failed = sandbox.run(
        &["--config", config_arg, "docker-config", &registry, "unrouted.example"],
        "",
        &[("REGISTRY_PASSWORD", PASSWORD)],
    );
    assert_eq!(
        (failed.stdout.as_str(), failed.stderr.as_str(), failed.code),
        (
            "",
            "docker-credential-wasm: unrouted.example: credentials not found in native keychain\ndocker-credential-wasm: no docker config printed: every registry must get credentials\n",
            1
        )
    );
}
