//! ECR's `GetAuthorizationToken` (private ECR and ECR Public) over the AWS JSON 1.1
//! protocol, SigV4-signed: the token decodes to `AWS:<password>`, valid 12 hours.

use crate::endpoints::Endpoint;
use crate::sigv4::AwsCredentials;
use crate::sts::signed;
use docker_credential_wasm_sdk::Error;
use docker_credential_wasm_sdk::effects::Effects;
use docker_credential_wasm_sdk::http::{Request, Response};
use docker_credential_wasm_sdk::serde::Deserialize;
use docker_credential_wasm_sdk::serde_json::Value;

/// A registry user name and password, and when they expire.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub username: String,
    pub password: String,
    pub expires_at: Option<u64>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token {{ username: {:?}, expires_at: {:?} }}", self.username, self.expires_at)
    }
}

/// Error types that mean the caller's identity was refused.
const DENIED: [&str; 6] = [
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
];

/// Which ECR API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Private,
    Public,
}

impl Api {
    fn service(self) -> &'static str {
        match self {
            Api::Private => "ecr",
            Api::Public => "ecr-public",
        }
    }

    fn target(self) -> &'static str {
        match self {
            Api::Private => "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
            Api::Public => "SpencerFrontendService.GetAuthorizationToken",
        }
    }
}

/// Calls `GetAuthorizationToken` at `endpoint` with `credentials`.
pub fn authorization_token(
    context: &dyn Effects,
    api: Api,
    endpoint: &Endpoint,
    credentials: &AwsCredentials,
) -> Result<Token, Error> {
    let request = Request::post(&format!("{}/", endpoint.url))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", api.target())
        .body("{}");
    let request = signed(request, credentials, &endpoint.region, api.service(), context.now())?
        .header("user-agent", crate::USER_AGENT);
    let what = format!("{} GetAuthorizationToken in {}", api.service(), endpoint.region);
    let response = context.send(&request).map_err(|e| e.context(&what))?;
    token_from(&response, api, &what)
}

#[derive(Deserialize)]
#[serde(crate = "docker_credential_wasm_sdk::serde", rename_all = "camelCase")]
struct AuthorizationData {
    authorization_token: String,
    expires_at: Option<Value>,
}

fn token_from(response: &Response, api: Api, what: &str) -> Result<Token, Error> {
    if !response.is_success() {
        let error: Value = docker_credential_wasm_sdk::serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let kind = error["__type"].as_str().unwrap_or("no error type");
        let kind = kind.rsplit('#').next().unwrap_or(kind);
        let message = error["message"].as_str().or(error["Message"].as_str()).unwrap_or("");
        let why = format!("{what}: HTTP {} {kind}: {message}", response.status);
        return Err(match response.status {
            401 | 403 => Error::Denied(why),
            _ if DENIED.contains(&kind) => Error::Denied(why),
            _ => Error::Upstream(why),
        });
    }
    let body: Value = response.json(what)?;
    let data = match api {
        Api::Private => body["authorizationData"].get(0),
        Api::Public => body.get("authorizationData"),
    };
    let data: AuthorizationData = data
        .cloned()
        .map(docker_credential_wasm_sdk::serde_json::from_value)
        .transpose()
        .map_err(|e| Error::Upstream(format!("{what}: the answer is not the expected JSON: {e}")))?
        .ok_or_else(|| Error::Upstream(format!("{what}: the answer has no authorizationData")))?;
    let decoded =
        docker_credential_wasm_sdk::encoding::base64_decode(&data.authorization_token, &format!("{what}: the token"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| Error::Upstream(format!("{what}: the token is not text")))?;
    let (username, password) = decoded
        .split_once(':')
        .filter(|(user, password)| !user.is_empty() && !password.is_empty())
        .ok_or_else(|| Error::Upstream(format!("{what}: the token is not user:password")))?;
    let expires_at = match &data.expires_at {
        Some(Value::Number(n)) => n.as_f64().map(|f| f as u64),
        Some(Value::String(s)) => docker_credential_wasm_sdk::time::parse_rfc3339(s),
        _ => None,
    };
    Ok(Token { username: username.into(), password: password.into(), expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response { status, headers: vec![], body: body.into() }
    }

    #[test]
    fn tokens_decode_to_user_and_password_with_their_expiry() {
        let private = r#"{"authorizationData":[{"authorizationToken":"QVdTOnBhc3M6d29yZA==","expiresAt":1.7643456E9,"proxyEndpoint":"https://1.dkr.ecr.us-west-2.amazonaws.com"}]}"#;
        let token = token_from(&response(200, private), Api::Private, "ecr").unwrap();
        assert_eq!(
            token,
            Token { username: "AWS".into(), password: "pass:word".into(), expires_at: Some(1_764_345_600) }
        );
        let public =
            r#"{"authorizationData":{"authorizationToken":"QVdTOnB1Yg==","expiresAt":"2026-11-30T12:00:00Z"}}"#;
        let token = token_from(&response(200, public), Api::Public, "ecr-public").unwrap();
        assert_eq!(
            (token.password.as_str(), token.expires_at),
            ("pub", docker_credential_wasm_sdk::time::parse_rfc3339("2026-11-30T12:00:00Z"))
        );
        assert!(!format!("{token:?}").contains("pub\""));
    }

    #[test]
    fn failures_say_what_and_why() {
        let what = "ecr GetAuthorizationToken in us-west-2";
        for (status, body, expected) in [
            (
                400,
                r#"{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
                Error::Denied(format!(
                    "{what}: HTTP 400 UnrecognizedClientException: The security token included in the request is invalid."
                )),
            ),
            (
                403,
                r#"{"__type":"InvalidSignatureException","message":"Signature mismatch"}"#,
                Error::Denied(format!("{what}: HTTP 403 InvalidSignatureException: Signature mismatch")),
            ),
            (
                500,
                r#"{"__type":"ServerException","message":"oops"}"#,
                Error::Upstream(format!("{what}: HTTP 500 ServerException: oops")),
            ),
            (502, "<html>bad gateway</html>", Error::Upstream(format!("{what}: HTTP 502 no error type: "))),
            (
                200,
                "{not json",
                Error::Upstream(format!(
                    "{what}: the answer is not the expected JSON: key must be a string at line 1 column 2"
                )),
            ),
            (
                200,
                r#"{"authorizationData":[]}"#,
                Error::Upstream(format!("{what}: the answer has no authorizationData")),
            ),
            (
                200,
                r#"{"authorizationData":[{"authorizationToken":"bm9jb2xvbg=="}]}"#,
                Error::Upstream(format!("{what}: the token is not user:password")),
            ),
        ] {
            assert_eq!(token_from(&response(status, body), Api::Private, what).unwrap_err(), expected, "{body}");
        }
    }
}
