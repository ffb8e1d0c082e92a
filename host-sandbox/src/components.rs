//! Precompiled components: the native code of each plugin, cached under the component's
//! sha256, the engine's compatibility hash and the CPU's features, so only the first run of a
//! plugin (or of a new wasmtime) pays for Cranelift.
//!
//! Compiled code is native code that runs outside the sandbox, so a cache file is never
//! trusted for its name. When this program writes one (a built-in's code compiled when the
//! program was built, or an external plugin's compiled from bytes that matched its pinned
//! sha256), it records next to it an HMAC-SHA256 over the file's name and the identity of
//! the very file written (device, inode, size, modification and change times: a file that is
//! replaced, rewritten, moved or copied in has another, and only the kernel sets the change
//! time), keyed by a random key in the cache's root (0600). A cache file is opened through
//! the cache's checked handles (see [`super::Dir::open`]), used only if that MAC verifies for
//! the handle opened, and mapped through that handle. A file that fails is logged, not run,
//! and replaced (a built-in's code then comes from the program itself).

use hmac::{Hmac, Mac};
use host_core::cache::{CacheDir, Dir};
use sha2::Sha256;
use std::hash::{Hash, Hasher};
use std::os::fd::AsRawFd;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The sub-directory of the cache that holds compiled code.
pub const DIR: &str = "components";
/// The cache root's file holding the key of the compiled code's MACs.
const KEY: &str = "key";

/// Where the code a plugin runs came from, for `audit` and the debug log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeSource {
    /// A built-in's build-time code, mapped from the cache copy whose MAC verified.
    BuiltinCached(String),
    /// A built-in's build-time code, from the program itself.
    Builtin,
    /// A cache file whose MAC verified.
    Cached(String),
    /// Compiled now from the verified bytes (and cached at the path, if any).
    Compiled(Option<String>),
}

impl std::fmt::Display for CodeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodeSource::BuiltinCached(path) => write!(
                f,
                "compiled when this program was built; mapped from {path} (HMAC verified: the file this program wrote)"
            ),
            CodeSource::Builtin => f.write_str("compiled when this program was built; from the program"),
            CodeSource::Cached(path) => {
                write!(f, "{path} (HMAC verified: the file this cache compiled from the pinned bytes)")
            }
            CodeSource::Compiled(Some(path)) => write!(f, "compiled now from the pinned bytes; cached at {path}"),
            CodeSource::Compiled(None) => f.write_str("compiled now from the pinned bytes; not cached"),
        }
    }
}

/// The cache file name for a component with this digest under this engine on this CPU.
pub fn file_name(engine: &Engine, sha256: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    host_cpu_features().hash(&mut hasher);
    format!("{sha256}-{:016x}.cwasm", hasher.finish())
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

/// A built-in's build-time code `compiled`: mapped from its cache copy `name` (written
/// first, with its MAC, when there is no good one), else loaded from the program; `None` if
/// the engine refuses it.
pub fn builtin(
    engine: &Engine,
    store: Option<(&CacheDir, &Dir)>,
    name: &str,
    compiled: &'static [u8],
) -> Option<(Component, CodeSource)> {
    if let Some((cache, dir)) = store {
        let mapped = verified_or_refused(engine, cache, dir, name).or_else(|| {
            write(cache, dir, name, compiled).ok()?;
            verified_or_refused(engine, cache, dir, name)
        });
        if let Some(component) = mapped {
            return Some((component, CodeSource::BuiltinCached(dir.path().join(name).display().to_string())));
        }
    }
    // SAFETY: compiled by this program's build, by the same wasmtime with the same settings.
    let component = unsafe { Component::deserialize(engine, compiled) }.ok()?;
    Some((component, CodeSource::Builtin))
}

/// An external plugin's cached code `name`, if its MAC verifies. A file that fails is
/// removed (and logged), so the caller compiles and replaces it.
pub fn cached(engine: &Engine, cache: &CacheDir, dir: &Dir, name: &str) -> Option<(Component, CodeSource)> {
    let component = verified_or_refused(engine, cache, dir, name)?;
    Some((component, CodeSource::Cached(dir.path().join(name).display().to_string())))
}

/// The cached code `name` if its MAC verifies; a file that fails is logged and removed.
fn verified_or_refused(engine: &Engine, cache: &CacheDir, dir: &Dir, name: &str) -> Option<Component> {
    verified(engine, cache, dir, name).unwrap_or_else(|why| {
        host_core::logging::log(
            host_core::logging::Level::Warn,
            format_args!("not running the compiled code {}: {why}; replacing it", dir.path().join(name).display()),
        );
        let _ = dir.remove(name);
        let _ = dir.remove(&mac_name(name));
        None
    })
}

/// The cached code `name`: `Ok(None)` if there is none (or it has no MAC: it was compiled
/// by a version that recorded none), `Err` if it fails a check.
fn verified(engine: &Engine, cache: &CacheDir, dir: &Dir, name: &str) -> Result<Option<Component>, String> {
    let Some(file) = dir.open(name).map_err(|e| e.to_string())? else { return Ok(None) };
    let Some(recorded) = dir.read(&mac_name(name), 64).map_err(|e| e.to_string())? else {
        host_core::logging::log(
            host_core::logging::Level::Debug,
            format_args!("{}: no MAC was recorded for it; writing it again", dir.path().join(name).display()),
        );
        return Ok(None);
    };
    let recorded = hex::decode(&recorded).map_err(|_| "its recorded MAC is not hex")?;
    let identity = identity(&rustix::fs::fstat(&file).map_err(|e| e.to_string())?);
    mac(cache, name, &identity)?
        .verify_slice(&recorded)
        .map_err(|_| "its MAC does not match: it is not the file this cache wrote")?;
    // SAFETY: the file was checked on this very handle (this user's, writable by nobody
    // else, in a directory nobody else may write) and is the file this cache wrote from
    // code it trusts; the cache never rewrites a file in place. It is mapped through the
    // handle, not by name.
    let component = unsafe { Component::deserialize_file(engine, format!("/proc/self/fd/{}", file.as_raw_fd())) }
        .map_err(|e| format!("the engine refuses it: {e}"))?;
    Ok(Some(component))
}

/// What makes a file the file that was written: device, inode, size, and the modification
/// and change times (the kernel moves the change time on every write, rename or link).
fn identity(stat: &rustix::fs::Stat) -> String {
    format!(
        "{}:{}:{}:{}.{}:{}.{}",
        stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime, stat.st_mtime_nsec, stat.st_ctime, stat.st_ctime_nsec
    )
}

fn mac_name(name: &str) -> String {
    format!("{name}.mac")
}

/// The MAC of the cache file `name` with `identity`, keyed by the cache's key (made on
/// first use).
fn mac(cache: &CacheDir, name: &str, identity: &str) -> Result<Hmac<Sha256>, String> {
    let key = key(cache).map_err(|e| format!("the cache's key: {e}"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(name.as_bytes());
    mac.update(&[0]);
    mac.update(identity.as_bytes());
    Ok(mac)
}

/// The cache's MAC key: 32 random bytes in `key` at its root, mode 0600, made once.
fn key(cache: &CacheDir) -> std::io::Result<[u8; 32]> {
    let root = cache.root();
    let stored = match root.read(KEY, 32)? {
        Some(stored) => stored,
        None => {
            let mut key = [0u8; 32];
            rustix::rand::getrandom(&mut key, rustix::rand::GetRandomFlags::empty())?;
            match root.create_new(KEY, &key) {
                Ok(()) => return Ok(key),
                // Another process made it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => root.read(KEY, 32)?.unwrap_or_default(),
                Err(e) => return Err(e),
            }
        }
    };
    stored.try_into().map_err(|_| std::io::Error::other("it is not 32 bytes"))
}

/// Writes compiled code `bytes` as `name` in `dir`, and then its MAC.
fn write(cache: &CacheDir, dir: &Dir, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let written = dir.write_atomically(name, bytes)?;
    let mac = mac(cache, name, &identity(&written)).map_err(std::io::Error::other)?;
    dir.write_atomically(&mac_name(name), hex::encode(mac.finalize().into_bytes()).as_bytes()).map(drop)
}

/// Compiles `bytes` with `compiler` and stores the result, with its MAC, as `name` in the
/// cache's `dir`; returns the component, loaded into `engine` (which has the compiler's
/// settings).
/// Says what `bytes` are when they are clearly not a component: not WebAssembly at all, or a
/// core module (what `wasm32-wasip1` and `wasm32-unknown-unknown` builds produce).
fn refuse_what_is_not_a_component(bytes: &[u8]) -> anyhow::Result<()> {
    const BUILD: &str = "build the plugin with `cargo build --release --target wasm32-wasip2` and use the .wasm file in target/wasm32-wasip2/release/";
    match bytes.get(..8) {
        Some(header) if !header.starts_with(b"\0asm") => anyhow::bail!("it is not WebAssembly: {BUILD}"),
        None => anyhow::bail!("it is not WebAssembly ({} bytes): {BUILD}", bytes.len()),
        Some(b"\0asm\x01\0\0\0") => {
            anyhow::bail!(
                "it is a core WebAssembly module, not a component (a wasm32-wasip1 or wasm32-unknown-unknown build): {BUILD}"
            )
        }
        Some(_) => Ok(()),
    }
}

pub fn compile(
    compiler: &Engine,
    engine: &Engine,
    bytes: &[u8],
    store: Option<(&CacheDir, &Dir)>,
    name: &str,
) -> anyhow::Result<(Component, CodeSource)> {
    refuse_what_is_not_a_component(bytes)?;
    let compiled =
        compiler.precompile_component(bytes).map_err(|e| anyhow::anyhow!("not a valid WebAssembly component: {e}"))?;
    let stored = store.and_then(|(cache, dir)| match write(cache, dir, name, &compiled) {
        Ok(()) => Some(dir.path().join(name).display().to_string()),
        Err(e) => {
            host_core::logging::log(host_core::logging::Level::Debug, format_args!("cannot cache {name}: {e}"));
            None
        }
    });
    // SAFETY: `compiled` was produced a moment ago by an engine with `engine`'s settings.
    let component = unsafe { Component::deserialize(engine, &compiled) }?;
    Ok((component, CodeSource::Compiled(stored)))
}
