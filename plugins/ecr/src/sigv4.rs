//! AWS Signature Version 4 (header signing), checked against the published test suite in
//! `tests/sigv4/`. Pure: the caller gives the time.

use docker_credential_wasm_sdk::crypto::{hmac_sha256, sha256};
use docker_credential_wasm_sdk::encoding::hex;
use docker_credential_wasm_sdk::time::DateTime;

/// AWS credentials: an access key, its secret and, for temporary ones, a session token.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// When they expire (seconds since the epoch), if they do.
    pub expires_at: Option<u64>,
}

// By hand: only the access key id (not a secret) may be shown.
impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AwsCredentials {{ access_key_id: {:?}, expires_at: {:?} }}", self.access_key_id, self.expires_at)
    }
}

/// What a request is signed for.
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
    /// Seconds since the epoch.
    pub time: u64,
}

/// A request to sign: `path` and `query` as they go on the wire (already percent-encoded).
pub struct Unsigned<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// Every header to sign, `host` included.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The result of signing: the headers to add, and the intermediate strings (for tests).
#[cfg_attr(not(test), allow(dead_code, reason = "the intermediate strings are checked by the test suite"))]
pub struct Signed {
    /// `x-amz-date`, `x-amz-security-token` (when there is a session token) and `authorization`.
    pub headers: Vec<(String, String)>,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}

/// Options the test suite varies; the AWS APIs use the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Remove `.` and `..` segments and repeated slashes from the path.
    pub normalize_path: bool,
    /// Add and sign `x-amz-content-sha256`.
    pub sign_body: bool,
    /// Sign `x-amz-security-token` (STS-style services add it after signing).
    pub sign_session_token: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { normalize_path: true, sign_body: false, sign_session_token: true }
    }
}

/// Signs `request` with `credentials` for `scope`.
pub fn sign(request: &Unsigned, credentials: &AwsCredentials, scope: &Scope, options: Options) -> Signed {
    let amz_date = DateTime::from_unix(scope.time).compact();
    let date = &amz_date[..8];
    let payload_hash = hex(&sha256(request.body));

    let mut headers: Vec<(String, String)> = request.headers.to_vec();
    headers.push(("x-amz-date".into(), amz_date.clone()));
    if options.sign_body {
        headers.push(("x-amz-content-sha256".into(), payload_hash.clone()));
    }
    let token_header =
        credentials.session_token.as_ref().map(|token| ("x-amz-security-token".to_string(), token.clone()));
    if options.sign_session_token {
        headers.extend(token_header.clone());
    }
    let (canonical_headers, signed_headers) = canonical_headers(&headers);
    let path = if options.normalize_path { normalize_path(request.path) } else { request.path.to_string() };
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        request.method,
        canonical_path(&path),
        canonical_query(request.query),
    );
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{credential_scope}\n{}", hex(&sha256(canonical_request.as_bytes())));
    let mut key = hmac_sha256(format!("AWS4{}", credentials.secret_access_key).as_bytes(), date.as_bytes());
    for part in [scope.region, scope.service, "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    let mut added = vec![("x-amz-date".to_string(), amz_date)];
    if options.sign_body {
        added.push(("x-amz-content-sha256".into(), payload_hash));
    }
    added.extend(token_header);
    added.push(("authorization".into(), authorization));
    Signed { headers: added, canonical_request, string_to_sign, signature }
}

/// Lower-case names, sorted; values trimmed with inner runs of spaces collapsed; repeated
/// names joined with `,`. Returns the canonical header block and the signed-header list.
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut merged: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for (name, value) in headers {
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        merged.entry(name.to_ascii_lowercase()).or_default().push(value);
    }
    let block = merged.iter().map(|(name, values)| format!("{name}:{}\n", values.join(","))).collect();
    let names = merged.keys().cloned().collect::<Vec<_>>().join(";");
    (block, names)
}

/// RFC 3986 unreserved characters stay; everything else is `%XX` (upper case).
fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) || (keep_slash && byte == b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Removes `.` and `..` segments and empty segments, keeping a trailing slash.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    let mut normalized = format!("/{}", segments.join("/"));
    if trailing && !segments.is_empty() {
        normalized.push('/');
    }
    normalized
}

/// The path, each character outside the unreserved set percent-encoded exactly once.
fn canonical_path(path: &str) -> String {
    if path.is_empty() { "/".into() } else { uri_encode(&percent_decode(path), true) }
}

/// Query parameters decoded, re-encoded and sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (uri_encode(&percent_decode(name), false), uri_encode(&percent_decode(value), false))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_digit = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) =
                (bytes.get(i + 1).and_then(|&b| hex_digit(b)), bytes.get(i + 2).and_then(|&b| hex_digit(b)))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A test-suite request: method, path, query, headers, body.
    fn parse_request(text: &str) -> (String, String, String, Vec<(String, String)>, Vec<u8>) {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let request_line = lines.next().unwrap();
        let method = request_line.split(' ').next().unwrap().to_string();
        let target = request_line[method.len() + 1..request_line.rfind(" HTTP/").unwrap()].to_string();
        let (path, query) =
            target.split_once('?').map_or((target.clone(), String::new()), |(p, q)| (p.into(), q.into()));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().unwrap();
                last.1 = format!("{} {}", last.1, line.trim());
            } else {
                let (name, value) = line.split_once(':').unwrap();
                headers.push((name.to_string(), value.to_string()));
            }
        }
        (method, path, query, headers, body.as_bytes().to_vec())
    }

    #[test]
    fn the_published_test_suite_passes() {
        let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4");
        let mut cases: Vec<_> =
            std::fs::read_dir(&suite).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
        cases.sort();
        assert_eq!(cases.len(), 38);
        for case in cases {
            let read = |name: &str| std::fs::read_to_string(case.join(name)).unwrap();
            let context: docker_credential_wasm_sdk::serde_json::Value =
                docker_credential_wasm_sdk::serde_json::from_str(&read("context.json")).unwrap();
            let (method, path, query, headers, body) = parse_request(&read("request.txt"));
            // X-Amz-Date in a request is the signer's to set.
            let headers: Vec<_> = headers.into_iter().filter(|(n, _)| !n.eq_ignore_ascii_case("x-amz-date")).collect();
            let credentials = AwsCredentials {
                access_key_id: context["credentials"]["access_key_id"].as_str().unwrap().into(),
                secret_access_key: context["credentials"]["secret_access_key"].as_str().unwrap().into(),
                session_token: context["credentials"]["token"].as_str().map(Into::into),
                expires_at: None,
            };
            let time = docker_credential_wasm_sdk::time::parse_rfc3339(context["timestamp"].as_str().unwrap()).unwrap();
            let scope = Scope {
                region: context["region"].as_str().unwrap(),
                service: context["service"].as_str().unwrap(),
                time,
            };
            let options = Options {
                normalize_path: context["normalize"].as_bool().unwrap(),
                sign_body: context["sign_body"].as_bool().unwrap(),
                sign_session_token: !context["omit_session_token"].as_bool().unwrap_or(false),
            };
            let unsigned = Unsigned { method: &method, path: &path, query: &query, headers: &headers, body: &body };
            let signed = sign(&unsigned, &credentials, &scope, options);
            let name = case.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(signed.canonical_request, read("header-canonical-request.txt"), "{name}: canonical request");
            assert_eq!(signed.string_to_sign, read("header-string-to-sign.txt"), "{name}: string to sign");
            assert_eq!(signed.signature, read("header-signature.txt").trim(), "{name}: signature");
        }
    }

    #[test]
    fn an_ecr_request_carries_the_token_and_the_authorization() {
        let credentials = AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("session".into()),
            expires_at: None,
        };
        let headers = vec![
            ("content-type".to_string(), "application/x-amz-json-1.1".to_string()),
            ("host".to_string(), "api.ecr.us-west-2.amazonaws.com".to_string()),
            ("x-amz-target".to_string(), "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken".to_string()),
        ];
        let unsigned = Unsigned { method: "POST", path: "/", query: "", headers: &headers, body: b"{}" };
        let scope = Scope { region: "us-west-2", service: "ecr", time: 1_440_938_160 };
        let signed = sign(&unsigned, &credentials, &scope, Options::default());
        let names: Vec<&str> = signed.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-amz-date", "x-amz-security-token", "authorization"]);
        assert!(signed.headers[2].1.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-west-2/ecr/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="
        ));
        assert!(!format!("{credentials:?}").contains("wJal"));
    }
}
