//! The sandbox: loads a plugin from verified bytes, checks that it speaks our world and
//! imports nothing outside it, and runs one call in a fresh store that holds only the
//! plugin's grants, under a memory limit and a wall-clock deadline.

use crate::builtins;
use crate::cache::CacheDir;
use crate::cache::components::{self, CodeSource};
use crate::capabilities::egress::{self, Bounds, Egress};
use crate::capabilities::memory::{self, Exceeded, MemoryBudget};
use crate::capabilities::request::{Request, RequestContext};
use crate::capabilities::{self, Grants, files::FileGrants, log::PluginLog, settings::Settings};
use crate::config::{PluginConfig, PluginSource};
use crate::logging::{self, Level};
use anyhow::{Context, anyhow, bail};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Host bindings generated from `wit/plugin.wit`.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "plugin",
        require_store_data_send: true,
        additional_derives: [PartialEq, Eq],
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
    });
}

pub use bindings::docker_credential_wasm::plugin::types::{Credentials, Error as PluginError, RegistryEntry};

/// The WIT package every plugin is built against, and its version.
pub const WIT_PACKAGE: &str = "docker-credential-wasm:plugin";
pub const WIT_VERSION: &str = "0.1.1";

/// How much work (in wasmtime fuel, about one unit per instruction) a plugin does between
/// chances for the deadline to stop it: about a millisecond at most, yet rare enough to cost
/// nothing measurable.
const FUEL_BETWEEN_YIELDS: u64 = 1_000_000;
/// Captured plugin stdout and stderr, each.
const OUTPUT_CAPACITY: usize = 64 * 1024;

/// Interfaces a plugin may import (any `0.2.x` of WASI, our own package at a compatible
/// version). Everything else, `wasi:sockets` above all, is refused at load.
const ALLOWED_IMPORTS: &[&str] = &[
    "docker-credential-wasm:plugin/types",
    "docker-credential-wasm:plugin/log",
    "docker-credential-wasm:plugin/settings",
    "docker-credential-wasm:plugin/files",
    "docker-credential-wasm:plugin/request",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
];

/// One call into a plugin's `helper` interface.
#[derive(Debug, Clone)]
pub enum Call {
    Get(String, RequestContext),
    Store(String, Credentials),
    Erase(String),
    List(Vec<String>),
}

/// What a call gives: the outer error is the sandbox's (cannot load, trap, deadline,
/// memory); the inner result is the plugin's own answer.
pub type CallOutcome = anyhow::Result<Result<Reply, PluginError>>;

/// A successful answer to a [`Call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Credentials(Credentials, Scope),
    Done,
    Entries(Vec<RegistryEntry>),
}

/// Whom credentials are for: the whole registry, or (when the plugin read the image it
/// was asked about) possibly only that image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Registry,
    Image,
}

impl Reply {
    /// What kind of answer this is, for messages (never the values: they hold secrets).
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Credentials(..) => "credentials",
            Reply::Done => "done",
            Reply::Entries(_) => "a list",
        }
    }
}

/// The store state of one plugin instance: exactly its grants.
struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    egress: Egress,
    settings: Settings,
    files: FileGrants,
    request: Request,
    log: Arc<PluginLog>,
    limiter: Limiter,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.egress }
    }
}

/// Instance limits, and every memory and table charged to the call's memory budget (all of
/// them together, not each alone).
struct Limiter {
    budget: Arc<MemoryBudget>,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if !self.budget.grow_wasm(desired.saturating_sub(current)) {
            wasmtime::bail!("memory limit exceeded");
        }
        Ok(true)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if !self.budget.grow_table(desired.saturating_sub(current)) {
            wasmtime::bail!("memory limit exceeded by a table");
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        100
    }
    fn tables(&self) -> usize {
        100
    }
    fn memories(&self) -> usize {
        10
    }
}

/// The wasmtime engine and linker shared by every plugin call of this process.
pub struct Sandbox {
    /// Runs compiled components; it has no compiler, which makes it quick to create.
    engine: Engine,
    /// The same settings with Cranelift, made only when a component must be compiled.
    compiler: std::sync::OnceLock<Engine>,
    linker: Linker<State>,
    ca_bundle: Option<std::path::PathBuf>,
    cache: Option<CacheDir>,
    /// Runs each call, with its HTTP requests and its deadline, on this thread: no threads
    /// to start and no hand-offs between threads while a plugin waits for an answer. Only
    /// `None` while the sandbox is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

/// What a component is: its digest and the interfaces it imports and exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub sha256: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// Where the native code that would run comes from.
    pub code: String,
}

impl Inspection {
    /// The world version of its `helper` export, if it has one.
    pub fn world_version(&self) -> Option<&str> {
        let helper = format!("{WIT_PACKAGE}/helper");
        self.exports.iter().find_map(|name| match split_version(name) {
            (interface, version) if interface == helper => version,
            _ => None,
        })
    }

    /// The imports `load` refuses.
    pub fn refused_imports(&self) -> Vec<&str> {
        self.imports.iter().map(String::as_str).filter(|name| check_imports(std::iter::once(*name)).is_err()).collect()
    }
}

/// A plugin whose bytes were verified and compiled, and whose world was checked.
pub struct LoadedPlugin {
    pub id: String,
    component: Component,
}

impl Sandbox {
    /// A sandbox whose plugins' HTTPS requests also trust the PEM certificates in
    /// `ca_bundle`, and which keeps compiled components in `cache`.
    pub fn new(ca_bundle: Option<std::path::PathBuf>, cache: Option<CacheDir>) -> anyhow::Result<Sandbox> {
        let engine = Engine::new(&engine_config(false))?;
        let mut linker = Linker::new(&engine);
        link_wasi(&mut linker)?;
        egress::link(&mut linker, |s: &mut State| &mut s.egress)?;
        capabilities::log::link(&mut linker, |s: &mut State| &*s.log)?;
        capabilities::settings::link(&mut linker, |s: &mut State| &mut s.settings)?;
        capabilities::files::link(&mut linker, |s: &mut State| &mut s.files)?;
        capabilities::request::link(&mut linker, |s: &mut State| &mut s.request)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("cannot start the I/O runtime")?;
        Ok(Sandbox { engine, compiler: std::sync::OnceLock::new(), linker, ca_bundle, cache, runtime: Some(runtime) })
    }

    /// Loads the plugin `config` names, compiled (from the precompiled cache when it holds
    /// this exact component), with its imports and exports checked against our world.
    pub fn load(&self, config: &PluginConfig) -> anyhow::Result<LoadedPlugin> {
        let (component, code) = self.component(config, false)?;
        logging::log(Level::Debug, format_args!("plugin {}: code {code}", config.id));
        let inspection = self.describe(&component, config.component_sha256(), &code);
        check_imports(inspection.imports.iter().map(String::as_str))?;
        check_exports(inspection.exports.iter().map(String::as_str))?;
        Ok(LoadedPlugin { id: config.id.clone(), component })
    }

    /// Reads, verifies and compiles a plugin and lists what it imports and exports, without
    /// judging them (for `audit`, which reports what `load` would refuse). The bytes of a
    /// file plugin are always checked against the pinned digest here.
    pub fn inspect(&self, config: &PluginConfig) -> anyhow::Result<Inspection> {
        let (component, code) = self.component(config, true)?;
        Ok(self.describe(&component, config.component_sha256(), &code))
    }

    /// The compiled component and where its code came from: a built-in's code compiled when
    /// this program was built (mapped from the cache's copy when its MAC verifies); else the
    /// cache's copy when its MAC shows this cache compiled it from bytes that matched the
    /// digest; else compiled now from the verified bytes and cached. `verify` reads and checks a file plugin's bytes even when the cache has its
    /// code.
    fn component(&self, config: &PluginConfig, verify: bool) -> anyhow::Result<(Component, CodeSource)> {
        let name = components::file_name(&self.engine, &config.component_sha256());
        let dir = self.cache.as_ref().and_then(|cache| match cache.subdir(components::DIR) {
            Ok(dir) => Some(dir),
            Err(why) => {
                logging::log(Level::Warn, format_args!("not caching compiled code: {why}"));
                None
            }
        });
        let store = self.cache.as_ref().zip(dir.as_ref());
        if let PluginSource::Builtin(name_of) = &config.source
            && let Some(compiled) = builtins::find(name_of).and_then(|builtin| builtin.code().compiled)
            && let Some(found) = components::builtin(&self.engine, store, &name, compiled)
        {
            return Ok(found);
        }
        let mut verified = if verify { Some(self.verified_bytes(config)?) } else { None };
        if let Some((cache, dir)) = store
            && let Some(found) = components::cached(&self.engine, cache, dir, &name)
        {
            return Ok(found);
        }
        let bytes = match verified.take() {
            Some(bytes) => bytes,
            None => self.verified_bytes(config)?,
        };
        components::compile(self.compiler()?, &self.engine, &bytes, store, &name)
    }

    /// The compiling engine, made on first use.
    fn compiler(&self) -> anyhow::Result<&Engine> {
        if let Some(compiler) = self.compiler.get() {
            return Ok(compiler);
        }
        let compiler = Engine::new(&engine_config(true)).map_err(|e| anyhow!("cannot start the compiler: {e}"))?;
        Ok(self.compiler.get_or_init(|| compiler))
    }

    /// The plugin's bytes: embedded, or read from its file and checked against the pin.
    fn verified_bytes(&self, config: &PluginConfig) -> anyhow::Result<std::borrow::Cow<'static, [u8]>> {
        match &config.source {
            PluginSource::Builtin(name) => Ok(builtins::find(name)
                .ok_or_else(|| anyhow!("there is no built-in plugin {name:?}"))?
                .code()
                .wasm
                .into()),
            PluginSource::File { path, sha256: pinned } => {
                let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
                let actual: [u8; 32] = Sha256::digest(&bytes).into();
                if &actual != pinned {
                    bail!(
                        "{} has sha256 {}, but the config pins {}; refusing to run bytes nobody reviewed",
                        path.display(),
                        hex::encode(actual),
                        hex::encode(pinned)
                    );
                }
                Ok(bytes.into())
            }
        }
    }

    fn describe(&self, component: &Component, sha256: String, code: &CodeSource) -> Inspection {
        let ty = component.component_type();
        let sorted = |names: &mut dyn Iterator<Item = &str>| {
            let mut names: Vec<String> = names.map(str::to_string).collect();
            names.sort();
            names
        };
        Inspection {
            sha256,
            imports: sorted(&mut ty.imports(&self.engine).map(|(name, _)| name)),
            exports: sorted(&mut ty.exports(&self.engine).map(|(name, _)| name)),
            code: code.to_string(),
        }
    }

    /// Compiles `config`'s plugin into the precompiled cache (the `precompile` command).
    pub fn precompile(&self, config: &PluginConfig) -> anyhow::Result<()> {
        anyhow::ensure!(self.cache.is_some(), "there is no usable cache directory to precompile into");
        self.load(config).map(drop)
    }

    /// Runs one call in a fresh instance holding only `grants`. The outer error is the
    /// sandbox's (trap, deadline, memory); the inner one is the plugin's answer.
    pub fn call(&self, plugin: &LoadedPlugin, grants: &Grants, call: Call) -> CallOutcome {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let env = capabilities::env::granted(&grants.env, |name| std::env::var(name).ok());
        let wasi = WasiCtx::builder()
            .envs(&env)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .max_random_size(memory::HOSTCALL_BYTES as u64)
            .build();
        let budget = MemoryBudget::new(grants.memory_mib);
        let log = Arc::new(PluginLog::new(&plugin.id));
        let mut table = ResourceTable::new();
        table.set_max_capacity(budget.resources());
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(memory::FIELD_SIZE_LIMIT);
        let deadline = Duration::from_millis(grants.deadline_ms);
        let ends = Instant::now() + deadline;
        let state = State {
            wasi,
            http,
            table,
            egress: Egress {
                plugin: plugin.id.clone(),
                grants: Arc::new(grants.network.clone()),
                bounds: Bounds { max_requests: grants.max_requests as u32, ..Bounds::default() },
                ca_bundle: self.ca_bundle.clone(),
                deadline: ends,
                requests: 0,
                log: log.clone(),
                memory: budget.clone(),
            },
            settings: Settings(grants.settings.clone()),
            files: FileGrants::new(&grants.files, ends),
            request: Request::default(),
            log: log.clone(),
            limiter: Limiter { budget: budget.clone() },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_hostcall_fuel(memory::HOSTCALL_BYTES);
        store.set_max_component_handles(2 * budget.resources());
        // The deadline: the plugin yields to the runtime every so often (and whenever it
        // waits for I/O), where the timeout below can end the call.
        store.set_fuel(u64::MAX)?;
        store.fuel_async_yield_interval(Some(FUEL_BETWEEN_YIELDS))?;

        let run = async {
            let instance = bindings::Plugin::instantiate_async(&mut store, &plugin.component, &self.linker).await?;
            let helper = instance.docker_credential_wasm_plugin_helper();
            Ok(match call {
                Call::Get(registry, context) => {
                    store.data_mut().request.context = context;
                    let answer = helper.call_get(&mut store, &registry).await?;
                    let scope = if store.data().request.image_read { Scope::Image } else { Scope::Registry };
                    answer.map(|credentials| Reply::Credentials(credentials, scope))
                }
                Call::Store(registry, credentials) => {
                    helper.call_save(&mut store, &registry, &credentials).await?.map(|()| Reply::Done)
                }
                Call::Erase(registry) => helper.call_erase(&mut store, &registry).await?.map(|()| Reply::Done),
                Call::List(routed) => helper.call_list(&mut store, &routed).await?.map(Reply::Entries),
            }) as wasmtime::Result<_>
        };
        let runtime = self.runtime.as_ref().expect("the runtime lives as long as the sandbox");
        let called = runtime.block_on(async { tokio::time::timeout(deadline, within(&budget, run)).await });
        log.captured("stdout", &stdout.contents());
        log.captured("stderr", &stderr.contents());
        log.report_dropped();
        match called {
            Err(_) => Err(anyhow!("it exceeded its deadline of {} ms (deadline-ms)", grants.deadline_ms)),
            Ok(None) => Err(over_memory(&budget, grants, budget.exceeded().unwrap_or(Exceeded::Bodies))),
            Ok(Some(result)) => result.map_err(|error| {
                let error = anyhow::Error::from(error);
                logging::log(
                    Level::Debug,
                    format_args!("plugin {}: {}", plugin.id, logging::sanitize(&format!("{error:?}"), 16 * 1024)),
                );
                explain(error, &budget, grants)
            }),
        }
    }
}

/// The memory-limit error, with what went over.
fn over_memory(budget: &MemoryBudget, grants: &Grants, exceeded: Exceeded) -> anyhow::Error {
    anyhow!("it exceeded its memory limit of {} MiB (memory-mib){}", grants.memory_mib, exceeded.detail(budget))
}

/// One line saying why a call failed in the sandbox.
fn explain(error: anyhow::Error, budget: &MemoryBudget, grants: &Grants) -> anyhow::Error {
    let too_many_resources = error.chain().any(|cause| {
        matches!(cause.downcast_ref(), Some(wasmtime::component::ResourceTableError::Full))
            || cause.to_string().contains("store handle limit exceeded")
    });
    if too_many_resources {
        budget.exceed(Exceeded::Resources);
    }
    if let Some(exceeded) = budget.exceeded() {
        over_memory(budget, grants, exceeded)
    } else if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        anyhow!("it trapped: {trap}")
    } else if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        anyhow!("it called exit({}) instead of returning an answer", exit.0)
    } else if error.root_cause().to_string().contains("fuel allocated for hostcalls has been exhausted") {
        anyhow!(
            "it passed more than {} KiB to the host at once (one string or list in a call, or its answer); that is the most a plugin may",
            memory::HOSTCALL_BYTES >> 10
        )
    } else {
        anyhow!("it failed: {}", logging::sanitize(&error.root_cause().to_string(), 512))
    }
}

/// Runs `call` until it finishes, or (`None`) until the memory budget is exceeded by what the
/// host holds for the plugin (checked whenever the plugin yields or waits).
async fn within<T>(budget: &MemoryBudget, call: impl Future<Output = T>) -> Option<T> {
    let mut call = std::pin::pin!(call);
    std::future::poll_fn(|context| {
        if budget.exceeded().is_some_and(|what| what != Exceeded::Wasm) {
            return std::task::Poll::Ready(None);
        }
        call.as_mut().poll(context).map(Some)
    })
    .await
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Name lookups run on blocking threads that a deadline cannot stop; the process does
        // not wait for them on its way out.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The engine settings every component is compiled and run with; `compile` adds Cranelift.
/// `build.rs` compiles the built-in plugins with the same settings (a test checks that the
/// results load).
fn engine_config(compile: bool) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.consume_fuel(true);
    config.enable_compiler(compile);
    config
}

/// Links the WASI interfaces a plugin may use, backed by a context that grants nothing but
/// the plugin's env: no preopened directories, no arguments, empty stdin, captured
/// stdout/stderr. `wasi:sockets` is deliberately not linked.
fn link_wasi(linker: &mut Linker<State>) -> anyhow::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, io, random};
    use wasmtime_wasi::random::WasiRandom;

    struct Io;
    impl wasmtime::component::HasData for Io {
        type Data<'a> = &'a mut ResourceTable;
    }
    let l = linker;
    io::error::add_to_linker::<State, Io>(l, |s| &mut s.table)?;
    io::poll::add_to_linker::<State, Io>(l, |s| &mut s.table)?;
    io::streams::add_to_linker::<State, Io>(l, |s| &mut s.table)?;
    clocks::wall_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)?;
    clocks::monotonic_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)?;
    random::random::add_to_linker::<State, WasiRandom>(l, |s| s.wasi.random())?;
    random::insecure::add_to_linker::<State, WasiRandom>(l, |s| s.wasi.random())?;
    random::insecure_seed::add_to_linker::<State, WasiRandom>(l, |s| s.wasi.random())?;
    cli::exit::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::environment::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stdin::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stdout::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stderr::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_input::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_output::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stdin::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stdout::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stderr::add_to_linker::<State, WasiCli>(l, State::cli)?;
    filesystem::preopens::add_to_linker::<State, WasiFilesystem>(l, State::filesystem)?;
    filesystem::types::add_to_linker::<State, WasiFilesystem>(l, State::filesystem)?;
    Ok(())
}

/// Splits `ns:pkg/iface@version` into (`ns:pkg/iface`, `version`).
fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((interface, version)) => (interface, Some(version)),
        None => (name, None),
    }
}

/// Whether `version` can stand in for our [`WIT_VERSION`] (semver: for `0.x`, same minor).
fn compatible_version(version: &str) -> bool {
    let parts = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split(['.', '-', '+']);
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    match (parts(version), parts(WIT_VERSION)) {
        (Some((0, minor)), Some((0, ours))) => minor == ours,
        (Some((major, _)), Some((ours, _))) => major == ours,
        _ => false,
    }
}

/// Refuses a component that imports anything outside [`ALLOWED_IMPORTS`].
pub fn check_imports<'a>(imports: impl Iterator<Item = &'a str>) -> anyhow::Result<()> {
    let refused: Vec<&str> = imports
        .filter(|name| {
            let (interface, version) = split_version(name);
            let ours = interface.starts_with(WIT_PACKAGE);
            let version_ok = match version {
                Some(v) if ours => compatible_version(v),
                Some(v) => v.starts_with("0.2."),
                None => false,
            };
            !(version_ok && ALLOWED_IMPORTS.contains(&interface))
        })
        .collect();
    if !refused.is_empty() {
        bail!(
            "it imports {}, which plugins may not use (no wasi:sockets; network only through wasi:http); plugins may import {} (WASI 0.2.x)",
            refused.join(", "),
            ALLOWED_IMPORTS.join(", ")
        );
    }
    Ok(())
}

/// Requires the `helper` export of our package at a compatible version.
pub fn check_exports<'a>(exports: impl Iterator<Item = &'a str>) -> anyhow::Result<()> {
    let helper = format!("{WIT_PACKAGE}/helper");
    let exports: Vec<&str> = exports.collect();
    let found = exports.iter().find(|name| split_version(name).0 == helper);
    match found.map(|name| split_version(name).1) {
        Some(Some(version)) if compatible_version(version) => Ok(()),
        Some(version) => bail!(
            "it was built for {WIT_PACKAGE}@{}, but this host speaks {WIT_PACKAGE}@{WIT_VERSION}; rebuild it with guest-sdk {WIT_VERSION}",
            version.unwrap_or("<no version>")
        ),
        None => bail!(
            "it is not a docker-credential-wasm plugin: it does not export {helper}@{WIT_VERSION} (its exports: {})",
            if exports.is_empty() { "none".to_string() } else { exports.join(", ") }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_compiled_at_build_time_for_this_engine() {
        let sandbox = Sandbox::new(None, None).unwrap();
        for builtin in builtins::BUILTINS {
            let compiled =
                builtin.code().compiled.unwrap_or_else(|| panic!("{} was not compiled at build time", builtin.name));
            let (component, code) = components::builtin(&sandbox.engine, None, builtin.name, compiled)
                .unwrap_or_else(|| panic!("the engine refuses the build-time code of {}", builtin.name));
            assert_eq!(code, CodeSource::Builtin);
            let inspection = sandbox.describe(&component, builtin.sha256.to_string(), &code);
            check_exports(inspection.exports.iter().map(String::as_str)).unwrap();
        }
    }

    #[test]
    fn the_host_speaks_the_wit_package_version() {
        let wit = include_str!("../../wit/plugin.wit");
        assert!(wit.lines().any(|line| line == format!("package {WIT_PACKAGE}@{WIT_VERSION};")));
    }

    #[test]
    fn imports_outside_the_world_are_refused_by_name() {
        let ok = ["wasi:cli/environment@0.2.4", "wasi:io/streams@0.2.0", "docker-credential-wasm:plugin/log@0.1.0"];
        check_imports(ok.into_iter()).unwrap();
        let err = check_imports(["wasi:io/streams@0.2.4", "wasi:sockets/tcp@0.2.4"].into_iter()).unwrap_err();
        assert!(err.to_string().starts_with("it imports wasi:sockets/tcp@0.2.4, which plugins may not use"), "{err}");
        for bad in [
            "wasi:cli/environment@0.3.0",
            "evil:x/y@1.0.0",
            "docker-credential-wasm:plugin/log@0.2.0",
            "wasi:cli/environment",
        ] {
            assert!(check_imports([bad].into_iter()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_helper_export_must_be_a_compatible_version() {
        check_exports(["docker-credential-wasm:plugin/helper@0.1.0"].into_iter()).unwrap();
        check_exports(["docker-credential-wasm:plugin/helper@0.1.7"].into_iter()).unwrap();
        let newer = check_exports(["docker-credential-wasm:plugin/helper@0.2.0"].into_iter()).unwrap_err();
        assert_eq!(
            newer.to_string(),
            "it was built for docker-credential-wasm:plugin@0.2.0, but this host speaks docker-credential-wasm:plugin@0.1.1; rebuild it with guest-sdk 0.1.1"
        );
        let none = check_exports(["wasi:cli/run@0.2.0"].into_iter()).unwrap_err();
        assert_eq!(
            none.to_string(),
            "it is not a docker-credential-wasm plugin: it does not export docker-credential-wasm:plugin/helper@0.1.1 (its exports: wasi:cli/run@0.2.0)"
        );
    }
}
