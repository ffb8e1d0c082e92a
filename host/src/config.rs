//! The operator's configuration: finding the file, parsing it strictly, and resolving it
//! into a routing table and per-plugin entries. Parsing is pure (text in, `Config` out);
//! only [`locate`] and [`load`] touch the environment and the file system.
//!
//! Every error names the file, line and column, and says what is expected.

use crate::builtins;
use crate::capabilities::egress::grant::NetworkGrant;
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

/// Default memory limit of a plugin instance.
pub const DEFAULT_MEMORY_MIB: u64 = 64;
/// Default wall-clock deadline of one plugin call.
pub const DEFAULT_DEADLINE_MS: u64 = 15_000;
/// Default number of HTTP requests in one plugin call.
pub const DEFAULT_MAX_REQUESTS: u64 = 32;

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
}

/// The `[network]` table: settings of the host's own HTTP client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkConfig {
    /// PEM certificates to trust in addition to the system's (or `SSL_CERT_FILE`).
    pub ca_bundle: Option<PathBuf>,
}

/// One plugin instance as the operator configured it. Grants and limits are `None` where
/// the operator left the plugin's manifest (or the host's) default in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginConfig {
    pub id: String,
    pub source: PluginSource,
    pub settings: BTreeMap<String, String>,
    pub network: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub files: Option<Vec<String>>,
    pub memory_mib: Option<u64>,
    pub deadline_ms: Option<u64>,
    pub max_requests: Option<u64>,
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
    memory_mib: Option<Spanned<i64>>,
    deadline_ms: Option<Spanned<i64>>,
    max_requests: Option<Spanned<i64>>,
    #[serde(default)]
    ignore_store: bool,
    cache: Option<bool>,
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
        let plugin = resolve_plugin(&id, plugin.into_inner(), &locate)?;
        plugins.insert(id, plugin);
    }

    let mut routes = Vec::new();
    for (pattern, plugin) in raw.routes {
        let parsed = Pattern::parse(pattern.get_ref()).map_err(|e| locate(pattern.span(), e.to_string()))?;
        let id = plugin.get_ref();
        if !plugins.contains_key(id) {
            if builtins::find(id).is_none() {
                return Err(locate(
                    plugin.span(),
                    format!(
                        "route {:?} names the plugin {id:?}, which is neither a [plugins.{id}] table nor a built-in plugin ({})",
                        pattern.get_ref(),
                        builtins::names().join(", ")
                    ),
                ));
            }
            plugins.insert(id.clone(), PluginConfig::builtin_default(id));
        }
        routes.push(Route { pattern: parsed, plugin: id.clone() });
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
    Ok(Config { origin, router: Router::new(routes), plugins, log, network, cache_dir })
}

impl PluginConfig {
    /// A built-in plugin with its manifest's grants and no settings.
    pub fn builtin_default(name: &str) -> PluginConfig {
        PluginConfig {
            id: name.to_string(),
            source: PluginSource::Builtin(name.to_string()),
            settings: BTreeMap::new(),
            network: None,
            env: None,
            files: None,
            memory_mib: None,
            deadline_ms: None,
            max_requests: None,
            ignore_store: false,
            cache: true,
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

    pub fn memory_mib(&self) -> u64 {
        self.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB)
    }

    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms.unwrap_or(DEFAULT_DEADLINE_MS)
    }

    pub fn max_requests(&self) -> u64 {
        self.max_requests.unwrap_or(DEFAULT_MAX_REQUESTS)
    }
}

fn resolve_plugin(
    id: &str,
    raw: RawPlugin,
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
            let path = expand_home(path.get_ref()).map_err(|e| locate(path.span(), e))?;
            PluginSource::File { path: PathBuf::from(path), sha256 }
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

    let known_settings = match &source {
        PluginSource::Builtin(name) => Some(builtins::find(name).expect("checked above").manifest().settings),
        PluginSource::File { .. } => None,
    };
    let mut settings = BTreeMap::new();
    for (key, value) in raw.settings {
        if let Some(known) = &known_settings
            && !known.contains(key.get_ref())
        {
            return Err(locate(
                key.span(),
                format!("unknown setting {:?} for plugin {id:?}; expected one of: {}", key.get_ref(), known.join(", ")),
            ));
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

    let env = raw
        .env
        .map(|names| {
            validate_all(
                names,
                valid_env_name,
                "invalid environment variable name {:?}: expected letters, digits and `_`, not starting with a digit",
                locate,
            )
        })
        .transpose()?;
    let files = raw
        .files
        .map(|paths| {
            validate_all(
                paths,
                valid_file_grant,
                "invalid file grant {:?}: expected an absolute path or one starting with `~/`",
                locate,
            )
        })
        .transpose()?;
    let network = raw
        .network
        .map(|grants| {
            grants
                .into_iter()
                .map(|grant| match NetworkGrant::parse(grant.get_ref()) {
                    Ok(_) => Ok(grant.into_inner()),
                    Err(e) => Err(locate(grant.span(), e.to_string())),
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let memory_mib = bounded(raw.memory_mib, 1..=4096, "memory-mib", locate)?;
    let deadline_ms = bounded(raw.deadline_ms, 1..=600_000, "deadline-ms", locate)?;
    let max_requests = bounded(raw.max_requests, 0..=1000, "max-requests", locate)?;
    let cache_max_seconds = bounded(raw.cache_max_seconds, 1..=7 * 86_400, "cache-max-seconds", locate)?;

    Ok(PluginConfig {
        id: id.to_string(),
        source,
        settings,
        network,
        env,
        files,
        memory_mib,
        deadline_ms,
        max_requests,
        ignore_store: raw.ignore_store,
        cache: raw.cache.unwrap_or(true),
        cache_max_seconds,
        cache_stale_fallback: raw.cache_stale_fallback,
    })
}

fn validate_all(
    values: Vec<Spanned<String>>,
    valid: fn(&str) -> bool,
    message: &str,
    locate: &impl Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<Vec<String>, ConfigError> {
    values
        .into_iter()
        .map(|value| {
            if valid(value.get_ref()) {
                Ok(value.into_inner())
            } else {
                Err(locate(value.span(), message.replace("{:?}", &format!("{:?}", value.get_ref()))))
            }
        })
        .collect()
}

fn bounded(
    value: Option<Spanned<i64>>,
    range: std::ops::RangeInclusive<u64>,
    key: &str,
    locate: &impl Fn(std::ops::Range<usize>, String) -> ConfigError,
) -> Result<Option<u64>, ConfigError> {
    let Some(value) = value else { return Ok(None) };
    match u64::try_from(*value.get_ref()) {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(locate(
            value.span(),
            format!("{key} = {} is out of range; expected {} to {}", value.get_ref(), range.start(), range.end()),
        )),
    }
}

/// Expands a leading `~/` with the user's home directory ([`home_dir`]); an error when
/// there is none, so that `~/x` never becomes a path relative to the current directory.
pub fn expand_home(path: &str) -> Result<String, String> {
    let Some(rest) = path.strip_prefix("~/") else { return Ok(path.to_string()) };
    match home_dir() {
        Some(home) => Ok(format!("{}/{rest}", home.display().to_string().trim_end_matches('/'))),
        None => Err(format!(
            "{path:?} needs a home directory, but HOME is unset and the password database has none for uid {}; write an absolute path",
            rustix::process::getuid().as_raw()
        )),
    }
}

/// The user's home directory: `$HOME` when it is an absolute path, else the password
/// database's entry for this user (systemd services, Nomad tasks and the kubelet's
/// providers run without `HOME`).
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from).filter(|home| home.is_absolute()).or_else(password_database_home)
}

pub fn password_database_home() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut buffer = vec![0u8; 16 * 1024];
    // SAFETY: an all-zero `passwd` is a valid value for getpwuid_r to fill; `buffer` outlives
    // every pointer it stores in it, and we copy the directory out before returning.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let status =
        unsafe { libc::getpwuid_r(libc::getuid(), &mut entry, buffer.as_mut_ptr().cast(), buffer.len(), &mut found) };
    if status != 0 || found.is_null() || entry.pw_dir.is_null() {
        return None;
    }
    let dir = unsafe { std::ffi::CStr::from_ptr(entry.pw_dir) };
    let home = PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes()));
    home.is_absolute().then_some(home)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn valid_file_grant(path: &str) -> bool {
    (path.starts_with('/') || path.starts_with("~/")) && !path.split('/').any(|part| part == "..")
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
