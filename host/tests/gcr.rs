//! The built-in `gcr` plugin end to end: the built binary, with no config (the embedded
//! default routes GCR and Artifact Registry) or with one, gets an access token from each
//! kind of Application Default Credentials at a loopback mock of Google. Every test runs in
//! a network namespace of its own: HTTPS goes through a CONNECT proxy under the real names
//! with a test CA, and the metadata server is at its real address.

mod common;

use common::google::{GoogleMock, SA_EMAIL, SUBJECT_TOKEN, TokenMode, USER_CLIENT, WIF_AUDIENCE, service_account_key};
use common::netns::Namespaced;
use common::{NOT_FOUND, Output, credentials_json};
use std::path::PathBuf;

const REGISTRY: &str = "europe-west3-docker.pkg.dev";

type Setup = Namespaced<GoogleMock>;

/// A machine with no metadata server.
fn machine() -> Setup {
    Setup::start(false, GoogleMock::start_with_http)
}

/// A config routing `*-docker.pkg.dev` to `gcr` with the manifest's grants plus `files`,
/// and `extra` lines for `[plugins.gcr]`.
fn config_file(setup: &Setup, files: &[&str], extra: &str) -> PathBuf {
    let manifest: toml::Table = toml::from_str(include_str!("../../plugins/gcr/manifest.toml")).unwrap();
    let mut granted: Vec<String> =
        manifest["files"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_string()).collect();
    granted.extend(files.iter().map(|f| f.to_string()));
    let config = format!("[routes]\n\"*-docker.pkg.dev\" = \"gcr\"\n\n[plugins.gcr]\nfiles = {granted:?}\n{extra}\n");
    setup.sandbox.write("config.toml", &config)
}

/// A service account key file the mock trusts, granted in a config.
fn service_account(setup: &Setup) -> (PathBuf, PathBuf) {
    let (file, public) = service_account_key(setup.sandbox.dir.path());
    setup.mock.trust(public);
    let key = setup.sandbox.write("sa.json", &file);
    let config = config_file(setup, &[key.to_str().unwrap()], "");
    (key, config)
}

fn answered(output: &Output, registry: &str, token: &str) {
    assert_eq!(
        (output.stdout.as_str(), output.code),
        (credentials_json(registry, "oauth2accesstoken", token).as_str(), 0),
        "{}",
        output.stderr
    );
}

fn failed(output: &Output, line: &str) {
    assert_eq!((output.stdout.as_str(), output.code), (format!("{line}\n").as_str(), 1), "{}", output.stderr);
}

#[test]
fn a_service_account_key_signs_an_assertion_the_token_endpoint_verifies() {
    let setup = machine();
    let (key, config) = service_account(&setup);
    let env = [("GOOGLE_APPLICATION_CREDENTIALS", key.to_str().unwrap())];
    answered(&setup.get(Some(&config), REGISTRY, &env), REGISTRY, "ya29.sa-puller");
    assert_eq!(setup.mock.seen(), ["POST oauth2.googleapis.com/token"]);
    // A key the endpoint does not trust fails its signature check.
    let (_, other) = service_account_key(&setup.sandbox.path(""));
    setup.mock.trust(other);
    failed(
        &setup.get(Some(&config), "us-docker.pkg.dev", &env),
        &format!(
            "docker-credential-wasm: plugin \"gcr\": denied: the credentials in {}: the token endpoint https://oauth2.googleapis.com/token: HTTP 400 invalid_grant: Invalid JWT Signature.",
            key.display()
        ),
    );
}

#[test]
fn gclouds_application_default_credentials_with_no_config_at_all() {
    let setup = machine();
    std::fs::create_dir_all(setup.sandbox.path(".config/gcloud")).unwrap();
    let (client, secret, refresh) = USER_CLIENT;
    let adc = serde_json::json!({"type": "authorized_user", "client_id": client, "client_secret": secret, "refresh_token": refresh});
    setup.sandbox.write(".config/gcloud/application_default_credentials.json", &adc.to_string());
    for registry in ["gcr.io", "eu.gcr.io", "us-docker.pkg.dev", "docker.us-central1.rep.pkg.dev"] {
        answered(&setup.get(None, registry, &[]), registry, "ya29.user");
    }
}

#[test]
fn workload_identity_federation_then_impersonation() {
    let setup = machine();
    let subject = setup.sandbox.write("subject-token", SUBJECT_TOKEN);
    let file = serde_json::json!({
        "type": "external_account", "audience": WIF_AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {"file": subject.to_str().unwrap()},
        "service_account_impersonation_url": format!("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{SA_EMAIL}:generateAccessToken"),
    });
    let wif = setup.sandbox.write("wif.json", &file.to_string());
    let config = config_file(&setup, &[wif.to_str().unwrap(), subject.to_str().unwrap()], "");
    let env = [("GOOGLE_APPLICATION_CREDENTIALS", wif.to_str().unwrap())];
    answered(&setup.get(Some(&config), REGISTRY, &env), REGISTRY, &format!("ya29.as-{SA_EMAIL}"));
    assert_eq!(
        setup.mock.seen(),
        [
            "POST sts.googleapis.com/v1/token".to_string(),
            format!("POST iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{SA_EMAIL}:generateAccessToken"),
        ]
    );
}

#[test]
fn an_impersonated_service_account_file_impersonates_with_its_source_credentials() {
    let setup = machine();
    let (client_id, client_secret, refresh_token) = USER_CLIENT;
    let file = serde_json::json!({
        "type": "impersonated_service_account",
        "service_account_impersonation_url": format!("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{SA_EMAIL}:generateAccessToken"),
        "source_credentials": {"type": "authorized_user", "client_id": client_id, "client_secret": client_secret, "refresh_token": refresh_token},
        "delegates": [],
    });
    std::fs::create_dir_all(setup.sandbox.path(".config/gcloud")).unwrap();
    setup.sandbox.write(".config/gcloud/application_default_credentials.json", &file.to_string());
    answered(&setup.get(None, "gcr.io", &[]), "gcr.io", &format!("ya29.as-{SA_EMAIL}"));
    assert_eq!(
        setup.mock.seen(),
        [
            "POST oauth2.googleapis.com/token".to_string(),
            format!("POST iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{SA_EMAIL}:generateAccessToken"),
        ]
    );
}

#[test]
fn the_metadata_server_with_no_config_at_all() {
    let setup = Setup::start(true, GoogleMock::start_with_http);
    answered(&setup.get(None, "gcr.io", &[]), "gcr.io", "ya29.metadata-default");
    assert_eq!(setup.mock.seen(), ["GET 169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token"]);
}

#[test]
fn no_credentials_anywhere_is_not_found() {
    let setup = machine();
    let output = setup.run(&["-v", "get"], "gcr.io", &[]);
    assert_eq!((output.stdout.as_str(), output.code), (NOT_FOUND, 1));
    assert!(
        output.stderr.contains("credentials not found: plugin \"gcr\": no Google credentials found: GOOGLE_APPLICATION_CREDENTIALS is not set; no ~/.config/gcloud/application_default_credentials.json; no metadata server"),
        "{}",
        output.stderr
    );
}

#[test]
fn token_endpoint_failures_name_the_endpoint() {
    let what = "docker-credential-wasm: plugin \"gcr\": upstream failure: the credentials in";
    for (mode, tail) in [
        (TokenMode::Fail(503, "Service Unavailable".into()), "HTTP 503 no error code: "),
        (
            TokenMode::Fail(200, "{\"access_tok".into()),
            "the answer is not the expected JSON: EOF while parsing a string at line 1 column 12",
        ),
    ] {
        let setup = machine();
        let (key, config) = service_account(&setup);
        setup.mock.token_mode(mode);
        let env = [("GOOGLE_APPLICATION_CREDENTIALS", key.to_str().unwrap())];
        failed(
            &setup.get(Some(&config), REGISTRY, &env),
            &format!("{what} {}: the token endpoint https://oauth2.googleapis.com/token: {tail}", key.display()),
        );
    }
}

#[test]
fn the_kubelet_exchanges_a_pods_token_and_impersonates_its_annotated_account() {
    let setup = machine();
    let config = config_file(&setup, &[], &format!("settings = {{ workload-identity-audience = \"{WIF_AUDIENCE}\" }}"));
    let request = format!(
        r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"{REGISTRY}/p/r/app","serviceAccountToken":"{SUBJECT_TOKEN}","serviceAccountAnnotations":{{"iam.gke.io/gcp-service-account":"{SA_EMAIL}"}}}}"#
    );
    let output = setup.run(&["--config", config.to_str().unwrap(), "kubelet"], &request, &[]);
    let response: serde_json::Value = serde_json::from_str(&output.stdout).unwrap_or_else(|_| panic!("{output:?}"));
    assert_eq!(response["auth"][REGISTRY]["username"], "oauth2accesstoken");
    assert_eq!(response["auth"][REGISTRY]["password"], format!("ya29.as-{SA_EMAIL}"));
}
