//! A plugin author's loop: `plugin run` runs a `.wasm` file's `get` with the grants and
//! settings given on the command line (no config to write, no pin: it runs the file as it
//! is now), and `plugin pin` writes a file's current sha256 (and path) into the config,
//! keeping the rest of the file as it was written; `plugin embed-manifest` writes a
//! manifest into a component built by a toolchain that cannot embed one itself.

use crate::plugins::WasmPlugins;
use anyhow::{Context, bail};
use host_core::call::{Call, Reply, RequestContext};
use host_core::config::{Config, Origin, PluginConfig, PluginSource};
use host_core::grants::network::NetworkGrant;
use host_core::grants::{self, FileGrant, Granted, Grants, Limits};
use host_core::protocol;
use host_core::registry::Registry;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `plugin run` is given.
pub struct RunRequest {
    pub file: PathBuf,
    pub registry: String,
    pub settings: Vec<String>,
    pub network: Vec<String>,
    pub env: Vec<String>,
    pub files: Vec<String>,
}

/// Runs the plugin in `request.file` once for `request.registry` and prints its answer as
/// `get` would (the secret included: it is the author's own test).
pub fn run(config: &Config, request: RunRequest, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&request.file).with_context(|| format!("cannot read {}", request.file.display()))?;
    let sha256: [u8; 32] = Sha256::digest(&bytes).into();
    let mut settings = BTreeMap::new();
    for pair in &request.settings {
        let (key, value) = pair.split_once('=').with_context(|| format!("--setting {pair:?}: expected KEY=VALUE"))?;
        settings.insert(key.to_string(), value.to_string());
    }
    let network: Vec<NetworkGrant> =
        request.network.iter().map(|g| NetworkGrant::parse(g)).collect::<Result<_, _>>().map_err(anyhow::Error::msg)?;
    let env: Vec<String> = request
        .env
        .iter()
        .map(|name| grants::parse_env_name(name))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    let files: Vec<FileGrant> = request
        .files
        .iter()
        .map(|path| FileGrant::parse(path))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    let plugin = PluginConfig {
        id: "dev".into(),
        source: PluginSource::File { path: std::path::absolute(&request.file)?, sha256 },
        grants: Grants {
            network: Granted::resolve(Some(network), None, |m| &m.network),
            env: Granted::resolve(Some(env), None, |m| &m.env),
            files: Granted::resolve(Some(files), None, |m| &m.files),
            secrets: Granted::resolve(None, None, |m| &m.secrets),
            settings,
            limits: Limits::default(),
        },
        ignore_store: false,
        cache: false,
        cache_max_seconds: None,
        cache_stale_fallback: false,
    };
    let registry = Registry::parse(&request.registry).map_err(|e| anyhow::anyhow!("{e}"))?;
    let outcome =
        WasmPlugins::default().call_here(config, &plugin, Call::Get(registry.to_string(), RequestContext::default()));
    match outcome {
        Ok(Ok(Reply::Credentials(credentials, _))) => {
            protocol::write_credentials(out, &request.registry, &credentials.username, &credentials.secret)?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(Ok(other)) => bail!("the plugin answered get with {}", other.kind()),
        Ok(Err(error)) => {
            writeln!(out, "plugin error: {}: {}", error.kind(), error.message())?;
            Ok(ExitCode::FAILURE)
        }
        Err(error) => Err(error.context("the plugin failed")),
    }
}

/// Writes `file`'s current sha256, and its path, into `[plugins.<id>]` of the config file
/// `config` (the table is made if there is none); every other line stays as written.
pub fn pin(config: &Path, id: &str, file: &Path, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let text = std::fs::read_to_string(config).with_context(|| format!("cannot read {}", config.display()))?;
    let mut document: toml_edit::DocumentMut =
        text.parse().with_context(|| format!("{} is left as it is: it is not valid TOML", config.display()))?;
    let plugins = document.entry("plugins").or_insert_with(|| {
        let mut table = toml_edit::Table::new();
        table.set_implicit(true);
        toml_edit::Item::Table(table)
    });
    let plugin = plugins
        .as_table_mut()
        .with_context(|| format!("{} is left as it is: its `plugins` is not a table", config.display()))?
        .entry(id)
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_mut()
        .with_context(|| format!("{} is left as it is: its `plugins.{id}` is not a table", config.display()))?;
    let was = plugin.get("sha256").and_then(|item| item.as_str()).map(str::to_string);
    if was.as_deref() == Some(&sha256) {
        writeln!(out, "plugin {id:?} is already pinned to {sha256}")?;
        return Ok(ExitCode::SUCCESS);
    }
    if plugin.get("path").is_none() {
        plugin["path"] = toml_edit::value(std::path::absolute(file)?.display().to_string());
    }
    plugin["sha256"] = toml_edit::value(&sha256);
    // Checked as the program will read it before it is written.
    let new = document.to_string();
    host_core::config::parse(&new, Origin::File(config.to_path_buf()))
        .map_err(|e| anyhow::anyhow!("{} is left as it is: the pinned config would not load: {e}", config.display()))?;
    crate::configure::write_atomically(config, &new)?;
    match was {
        Some(was) => writeln!(out, "pinned plugin {id:?} to {sha256} (was {was}) in {}", config.display())?,
        None => writeln!(out, "pinned plugin {id:?} to {sha256} in {}", config.display())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the manifest in `manifest` into the component `file` (in place, atomically) and
/// prints its new sha256, which a config must pin.
pub fn embed_manifest(file: &Path, manifest: &Path, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = std::fs::read_to_string(manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
    host_core::manifest::Manifest::parse(&text).map_err(|e| {
        anyhow::anyhow!("{} is left as it is: the manifest {} is not valid: {e}", file.display(), manifest.display())
    })?;
    let embedded = host_core::manifest::embed(&wasm, &text)
        .map_err(|e| anyhow::anyhow!("{} is left as it is: {e}", file.display()))?;
    crate::configure::write_atomically(file, &embedded)?;
    let sha256 = hex::encode(Sha256::digest(&embedded));
    writeln!(out, "embedded {} into {} (sha256 now {sha256})", manifest.display(), file.display())?;
    Ok(ExitCode::SUCCESS)
}
