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
    let mut fields: IndexMap<String, Box<RawValue>> = match text.map(str::trim) {
        None | Some("") => IndexMap::new(),
        Some(text) => serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => "it is JSON, but not an object".to_string(),
            _ => format!("it is not valid JSON: {e}"),
        })?,
    };
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
