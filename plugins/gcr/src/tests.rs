//! The plugin's logic against scripted effects: each credential type, the metadata server,
//! the kubelet's pod token, and the failures.

use super::*;
use docker_credential_wasm_sdk::effects::Scripted;
use docker_credential_wasm_sdk::encoding::base64url_decode;
use docker_credential_wasm_sdk::serde_json::{Value, json};

const NOW: u64 = 1_764_500_000;
const KEY: &str = include_str!("../tests/test-service-account-key.pem");
const TOKEN_OK: &str = r#"{"access_token":"ya29.test","expires_in":3599,"token_type":"Bearer"}"#;
const METADATA: &str = "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform";

fn defaults() -> Choices {
    Choices { scopes: vec![CLOUD_PLATFORM.into()], quota_project: None }
}

fn field(effects: &Scripted, index: usize, name: &str) -> String {
    effects.form(index).into_iter().find(|(k, _)| k == name).map(|(_, v)| v).unwrap_or_default()
}

fn service_account_file() -> String {
    json!({
        "type": "service_account", "project_id": "p", "private_key_id": "kid-1", "private_key": KEY,
        "client_email": "puller@p.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token",
    })
    .to_string()
}

#[test]
fn a_service_account_key_signs_an_rs256_assertion_the_public_key_verifies() {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::Verifier;
    let effects = Scripted::at(NOW)
        .env("GOOGLE_APPLICATION_CREDENTIALS", "/keys/sa.json")
        .file("/keys/sa.json", &service_account_file())
        .answer("POST https://oauth2.googleapis.com/token", 200, TOKEN_OK);
    let credentials = answer(&effects, &defaults(), None).unwrap();
    assert_eq!(
        (credentials.username.as_str(), credentials.secret.as_str(), credentials.expires_at),
        (USERNAME, "ya29.test", Some(NOW + 3599))
    );
    assert_eq!(field(&effects, 0, "grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
    let assertion = field(&effects, 0, "assertion");
    let parts: Vec<&str> = assertion.split('.').collect();
    let header: Value =
        docker_credential_wasm_sdk::serde_json::from_slice(&base64url_decode(parts[0], "h").unwrap()).unwrap();
    let claims: Value =
        docker_credential_wasm_sdk::serde_json::from_slice(&base64url_decode(parts[1], "c").unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "kid": "kid-1"}));
    assert_eq!(
        claims,
        json!({"iss": "puller@p.iam.gserviceaccount.com", "scope": CLOUD_PLATFORM, "aud": "https://oauth2.googleapis.com/token", "iat": NOW, "exp": NOW + 3600})
    );
    let public = rsa::RsaPrivateKey::from_pkcs8_pem(KEY).unwrap().to_public_key();
    let verifier = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public);
    let signature = rsa::pkcs1v15::Signature::try_from(base64url_decode(parts[2], "s").unwrap().as_slice()).unwrap();
    verifier.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).unwrap();
}

#[test]
fn gclouds_user_credentials_use_their_refresh_token() {
    let file = r#"{"type":"authorized_user","client_id":"cid","client_secret":"csecret","refresh_token":"1//refresh","quota_project_id":"p"}"#;
    let effects = Scripted::at(NOW).file("~/.config/gcloud/application_default_credentials.json", file).answer(
        "POST https://oauth2.googleapis.com/token",
        200,
        TOKEN_OK,
    );
    answer(&effects, &defaults(), None).unwrap();
    assert_eq!(
        effects.body(0),
        "grant_type=refresh_token&client_id=cid&client_secret=csecret&refresh_token=1%2F%2Frefresh"
    );
    let rapt = Scripted::at(NOW)
        .file("~/.config/gcloud/application_default_credentials.json", file)
        .answer("POST https://oauth2.googleapis.com/token", 400, r#"{"error":"invalid_grant","error_description":"reauth related error (invalid_rapt)","error_subtype":"invalid_rapt"}"#);
    assert_eq!(
        answer(&rapt, &defaults(), None).unwrap_err(),
        Error::Denied("the credentials in ~/.config/gcloud/application_default_credentials.json: the token endpoint https://oauth2.googleapis.com/token: HTTP 400 invalid_grant: reauth related error (invalid_rapt) (reauthentication required: run `gcloud auth application-default login`)".into())
    );
}

#[test]
fn workload_identity_federation_exchanges_then_impersonates() {
    let file = json!({
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/gh",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {"file": "/var/run/secrets/tokens/gcp-ksa/token", "format": {"type": "text"}},
        "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/puller@p.iam.gserviceaccount.com:generateAccessToken",
    });
    let effects = Scripted::at(NOW)
        .env("GOOGLE_APPLICATION_CREDENTIALS", "/etc/wif.json")
        .file("/etc/wif.json", &file.to_string())
        .file("/var/run/secrets/tokens/gcp-ksa/token", "eyJ.subject.jwt\n")
        .answer("POST https://sts.googleapis.com/v1/token", 200, r#"{"access_token":"federated","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3600}"#)
        .answer("POST https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/puller@p.iam.gserviceaccount.com:generateAccessToken", 200, r#"{"accessToken":"ya29.impersonated","expireTime":"2025-11-30T11:53:20Z"}"#);
    let choices = Choices { quota_project: Some("billing-p".into()), ..defaults() };
    let credentials = answer(&effects, &choices, None).unwrap();
    assert_eq!(
        (credentials.secret.as_str(), credentials.expires_at),
        ("ya29.impersonated", docker_credential_wasm_sdk::time::parse_rfc3339("2025-11-30T11:53:20Z"))
    );
    assert_eq!(
        effects.form(0),
        [
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("audience", "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/gh"),
            ("scope", CLOUD_PLATFORM),
            ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("subject_token", "eyJ.subject.jwt"),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert_eq!(effects.header(1, "authorization").as_deref(), Some("Bearer federated"));
    assert_eq!(effects.header(1, "x-goog-user-project").as_deref(), Some("billing-p"));
    assert_eq!(effects.body(1), format!(r#"{{"lifetime":"3600s","scope":["{CLOUD_PLATFORM}"]}}"#));
}

#[test]
fn a_url_sourced_subject_token_in_json() {
    let file = json!({
        "type": "external_account", "audience": "aud", "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "credential_source": {"url": "http://169.254.169.254/token", "headers": {"Metadata": "True"}, "format": {"type": "json", "subject_token_field_name": "access_token"}},
    });
    let effects = Scripted::at(NOW)
        .env("GOOGLE_APPLICATION_CREDENTIALS", "/etc/wif.json")
        .file("/etc/wif.json", &file.to_string())
        .answer("GET http://169.254.169.254/token", 200, r#"{"access_token":"subject-from-url"}"#)
        .answer("POST https://sts.googleapis.com/v1/token", 200, r#"{"access_token":"federated","expires_in":3600}"#);
    assert_eq!(answer(&effects, &defaults(), None).unwrap().secret, "federated");
    assert_eq!(effects.header(0, "Metadata").as_deref(), Some("True"));
    assert_eq!(field(&effects, 1, "subject_token"), "subject-from-url");
}

#[test]
fn an_impersonated_service_account_file_uses_its_source_credentials() {
    let file = json!({
        "type": "impersonated_service_account",
        "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/target@p.iam.gserviceaccount.com:generateAccessToken",
        "source_credentials": {"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"},
    });
    let effects = Scripted::at(NOW)
        .file("~/.config/gcloud/application_default_credentials.json", &file.to_string())
        .answer("POST https://oauth2.googleapis.com/token", 200, r#"{"access_token":"ya29.user","expires_in":3599}"#)
        .answer("POST https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/target@p.iam.gserviceaccount.com:generateAccessToken", 200, r#"{"accessToken":"ya29.target","expireTime":"2026-11-30T12:00:00Z"}"#);
    assert_eq!(answer(&effects, &defaults(), None).unwrap().secret, "ya29.target");
    assert_eq!(effects.header(1, "authorization").as_deref(), Some("Bearer ya29.user"));
}

#[test]
fn the_metadata_server_answers_when_there_is_no_file() {
    let effects =
        Scripted::at(NOW).answer_with(&format!("GET {METADATA}"), 200, &[("Metadata-Flavor", "Google")], TOKEN_OK);
    assert_eq!(answer(&effects, &defaults(), None).unwrap().secret, "ya29.test");
    assert_eq!(effects.header(0, "metadata-flavor").as_deref(), Some("Google"));
    // Another cloud's metadata service at the same address is not Google's.
    let aws = Scripted::at(NOW).answer(&format!("GET {METADATA}"), 404, "Not Found");
    assert_eq!(
        answer(&aws, &defaults(), None).unwrap_err(),
        Error::NotFound("no Google credentials found: GOOGLE_APPLICATION_CREDENTIALS is not set; no ~/.config/gcloud/application_default_credentials.json; no metadata server".into())
    );
    let overridden = Scripted::at(NOW).env("GCE_METADATA_HOST", "127.0.0.1:8080").answer_with(
        &format!("GET {}", METADATA.replace("169.254.169.254", "127.0.0.1:8080")),
        200,
        &[("Metadata-Flavor", "Google")],
        TOKEN_OK,
    );
    answer(&overridden, &defaults(), None).unwrap();
}

#[test]
fn a_pods_token_is_exchanged_when_the_operator_set_the_audience() {
    let mut effects = Scripted::at(NOW)
        .answer("POST https://sts.googleapis.com/v1/token", 200, r#"{"access_token":"federated","expires_in":3600}"#)
        .answer("POST https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/app@p.iam.gserviceaccount.com:generateAccessToken", 200, r#"{"accessToken":"ya29.pod","expireTime":"2026-11-30T12:00:00Z"}"#);
    effects.token = Some("pod.jwt".into());
    effects.annotations.insert(GSA_ANNOTATION.into(), "app@p.iam.gserviceaccount.com".into());
    let audience =
        "identitynamespace:p.svc.id.goog:https://container.googleapis.com/v1/projects/p/locations/l/clusters/c";
    assert_eq!(answer(&effects, &defaults(), Some(audience)).unwrap().secret, "ya29.pod");
    assert_eq!(field(&effects, 0, "subject_token"), "pod.jwt");
    assert_eq!(field(&effects, 0, "audience"), audience);
}

#[test]
fn bad_files_and_settings_say_what_is_wrong() {
    let effects = Scripted::at(NOW).env("GOOGLE_APPLICATION_CREDENTIALS", "/nope.json");
    assert_eq!(
        answer(&effects, &defaults(), None).unwrap_err(),
        Error::InvalidInput("GOOGLE_APPLICATION_CREDENTIALS names /nope.json, which does not exist".into())
    );
    let effects = Scripted::at(NOW)
        .env("GOOGLE_APPLICATION_CREDENTIALS", "/k.json")
        .file("/k.json", r#"{"type":"gdch_service_account"}"#);
    assert_eq!(
        answer(&effects, &defaults(), None).unwrap_err(),
        Error::InvalidInput("the credentials in /k.json: credential files of type \"gdch_service_account\" are not supported; expected service_account, authorized_user, external_account or impersonated_service_account".into())
    );
    let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        choices(&keys(&["scope"]), |_| None, &Scripted::default()).unwrap_err(),
        Error::InvalidInput(
            "unknown setting `scope`; the gcr plugin knows scopes, quota-project, workload-identity-audience".into()
        )
    );
    let (chosen, _) =
        choices(&keys(&["scopes"]), |_| Some("devstorage.read_only, https://x/y".into()), &Scripted::default())
            .unwrap();
    assert_eq!(chosen.scopes, ["https://www.googleapis.com/auth/devstorage.read_only", "https://x/y"]);
}
