//! ACR's token exchange: an Entra ID access token for the registry's refresh token
//! (`POST https://<registry>/oauth2/exchange`, `grant_type=access_token`), valid about
//! three hours; its `exp` claim says exactly.

use crate::identity::AccessToken;
use docker_credential_wasm_sdk::Error;
use docker_credential_wasm_sdk::effects::Effects;
use docker_credential_wasm_sdk::http::Request;
use docker_credential_wasm_sdk::serde_json::Value;

/// An ACR refresh token and its expiry.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token: String,
    pub expires_at: Option<u64>,
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RefreshToken {{ expires_at: {:?} }}", self.expires_at)
    }
}

/// Exchanges `access` at `registry`. The tenant is the one the token came from (its `tid`
/// claim when the source did not say).
pub fn exchange(effects: &dyn Effects, registry: &str, access: &AccessToken) -> Result<RefreshToken, Error> {
    let tenant = match &access.tenant {
        Some(tenant) => tenant.clone(),
        None => docker_credential_wasm_sdk::jwt::claims(&access.token)
            .ok()
            .and_then(|claims| claims["tid"].as_str().map(str::to_string))
            .ok_or_else(|| Error::Upstream(format!("the access token from {} names no tenant (tid)", access.source)))?,
    };
    let url = format!("https://{registry}/oauth2/exchange");
    let fields = [
        ("grant_type", "access_token"),
        ("service", registry),
        ("tenant", tenant.as_str()),
        ("access_token", access.token.as_str()),
    ];
    let response = effects.send(&Request::post(&url).form(&fields).header("user-agent", crate::USER_AGENT))?;
    let what = format!("ACR token exchange at {registry}");
    if !response.is_success() {
        let json: Value = docker_credential_wasm_sdk::serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let detail = json["errors"][0]["message"]
            .as_str()
            .or(json["details"].as_str())
            .or(json["message"].as_str())
            .unwrap_or("");
        let why = format!("{what}: HTTP {} {detail}", response.status).trim_end().to_string();
        return Err(match response.status {
            401 | 403 => Error::Denied(format!(
                "{why}; the identity from {} may lack the AcrPull role on {registry}, or the registry is in another tenant",
                access.source
            )),
            _ => Error::Upstream(why),
        });
    }
    let json: Value = response.json(&what)?;
    let token = json["refresh_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::Upstream(format!("{what}: the answer has no refresh_token")))?
        .to_string();
    let expires_at = docker_credential_wasm_sdk::jwt::expiry(&token).unwrap_or(None);
    Ok(RefreshToken { token, expires_at })
}
