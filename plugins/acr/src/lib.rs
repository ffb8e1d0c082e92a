//! The `acr` plugin: credentials for Azure Container Registry (`*.azurecr.io`, and the
//! sovereign clouds' `*.azurecr.us`, `*.azurecr.cn`) from a managed identity (VM, VMSS,
//! AKS node, App Service, Container Apps, Arc), workload identity or a service principal,
//! with no Azure CLI: an Entra ID token for ACR's audience, exchanged at the registry for
//! an ACR refresh token (about three hours).
//!
//! Settings (all optional): `identity` (`auto`, `client-secret`, `workload`, `app-service`,
//! `arc`, `imds`), `tenant-id`, `client-id`, `object-id`, `resource-id` (a user-assigned
//! identity), `client-secret-env` / `client-secret-file` (where a service principal's secret
//! is), `audience` (`acr`, `arm` or a resource URI), `authority-host`, `answer-as`
//! (`password`: the null-GUID user name and the refresh token; `identity-token`: `<token>`).

mod cloud;
mod exchange;
mod identity;

use docker_credential_wasm_sdk::effects::{Effects, Wasi};
use docker_credential_wasm_sdk::{Credentials, Error, Plugin, export_plugin};
use identity::{Choices, Source, UserAssigned};

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("docker-credential-wasm-acr/", env!("CARGO_PKG_VERSION"));

/// The user name that tells ACR the password is a refresh token.
pub const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";

const SETTINGS: [&str; 10] = [
    "identity",
    "tenant-id",
    "client-id",
    "object-id",
    "resource-id",
    "client-secret-env",
    "client-secret-file",
    "audience",
    "authority-host",
    "answer-as",
];

/// The operator's settings, checked, for `registry`.
pub fn choices(
    keys: &[String],
    get: impl Fn(&str) -> Option<String>,
    registry: &str,
) -> Result<(Choices, bool), Error> {
    if let Some(unknown) = keys.iter().find(|key| !SETTINGS.contains(&key.as_str())) {
        return Err(Error::InvalidInput(format!(
            "unknown setting `{unknown}`; the acr plugin knows {}",
            SETTINGS.join(", ")
        )));
    }
    let source = match get("identity") {
        None => Source::Auto,
        Some(text) => Source::parse(&text).ok_or_else(|| {
            Error::InvalidInput(format!("the setting `identity` is {text:?}; expected one of {}", Source::NAMES))
        })?,
    };
    let user_assigned = match (get("object-id"), get("resource-id")) {
        (Some(_), Some(_)) => {
            return Err(Error::InvalidInput("set at most one of object-id and resource-id".into()));
        }
        (Some(id), None) => Some(UserAssigned::Object(id)),
        (None, Some(id)) => Some(UserAssigned::Resource(id)),
        (None, None) => get("client-id").map(UserAssigned::Client),
    };
    let cloud = cloud::of(registry);
    let resource = match get("audience").as_deref() {
        None | Some("acr") => cloud::ACR_AUDIENCE.to_string(),
        Some("arm") => cloud.arm.to_string(),
        Some(uri) if uri.starts_with("https://") => uri.to_string(),
        Some(other) => {
            return Err(Error::InvalidInput(format!(
                "the setting `audience` is {other:?}; expected acr, arm or an https:// resource URI"
            )));
        }
    };
    let identity_token = match get("answer-as").as_deref() {
        None | Some("password") => false,
        Some("identity-token") => true,
        Some(other) => {
            return Err(Error::InvalidInput(format!(
                "the setting `answer-as` is {other:?}; expected password or identity-token"
            )));
        }
    };
    let choices = Choices {
        source,
        tenant_id: get("tenant-id"),
        client_id: get("client-id"),
        user_assigned,
        secret_env: get("client-secret-env"),
        secret_file: get("client-secret-file"),
        authority: get("authority-host").unwrap_or_else(|| cloud.authority.to_string()),
        resource,
    };
    Ok((choices, identity_token))
}

/// Credentials for `registry`: an Entra ID token, exchanged for an ACR refresh token.
pub fn answer(
    effects: &dyn Effects,
    choices: &Choices,
    identity_token: bool,
    registry: &str,
) -> Result<Credentials, Error> {
    let access = identity::access_token(effects, choices)?;
    let refresh = exchange::exchange(effects, registry, &access)?;
    let username = if identity_token { "<token>" } else { NULL_GUID };
    let credentials = Credentials::new(username, refresh.token);
    Ok(match refresh.expires_at {
        Some(at) => credentials.expiring_at(at),
        None => credentials,
    })
}

struct Acr;

impl Plugin for Acr {
    fn get(registry: &str) -> Result<Credentials, Error> {
        let (choices, identity_token) = choices(
            &docker_credential_wasm_sdk::settings::keys(),
            docker_credential_wasm_sdk::settings::get,
            registry,
        )?;
        answer(&Wasi, &choices, identity_token, registry)
    }
}

export_plugin!(Acr);

#[cfg(test)]
mod tests;
