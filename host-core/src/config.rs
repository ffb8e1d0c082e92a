//! The operator's configuration: finding the file, parsing it strictly, and resolving it
//! into a routing table and per-plugin entries. Parsing is pure (text in, `Config` out);
//! only [`locate`] and [`load`] touch the environment and the file system.
//!
//! Every error names the file, line and column, and says what is expected.

use crate::builtins::{self, Builtin};
use crate::grants::network::NetworkGrant;
use crate::grants::{self, FileGrant, Granted, Grants, Limit, LimitKind, Limits, SecretsNamespace};
use crate::home::expand_home;
use crate::router::{Pattern, Route, Router};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The configuration used when no file is found.
pub const EMBEDDED_DEFAULT: &str = include_str!("default-config.toml");

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "DOCKER_CREDENTIAL_WASM_CONFIG";

/// The system-wide config file.
pub const SYSTEM_CONFIG: &str = "/etc/docker-credential-wasm/config.toml";

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Embedded,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Embedded => f.write_str("<embedded default config>"),
        }
    }
}

/// A resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub origin: Origin,
    pub router: Router,
    pub plugins: BTreeMap<String, PluginConfig>,
    pub log: LogConfig,
    pub network: NetworkConfig,
    /// The `[cache] dir` setting, if any.
    pub cache_dir: Option<PathBuf>,
    /// The `[store]` table: the credential store.
    pub store: StoreConfig,
}

/// The `[store]` table: which plugin keeps the credentials of registries no route serves
/// (what `docker login` stores with `"credsStore": "wasm"`), and where secrets are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreConfig {
    /// The plugin that serves every registry no route serves, if any.
    pub plugin: Option<String>,
    /// Where plugins' secrets are kept; `None` chooses when first needed.
    pub backend: Option<SecretBackend>,
}

/// Where plugins' secrets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretBackend {
    /// The freedesktop Secret Service on the session bus (GNOME Keyring, KeePassXC, KWallet).
    SecretService,
    /// The `pass` password store (GnuPG).
    Pass,
}

impl SecretBackend {
    /// Each backend with its name in the config.
    pub const ALL: [(&str, SecretBackend); 2] =
        [("secret-service", SecretBackend::SecretService), ("pass", SecretBackend::Pass)];

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, b)| *b == self).map(|(name, _)| *name).unwrap_or_default()
    }
}

/// The `[network]` table: settings of the host's own HTTP client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkConfig {
    /// PEM certificates to trust in addition to the system's (or `SSL_CERT_FILE`).
    pub ca_bundle: Option<PathBuf>,
}

/// One plugin instance as the operator configured it, its grants resolved against its
/// manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginConfig {
    pub id: String,
    pub source: PluginSource,
    /// What each call of it is given.
    pub grants: Grants,
    pub ignore_store: bool,
    /// Whether answers are cached (`cache`, default true).
    pub cache: bool,
    /// The operator's cap on how long an answer is reused (`cache-max-seconds`).
    pub cache_max_seconds: Option<u64>,
    /// Whether an unexpired but no longer fresh answer may stand in when the plugin fails.
    pub cache_stale_fallback: bool,
}

/// Where a plugin's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// Embedded in the host binary.
    Builtin(String),
    /// A `.wasm` file, loaded only if its SHA-256 digest is `sha256`.
    File { path: PathBuf, sha256: [u8; 32] },
}

impl PluginSource {
    /// The built-in plugin this source names, if it names one.
    pub fn builtin(&self) -> Option<&'static Builtin> {
        match self {
            PluginSource::Builtin(name) => builtins::find(name),
            PluginSource::File { .. } => None,
        }
    }
}

/// The `[log]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogConfig {
    pub level: Option<String>,
    pub file: Option<PathBuf>,
}

/// A configuration error, located in its file.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Log levels the config and the command line accept.
pub const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    routes: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    plugins: BTreeMap<Spanned<String>, Spanned<RawPlugin>>,
    #[serde(default)]
    log: Option<RawLog>,
    #[serde(default)]
    network: Option<RawNetwork>,
    #[serde(default)]
    cache: Option<RawCache>,
    #[serde(default)]
    store: Option<RawStore>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    plugin: Option<Spanned<String>>,
    backend: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    dir: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawNetwork {
    ca_bundle: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPlugin {
    builtin: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    sha256: Option<Spanned<String>>,
    #[serde(default)]
    settings: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    network: Option<Vec<Spanned<String>>>,
    env: Option<Vec<Spanned<String>>>,
    files: Option<Vec<Spanned<String>>>,
    secrets: Option<Spanned<String>>,
    memory_mib: Option<Spanned<i64>>,
    deadline_ms: Option<Spanned<i64>>,
    max_requests: Option<Spanned<i64>>,
    #[serde(default)]
    ignore_store: bool,
    cache: Option<Spanned<bool>>,
    cache_max_seconds: Option<Spanned<i64>>,
    #[serde(default)]
    cache_stale_fallback: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<Spanned<String>>,
    file: Option<String>,
}

/// Finds the config file: `--config`, then `$DOCKER_CREDENTIAL_WASM_CONFIG` (both must
/// exist), then `$XDG_CONFIG_HOME/docker-credential-wasm/config.toml` (or
/// `~/.config/...`), then [`SYSTEM_CONFIG`]. `None` means the embedded default.
pub fn locate(flag: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(path) = flag {
        return Some(path.to_path_buf());
    }
    if let Some(path) = env(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let xdg = env("XDG_CONFIG_HOME")
        .filter(|p| Path::new(p).is_absolute())
        .map(PathBuf::from)
        .or_else(|| env("HOME").filter(|h| !h.is_empty()).map(|home| Path::new(&home).join(".config")));
    let user = xdg.map(|dir| dir.join("docker-credential-wasm").join("config.toml"));
    user.into_iter().chain([PathBuf::from(SYSTEM_CONFIG)]).find(|path| path.is_file())
}

/// Reads and parses the config at `path`, or the embedded default.
pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
    use anyhow::Context;
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the config file {} (named by --config or ${CONFIG_ENV})", path.display())
            })?;
            Ok(parse(&text, Origin::File(path.to_path_buf()))?)
        }
        None => Ok(parse(EMBEDDED_DEFAULT, Origin::Embedded)?),
    }
}

/// Parses and validates config text.
pub fn parse(text: &str, origin: Origin) -> Result<Config, ConfigError> {
    let locate = |span: std::ops::Range<usize>, message: String| {
        let (line, column) = line_column(text, span.start);
        ConfigError { origin: origin.to_string(), line, column, message }
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end().replace("unknown field", "unknown key");
        locate(e.span().unwrap_or(0..0), message)
    })?;

    let mut plugins = BTreeMap::new();
    for (id, plugin) in raw.plugins {
        let span = id.span();
        let id = id.into_inner();
        if !valid_id(&id) {
            return Err(locate(span, format!("invalid plugin id {id:?}: use lower-case letters, digits and `-`")));
        }
        let plugin = resolve_plugin(&id, plugin.into_inner(), &origin, &locate)?;
        plugins.insert(id, plugin);
    }

    // A plugin named by a route or as the store: a [plugins.<id>] table or a built-in,
    // which then runs with its manifest's grants.
    let name_plugin = |plugins: &mut BTreeMap<String, PluginConfig>, id: &Spanned<String>, what: String| {
        let name = id.get_ref();
        if plugins.contains_key(name) {
            return Ok(());
        }
        if builtins::find(name).is_none() {
            return Err(locate(
                id.span(),
                format!(
                    "{what} names the plugin {name:?}, which is neither a [plugins.{name}] table nor a built-in plugin ({})",
                    builtins::names().join(", ")
                ),
            ));
        }
        plugins.insert(name.clone(), PluginConfig::builtin_default(name));
        Ok(())
    };
    let mut routes = Vec::new();
    for (pattern, plugin) in raw.routes {
        let parsed = Pattern::parse(pattern.get_ref()).map_err(|e| locate(pattern.span(), e.to_string()))?;
        name_plugin(&mut plugins, &plugin, format!("route {:?}", pattern.get_ref()))?;
        routes.push(Route { pattern: parsed, plugin: plugin.into_inner() });
    }
    let mut store = StoreConfig::default();
    if let Some(raw) = raw.store {
        if let Some(plugin) = raw.plugin {
            name_plugin(&mut plugins, &plugin, "[store] plugin".to_string())?;
            store.plugin = Some(plugin.into_inner());
        }
        if let Some(backend) = raw.backend {
            let names: Vec<&str> = SecretBackend::ALL.iter().map(|(name, _)| *name).collect();
            let found = SecretBackend::ALL.iter().find(|(name, _)| name == backend.get_ref());
            store.backend = Some(found.map(|(_, b)| *b).ok_or_else(|| {
                locate(
                    backend.span(),
                    format!(
                        "unknown secret store backend {:?}; expected one of: {}",
                        backend.get_ref(),
                        names.join(", ")
                    ),
                )
            })?);
        }
    }
    let log = match raw.log {
        None => LogConfig::default(),
        Some(raw) => {
            if let Some(level) = &raw.level
                && !LOG_LEVELS.contains(&level.get_ref().as_str())
            {
                return Err(locate(
                    level.span(),
                    format!("invalid log level {:?}; expected one of {}", level.get_ref(), LOG_LEVELS.join(", ")),
                ));
            }
            LogConfig { level: raw.level.map(Spanned::into_inner), file: raw.file.map(PathBuf::from) }
        }
    };

    let home_path =
        |path: Spanned<String>| expand_home(path.get_ref()).map(PathBuf::from).map_err(|e| locate(path.span(), e));
    let network = NetworkConfig { ca_bundle: raw.network.and_then(|n| n.ca_bundle).map(home_path).transpose()? };
    let cache_dir = raw.cache.and_then(|c| c.dir).map(home_path).transpose()?;
    Ok(Config { origin, router: Router::new(routes), plugins, log, network, cache_dir, store })
}

impl PluginConfig {
    /// A built-in plugin with its manifest's grants and no settings.
    pub fn builtin_default(name: &str) -> PluginConfig {
        let source = PluginSource::Builtin(name.to_string());
        let builtin = source.builtin();
        let grants = Grants {
            network: Granted::resolve(None, builtin, |m| &m.network),
            env: Granted::resolve(None, builtin, |m| &m.env),
            files: Granted::resolve(None, builtin, |m| &m.files),
            secrets: Granted::resolve(None, builtin, |m| &m.secrets),
            settings: BTreeMap::new(),
            limits: Limits::default(),
        };
        PluginConfig {
            id: name.to_string(),
            source,
            // What a plugin keeps in the user's keyring never goes to the disk cache.
            cache: grants.secrets_namespace().is_none(),
            grants,
            ignore_store: false,
            cache_max_seconds: None,
            cache_stale_fallback: false,
        }
    }

    /// Hex SHA-256 of the plugin's component: built into the binary for built-ins, pinned
    /// in the config for files. Known without reading the component.
    pub fn component_sha256(&self) -> String {
        match &self.source {
            PluginSource::Builtin(name) => builtins::find(name).map(|b| b.sha256.to_string()).unwrap_or_default(),
            PluginSource::File { sha256, .. } => hex::encode(sha256),
        }
    }

    /// The wall-clock deadline of one call.
    pub fn deadline(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.grants.limits.deadline_ms.value)
    }
}

fn resolve_plugin(
    id: &str,
    raw: RawPlugin,
    origin: &Origin,
    locate: &impl Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<PluginConfig, ConfigError> {
    let source = match (raw.builtin, raw.path, raw.sha256) {
        (Some(name), None, None) => {
            if builtins::find(name.get_ref()).is_none() {
                return Err(locate(
                    name.span(),
                    format!(
                        "unknown built-in plugin {:?}; built-ins are: {}",
                        name.get_ref(),
                        builtins::names().join(", ")
                    ),
                ));
            }
            PluginSource::Builtin(name.into_inner())
        }
        (None, Some(path), Some(digest)) => {
            let sha256 = parse_sha256(digest.get_ref()).ok_or_else(|| {
                locate(
                    digest.span(),
                    format!(
                        "invalid sha256 {:?}: expected 64 hexadecimal digits (`sha256sum plugin.wasm`)",
                        digest.get_ref()
                    ),
                )
            })?;
            let path = PathBuf::from(expand_home(path.get_ref()).map_err(|e| locate(path.span(), e))?);
            // A relative path is the config file's neighbour, wherever the client runs.
            let path = match origin {
                Origin::File(config) if path.is_relative() => {
                    config.parent().map_or(path.clone(), |dir| dir.join(&path))
                }
                _ => path,
            };
            PluginSource::File { path, sha256 }
        }
        (None, Some(path), None) => {
            return Err(locate(
                path.span(),
                format!(
                    "plugin {id:?} loads {:?} but has no `sha256`; add sha256 = \"<output of sha256sum>\" so only those exact bytes run",
                    path.get_ref()
                ),
            ));
        }
        (None, None, None) if builtins::find(id).is_some() => PluginSource::Builtin(id.to_string()),
        (builtin, path, _) => {
            let span = builtin.map(|b| b.span()).or(path.map(|p| p.span())).unwrap_or(0..0);
            return Err(locate(
                span,
                format!(
                    "plugin {id:?} needs exactly one source: `builtin = \"<name>\"` ({}) or `path` with `sha256`",
                    builtins::names().join(", ")
                ),
            ));
        }
    };

    let builtin = source.builtin();
    let mut settings = BTreeMap::new();
    for (key, value) in raw.settings {
        if let Some(unknown) =
            builtin.and_then(|builtin| builtin.manifest().unknown_setting(id, [key.get_ref()].into_iter()))
        {
            return Err(locate(key.span(), unknown));
        }
        let text = match value.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(locate(
                    value.span(),
                    format!("setting {:?} must be a string, number or boolean", key.get_ref()),
                ));
            }
        };
        settings.insert(key.into_inner(), text);
    }

    let grants = Grants {
        network: Granted::resolve(
            raw.network
                .map(|grants| parse_all(grants, |g| NetworkGrant::parse(g).map_err(|e| e.to_string()), locate))
                .transpose()?,
            builtin,
            |m| &m.network,
        ),
        env: Granted::resolve(
            raw.env.map(|names| parse_all(names, grants::parse_env_name, locate)).transpose()?,
            builtin,
            |m| &m.env,
        ),
        files: Granted::resolve(
            raw.files.map(|paths| parse_all(paths, FileGrant::parse, locate)).transpose()?,
            builtin,
            |m| &m.files,
        ),
        secrets: Granted::resolve(
            raw.secrets
                .map(|name| {
                    SecretsNamespace::parse(name.get_ref()).map(|ns| vec![ns]).map_err(|e| locate(name.span(), e))
                })
                .transpose()?,
            builtin,
            |m| &m.secrets,
        ),
        settings,
        limits: Limits {
            memory_mib: limit(raw.memory_mib, &grants::MEMORY_MIB, locate)?,
            deadline_ms: limit(raw.deadline_ms, &grants::DEADLINE_MS, locate)?,
            max_requests: limit(raw.max_requests, &grants::MAX_REQUESTS, locate)?,
        },
    };
    let cache_max_seconds = bounded(raw.cache_max_seconds, &grants::CACHE_MAX_SECONDS, locate)?;
    // What a plugin keeps in the user's keyring never goes to the disk cache.
    let holds_secrets = grants.secrets_namespace().is_some();
    let cache = match raw.cache {
        Some(cache) if *cache.get_ref() && holds_secrets => {
            return Err(locate(
                cache.span(),
                format!(
                    "plugin {id:?} keeps secrets in the user's keyring (secrets = {:?}), and those are never copied to the credential cache on disk; remove `cache = true`",
                    grants.secrets_namespace().map(SecretsNamespace::name).unwrap_or_default()
                ),
            ));
        }
        Some(cache) => cache.into_inner(),
        None => !holds_secrets,
    };

    Ok(PluginConfig {
        id: id.to_string(),
        source,
        grants,
        ignore_store: raw.ignore_store,
        cache,
        cache_max_seconds,
        cache_stale_fallback: raw.cache_stale_fallback,
    })
}

/// Each of `values` parsed by `parse`, or the first one's error, located.
fn parse_all<T>(
    values: Vec<Spanned<String>>,
    parse: impl Fn(&str) -> Result<T, String>,
    locate: &impl Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<Vec<T>, ConfigError> {
    values.into_iter().map(|value| parse(value.get_ref()).map_err(|e| locate(value.span(), e))).collect()
}

/// The limit `kind` as configured (checked against its range), else its default.
fn limit(
    value: Option<Spanned<i64>>,
    kind: &LimitKind,
    locate: &impl Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<Limit, ConfigError> {
    Ok(Limit::resolve(kind, bounded(value, kind, locate)?))
}

fn bounded(
    value: Option<Spanned<i64>>,
    kind: &LimitKind,
    locate: &impl Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<Option<u64>, ConfigError> {
    let Some(value) = value else { return Ok(None) };
    let range = &kind.range;
    match u64::try_from(*value.get_ref()) {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(locate(
            value.span(),
            format!(
                "{} = {} is out of range; expected {} to {}",
                kind.key,
                value.get_ref(),
                range.start(),
                range.end()
            ),
        )),
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(text, &mut digest).ok()?;
    Some(digest)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
