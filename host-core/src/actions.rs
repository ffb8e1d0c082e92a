//! The credential-helper and kubelet actions: reads a request, routes it, asks a plugin,
//! writes the answer. Everything the protocols print is decided here; the plugins
//! themselves are behind the [`Plugins`] trait, so this module is tested without wasm.

use crate::NAME;
use crate::answers::{self, Answer, Fetched, Slot};
use crate::cache::credentials::CredentialCache;
use crate::call::{Call, CallOutcome, Credentials, PluginError, Reply, RequestContext, Scope};
use crate::config::{Config, PluginConfig};
use crate::kubelet::{self, AuthConfig, CacheKeyType};
use crate::logging::{self, Level, MAX_PLUGIN_TEXT_CHARS as MAX_ERROR_CHARS, sanitize};
use crate::protocol::{self, Action};
use crate::registry::Registry;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::process::ExitCode;

/// Largest user name and secret a plugin may return (together within the 64 KiB a plugin
/// may pass to the host at once; registry tokens are a few KiB).
const MAX_USERNAME_BYTES: usize = 4 * 1024;
const MAX_SECRET_BYTES: usize = 56 * 1024;
/// Longest plugin deadline (and single-flight wait) for the kubelet, which kills a
/// provider after 60 seconds: a wait and a call stay well inside that.
const KUBELET_DEADLINE_MS: u64 = 25_000;

/// The effects of an action: plugin calls and the credential cache.
pub trait Plugins {
    /// The credential cache to use with `config`, if there is a usable one.
    fn credential_cache(&mut self, config: &Config) -> Option<CredentialCache>;

    /// One call to the plugin `plugin` of `config`.
    fn call(&mut self, config: &Config, plugin: &PluginConfig, call: Call) -> CallOutcome;
}

/// Runs one protocol action. `config` is only loaded by actions that need it.
pub fn run(
    action: Action,
    stdin: &[u8],
    out: &mut impl Write,
    config: impl FnOnce() -> anyhow::Result<Config>,
    plugins: &mut impl Plugins,
) -> io::Result<ExitCode> {
    let result = match action {
        Action::Version => {
            let line = protocol::version_line(NAME, NAME, env!("CARGO_PKG_VERSION"));
            writeln!(out, "{line}")?;
            return Ok(ExitCode::SUCCESS);
        }
        Action::Get => get(stdin, out, config, plugins),
        Action::Store => store(stdin, config, plugins),
        Action::Erase => erase(stdin, config, plugins),
        Action::List => list(out, config, plugins),
    };
    finish(result, out)
}

/// The exit code of a protocol action, with the error line a failure writes to `out`.
fn finish(result: Result<(), Failure>, out: &mut impl Write) -> io::Result<ExitCode> {
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(Failure::Io(e)) => Err(e),
        Err(Failure::NotFound) => {
            protocol::write_error(out, protocol::NOT_FOUND)?;
            Ok(ExitCode::FAILURE)
        }
        Err(Failure::Message(message)) => {
            protocol::write_error(out, &message)?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// What [`get_without_engine`] did with a `get`.
#[derive(Debug, PartialEq)]
pub enum WithoutEngine {
    /// It wrote the whole answer; exit with this code.
    Answered(ExitCode),
    /// Only a plugin can answer: nothing was written.
    NeedsEngine,
}

/// A `get` answered without the WebAssembly engine, when no plugin has to run: from a fresh
/// cache entry, or with the error or not-found answer a bad request, a config error or an
/// unrouted registry gets. Otherwise nothing is written and the engine must answer.
pub fn get_without_engine(
    stdin: &[u8],
    out: &mut impl Write,
    config: impl FnOnce() -> anyhow::Result<Config>,
    cache: impl FnOnce(&Config) -> Option<CredentialCache>,
) -> io::Result<WithoutEngine> {
    let answered = || -> Result<bool, Failure> {
        let (server_url, registry, config) = read_request(stdin, config)?;
        let plugin = served_or_stored(&config, &registry)?;
        let slot = Slot::of(&config, plugin, &registry, &RequestContext::docker(&server_url), cache);
        let Some(answer) = slot.as_ref().and_then(Slot::fresh) else {
            return Ok(false);
        };
        logging::log(Level::Debug, format_args!("{registry}: fresh in the cache until {}", answer.entry.fresh_until));
        protocol::write_credentials(out, &server_url, &answer.entry.username, &answer.entry.secret)?;
        Ok(true)
    };
    match answered() {
        Ok(false) => Ok(WithoutEngine::NeedsEngine),
        result => finish(result.map(drop), out).map(WithoutEngine::Answered),
    }
}

/// Answers one kubelet `CredentialProviderRequest` (on `stdin`) with a response on `out`.
/// A registry nothing serves gets a response with no credentials; a request that does not
/// parse, or a plugin that fails, gets a message on `err` and exit code 1 (the kubelet logs
/// it and pulls without credentials from this provider).
pub fn kubelet(
    stdin: &[u8],
    out: &mut impl Write,
    err: &mut impl Write,
    config: impl FnOnce() -> anyhow::Result<Config>,
    plugins: &mut impl Plugins,
) -> io::Result<ExitCode> {
    let request = match kubelet::read_request(stdin) {
        Ok(request) => request,
        Err(error) => {
            writeln!(err, "{NAME}: {error}")?;
            return Ok(ExitCode::FAILURE);
        }
    };
    logging::log(Level::Debug, format_args!("kubelet asks for {} ({})", request.image, request.api_version));
    let response = match kubelet_response(&request, config, plugins) {
        Ok(response) => response,
        Err(Failure::NotFound) => kubelet::Response::empty(&request.api_version),
        Err(Failure::Message(message)) => {
            writeln!(err, "{message}")?;
            return Ok(ExitCode::FAILURE);
        }
        Err(Failure::Io(e)) => return Err(e),
    };
    kubelet::write_response(out, &response)?;
    Ok(ExitCode::SUCCESS)
}

fn kubelet_response(
    request: &kubelet::Request,
    config: impl FnOnce() -> anyhow::Result<Config>,
    plugins: &mut impl Plugins,
) -> Result<kubelet::Response, Failure> {
    let config = config().map_err(host_error)?;
    let registry = &request.image.registry;
    let mut plugin = served(&config, registry)?.clone();
    let deadline = &mut plugin.grants.limits.deadline_ms;
    if deadline.value > KUBELET_DEADLINE_MS {
        logging::log(
            Level::Debug,
            format_args!(
                "plugin {:?}: deadline {} ms capped at {KUBELET_DEADLINE_MS} ms for the kubelet's 60-second limit",
                plugin.id, deadline.value
            ),
        );
        deadline.value = KUBELET_DEADLINE_MS;
    }
    let context = RequestContext {
        image: Some(request.image.to_string()),
        service_account_token: request.service_account_token.clone(),
        service_account_annotations: request.service_account_annotations.clone(),
        server_url: None,
    };
    let answer = fetch(&config, &plugin, registry, context, plugins)?;
    let (entry, now) = (&answer.entry, answer.now);
    let cache_duration = if !plugin.cache || entry.fresh_until <= now {
        // Caching is off for this plugin, or this is a stale fallback: the kubelet must not
        // keep it either.
        Some(0)
    } else if entry.expires_at.is_none() && plugin.cache_max_seconds.is_none() {
        // No known expiry and no cap: the provider's `defaultCacheDuration` decides.
        None
    } else {
        Some(entry.fresh_until - now)
    };
    let scope = match answer.scope {
        Scope::Registry => CacheKeyType::Registry,
        Scope::Image => CacheKeyType::Image,
    };
    let auth = AuthConfig { username: answer.entry.username, password: answer.entry.secret };
    Ok(kubelet::Response::credentials(request, scope, cache_duration, auth))
}

/// Why an action failed: no credentials (the client falls back), a message for the
/// client, or writing the answer itself failed.
enum Failure {
    NotFound,
    Message(String),
    Io(io::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NotFound => f.write_str(protocol::NOT_FOUND),
            Failure::Message(message) => f.write_str(message),
            Failure::Io(error) => write!(f, "{error}"),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Failure::Io(error)
    }
}

fn not_found(why: impl std::fmt::Display) -> Failure {
    logging::log(Level::Info, format_args!("credentials not found: {why}"));
    Failure::NotFound
}

fn host_error(error: anyhow::Error) -> Failure {
    Failure::Message(format!("{NAME}: {error:#}"))
}

fn plugin_failed(plugin: &PluginConfig, error: anyhow::Error) -> Failure {
    Failure::Message(format!("{NAME}: plugin {:?} failed: {error:#}", plugin.id))
}

fn plugin_error(plugin: &PluginConfig, error: &PluginError) -> Failure {
    Failure::Message(format!(
        "{NAME}: plugin {:?}: {}: {}",
        plugin.id,
        error.kind(),
        sanitize(error.message(), MAX_ERROR_CHARS)
    ))
}

/// The server URL on stdin (for `get` and `erase`), its registry, and the config.
fn read_request(
    stdin: &[u8],
    config: impl FnOnce() -> anyhow::Result<Config>,
) -> Result<(String, Registry, Config), Failure> {
    let server_url = protocol::read_server_url(stdin).map_err(|e| Failure::Message(e.to_string()))?;
    let registry = Registry::parse(&server_url).map_err(not_found)?;
    let config = config().map_err(host_error)?;
    Ok((server_url, registry, config))
}

/// The plugin a route sends `registry` to, or the not-found answer.
fn served<'c>(config: &'c Config, registry: &Registry) -> Result<&'c PluginConfig, Failure> {
    route(config, registry).ok_or_else(|| not_found(format_args!("no route in {} serves {registry}", config.origin)))
}

/// The plugin serving `registry` for a Docker client: the one a route sends it to, else
/// the credential store's (`[store] plugin`), or the not-found answer.
fn served_or_stored<'c>(config: &'c Config, registry: &Registry) -> Result<&'c PluginConfig, Failure> {
    route_or_store(config, registry).ok_or_else(|| {
        not_found(format_args!("no route in {} serves {registry}, and it names no [store] plugin", config.origin))
    })
}

/// The plugin a route sends `registry` to, or `None` when no route serves it.
fn route<'c>(config: &'c Config, registry: &Registry) -> Option<&'c PluginConfig> {
    let route = config.router.route(registry)?;
    logging::log(
        Level::Debug,
        format_args!("{registry} is routed by {:?} to plugin {:?}", route.pattern.to_string(), route.plugin),
    );
    config.plugins.get(&route.plugin)
}

/// [`route`], else the credential store's plugin.
fn route_or_store<'c>(config: &'c Config, registry: &Registry) -> Option<&'c PluginConfig> {
    route(config, registry).or_else(|| {
        let store = config.store.plugin.as_ref()?;
        logging::log(Level::Debug, format_args!("{registry}: no route serves it; the store plugin {store:?} does"));
        config.plugins.get(store)
    })
}

fn get(
    stdin: &[u8],
    out: &mut impl Write,
    config: impl FnOnce() -> anyhow::Result<Config>,
    plugins: &mut impl Plugins,
) -> Result<(), Failure> {
    let (server_url, registry, config) = read_request(stdin, config)?;
    let plugin = served_or_stored(&config, &registry)?;
    let answer = fetch(&config, plugin, &registry, RequestContext::docker(&server_url), plugins)?;
    protocol::write_credentials(out, &server_url, &answer.entry.username, &answer.entry.secret)?;
    Ok(())
}

/// Prints a `.dockerconfigjson` (`{"auths": {…}}`, what a Kubernetes image pull secret
/// and `skopeo --authfile` read) with credentials from the plugins for each of
/// `registries`. If any gets none, nothing is printed: each one's reason goes to `err`, and
/// the exit code is 1 (a refresher must not replace a secret with a partial one).
pub fn docker_config(
    registries: &[String],
    out: &mut impl Write,
    err: &mut impl Write,
    config: impl FnOnce() -> anyhow::Result<Config>,
    plugins: &mut impl Plugins,
) -> io::Result<ExitCode> {
    let config = match config() {
        Ok(config) => config,
        Err(error) => {
            writeln!(err, "{NAME}: {error:#}")?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut auths = Vec::new();
    let mut failed = false;
    for name in registries {
        let answer = Registry::parse(name).map_err(|e| Failure::Message(format!("{NAME}: {e}"))).and_then(|registry| {
            let plugin = served(&config, &registry)?;
            let answer = fetch(&config, plugin, &registry, RequestContext::default(), plugins)?;
            Ok((registry, answer))
        });
        match answer {
            Ok((registry, answer)) => auths.push((registry, answer.entry.username, answer.entry.secret)),
            Err(Failure::Io(e)) => return Err(e),
            Err(failure) => {
                failed = true;
                let why = match failure {
                    Failure::NotFound => format!("{NAME}: {name}: {}", protocol::NOT_FOUND),
                    other => other.to_string(),
                };
                writeln!(err, "{why}")?;
            }
        }
    }
    if failed {
        writeln!(err, "{NAME}: no docker config printed: every registry must get credentials")?;
        return Ok(ExitCode::FAILURE);
    }
    protocol::write_docker_config(out, &auths)?;
    Ok(ExitCode::SUCCESS)
}

/// Credentials for `registry` from `plugin`, by the answer policy of [`answers`].
fn fetch(
    config: &Config,
    plugin: &PluginConfig,
    registry: &Registry,
    context: RequestContext,
    plugins: &mut impl Plugins,
) -> Result<Answer, Failure> {
    let slot = Slot::of(config, plugin, registry, &context, |config| plugins.credential_cache(config));
    answers::get_or_fetch(slot.as_ref(), plugin, registry, || {
        Ok(match plugins.call(config, plugin, Call::Get(registry.to_string(), context)) {
            Ok(Ok(Reply::Credentials(credentials, scope))) => {
                check_size(plugin, &credentials)?;
                Fetched::Credentials(credentials, scope)
            }
            Ok(Ok(other)) => {
                Fetched::Unavailable(plugin_failed(plugin, anyhow::anyhow!("it answered get with {}", other.kind())))
            }
            Ok(Err(PluginError::NotFound(why) | PluginError::Unsupported(why))) => {
                return Err(not_found(format_args!("plugin {:?}: {}", plugin.id, sanitize(&why, MAX_ERROR_CHARS))));
            }
            Ok(Err(error @ PluginError::Upstream(_))) => Fetched::Unavailable(plugin_error(plugin, &error)),
            Ok(Err(error)) => return Err(plugin_error(plugin, &error)),
            Err(error) => Fetched::Unavailable(plugin_failed(plugin, error)),
        })
    })
}

fn check_size(plugin: &PluginConfig, credentials: &Credentials) -> Result<(), Failure> {
    match oversized(&credentials.username, &credentials.secret) {
        Some((what, len, max)) => {
            Err(plugin_failed(plugin, anyhow::anyhow!("it returned a {what} of {len} bytes; the limit is {max}")))
        }
        None => Ok(()),
    }
}

/// The part of a user name and secret that is larger than the host passes to or takes from
/// a plugin (its name, size and limit), if one is.
fn oversized(username: &str, secret: &str) -> Option<(&'static str, usize, usize)> {
    [("user name", username.len(), MAX_USERNAME_BYTES), ("secret", secret.len(), MAX_SECRET_BYTES)]
        .into_iter()
        .find(|(_, len, max)| len > max)
}

fn store(
    stdin: &[u8],
    config: impl FnOnce() -> anyhow::Result<Config>,
    plugins: &mut impl Plugins,
) -> Result<(), Failure> {
    let request = protocol::read_store_request(stdin).map_err(|e| Failure::Message(e.to_string()))?;
    let registry = Registry::parse(&request.server_url).map_err(|e| host_error(e.into()))?;
    if let Some((what, len, max)) = oversized(&request.username, &request.secret) {
        return Err(host_error(anyhow::anyhow!("the {what} to store is {len} bytes; the limit is {max}")));
    }
    let config = config().map_err(host_error)?;
    let Some(plugin) = route_or_store(&config, &registry) else {
        return Err(host_error(anyhow::anyhow!(
            "no route serves {registry}, so there is no plugin to store its credentials; add it to [routes], or name a credential store plugin (`[store] plugin = \"keyring\"`), in {}",
            config.origin
        )));
    };
    // A re-login leaves no earlier answer behind in the cache, whatever the plugin does.
    forget_cached(&config, plugin, &registry, plugins);
    let context = RequestContext::docker(&request.server_url);
    let credentials = Credentials { username: request.username, secret: request.secret, expires_at: None };
    let answer = plugins
        .call(&config, plugin, Call::Store(registry.to_string(), credentials, context))
        .map_err(|e| plugin_failed(plugin, e))?;
    accept_or_ignore(&config, plugin, "store", answer)
}

/// What the plugin serving a login's registry did with it (`import`).
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// The plugin kept it; it had `previous` for that server URL before.
    Kept { plugin: String, previous: Option<Credentials> },
    /// The plugin (if any serves it) mints its own credentials and keeps none.
    NotKept { plugin: Option<String> },
}

/// Gives the login for `server_url` to the plugin serving its registry, as `store` does; an
/// error is the line `store` would print.
pub fn store_login(
    config: &Config,
    server_url: &str,
    credentials: Credentials,
    plugins: &mut impl Plugins,
) -> Result<Stored, String> {
    let registry = Registry::parse(server_url).map_err(|e| format!("{NAME}: {e}"))?;
    let Some(plugin) = route_or_store(config, &registry) else {
        return Ok(Stored::NotKept { plugin: None });
    };
    let context = RequestContext::docker(server_url);
    let previous = match plugins.call(config, plugin, Call::Get(registry.to_string(), context.clone())) {
        Ok(Ok(Reply::Credentials(previous, _))) => Some(previous),
        _ => None,
    };
    forget_cached(config, plugin, &registry, plugins);
    match plugins.call(config, plugin, Call::Store(registry.to_string(), credentials, context)) {
        Ok(Ok(_)) => Ok(Stored::Kept { plugin: plugin.id.clone(), previous }),
        Ok(Err(PluginError::Unsupported(_))) => Ok(Stored::NotKept { plugin: Some(plugin.id.clone()) }),
        Ok(Err(error)) => Err(plugin_error(plugin, &error).to_string()),
        Err(error) => Err(plugin_failed(plugin, error).to_string()),
    }
}

/// Undoes [`store_login`]'s `Kept`: puts back what was there, or erases the login.
pub fn undo_store(config: &Config, server_url: &str, previous: Option<Credentials>, plugins: &mut impl Plugins) {
    let Ok(registry) = Registry::parse(server_url) else { return };
    let Some(plugin) = route_or_store(config, &registry) else { return };
    let context = RequestContext::docker(server_url);
    let call = match previous {
        Some(previous) => Call::Store(registry.to_string(), previous, context),
        None => Call::Erase(registry.to_string(), context),
    };
    if !matches!(plugins.call(config, plugin, call), Ok(Ok(_))) {
        logging::log(Level::Warn, format_args!("could not undo the login stored for {server_url}"));
    }
}

/// Drops `plugin`'s cached answer for `registry`, if it has one.
fn forget_cached(config: &Config, plugin: &PluginConfig, registry: &Registry, plugins: &mut impl Plugins) {
    let slot = Slot::of(config, plugin, registry, &RequestContext::default(), |c| plugins.credential_cache(c));
    if let Some(slot) = slot {
        slot.forget();
    }
}

fn erase(
    stdin: &[u8],
    config: impl FnOnce() -> anyhow::Result<Config>,
    plugins: &mut impl Plugins,
) -> Result<(), Failure> {
    let (server_url, registry, config) = read_request(stdin, config)?;
    let plugin = served_or_stored(&config, &registry)?;
    // A logout leaves no answer behind in the cache, whatever the plugin does.
    forget_cached(&config, plugin, &registry, plugins);
    let call = Call::Erase(registry.to_string(), RequestContext::docker(&server_url));
    let answer = plugins.call(&config, plugin, call).map_err(|e| plugin_failed(plugin, e))?;
    if let Err(PluginError::NotFound(why)) = &answer {
        return Err(not_found(format_args!("plugin {:?}: {}", plugin.id, sanitize(why, MAX_ERROR_CHARS))));
    }
    accept_or_ignore(&config, plugin, "erase", answer)
}

/// `store`/`erase` succeed when the plugin did it, or when it does not support the action
/// and the operator chose `ignore-store` (as ecr-login's `AWS_ECR_IGNORE_CREDS_STORAGE`),
/// or the config has a credential store: then Docker sends every `docker login` here, and
/// a registry whose plugin mints its own credentials has nothing to keep.
fn accept_or_ignore(
    config: &Config,
    plugin: &PluginConfig,
    action: &str,
    answer: Result<Reply, PluginError>,
) -> Result<(), Failure> {
    match answer {
        Ok(_) => Ok(()),
        Err(PluginError::Unsupported(_)) if plugin.ignore_store => {
            logging::log(
                Level::Info,
                format_args!("plugin {:?} does not {action} credentials; ignored (ignore-store = true)", plugin.id),
            );
            Ok(())
        }
        Err(PluginError::Unsupported(_)) if config.store.plugin.is_some() => {
            logging::log(
                Level::Info,
                format_args!(
                    "plugin {:?} mints its own credentials and does not {action} any; ignored (the store plugin keeps only registries no route serves)",
                    plugin.id
                ),
            );
            Ok(())
        }
        Err(PluginError::Unsupported(_)) => Err(Failure::Message(format!(
            "{NAME}: plugin {:?} does not {action} credentials; to let `docker login` and `docker logout` succeed without it, set ignore-store = true in [plugins.{}]",
            plugin.id, plugin.id
        ))),
        Err(error) => Err(plugin_error(plugin, &error)),
    }
}

/// The registries each plugin is routed by an exact pattern: what `list` asks it about
/// (a plugin routed only by wildcards is asked with none).
pub fn exact_routes(config: &Config) -> BTreeMap<&str, Vec<String>> {
    let mut routed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    if let Some(store) = &config.store.plugin {
        routed.entry(store.as_str()).or_default();
    }
    for route in config.router.routes() {
        let exact = routed.entry(route.plugin.as_str()).or_default();
        if route.pattern.is_exact() {
            exact.push(route.pattern.to_string());
        }
    }
    routed
}

fn list(
    out: &mut impl Write,
    config: impl FnOnce() -> anyhow::Result<Config>,
    plugins: &mut impl Plugins,
) -> Result<(), Failure> {
    let config = config().map_err(host_error)?;
    let mut entries = BTreeMap::new();
    for (id, registries) in exact_routes(&config) {
        let plugin = &config.plugins[id];
        match plugins.call(&config, plugin, Call::List(registries)) {
            Ok(Ok(Reply::Entries(listed))) => {
                for entry in listed {
                    // A plugin speaks only for the registries routed to it.
                    let routed = Registry::parse(&entry.registry)
                        .ok()
                        .and_then(|registry| route_or_store(&config, &registry).map(|plugin| plugin.id == id));
                    if routed != Some(true) {
                        logging::log(
                            Level::Warn,
                            format_args!(
                                "plugin {id:?} listed {:?}, which no route sends to it; left out",
                                sanitize(&entry.registry, MAX_ERROR_CHARS)
                            ),
                        );
                        continue;
                    }
                    entries.entry(entry.registry).or_insert(entry.username);
                }
            }
            Ok(Err(PluginError::Unsupported(_))) => {}
            Ok(Ok(other)) => {
                logging::log(Level::Warn, format_args!("plugin {id:?} answered list with {}; skipped", other.kind()))
            }
            Ok(Err(error)) => logging::log(
                Level::Warn,
                format_args!(
                    "plugin {id:?} could not list: {}: {}",
                    error.kind(),
                    sanitize(error.message(), MAX_ERROR_CHARS)
                ),
            ),
            Err(error) => logging::log(Level::Warn, format_args!("plugin {id:?} failed to list: {error:#}")),
        }
    }
    protocol::write_list(out, &entries)?;
    Ok(())
}

#[cfg(test)]
mod tests;
