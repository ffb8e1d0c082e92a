//! Where the static plugin's secret comes from, and how a raw value becomes a secret.
//! Pure functions, tested natively.

use docker_credential_wasm_sdk::Error;

/// The one place the operator told the plugin to read the secret from.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// A granted environment variable, by name.
    Env(String),
    /// A granted file, by path.
    File(String),
    /// The value written in the operator's config.
    Literal(String),
}

impl SecretSource {
    /// Chooses the source from the settings `secret-env`, `secret-file` and `secret`:
    /// exactly one must be set.
    pub fn from_settings(env: Option<String>, file: Option<String>, literal: Option<String>) -> Result<Self, Error> {
        match (env, file, literal) {
            (Some(name), None, None) => Ok(SecretSource::Env(name)),
            (None, Some(path), None) => Ok(SecretSource::File(path)),
            (None, None, Some(value)) => Ok(SecretSource::Literal(value)),
            (None, None, None) => Err(Error::InvalidInput(
                "no secret source: set one of the settings `secret-env` (an environment \
                 variable), `secret-file` (a file) or `secret` (the value itself)"
                    .into(),
            )),
            _ => Err(Error::InvalidInput(
                "more than one secret source: set only one of the settings `secret-env`, \
                 `secret-file` and `secret`"
                    .into(),
            )),
        }
    }
}

/// The secret from environment variable `name`, whose value the sandbox gave as `value`
/// (`None` when the variable is unset or not granted: the plugin cannot tell which).
pub fn from_env(name: &str, value: Option<String>) -> Result<String, Error> {
    match value {
        Some(value) if !value.is_empty() => Ok(value),
        Some(_) => Err(Error::InvalidInput(format!("the environment variable {name} is empty"))),
        None => Err(Error::InvalidInput(format!(
            "the environment variable {name} is not set, or not granted: set it where the \
             client runs and add \"{name}\" to the plugin's `env` grant"
        ))),
    }
}

/// The secret from the contents of the file `path`: UTF-8, with one trailing line
/// ending removed (files written by `echo` or editors end with one).
pub fn from_file(path: &str, contents: Vec<u8>) -> Result<String, Error> {
    let mut text =
        String::from_utf8(contents).map_err(|_| Error::InvalidInput(format!("the file {path} is not UTF-8")))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(Error::InvalidInput(format!("the file {path} is empty")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn exactly_one_source_is_chosen() {
        assert_eq!(SecretSource::from_settings(s("PW"), None, None), Ok(SecretSource::Env("PW".into())));
        assert_eq!(SecretSource::from_settings(None, s("/f"), None), Ok(SecretSource::File("/f".into())));
        assert_eq!(SecretSource::from_settings(None, None, s("x")), Ok(SecretSource::Literal("x".into())));
    }

    #[test]
    fn no_source_or_two_sources_are_errors_that_name_the_settings() {
        let none = SecretSource::from_settings(None, None, None).unwrap_err();
        assert!(
            matches!(&none, Error::InvalidInput(m) if m.starts_with("no secret source: set one of the settings `secret-env`"))
        );
        let two = SecretSource::from_settings(s("PW"), s("/f"), None).unwrap_err();
        assert!(matches!(&two, Error::InvalidInput(m) if m.starts_with("more than one secret source")));
    }

    #[test]
    fn env_secret_must_be_set_and_non_empty() {
        assert_eq!(from_env("PW", s("hunter2")), Ok("hunter2".to_string()));
        assert_eq!(from_env("PW", s("")), Err(Error::InvalidInput("the environment variable PW is empty".into())));
        let unset = from_env("PW", None).unwrap_err();
        assert!(unset.message().contains("add \"PW\" to the plugin's `env` grant"), "{unset:?}");
    }

    #[test]
    fn file_secret_loses_one_trailing_line_ending_only() {
        assert_eq!(from_file("/f", b"pw\n".to_vec()), Ok("pw".to_string()));
        assert_eq!(from_file("/f", b"pw\r\n".to_vec()), Ok("pw".to_string()));
        assert_eq!(from_file("/f", b"pw\n\n".to_vec()), Ok("pw\n".to_string()));
        assert_eq!(from_file("/f", b" pw ".to_vec()), Ok(" pw ".to_string()));
        assert_eq!(from_file("/f", b"\n".to_vec()), Err(Error::InvalidInput("the file /f is empty".into())));
        assert_eq!(from_file("/f", vec![0xff]), Err(Error::InvalidInput("the file /f is not UTF-8".into())));
    }
}
