//! Installed under another helper's or kubelet provider's name, the built binary is a
//! drop-in for it: the kubelet config from the ECR provider's documentation works verbatim,
//! the GCP and Azure providers' arguments are accepted, and as `docker-credential-ecr-login`
//! it serves every ECR registry with the `ecr` plugin whatever the routes, no other registry
//! (never an AWS token for Docker Hub), and honours ecr-login's knobs.

mod common;

use common::aws::AwsMock;
use common::kubelet::{GROUP_V1, decode_response, keyring_lookup, parse_provider_config, urls_match};
use common::{NOT_FOUND, Output, Sandbox, credentials_json, mock_cloud};
use std::path::PathBuf;
use std::process::Command;

const ECR_REGISTRY: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

/// The kubelet configuration of the ECR provider's documentation, verbatim.
const ECR_PROVIDER_DOCS_CONFIG: &str = r#"apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: ecr
    matchImages:
    - "*.dkr.ecr.*.amazonaws.com"
    - "*.dkr.ecr.*.amazonaws.com.cn"
    - "*.dkr.ecr-fips.*.amazonaws.com"
    - "*.dkr.ecr.us-iso-east-1.c2s.ic.gov"
    - "*.dkr.ecr.us-isob-east-1.sc2s.sgov.gov"
    defaultCacheDuration: "12h"
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    args:
    - get-credentials
    env:
    - name: AWS_PROFILE
      value: temp
"#;

/// The binary linked into the sandbox's `bin` as `name`, as an install would put it.
fn installed_as(sandbox: &Sandbox, name: &str) -> PathBuf {
    std::fs::create_dir_all(sandbox.path("bin")).unwrap();
    let path = sandbox.path("bin").join(name);
    std::os::unix::fs::symlink(common::BIN, &path).unwrap();
    path
}

/// `program` run the way a kubelet or a client runs it: the sandbox's home, the mock cloud's
/// proxy, CA and identity in the environment, and `env`.
fn command(
    sandbox: &Sandbox,
    program: &PathBuf,
    args: &[String],
    cloud: &[(String, String)],
    env: &[(&str, &str)],
) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", sandbox.path(""))
        .env("XDG_CONFIG_HOME", sandbox.path("config"))
        .envs(cloud.iter().map(|(k, v)| (k, v)))
        .envs(env.iter().copied());
    command
}

fn kubelet_request(image: &str) -> String {
    format!(r#"{{"kind":"CredentialProviderRequest","apiVersion":"{GROUP_V1}","image":"{image}"}}"#)
}

#[test]
fn the_ecr_providers_documented_kubelet_config_works_verbatim() {
    let sandbox = Sandbox::new();
    let aws = AwsMock::start();
    aws.identity("AKIDTEMP", "temp-secret");
    std::fs::create_dir_all(sandbox.path(".aws")).unwrap();
    sandbox.write(".aws/credentials", "[temp]\naws_access_key_id = AKIDTEMP\naws_secret_access_key = temp-secret\n");
    let ca = sandbox.write("ca.pem", &aws.pki.ca_pem);
    let kubelet_env = [
        ("HTTPS_PROXY".to_string(), aws.proxy_url()),
        ("SSL_CERT_FILE".to_string(), ca.display().to_string()),
        ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
    ];

    let config = parse_provider_config(ECR_PROVIDER_DOCS_CONFIG).unwrap();
    let provider = &config.providers[0];
    // The kubelet runs `<bin dir>/<name> <args>` with its environment and the provider's.
    let program = installed_as(&sandbox, &provider.name);
    let provider_env: Vec<(&str, &str)> = provider.env.iter().map(|e| (e.name.as_str(), e.value.as_str())).collect();
    let image = format!("{ECR_REGISTRY}/team/app");
    assert!(provider.match_images.iter().any(|glob| urls_match(glob, &image)));
    let output =
        common::run(command(&sandbox, &program, &provider.args, &kubelet_env, &provider_env), &kubelet_request(&image));

    assert_eq!((output.code, output.stderr.as_str()), (0, ""));
    let response = decode_response(&output.stdout, &provider.api_version).unwrap();
    assert_eq!(response.cache_key_type, "Registry");
    assert_eq!(keyring_lookup(response.auth.keys(), &image), [ECR_REGISTRY]);
    let auth = &response.auth[ECR_REGISTRY];
    assert_eq!((auth.username.as_str(), auth.password.as_str()), ("AWS", "ecr-token-for-AKIDTEMP"));
    // Signed with the profile's key, as the provider's `env` asked.
    assert_eq!(aws.seen().iter().map(|s| s.signature.clone()).collect::<Vec<_>>(), [Some(("AKIDTEMP".into(), true))]);
}

#[test]
fn the_gcp_and_azure_providers_arguments_are_accepted() {
    for (name, args, cloud, image) in [
        ("auth-provider-gcp", vec!["get-credentials", "--v=3"], "gcr", "us-docker.pkg.dev/project/repo/app"),
        ("acr-credential-provider", vec!["/etc/kubernetes/azure.json"], "acr", "myreg.azurecr.io/team/app"),
    ] {
        let sandbox = Sandbox::new();
        let (_mock, mut cloud_env) = mock_cloud(cloud, &sandbox);
        if let Some(at) = cloud_env.iter().position(|(name, _)| name == "GOOGLE_APPLICATION_CREDENTIALS") {
            // The credential file where the gcr plugin's manifest grants it, as on a node.
            let adc = sandbox.path(".config/gcloud/application_default_credentials.json");
            std::fs::create_dir_all(adc.parent().unwrap()).unwrap();
            std::fs::rename(&cloud_env.remove(at).1, adc).unwrap();
        }
        let program = installed_as(&sandbox, name);
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        let output = common::run(command(&sandbox, &program, &args, &cloud_env, &[]), &kubelet_request(image));
        assert_eq!(output.code, 0, "{name}: {}", output.stderr);
        let response = decode_response(&output.stdout, GROUP_V1).unwrap();
        let registry = image.split('/').next().unwrap();
        assert_eq!(response.auth.keys().collect::<Vec<_>>(), [registry], "{name}");
        if name == "auth-provider-gcp" {
            // `--v=3` is klog's verbosity: a debug log on stderr, which the kubelet keeps.
            assert!(
                output.stderr.contains("us-docker.pkg.dev is routed by \"*-docker.pkg.dev\" to plugin \"gcr\""),
                "{}",
                output.stderr
            );
        } else {
            assert!(output.stderr.is_empty(), "{}", output.stderr);
        }
    }
    // An argument no provider passes is refused by name.
    let sandbox = Sandbox::new();
    let program = installed_as(&sandbox, "ecr");
    let output = common::run(
        command(&sandbox, &program, &["--registry-mirror=a:b".into()], &[], &[]),
        &kubelet_request("x.test/app"),
    );
    assert_eq!(output.code, 2, "{}", output.stderr);
    assert!(output.stderr.contains("unexpected argument '--registry-mirror'"), "{}", output.stderr);
}

/// `docker-credential-ecr-login` with the AWS mock's proxy, CA and a static key.
struct EcrLogin {
    sandbox: Sandbox,
    aws: AwsMock,
    program: PathBuf,
    cloud: Vec<(String, String)>,
}

impl EcrLogin {
    fn new() -> EcrLogin {
        let sandbox = Sandbox::new();
        let aws = AwsMock::start();
        aws.identity("AKIDSTATIC", "static-secret");
        let ca = sandbox.write("ca.pem", &aws.pki.ca_pem);
        let cloud = vec![
            ("HTTPS_PROXY".to_string(), aws.proxy_url()),
            ("SSL_CERT_FILE".to_string(), ca.display().to_string()),
            ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
            ("AWS_ACCESS_KEY_ID".to_string(), "AKIDSTATIC".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "static-secret".to_string()),
        ];
        let program = installed_as(&sandbox, "docker-credential-ecr-login");
        EcrLogin { sandbox, aws, program, cloud }
    }

    fn run(&self, action: &str, stdin: &str, env: &[(&str, &str)]) -> Output {
        common::run(command(&self.sandbox, &self.program, &[action.to_string()], &self.cloud, env), stdin)
    }

    fn fetches(&self) -> usize {
        self.aws.seen().len()
    }
}

#[test]
fn as_ecr_login_every_ecr_registry_goes_to_the_ecr_plugin_and_no_other() {
    let login = EcrLogin::new();
    // A config that routes the registry elsewhere: the drop-in serves it with `ecr` anyway.
    std::fs::create_dir_all(login.sandbox.path("config/docker-credential-wasm")).unwrap();
    login.sandbox.write(
        "config/docker-credential-wasm/config.toml",
        &format!("[routes]\n\"{ECR_REGISTRY}\" = \"static\"\n[plugins.static]\nsettings = {{ username = \"u\", secret = \"s\" }}\n"),
    );
    let output = login.run("get", ECR_REGISTRY, &[]);
    assert_eq!(
        (output.stdout.as_str(), output.code),
        (credentials_json(ECR_REGISTRY, "AWS", "ecr-token-for-AKIDSTATIC").as_str(), 0),
        "{}",
        output.stderr
    );
    assert_eq!(login.fetches(), 1);
    // Any other registry is not found, even with a region that would let the plugin fetch
    // a token for it: `"credsStore": "ecr-login"` sends Docker Hub here too.
    for other in ["https://index.docker.io/v1/", "docker.io", "127.0.0.1:5000", "myreg.azurecr.io"] {
        let output = login.run("get", other, &[("AWS_REGION", "us-west-2")]);
        assert_eq!((output.stdout.as_str(), output.code), (NOT_FOUND, 1), "{other}: {}", output.stderr);
    }
    assert_eq!(login.fetches(), 1);
}

#[test]
fn ecr_logins_knobs_turn_off_the_cache_and_make_store_and_erase_harmless() {
    let login = EcrLogin::new();
    let store = r#"{"ServerURL":"123456789012.dkr.ecr.us-west-2.amazonaws.com","Username":"AWS","Secret":"pasted"}"#;
    let refused = login.run("store", store, &[]);
    assert_eq!(refused.code, 1);
    assert!(refused.stdout.contains("does not store credentials; to let `docker login`"), "{}", refused.stdout);
    for action in ["store", "erase"] {
        let stdin = if action == "store" { store } else { ECR_REGISTRY };
        let output = login.run(action, stdin, &[("AWS_ECR_IGNORE_CREDS_STORAGE", "true")]);
        assert_eq!((output.stdout.as_str(), output.code), ("", 0), "{action}: {}", output.stderr);
    }

    // Cached: a second get asks nobody.
    login.run("get", ECR_REGISTRY, &[]);
    login.run("get", ECR_REGISTRY, &[]);
    assert_eq!(login.fetches(), 1);
    // AWS_ECR_DISABLE_CACHE: every get fetches (and reads no cached answer).
    for expected in [2, 3] {
        let output = login.run("get", ECR_REGISTRY, &[("AWS_ECR_DISABLE_CACHE", "1")]);
        assert_eq!(output.code, 0, "{}", output.stderr);
        assert_eq!(login.fetches(), expected);
    }
}
