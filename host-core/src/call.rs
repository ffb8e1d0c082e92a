//! One plugin call as the host's core sees it: what is asked, what comes back, and the
//! plugin's own errors. These are the core's types; the sandbox maps them to and from the
//! WIT world's, so nothing here names the WebAssembly engine.

use std::collections::BTreeMap;
use std::fmt;

/// Credentials a plugin returns, or a client asks to store.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
    /// When they expire (seconds since the epoch), if the plugin knows.
    pub expires_at: Option<u64>,
}

// By hand, so that the secret never reaches a log line or a panic message.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A plugin's own error: its kind and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    NotFound(String),
    Unsupported(String),
    Denied(String),
    Upstream(String),
    InvalidInput(String),
}

impl PluginError {
    /// The kinds as messages name them, in the order of the WIT variant.
    const KINDS: [&str; 5] = ["not found", "unsupported", "denied", "upstream failure", "invalid input"];

    /// What kind of error this is, as messages name it.
    pub fn kind(&self) -> &'static str {
        Self::KINDS[self.index()]
    }

    pub fn message(&self) -> &str {
        match self {
            PluginError::NotFound(m)
            | PluginError::Unsupported(m)
            | PluginError::Denied(m)
            | PluginError::Upstream(m)
            | PluginError::InvalidInput(m) => m,
        }
    }

    /// The error of kind `kind` (as [`PluginError::kind`] names it); an unknown kind is
    /// invalid input.
    pub fn from_kind(kind: &str, message: String) -> PluginError {
        match Self::KINDS.iter().position(|k| *k == kind) {
            Some(0) => PluginError::NotFound(message),
            Some(1) => PluginError::Unsupported(message),
            Some(2) => PluginError::Denied(message),
            Some(3) => PluginError::Upstream(message),
            _ => PluginError::InvalidInput(message),
        }
    }

    fn index(&self) -> usize {
        match self {
            PluginError::NotFound(_) => 0,
            PluginError::Unsupported(_) => 1,
            PluginError::Denied(_) => 2,
            PluginError::Upstream(_) => 3,
            PluginError::InvalidInput(_) => 4,
        }
    }
}

/// One row of a plugin's `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    pub registry: String,
    pub username: String,
}

/// What the client said about a `get` beyond the registry: empty for Docker clients; the
/// image, service-account token and annotations for the kubelet.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The image repository, `host[:port]/path`, when the client named one.
    pub image: Option<String>,
    /// The pod's service-account token (a secret).
    pub service_account_token: Option<String>,
    /// The service account's annotations the kubelet passed.
    pub service_account_annotations: BTreeMap<String, String>,
    /// The server URL as a Docker client sent it (not for the kubelet, which names images).
    pub server_url: Option<String>,
}

impl RequestContext {
    /// The context of a Docker client's request for `server_url`.
    pub fn docker(server_url: &str) -> RequestContext {
        RequestContext { server_url: Some(server_url.to_string()), ..RequestContext::default() }
    }
}

// By hand, so that the token never reaches a log line or a panic message.
impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("image", &self.image)
            .field("service_account_token", &self.service_account_token.as_ref().map(|_| "<redacted>"))
            .field("service_account_annotations", &self.service_account_annotations)
            .field("server_url", &self.server_url)
            .finish()
    }
}

/// One call into a plugin's `helper` interface.
#[derive(Debug, Clone)]
pub enum Call {
    Get(String, RequestContext),
    Store(String, Credentials, RequestContext),
    Erase(String, RequestContext),
    List(Vec<String>),
}

/// What a call gives: the outer error is the sandbox's (cannot load, trap, deadline,
/// memory); the inner result is the plugin's own answer.
pub type CallOutcome = anyhow::Result<Result<Reply, PluginError>>;

/// A successful answer to a [`Call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Credentials(Credentials, Scope),
    Done,
    Entries(Vec<RegistryEntry>),
}

/// Whom credentials are for: the whole registry, or (when the plugin read the image it
/// was asked about) possibly only that image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Registry,
    Image,
}

impl Reply {
    /// What kind of answer this is, for messages (never the values: they hold secrets).
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Credentials(..) => "credentials",
            Reply::Done => "done",
            Reply::Entries(_) => "a list",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_token_or_the_secret() {
        let context = RequestContext {
            image: Some("example.com/app".into()),
            service_account_token: Some("eyJhbGciOiJSUzI1NiJ9.secret".into()),
            service_account_annotations: BTreeMap::from([("k".into(), "v".into())]),
            server_url: None,
        };
        let shown = format!("{context:?}");
        assert!(!shown.contains("eyJ"), "{shown}");
        assert_eq!(
            shown,
            r#"RequestContext { image: Some("example.com/app"), service_account_token: Some("<redacted>"), service_account_annotations: {"k": "v"}, server_url: None }"#
        );
        let credentials = Credentials { username: "u".into(), secret: "hunter2".into(), expires_at: None };
        assert_eq!(
            format!("{credentials:?}"),
            r#"Credentials { username: "u", secret: "<redacted>", expires_at: None }"#
        );
    }

    #[test]
    fn every_error_kind_maps_back_to_itself() {
        for error in [
            PluginError::NotFound("a".into()),
            PluginError::Unsupported("b".into()),
            PluginError::Denied("c".into()),
            PluginError::Upstream("d".into()),
            PluginError::InvalidInput("e".into()),
        ] {
            assert_eq!(PluginError::from_kind(error.kind(), error.message().to_string()), error);
        }
    }
}
