//! A loopback mock of what the `acr` plugin talks to: Entra ID's token endpoint (public and
//! US Government clouds) and ACR's token exchange over HTTPS with a test CA (through a
//! CONNECT proxy, under their real names), and the managed identity endpoints (instance
//! metadata, App Service, Azure Arc's challenge) over plain HTTP.
//!
//! The token endpoint checks every form field: the client and its secret, or the client
//! assertion's type and that the assertion is exactly a federated token it trusts. The
//! exchange checks every field too: the grant type, `service` against the host, `tenant`
//! against the access token's `tid`, and that the access token is one it issued for ACR to
//! an identity the registry lets pull. Tokens are unsigned JWTs whose `sub` names the
//! identity, so tests see which identity an answer came from.

use super::servers::{Request, Servers};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The service principal and its secret.
pub const SP_CLIENT: &str = "11111111-2222-3333-4444-555555555555";
pub const SP_SECRET: &str = "sp-secret";
/// The workload identity (federated credential) client and the tokens it trusts.
pub const WI_CLIENT: &str = "66666666-7777-8888-9999-000000000000";
pub const FEDERATED_TOKEN: &str =
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpwdWxsZXIifQ.sig";
/// User-assigned identities on the instance, by client id.
pub const UAMI_A: &str = "aaaaaaaa-0000-0000-0000-000000000001";
pub const UAMI_B: &str = "bbbbbbbb-0000-0000-0000-000000000002";
pub const APP_SERVICE_HEADER: &str = "app-service-secret-header";
pub const ACR_AUDIENCE: &str = "https://containerregistry.azure.net";

/// Names the HTTPS side serves.
pub const NAMES: [&str; 5] = [
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "myreg.azurecr.io",
    "govreg.azurecr.us",
    "locked.azurecr.io",
];

/// One request the mock saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub host: String,
    pub path: String,
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    /// Access tokens issued: token → (identity, audience).
    issued: BTreeMap<String, (String, String)>,
    /// The instance's managed identities: system-assigned, and user-assigned client ids.
    system_assigned: bool,
    user_assigned: Vec<String>,
    /// Lifetime of ACR refresh tokens, seconds.
    refresh_lifetime: u64,
    /// The Arc agent's key file and its contents.
    arc_key: Option<(String, String)>,
    exchanges: usize,
}

pub struct AzureMock {
    servers: Servers,
    state: Arc<Mutex<State>>,
}

impl std::ops::Deref for AzureMock {
    type Target = Servers;
    fn deref(&self) -> &Servers {
        &self.servers
    }
}

impl AzureMock {
    pub fn start() -> AzureMock {
        AzureMock::start_with_http(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// The mock with its plain-HTTP side on `http` (169.254.169.254:80 in a namespace).
    pub fn start_with_http(http: TcpListener) -> AzureMock {
        let state = Arc::new(Mutex::new(State { refresh_lifetime: 10_800, ..State::default() }));
        let shared = state.clone();
        let servers = Servers::start(&NAMES, http, Arc::new(move |request, stream, _| serve(request, stream, &shared)));
        AzureMock { servers, state }
    }

    /// The instance's managed identities.
    pub fn identities(&self, system_assigned: bool, user_assigned: &[&str]) {
        let mut state = self.state.lock().unwrap();
        state.system_assigned = system_assigned;
        state.user_assigned = user_assigned.iter().map(|s| s.to_string()).collect();
    }

    pub fn refresh_lifetime(&self, seconds: u64) {
        self.state.lock().unwrap().refresh_lifetime = seconds;
    }

    /// The Arc agent's key file: its path (named in the challenge) and contents.
    pub fn arc_key(&self, path: &str, contents: &str) {
        self.state.lock().unwrap().arc_key = Some((path.into(), contents.into()));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn exchanges(&self) -> usize {
        self.state.lock().unwrap().exchanges
    }
}

/// The identity (`sub`) of a token the mock issued.
pub fn identity_of(token: &str) -> String {
    claims(token).and_then(|c| c["sub"].as_str().map(str::to_string)).unwrap_or_default()
}

fn claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&base64url_decode(payload)?).ok()
}

pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.trim_end_matches('=').bytes() {
        buffer = (buffer << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn jwt(claims: &serde_json::Value) -> String {
    format!(
        "{}.{}.mock-signature",
        base64url(br#"{"alg":"RS256","typ":"JWT"}"#),
        base64url(claims.to_string().as_bytes())
    )
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn respond(stream: &mut dyn Write, status: u16, extra: &str, body: &str) {
    super::servers::respond(stream, status, "application/json", extra, body)
}

fn error(stream: &mut dyn Write, status: u16, code: &str, description: &str) {
    respond(stream, status, "", &serde_json::json!({"error": code, "error_description": description}).to_string());
}

/// Issues an access token for `identity` with `audience`.
fn issue(state: &Mutex<State>, identity: &str, audience: &str) -> String {
    let token = jwt(
        &serde_json::json!({"aud": audience, "tid": TENANT, "sub": identity, "exp": now() + 3600, "n": state.lock().unwrap().issued.len()}),
    );
    state.lock().unwrap().issued.insert(token.clone(), (identity.into(), audience.into()));
    token
}

fn serve(request: &Request, stream: &mut dyn Write, state: &Mutex<State>) {
    let host = request.host().to_string();
    state.lock().unwrap().seen.push(Seen {
        method: request.method.clone(),
        host: host.clone(),
        path: request.path.clone(),
    });
    match (request.method.as_str(), host.as_str(), request.path.as_str()) {
        ("POST", "login.microsoftonline.com" | "login.microsoftonline.us", path)
            if path.ends_with("/oauth2/v2.0/token") =>
        {
            token_endpoint(stream, request, state)
        }
        ("POST", registry, "/oauth2/exchange") => exchange(stream, request, registry, state),
        ("GET", _, "/metadata/identity/oauth2/token") => imds(stream, request, state),
        ("GET", _, "/msi/token") => app_service(stream, request, state),
        ("GET", _, "/arc/token") => arc(stream, request, state),
        _ => respond(stream, 404, "", "{}"),
    }
}

fn token_endpoint(stream: &mut dyn Write, request: &Request, state: &Mutex<State>) {
    let form = &request.form();
    let field = |name: &str| form.get(name).map(String::as_str);
    if request.path != format!("/{TENANT}/oauth2/v2.0/token") {
        return error(stream, 400, "invalid_request", "AADSTS90002: Tenant not found.");
    }
    if field("grant_type") != Some("client_credentials") || field("scope") != Some(&format!("{ACR_AUDIENCE}/.default"))
    {
        return error(stream, 400, "invalid_request", "AADSTS900144: unexpected grant_type or scope");
    }
    let identity =
        match (field("client_id"), field("client_secret"), field("client_assertion_type"), field("client_assertion")) {
            (Some(SP_CLIENT), Some(SP_SECRET), None, None) => "service-principal",
            (Some(SP_CLIENT), Some(_), None, None) => {
                return error(
                    stream,
                    401,
                    "invalid_client",
                    "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1",
                );
            }
            (
                Some(WI_CLIENT),
                None,
                Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                Some(FEDERATED_TOKEN),
            ) => "workload-identity",
            _ => {
                return error(
                    stream,
                    401,
                    "invalid_client",
                    "AADSTS700016: Application not found or assertion invalid.",
                );
            }
        };
    let token = issue(state, identity, ACR_AUDIENCE);
    respond(
        stream,
        200,
        "",
        &serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})
            .to_string(),
    )
}

fn exchange(stream: &mut dyn Write, request: &Request, registry: &str, state: &Mutex<State>) {
    let form = &request.form();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let token = field("access_token");
    let issued = state.lock().unwrap().issued.get(token).cloned();
    let tid = claims(token).and_then(|c| c["tid"].as_str().map(str::to_string)).unwrap_or_default();
    let unauthorized = |stream: &mut dyn Write, message: &str| {
        let body = serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]}).to_string();
        respond(stream, 401, "", &body)
    };
    if field("grant_type") != "access_token" || field("service") != registry || field("tenant") != tid || tid != TENANT
    {
        return respond(
            stream,
            400,
            "",
            r#"{"errors":[{"code":"BAD_REQUEST","message":"grant_type, service or tenant is wrong"}]}"#,
        );
    }
    let Some((identity, audience)) = issued else {
        return unauthorized(stream, "the access token is not valid");
    };
    if audience != ACR_AUDIENCE || registry.starts_with("locked.") {
        return unauthorized(stream, "authentication required");
    }
    let lifetime = {
        let mut state = state.lock().unwrap();
        state.exchanges += 1;
        state.refresh_lifetime
    };
    let refresh = jwt(&serde_json::json!({
        "iss": "Azure Container Registry", "aud": registry, "tenant": TENANT, "grant_type": "refresh_token",
        "sub": identity, "exp": now() + lifetime,
    }));
    respond(stream, 200, "", &serde_json::json!({"refresh_token": refresh}).to_string())
}

fn managed(stream: &mut dyn Write, request: &Request, state: &Mutex<State>) {
    let query = &request.query;
    if query.get("resource").map(String::as_str) != Some(ACR_AUDIENCE) {
        return error(stream, 400, "invalid_resource", "unexpected resource");
    }
    let (system, assigned) = {
        let state = state.lock().unwrap();
        (state.system_assigned, state.user_assigned.clone())
    };
    let identity = match query.get("client_id") {
        Some(id) if assigned.contains(id) => format!("uami-{id}"),
        Some(_) => return error(stream, 400, "invalid_request", "Identity not found"),
        None if system => "system-assigned".to_string(),
        None if assigned.len() == 1 => format!("uami-{}", assigned[0]),
        None if assigned.len() > 1 => {
            return error(
                stream,
                400,
                "invalid_request",
                "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
            );
        }
        None => return error(stream, 400, "invalid_request", "Identity not found"),
    };
    let token = issue(state, &identity, ACR_AUDIENCE);
    let expires_on = (now() + 3599).to_string();
    let body = serde_json::json!({"access_token": token, "refresh_token": "", "expires_in": "3599", "expires_on": expires_on, "not_before": "0", "resource": ACR_AUDIENCE, "token_type": "Bearer"});
    respond(stream, 200, "", &body.to_string())
}

fn imds(stream: &mut dyn Write, request: &Request, state: &Mutex<State>) {
    if request.header("metadata") != Some("true")
        || request.query.get("api-version").map(String::as_str) != Some("2018-02-01")
    {
        return error(stream, 400, "invalid_request", "Required metadata header not specified");
    }
    managed(stream, request, state)
}

fn app_service(stream: &mut dyn Write, request: &Request, state: &Mutex<State>) {
    if request.header("x-identity-header") != Some(APP_SERVICE_HEADER) {
        return respond(stream, 401, "", r#"{"message":"invalid X-IDENTITY-HEADER"}"#);
    }
    managed(stream, request, state)
}

fn arc(stream: &mut dyn Write, request: &Request, state: &Mutex<State>) {
    let key = state.lock().unwrap().arc_key.clone().expect("the test sets the Arc key");
    match request.header("authorization") {
        None => respond(stream, 401, &format!("WWW-Authenticate: Basic realm={}\r\n", key.0), ""),
        Some(value) if value == format!("Basic {}", key.1) => managed(stream, request, state),
        Some(_) => error(stream, 401, "invalid_request", "the key does not match"),
    }
}
