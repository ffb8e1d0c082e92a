//! The `gcr` plugin: credentials for Google Container Registry (`gcr.io`, `*.gcr.io`) and
//! Artifact Registry (`<location>-docker.pkg.dev`, `docker.<region>.rep.pkg.dev`) from
//! Application Default Credentials. The answer is the user name `oauth2accesstoken` (which
//! both registries accept, unlike the version-derived names docker-credential-gcr sends)
//! and a one-hour OAuth access token.
//!
//! Settings (all optional): `scopes` (comma-separated; default `cloud-platform`),
//! `quota-project` (sent on impersonation calls), `workload-identity-audience` (the STS
//! audience a kubelet service-account token is exchanged with; the service account's
//! `iam.gke.io/gcp-service-account` annotation then names the account to impersonate).

mod adc;

use adc::Choices;
use docker_credential_wasm_sdk::effects::{Effects, Level, Wasi};
use docker_credential_wasm_sdk::{Credentials, Error, Plugin, export_plugin};

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("docker-credential-wasm-gcr/", env!("CARGO_PKG_VERSION"));
/// The user name GCR and Artifact Registry accept with an access token.
pub const USERNAME: &str = "oauth2accesstoken";
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const SETTINGS: [&str; 3] = ["scopes", "quota-project", "workload-identity-audience"];
/// The service-account annotation naming the Google service account a pod acts as.
const GSA_ANNOTATION: &str = "iam.gke.io/gcp-service-account";

/// The operator's settings, checked.
pub fn choices(
    keys: &[String],
    get: impl Fn(&str) -> Option<String>,
    effects: &dyn Effects,
) -> Result<(Choices, Option<String>), Error> {
    if let Some(unknown) = keys.iter().find(|key| !SETTINGS.contains(&key.as_str())) {
        return Err(Error::InvalidInput(format!(
            "unknown setting `{unknown}`; the gcr plugin knows {}",
            SETTINGS.join(", ")
        )));
    }
    let scopes = match get("scopes") {
        None => vec![CLOUD_PLATFORM.to_string()],
        Some(list) => {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    if s.starts_with("https://") {
                        s.to_string()
                    } else {
                        format!("https://www.googleapis.com/auth/{s}")
                    }
                })
                .collect()
        }
    };
    if scopes.is_empty() {
        return Err(Error::InvalidInput("the setting `scopes` is empty; e.g. \"cloud-platform\"".into()));
    }
    let quota_project = get("quota-project").or_else(|| effects.env("GOOGLE_CLOUD_QUOTA_PROJECT"));
    Ok((Choices { scopes, quota_project }, get("workload-identity-audience")))
}

/// Credentials for a registry: the pod's own identity when the kubelet passed its token and
/// the operator set the audience, else Application Default Credentials.
pub fn answer(effects: &dyn Effects, choices: &Choices, workload_audience: Option<&str>) -> Result<Credentials, Error> {
    let token = match (effects.service_account_token(), workload_audience) {
        (Some(pod_token), Some(audience)) => {
            effects.log(Level::Info, "Google credentials from the pod's service-account token");
            let federated = adc::sts_exchange(
                effects,
                "https://sts.googleapis.com/v1/token",
                audience,
                "urn:ietf:params:oauth:token-type:jwt",
                &pod_token,
                choices,
            )
            .map_err(|e| e.context("the pod's service-account token"))?;
            match effects.service_account_annotation(GSA_ANNOTATION) {
                Some(email) => {
                    let url = format!(
                        "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{email}:generateAccessToken"
                    );
                    adc::impersonate(effects, &url, &federated, choices)?
                }
                None => federated,
            }
        }
        _ => adc::access_token(effects, choices)?,
    };
    let credentials = Credentials::new(USERNAME, token.token);
    Ok(match token.expires_at {
        Some(at) => credentials.expiring_at(at),
        None => credentials,
    })
}

struct Gcr;

impl Plugin for Gcr {
    fn get(_registry: &str) -> Result<Credentials, Error> {
        let (choices, audience) =
            choices(&docker_credential_wasm_sdk::settings::keys(), docker_credential_wasm_sdk::settings::get, &Wasi)?;
        answer(&Wasi, &choices, audience.as_deref())
    }
}

export_plugin!(Gcr);

#[cfg(test)]
mod tests;
