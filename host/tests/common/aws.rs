//! A loopback mock of the AWS endpoints the `ecr` plugin talks to: ECR and ECR Public
//! (`GetAuthorizationToken`), STS (`AssumeRole`, `AssumeRoleWithWebIdentity`) over HTTPS
//! with a test CA (reached through a CONNECT proxy, under their real names), and the EC2
//! instance metadata service and container credential endpoint over plain HTTP.
//!
//! Every signed request is verified with an independent SigV4 implementation (the
//! `aws-sigv4` crate): a bad signature gets AWS's 403 `InvalidSignatureException`, an
//! unknown key 400 `UnrecognizedClientException`. A token's password names the access key
//! that signed for it (`ecr-token-for-<key id>`), so tests see which identity was used.

use super::servers::{Request, Servers};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Host names the HTTPS side serves (the certificate's names).
pub const NAMES: [&str; 9] = [
    "api.ecr.us-west-2.amazonaws.com",
    "api.ecr.eu-central-1.amazonaws.com",
    "api.ecr.cn-north-1.amazonaws.com.cn",
    "ecr-fips.us-gov-west-1.amazonaws.com",
    "api.ecr-public.us-east-1.amazonaws.com",
    "sts.us-west-2.amazonaws.com",
    "sts.us-east-1.amazonaws.com",
    "sts.cn-north-1.amazonaws.com.cn",
    "sts-fips.us-gov-west-1.amazonaws.com",
];

/// The web identity token STS accepts.
pub const WEB_IDENTITY_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.irsa-pod.signature";
/// The container credential endpoint's authorization token.
pub const CONTAINER_TOKEN: &str = "pod-identity-token";

/// How ECR answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcrMode {
    Ok,
    /// A status and a body, as written.
    Fail(u16, String),
    /// 200 with a body that is not JSON.
    Malformed,
    /// Accept and never answer.
    Hang,
}

/// What the mock saw: one line per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub host: String,
    pub method: String,
    pub path: String,
    /// `x-amz-target` or the STS `Action`.
    pub action: String,
    /// The signing key id, and whether the signature verified (`None`: not signed).
    pub signature: Option<(String, bool)>,
}

#[derive(Default)]
struct State {
    /// Access key id → (secret, session token).
    identities: BTreeMap<String, (String, Option<String>)>,
    seen: Vec<Seen>,
    ecr: Option<EcrMode>,
    imds_expired: bool,
    issued: usize,
}

/// The running mock.
pub struct AwsMock {
    /// HTTPS for the APIs, plain HTTP for IMDS and container credentials.
    servers: Servers,
    state: Arc<Mutex<State>>,
}

impl std::ops::Deref for AwsMock {
    type Target = Servers;
    fn deref(&self) -> &Servers {
        &self.servers
    }
}

impl AwsMock {
    /// Starts the mock on loopback, HTTP on an ephemeral port.
    pub fn start() -> AwsMock {
        AwsMock::start_with_http(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// Starts the mock with its plain-HTTP side on `http` (e.g. 169.254.169.254:80 in a
    /// test's own network namespace).
    pub fn start_with_http(http: TcpListener) -> AwsMock {
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        let servers = Servers::start(
            &NAMES,
            http,
            Arc::new(move |request, stream, https| serve(request, stream, &shared, https)),
        );
        AwsMock { servers, state }
    }

    /// Makes `key_id` a known identity with `secret`.
    pub fn identity(&self, key_id: &str, secret: &str) {
        self.state.lock().unwrap().identities.insert(key_id.into(), (secret.into(), None));
    }

    /// Makes `key_id` a known identity with `secret` and the session token `token`.
    pub fn session(&self, key_id: &str, secret: &str, token: &str) {
        self.state.lock().unwrap().identities.insert(key_id.into(), (secret.into(), Some(token.into())));
    }

    pub fn ecr_mode(&self, mode: EcrMode) {
        self.state.lock().unwrap().ecr = Some(mode);
    }

    /// Makes instance metadata hand out credentials that expired an hour ago.
    pub fn imds_expired(&self) {
        self.state.lock().unwrap().imds_expired = true;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn respond(stream: &mut dyn Write, status: u16, content_type: &str, body: &str) {
    super::servers::respond(stream, status, content_type, "", body)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn rfc3339(seconds: u64) -> String {
    // Good enough for the test dates (after 2000, before 2100).
    let days = seconds / 86_400;
    let (mut year, mut day) = (1970u64, days);
    loop {
        let length = if year % 4 == 0 { 366 } else { 365 };
        if day < length {
            break;
        }
        day -= length;
        year += 1;
    }
    let months = [31, if year % 4 == 0 { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 0;
    while day >= months[month] {
        day -= months[month];
        month += 1;
    }
    let rest = seconds % 86_400;
    format!("{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", month + 1, day + 1, rest / 3600, rest / 60 % 60, rest % 60)
}

/// Verifies the SigV4 `authorization` of `request` with the aws-sigv4 crate: the key id,
/// and whether the signature is the one the key's secret gives.
fn verify(request: &Request, host: &str, state: &Mutex<State>) -> Result<String, (u16, String)> {
    let refuse =
        |status: u16, kind: &str, message: &str| (status, format!(r#"{{"__type":"{kind}","message":"{message}"}}"#));
    let authorization = request
        .header("authorization")
        .ok_or_else(|| refuse(400, "MissingAuthenticationTokenException", "Missing Authentication Token"))?;
    let field =
        |name: &str| authorization.split([' ', ',']).find_map(|part| part.strip_prefix(name)).map(str::to_string);
    let (credential, signed_headers, signature) =
        match (field("Credential="), field("SignedHeaders="), field("Signature=")) {
            (Some(c), Some(h), Some(s)) => (c, h, s),
            _ => {
                return Err(refuse(
                    400,
                    "IncompleteSignatureException",
                    "Authorization header requires Credential, SignedHeaders and Signature",
                ));
            }
        };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, _date, region, service, "aws4_request"] = scope[..] else {
        return Err(refuse(400, "IncompleteSignatureException", "bad credential scope"));
    };
    let Some((secret, token)) = state.lock().unwrap().identities.get(key_id).cloned() else {
        return Err(refuse(
            400,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    };
    if request.header("x-amz-security-token") != token.as_deref() {
        return Err(refuse(
            400,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    let amz_date = request.header("x-amz-date").unwrap_or_default();
    let time = parse_amz_date(amz_date).ok_or_else(|| refuse(400, "IncompleteSignatureException", "bad X-Amz-Date"))?;
    if time.abs_diff(now()) > 300 {
        return Err(refuse(403, "InvalidSignatureException", "Signature expired"));
    }
    let headers: Vec<(String, String)> = signed_headers
        .split(';')
        .filter(|name| !matches!(*name, "x-amz-date" | "x-amz-security-token"))
        .map(|name| {
            (
                name.to_string(),
                if name == "host" { host.to_string() } else { request.header(name).unwrap_or_default().to_string() },
            )
        })
        .collect();
    let identity = aws_credential_types::Credentials::new(key_id, &secret, token, None, "mock").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(UNIX_EPOCH + Duration::from_secs(time))
        .settings(aws_sigv4::http_request::SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let uri = format!("https://{host}{}", request.path);
    let signable = aws_sigv4::http_request::SignableRequest::new(
        &request.method,
        &uri,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        aws_sigv4::http_request::SignableBody::Bytes(&request.body),
    )
    .unwrap();
    let (_, expected) = aws_sigv4::http_request::sign(signable, &params).unwrap().into_parts();
    if expected != signature {
        return Err(refuse(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    let expected_service = if host.starts_with("sts") {
        "sts"
    } else if host.contains("ecr-public") {
        "ecr-public"
    } else {
        "ecr"
    };
    if service != expected_service || !host.contains(region) {
        return Err(refuse(
            403,
            "InvalidSignatureException",
            "Credential should be scoped to a valid region and service.",
        ));
    }
    Ok(key_id.to_string())
}

fn parse_amz_date(text: &str) -> Option<u64> {
    if text.len() != 16 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| text.get(r)?.parse::<u64>().ok();
    let (year, month, day, hour, minute, second) = (n(0..4)?, n(4..6)?, n(6..8)?, n(9..11)?, n(11..13)?, n(13..15)?);
    let mut days = 0;
    for y in 1970..year {
        days += if y % 4 == 0 { 366 } else { 365 };
    }
    let months = [31, if year % 4 == 0 { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    days += months[..(month as usize - 1)].iter().sum::<u64>() + day - 1;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Issues temporary credentials with `prefix` and remembers them.
fn issue(state: &Mutex<State>, prefix: &str, lifetime: i64) -> (String, String, String, String) {
    let mut state = state.lock().unwrap();
    state.issued += 1;
    let key_id = format!("{prefix}{}", state.issued);
    let (secret, token) = (format!("secret-of-{key_id}"), format!("token-of-{key_id}"));
    state.identities.insert(key_id.clone(), (secret.clone(), Some(token.clone())));
    let expiration = rfc3339((now() as i64 + lifetime) as u64);
    (key_id, secret, token, expiration)
}

fn serve(request: &Request, stream: &mut dyn Write, state: &Mutex<State>, https: bool) {
    let host = request.host().to_string();
    let mut seen = Seen {
        host: host.clone(),
        method: request.method.clone(),
        path: request.path.clone(),
        action: request
            .header("x-amz-target")
            .map(str::to_string)
            .or_else(|| request.form().get("Action").cloned())
            .unwrap_or_default(),
        signature: None,
    };
    let record = |seen: Seen| state.lock().unwrap().seen.push(seen);
    if !https {
        record(seen);
        return metadata(stream, request, state);
    }
    let sts = host.starts_with("sts");
    if sts && seen.action == "AssumeRoleWithWebIdentity" {
        record(seen);
        let form = request.form();
        if form.get("WebIdentityToken").map(String::as_str) != Some(WEB_IDENTITY_TOKEN) {
            let body = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Couldn't retrieve verification key from your identity provider</Message></Error></ErrorResponse>";
            return respond(stream, 400, "text/xml", body);
        }
        return sts_credentials(stream, state, "AssumeRoleWithWebIdentity", "ASIAWEB");
    }
    let verdict = verify(request, &host, state);
    seen.signature = request.header("authorization").and_then(|a| {
        let key = a.split("Credential=").nth(1)?.split('/').next()?.to_string();
        Some((key, verdict.is_ok()))
    });
    record(seen.clone());
    let key_id = match verdict {
        Ok(key_id) => key_id,
        Err((status, body)) => {
            let content_type = if sts { "text/xml" } else { "application/x-amz-json-1.1" };
            let body = if sts {
                format!(
                    "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>{body}</Message></Error></ErrorResponse>"
                )
            } else {
                body
            };
            return respond(stream, status, content_type, &body);
        }
    };
    if sts {
        return sts_credentials(stream, state, "AssumeRole", "ASIAROLE");
    }
    let mode = state.lock().unwrap().ecr.clone().unwrap_or(EcrMode::Ok);
    match mode {
        EcrMode::Ok => {
            let token = base64(format!("AWS:ecr-token-for-{key_id}").as_bytes());
            let expires = now() + 43_200;
            let body = if seen.action.starts_with("SpencerFrontendService") {
                format!(r#"{{"authorizationData":{{"authorizationToken":"{token}","expiresAt":{expires}.0}}}}"#)
            } else {
                format!(
                    r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":{expires}.0,"proxyEndpoint":"https://123456789012.dkr.ecr.us-west-2.amazonaws.com"}}]}}"#
                )
            };
            respond(stream, 200, "application/x-amz-json-1.1", &body)
        }
        EcrMode::Fail(status, body) => respond(stream, status, "application/x-amz-json-1.1", &body),
        EcrMode::Malformed => {
            respond(stream, 200, "application/x-amz-json-1.1", "{\"authorizationData\": [{\"authorizationTo")
        }
        EcrMode::Hang => std::thread::sleep(Duration::from_secs(30)),
    }
}

fn sts_credentials(stream: &mut dyn Write, state: &Mutex<State>, action: &str, prefix: &str) {
    let (key_id, secret, token, expiration) = issue(state, prefix, 3600);
    let body = format!(
        "<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{action}Result><Credentials><AccessKeyId>{key_id}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials></{action}Result></{action}Response>"
    );
    respond(stream, 200, "text/xml", &body)
}

/// IMDSv2 and the container credential endpoint.
fn metadata(stream: &mut dyn Write, request: &Request, state: &Mutex<State>) {
    const TOKEN: &str = "imds-session-token";
    match (request.method.as_str(), request.path.as_str()) {
        // As IMDS answers: the token's lifetime echoed in a header (the Go SDK requires it).
        ("PUT", "/latest/api/token") if request.header("x-aws-ec2-metadata-token-ttl-seconds").is_some() => {
            let ttl = request.header("x-aws-ec2-metadata-token-ttl-seconds").unwrap_or_default();
            let extra = format!("X-Aws-Ec2-Metadata-Token-Ttl-Seconds: {ttl}\r\n");
            super::servers::respond(stream, 200, "text/plain", &extra, TOKEN)
        }
        ("PUT", "/latest/api/token") => respond(stream, 400, "text/plain", "missing TTL"),
        ("GET", path) if path.starts_with("/latest/meta-data/") => {
            if request.header("x-aws-ec2-metadata-token") != Some(TOKEN) {
                return respond(stream, 401, "text/plain", "");
            }
            match path {
                "/latest/meta-data/iam/security-credentials/" => respond(stream, 200, "text/plain", "node-role"),
                "/latest/meta-data/iam/security-credentials/node-role" => {
                    let lifetime = if state.lock().unwrap().imds_expired { -3600 } else { 3600 };
                    let (key_id, secret, token, expiration) = issue(state, "ASIAIMDS", lifetime);
                    let body = format!(
                        r#"{{"Code":"Success","LastUpdated":"2026-11-30T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"{key_id}","SecretAccessKey":"{secret}","Token":"{token}","Expiration":"{expiration}"}}"#
                    );
                    respond(stream, 200, "application/json", &body)
                }
                _ => respond(stream, 404, "text/plain", ""),
            }
        }
        ("GET", "/container/credentials") => {
            if request.header("authorization") != Some(CONTAINER_TOKEN) {
                return respond(
                    stream,
                    401,
                    "application/json",
                    r#"{"code":"AccessDeniedException","message":"invalid token"}"#,
                );
            }
            let (key_id, secret, token, expiration) = issue(state, "ASIAPOD", 3600);
            let body = format!(
                r#"{{"AccessKeyId":"{key_id}","SecretAccessKey":"{secret}","Token":"{token}","Expiration":"{expiration}","AccountId":"123456789012"}}"#
            );
            respond(stream, 200, "application/json", &body)
        }
        _ => respond(stream, 404, "text/plain", ""),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
