//! A loopback mock of what the `gcr` plugin talks to: Google's OAuth token endpoint, STS and
//! IAM Credentials over HTTPS with a test CA (through a CONNECT proxy, under their real
//! names), and the metadata server over plain HTTP.
//!
//! The token endpoint verifies a service account's JWT assertion with the key's public half
//! (with `ring`, independently of the plugin's RSA code) and checks its claims; a user's
//! refresh token grant checks the client and the token; STS checks every field of the
//! exchange and the subject token; IAM checks the bearer token and the scopes. Access tokens
//! name who they were issued to (`ya29.<identity>`).

use super::aws::rfc3339;
use super::azure::base64url_decode;
use super::servers::{Request, Servers};
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub const SA_EMAIL: &str = "puller@project.iam.gserviceaccount.com";
pub const SA_KEY_ID: &str = "0123456789abcdef";
pub const USER_CLIENT: (&str, &str, &str) =
    ("user-client.apps.googleusercontent.com", "user-secret", "1//user-refresh");
pub const WIF_AUDIENCE: &str =
    "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov";
pub const SUBJECT_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.external-subject.sig";
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const NAMES: [&str; 3] = ["oauth2.googleapis.com", "sts.googleapis.com", "iamcredentials.googleapis.com"];

/// How the token endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenMode {
    Ok,
    Fail(u16, String),
}

#[derive(Default)]
struct State {
    /// The service account key's public half (PKCS#1 DER).
    public_key: Vec<u8>,
    seen: Vec<String>,
    issued: Vec<String>,
    mode: Option<TokenMode>,
}

pub struct GoogleMock {
    servers: Servers,
    state: Arc<Mutex<State>>,
}

impl std::ops::Deref for GoogleMock {
    type Target = Servers;
    fn deref(&self) -> &Servers {
        &self.servers
    }
}

/// A service account key file made with `openssl` (a new RSA key each time) and the
/// public half's DER.
pub fn service_account_key(dir: &Path) -> (String, Vec<u8>) {
    let pem = dir.join("sa-key.pem");
    let der = dir.join("sa-key.der");
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new("openssl").args(args).stderr(std::process::Stdio::null()).status();
        assert!(status.expect("openssl must be installed").success(), "openssl {args:?}");
    };
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pem.to_str().unwrap()]);
    openssl(&[
        "rsa",
        "-in",
        pem.to_str().unwrap(),
        "-RSAPublicKey_out",
        "-outform",
        "DER",
        "-out",
        der.to_str().unwrap(),
    ]);
    let file = serde_json::json!({
        "type": "service_account", "project_id": "project", "private_key_id": SA_KEY_ID,
        "private_key": std::fs::read_to_string(&pem).unwrap(), "client_email": SA_EMAIL,
        "client_id": "1234567890", "token_uri": "https://oauth2.googleapis.com/token",
    });
    (file.to_string(), std::fs::read(&der).unwrap())
}

impl GoogleMock {
    pub fn start() -> GoogleMock {
        GoogleMock::start_with_http(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// The mock with its metadata server on `http` (169.254.169.254:80 in a namespace).
    pub fn start_with_http(http: TcpListener) -> GoogleMock {
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        let servers = Servers::start(&NAMES, http, Arc::new(move |request, stream, _| serve(request, stream, &shared)));
        GoogleMock { servers, state }
    }

    /// The public half of the service account key the token endpoint trusts.
    pub fn trust(&self, public_key: Vec<u8>) {
        self.state.lock().unwrap().public_key = public_key;
    }

    pub fn token_mode(&self, mode: TokenMode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    /// `METHOD host/path` of each request.
    pub fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn respond(stream: &mut dyn Write, status: u16, extra: &str, body: &str) {
    super::servers::respond(stream, status, "application/json", extra, body)
}

fn oauth_error(stream: &mut dyn Write, status: u16, error: &str, description: &str) {
    respond(stream, status, "", &serde_json::json!({"error": error, "error_description": description}).to_string());
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn issue(state: &Mutex<State>, identity: &str) -> String {
    let token = format!("ya29.{identity}");
    state.lock().unwrap().issued.push(token.clone());
    token
}

fn token_answer(stream: &mut dyn Write, token: &str) {
    respond(
        stream,
        200,
        "",
        &serde_json::json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}).to_string(),
    );
}

fn serve(request: &Request, stream: &mut dyn Write, state: &Mutex<State>) {
    let host = request.host().to_string();
    state.lock().unwrap().seen.push(format!("{} {host}{}", request.method, request.path));
    let path = request.path.clone();
    match (request.method.as_str(), host.as_str(), path.as_str()) {
        ("POST", "oauth2.googleapis.com", "/token") => token_endpoint(stream, request, state),
        ("POST", "sts.googleapis.com", "/v1/token") => sts(stream, request, state),
        ("POST", "iamcredentials.googleapis.com", path) if path.ends_with(":generateAccessToken") => {
            iam(stream, request, path, state)
        }
        ("GET", _, "/computeMetadata/v1/instance/service-accounts/default/token") => {
            if request.header("metadata-flavor") != Some("Google") {
                return respond(stream, 403, "Metadata-Flavor: Google\r\n", "Missing Metadata-Flavor:Google header.");
            }
            let token = issue(state, "metadata-default");
            let body =
                serde_json::json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}).to_string();
            respond(stream, 200, "Metadata-Flavor: Google\r\n", &body)
        }
        _ => respond(stream, 404, "", "{}"),
    }
}

fn token_endpoint(stream: &mut dyn Write, request: &Request, state: &Mutex<State>) {
    let mode = state.lock().unwrap().mode.clone();
    if let Some(TokenMode::Fail(status, body)) = mode {
        return respond(stream, status, "", &body);
    }
    let form = request.form();
    match form.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let assertion = form.get("assertion").cloned().unwrap_or_default();
            let public_key = state.lock().unwrap().public_key.clone();
            match verify_assertion(&assertion, &public_key) {
                Ok(()) => token_answer(stream, &issue(state, "sa-puller")),
                Err(why) => oauth_error(stream, 400, "invalid_grant", &why),
            }
        }
        Some("refresh_token") => {
            let (client, secret, refresh) = USER_CLIENT;
            let ok = form.get("client_id").map(String::as_str) == Some(client)
                && form.get("client_secret").map(String::as_str) == Some(secret)
                && form.get("refresh_token").map(String::as_str) == Some(refresh);
            if ok {
                token_answer(stream, &issue(state, "user"))
            } else {
                oauth_error(stream, 400, "invalid_grant", "Bad Request")
            }
        }
        _ => oauth_error(stream, 400, "unsupported_grant_type", "Invalid grant_type"),
    }
}

/// Checks an RS256 JWT assertion: the signature with the trusted public key, then the claims.
fn verify_assertion(assertion: &str, public_key: &[u8]) -> Result<(), String> {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts[..] else { return Err("Invalid JWT: not three parts".into()) };
    let signature = base64url_decode(signature).ok_or("Invalid JWT signature encoding")?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| "Invalid JWT Signature.".to_string())?;
    let header: serde_json::Value =
        serde_json::from_slice(&base64url_decode(header).ok_or("bad header")?).map_err(|e| e.to_string())?;
    let claims: serde_json::Value =
        serde_json::from_slice(&base64url_decode(claims).ok_or("bad claims")?).map_err(|e| e.to_string())?;
    let (iat, exp) = (claims["iat"].as_u64().unwrap_or(0), claims["exp"].as_u64().unwrap_or(0));
    let valid = header["alg"] == "RS256"
        && header["kid"] == SA_KEY_ID
        && claims["iss"] == SA_EMAIL
        && claims["aud"] == "https://oauth2.googleapis.com/token"
        && claims["scope"].as_str().is_some_and(|s| s.split(' ').any(|s| s == CLOUD_PLATFORM))
        && iat.abs_diff(now()) < 300
        && exp > iat
        && exp - iat <= 3600;
    if valid { Ok(()) } else { Err(format!("Invalid JWT claims: {claims}")) }
}

fn sts(stream: &mut dyn Write, request: &Request, state: &Mutex<State>) {
    let form = request.form();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let ok = field("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange"
        && field("audience") == WIF_AUDIENCE
        && field("requested_token_type") == "urn:ietf:params:oauth:token-type:access_token"
        && field("subject_token_type") == "urn:ietf:params:oauth:token-type:jwt"
        && field("scope").split(' ').any(|s| s == CLOUD_PLATFORM);
    if !ok {
        return oauth_error(stream, 400, "invalid_request", "The request is missing or has a wrong parameter");
    }
    if field("subject_token") != SUBJECT_TOKEN {
        return oauth_error(stream, 400, "invalid_grant", "The provided subject token is not valid");
    }
    let token = issue(state, "federated");
    respond(
        stream,
        200,
        "",
        &serde_json::json!({"access_token": token, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer", "expires_in": 3600}).to_string(),
    )
}

fn iam(stream: &mut dyn Write, request: &Request, path: &str, state: &Mutex<State>) {
    let bearer = request.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).unwrap_or_default();
    if !state.lock().unwrap().issued.iter().any(|t| t == bearer) {
        return respond(
            stream,
            401,
            "",
            r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#,
        );
    }
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    if !body["scope"].as_array().is_some_and(|s| s.iter().any(|s| s == CLOUD_PLATFORM)) {
        return respond(
            stream,
            400,
            "",
            r#"{"error":{"code":400,"message":"scope is required","status":"INVALID_ARGUMENT"}}"#,
        );
    }
    let email = path.trim_start_matches("/v1/projects/-/serviceAccounts/").trim_end_matches(":generateAccessToken");
    let token = issue(state, &format!("as-{email}"));
    let body = serde_json::json!({"accessToken": token, "expireTime": rfc3339(now() + 3600)});
    respond(stream, 200, "", &body.to_string())
}
