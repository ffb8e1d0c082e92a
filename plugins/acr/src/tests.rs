//! The plugin's logic against scripted effects: each identity source, user-assigned
//! selection, sovereign clouds, the exchange, and the failures.

use super::*;
use docker_credential_wasm_sdk::effects::Scripted;
use docker_credential_wasm_sdk::encoding::base64url_encode;

const NOW: u64 = 1_764_500_000;
const REGISTRY: &str = "myreg.azurecr.io";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const IMDS_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fcontainerregistry.azure.net";

fn jwt(claims: &str) -> String {
    format!("{}.{}.sig", base64url_encode(br#"{"alg":"RS256","typ":"JWT"}"#), base64url_encode(claims.as_bytes()))
}

fn refresh_token() -> String {
    jwt(&format!(r#"{{"iss":"Azure Container Registry","aud":"{REGISTRY}","exp":{}}}"#, NOW + 10_800))
}

fn aad_token() -> String {
    jwt(&format!(r#"{{"aud":"https://containerregistry.azure.net","tid":"{TENANT}","exp":{}}}"#, NOW + 3600))
}

fn settings(pairs: &[(&str, &str)], registry: &str) -> Result<(Choices, bool), Error> {
    let keys: Vec<String> = pairs.iter().map(|(k, _)| k.to_string()).collect();
    choices(&keys, |key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()), registry)
}

fn get(effects: &Scripted, pairs: &[(&str, &str)]) -> Result<Credentials, Error> {
    let (choices, identity_token) = settings(pairs, REGISTRY)?;
    answer(effects, &choices, identity_token, REGISTRY)
}

fn with_exchange(effects: Scripted) -> Scripted {
    let body = format!(r#"{{"refresh_token":"{}"}}"#, refresh_token());
    effects.answer(&format!("POST https://{REGISTRY}/oauth2/exchange"), 200, &body)
}

fn aad_answer(effects: Scripted, authority: &str) -> Scripted {
    let body = format!(
        r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{}"}}"#,
        aad_token()
    );
    effects.answer(&format!("POST {authority}/{TENANT}/oauth2/v2.0/token"), 200, &body)
}

#[test]
fn a_service_principal_secret_is_exchanged_for_a_refresh_token() {
    let effects = with_exchange(aad_answer(
        Scripted::at(NOW)
            .env("AZURE_TENANT_ID", TENANT)
            .env("AZURE_CLIENT_ID", CLIENT)
            .env("AZURE_CLIENT_SECRET", "sp-secret"),
        "https://login.microsoftonline.com",
    ));
    let credentials = get(&effects, &[]).unwrap();
    assert_eq!(
        (credentials.username.as_str(), credentials.secret.as_str(), credentials.expires_at),
        (NULL_GUID, refresh_token().as_str(), Some(NOW + 10_800))
    );
    let fields = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    assert_eq!(
        effects.form(0),
        fields(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("scope", "https://containerregistry.azure.net/.default"),
            ("client_secret", "sp-secret"),
        ])
    );
    assert_eq!(
        effects.form(1),
        fields(&[
            ("grant_type", "access_token"),
            ("service", REGISTRY),
            ("tenant", TENANT),
            ("access_token", &aad_token())
        ])
    );
}

#[test]
fn workload_identity_sends_the_federated_token_as_a_client_assertion() {
    let effects = with_exchange(aad_answer(
        Scripted::at(NOW)
            .env("AZURE_TENANT_ID", TENANT)
            .env("AZURE_CLIENT_ID", CLIENT)
            .env("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token")
            .file("/var/run/secrets/azure/tokens/azure-identity-token", "eyJ.federated.jwt\n"),
        "https://login.microsoftonline.com",
    ));
    get(&effects, &[]).unwrap();
    let fields = effects.form(0);
    assert!(
        fields.contains(&(
            "client_assertion_type".into(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()
        ))
    );
    assert!(fields.contains(&("client_assertion".into(), "eyJ.federated.jwt".into())));
}

#[test]
fn a_pods_service_account_token_is_used_with_its_annotated_identity() {
    let mut effects = with_exchange(aad_answer(Scripted::at(NOW), "https://login.microsoftonline.com"));
    effects.token = Some("pod.sa.jwt".into());
    effects.annotations.insert(identity::CLIENT_ID_ANNOTATION.into(), CLIENT.into());
    effects.annotations.insert(identity::TENANT_ID_ANNOTATION.into(), TENANT.into());
    get(&effects, &[]).unwrap();
    assert!(effects.form(0).contains(&("client_assertion".into(), "pod.sa.jwt".into())));
}

#[test]
fn instance_metadata_system_and_user_assigned() {
    let body = format!(
        r#"{{"access_token":"{}","refresh_token":"","expires_in":"3599","expires_on":"{}","resource":"https://containerregistry.azure.net","token_type":"Bearer"}}"#,
        aad_token(),
        NOW + 3599
    );
    let effects = with_exchange(Scripted::at(NOW).answer(&format!("GET {IMDS_URL}"), 200, &body));
    get(&effects, &[]).unwrap();
    assert_eq!(effects.header(0, "metadata").as_deref(), Some("true"));
    assert_eq!(effects.form(1)[2], ("tenant".to_string(), TENANT.to_string()), "the tenant comes from the token's tid");

    for (setting, query) in [
        (("client-id", CLIENT), format!("&client_id={CLIENT}")),
        (("object-id", "oid-1"), "&object_id=oid-1".to_string()),
        (("resource-id", "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/puller"), "&msi_res_id=%2Fsubscriptions%2Fs%2FresourceGroups%2Fg%2Fproviders%2FMicrosoft.ManagedIdentity%2FuserAssignedIdentities%2Fpuller".to_string()),
    ] {
        let effects = with_exchange(Scripted::at(NOW).answer(&format!("GET {IMDS_URL}{query}"), 200, &body));
        get(&effects, &[setting]).unwrap_or_else(|e| panic!("{setting:?}: {e:?}"));
    }
}

#[test]
fn instance_metadata_failures_say_how_to_fix_them() {
    let multiple = r#"{"error":"invalid_request","error_description":"Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request"}"#;
    let effects = Scripted::at(NOW).answer(&format!("GET {IMDS_URL}"), 400, multiple);
    assert_eq!(
        get(&effects, &[]).unwrap_err(),
        Error::InvalidInput("Azure identity from instance metadata: the instance metadata service: HTTP 400 invalid_request Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request; choose one with the client-id, object-id or resource-id setting".into())
    );
    let unknown = r#"{"error":"invalid_request","error_description":"Identity not found"}"#;
    let effects = Scripted::at(NOW).answer(&format!("GET {IMDS_URL}&client_id=nope"), 400, unknown);
    assert_eq!(
        get(&effects, &[("client-id", "nope")]).unwrap_err(),
        Error::InvalidInput("Azure identity from instance metadata: the instance metadata service: HTTP 400 invalid_request Identity not found; the identity is not assigned to this machine".into())
    );
}

#[test]
fn nothing_configured_and_no_metadata_service_is_not_found() {
    assert_eq!(
        get(&Scripted::at(NOW), &[]).unwrap_err(),
        Error::NotFound(format!(
            "no Azure identity found; tried service-account token: the request carries no service-account token; client secret: AZURE_CLIENT_SECRET is not set; workload identity: AZURE_FEDERATED_TOKEN_FILE is not set; App Service: IDENTITY_ENDPOINT and IDENTITY_HEADER are not set; Azure Arc: IDENTITY_ENDPOINT and IMDS_ENDPOINT are not set (no Arc agent); instance metadata: no instance metadata service (GET {IMDS_URL}: connection refused)"
        ))
    );
    // Chosen explicitly, the metadata service's failure is the error.
    assert_eq!(
        get(&Scripted::at(NOW), &[("identity", "imds")]).unwrap_err(),
        Error::Upstream(format!("Azure identity from instance metadata: GET {IMDS_URL}: connection refused"))
    );
}

#[test]
fn app_service_and_arc_endpoints() {
    let body = format!(
        r#"{{"access_token":"{}","expires_on":"{}","resource":"https://containerregistry.azure.net","token_type":"Bearer"}}"#,
        aad_token(),
        NOW + 3600
    );
    let app =
        "http://127.0.0.1:41741/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fcontainerregistry.azure.net";
    let effects = with_exchange(
        Scripted::at(NOW)
            .env("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token")
            .env("IDENTITY_HEADER", "app-header")
            .answer(&format!("GET {app}"), 200, &body),
    );
    get(&effects, &[]).unwrap();
    assert_eq!(effects.header(0, "x-identity-header").as_deref(), Some("app-header"));

    let arc = "http://127.0.0.1:40342/metadata/identity/oauth2/token?api-version=2020-06-01&resource=https%3A%2F%2Fcontainerregistry.azure.net";
    let challenge = [("WWW-Authenticate", "Basic realm=/var/opt/azcmagent/tokens/3f1c.key")];
    let effects = with_exchange(
        Scripted::at(NOW)
            .file("/var/opt/azcmagent/tokens/3f1c.key", "arc-secret\n")
            .answer_with(&format!("GET {arc}"), 401, &challenge, "")
            .answer(&format!("GET {arc}"), 200, &body),
    );
    get(&effects, &[("identity", "arc")]).unwrap();
    assert_eq!(effects.header(0, "authorization"), None);
    assert_eq!(effects.header(1, "authorization").as_deref(), Some("Basic arc-secret"));
    assert_eq!(effects.header(1, "metadata").as_deref(), Some("true"));
}

#[test]
fn a_refusal_at_the_exchange_names_acrpull() {
    let effects = aad_answer(
        Scripted::at(NOW).env("AZURE_TENANT_ID", TENANT).env("AZURE_CLIENT_ID", CLIENT).env("AZURE_CLIENT_SECRET", "s"),
        "https://login.microsoftonline.com",
    )
    .answer(
        &format!("POST https://{REGISTRY}/oauth2/exchange"),
        401,
        r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
    );
    assert_eq!(
        get(&effects, &[]).unwrap_err(),
        Error::Denied(format!(
            "ACR token exchange at {REGISTRY}: HTTP 401 authentication required; the identity from client secret may lack the AcrPull role on {REGISTRY}, or the registry is in another tenant"
        ))
    );
    let wrong_secret = Scripted::at(NOW)
        .env("AZURE_TENANT_ID", TENANT)
        .env("AZURE_CLIENT_ID", CLIENT)
        .env("AZURE_CLIENT_SECRET", "bad")
        .answer(&format!("POST https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"), 401, "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client secret provided.\\r\\nTrace ID: x\"}");
    assert_eq!(
        get(&wrong_secret, &[]).unwrap_err(),
        Error::Denied(format!(
            "Azure identity from client secret: Entra ID token endpoint https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token: HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided."
        ))
    );
}

#[test]
fn sovereign_clouds_use_their_own_authority() {
    let effects = aad_answer(
        Scripted::at(NOW).env("AZURE_TENANT_ID", TENANT).env("AZURE_CLIENT_ID", CLIENT).env("AZURE_CLIENT_SECRET", "s"),
        "https://login.microsoftonline.us",
    )
    .answer(
        "POST https://govreg.azurecr.us/oauth2/exchange",
        200,
        &format!(r#"{{"refresh_token":"{}"}}"#, refresh_token()),
    );
    let (choices, _) = settings(&[], "govreg.azurecr.us").unwrap();
    answer(&effects, &choices, false, "govreg.azurecr.us").unwrap();
    assert_eq!(effects.sent()[0], format!("POST https://login.microsoftonline.us/{TENANT}/oauth2/v2.0/token"));
}

#[test]
fn settings_are_checked_and_shape_the_answer() {
    assert_eq!(
        settings(&[("identity", "cli")], REGISTRY).unwrap_err(),
        Error::InvalidInput(
            "the setting `identity` is \"cli\"; expected one of auto, client-secret, workload, app-service, arc, imds"
                .into()
        )
    );
    assert_eq!(
        settings(&[("tenant", "x")], REGISTRY).unwrap_err(),
        Error::InvalidInput("unknown setting `tenant`; the acr plugin knows identity, tenant-id, client-id, object-id, resource-id, client-secret-env, client-secret-file, audience, authority-host, answer-as".into())
    );
    let (arm, _) = settings(&[("audience", "arm")], "cnreg.azurecr.cn").unwrap();
    assert_eq!(
        (arm.resource.as_str(), arm.authority.as_str()),
        ("https://management.chinacloudapi.cn/", "https://login.chinacloudapi.cn")
    );
    let effects = with_exchange(aad_answer(
        Scripted::at(NOW).env("AZURE_TENANT_ID", TENANT).env("AZURE_CLIENT_ID", CLIENT).env("AZURE_CLIENT_SECRET", "s"),
        "https://login.microsoftonline.com",
    ));
    assert_eq!(get(&effects, &[("answer-as", "identity-token")]).unwrap().username, "<token>");
}
