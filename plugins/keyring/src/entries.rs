//! How Docker credentials map to stored secrets: the key is the server URL as the client
//! sent it, the account the user name. Pure, so tested natively.

use docker_credential_wasm_sdk::secrets::Secret;
use docker_credential_wasm_sdk::{Credentials, Error, RegistryEntry};

/// The key of `registry`'s entry: the server URL as the client sent it, else the
/// registry (a client that named none).
pub fn key(server_url: Option<String>, registry: &str) -> String {
    server_url.filter(|url| !url.is_empty()).unwrap_or_else(|| registry.to_string())
}

/// The entry `docker login` stores for `key`.
pub fn secret(key: String, credentials: Credentials) -> Result<Secret, Error> {
    if credentials.username.is_empty() {
        return Err(Error::InvalidInput(format!("no user name to store for {key}")));
    }
    Ok(Secret { key, account: credentials.username, secret: credentials.secret })
}

/// The credentials of a `get` for `key`.
pub fn credentials(key: &str, found: Option<Secret>) -> Result<Credentials, Error> {
    let found = found.ok_or_else(|| Error::NotFound(format!("nothing is stored for {key}")))?;
    Ok(Credentials::new(found.account, found.secret))
}

/// `list`'s entries: each key (a server URL) with its user name.
pub fn listed(listed: Vec<(String, String)>) -> Vec<RegistryEntry> {
    listed.into_iter().map(|(registry, username)| RegistryEntry { registry, username }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_server_url_as_sent() {
        assert_eq!(key(Some("https://index.docker.io/v1/".into()), "docker.io"), "https://index.docker.io/v1/");
        assert_eq!(key(Some("Registry.Example:5000".into()), "registry.example:5000"), "Registry.Example:5000");
        assert_eq!(key(None, "registry.example:5000"), "registry.example:5000");
        assert_eq!(key(Some(String::new()), "registry.example"), "registry.example");
    }

    #[test]
    fn a_login_is_stored_and_read_back_unchanged() {
        let stored = secret("reg.example".into(), Credentials::new("alice", "pa ss\nword")).unwrap();
        assert_eq!(
            (stored.key.as_str(), stored.account.as_str(), stored.secret.as_str()),
            ("reg.example", "alice", "pa ss\nword")
        );
        assert_eq!(credentials("reg.example", Some(stored)).unwrap(), Credentials::new("alice", "pa ss\nword"));
        assert_eq!(
            credentials("reg.example", None).unwrap_err(),
            Error::NotFound("nothing is stored for reg.example".into())
        );
        assert_eq!(
            secret("reg.example".into(), Credentials::new("", "x")).unwrap_err(),
            Error::InvalidInput("no user name to store for reg.example".into())
        );
    }

    #[test]
    fn list_maps_each_server_url_to_its_user() {
        let entries = listed(vec![("https://index.docker.io/v1/".into(), "alice".into())]);
        let entries: Vec<(&str, &str)> = entries.iter().map(|e| (e.registry.as_str(), e.username.as_str())).collect();
        assert_eq!(entries, [("https://index.docker.io/v1/", "alice")]);
    }
}
