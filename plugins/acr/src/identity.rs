//! Entra ID (AAD) access tokens for ACR, from the identity sources Azure's own libraries
//! use: a pod's service-account token (kubelet), a service principal's client secret,
//! workload identity (a federated token file), App Service / Container Apps, Azure Arc, and
//! the instance metadata service (VM, VMSS, AKS node), system- or user-assigned.
//!
//! In `auto` mode a source that is not configured is skipped and noted; one that is
//! configured but fails ends the search with its error; when nothing is found the answer
//! is not-found, listing every source tried.

use docker_credential_wasm_sdk::Error;
use docker_credential_wasm_sdk::effects::{Effects, Level};
use docker_credential_wasm_sdk::http::{Request, Response, Url, form_encode};
use docker_credential_wasm_sdk::serde_json::Value;
use std::time::Duration;

const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
const ARC: &str = "http://127.0.0.1:40342/metadata/identity/oauth2/token";
const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Annotations of a pod's service account naming its identity (as cloud-provider-azure reads them).
pub const CLIENT_ID_ANNOTATION: &str = "kubernetes.azure.com/acr-client-id";
pub const TENANT_ID_ANNOTATION: &str = "kubernetes.azure.com/acr-tenant-id";
/// Metadata endpoints exist only on some machines: give up on them fast elsewhere.
const PROBE_CONNECT: Duration = Duration::from_millis(1000);
const PROBE_RESPONSE: Duration = Duration::from_millis(3000);

/// Which source to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Auto,
    ClientSecret,
    Workload,
    AppService,
    Arc,
    Imds,
}

impl Source {
    pub const NAMES: &'static str = "auto, client-secret, workload, app-service, arc, imds";

    pub fn parse(text: &str) -> Option<Source> {
        Some(match text {
            "auto" => Source::Auto,
            "client-secret" => Source::ClientSecret,
            "workload" => Source::Workload,
            "app-service" => Source::AppService,
            "arc" => Source::Arc,
            "imds" => Source::Imds,
            _ => return None,
        })
    }
}

/// A user-assigned managed identity, by one of its ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserAssigned {
    Client(String),
    Object(String),
    Resource(String),
}

/// What the operator chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    pub source: Source,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub user_assigned: Option<UserAssigned>,
    /// Where the service principal's secret is: a granted environment variable or file.
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    /// `https://login.microsoftonline.com` or the registry's cloud's.
    pub authority: String,
    /// The resource URI tokens are for (`https://containerregistry.azure.net` or ARM).
    pub resource: String,
}

/// An access token and when it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: Option<u64>,
    /// The tenant it was issued in, when the source knows it.
    pub tenant: Option<String>,
    /// Which source answered, for messages.
    pub source: &'static str,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessToken {{ source: {}, expires_at: {:?} }}", self.source, self.expires_at)
    }
}

enum Found {
    Token(AccessToken),
    Skipped(String),
}

/// An access token for `choices.resource`.
pub fn access_token(effects: &dyn Effects, choices: &Choices) -> Result<AccessToken, Error> {
    type Probe<'a> = Box<dyn Fn() -> Result<Found, Error> + 'a>;
    let all: Vec<(&'static str, Source, Probe<'_>)> = vec![
        ("service-account token", Source::Auto, Box::new(|| pod_token(effects, choices))),
        ("client secret", Source::ClientSecret, Box::new(|| client_secret(effects, choices))),
        ("workload identity", Source::Workload, Box::new(|| workload(effects, choices))),
        ("App Service", Source::AppService, Box::new(|| app_service(effects, choices))),
        ("Azure Arc", Source::Arc, Box::new(|| arc(effects, choices, choices.source == Source::Arc))),
        ("instance metadata", Source::Imds, Box::new(|| imds(effects, choices))),
    ];
    let mut tried = Vec::new();
    for (name, source, probe) in all {
        if choices.source != Source::Auto && choices.source != source {
            continue;
        }
        match probe().map_err(|e| e.context(format!("Azure identity from {name}")))? {
            Found::Token(token) => {
                effects.log(Level::Info, &format!("Azure identity from {name}"));
                return Ok(token);
            }
            Found::Skipped(why) => {
                effects.log(Level::Debug, &format!("Azure identity: {name}: {why}"));
                tried.push(format!("{name}: {why}"));
            }
        }
    }
    Err(Error::NotFound(format!("no Azure identity found; tried {}", tried.join("; "))))
}

fn tenant(effects: &dyn Effects, choices: &Choices) -> Option<String> {
    choices.tenant_id.clone().or_else(|| effects.env("AZURE_TENANT_ID"))
}

fn client_id(effects: &dyn Effects, choices: &Choices) -> Option<String> {
    choices.client_id.clone().or_else(|| effects.env("AZURE_CLIENT_ID"))
}

/// Client credentials at the tenant's token endpoint, with a secret or an assertion.
fn token_endpoint(
    effects: &dyn Effects,
    choices: &Choices,
    tenant: &str,
    client_id: &str,
    credential: (&str, &str),
    source: &'static str,
) -> Result<AccessToken, Error> {
    let authority = effects.env("AZURE_AUTHORITY_HOST").unwrap_or_else(|| choices.authority.clone());
    let url = format!("{}/{tenant}/oauth2/v2.0/token", authority.trim_end_matches('/'));
    let scope = format!("{}/.default", choices.resource.trim_end_matches('/'));
    let mut fields = vec![("grant_type", "client_credentials"), ("client_id", client_id), ("scope", scope.as_str())];
    match credential {
        ("client_assertion", assertion) => {
            fields.push(("client_assertion_type", CLIENT_ASSERTION_TYPE));
            fields.push(("client_assertion", assertion));
        }
        (name, value) => fields.push((name, value)),
    }
    let response = effects.send(&Request::post(&url).form(&fields).header("user-agent", crate::USER_AGENT))?;
    let json = aad_json(&response, &format!("Entra ID token endpoint {}", Url::shown(&url)))?;
    let expires_at = number(&json["expires_in"]).map(|seconds| effects.now() + seconds);
    Ok(AccessToken { token: string(&json, "access_token")?, expires_at, tenant: Some(tenant.into()), source })
}

fn pod_token(effects: &dyn Effects, choices: &Choices) -> Result<Found, Error> {
    let Some(token) = effects.service_account_token() else {
        return Ok(Found::Skipped("the request carries no service-account token".into()));
    };
    let client_id = effects.service_account_annotation(CLIENT_ID_ANNOTATION).or_else(|| client_id(effects, choices));
    let tenant = effects.service_account_annotation(TENANT_ID_ANNOTATION).or_else(|| tenant(effects, choices));
    match (client_id, tenant) {
        (Some(client_id), Some(tenant)) => {
            token_endpoint(effects, choices, &tenant, &client_id, ("client_assertion", &token), "service-account token")
                .map(Found::Token)
        }
        _ => Ok(Found::Skipped(format!(
            "the service account has no {CLIENT_ID_ANNOTATION} and {TENANT_ID_ANNOTATION} annotations (nor client-id and tenant-id settings)"
        ))),
    }
}

fn client_secret(effects: &dyn Effects, choices: &Choices) -> Result<Found, Error> {
    let secret = match (&choices.secret_file, &choices.secret_env) {
        (Some(file), _) => Some(
            effects
                .file(file)?
                .ok_or_else(|| Error::InvalidInput(format!("the client secret file {file} does not exist")))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        ),
        (None, Some(variable)) => Some(
            effects
                .env(variable)
                .ok_or_else(|| Error::InvalidInput(format!("{variable} (client-secret-env) is not set")))?,
        ),
        (None, None) => effects.env("AZURE_CLIENT_SECRET"),
    };
    let Some(secret) = secret else {
        return Ok(Found::Skipped("AZURE_CLIENT_SECRET is not set".into()));
    };
    let (Some(tenant), Some(client_id)) = (tenant(effects, choices), client_id(effects, choices)) else {
        return Err(Error::InvalidInput(
            "a client secret needs a tenant and a client id: set AZURE_TENANT_ID and AZURE_CLIENT_ID (or tenant-id and client-id)".into(),
        ));
    };
    token_endpoint(effects, choices, &tenant, &client_id, ("client_secret", &secret), "client secret").map(Found::Token)
}

fn workload(effects: &dyn Effects, choices: &Choices) -> Result<Found, Error> {
    let Some(file) = effects.env("AZURE_FEDERATED_TOKEN_FILE") else {
        return Ok(Found::Skipped("AZURE_FEDERATED_TOKEN_FILE is not set".into()));
    };
    let (Some(tenant), Some(client_id)) = (tenant(effects, choices), client_id(effects, choices)) else {
        return Err(Error::InvalidInput(
            "workload identity needs AZURE_TENANT_ID and AZURE_CLIENT_ID (or tenant-id and client-id)".into(),
        ));
    };
    // Re-read at every call: the kubelet rotates the projected token.
    let assertion = effects
        .file(&file)?
        .ok_or_else(|| Error::InvalidInput(format!("the federated token file {file} does not exist")))?;
    token_endpoint(effects, choices, &tenant, &client_id, ("client_assertion", assertion.trim()), "workload identity")
        .map(Found::Token)
}

/// The query of a managed identity request: api version, resource and the user-assigned
/// identity (`resource_id_name` is what this endpoint calls an ARM resource id).
fn managed_query(api_version: &str, choices: &Choices, resource_id_name: &str, effects: &dyn Effects) -> String {
    let mut query = format!("api-version={api_version}&resource={}", form_encode(&choices.resource));
    let selected = choices.user_assigned.clone().or_else(|| effects.env("AZURE_CLIENT_ID").map(UserAssigned::Client));
    match selected {
        Some(UserAssigned::Client(id)) => query.push_str(&format!("&client_id={}", form_encode(&id))),
        Some(UserAssigned::Object(id)) => query.push_str(&format!("&object_id={}", form_encode(&id))),
        Some(UserAssigned::Resource(id)) => query.push_str(&format!("&{resource_id_name}={}", form_encode(&id))),
        None => {}
    }
    query
}

fn app_service(effects: &dyn Effects, choices: &Choices) -> Result<Found, Error> {
    let (Some(endpoint), Some(header)) = (effects.env("IDENTITY_ENDPOINT"), effects.env("IDENTITY_HEADER")) else {
        return Ok(Found::Skipped("IDENTITY_ENDPOINT and IDENTITY_HEADER are not set".into()));
    };
    let url = format!("{endpoint}?{}", managed_query("2019-08-01", choices, "mi_res_id", effects));
    let response = effects.send(&Request::get(&url).header("x-identity-header", &header))?;
    managed_token(effects, &response, &format!("App Service identity endpoint {}", Url::shown(&url)), "App Service")
        .map(Found::Token)
}

fn arc(effects: &dyn Effects, choices: &Choices, chosen: bool) -> Result<Found, Error> {
    let endpoint = match (effects.env("IDENTITY_ENDPOINT"), effects.env("IMDS_ENDPOINT")) {
        (Some(endpoint), Some(_)) => endpoint,
        _ if chosen => ARC.to_string(),
        _ => return Ok(Found::Skipped("IDENTITY_ENDPOINT and IMDS_ENDPOINT are not set (no Arc agent)".into())),
    };
    let url = format!("{endpoint}?{}", managed_query("2020-06-01", choices, "msi_res_id", effects));
    let what = format!("Azure Arc identity endpoint {}", Url::shown(&url));
    let challenge =
        effects.send(&Request::get(&url).header("metadata", "true").timeouts(PROBE_CONNECT, PROBE_RESPONSE))?;
    if challenge.status != 401 {
        return Err(Error::Upstream(format!("{what}: expected a 401 challenge, got HTTP {}", challenge.status)));
    }
    let realm = challenge
        .header("www-authenticate")
        .and_then(|value| value.strip_prefix("Basic realm="))
        .map(|path| path.trim().trim_matches('"').to_string())
        .ok_or_else(|| {
            Error::Upstream(format!(
                "{what}: the 401 challenge names no key file (WWW-Authenticate: Basic realm=<file>)"
            ))
        })?;
    if !realm.ends_with(".key") || !realm.starts_with('/') {
        return Err(Error::Upstream(format!(
            "{what}: the challenge names {realm}, which is not an absolute .key file"
        )));
    }
    let key =
        effects.file(&realm)?.ok_or_else(|| Error::Upstream(format!("{what}: the key file {realm} does not exist")))?;
    let request =
        Request::get(&url).header("metadata", "true").header("authorization", &format!("Basic {}", key.trim()));
    let response = effects.send(&request)?;
    managed_token(effects, &response, &what, "Azure Arc").map(Found::Token)
}

fn imds(effects: &dyn Effects, choices: &Choices) -> Result<Found, Error> {
    let url = format!("{IMDS}?{}", managed_query("2018-02-01", choices, "msi_res_id", effects));
    let request = Request::get(&url).header("metadata", "true").timeouts(PROBE_CONNECT, PROBE_RESPONSE);
    // Nothing answering is a machine without instance metadata (unless it was chosen); a
    // service that answers badly is a failure of this machine's.
    let response = match effects.probe(&request)? {
        Ok(response) => response,
        Err(nothing) if choices.source == Source::Auto => {
            return Ok(Found::Skipped(format!("no instance metadata service ({nothing})")));
        }
        Err(nothing) => return Err(Error::Upstream(nothing)),
    };
    managed_token(effects, &response, "the instance metadata service", "instance metadata").map(Found::Token)
}

/// The token in a managed identity answer (numbers as strings), or its error explained.
fn managed_token(
    effects: &dyn Effects,
    response: &Response,
    what: &str,
    source: &'static str,
) -> Result<AccessToken, Error> {
    if !response.is_success() {
        let json: Value = docker_credential_wasm_sdk::serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let description = json["error_description"].as_str().or(json["message"].as_str()).unwrap_or("").to_string();
        let why = format!("{what}: HTTP {} {} {description}", response.status, json["error"].as_str().unwrap_or(""))
            .trim_end()
            .to_string();
        let hint = if description.contains("Multiple user assigned identities") {
            "; choose one with the client-id, object-id or resource-id setting"
        } else if description.to_ascii_lowercase().contains("identity not found") {
            "; the identity is not assigned to this machine"
        } else {
            ""
        };
        return Err(match response.status {
            400 if !hint.is_empty() => Error::InvalidInput(format!("{why}{hint}")),
            401 | 403 => Error::Denied(why),
            _ => Error::Upstream(why),
        });
    }
    let json: Value = response.json(what)?;
    let expires_at = number(&json["expires_on"]).or_else(|| number(&json["expires_in"]).map(|s| effects.now() + s));
    Ok(AccessToken { token: string(&json, "access_token")?, expires_at, tenant: None, source })
}

/// The JSON of an Entra ID answer, or its `error`/`error_description` as a message.
fn aad_json(response: &Response, what: &str) -> Result<Value, Error> {
    if response.is_success() {
        return response.json(what);
    }
    let json: Value = docker_credential_wasm_sdk::serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let error = json["error"].as_str().unwrap_or("no error code");
    let description = json["error_description"].as_str().unwrap_or("");
    // The first line of AADSTS descriptions says it; the rest is trace and correlation ids.
    let description = description.lines().next().unwrap_or("");
    let why = format!("{what}: HTTP {} {error}: {description}", response.status);
    Err(match (response.status, error) {
        (400 | 401, "invalid_client" | "unauthorized_client" | "invalid_grant") | (401 | 403, _) => Error::Denied(why),
        _ => Error::Upstream(why),
    })
}

/// A JSON number, or a number written as a string (IMDS writes them so).
fn number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_str()?.parse().ok())
}

fn string(json: &Value, field: &str) -> Result<String, Error> {
    json[field].as_str().map(str::to_string).ok_or_else(|| Error::Upstream(format!("the answer has no {field}")))
}
