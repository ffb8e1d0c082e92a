//! No secret in any output: every built-in plugin's secrets (the static plugin's, AWS keys
//! and session tokens, an Azure client secret, a Google user's client secret and refresh
//! token and a service account's private key, a kubelet pod's service-account token, a
//! proxy's password) go through `get` (miss and hit), `doctor`, the kubelet provider and
//! their error paths at `trace` level with a log file; then stdout, stderr, the log file and
//! every file name and file of the cache are searched. An input secret appears nowhere; a
//! minted answer appears only in the protocol answer itself and in its cache entry.

mod common;

use common::aws::{AwsMock, EcrMode, WEB_IDENTITY_TOKEN};
use common::azure::{AzureMock, SP_CLIENT, SP_SECRET, TENANT};
use common::google::{GoogleMock, TokenMode, USER_CLIENT};
use common::{Output, Sandbox};
use std::path::Path;

const PROXY_PASSWORD: &str = "proxy-pw-3b9e";
const KUBELET_V1: &str = "credentialprovider.kubelet.k8s.io/v1";

/// One scenario's runs and what they showed.
struct Scan {
    sandbox: Sandbox,
    /// Secrets the scenario puts in: never shown anywhere.
    inputs: Vec<String>,
    /// What each run showed: (what, text, whether it is a protocol answer).
    shown: Vec<(String, String, bool)>,
    /// Secrets the plugins answered with.
    answers: Vec<String>,
    env: Vec<(String, String)>,
}

impl Scan {
    fn new(sandbox: Sandbox, inputs: &[&str], env: Vec<(String, String)>) -> Scan {
        let inputs = inputs.iter().map(|s| s.to_string()).collect();
        Scan { sandbox, inputs, shown: Vec::new(), answers: Vec::new(), env }
    }

    /// Runs the binary at trace level with the log file, recording what it showed.
    fn run(&mut self, what: &str, args: &[&str], stdin: &str, extra: &[(&str, &str)]) -> Output {
        let log = self.sandbox.path("helper.log");
        let mut all = vec!["--log-level", "trace", "--log-file", log.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
        env.extend_from_slice(extra);
        let output = self.sandbox.run(&all, stdin, &env);
        let answer = output.code == 0 && matches!(args.last(), Some(&"get") | Some(&"kubelet"));
        self.shown.push((format!("{what}: stdout"), output.stdout.clone(), answer));
        self.shown.push((format!("{what}: stderr"), output.stderr.clone(), false));
        output
    }

    /// A successful `get` of `registry`, its secret recorded as an answer.
    fn get(&mut self, what: &str, registry: &str) {
        let output = self.run(what, &["get"], registry, &[]);
        assert_eq!(output.code, 0, "{what}: {output:?}");
        let answer: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
        self.answers.push(answer["Secret"].as_str().unwrap().to_string());
    }

    /// A failing `get` of `registry` with `extra` in the environment.
    fn get_fails(&mut self, what: &str, registry: &str, extra: &[(&str, &str)]) {
        let output = self.run(what, &["get"], registry, extra);
        assert_eq!(output.code, 1, "{what}: {output:?}");
    }

    /// A kubelet request for `image` (with `token` as the pod's, for `role`); the answer's
    /// password is recorded when it succeeds.
    fn kubelet(&mut self, what: &str, image: &str, pod: Option<(&str, &str)>, succeeds: bool) {
        let pod = pod.map_or(String::new(), |(token, role)| {
            format!(r#","serviceAccountToken":"{token}","serviceAccountAnnotations":{{"eks.amazonaws.com/ecr-role-arn":"{role}"}}"#)
        });
        let request =
            format!(r#"{{"kind":"CredentialProviderRequest","apiVersion":"{KUBELET_V1}","image":"{image}"{pod}}}"#);
        let output = self.run(what, &["kubelet"], &request, &[]);
        assert_eq!(output.code, if succeeds { 0 } else { 1 }, "{what}: {output:?}");
        if succeeds {
            let response: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
            for (_, auth) in response["auth"].as_object().unwrap() {
                self.answers.push(auth["password"].as_str().unwrap().to_string());
            }
        }
    }

    /// `doctor` for `registry`: it calls the plugin, and shows no secret at all.
    fn doctor(&mut self, registry: &str) {
        let output = self.run("doctor", &["doctor", registry], "", &[]);
        assert_eq!(output.code, 0, "{output:?}");
    }

    /// Searches everything shown, the log file and the cache for every secret.
    fn check(mut self, name: &str) {
        let log = self.sandbox.path("helper.log");
        self.shown.push(("the log file".into(), std::fs::read_to_string(&log).unwrap_or_default(), false));
        assert!(self.shown.last().unwrap().1.contains(" DEBUG: "), "{name}: the log file has the debug lines");
        let cache = self.sandbox.path(".cache/docker-credential-wasm");
        let mut entries = 0;
        for path in files_under(&cache) {
            let relative = path.strip_prefix(&cache).unwrap().display().to_string();
            self.shown.push((format!("the cache's file name {relative}"), relative.clone(), false));
            let entry = relative.starts_with("credentials/") && relative.ends_with(".json");
            entries += usize::from(entry);
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            self.shown.push((format!("the cache's file {relative}"), text, entry));
        }
        assert!(entries > 0, "{name}: the answers were cached");
        assert!(
            !self.answers.is_empty() && self.answers.iter().all(|a| a.len() >= 8),
            "{name}: {:?}",
            self.answers.len()
        );
        for (what, text, may_hold_answer) in &self.shown {
            for secret in &self.inputs {
                assert!(
                    !text.contains(secret.as_str()),
                    "{name}: an input secret ({} bytes) is in {what}",
                    secret.len()
                );
            }
            if !may_hold_answer {
                for secret in &self.answers {
                    assert!(!text.contains(secret.as_str()), "{name}: an answer ({} bytes) is in {what}", secret.len());
                }
            }
        }
        eprintln!(
            "{name}: {} outputs searched for {} secrets and {} answers",
            self.shown.len(),
            self.inputs.len(),
            self.answers.len()
        );
    }
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() { stack.push(path) } else { files.push(path) }
        }
    }
    files
}

/// `HTTPS_PROXY` with a user and password, and the mock's CA.
fn proxied(sandbox: &Sandbox, port: u16, ca_pem: &str) -> Vec<(String, String)> {
    let ca = sandbox.write("ca.pem", ca_pem);
    vec![
        ("HTTPS_PROXY".into(), format!("http://proxy-user:{PROXY_PASSWORD}@127.0.0.1:{port}")),
        ("SSL_CERT_FILE".into(), ca.display().to_string()),
    ]
}

#[test]
fn the_static_plugins_secret_is_shown_only_as_the_answer() {
    let sandbox = Sandbox::new();
    let secret = "static-secret-5e1a9c";
    let config = sandbox.write(
        "config.toml",
        "[routes]\n\"registry.example\" = \"static\"\n[plugins.static]\nenv = [\"STATIC_SECRET\"]\n\
         settings = { username = \"robot\", secret-env = \"STATIC_SECRET\" }\n",
    );
    let env = vec![
        ("DOCKER_CREDENTIAL_WASM_CONFIG".into(), config.display().to_string()),
        ("STATIC_SECRET".into(), secret.to_string()),
    ];
    let mut scan = Scan::new(sandbox, &[], env);
    scan.get("get", "registry.example");
    scan.get("get (hit)", "registry.example");
    scan.doctor("registry.example");
    scan.kubelet("kubelet", "registry.example/app", None, true);
    // A secret the variable no longer holds is not found again (the cache keys by it)...
    scan.get_fails("a rotated secret that is unset", "registry.example", &[("STATIC_SECRET", "")]);
    scan.check("static");
}

#[test]
fn aws_keys_session_tokens_pod_tokens_and_the_proxy_password_are_never_shown() {
    let aws = AwsMock::start();
    let (key_id, secret_key, session_token) = ("AKIASCAN", "aws-secret-key-0c71e2", "aws-session-token-9d4b");
    aws.session(key_id, secret_key, session_token);
    let sandbox = Sandbox::new();
    let mut env = proxied(&sandbox, aws.proxy.port, &aws.pki.ca_pem);
    env.extend([
        ("AWS_ACCESS_KEY_ID".into(), key_id.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), secret_key.into()),
        ("AWS_SESSION_TOKEN".into(), session_token.into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]);
    let registry = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
    // STS's answers (the mock's `secret-of-<key>` and `token-of-<key>`) are secrets too.
    let inputs = [secret_key, session_token, PROXY_PASSWORD, WEB_IDENTITY_TOKEN, "secret-of-", "token-of-"];
    let mut scan = Scan::new(sandbox, &inputs, env);
    scan.get("get", registry);
    scan.get("get (hit)", registry);
    scan.doctor(registry);
    let role = "arn:aws:iam::123456789012:role/puller";
    scan.kubelet("kubelet with a pod's token", &format!("{registry}/app:1"), Some((WEB_IDENTITY_TOKEN, role)), true);
    let forged = "eyJhbGciOiJSUzI1NiJ9.forged-pod.signature";
    scan.inputs.push(forged.into());
    scan.kubelet("kubelet with a token STS refuses", &format!("{registry}/app:1"), Some((forged, role)), false);
    for (mode, what) in [
        (EcrMode::Fail(400, r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#.into()), "ECR refuses"),
        (EcrMode::Malformed, "ECR answers nonsense"),
    ] {
        aws.ecr_mode(mode);
        scan.get_fails(what, "210987654321.dkr.ecr.us-west-2.amazonaws.com", &[]);
    }
    scan.get_fails(
        "a wrong key",
        "210987654321.dkr.ecr.eu-west-1.amazonaws.com",
        &[("AWS_SECRET_ACCESS_KEY", "aws-wrong-key-77aa")],
    );
    scan.inputs.push("aws-wrong-key-77aa".into());
    scan.check("ecr");
}

#[test]
fn an_azure_client_secret_and_acr_tokens_are_never_shown() {
    let azure = AzureMock::start();
    let sandbox = Sandbox::new();
    let mut env = proxied(&sandbox, azure.proxy.port, &azure.pki.ca_pem);
    env.extend([
        ("AZURE_TENANT_ID".into(), TENANT.into()),
        ("AZURE_CLIENT_ID".into(), SP_CLIENT.into()),
        ("AZURE_CLIENT_SECRET".into(), SP_SECRET.into()),
    ]);
    let wrong = "azure-wrong-secret-61f0";
    let mut scan = Scan::new(sandbox, &[SP_SECRET, PROXY_PASSWORD, wrong], env);
    scan.get("get", "myreg.azurecr.io");
    scan.get("get (hit)", "myreg.azurecr.io");
    scan.doctor("myreg.azurecr.io");
    scan.kubelet("kubelet", "myreg.azurecr.io/team/app", None, true);
    scan.get_fails("a wrong client secret", "other.azurecr.io", &[("AZURE_CLIENT_SECRET", wrong)]);
    scan.check("acr");
}

#[test]
fn google_client_secrets_refresh_tokens_and_private_keys_are_never_shown() {
    let google = GoogleMock::start();
    let sandbox = Sandbox::new();
    let (client_id, client_secret, refresh_token) = USER_CLIENT;
    let user = serde_json::json!({"type": "authorized_user", "client_id": client_id, "client_secret": client_secret, "refresh_token": refresh_token});
    let adc = sandbox.path(".config/gcloud/application_default_credentials.json");
    std::fs::create_dir_all(adc.parent().unwrap()).unwrap();
    std::fs::write(&adc, user.to_string()).unwrap();
    let (key_file, public_key) = common::google::service_account_key(sandbox.dir.path());
    google.trust(public_key);
    let key: serde_json::Value = serde_json::from_str(&key_file).unwrap();
    let private_key = key["private_key"].as_str().unwrap().to_string();
    // The key's body, line by line: no part of it may be shown either.
    let key_lines: Vec<String> = private_key.lines().filter(|l| !l.starts_with("-----")).map(str::to_string).collect();
    let sa = sandbox.write("sa.json", &key_file);
    let env = proxied(&sandbox, google.proxy.port, &google.pki.ca_pem);
    let mut inputs = vec![client_secret, refresh_token, PROXY_PASSWORD];
    inputs.extend(key_lines.iter().map(String::as_str));
    let mut scan = Scan::new(sandbox, &inputs, env);
    let config = scan.sandbox.write(
        "config.toml",
        &format!("[routes]\n\"*-docker.pkg.dev\" = \"gcr\"\n\"gcr.io\" = \"gcr-sa\"\n[plugins.gcr-sa]\nbuiltin = \"gcr\"\nenv = [\"GOOGLE_APPLICATION_CREDENTIALS\"]\nfiles = [{:?}]\n", sa.display().to_string()),
    );
    scan.env.push(("DOCKER_CREDENTIAL_WASM_CONFIG".into(), config.display().to_string()));
    scan.get("get (gcloud's user credentials)", "us-docker.pkg.dev");
    scan.get("get (hit)", "us-docker.pkg.dev");
    scan.doctor("us-docker.pkg.dev");
    scan.kubelet("kubelet", "us-docker.pkg.dev/project/repo/app", None, true);
    scan.env.push(("GOOGLE_APPLICATION_CREDENTIALS".into(), sa.display().to_string()));
    scan.get("get (a service account key)", "gcr.io");
    google.token_mode(TokenMode::Fail(
        400,
        r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#.into(),
    ));
    scan.get_fails("Google refuses", "europe-docker.pkg.dev", &[]);
    scan.check("gcr");
}
