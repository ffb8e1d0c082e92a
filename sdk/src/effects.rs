//! Everything a plugin's logic needs from outside, as one trait, so the logic is tested
//! natively: the operator's settings, granted environment variables and files, HTTP
//! through the host, the clock, the host log and the client's request context. [`Wasi`] is
//! the real one, for the plugin's entry points; `Scripted` (the `testing` feature) is a
//! fake for native tests, with scripted answers and a record of every request, which can
//! also stand in for the whole host while a plugin's real action runs (`Scripted::run`).

use crate::Error;
use crate::http::{Request, Response};
#[cfg(feature = "testing")]
use std::{cell::RefCell, collections::BTreeMap};

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Debug,
}

pub trait Effects {
    /// The operator's setting `key`, if set.
    fn setting(&self, key: &str) -> Option<String>;
    /// A granted environment variable, if set and not empty.
    fn env(&self, name: &str) -> Option<String>;
    /// A granted file's text; `Ok(None)` if it does not exist.
    fn file(&self, path: &str) -> Result<Option<String>, Error>;
    /// Sends a request through the host.
    fn send(&self, request: &Request) -> Result<Response, Error>;
    /// Probes an endpoint that exists only on some machines: `Ok(Err(why))` when nothing
    /// answered at all (see [`Request::probe`]).
    fn probe(&self, request: &Request) -> Result<Result<Response, String>, Error>;
    /// Seconds since the epoch.
    fn now(&self) -> u64;
    /// A line in the host log (never a secret).
    fn log(&self, level: Level, message: &str);
    /// The kubelet's service-account token for the pod, if the request carries one.
    fn service_account_token(&self) -> Option<String>;
    /// A service-account annotation the kubelet passed.
    fn service_account_annotation(&self, key: &str) -> Option<String>;
    /// The image repository being pulled, if the client named one (see
    /// [`crate::request::image`]: asking makes the kubelet cache the answer per image).
    fn image(&self) -> Option<String>;

    /// `env` as a flag: `true` (any case) or `1`.
    fn env_flag(&self, name: &str) -> bool {
        self.env(name).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
}

/// The real effects: the host's capabilities.
pub struct Wasi;

impl Effects for Wasi {
    fn setting(&self, key: &str) -> Option<String> {
        crate::settings::get(key)
    }

    fn env(&self, name: &str) -> Option<String> {
        crate::env::var(name).filter(|v| !v.is_empty())
    }

    fn file(&self, path: &str) -> Result<Option<String>, Error> {
        match crate::files::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn send(&self, request: &Request) -> Result<Response, Error> {
        request.send()
    }

    fn probe(&self, request: &Request) -> Result<Result<Response, String>, Error> {
        request.probe()
    }

    fn now(&self) -> u64 {
        crate::time::now()
    }

    fn log(&self, level: Level, message: &str) {
        match level {
            Level::Info => crate::log::info(message),
            Level::Debug => crate::log::debug(message),
        }
    }

    fn service_account_token(&self) -> Option<String> {
        crate::request::service_account_token()
    }

    fn service_account_annotation(&self, key: &str) -> Option<String> {
        crate::request::service_account_annotation(key)
    }

    fn image(&self) -> Option<String> {
        crate::request::image()
    }
}

/// A fake for native tests: settings, environment, files, answers and the request context
/// set up front (anything not scripted is "connection refused"), requests and log lines
/// recorded, secrets kept in memory. Pass it as the `Effects` of a plugin's logic, or run a
/// plugin's real action against it with `Scripted::run`.
#[cfg(feature = "testing")]
#[derive(Default)]
pub struct Scripted {
    pub now: u64,
    pub settings: BTreeMap<String, String>,
    pub env: BTreeMap<String, String>,
    pub files: BTreeMap<String, String>,
    /// `METHOD url` → answers, served in order; the last one repeats.
    pub answers: BTreeMap<String, Vec<Response>>,
    pub sent: RefCell<Vec<Request>>,
    pub logs: RefCell<Vec<String>>,
    pub token: Option<String>,
    pub annotations: BTreeMap<String, String>,
    pub image: Option<String>,
    pub server_url: Option<String>,
    /// The plugin's secrets namespace, by key.
    pub secrets: RefCell<BTreeMap<String, crate::secrets::Secret>>,
}

#[cfg(feature = "testing")]
impl Scripted {
    /// A fake whose clock reads `now`.
    pub fn at(now: u64) -> Scripted {
        Scripted { now, ..Scripted::default() }
    }

    pub fn setting(mut self, key: &str, value: &str) -> Self {
        self.settings.insert(key.into(), value.into());
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// The kubelet's image for this request.
    pub fn image(mut self, image: &str) -> Self {
        self.image = Some(image.into());
        self
    }

    /// The server URL as a Docker client sent it.
    pub fn server_url(mut self, server_url: &str) -> Self {
        self.server_url = Some(server_url.into());
        self
    }

    /// A secret already kept in the plugin's namespace.
    pub fn secret(self, key: &str, account: &str, secret: &str) -> Self {
        let entry = crate::secrets::Secret { key: key.into(), account: account.into(), secret: secret.into() };
        self.secrets.borrow_mut().insert(key.into(), entry);
        self
    }

    pub fn file(mut self, path: &str, text: &str) -> Self {
        self.files.insert(path.into(), text.into());
        self
    }

    /// Answers `METHOD url` with `status` and `body`.
    pub fn answer(self, method_url: &str, status: u16, body: &str) -> Self {
        self.answer_with(method_url, status, &[], body)
    }

    /// Answers `METHOD url` with `status`, `headers` and `body`; scripting the same request
    /// again adds the next answer.
    pub fn answer_with(mut self, method_url: &str, status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        let headers = headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.to_string())).collect();
        self.answers.entry(method_url.into()).or_default().push(Response { status, headers, body: body.into() });
        self
    }

    /// `METHOD url` of every request sent, in order.
    pub fn sent(&self) -> Vec<String> {
        self.sent.borrow().iter().map(|r| format!("{} {}", r.method, r.url)).collect()
    }

    /// Header `name` of the `index`th request.
    pub fn header(&self, index: usize, name: &str) -> Option<String> {
        self.sent.borrow()[index].headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }

    /// The form fields of the `index`th request, decoded.
    pub fn form(&self, index: usize) -> Vec<(String, String)> {
        crate::http::form_decode(&self.body(index))
    }

    /// The body of the `index`th request as text.
    pub fn body(&self, index: usize) -> String {
        String::from_utf8(self.sent.borrow()[index].body.clone()).expect("a text body")
    }
}

#[cfg(feature = "testing")]
impl Effects for Scripted {
    fn setting(&self, key: &str) -> Option<String> {
        self.settings.get(key).cloned()
    }
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn file(&self, path: &str) -> Result<Option<String>, Error> {
        Ok(self.files.get(path).cloned())
    }
    fn send(&self, request: &Request) -> Result<Response, Error> {
        let key = format!("{} {}", request.method, request.url);
        let earlier = self.sent().iter().filter(|sent| **sent == key).count();
        self.sent.borrow_mut().push(request.clone());
        let answers = self.answers.get(&key).ok_or_else(|| Error::Upstream(format!("{key}: connection refused")))?;
        Ok(answers[earlier.min(answers.len() - 1)].clone())
    }
    fn probe(&self, request: &Request) -> Result<Result<Response, String>, Error> {
        let key = format!("{} {}", request.method, request.url);
        if self.answers.contains_key(&key) {
            return self.send(request).map(Ok);
        }
        // Nothing scripted: nothing answers.
        self.sent.borrow_mut().push(request.clone());
        Ok(Err(format!("{key}: connection refused")))
    }
    fn now(&self) -> u64 {
        self.now
    }
    fn log(&self, _: Level, message: &str) {
        self.logs.borrow_mut().push(message.to_string());
    }
    fn service_account_token(&self) -> Option<String> {
        self.token.clone()
    }
    fn service_account_annotation(&self, key: &str) -> Option<String> {
        self.annotations.get(key).cloned()
    }
    fn image(&self) -> Option<String> {
        self.image.clone()
    }
}
