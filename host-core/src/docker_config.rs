//! Editing a client's credential config (Docker's `config.json`, containers' `auth.json`)
//! to send registries to this helper: `credHelpers` entries, or `credsStore`. Pure: text in,
//! text and the list of changes out. Every other field is kept as it was written (its text,
//! in its place); a file that is not a JSON object is refused, never rewritten.

use crate::registry::{DOCKER_HUB_SERVER_URL, Registry};
use indexmap::IndexMap;
use serde_json::value::RawValue;
use std::fmt;

/// Which client's file: Docker keys Docker Hub as `https://index.docker.io/v1/`,
/// containers/image as `docker.io`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Docker,
    Containers,
}

/// What to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The helper's name as clients spell it (`wasm` for `docker-credential-wasm`).
    pub helper: String,
    /// Registries to send to the helper (`credHelpers`); ignored with `creds_store`.
    pub registries: Vec<Registry>,
    /// Set `credsStore` instead: clients ask the helper about every registry.
    pub creds_store: bool,
    /// Replace entries that name another helper (otherwise they are kept).
    pub overwrite: bool,
}

/// One change (or deliberate non-change) to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added(String),
    Replaced {
        key: String,
        was: String,
    },
    /// An entry naming another helper, kept (no `--overwrite`).
    Kept {
        key: String,
        helper: String,
    },
    Unchanged(String),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added(key) => write!(f, "+ {key}"),
            Change::Replaced { key, was } => write!(f, "~ {key} (was {was:?})"),
            Change::Kept { key, helper } => write!(f, "= {key} kept: it uses {helper:?}; --overwrite replaces it"),
            Change::Unchanged(key) => write!(f, "= {key} (already set)"),
        }
    }
}

/// The file's new text (`None` when nothing changes) and the changes, for `text` (the
/// file's contents, `None` when it does not exist). An error says why the file cannot be
/// edited; nothing is to be written then.
pub fn edit(text: Option<&str>, client: Client, edit: &Edit) -> Result<(Option<String>, Vec<Change>), String> {
    let mut fields = parse_object(text)?;
    let mut changes = Vec::new();
    if edit.creds_store {
        let current: Option<String> = field(&fields, "credsStore")?;
        let key = "credsStore".to_string();
        let change = match current {
            Some(helper) if helper == edit.helper => Change::Unchanged(key),
            Some(helper) if !edit.overwrite && !helper.is_empty() => Change::Kept { key, helper },
            Some(was) => Change::Replaced { key, was },
            None => Change::Added(key),
        };
        if matches!(change, Change::Added(_) | Change::Replaced { .. }) {
            fields.insert("credsStore".into(), raw(&edit.helper));
        }
        changes.push(change);
    } else {
        let mut helpers: IndexMap<String, String> = field(&fields, "credHelpers")?.unwrap_or_default();
        for registry in &edit.registries {
            let key = match (client, registry.is_docker_hub()) {
                (Client::Docker, true) => DOCKER_HUB_SERVER_URL.to_string(),
                _ => registry.to_string(),
            };
            let change = match helpers.get(&key) {
                Some(helper) if *helper == edit.helper => Change::Unchanged(key),
                Some(helper) if !edit.overwrite => Change::Kept { key, helper: helper.clone() },
                Some(was) => Change::Replaced { key: key.clone(), was: was.clone() },
                None => Change::Added(key),
            };
            if let Change::Added(key) | Change::Replaced { key, .. } = &change {
                helpers.insert(key.clone(), edit.helper.clone());
            }
            changes.push(change);
        }
        fields.insert("credHelpers".into(), pretty(&helpers));
    }
    if !changes.iter().any(|c| matches!(c, Change::Added(_) | Change::Replaced { .. })) {
        return Ok((None, changes));
    }
    Ok((Some(tab_indented(&fields) + "\n"), changes))
}

/// A login kept in plain text in a client's file (base64 is not encryption): its key as the
/// client wrote it, and its credentials. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainLogin {
    pub key: String,
    pub username: String,
    pub secret: String,
}

impl fmt::Debug for PlainLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainLogin").field("key", &self.key).field("username", &self.username).finish_non_exhaustive()
    }
}

/// One `auths` entry as Docker and containers/image write it.
#[derive(serde::Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    identitytoken: String,
}

/// The plain-text logins of the file `text`, in its order: `auths` entries with an `auth`
/// (base64 of `user:password`), a `username` and `password`, or an `identitytoken` (stored
/// as Docker's credential stores keep one: user `<token>`). Placeholders (`{}`, what Docker
/// leaves beside a credential store) hold none. An entry that cannot be read is an error
/// naming its key.
pub fn plain_logins(text: &str) -> Result<Vec<PlainLogin>, String> {
    use base64::Engine;
    let fields: IndexMap<String, Box<RawValue>> = parse_object(Some(text))?;
    let auths: IndexMap<String, AuthEntry> = field(&fields, "auths")?.unwrap_or_default();
    let mut logins = Vec::new();
    for (key, entry) in auths {
        let (username, secret) = if !entry.identitytoken.is_empty() {
            ("<token>".to_string(), entry.identitytoken)
        } else if !entry.auth.is_empty() {
            let engine = base64::engine::general_purpose::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            );
            let decoded = engine.decode(entry.auth.trim()).ok().and_then(|bytes| String::from_utf8(bytes).ok());
            let Some((username, secret)) = decoded.as_deref().and_then(|text| text.split_once(':')) else {
                return Err(format!("the login for {key:?} is not base64 of `user:password`"));
            };
            (username.to_string(), secret.to_string())
        } else if !entry.username.is_empty() {
            (entry.username, entry.password)
        } else {
            continue;
        };
        logins.push(PlainLogin { key, username, secret });
    }
    Ok(logins)
}

/// `text` without the logins of `moved` (keys of `auths`) and, for Docker, with `credsStore`
/// set to `helper`. Docker's entries stay as `{}`: Docker itself keeps that placeholder beside
/// a credential store, and `docker logout` looks for it. Every other field is kept as written.
pub fn without_logins(text: &str, client: Client, moved: &[String], helper: &str) -> Result<String, String> {
    let mut fields: IndexMap<String, Box<RawValue>> = parse_object(Some(text))?;
    let mut auths: IndexMap<String, Box<RawValue>> = field(&fields, "auths")?.unwrap_or_default();
    for key in moved {
        match client {
            Client::Docker => {
                auths.insert(key.clone(), raw(&serde_json::Map::new()));
            }
            Client::Containers => {
                auths.shift_remove(key);
            }
        }
    }
    fields.insert("auths".into(), pretty(&auths));
    if client == Client::Docker {
        fields.insert("credsStore".into(), raw(&helper));
    }
    Ok(tab_indented(&fields) + "\n")
}

/// The file's top-level object (`None` or blank: an empty one).
fn parse_object(text: Option<&str>) -> Result<IndexMap<String, Box<RawValue>>, String> {
    match text.map(str::trim) {
        None | Some("") => Ok(IndexMap::new()),
        Some(text) => serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => "it is JSON, but not an object".to_string(),
            _ => format!("it is not valid JSON: {e}"),
        }),
    }
}

/// `value` as Docker writes its config: indented with tabs.
fn tab_indented(value: &impl serde::Serialize) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    serde::Serialize::serialize(value, &mut serde_json::Serializer::with_formatter(&mut out, formatter))
        .expect("maps of strings serialise");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// `value`, tab-indented, as a field of the top-level object.
fn pretty(value: &impl serde::Serialize) -> Box<RawValue> {
    RawValue::from_string(tab_indented(value).replace('\n', "\n\t")).expect("valid JSON")
}

/// The field `name` of the file, if present, as `T`; an error names it when it has another shape.
fn field<T: serde::de::DeserializeOwned>(
    fields: &IndexMap<String, Box<RawValue>>,
    name: &str,
) -> Result<Option<T>, String> {
    fields
        .get(name)
        .map(|value| {
            serde_json::from_str(value.get()).map_err(|e| format!("its {name:?} is not what clients write: {e}"))
        })
        .transpose()
}

fn raw(value: &impl serde::Serialize) -> Box<RawValue> {
    RawValue::from_string(serde_json::to_string(value).expect("strings serialise")).expect("valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registries(names: &[&str]) -> Vec<Registry> {
        names.iter().map(|name| Registry::parse(name).unwrap()).collect()
    }

    fn helpers(names: &[&str]) -> Edit {
        Edit { helper: "wasm".into(), registries: registries(names), creds_store: false, overwrite: false }
    }

    #[test]
    fn entries_are_added_and_every_other_field_is_kept_as_written() {
        let text = "{\n\t\"auths\": {\n\t\t\"https://index.docker.io/v1/\": {}\n\t},\n\t\"credHelpers\": {\n\t\t\"gcr.io\": \"gcloud\"\n\t},\n\t\"psFormat\": \"table {{.ID}}\",\n\t\"unknownToUs\": [1, 2.50, {\"nested\": true}]\n}\n";
        let (new, changes) =
            edit(Some(text), Client::Docker, &helpers(&["myreg.azurecr.io", "gcr.io", "docker.io"])).unwrap();
        assert_eq!(
            changes,
            [
                Change::Added("myreg.azurecr.io".into()),
                Change::Kept { key: "gcr.io".into(), helper: "gcloud".into() },
                Change::Added("https://index.docker.io/v1/".into()),
            ]
        );
        assert_eq!(
            new.unwrap(),
            "{\n\t\"auths\": {\n\t\t\"https://index.docker.io/v1/\": {}\n\t},\n\t\"credHelpers\": {\n\t\t\"gcr.io\": \"gcloud\",\n\t\t\"myreg.azurecr.io\": \"wasm\",\n\t\t\"https://index.docker.io/v1/\": \"wasm\"\n\t},\n\t\"psFormat\": \"table {{.ID}}\",\n\t\"unknownToUs\": [1, 2.50, {\"nested\": true}]\n}\n"
        );
    }

    #[test]
    fn a_second_run_changes_nothing_and_overwrite_replaces() {
        let (first, _) = edit(None, Client::Containers, &helpers(&["docker.io", "127.0.0.1:5000"])).unwrap();
        let first = first.unwrap();
        assert_eq!(
            first,
            "{\n\t\"credHelpers\": {\n\t\t\"docker.io\": \"wasm\",\n\t\t\"127.0.0.1:5000\": \"wasm\"\n\t}\n}\n"
        );
        let (again, changes) = edit(Some(&first), Client::Containers, &helpers(&["docker.io"])).unwrap();
        assert_eq!((again, changes), (None, vec![Change::Unchanged("docker.io".into())]));
        let mut replace = helpers(&["docker.io"]);
        (replace.helper, replace.overwrite) = ("ecr-login".into(), true);
        let (_, changes) = edit(Some(&first), Client::Containers, &replace).unwrap();
        assert_eq!(changes, [Change::Replaced { key: "docker.io".into(), was: "wasm".into() }]);
    }

    #[test]
    fn creds_store_is_set_only_over_nothing_or_with_overwrite() {
        let store = Edit { helper: "wasm".into(), registries: Vec::new(), creds_store: true, overwrite: false };
        let (new, changes) = edit(Some("{\"auths\":{}}"), Client::Docker, &store).unwrap();
        assert_eq!(
            (new.unwrap().as_str(), changes),
            ("{\n\t\"auths\": {},\n\t\"credsStore\": \"wasm\"\n}\n", vec![Change::Added("credsStore".into())])
        );
        let (new, changes) = edit(Some("{\"credsStore\":\"desktop\"}"), Client::Docker, &store).unwrap();
        assert_eq!((new, changes), (None, vec![Change::Kept { key: "credsStore".into(), helper: "desktop".into() }]));
    }

    #[test]
    fn plain_logins_are_read_and_moved_out_keeping_everything_else() {
        let text = "{\n\t\"auths\": {\n\t\t\"https://index.docker.io/v1/\": {\"auth\": \"YWxpY2U6cGE6c3M=\", \"email\": \"a@example.com\"},\n\t\t\"registry.example\": {\"identitytoken\": \"refresh-token\"},\n\t\t\"placeholder.example\": {},\n\t\t\"quay.io\": {\"username\": \"bob\", \"password\": \"pw\"}\n\t},\n\t\"psFormat\": \"table\"\n}\n";
        let logins = plain_logins(text).unwrap();
        let seen: Vec<_> = logins.iter().map(|l| (l.key.as_str(), l.username.as_str(), l.secret.as_str())).collect();
        assert_eq!(
            seen,
            [
                ("https://index.docker.io/v1/", "alice", "pa:ss"),
                ("registry.example", "<token>", "refresh-token"),
                ("quay.io", "bob", "pw"),
            ]
        );
        assert!(!format!("{logins:?}").contains("pa:ss"));
        let moved = ["https://index.docker.io/v1/".to_string(), "quay.io".to_string()];
        assert_eq!(
            without_logins(text, Client::Docker, &moved, "wasm").unwrap(),
            "{\n\t\"auths\": {\n\t\t\"https://index.docker.io/v1/\": {},\n\t\t\"registry.example\": {\"identitytoken\": \"refresh-token\"},\n\t\t\"placeholder.example\": {},\n\t\t\"quay.io\": {}\n\t},\n\t\"psFormat\": \"table\",\n\t\"credsStore\": \"wasm\"\n}\n"
        );
        assert_eq!(
            without_logins(text, Client::Containers, &moved, "wasm").unwrap(),
            "{\n\t\"auths\": {\n\t\t\"registry.example\": {\"identitytoken\": \"refresh-token\"},\n\t\t\"placeholder.example\": {}\n\t},\n\t\"psFormat\": \"table\"\n}\n"
        );
        assert_eq!(
            plain_logins("{\"auths\": {\"bad.example\": {\"auth\": \"!!\"}}}").unwrap_err(),
            "the login for \"bad.example\" is not base64 of `user:password`"
        );
    }

    #[test]
    fn a_file_that_is_not_an_object_is_refused() {
        for (text, why) in [
            ("{\"auths\": ", "it is not valid JSON: EOF while parsing"),
            ("[1, 2]", "it is JSON, but not an object"),
            ("{\"credHelpers\": [\"gcr.io\"]}", "its \"credHelpers\" is not what clients write"),
        ] {
            let error = edit(Some(text), Client::Docker, &helpers(&["gcr.io"])).unwrap_err();
            assert!(error.starts_with(why), "{text}: {error}");
        }
    }
}
