//! What the plugin's logic needs from the outside world, as a trait so the logic is tested
//! natively with a scripted fake: granted environment variables and files, HTTP through the
//! host, the clock, the host log. `Wasi` is the real one.

use guest_sdk::Error;
use guest_sdk::http::{Request, Response};

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Debug,
}

pub trait Context {
    /// A granted environment variable, if set and not empty.
    fn env(&self, name: &str) -> Option<String>;
    /// A granted file's text; `Ok(None)` if it does not exist.
    fn file(&self, path: &str) -> Result<Option<String>, Error>;
    /// Sends a request through the host.
    fn send(&self, request: &Request) -> Result<Response, Error>;
    /// Seconds since the epoch.
    fn now(&self) -> u64;
    /// A line in the host log (never a secret).
    fn log(&self, level: Level, message: &str);
    /// The kubelet's service-account token for the pod, if the request carries one.
    fn service_account_token(&self) -> Option<String>;
    /// A service-account annotation the kubelet passed.
    fn service_account_annotation(&self, key: &str) -> Option<String>;

    /// `env` as a flag: `true` (any case) or `1`.
    fn env_flag(&self, name: &str) -> bool {
        self.env(name).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
}

/// The real context: the host's capabilities.
pub struct Wasi;

impl Context for Wasi {
    fn env(&self, name: &str) -> Option<String> {
        guest_sdk::env::var(name).filter(|v| !v.is_empty())
    }

    fn file(&self, path: &str) -> Result<Option<String>, Error> {
        match guest_sdk::files::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn send(&self, request: &Request) -> Result<Response, Error> {
        request.send()
    }

    fn now(&self) -> u64 {
        guest_sdk::time::now()
    }

    fn log(&self, level: Level, message: &str) {
        match level {
            Level::Info => guest_sdk::log::info(message),
            Level::Debug => guest_sdk::log::debug(message),
        }
    }

    fn service_account_token(&self) -> Option<String> {
        guest_sdk::request::service_account_token()
    }

    fn service_account_annotation(&self, key: &str) -> Option<String> {
        guest_sdk::request::service_account_annotation(key)
    }
}
