//! A plugin that answers from what the kubelet said about the request, for the kubelet
//! tests: the user name is the service account's `example.com/role` annotation (or `node`),
//! followed by `@<image>` when the setting `per-image` is `true` (only then does it read the
//! image); the secret is `token:<the service-account token>` or `no-token`; the setting
//! `lifetime-seconds` makes the credentials expire that long after now.

use docker_credential_wasm_sdk::{Credentials, Error, Plugin, export_plugin, request, settings};

struct KubeletContext;

impl Plugin for KubeletContext {
    fn get(_registry: &str) -> Result<Credentials, Error> {
        let role = request::service_account_annotation("example.com/role").unwrap_or_else(|| "node".into());
        let username = match settings::get("per-image").as_deref() {
            Some("true") => format!("{role}@{}", request::image().unwrap_or_else(|| "no-image".into())),
            _ => role,
        };
        let secret = match request::service_account_token() {
            Some(token) => format!("token:{token}"),
            None => "no-token".into(),
        };
        let credentials = Credentials::new(username, secret);
        Ok(match settings::get("lifetime-seconds") {
            Some(seconds) => {
                let seconds: u64 = seconds.parse().map_err(|_| Error::InvalidInput("lifetime-seconds".into()))?;
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                credentials.expiring_at(now.as_secs() + seconds)
            }
            None => credentials,
        })
    }
}

export_plugin!(KubeletContext);
