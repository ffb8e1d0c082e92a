//! The built-in `ecr` plugin end to end: the built binary, with no config (the embedded
//! default routes ECR) or with one, reaches a loopback mock of ECR, STS, IMDS and the
//! container credential endpoint. HTTPS goes through a CONNECT proxy to the mock under the
//! real AWS names, trusted through a test CA; every signed request is verified by the mock
//! with an independent SigV4 implementation.

mod common;

use common::aws::{AwsMock, CONTAINER_TOKEN, EcrMode, Seen, WEB_IDENTITY_TOKEN};
use common::netns::NetNs;
use common::{NOT_FOUND, Output, Sandbox, credentials_json};
use std::path::PathBuf;

const REGISTRY: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const GET_TOKEN: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

struct Setup {
    sandbox: Sandbox,
    mock: AwsMock,
    ca: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let mock = AwsMock::start();
        mock.identity("AKIDSTATIC", "static-secret");
        let sandbox = Sandbox::new();
        let ca = sandbox.write("ca.pem", &mock.pki.ca_pem);
        Setup { sandbox, mock, ca }
    }

    /// A config with the embedded default's ECR routes, the manifest's grants plus the
    /// mock's plain-HTTP port and `files`, and `extra` lines for `[plugins.ecr]`.
    fn config(&self, files: &[&str], extra: &str) -> PathBuf {
        let manifest: toml::Table = toml::from_str(include_str!("../../plugins/ecr/manifest.toml")).unwrap();
        let mut network: Vec<String> =
            manifest["network"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_string()).collect();
        network.push(format!("http://127.0.0.1:{}", self.mock.http_port));
        let mut granted: Vec<String> =
            manifest["files"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_string()).collect();
        granted.extend(files.iter().map(|f| f.to_string()));
        let config = format!(
            "[routes]\n\"*.dkr.ecr.*.amazonaws.com\" = \"ecr\"\n\n[plugins.ecr]\nnetwork = {network:?}\nfiles = {granted:?}\ndeadline-ms = 4000\n{extra}\n"
        );
        self.sandbox.write("config.toml", &config)
    }

    /// Runs the binary with the proxy and CA in its environment, instance metadata
    /// disabled unless `env` says otherwise, and `env`.
    fn run(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let proxy = self.mock.proxy_url();
        let mut all = vec![
            ("HTTPS_PROXY", proxy.as_str()),
            ("SSL_CERT_FILE", self.ca.to_str().unwrap()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        all.retain(|(name, _)| !env.iter().any(|(n, _)| n == name));
        all.extend_from_slice(env);
        self.sandbox.run(args, stdin, &all)
    }

    fn get(&self, registry: &str, env: &[(&str, &str)]) -> Output {
        self.run(&["get"], registry, env)
    }

    fn get_with(&self, config: &std::path::Path, registry: &str, env: &[(&str, &str)]) -> Output {
        self.run(&["--config", config.to_str().unwrap(), "get"], registry, env)
    }

    fn ecr_calls(&self) -> Vec<Seen> {
        self.mock.seen().into_iter().filter(|s| s.action.ends_with("GetAuthorizationToken")).collect()
    }
}

const STATIC_KEYS: [(&str, &str); 2] =
    [("AWS_ACCESS_KEY_ID", "AKIDSTATIC"), ("AWS_SECRET_ACCESS_KEY", "static-secret")];

fn answered(output: &Output, registry: &str, key_id: &str) {
    assert_eq!(
        (output.stdout.as_str(), output.code),
        (credentials_json(registry, "AWS", &format!("ecr-token-for-{key_id}")).as_str(), 0),
        "{}",
        output.stderr
    );
}

fn failed(output: &Output, line: &str) {
    assert_eq!((output.stdout.as_str(), output.code), (format!("{line}\n").as_str(), 1), "{}", output.stderr);
}

#[test]
fn environment_keys_with_no_config_at_all() {
    let setup = Setup::new();
    let output = setup.get(REGISTRY, &STATIC_KEYS);
    answered(&output, REGISTRY, "AKIDSTATIC");
    assert_eq!(
        setup.mock.seen(),
        vec![Seen {
            host: "api.ecr.us-west-2.amazonaws.com".into(),
            method: "POST".into(),
            path: "/".into(),
            action: GET_TOKEN.into(),
            signature: Some(("AKIDSTATIC".into(), true)),
        }]
    );
    assert_eq!(
        setup.mock.proxy.targets.lock().unwrap().as_slice(),
        ["CONNECT api.ecr.us-west-2.amazonaws.com:443 HTTP/1.1"]
    );
    // The answer is cached for half its 12 hours: a second get asks nobody.
    answered(&setup.get(REGISTRY, &STATIC_KEYS), REGISTRY, "AKIDSTATIC");
    assert_eq!(setup.mock.seen().len(), 1);
}

#[test]
fn each_host_form_reaches_its_regional_endpoint() {
    let setup = Setup::new();
    for (registry, host, target) in [
        ("123456789012.dkr.ecr.eu-central-1.amazonaws.com", "api.ecr.eu-central-1.amazonaws.com", GET_TOKEN),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "api.ecr.cn-north-1.amazonaws.com.cn", GET_TOKEN),
        ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "ecr-fips.us-gov-west-1.amazonaws.com", GET_TOKEN),
        ("public.ecr.aws", "api.ecr-public.us-east-1.amazonaws.com", "SpencerFrontendService.GetAuthorizationToken"),
    ] {
        let output = setup.get(registry, &[STATIC_KEYS[0], STATIC_KEYS[1], ("AWS_REGION", "eu-west-1")]);
        answered(&output, registry, "AKIDSTATIC");
        let seen = setup.mock.seen().pop().unwrap();
        assert_eq!((seen.host.as_str(), seen.action.as_str()), (host, target), "{registry}");
        assert_eq!(seen.signature, Some(("AKIDSTATIC".into(), true)), "{registry}");
    }
}

#[test]
fn a_wrong_secret_is_refused_by_the_signature_check() {
    let setup = Setup::new();
    let output = setup.get(REGISTRY, &[("AWS_ACCESS_KEY_ID", "AKIDSTATIC"), ("AWS_SECRET_ACCESS_KEY", "wrong")]);
    failed(
        &output,
        "docker-credential-wasm: plugin \"ecr\": denied: ecr GetAuthorizationToken in us-west-2: HTTP 403 InvalidSignatureException: The request signature we calculated does not match the signature you provided.",
    );
    assert_eq!(setup.mock.seen()[0].signature, Some(("AKIDSTATIC".into(), false)));
    let output = setup.get(REGISTRY, &[("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN"), ("AWS_SECRET_ACCESS_KEY", "x")]);
    failed(
        &output,
        "docker-credential-wasm: plugin \"ecr\": denied: ecr GetAuthorizationToken in us-west-2: HTTP 400 UnrecognizedClientException: The security token included in the request is invalid.",
    );
}

#[test]
fn shared_profiles_static_and_assumed_role() {
    let setup = Setup::new();
    setup.mock.identity("AKIDBASE", "base-secret");
    std::fs::create_dir_all(setup.sandbox.path(".aws")).unwrap();
    setup
        .sandbox
        .write(".aws/credentials", "[default]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n");
    setup.sandbox.write(
        ".aws/config",
        "[profile puller]\nrole_arn = arn:aws:iam::123456789012:role/puller\nsource_profile = default\nregion = us-west-2\n",
    );
    answered(&setup.get(REGISTRY, &[]), REGISTRY, "AKIDBASE");
    let output = setup.get("123456789012.dkr.ecr.eu-central-1.amazonaws.com", &[("AWS_PROFILE", "puller")]);
    answered(&output, "123456789012.dkr.ecr.eu-central-1.amazonaws.com", "ASIAROLE1");
    let seen = setup.mock.seen();
    let assume = &seen[1];
    assert_eq!((assume.host.as_str(), assume.action.as_str()), ("sts.us-west-2.amazonaws.com", "AssumeRole"));
    assert_eq!(assume.signature, Some(("AKIDBASE".into(), true)));
    assert_eq!(seen[2].signature, Some(("ASIAROLE1".into(), true)));
}

#[test]
fn a_registry_can_be_served_with_its_own_profile() {
    let setup = Setup::new();
    setup.mock.identity("AKIDTEAMB", "team-b-secret");
    std::fs::create_dir_all(setup.sandbox.path(".aws")).unwrap();
    setup
        .sandbox
        .write(".aws/credentials", "[team-b]\naws_access_key_id = AKIDTEAMB\naws_secret_access_key = team-b-secret\n");
    let config = setup.config(&[], "");
    let config_text = std::fs::read_to_string(&config).unwrap()
        + "\n[plugins.ecr-team-b]\nbuiltin = \"ecr\"\nsettings = { profile = \"team-b\" }\n";
    let config_text = config_text
        .replace("[routes]\n", "[routes]\n\"222222222222.dkr.ecr.us-west-2.amazonaws.com\" = \"ecr-team-b\"\n");
    std::fs::write(&config, config_text).unwrap();
    let team_b = "222222222222.dkr.ecr.us-west-2.amazonaws.com";
    answered(&setup.get_with(&config, team_b, &STATIC_KEYS), team_b, "AKIDTEAMB");
    answered(&setup.get_with(&config, REGISTRY, &STATIC_KEYS), REGISTRY, "AKIDSTATIC");
}

#[test]
fn web_identity_from_a_projected_token_file() {
    let setup = Setup::new();
    let token_file = setup.sandbox.write("token", &format!("{WEB_IDENTITY_TOKEN}\n"));
    let config = setup.config(&[token_file.to_str().unwrap()], "");
    let env = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa"),
    ];
    answered(&setup.get_with(&config, REGISTRY, &env), REGISTRY, "ASIAWEB1");
    let seen = setup.mock.seen();
    assert_eq!(
        (seen[0].host.as_str(), seen[0].action.as_str(), &seen[0].signature),
        ("sts.us-west-2.amazonaws.com", "AssumeRoleWithWebIdentity", &None)
    );
    // A token file the operator did not grant is an error that says so.
    let ungranted = setup.sandbox.write("other-token", WEB_IDENTITY_TOKEN);
    let output = setup.get_with(
        &config,
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
        &[env[1], ("AWS_WEB_IDENTITY_TOKEN_FILE", ungranted.to_str().unwrap())],
    );
    failed(
        &output,
        &format!(
            "docker-credential-wasm: plugin \"ecr\": denied: AWS credentials from web identity: the file {} is not granted to this plugin; add it to the plugin's `files` grant",
            ungranted.display()
        ),
    );
}

#[test]
fn container_credentials_with_an_authorization_token_file() {
    let setup = Setup::new();
    let token_file = setup.sandbox.write("pod-identity-token", &format!("{CONTAINER_TOKEN}\n"));
    let config = setup.config(&[token_file.to_str().unwrap()], "");
    let uri = format!("http://127.0.0.1:{}/container/credentials", setup.mock.http_port);
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file.to_str().unwrap()),
    ];
    answered(&setup.get_with(&config, REGISTRY, &env), REGISTRY, "ASIAPOD1");
    assert_eq!(setup.mock.seen()[0].path, "/container/credentials");
}

#[test]
fn instance_metadata_through_the_endpoint_override() {
    let setup = Setup::new();
    let config = setup.config(&[], "");
    let endpoint = format!("http://127.0.0.1:{}", setup.mock.http_port);
    let env = [("AWS_EC2_METADATA_DISABLED", "false"), ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint.as_str())];
    answered(&setup.get_with(&config, REGISTRY, &env), REGISTRY, "ASIAIMDS1");
    let paths: Vec<String> = setup.mock.seen().iter().map(|s| format!("{} {}", s.method, s.path)).collect();
    assert_eq!(
        paths,
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/iam/security-credentials/",
            "GET /latest/meta-data/iam/security-credentials/node-role",
            "POST /",
        ]
    );
    // Expired instance credentials are refused before ECR is asked.
    let setup = Setup::new();
    setup.mock.imds_expired();
    let config = setup.config(&[], "");
    let endpoint = format!("http://127.0.0.1:{}", setup.mock.http_port);
    let env = [("AWS_EC2_METADATA_DISABLED", "false"), ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint.as_str())];
    let output = setup.get_with(&config, REGISTRY, &env);
    assert!(
        output.stdout.starts_with(
            "docker-credential-wasm: plugin \"ecr\": denied: the AWS credentials from instance metadata expired at "
        ),
        "{output:?}"
    );
    assert_eq!(output.code, 1);
    assert!(setup.ecr_calls().is_empty());
}

#[test]
fn no_credentials_anywhere_is_not_found_and_the_log_says_what_was_tried() {
    let setup = Setup::new();
    let output = setup.run(&["-v", "get"], REGISTRY, &[]);
    assert_eq!((output.stdout.as_str(), output.code), (NOT_FOUND, 1));
    assert!(
        output.stderr.contains("credentials not found: plugin \"ecr\": no AWS credentials found; tried environment: AWS_ACCESS_KEY_ID is not set; web identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set; profile default: no profile default in ~/.aws/config or ~/.aws/credentials; container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not set; instance metadata: AWS_EC2_METADATA_DISABLED is true"),
        "{}",
        output.stderr
    );
    assert!(setup.mock.seen().is_empty());
}

#[test]
fn ecr_failures_are_errors_that_name_the_call() {
    let what = "docker-credential-wasm: plugin \"ecr\": upstream failure: ecr GetAuthorizationToken in us-west-2";
    for (mode, line) in [
        (
            EcrMode::Fail(500, r#"{"__type":"ServerException","message":"Internal error"}"#.into()),
            format!("{what}: HTTP 500 ServerException: Internal error"),
        ),
        (EcrMode::Fail(503, "<html>unavailable</html>".into()), format!("{what}: HTTP 503 no error type: ")),
        (
            EcrMode::Malformed,
            format!("{what}: the answer is not the expected JSON: EOF while parsing a string at line 1 column 40"),
        ),
        (
            EcrMode::Hang,
            format!("{what}: POST https://api.ecr.us-west-2.amazonaws.com/: timed out waiting for the answer"),
        ),
    ] {
        let setup = Setup::new();
        setup.mock.ecr_mode(mode.clone());
        let config = setup.config(&[], "");
        failed(&setup.get_with(&config, REGISTRY, &STATIC_KEYS), &line);
    }
}

#[test]
fn the_kubelet_gets_the_token_for_half_its_life_and_pods_exchange_their_own_token() {
    let setup = Setup::new();
    let request = format!(
        r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"{REGISTRY}/team/app"}}"#
    );
    let output = setup.run(&["kubelet"], &request, &STATIC_KEYS);
    let response: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert!(["6h0m0s", "5h59m59s"].contains(&response["cacheDuration"].as_str().unwrap()), "{response}");
    assert_eq!(response["auth"][REGISTRY]["password"], "ecr-token-for-AKIDSTATIC");

    let pod = format!(
        r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"{REGISTRY}/team/app","serviceAccountToken":"{WEB_IDENTITY_TOKEN}","serviceAccountAnnotations":{{"eks.amazonaws.com/ecr-role-arn":"arn:aws:iam::123456789012:role/pod"}}}}"#
    );
    let output = setup.run(&["kubelet"], &pod, &STATIC_KEYS);
    let response: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(response["auth"][REGISTRY]["password"], "ecr-token-for-ASIAWEB1", "{}", output.stderr);
    let exchange = setup.mock.seen().into_iter().find(|s| s.action == "AssumeRoleWithWebIdentity").unwrap();
    assert_eq!(exchange.host, "sts.us-west-2.amazonaws.com");
}

#[test]
fn docker_login_fails_clearly_unless_the_operator_ignores_store() {
    let setup = Setup::new();
    let stored = format!(r#"{{"ServerURL":"{REGISTRY}","Username":"AWS","Secret":"x"}}"#);
    // A config without a credential store: `docker login` to ECR is an error that says what to do.
    let config = setup.config(&[], "");
    failed(
        &setup.run(&["--config", config.to_str().unwrap(), "store"], &stored, &[]),
        "docker-credential-wasm: plugin \"ecr\" does not store credentials; to let `docker login` and `docker logout` succeed without it, set ignore-store = true in [plugins.ecr]",
    );
    // The embedded default has one (`"credsStore": "wasm"` sends every login here): accepted
    // and not kept, since the plugin mints its own.
    let output = setup.run(&["--log-level", "info", "store"], &stored, &[]);
    assert_eq!((output.stdout.as_str(), output.code), ("", 0));
    assert!(
        output.stderr.contains("plugin \"ecr\" mints its own credentials and does not store any; ignored"),
        "{}",
        output.stderr
    );
    let config = setup.config(&[], "ignore-store = true");
    let output = setup.run(&["--config", config.to_str().unwrap(), "store"], &stored, &[]);
    assert_eq!((output.stdout.as_str(), output.code), ("", 0));
    let listed = setup.run(&["--config", config.to_str().unwrap(), "list"], "", &[]);
    assert_eq!((listed.stdout.as_str(), listed.code), ("{}\n", 0), "wildcard routes list nothing, with no network");
}

#[test]
fn on_an_instance_the_defaults_find_instance_metadata_with_no_override() {
    let ns = NetNs::with_instance_metadata_address();
    let mock = ns.inside(|| {
        let imds = std::net::TcpListener::bind("169.254.169.254:80").unwrap();
        AwsMock::start_with_http(imds)
    });
    let sandbox = Sandbox::new();
    let ca = sandbox.write("ca.pem", &mock.pki.ca_pem);
    let mut command = ns.command(&sandbox, &["get"]);
    command.env("HTTPS_PROXY", mock.proxy_url()).env("SSL_CERT_FILE", &ca);
    let output = common::run(command, REGISTRY);
    answered(&output, REGISTRY, "ASIAIMDS1");
    let seen: Vec<String> = mock.seen().iter().map(|s| format!("{} {} {}", s.method, s.host, s.path)).collect();
    assert_eq!(
        seen,
        [
            "PUT 169.254.169.254 /latest/api/token",
            "GET 169.254.169.254 /latest/meta-data/iam/security-credentials/",
            "GET 169.254.169.254 /latest/meta-data/iam/security-credentials/node-role",
            "POST api.ecr.us-west-2.amazonaws.com /",
        ]
    );
}
