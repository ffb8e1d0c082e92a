//! The Docker credential-helper wire format, exactly as `docker-credential-helpers`
//! speaks it: pure functions over bytes, no I/O beyond the `Write` they are given.
//!
//! Reference: docker/docker-credential-helpers `credentials/credentials.go` and
//! `credentials/error.go`. Errors go to **stdout** followed by a newline, with exit code 1;
//! the three well-known messages must be byte-exact because clients compare them.

use std::collections::BTreeMap;
use std::io::{self, Write};

/// The text a Docker client recognises as "no credentials here, fall back".
pub const NOT_FOUND: &str = "credentials not found in native keychain";
/// The text for a missing or empty server URL.
pub const MISSING_SERVER_URL: &str = "no credentials server URL";
/// The text for a missing or empty user name on `store`.
pub const MISSING_USERNAME: &str = "no credentials username";

/// The protocol's actions: the single argument a client passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Store,
    Get,
    Erase,
    List,
    Version,
}

impl Action {
    /// Every action, in the order the usage line names them.
    pub const ALL: [Action; 5] = [Action::Store, Action::Get, Action::Erase, Action::List, Action::Version];

    /// The action named `name`, as a client spells it.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|action| action.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Store => "store",
            Action::Get => "get",
            Action::Erase => "erase",
            Action::List => "list",
            Action::Version => "version",
        }
    }
}

/// The usage line a helper prints (to stdout, exit 1) when not given exactly one action.
pub fn usage(name: &str) -> String {
    format!("Usage: {name} <store|get|erase|list|version>")
}

/// The error for an action the helper does not know.
pub fn unknown_action(name: &str, action: &str) -> String {
    format!("{name}: unknown action: {action}")
}

/// The `version` line: `<name> (<package>) <version>`.
pub fn version_line(name: &str, package: &str, version: &str) -> String {
    format!("{name} ({package}) {version}")
}

/// Why a request could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("{}", MISSING_SERVER_URL)]
    MissingServerUrl,
    #[error("{}", MISSING_USERNAME)]
    MissingUsername,
    #[error("invalid credentials JSON on stdin: {0}")]
    MalformedJson(String),
    #[error("stdin is not valid UTF-8")]
    NotUtf8,
}

/// Credentials as `store` receives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRequest {
    pub server_url: String,
    pub username: String,
    pub secret: String,
}

/// Reads the server URL that `get` and `erase` receive: the reference helper reads stdin
/// line by line, joins the lines without separators and trims surrounding white space.
pub fn read_server_url(input: &[u8]) -> Result<String, RequestError> {
    let text = std::str::from_utf8(input).map_err(|_| RequestError::NotUtf8)?;
    let joined: String = text.lines().collect();
    let server_url = joined.trim();
    if server_url.is_empty() {
        return Err(RequestError::MissingServerUrl);
    }
    Ok(server_url.to_string())
}

/// Reads the JSON `{"ServerURL","Username","Secret"}` that `store` receives. Like Go's
/// `encoding/json`, field names match case-insensitively (an exact match wins) and unknown
/// fields are ignored; missing fields are empty.
pub fn read_store_request(input: &[u8]) -> Result<StoreRequest, RequestError> {
    let text = std::str::from_utf8(input).map_err(|_| RequestError::NotUtf8)?;
    let joined: String = text.lines().collect();
    let value: serde_json::Value =
        serde_json::from_str(&joined).map_err(|e| RequestError::MalformedJson(e.to_string()))?;
    let object = match value {
        serde_json::Value::Object(object) => object,
        serde_json::Value::Null => serde_json::Map::new(),
        other => {
            return Err(RequestError::MalformedJson(format!(
                "expected an object with ServerURL, Username and Secret, found {}",
                json_kind(&other)
            )));
        }
    };
    let field = |name: &str| -> Result<String, RequestError> {
        let value =
            object.get(name).or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v));
        match value {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(other) => {
                Err(RequestError::MalformedJson(format!("field {name} must be a string, found {}", json_kind(other))))
            }
        }
    };
    let request =
        StoreRequest { server_url: field("ServerURL")?, username: field("Username")?, secret: field("Secret")? };
    if request.server_url.is_empty() {
        return Err(RequestError::MissingServerUrl);
    }
    if request.username.is_empty() {
        return Err(RequestError::MissingUsername);
    }
    Ok(request)
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Writes the `get` answer, byte for byte as Go's `json.NewEncoder(os.Stdout).Encode`
/// writes `credentials.Credentials`: fields in declaration order, HTML-safe escaping, `\n`.
pub fn write_credentials(out: &mut impl Write, server_url: &str, username: &str, secret: &str) -> io::Result<()> {
    let mut line = String::with_capacity(48 + server_url.len() + username.len() + secret.len());
    line.push_str("{\"ServerURL\":");
    push_json_string(&mut line, server_url);
    line.push_str(",\"Username\":");
    push_json_string(&mut line, username);
    line.push_str(",\"Secret\":");
    push_json_string(&mut line, secret);
    line.push_str("}\n");
    out.write_all(line.as_bytes())
}

/// Writes the `list` answer: a JSON object of server URL to user name, keys sorted (as Go
/// encodes a map), then `\n`. An empty map is `{}`.
pub fn write_list(out: &mut impl Write, entries: &BTreeMap<String, String>) -> io::Result<()> {
    let mut line = String::from("{");
    for (i, (server_url, username)) in entries.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        push_json_string(&mut line, server_url);
        line.push(':');
        push_json_string(&mut line, username);
    }
    line.push_str("}\n");
    out.write_all(line.as_bytes())
}

/// Writes an error answer: the message and a newline. The caller exits with code 1.
pub fn write_error(out: &mut impl Write, message: &str) -> io::Result<()> {
    writeln!(out, "{message}")
}

/// Appends `value` as a JSON string the way Go's `encoding/json` does with HTML escaping
/// on (its default): `<`, `>`, `&`, U+2028 and U+2029 become `\u` escapes.
fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A `.dockerconfigjson` for `(registry, username, secret)` entries: `auths` keyed as the
/// Docker CLI keys them (Docker Hub as `https://index.docker.io/v1/`), each with `username`,
/// `password` and `auth` (base64 of `username:password`, which the kubelet reads first).
pub fn write_docker_config(
    out: &mut impl Write,
    entries: &[(crate::registry::Registry, String, String)],
) -> io::Result<()> {
    use base64::Engine;
    let auths: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(registry, username, password)| {
            let key = match registry.is_docker_hub() {
                true => crate::registry::DOCKER_HUB_SERVER_URL.to_string(),
                false => registry.to_string(),
            };
            let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            (key, serde_json::json!({ "username": username, "password": password, "auth": auth }))
        })
        .collect();
    serde_json::to_writer(&mut *out, &serde_json::json!({ "auths": auths }))?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(server_url: &str, username: &str, secret: &str) -> String {
        let mut out = Vec::new();
        write_credentials(&mut out, server_url, username, secret).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn get_answer_matches_go_encoder_bytes() {
        assert_eq!(
            credentials("127.0.0.1:5000", "testuser", "s3cret"),
            "{\"ServerURL\":\"127.0.0.1:5000\",\"Username\":\"testuser\",\"Secret\":\"s3cret\"}\n"
        );
    }

    #[test]
    fn identity_token_username_is_html_escaped_like_go() {
        assert_eq!(
            credentials("https://index.docker.io/v1/", "<token>", "a&b"),
            "{\"ServerURL\":\"https://index.docker.io/v1/\",\"Username\":\"\\u003ctoken\\u003e\",\"Secret\":\"a\\u0026b\"}\n"
        );
    }

    #[test]
    fn hostile_values_stay_inside_their_json_strings() {
        let line = credentials("r", "u\"},{\"x", "line\nbreak\u{0}\u{1b}[31m\u{2028}\\");
        assert_eq!(
            line,
            "{\"ServerURL\":\"r\",\"Username\":\"u\\\"},{\\\"x\",\"Secret\":\"line\\nbreak\\u0000\\u001b[31m\\u2028\\\\\"}\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["Username"], "u\"},{\"x");
        assert_eq!(parsed["Secret"], "line\nbreak\u{0}\u{1b}[31m\u{2028}\\");
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn list_is_a_sorted_object_and_empty_is_braces() {
        let mut out = Vec::new();
        write_list(&mut out, &BTreeMap::new()).unwrap();
        assert_eq!(out, b"{}\n");
        let entries = BTreeMap::from([
            ("registry.example:5000".to_string(), "bob".to_string()),
            ("127.0.0.1:5000".to_string(), "testuser".to_string()),
        ]);
        let mut out = Vec::new();
        write_list(&mut out, &entries).unwrap();
        assert_eq!(out, b"{\"127.0.0.1:5000\":\"testuser\",\"registry.example:5000\":\"bob\"}\n");
    }

    #[test]
    fn server_url_lines_are_joined_and_trimmed() {
        assert_eq!(read_server_url(b"127.0.0.1:5000\n"), Ok("127.0.0.1:5000".into()));
        assert_eq!(read_server_url(b"  https://index.docker.io/v1/\r\n"), Ok("https://index.docker.io/v1/".into()));
        assert_eq!(read_server_url(b"local\nhost:5000\n"), Ok("localhost:5000".into()));
        assert_eq!(read_server_url(b""), Err(RequestError::MissingServerUrl));
        assert_eq!(read_server_url(b" \n\t\n"), Err(RequestError::MissingServerUrl));
        assert_eq!(read_server_url(b"\xff"), Err(RequestError::NotUtf8));
    }

    #[test]
    fn store_request_fields_match_like_go() {
        let request = read_store_request(br#"{"ServerURL":"r:5000","Username":"u","Secret":"s","Extra":1}"#).unwrap();
        assert_eq!(request, StoreRequest { server_url: "r:5000".into(), username: "u".into(), secret: "s".into() });
        let folded = read_store_request(br#"{"serverurl":"r","USERNAME":"u"}"#).unwrap();
        assert_eq!(folded, StoreRequest { server_url: "r".into(), username: "u".into(), secret: String::new() });
    }

    #[test]
    fn store_request_errors_are_the_reference_texts() {
        assert_eq!(read_store_request(br#"{"Username":"u","Secret":"s"}"#), Err(RequestError::MissingServerUrl));
        assert_eq!(read_store_request(br#"{"ServerURL":"r","Secret":"s"}"#), Err(RequestError::MissingUsername));
        assert_eq!(RequestError::MissingServerUrl.to_string(), "no credentials server URL");
        assert_eq!(RequestError::MissingUsername.to_string(), "no credentials username");
        assert_eq!(read_store_request(b"null"), Err(RequestError::MissingServerUrl));
    }

    #[test]
    fn malformed_store_json_names_the_problem() {
        let err = read_store_request(b"{not json").unwrap_err();
        assert_eq!(err.to_string(), "invalid credentials JSON on stdin: key must be a string at line 1 column 2");
        let err = read_store_request(b"[1]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid credentials JSON on stdin: expected an object with ServerURL, Username and Secret, found an array"
        );
        let err = read_store_request(br#"{"ServerURL":"r","Username":7}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid credentials JSON on stdin: field Username must be a string, found a number"
        );
        assert_eq!(
            read_store_request(b""),
            Err(RequestError::MalformedJson("EOF while parsing a value at line 1 column 0".into()))
        );
    }

    #[test]
    fn fixed_texts() {
        assert_eq!(usage("docker-credential-wasm"), "Usage: docker-credential-wasm <store|get|erase|list|version>");
        assert_eq!(unknown_action("docker-credential-wasm", "fetch"), "docker-credential-wasm: unknown action: fetch");
        assert_eq!(version_line("n", "p", "1.2.3"), "n (p) 1.2.3");
        assert_eq!(NOT_FOUND, "credentials not found in native keychain");
        for action in Action::ALL {
            assert_eq!(Action::parse(action.name()), Some(action));
        }
        assert_eq!(Action::parse("GET"), None);
    }

    #[test]
    fn a_docker_config_keys_hub_as_the_docker_cli_does_and_carries_auth() {
        let registry = |name: &str| crate::registry::Registry::parse(name).unwrap();
        let mut out = Vec::new();
        write_docker_config(
            &mut out,
            &[
                (registry("127.0.0.1:5000"), "testuser".into(), "pa:ss\"".into()),
                (registry("index.docker.io"), "hub".into(), "dckr_pat".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"auths":{"127.0.0.1:5000":{"auth":"dGVzdHVzZXI6cGE6c3Mi","password":"pa:ss\"","username":"testuser"},"https://index.docker.io/v1/":{"auth":"aHViOmRja3JfcGF0","password":"dckr_pat","username":"hub"}}}
"#
        );
    }
}
