//! Application Default Credentials, in Google's order: the file `GOOGLE_APPLICATION_CREDENTIALS`
//! names, gcloud's well-known file, then the metadata server. Credential files of type
//! `service_account` (an RS256-signed JWT exchanged at the token endpoint),
//! `authorized_user` (a refresh token), `external_account` (workload identity federation:
//! a file- or URL-sourced subject token exchanged at STS, then optionally impersonation)
//! and `impersonated_service_account`.

use docker_credential_wasm_sdk::Error;
use docker_credential_wasm_sdk::effects::{Effects, Level};
use docker_credential_wasm_sdk::encoding::base64url_encode;
use docker_credential_wasm_sdk::http::{Request, Url};
use docker_credential_wasm_sdk::serde_json::{Value, json};
use std::time::Duration;

const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
const STS_URL: &str = "https://sts.googleapis.com/v1/token";
const WELL_KNOWN_FILE: &str = "~/.config/gcloud/application_default_credentials.json";
const METADATA_HOST: &str = "169.254.169.254";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The metadata server exists only on Google's machines: give up on it fast elsewhere.
const PROBE_CONNECT: Duration = Duration::from_millis(1000);
const PROBE_RESPONSE: Duration = Duration::from_millis(3000);

/// An OAuth access token and when it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: Option<u64>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessToken {{ expires_at: {:?} }}", self.expires_at)
    }
}

/// What the operator chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    pub scopes: Vec<String>,
    pub quota_project: Option<String>,
}

/// An access token from Application Default Credentials.
pub fn access_token(effects: &dyn Effects, choices: &Choices) -> Result<AccessToken, Error> {
    let mut tried = Vec::new();
    if let Some(path) = effects.env("GOOGLE_APPLICATION_CREDENTIALS") {
        let text =
            effects.file(&path).map_err(|e| e.context(format!("GOOGLE_APPLICATION_CREDENTIALS={path}")))?.ok_or_else(
                || Error::InvalidInput(format!("GOOGLE_APPLICATION_CREDENTIALS names {path}, which does not exist")),
            )?;
        return from_file(effects, choices, &text).map_err(|e| e.context(format!("the credentials in {path}")));
    }
    tried.push("GOOGLE_APPLICATION_CREDENTIALS is not set".to_string());
    let well_known = match effects.env("CLOUDSDK_CONFIG") {
        Some(dir) => format!("{}/application_default_credentials.json", dir.trim_end_matches('/')),
        None => WELL_KNOWN_FILE.to_string(),
    };
    // The default file is optional, also when the operator removed its grant.
    if let Some(text) = effects.file(&well_known).unwrap_or(None) {
        return from_file(effects, choices, &text).map_err(|e| e.context(format!("the credentials in {well_known}")));
    }
    tried.push(format!("no {well_known}"));
    match metadata(effects, choices)? {
        Some(token) => Ok(token),
        None => {
            tried.push("no metadata server".into());
            Err(Error::NotFound(format!("no Google credentials found: {}", tried.join("; "))))
        }
    }
}

/// A token from the credential file `text`.
pub fn from_file(effects: &dyn Effects, choices: &Choices, text: &str) -> Result<AccessToken, Error> {
    let file: Value = docker_credential_wasm_sdk::serde_json::from_str(text)
        .map_err(|e| Error::InvalidInput(format!("the file is not JSON: {e}")))?;
    let field = |name: &str| {
        file[name].as_str().map(str::to_string).ok_or_else(|| Error::InvalidInput(format!("the file has no `{name}`")))
    };
    let kind = field("type")?;
    effects.log(Level::Info, &format!("Google credentials of type {kind}"));
    match kind.as_str() {
        "service_account" => {
            let token_uri = file["token_uri"].as_str().unwrap_or(TOKEN_URL);
            let assertion = signed_jwt(
                &field("private_key")?,
                file["private_key_id"].as_str(),
                &field("client_email")?,
                token_uri,
                &choices.scopes,
                effects.now(),
            )?;
            let request = Request::post(token_uri).form(&[("grant_type", JWT_BEARER), ("assertion", &assertion)]);
            oauth_token(effects, &request, token_uri)
        }
        "authorized_user" => {
            let (client_id, client_secret, refresh_token) =
                (field("client_id")?, field("client_secret")?, field("refresh_token")?);
            let fields = [
                ("grant_type", "refresh_token"),
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.as_str()),
                ("refresh_token", refresh_token.as_str()),
            ];
            oauth_token(effects, &Request::post(TOKEN_URL).form(&fields), TOKEN_URL)
        }
        "external_account" => {
            let subject = subject_token(effects, &file["credential_source"])?;
            let token_url = file["token_url"].as_str().unwrap_or(STS_URL);
            let federated = sts_exchange(
                effects,
                token_url,
                &field("audience")?,
                &field("subject_token_type")?,
                &subject,
                choices,
            )?;
            match file["service_account_impersonation_url"].as_str() {
                Some(url) => impersonate(effects, url, &federated, choices),
                None => Ok(federated),
            }
        }
        "impersonated_service_account" => {
            let source = file.get("source_credentials").ok_or_else(|| {
                Error::InvalidInput("the impersonated_service_account file has no `source_credentials`".into())
            })?;
            let source =
                from_file(effects, choices, &source.to_string()).map_err(|e| e.context("its source credentials"))?;
            impersonate(effects, &field("service_account_impersonation_url")?, &source, choices)
        }
        other => Err(Error::InvalidInput(format!(
            "credential files of type {other:?} are not supported; expected service_account, authorized_user, external_account or impersonated_service_account"
        ))),
    }
}

/// A JWT assertion for `email`'s key, signed RS256.
pub fn signed_jwt(
    pem: &str,
    key_id: Option<&str>,
    email: &str,
    audience: &str,
    scopes: &[String],
    now: u64,
) -> Result<String, Error> {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(key_id) = key_id {
        header["kid"] = json!(key_id);
    }
    let claims = json!({"iss": email, "scope": scopes.join(" "), "aud": audience, "iat": now, "exp": now + 3600});
    let signing_input = format!(
        "{}.{}",
        base64url_encode(header.to_string().as_bytes()),
        base64url_encode(claims.to_string().as_bytes())
    );
    let signature = docker_credential_wasm_sdk::crypto::rs256_sign(pem, signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", base64url_encode(&signature)))
}

/// An OAuth token endpoint's answer, or its `error` explained.
fn oauth_token(effects: &dyn Effects, request: &Request, url: &str) -> Result<AccessToken, Error> {
    let response = effects.send(&request.clone().header("user-agent", crate::USER_AGENT))?;
    let what = format!("the token endpoint {}", Url::shown(url));
    let json: Value = if response.is_success() {
        response.json(&what)?
    } else {
        let json: Value = docker_credential_wasm_sdk::serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let error = json["error"].as_str().unwrap_or("no error code");
        let description = json["error_description"].as_str().unwrap_or("");
        let mut why = format!("{what}: HTTP {} {error}: {description}", response.status);
        if json["error_subtype"] == "invalid_rapt" {
            why.push_str(" (reauthentication required: run `gcloud auth application-default login`)");
        }
        return Err(match (response.status, error) {
            (400 | 401 | 403, "invalid_grant" | "invalid_client" | "unauthorized_client" | "access_denied") => {
                Error::Denied(why)
            }
            _ => Error::Upstream(why),
        });
    };
    let token = json["access_token"]
        .as_str()
        .ok_or_else(|| Error::Upstream(format!("{what}: the answer has no access_token")))?
        .to_string();
    Ok(AccessToken { token, expires_at: json["expires_in"].as_u64().map(|s| effects.now() + s) })
}

/// The subject token of an external account: from a granted file, or from a URL (with
/// its headers), as text or a field of JSON.
fn subject_token(effects: &dyn Effects, source: &Value) -> Result<String, Error> {
    let text = if let Some(path) = source["file"].as_str() {
        effects
            .file(path)?
            .ok_or_else(|| Error::InvalidInput(format!("the subject token file {path} does not exist")))?
    } else if let Some(url) = source["url"].as_str() {
        let mut request = Request::get(url);
        for (name, value) in source["headers"].as_object().into_iter().flatten() {
            request = request.header(name, value.as_str().unwrap_or_default());
        }
        let response = effects.send(&request)?;
        if !response.is_success() {
            return Err(Error::Upstream(format!(
                "the subject token URL {}: HTTP {}",
                Url::shown(url),
                response.status
            )));
        }
        response.text()
    } else {
        return Err(Error::InvalidInput(
            "the credential_source has neither `file` nor `url` (executable and AWS sources are not supported)".into(),
        ));
    };
    match source["format"]["type"].as_str() {
        None | Some("text") => Ok(text.trim().to_string()),
        Some("json") => {
            let field = source["format"]["subject_token_field_name"].as_str().unwrap_or("access_token");
            let json: Value = docker_credential_wasm_sdk::serde_json::from_str(&text)
                .map_err(|e| Error::Upstream(format!("the subject token is not JSON: {e}")))?;
            json[field]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::Upstream(format!("the subject token JSON has no `{field}`")))
        }
        Some(other) => Err(Error::InvalidInput(format!("the subject token format {other:?} is not text or json"))),
    }
}

/// Exchanges a subject token at Google's STS for a federated access token.
pub fn sts_exchange(
    effects: &dyn Effects,
    token_url: &str,
    audience: &str,
    subject_token_type: &str,
    subject_token: &str,
    choices: &Choices,
) -> Result<AccessToken, Error> {
    let scope = choices.scopes.join(" ");
    let fields = [
        ("grant_type", TOKEN_EXCHANGE),
        ("audience", audience),
        ("scope", scope.as_str()),
        ("requested_token_type", ACCESS_TOKEN_TYPE),
        ("subject_token", subject_token),
        ("subject_token_type", subject_token_type),
    ];
    oauth_token(effects, &Request::post(token_url).form(&fields), token_url)
}

/// A token of the service account `url` names, through IAM Credentials' generateAccessToken.
pub fn impersonate(
    effects: &dyn Effects,
    url: &str,
    source: &AccessToken,
    choices: &Choices,
) -> Result<AccessToken, Error> {
    let body = json!({"scope": choices.scopes, "lifetime": "3600s"}).to_string();
    let mut request = Request::post(url)
        .header("authorization", &format!("Bearer {}", source.token))
        .header("content-type", "application/json")
        .header("user-agent", crate::USER_AGENT)
        .body(body);
    if let Some(project) = &choices.quota_project {
        request = request.header("x-goog-user-project", project);
    }
    let response = effects.send(&request)?;
    let what = format!("IAM generateAccessToken {}", Url::shown(url));
    if !response.is_success() {
        let json: Value = docker_credential_wasm_sdk::serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let why = format!("{what}: HTTP {} {}", response.status, json["error"]["message"].as_str().unwrap_or(""));
        return Err(if matches!(response.status, 401 | 403) { Error::Denied(why) } else { Error::Upstream(why) });
    }
    let json: Value = response.json(&what)?;
    let token = json["accessToken"]
        .as_str()
        .ok_or_else(|| Error::Upstream(format!("{what}: the answer has no accessToken")))?
        .to_string();
    let expires_at = json["expireTime"].as_str().and_then(docker_credential_wasm_sdk::time::parse_rfc3339);
    Ok(AccessToken { token, expires_at })
}

/// The metadata server's token for the instance's default service account; `None` when
/// there is no Google metadata server here.
fn metadata(effects: &dyn Effects, choices: &Choices) -> Result<Option<AccessToken>, Error> {
    let host = effects.env("GCE_METADATA_HOST").unwrap_or_else(|| METADATA_HOST.to_string());
    let scopes =
        choices.scopes.iter().map(|s| docker_credential_wasm_sdk::http::form_encode(s)).collect::<Vec<_>>().join(",");
    let url = format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token?scopes={scopes}");
    let request = Request::get(&url).header("metadata-flavor", "Google").timeouts(PROBE_CONNECT, PROBE_RESPONSE);
    // Nothing answering is a machine without a metadata server; one that answers badly is
    // a failure of this machine's.
    let response = match effects.probe(&request)? {
        Ok(response) => response,
        Err(nothing) => {
            effects.log(Level::Debug, &format!("Google credentials: no metadata server at {host}: {nothing}"));
            return Ok(None);
        }
    };
    if response.header("metadata-flavor") != Some("Google") {
        effects.log(Level::Debug, &format!("Google credentials: {host} is not a Google metadata server"));
        return Ok(None);
    }
    let what = format!("the metadata server at {host}");
    if !response.is_success() {
        return Err(Error::Upstream(format!("{what}: HTTP {} {}", response.status, response.text().trim())));
    }
    let json: Value = response.json(&what)?;
    let token = json["access_token"]
        .as_str()
        .ok_or_else(|| Error::Upstream(format!("{what}: the answer has no access_token")))?;
    effects.log(Level::Info, "Google credentials from the metadata server");
    Ok(Some(AccessToken {
        token: token.to_string(),
        expires_at: json["expires_in"].as_u64().map(|s| effects.now() + s),
    }))
}
