//! Clients' config files (`~/.docker/config.json`, containers' `auth.json`), any text, as
//! `configure-docker` and `import` read and rewrite them: an edit or a move of the plain
//! logins gives valid JSON that keeps every other field as it was, leaves none of the moved
//! logins behind, or fails with a message and nothing written.
#![no_main]

use host_core::docker_config::{Client, Edit, edit, plain_logins, without_logins};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A config's top-level fields as written (a number too large for a float stays as written).
type Fields = BTreeMap<String, Box<RawValue>>;

fn same(a: Option<&Box<RawValue>>, b: &RawValue) -> bool {
    a.is_some_and(|a| a.get() == b.get())
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(data) else { return };
    let client = if flags & 1 == 0 { Client::Docker } else { Client::Containers };
    // A blank file is an empty one.
    let before: Option<Fields> =
        if text.trim().is_empty() { Some(Fields::new()) } else { serde_json::from_str(text.trim()).ok() };
    let wanted = Edit { helper: "wasm".into(), registries: Vec::new(), creds_store: true, overwrite: flags & 2 != 0 };
    if let Ok((Some(written), _changes)) = edit(Some(text), client, &wanted) {
        let after: Fields = serde_json::from_str(&written).expect("the edit is a JSON object");
        let before = before.as_ref().expect("only a JSON object is edited");
        for (key, value) in before {
            if key != "credsStore" && key != "credHelpers" {
                assert!(same(after.get(key), value), "{key} changed");
            }
        }
    }
    let Ok(logins) = plain_logins(text) else { return };
    let moved: Vec<String> = logins.iter().map(|login| login.key.clone()).collect();
    let written = without_logins(text, client, &moved, "wasm").expect("what plain_logins read can be rewritten");
    let after: Fields = serde_json::from_str(&written).expect("the rewrite is a JSON object");
    let left = plain_logins(&written).expect("the rewrite reads back");
    assert!(left.iter().all(|login| !moved.contains(&login.key)), "a moved login is still there");
    if let Some(before) = before {
        for (key, value) in &before {
            if key != "auths" && key != "credsStore" {
                assert!(same(after.get(key), value), "{key} changed");
            }
        }
    }
});
