//! The built-in `acr` plugin end to end: the built binary, with no config (the embedded
//! default routes `*.azurecr.io`) or with one, gets an Entra ID token from each identity
//! source of a loopback mock and exchanges it at the mock's ACR. Every test runs in a
//! network namespace of its own: HTTPS goes through a CONNECT proxy under the real names
//! with a test CA, and instance metadata is at its real address.

mod common;

use common::azure::{
    APP_SERVICE_HEADER, AzureMock, FEDERATED_TOKEN, SP_CLIENT, SP_SECRET, TENANT, UAMI_A, UAMI_B, WI_CLIENT,
    identity_of,
};
use common::netns::Namespaced;
use common::{NOT_FOUND, Output};
use std::path::PathBuf;

const REGISTRY: &str = "myreg.azurecr.io";
const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";
const SP_ENV: [(&str, &str); 3] =
    [("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", SP_CLIENT), ("AZURE_CLIENT_SECRET", SP_SECRET)];

type Setup = Namespaced<AzureMock>;

/// A machine with no instance metadata service (a laptop, a CI runner elsewhere).
fn machine() -> Setup {
    Setup::start(false, AzureMock::start_with_http)
}

/// An Azure VM: instance metadata at its real address, with these identities.
fn vm(system_assigned: bool, user_assigned: &[&str]) -> Setup {
    let setup = Setup::start(true, AzureMock::start_with_http);
    setup.mock.identities(system_assigned, user_assigned);
    setup
}

/// A config routing `*.azurecr.io` to `acr` with the manifest's grants plus the mock's
/// plain-HTTP port and `files`, and `extra` lines for `[plugins.acr]`.
fn config_file(setup: &Setup, files: &[&str], extra: &str) -> PathBuf {
    let manifest: toml::Table = toml::from_str(include_str!("../../plugins/acr/manifest.toml")).unwrap();
    let list = |name: &str| -> Vec<String> {
        manifest[name].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_string()).collect()
    };
    let mut network = list("network");
    network.push(format!("http://127.0.0.1:{}", setup.mock.http_port));
    let mut granted = list("files");
    granted.extend(files.iter().map(|f| f.to_string()));
    let config = format!(
        "[routes]\n\"*.azurecr.io\" = \"acr\"\n\n[plugins.acr]\nnetwork = {network:?}\nfiles = {granted:?}\n{extra}\n"
    );
    setup.sandbox.write("config.toml", &config)
}

/// The answer is the null GUID and a refresh token the mock issued to `identity`.
fn answered(output: &Output, registry: &str, identity: &str) {
    let json: serde_json::Value = serde_json::from_str(&output.stdout).unwrap_or_else(|_| panic!("{output:?}"));
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!((json["ServerURL"].as_str(), json["Username"].as_str()), (Some(registry), Some(NULL_GUID)));
    assert_eq!(identity_of(json["Secret"].as_str().unwrap()), identity, "{output:?}");
}

fn failed(output: &Output, line: &str) {
    assert_eq!((output.stdout.as_str(), output.code), (format!("{line}\n").as_str(), 1), "{}", output.stderr);
}

#[test]
fn a_service_principal_with_no_config_at_all() {
    let setup = machine();
    answered(&setup.get(None, REGISTRY, &SP_ENV), REGISTRY, "service-principal");
    let hosts: Vec<String> = setup.mock.seen().iter().map(|s| format!("{} {}{}", s.method, s.host, s.path)).collect();
    assert_eq!(
        hosts,
        [
            format!("POST login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"),
            format!("POST {REGISTRY}/oauth2/exchange")
        ]
    );
}

#[test]
fn a_sovereign_cloud_registry_uses_its_own_authority() {
    let setup = machine();
    answered(&setup.get(None, "govreg.azurecr.us", &SP_ENV), "govreg.azurecr.us", "service-principal");
    assert_eq!(setup.mock.seen()[0].host, "login.microsoftonline.us");
}

#[test]
fn workload_identity_from_the_projected_token_file() {
    let setup = machine();
    let token_file = setup.sandbox.write("azure-identity-token", FEDERATED_TOKEN);
    let config = config_file(&setup, &[token_file.to_str().unwrap()], "");
    let env = [
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", WI_CLIENT),
        ("AZURE_FEDERATED_TOKEN_FILE", token_file.to_str().unwrap()),
    ];
    answered(&setup.get(Some(&config), REGISTRY, &env), REGISTRY, "workload-identity");
}

#[test]
fn app_service_identity_endpoint() {
    let setup = machine();
    setup.mock.identities(true, &[]);
    let config = config_file(&setup, &[], "");
    let endpoint = format!("http://127.0.0.1:{}/msi/token", setup.mock.http_port);
    let env = [("IDENTITY_ENDPOINT", endpoint.as_str()), ("IDENTITY_HEADER", APP_SERVICE_HEADER)];
    answered(&setup.get(Some(&config), REGISTRY, &env), REGISTRY, "system-assigned");
}

#[test]
fn azure_arc_challenge_and_key_file() {
    let setup = machine();
    setup.mock.identities(true, &[]);
    std::fs::create_dir_all(setup.sandbox.path("tokens")).unwrap();
    let key = setup.sandbox.write("tokens/5c0e8a.key", "arc-key-contents");
    setup.mock.arc_key(key.to_str().unwrap(), "arc-key-contents");
    let pattern = format!("{}/*.key", setup.sandbox.path("tokens").display());
    let config = config_file(&setup, &[&pattern], "");
    let endpoint = format!("http://127.0.0.1:{}/arc/token", setup.mock.http_port);
    let env = [("IDENTITY_ENDPOINT", endpoint.as_str()), ("IMDS_ENDPOINT", "http://localhost:40342")];
    answered(&setup.get(Some(&config), REGISTRY, &env), REGISTRY, "system-assigned");
    let arc_calls = setup.mock.seen().iter().filter(|s| s.path == "/arc/token").count();
    assert_eq!(arc_calls, 2, "the challenge, then the answer");
}

#[test]
fn instance_metadata_with_no_config_at_all() {
    let setup = vm(true, &[]);
    answered(&setup.get(None, REGISTRY, &[]), REGISTRY, "system-assigned");
    assert_eq!(setup.mock.seen()[0].host, "169.254.169.254");
}

#[test]
fn user_assigned_identities_are_chosen_by_setting() {
    let setup = vm(false, &[UAMI_A, UAMI_B]);
    failed(
        &setup.get(None, REGISTRY, &[]),
        "docker-credential-wasm: plugin \"acr\": invalid input: Azure identity from instance metadata: the instance metadata service: HTTP 400 invalid_request Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request; choose one with the client-id, object-id or resource-id setting",
    );
    let config = config_file(&setup, &[], &format!("settings = {{ client-id = \"{UAMI_B}\" }}"));
    answered(&setup.get(Some(&config), REGISTRY, &[]), REGISTRY, &format!("uami-{UAMI_B}"));
    let missing = config_file(&setup, &[], "settings = { client-id = \"cccccccc-0000-0000-0000-000000000003\" }");
    failed(
        &setup.get(Some(&missing), REGISTRY, &[]),
        "docker-credential-wasm: plugin \"acr\": invalid input: Azure identity from instance metadata: the instance metadata service: HTTP 400 invalid_request Identity not found; the identity is not assigned to this machine",
    );
}

#[test]
fn no_identity_anywhere_is_not_found() {
    let setup = machine();
    let output = setup.run(&["-v", "get"], REGISTRY, &[]);
    assert_eq!((output.stdout.as_str(), output.code), (NOT_FOUND, 1));
    assert!(output.stderr.contains("credentials not found: plugin \"acr\": no Azure identity found; tried service-account token: the request carries no service-account token; client secret: AZURE_CLIENT_SECRET is not set; workload identity: AZURE_FEDERATED_TOKEN_FILE is not set; App Service: IDENTITY_ENDPOINT and IDENTITY_HEADER are not set; Azure Arc: IDENTITY_ENDPOINT and IMDS_ENDPOINT are not set (no Arc agent); instance metadata: no instance metadata service (GET http://169.254.169.254/metadata/identity/oauth2/token: connection refused)"), "{}", output.stderr);
}

#[test]
fn refusals_name_the_cause() {
    let setup = machine();
    failed(
        &setup.get(None, "locked.azurecr.io", &SP_ENV),
        "docker-credential-wasm: plugin \"acr\": denied: ACR token exchange at locked.azurecr.io: HTTP 401 authentication required; the identity from client secret may lack the AcrPull role on locked.azurecr.io, or the registry is in another tenant",
    );
    let wrong = [("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", SP_CLIENT), ("AZURE_CLIENT_SECRET", "wrong")];
    failed(
        &setup.get(None, REGISTRY, &wrong),
        &format!(
            "docker-credential-wasm: plugin \"acr\": denied: Azure identity from client secret: Entra ID token endpoint https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token: HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided."
        ),
    );
}

#[test]
fn answers_are_reused_inside_the_refresh_tokens_life_and_fetched_anew_after() {
    let setup = machine();
    setup.mock.refresh_lifetime(4);
    answered(&setup.get(None, REGISTRY, &SP_ENV), REGISTRY, "service-principal");
    answered(&setup.get(None, REGISTRY, &SP_ENV), REGISTRY, "service-principal");
    assert_eq!(setup.mock.exchanges(), 1, "the second get is a cache hit");
    // Fresh for half of its 4 s life; past that the cache refreshes it.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    answered(&setup.get(None, REGISTRY, &SP_ENV), REGISTRY, "service-principal");
    assert_eq!(setup.mock.exchanges(), 2);
}

#[test]
fn the_kubelet_exchanges_a_pods_token_for_its_annotated_identity() {
    let setup = machine();
    let request = format!(
        r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"{REGISTRY}/team/app","serviceAccountToken":"{FEDERATED_TOKEN}","serviceAccountAnnotations":{{"kubernetes.azure.com/acr-client-id":"{WI_CLIENT}","kubernetes.azure.com/acr-tenant-id":"{TENANT}"}}}}"#
    );
    let output = setup.run(&["kubelet"], &request, &[]);
    let response: serde_json::Value = serde_json::from_str(&output.stdout).unwrap_or_else(|_| panic!("{output:?}"));
    let auth = &response["auth"][REGISTRY];
    assert_eq!(auth["username"], NULL_GUID);
    assert_eq!(identity_of(auth["password"].as_str().unwrap()), "workload-identity");
    assert_eq!(response["cacheKeyType"], "Registry");
}
