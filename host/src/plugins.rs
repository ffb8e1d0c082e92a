//! Plugins run as WebAssembly components in this process, behind the core's [`Plugins`]
//! trait; the engine starts on the first call. A `list` runs each plugin in a process of
//! its own (this program's hidden `list-plugin` command), so that no plugin ever shares a
//! process with another call.

use anyhow::Context;
use host_core::actions::{self, Plugins};
use host_core::cache::{self, CacheDir, credentials::CredentialCache};
use host_core::call::{Call, CallOutcome, PluginError, RegistryEntry, Reply};
use host_core::config::{self, Config, PluginConfig};
use host_core::logging::{self, Level, MAX_PLUGIN_TEXT_CHARS, sanitize};
use host_sandbox::Sandbox;
use host_sandbox::capabilities::secrets::StoreChoice;
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

/// Plugins run as WebAssembly components; the engine starts on the first call, so a
/// cache hit never loads it.
#[derive(Default)]
pub struct WasmPlugins {
    sandbox: Option<Sandbox>,
    cache: Option<Option<CacheDir>>,
    /// This process answers one request and exits (see [`WasmPlugins::answering_one_request`]).
    one_request: bool,
}

impl WasmPlugins {
    /// Plugins for a process that answers one request and exits (a helper action, the
    /// kubelet's request): each call's instance is left for the exit to reclaim.
    pub fn answering_one_request() -> WasmPlugins {
        WasmPlugins { one_request: true, ..WasmPlugins::default() }
    }

    fn cache_dir(&mut self, config: &Config) -> Option<CacheDir> {
        self.cache.get_or_insert_with(|| cache::open_for(config)).clone()
    }
}

impl Plugins for WasmPlugins {
    fn credential_cache(&mut self, config: &Config) -> Option<CredentialCache> {
        self.cache_dir(config).map(CredentialCache::new)
    }

    /// A call in this process, except `list`, which runs each plugin in a process of its own
    /// (see [`list_in_own_process`]): no plugin ever shares a process with another call.
    fn call(&mut self, config: &Config, plugin: &PluginConfig, call: Call) -> CallOutcome {
        match call {
            Call::List(_) => list_in_own_process(config, plugin),
            call => self.call_here(config, plugin, call),
        }
    }
}

impl WasmPlugins {
    /// One plugin call in this process.
    pub fn call_here(&mut self, config: &Config, plugin: &PluginConfig, call: Call) -> CallOutcome {
        let started = Instant::now();
        let cache = self.cache_dir(config);
        let sandbox = match &mut self.sandbox {
            Some(sandbox) => sandbox,
            empty => {
                let mut sandbox = sandbox(config, cache)?;
                if self.one_request {
                    sandbox.leave_instances_to_exit();
                }
                empty.insert(sandbox)
            }
        };
        let engine_ready = Instant::now();
        let loaded = sandbox.load(plugin).context("cannot load it")?;
        let loaded_at = Instant::now();
        let linking = loaded.linking;
        let outcome = sandbox.call(loaded, &plugin.grants, call);
        logging::log(
            Level::Debug,
            format_args!(
                "plugin {:?}: engine {} us, load {} us, link {} us, instantiate and call {} us",
                plugin.id,
                (engine_ready - started).as_micros(),
                (loaded_at - engine_ready - linking).as_micros(),
                linking.as_micros(),
                loaded_at.elapsed().as_micros()
            ),
        );
        outcome
    }
}

/// The sandbox for `config`'s plugins, keeping compiled code in `cache`.
pub fn sandbox(config: &Config, cache: Option<CacheDir>) -> anyhow::Result<Sandbox> {
    let store = StoreChoice { backend: config.store.backend, config: config.origin.to_string() };
    Sandbox::new(config.network.ca_bundle.clone(), store, cache).context("cannot start the WebAssembly engine")
}

/// Compiles every configured plugin into the cache (the `precompile` command); exit code 1
/// if one fails.
pub fn precompile(config: &Config, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let cache = cache::open_for(config).context("there is no usable cache directory")?;
    let sandbox = sandbox(config, Some(cache))?;
    let mut failed = false;
    for plugin in config.plugins.values() {
        match sandbox.precompile(plugin) {
            Ok(()) => writeln!(out, "precompiled {} ({})", plugin.id, plugin.component_sha256())?,
            Err(e) => {
                failed = true;
                writeln!(out, "cannot precompile {}: {e:#}", plugin.id)?;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Runs the `list` of plugin `id` in this process and prints its [`ListOutcome`] as JSON
/// (the hidden `list-plugin` command).
pub fn list_here(config: &Config, id: &str, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let plugin = config.plugins.get(id).with_context(|| format!("no plugin {id:?} in {}", config.origin))?;
    let routed = actions::exact_routes(config).remove(id).unwrap_or_default();
    let outcome = WasmPlugins::default().call_here(config, plugin, Call::List(routed));
    serde_json::to_writer(&mut *out, &ListOutcome::from(outcome))?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

/// What a `list` call in a process of its own answers its parent, on stdout.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum ListOutcome {
    /// `(registry, username)` rows.
    Entries(Vec<(String, String)>),
    /// The plugin's own error: its kind (as [`PluginError::kind`] names it) and message.
    PluginError(String, String),
    /// The sandbox's error.
    Failed(String),
}

impl From<CallOutcome> for ListOutcome {
    fn from(outcome: CallOutcome) -> ListOutcome {
        match outcome {
            Ok(Ok(Reply::Entries(entries))) => {
                ListOutcome::Entries(entries.into_iter().map(|e| (e.registry, e.username)).collect())
            }
            Ok(Ok(other)) => ListOutcome::Failed(format!("it answered list with {}", other.kind())),
            Ok(Err(error)) => ListOutcome::PluginError(error.kind().to_string(), error.message().to_string()),
            Err(error) => ListOutcome::Failed(format!("{error:#}")),
        }
    }
}

impl From<ListOutcome> for CallOutcome {
    fn from(outcome: ListOutcome) -> CallOutcome {
        match outcome {
            ListOutcome::Entries(rows) => Ok(Ok(Reply::Entries(
                rows.into_iter().map(|(registry, username)| RegistryEntry { registry, username }).collect(),
            ))),
            ListOutcome::PluginError(kind, message) => Ok(Err(PluginError::from_kind(&kind, message))),
            ListOutcome::Failed(why) => Err(anyhow::anyhow!(why)),
        }
    }
}

/// `plugin`'s `list`, run by this program in a process of its own (the hidden `list-plugin`
/// command), with this process's config and logging.
fn list_in_own_process(config: &Config, plugin: &PluginConfig) -> CallOutcome {
    let program = std::env::current_exe().context("cannot find the path of this program")?;
    let mut command = std::process::Command::new(program);
    // The same program name: a drop-in's child serves as the drop-in does.
    if let Some(arg0) = std::env::args_os().next() {
        std::os::unix::process::CommandExt::arg0(&mut command, arg0);
    }
    if let config::Origin::File(path) = &config.origin {
        command.arg("--config").arg(path);
    }
    command.args(["list-plugin", &plugin.id]).envs(logging::child_env());
    let output = command
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot start a process for the plugin's list")?;
    match serde_json::from_slice::<ListOutcome>(&output.stdout) {
        Ok(outcome) => outcome.into(),
        Err(_) => Err(anyhow::anyhow!(
            "its list process ended with {} and no answer: {}",
            output.status,
            sanitize(String::from_utf8_lossy(&output.stdout).trim(), MAX_PLUGIN_TEXT_CHARS)
        )),
    }
}
