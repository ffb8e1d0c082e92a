//! Precompiled components: the native code of each plugin, cached under the component's
//! sha256 and the engine's compatibility hash, so only the first run of a plugin (or of a
//! new wasmtime) pays for Cranelift. Loaded with `deserialize_file` (mapped, not copied) from
//! the user-only cache by an engine without a compiler; a file that fails to load is
//! compiled again (by a compiling engine with the same settings) and replaced.

use super::{CacheDir, write_atomically};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The cache file for a component with this digest under this engine on this CPU.
pub fn path(cache: &CacheDir, engine: &Engine, sha256: &str) -> std::io::Result<PathBuf> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    host_cpu_features().hash(&mut hasher);
    Ok(cache.subdir("components")?.join(format!("{sha256}-{:016x}.cwasm", hasher.finish())))
}

/// The CPU features Cranelift compiles for when it targets this host. The runtime engine
/// has no compiler, so its compatibility hash leaves them out; without them, machines with
/// different CPUs sharing one cache directory (a home on NFS) would keep replacing each
/// other's compiled code (wasmtime refuses code that needs a feature the CPU lacks).
fn host_cpu_features() -> Vec<bool> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        vec![
            has!("cmpxchg16b"),
            has!("sse3"),
            has!("ssse3"),
            has!("sse4.1"),
            has!("sse4.2"),
            has!("popcnt"),
            has!("avx"),
            has!("avx2"),
            has!("fma"),
            has!("avxvnni"),
            has!("avx512vnni"),
            has!("bmi1"),
            has!("bmi2"),
            has!("avx512bitalg"),
            has!("avx512dq"),
            has!("avx512f"),
            has!("avx512vl"),
            has!("avx512vbmi"),
            has!("lzcnt"),
        ]
    }
    #[cfg(target_arch = "aarch64")]
    {
        use std::arch::is_aarch64_feature_detected as has;
        vec![has!("lse"), has!("paca"), has!("fp16"), has!("dotprod"), has!("i8mm")]
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Vec::new()
    }
}

/// The cached compiled component, if there is a usable one.
pub fn load(engine: &Engine, path: &std::path::Path) -> Option<Component> {
    if !path.is_file() {
        return None;
    }
    // SAFETY: the file is in a directory only this user can write, was written atomically
    // by this program from verified bytes, and its name carries the engine's compatibility
    // hash; wasmtime also checks the header and engine settings before using it.
    unsafe { Component::deserialize_file(engine, path) }.ok()
}

/// Code compiled at build time (a built-in plugin's), stored at `path` if there is one and
/// mapped from there, else loaded from memory; `None` if `engine` refuses it (the caller
/// then compiles the component, replacing the file).
pub fn install(engine: &Engine, compiled: &'static [u8], path: Option<&std::path::Path>) -> Option<Component> {
    if let Some(path) = path
        && write_atomically(path, compiled).is_ok()
    {
        return load(engine, path);
    }
    // SAFETY: compiled by this program's build, by the same wasmtime with the same settings.
    unsafe { Component::deserialize(engine, compiled) }.ok()
}

/// Compiles `bytes` with `compiler` and, given a `path`, stores the result there; returns
/// the component, loaded into `engine` (which has the compiler's settings).
pub fn compile(
    compiler: &Engine,
    engine: &Engine,
    bytes: &[u8],
    path: Option<&std::path::Path>,
) -> anyhow::Result<Component> {
    let compiled =
        compiler.precompile_component(bytes).map_err(|e| anyhow::anyhow!("not a valid WebAssembly component: {e}"))?;
    if let Some(path) = path
        && let Err(e) = write_atomically(path, &compiled)
    {
        crate::logging::log(crate::logging::Level::Debug, format_args!("cannot cache {}: {e}", path.display()));
    }
    // SAFETY: `compiled` was produced a moment ago by an engine with `engine`'s settings.
    Ok(unsafe { Component::deserialize(engine, &compiled) }?)
}
