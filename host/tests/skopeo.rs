//! Real clients end to end: Debian's `docker-registry` (the distribution registry) on
//! 127.0.0.1 with htpasswd auth, a tiny image pushed with `skopeo copy --dest-creds`, then
//! `skopeo inspect` authenticating through `credHelpers` → `docker-credential-wasm` → the
//! `static` plugin. Needs `skopeo`, `docker-registry` and `htpasswd` (apache2-utils), which
//! `.ci/run` installs.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::Sandbox;
use common::registry::{PASSWORD, Registry, USER, require, skopeo, start_registry, tiny_image};
use std::path::PathBuf;

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
