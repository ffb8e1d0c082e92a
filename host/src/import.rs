//! `import`: moves the plain-text logins of Docker's `config.json` (or containers'
//! `auth.json`) into the credential store, then rewrites the file without them (and, for
//! Docker, with `"credsStore": "wasm"`), atomically. Every login is stored before the file
//! changes; if any cannot be, the ones stored are undone and the file is left as it is.

use crate::configure::{default_file, write_atomically};
use crate::plugins::WasmPlugins;
use anyhow::Context;
use host_core::actions::{self, Stored};
use host_core::call::Credentials;
use host_core::config::Config;
use host_core::docker_config::{self, Client};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `credsStore` values whose logins the keyring plugin shares (same entries), so that
/// switching from them loses nothing.
const SHARED_STORES: [&str; 2] = ["secretservice", "pass"];

pub fn run(
    config: &Config,
    containers: bool,
    file: Option<PathBuf>,
    dry_run: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let client = if containers { Client::Containers } else { Client::Docker };
    let path = match file {
        Some(path) => path,
        None => default_file(client)?,
    };
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            writeln!(out, "{}: does not exist; nothing to import", path.display())?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let left = |why: String| anyhow::anyhow!("{} is left as it is: {why}", path.display());
    let logins = docker_config::plain_logins(&text).map_err(left)?;
    if client == Client::Docker {
        let current = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["credsStore"].as_str().map(str::to_string))
            .filter(|store| !store.is_empty() && store != "wasm");
        if let Some(store) = current {
            if !SHARED_STORES.contains(&store.as_str()) {
                return Err(left(format!(
                    "it keeps logins in docker-credential-{store} (\"credsStore\": {store:?}), which this helper cannot read; log in again after setting \"credsStore\": \"wasm\""
                )));
            }
            let backend = if store == "pass" { "pass" } else { "secret-service" };
            writeln!(
                out,
                "note: the logins docker-credential-{store} kept stay where they are and are read from there; if both a keyring and a password store are set up here, set `[store] backend = \"{backend}\"` in the config so that this helper uses the same one"
            )?;
        }
    }
    if logins.is_empty() {
        writeln!(out, "{}: no plain-text logins; nothing to import", path.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let plugins = &mut WasmPlugins::default();
    let mut moved = Vec::new();
    let mut stored = Vec::new();
    let mut failures = Vec::new();
    let verb = if dry_run { "would move" } else { "moved" };
    writeln!(out, "{}:", path.display())?;
    for login in logins {
        // Repository-scoped keys (containers' `quay.io/team`) have no credential-helper form.
        let scoped =
            login.key.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/').contains('/')
                && login.key != host_core::registry::DOCKER_HUB_SERVER_URL;
        if scoped {
            writeln!(
                out,
                "  = {} left in place: a login for part of a registry; credential helpers hold one per registry",
                login.key
            )?;
            continue;
        }
        if dry_run {
            writeln!(out, "  - {} (user {}) {verb} into the credential store", login.key, login.username)?;
            moved.push(login.key);
            continue;
        }
        let credentials = Credentials { username: login.username.clone(), secret: login.secret, expires_at: None };
        match actions::store_login(config, &login.key, credentials, plugins) {
            Ok(Stored::Kept { plugin, previous }) => {
                writeln!(out, "  - {} (user {}) {verb} into plugin {plugin:?}", login.key, login.username)?;
                stored.push((login.key.clone(), previous));
                moved.push(login.key);
            }
            Ok(Stored::NotKept { plugin }) => {
                let why = plugin
                    .map_or("no plugin serves it".to_string(), |p| format!("plugin {p:?} mints its own credentials"));
                writeln!(out, "  = {} left in place: {why}", login.key)?;
            }
            Err(error) => failures.push(format!("{}: {error}", login.key)),
        }
    }
    if !failures.is_empty() {
        for (key, previous) in stored.into_iter().rev() {
            actions::undo_store(config, &key, previous, plugins);
        }
        for failure in &failures {
            writeln!(out, "  ! {failure}")?;
        }
        writeln!(out, "nothing imported: {} is left as it is, and the logins stored were undone", path.display())?;
        return Ok(ExitCode::FAILURE);
    }
    if moved.is_empty() {
        writeln!(out, "nothing to move; {} is left as it is", path.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let new = docker_config::without_logins(&text, client, &moved, "wasm").map_err(left)?;
    if client == Client::Docker {
        writeln!(out, "  + credsStore = \"wasm\"")?;
    } else {
        writeln!(
            out,
            "note: podman, skopeo and buildah read them through `credential-helpers = [\"wasm\"]` in registries.conf"
        )?;
    }
    if dry_run {
        writeln!(out, "dry run: nothing stored, {} not changed", path.display())?;
    } else {
        write_atomically(&path, &new)?;
        writeln!(out, "rewrote {} without them", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}
