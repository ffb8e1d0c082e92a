//! What the fuzz targets share: the readable input format of the plugin targets (a scenario,
//! a credential file's text and the upstream answers, in the order requests are sent), the
//! effects that serve them, and the secret check every target makes on what it prints.

use docker_credential_wasm_sdk::Error;
use docker_credential_wasm_sdk::effects::{Effects, Level, Scripted};
use docker_credential_wasm_sdk::http::{Request, Response};
use std::cell::RefCell;
use std::collections::VecDeque;

/// The clock of every scenario: 2025-11-30.
pub const NOW: u64 = 1_764_500_000;

/// Separates the parts of a plugin target's input.
pub const PART: &str = "\n~~~\n";

/// A plugin target's input, read from the fuzzer's bytes (text, lossily):
///
/// ```text
/// <scenario number>
/// ~~~
/// <the text of the credential file the scenario reads>
/// ~~~
/// <status>
/// <header>: <value>
///
/// <body of the first answer>
/// ~~~
/// <status of the second answer> ...
/// ```
#[derive(Debug)]
pub struct PluginInput {
    pub scenario: usize,
    pub file: String,
    pub answers: Vec<Response>,
    /// The whole input, to tell a secret the input itself carries from one leaked.
    pub text: String,
}

impl PluginInput {
    pub fn parse(data: &[u8]) -> PluginInput {
        let text = String::from_utf8_lossy(data).into_owned();
        let mut parts = text.split(PART);
        let scenario = parts.next().unwrap_or_default().trim().parse().unwrap_or(0);
        let file = parts.next().unwrap_or_default().to_string();
        let answers = parts.map(answer).collect();
        PluginInput { scenario, file, answers, text }
    }
}

/// One upstream answer: a status line, headers up to a blank line, the body.
fn answer(part: &str) -> Response {
    let (head, body) = part.split_once("\n\n").unwrap_or((part, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default().trim().parse().unwrap_or(200);
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Response { status, headers, body: body.as_bytes().to_vec() }
}

/// A scenario's environment, files and kubelet context, with each request answered by the
/// next of the input's answers (then "connection refused", as with no server at all).
pub struct Fuzzed {
    pub setup: Scripted,
    answers: RefCell<VecDeque<Response>>,
}

impl Fuzzed {
    pub fn new(setup: Scripted, answers: Vec<Response>) -> Fuzzed {
        Fuzzed { setup, answers: RefCell::new(answers.into()) }
    }
}

impl Effects for Fuzzed {
    fn env(&self, name: &str) -> Option<String> {
        Effects::env(&self.setup, name)
    }
    fn file(&self, path: &str) -> Result<Option<String>, Error> {
        Effects::file(&self.setup, path)
    }
    fn send(&self, request: &Request) -> Result<Response, Error> {
        self.answers
            .borrow_mut()
            .pop_front()
            .ok_or_else(|| Error::Upstream(format!("{} {}: connection refused", request.method, request.url)))
    }
    fn probe(&self, request: &Request) -> Result<Result<Response, String>, Error> {
        Ok(self
            .answers
            .borrow_mut()
            .pop_front()
            .ok_or_else(|| format!("{} {}: connection refused", request.method, request.url)))
    }
    fn now(&self) -> u64 {
        NOW
    }
    fn log(&self, level: Level, message: &str) {
        self.setup.log(level, message)
    }
    fn service_account_token(&self) -> Option<String> {
        self.setup.service_account_token()
    }
    fn service_account_annotation(&self, key: &str) -> Option<String> {
        self.setup.service_account_annotation(key)
    }
    fn setting(&self, key: &str) -> Option<String> {
        Effects::setting(&self.setup, key)
    }
    fn image(&self) -> Option<String> {
        Effects::image(&self.setup)
    }
}

/// Panics if `shown` (an error line, a log line) carries one of `secrets` that the input
/// itself did not carry (an upstream answer may echo what it was sent; that is its text).
pub fn assert_no_secret(shown: &str, secrets: &[&str], input: &str) {
    for secret in secrets {
        if !secret.is_empty() && shown.contains(secret) && !input.contains(secret) {
            panic!("a secret ({} bytes) reached what is shown: {shown:?}", secret.len());
        }
    }
}

/// A plugin's result checked: its error and every log line carry no secret.
pub fn check_plugin<T>(result: &Result<T, Error>, effects: &Fuzzed, secrets: &[&str], input: &str) {
    if let Err(error) = result {
        assert_no_secret(&format!("{error} {error:?}"), secrets, input);
    }
    for line in effects.setup.logs.borrow().iter() {
        assert_no_secret(line, secrets, input);
    }
}

/// The config the protocol targets route with: exact and wildcard routes to plugins, and
/// the credential store for every other registry.
pub const ROUTED_CONFIG: &str = "[routes]\n\"127.0.0.1:5000\" = \"static\"\n\"*.corp.example\" = \"corp\"\n\
    [plugins.static]\nsettings = { username = \"testuser\", secret = \"s\" }\n\
    [plugins.corp]\nbuiltin = \"static\"\nignore-store = true\n\
    [store]\nplugin = \"keyring\"\n";

/// How every secret the fake plugin answers with starts: text no message of the host's
/// own has, so finding it in an error line means the secret leaked.
pub const SECRET_MARK: &str = "SECRET-7f3c-";

/// What the fake plugin of the protocol targets answers every call with, read from the
/// input after the request: a kind byte, then its strings separated by [`PART`].
pub struct ScriptedReply {
    kind: u8,
    strings: Vec<String>,
}

impl ScriptedReply {
    /// Splits `data` into the request (the client's bytes) and the reply.
    pub fn split(data: &[u8]) -> (&[u8], ScriptedReply) {
        let at = data.windows(PART.len()).position(|w| w == PART.as_bytes());
        let (request, rest) = match at {
            Some(at) => (&data[..at], &data[at + PART.len()..]),
            None => (data, &[][..]),
        };
        let (kind, rest) = rest.split_first().map_or((0, &[][..]), |(k, r)| (*k, r));
        let strings = String::from_utf8_lossy(rest).split(PART).map(str::to_string).collect();
        (request, ScriptedReply { kind, strings })
    }

    fn string(&self, index: usize) -> String {
        self.strings.get(index).cloned().unwrap_or_default()
    }

    /// Whether the plugin answers with credentials, whose secret then starts with
    /// [`SECRET_MARK`].
    pub fn answers_a_secret(&self) -> bool {
        self.kind % 8 == 0
    }

    fn outcome(&self) -> host_core::call::CallOutcome {
        use host_core::call::{Credentials, PluginError, RegistryEntry, Reply, Scope};
        let message = self.string(0);
        Ok(Err(match self.kind % 8 {
            0 => {
                let expires_at = self.strings.get(2).and_then(|s| s.trim().parse().ok());
                let secret = format!("{SECRET_MARK}{}", self.string(1));
                let credentials = Credentials { username: self.string(0), secret, expires_at };
                let scope = if self.kind & 0x80 == 0 { Scope::Registry } else { Scope::Image };
                return Ok(Ok(Reply::Credentials(credentials, scope)));
            }
            1 => return Ok(Ok(Reply::Done)),
            2 => {
                let entries = message
                    .lines()
                    .filter_map(|line| line.split_once(' '))
                    .map(|(registry, username)| RegistryEntry { registry: registry.into(), username: username.into() })
                    .collect();
                return Ok(Ok(Reply::Entries(entries)));
            }
            // The sandbox's own failure, with the plugin's text in it made safe, as the
            // sandbox makes it (a trap's panic message, say).
            3 => return Err(anyhow::anyhow!("it panicked at {}", host_core::logging::sanitize(&message, 512))),
            4 => PluginError::NotFound(message),
            5 => PluginError::Upstream(message),
            6 => PluginError::Denied(message),
            _ => PluginError::from_kind(&self.string(1), message),
        }))
    }
}

/// Plugins that all answer with the input's reply, and no cache.
pub struct FakePlugins(pub ScriptedReply);

impl host_core::actions::Plugins for FakePlugins {
    fn credential_cache(
        &mut self,
        _: &host_core::config::Config,
    ) -> Option<host_core::cache::credentials::CredentialCache> {
        None
    }
    fn call(
        &mut self,
        _: &host_core::config::Config,
        _: &host_core::config::PluginConfig,
        _: host_core::call::Call,
    ) -> host_core::call::CallOutcome {
        self.0.outcome()
    }
}

/// [`ROUTED_CONFIG`], parsed.
pub fn routed_config() -> anyhow::Result<host_core::config::Config> {
    Ok(host_core::config::parse(ROUTED_CONFIG, host_core::config::Origin::Embedded)?)
}

/// `out` is exactly one line.
pub fn assert_one_line(out: &str) {
    assert!(out.ends_with('\n') && out.matches('\n').count() == 1, "not one line: {out:?}");
}
