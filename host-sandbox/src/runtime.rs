//! The runtime: loads a plugin from verified bytes, checks that it speaks our world and
//! imports nothing outside it, and runs one call in a fresh store that holds only the
//! plugin's grants (the capabilities' state), under a memory limit and a wall-clock deadline.

use crate::bindings;
use crate::builtin_code;
use crate::capabilities::memory::{self, Exceeded, MemoryBudget};
use crate::capabilities::secrets::StoreChoice;
use crate::capabilities::{CallSetup, Capabilities, HasCapabilities, env, log::PluginLog};
use crate::components::{self, CodeSource};
use crate::world::{Inspection, check_exports, check_imports, split_version};
use anyhow::{Context, anyhow, bail};
use host_core::cache::CacheDir;
use host_core::call::{Call, CallOutcome, PluginError, Reply, Scope};
use host_core::config::{PluginConfig, PluginSource};
use host_core::grants::Grants;
use host_core::logging::{self, Level, MAX_PLUGIN_TEXT_CHARS};
use host_core::manifest::{self, Manifest};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How much work (in wasmtime fuel, about one unit per instruction) a plugin does between
/// chances for the deadline to stop it: about a millisecond at most, yet rare enough to cost
/// nothing measurable.
const FUEL_BETWEEN_YIELDS: u64 = 1_000_000;
/// Captured plugin stdout and stderr, each.
const OUTPUT_CAPACITY: usize = 64 * 1024;

/// The store state of one plugin instance: exactly its grants.
struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    capabilities: Capabilities,
    limiter: Limiter,
}

impl HasCapabilities for State {
    fn capabilities(&mut self) -> &mut Capabilities {
        &mut self.capabilities
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.capabilities.egress }
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

/// The wasmtime engine shared by every plugin call of this process.
pub struct Sandbox {
    /// Runs compiled components; it has no compiler, which makes it quick to create.
    engine: Engine,
    /// The same settings with Cranelift, made only when a component must be compiled.
    compiler: std::sync::OnceLock<Engine>,
    ca_bundle: Option<std::path::PathBuf>,
    store: StoreChoice,
    cache: Option<CacheDir>,
    /// Runs each call, with its HTTP requests and its deadline, on this thread: no threads
    /// to start and no hand-offs between threads while a plugin waits for an answer. Only
    /// `None` while the sandbox is dropped.
    runtime: Option<tokio::runtime::Runtime>,
    /// Whether a call's instance is left for the process's exit to reclaim (see
    /// [`Sandbox::leave_instances_to_exit`]).
    leave_instances_to_exit: bool,
}

/// A plugin whose bytes were verified and compiled, whose world was checked, and whose
/// imports were linked.
pub struct LoadedPlugin {
    pub id: String,
    pre: bindings::PluginPre<State>,
    /// How long linking its imports took (for the phase log).
    pub linking: Duration,
}

impl Sandbox {
    /// A sandbox whose plugins' HTTPS requests also trust the PEM certificates in
    /// `ca_bundle`, whose plugins' secrets go to the `store` the operator chose, and which
    /// keeps compiled components in `cache`.
    pub fn new(
        ca_bundle: Option<std::path::PathBuf>,
        store: StoreChoice,
        cache: Option<CacheDir>,
    ) -> anyhow::Result<Sandbox> {
        let engine = Engine::new(&engine_config(false))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("cannot start the I/O runtime")?;
        Ok(Sandbox {
            engine,
            compiler: std::sync::OnceLock::new(),
            ca_bundle,
            store,
            cache,
            runtime: Some(runtime),
            leave_instances_to_exit: false,
        })
    }

    /// Leaves each call's instance (its memories, tables and host state) and each loaded
    /// plugin's code for the process's exit to reclaim, instead of tearing them down when the
    /// call returns: for a process that answers one request and exits, where unmapping them
    /// first only delays the answer (by about 0.1 ms of a miss) and the exit reclaims them
    /// anyway.
    pub fn leave_instances_to_exit(&mut self) {
        self.leave_instances_to_exit = true;
    }

    /// Loads the plugin `config` names, compiled (from the precompiled cache when it holds
    /// this exact component), with its imports and exports checked against our world. A
    /// file plugin's bytes are read and checked against the pin on every load, as `audit`
    /// does: a rebuilt plugin whose pin was not updated is refused, never replaced by the
    /// compiled copy of its old bytes.
    ///
    /// An external plugin's settings must be ones its embedded manifest names, if it embeds
    /// one, as a built-in's must be ones its manifest names.
    pub fn load(&self, config: &PluginConfig) -> anyhow::Result<LoadedPlugin> {
        let (component, code, manifest) = self.component(config)?;
        logging::log(Level::Debug, format_args!("plugin {}: code {code}", config.id));
        let inspection = self.describe(&component, config, &code, manifest);
        check_imports(inspection.imports.iter().map(String::as_str))?;
        check_exports(inspection.exports.iter().map(String::as_str))?;
        if let Some(unknown) = inspection.unknown_setting {
            bail!(unknown);
        }
        let linking = Instant::now();
        let linker = linker_for(&self.engine, &inspection.imports)?;
        let pre = bindings::PluginPre::new(linker.instantiate_pre(&component)?)?;
        Ok(LoadedPlugin { id: config.id.clone(), pre, linking: linking.elapsed() })
    }

    /// Reads, verifies and compiles a plugin and lists what it imports and exports and what
    /// its embedded manifest asks for, without judging them (for `audit`, which reports what
    /// `load` would refuse). The bytes of a file plugin are always checked against the
    /// pinned digest here.
    pub fn inspect(&self, config: &PluginConfig) -> anyhow::Result<Inspection> {
        let (component, code, manifest) = self.component(config)?;
        Ok(self.describe(&component, config, &code, manifest))
    }

    /// The compiled component, where its code came from, and the manifest a file plugin's
    /// bytes embed: a built-in's code compiled when this program was built (mapped from the
    /// cache's copy when its MAC verifies); else the cache's copy when its MAC shows this
    /// cache compiled it from bytes that matched the digest; else compiled now from the
    /// verified bytes and cached. A file plugin's bytes are read and checked even when the
    /// cache has its code.
    fn component(&self, config: &PluginConfig) -> anyhow::Result<(Component, CodeSource, Option<Manifest>)> {
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
            && let Some(compiled) = builtin_code::find(name_of).and_then(|code| code.compiled)
            && let Some(found) = components::builtin(&self.engine, store, &name, compiled)
        {
            return Ok((found.0, found.1, None));
        }
        let bytes = self.verified_bytes(config)?;
        let (component, code) = match store.and_then(|(cache, dir)| components::cached(&self.engine, cache, dir, &name))
        {
            Some(found) => found,
            None => components::compile(self.compiler()?, &self.engine, &bytes, store, &name)?,
        };
        // Read once the bytes are known to be a component, so that what is not one is named
        // by the compiler's checks.
        let manifest = match config.source {
            PluginSource::File { .. } => manifest::embedded(&bytes).map_err(|e| anyhow!(e))?,
            PluginSource::Builtin(_) => None,
        };
        Ok((component, code, manifest))
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
            PluginSource::Builtin(name) => {
                Ok(builtin_code::find(name).ok_or_else(|| anyhow!("there is no built-in plugin {name:?}"))?.wasm.into())
            }
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

    fn describe(
        &self,
        component: &Component,
        config: &PluginConfig,
        code: &CodeSource,
        manifest: Option<Manifest>,
    ) -> Inspection {
        let ty = component.component_type();
        let sorted = |names: &mut dyn Iterator<Item = &str>| {
            let mut names: Vec<String> = names.map(str::to_string).collect();
            names.sort();
            names
        };
        Inspection {
            sha256: config.component_sha256(),
            imports: sorted(&mut ty.imports(&self.engine).map(|(name, _)| name)),
            exports: sorted(&mut ty.exports(&self.engine).map(|(name, _)| name)),
            code: code.to_string(),
            unknown_setting: manifest.as_ref().and_then(|manifest| {
                let unknown = manifest.unknown_setting(&config.id, config.grants.settings.keys())?;
                Some(format!("{unknown} (the settings its embedded manifest names)"))
            }),
            manifest,
        }
    }

    /// Compiles `config`'s plugin into the precompiled cache (the `precompile` command).
    pub fn precompile(&self, config: &PluginConfig) -> anyhow::Result<()> {
        anyhow::ensure!(self.cache.is_some(), "there is no usable cache directory to precompile into");
        self.load(config).map(drop)
    }

    /// Runs one call in a fresh instance holding only `grants`. The outer error is the
    /// sandbox's (trap, deadline, memory); the inner one is the plugin's answer.
    pub fn call(&self, plugin: LoadedPlugin, grants: &Grants, call: Call) -> CallOutcome {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let env = env::granted(&grants.env.items(), |name| std::env::var(name).ok());
        let wasi = WasiCtx::builder()
            .envs(&env)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .max_random_size(memory::HOSTCALL_BYTES as u64)
            // wasi:sockets is linked for runtimes that import it (CPython's), and refuses every
            // use before any system call: no socket is created, no name looked up.
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let budget = MemoryBudget::new(grants.limits.memory_mib.value);
        let log = Arc::new(PluginLog::new(&plugin.id));
        let mut table = ResourceTable::new();
        table.set_max_capacity(budget.resources());
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(memory::FIELD_SIZE_LIMIT);
        let deadline = Duration::from_millis(grants.limits.deadline_ms.value);
        let setup = CallSetup {
            plugin: &plugin.id,
            grants,
            deadline: Instant::now() + deadline,
            log: &log,
            memory: &budget,
            ca_bundle: self.ca_bundle.as_deref(),
            store: &self.store,
        };
        let state = State {
            wasi,
            http,
            table,
            capabilities: Capabilities::for_call(&setup),
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
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            let helper = instance.docker_credential_wasm_plugin_helper();
            Ok(match call {
                Call::Get(registry, context) => {
                    store.data_mut().capabilities.request.context = context;
                    let answer = helper.call_get(&mut store, &registry).await?;
                    let scope =
                        if store.data().capabilities.request.image_read { Scope::Image } else { Scope::Registry };
                    answer.map(|credentials| Reply::Credentials(credentials.into(), scope))
                }
                Call::Store(registry, credentials, context) => {
                    store.data_mut().capabilities.request.context = context;
                    helper.call_save(&mut store, &registry, &credentials.into()).await?.map(|()| Reply::Done)
                }
                Call::Erase(registry, context) => {
                    store.data_mut().capabilities.request.context = context;
                    helper.call_erase(&mut store, &registry).await?.map(|()| Reply::Done)
                }
                Call::List(routed) => helper
                    .call_list(&mut store, &routed)
                    .await?
                    .map(|entries| Reply::Entries(entries.into_iter().map(Into::into).collect())),
            }
            .map_err(PluginError::from)) as wasmtime::Result<_>
        };
        let runtime = self.runtime.as_ref().expect("the runtime lives as long as the sandbox");
        let called = runtime.block_on(async { tokio::time::timeout(deadline, within(&budget, run)).await });
        if self.leave_instances_to_exit {
            std::mem::forget((store, plugin.pre));
        }
        let stderr = stderr.contents();
        log.captured("stdout", &stdout.contents());
        log.captured("stderr", &stderr);
        log.report_dropped();
        match called {
            Err(_) => Err(anyhow!("it exceeded its deadline of {} ms (deadline-ms)", deadline.as_millis())),
            Ok(None) => Err(over_memory(&budget, grants, budget.exceeded().unwrap_or(Exceeded::Bodies))),
            Ok(Some(result)) => result.map_err(|error| {
                let error = anyhow::Error::from(error);
                logging::log(
                    Level::Debug,
                    format_args!("plugin {}: {}", plugin.id, logging::sanitize(&format!("{error:?}"), 16 * 1024)),
                );
                explain(error, &budget, grants, &stderr)
            }),
        }
    }
}

/// The memory-limit error, with what went over.
fn over_memory(budget: &MemoryBudget, grants: &Grants, exceeded: Exceeded) -> anyhow::Error {
    anyhow!(
        "it exceeded its memory limit of {} MiB (memory-mib){}",
        grants.limits.memory_mib.value,
        exceeded.detail(budget)
    )
}

/// One line saying why a call failed in the sandbox (`stderr`: what the plugin wrote there,
/// where a Rust plugin's panic message is).
fn explain(error: anyhow::Error, budget: &MemoryBudget, grants: &Grants, stderr: &[u8]) -> anyhow::Error {
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
        match panic_message(&String::from_utf8_lossy(stderr)) {
            Some(panic) => anyhow!("it panicked at {}", logging::sanitize(&panic, MAX_PLUGIN_TEXT_CHARS)),
            None => anyhow!("it trapped: {trap}"),
        }
    } else if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        anyhow!("it called exit({}) instead of returning an answer", exit.0)
    } else if error.root_cause().to_string().contains("fuel allocated for hostcalls has been exhausted") {
        anyhow!(
            "it passed more than {} KiB to the host at once (one string or list in a call, or its answer); that is the most a plugin may",
            memory::HOSTCALL_BYTES >> 10
        )
    } else {
        anyhow!("it failed: {}", logging::sanitize(&error.root_cause().to_string(), MAX_PLUGIN_TEXT_CHARS))
    }
}

/// The location and message of the last Rust panic in `stderr` (`src/lib.rs:10:5: message`),
/// as the standard library prints it: `thread '…' panicked at <location>:\n<message>\nnote: …`.
fn panic_message(stderr: &str) -> Option<String> {
    let (_, after) = stderr.rsplit_once(" panicked at ")?;
    let mut lines = after.lines();
    let location = lines.next()?.trim_end_matches(':');
    let message: Vec<&str> = lines.take_while(|line| !line.starts_with("note: ")).collect();
    Some(format!("{location}: {}", message.join(" ").trim()))
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
/// No native unwind information: wasmtime's own backtraces and traps do not use it, and
/// registering it cost about 30 us (5%) of the ecr plugin's load and 4% of its compiled size.
/// `build.rs` compiles the built-in plugins with the same settings (a test checks that the
/// results load).
fn engine_config(compile: bool) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.consume_fuel(true);
    config.native_unwind_info(false);
    config.enable_compiler(compile);
    config
}

/// A linker holding exactly what `imports` (a checked component's imports, with versions)
/// names: those of the WASI interfaces ([`link_wasi`]) and of the capabilities. Linking
/// only what a plugin imports spares each call the rest (for `ecr`, about 0.09 of 0.23 ms:
/// it imports no filesystem, sockets, random or secrets).
fn linker_for(engine: &Engine, imports: &[String]) -> anyhow::Result<Linker<State>> {
    let interfaces: Vec<&str> = imports.iter().map(|name| split_version(name).0).collect();
    let mut linker = Linker::new(engine);
    for interface in crate::world::WASI.iter().filter(|name| interfaces.contains(name)) {
        link_wasi(&mut linker, interface)?;
    }
    Capabilities::link(&mut linker, |name| interfaces.contains(&name))?;
    Ok(linker)
}

/// Links the WASI interface `interface` (as [`crate::world::WASI`] names it), backed by a
/// context that grants nothing but the plugin's env: no preopened directories, no
/// arguments, empty stdin, captured stdout/stderr, and `wasi:sockets` that refuses every use
/// (TCP and UDP sockets are not created, names are not looked up, no address passes the
/// check): network only through `wasi:http` and its one chokepoint.
fn link_wasi(linker: &mut Linker<State>, interface: &str) -> anyhow::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, io, random, sockets};
    use wasmtime_wasi::random::WasiRandom;
    use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};

    struct Io;
    impl wasmtime::component::HasData for Io {
        type Data<'a> = &'a mut ResourceTable;
    }
    let l = linker;
    match interface {
        "wasi:io/error" => io::error::add_to_linker::<State, Io>(l, |s| &mut s.table)?,
        "wasi:io/poll" => io::poll::add_to_linker::<State, Io>(l, |s| &mut s.table)?,
        "wasi:io/streams" => io::streams::add_to_linker::<State, Io>(l, |s| &mut s.table)?,
        "wasi:clocks/wall-clock" => clocks::wall_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)?,
        "wasi:clocks/monotonic-clock" => clocks::monotonic_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)?,
        "wasi:random/random" => random::random::add_to_linker::<State, WasiRandom>(l, |s| s.wasi.random())?,
        "wasi:random/insecure" => random::insecure::add_to_linker::<State, WasiRandom>(l, |s| s.wasi.random())?,
        "wasi:random/insecure-seed" => {
            random::insecure_seed::add_to_linker::<State, WasiRandom>(l, |s| s.wasi.random())?
        }
        "wasi:cli/exit" => cli::exit::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/environment" => cli::environment::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/stdin" => cli::stdin::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/stdout" => cli::stdout::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/stderr" => cli::stderr::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/terminal-input" => cli::terminal_input::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/terminal-output" => cli::terminal_output::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/terminal-stdin" => cli::terminal_stdin::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/terminal-stdout" => cli::terminal_stdout::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/terminal-stderr" => cli::terminal_stderr::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:filesystem/preopens" => {
            filesystem::preopens::add_to_linker::<State, WasiFilesystem>(l, State::filesystem)?
        }
        "wasi:filesystem/types" => filesystem::types::add_to_linker::<State, WasiFilesystem>(l, State::filesystem)?,
        "wasi:sockets/instance-network" => {
            sockets::instance_network::add_to_linker::<State, WasiSockets>(l, State::sockets)?
        }
        "wasi:sockets/network" => {
            sockets::network::add_to_linker::<State, WasiSockets>(l, &Default::default(), State::sockets)?
        }
        "wasi:sockets/tcp-create-socket" => {
            sockets::tcp_create_socket::add_to_linker::<State, WasiSockets>(l, State::sockets)?
        }
        "wasi:sockets/tcp" => sockets::tcp::add_to_linker::<State, WasiSockets>(l, State::sockets)?,
        "wasi:sockets/udp-create-socket" => {
            sockets::udp_create_socket::add_to_linker::<State, WasiSockets>(l, State::sockets)?
        }
        "wasi:sockets/udp" => sockets::udp::add_to_linker::<State, WasiSockets>(l, State::sockets)?,
        "wasi:sockets/ip-name-lookup" => {
            sockets::ip_name_lookup::add_to_linker::<State, WasiSockets>(l, State::sockets)?
        }
        other => bail!("no WASI interface {other} to link"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_message_is_read_from_what_the_plugin_wrote() {
        let stderr = "\nthread '<unnamed>' (1) panicked at src/lib.rs:105:24:\nthe plugin panicked on purpose\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(panic_message(stderr).as_deref(), Some("src/lib.rs:105:24: the plugin panicked on purpose"));
        assert_eq!(panic_message("some other output\n"), None);
    }

    #[test]
    fn every_builtin_is_compiled_at_build_time_for_this_engine() {
        let sandbox = Sandbox::new(None, StoreChoice::default(), None).unwrap();
        for builtin in host_core::builtins::BUILTINS {
            let code = builtin_code::find(builtin.name).unwrap_or_else(|| panic!("no code for {}", builtin.name));
            let compiled = code.compiled.unwrap_or_else(|| panic!("{} was not compiled at build time", builtin.name));
            let (component, code) = components::builtin(&sandbox.engine, None, builtin.name, compiled)
                .unwrap_or_else(|| panic!("the engine refuses the build-time code of {}", builtin.name));
            assert_eq!(code, CodeSource::Builtin);
            let ty = component.component_type();
            check_exports(ty.exports(&sandbox.engine).map(|(name, _)| name)).unwrap();
        }
    }

    #[test]
    fn every_wasi_interface_a_plugin_may_import_is_linked_by_its_own_name() {
        let engine = Engine::new(&engine_config(false)).unwrap();
        for interface in crate::world::WASI {
            let mut linker = Linker::new(&engine);
            link_wasi(&mut linker, interface).unwrap_or_else(|e| panic!("{interface}: {e}"));
        }
        let mut linker = Linker::new(&engine);
        let error = link_wasi(&mut linker, "wasi:keyvalue/store").unwrap_err().to_string();
        assert_eq!(error, "no WASI interface wasi:keyvalue/store to link");
    }
}
