//! Where a namespace's entries live in each backend. The namespace Docker's own stores use
//! (`docker-credential-helpers`) is laid out exactly as docker-credential-secretservice and
//! docker-credential-pass lay it out, so that both read what the other wrote; any other
//! namespace gets entries of its own that neither of them lists. Pure.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use host_core::grants::SecretsNamespace;
use std::collections::HashMap;

/// The Secret Service schema docker-credential-secretservice stores with (libsecret puts
/// it in the `xdg:schema` attribute), and the `label` attribute it sets.
pub const DOCKER_SCHEMA: &str = "io.docker.Credentials";
pub const DOCKER_LABEL: &str = "Docker Credentials";
/// The schema of every other namespace's entries.
pub const OWN_SCHEMA: &str = "io.github.docker_credential_wasm.Secret";

/// The attribute that names the libsecret schema of an item.
const SCHEMA_ATTRIBUTE: &str = "xdg:schema";

/// How one namespace's entries are found and written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    namespace: SecretsNamespace,
}

impl Layout {
    pub fn new(namespace: SecretsNamespace) -> Layout {
        Layout { namespace }
    }

    /// The attributes every item of the namespace has (what `list` searches for).
    pub fn namespace_attributes(&self) -> HashMap<&'static str, String> {
        match self.namespace.is_docker() {
            true => HashMap::from([(SCHEMA_ATTRIBUTE, DOCKER_SCHEMA.to_string())]),
            false => HashMap::from([
                (SCHEMA_ATTRIBUTE, OWN_SCHEMA.to_string()),
                ("namespace", self.namespace.name().to_string()),
            ]),
        }
    }

    /// The attributes that find `key`'s items.
    pub fn key_attributes(&self, key: &str) -> HashMap<&'static str, String> {
        let mut attributes = self.namespace_attributes();
        attributes.insert(self.key_attribute(), key.to_string());
        attributes
    }

    /// The attributes of the item `key` holds for `account`.
    pub fn item_attributes(&self, key: &str, account: &str) -> HashMap<&'static str, String> {
        let mut attributes = self.key_attributes(key);
        attributes.insert(self.account_attribute(), account.to_string());
        if self.namespace.is_docker() {
            attributes.insert("label", DOCKER_LABEL.to_string());
            attributes.insert("docker_cli", "1".to_string());
        }
        attributes
    }

    /// The attribute holding the key (the server URL, in Docker's layout).
    pub fn key_attribute(&self) -> &'static str {
        if self.namespace.is_docker() { "server" } else { "key" }
    }

    /// The attribute holding the account (the user name, in Docker's layout).
    pub fn account_attribute(&self) -> &'static str {
        if self.namespace.is_docker() { "username" } else { "account" }
    }

    /// The folder of the password store that holds the namespace.
    pub fn pass_folder(&self) -> String {
        match self.namespace.is_docker() {
            true => SecretsNamespace::DOCKER.to_string(),
            false => format!("docker-credential-wasm/{}", self.namespace.name()),
        }
    }

    /// The folder of `key`'s entry: `<namespace folder>/<key in URL-safe base64>`, as
    /// docker-credential-pass names it.
    pub fn pass_key_folder(&self, key: &str) -> String {
        format!("{}/{}", self.pass_folder(), URL_SAFE.encode(key))
    }

    /// The key a folder of the namespace holds, if its name is one.
    pub fn pass_key(folder_name: &str) -> Option<String> {
        String::from_utf8(URL_SAFE.decode(folder_name).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker() -> Layout {
        Layout::new(SecretsNamespace::parse(SecretsNamespace::DOCKER).unwrap())
    }

    #[test]
    fn dockers_namespace_is_laid_out_as_docker_credential_secretservice_and_pass_do() {
        let layout = docker();
        let attributes = layout.item_attributes("https://index.docker.io/v1/", "alice");
        let mut sorted: Vec<_> = attributes.iter().map(|(k, v)| (*k, v.as_str())).collect();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                ("docker_cli", "1"),
                ("label", "Docker Credentials"),
                ("server", "https://index.docker.io/v1/"),
                ("username", "alice"),
                ("xdg:schema", "io.docker.Credentials"),
            ]
        );
        // As docker-credential-pass 0.6.4 names them (seen on disk).
        assert_eq!(
            layout.pass_key_folder("https://index.docker.io/v1/"),
            "docker-credential-helpers/aHR0cHM6Ly9pbmRleC5kb2NrZXIuaW8vdjEv"
        );
        assert_eq!(layout.pass_key_folder("reg.example:5000"), "docker-credential-helpers/cmVnLmV4YW1wbGU6NTAwMA==");
        assert_eq!(Layout::pass_key("cmVnLmV4YW1wbGU6NTAwMA==").as_deref(), Some("reg.example:5000"));
        // The URL-safe alphabet: `?` and `>` encode to `_` and `-`, never `/`.
        assert_eq!(layout.pass_key_folder("??>>"), "docker-credential-helpers/Pz8-Pg==");
        assert_eq!(Layout::pass_key("not base64!"), None);
    }

    #[test]
    fn another_namespace_is_apart_from_dockers() {
        let layout = Layout::new(SecretsNamespace::parse("team-tokens").unwrap());
        let mut sorted: Vec<_> = layout.item_attributes("k", "a").into_iter().collect();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                ("account", "a".to_string()),
                ("key", "k".to_string()),
                ("namespace", "team-tokens".to_string()),
                ("xdg:schema", OWN_SCHEMA.to_string()),
            ]
        );
        assert_eq!(layout.pass_key_folder("k"), "docker-credential-wasm/team-tokens/aw==");
    }
}
