//! The plugin error type (the WIT variant `error`) and its `?`-friendly conversions.

use crate::__private::bindings::docker_credential_wasm::plugin::files::FileError;
use crate::secrets::SecretError;

/// Why a plugin could not answer (the WIT variant `error`). Each case carries a
/// message for the host log that names the bad value or endpoint; never put a
/// secret in it.
pub use crate::__private::bindings::docker_credential_wasm::plugin::types::Error;

impl Error {
    /// The message carried by any variant.
    pub fn message(&self) -> &str {
        match self {
            Error::NotFound(m)
            | Error::Unsupported(m)
            | Error::Denied(m)
            | Error::Upstream(m)
            | Error::InvalidInput(m) => m,
        }
    }

    /// The same error with `context: ` put in front of its message.
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        let wrap = |m: String| format!("{context}: {m}");
        match self {
            Error::NotFound(m) => Error::NotFound(wrap(m)),
            Error::Unsupported(m) => Error::Unsupported(wrap(m)),
            Error::Denied(m) => Error::Denied(wrap(m)),
            Error::Upstream(m) => Error::Upstream(wrap(m)),
            Error::InvalidInput(m) => Error::InvalidInput(wrap(m)),
        }
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other) && self.message() == other.message()
    }
}
impl Eq for Error {}

impl From<FileError> for Error {
    fn from(error: FileError) -> Self {
        match error {
            FileError::NotGranted(name) => Error::Denied(format!(
                "the file {name} is not granted to this plugin; add it to the plugin's `files` grant"
            )),
            FileError::NotFound(name) => Error::NotFound(format!("the file {name} does not exist")),
            FileError::TooLarge(name) => Error::InvalidInput(format!("the file {name} is larger than the host allows")),
            FileError::Io(message) => Error::Upstream(message),
        }
    }
}

impl From<SecretError> for Error {
    fn from(error: SecretError) -> Self {
        match error {
            SecretError::NotGranted(m) | SecretError::Locked(m) => Error::Denied(m),
            SecretError::Unavailable(m) | SecretError::Failed(m) => Error::Upstream(m),
            SecretError::Invalid(m) => Error::InvalidInput(m),
        }
    }
}

impl From<std::string::FromUtf8Error> for Error {
    fn from(_: std::string::FromUtf8Error) -> Self {
        Error::InvalidInput("expected UTF-8 text".into())
    }
}
