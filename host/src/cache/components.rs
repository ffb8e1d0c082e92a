//! Precompiled components: the native code of each plugin, cached under the component's
//! sha256, the engine's compatibility hash and the CPU's features, so only the first run of a
//! plugin (or of a new wasmtime) pays for Cranelift.
//!
//! Compiled code is native code that runs outside the sandbox, so a cache file is never
//! trusted for its name. It is opened through the cache's checked handles (see
//! [`super::Dir::open`]) and then checked against what it must be:
//! - a built-in plugin's against the code compiled when this program was built, which the
//!   program carries: the file is compared byte for byte before it is mapped;
//! - an external plugin's against an HMAC-SHA256, recorded when it was compiled from the
//!   verified bytes, over its file name and contents, keyed by a random key in the cache's
//!   root (0600) that code in the `components` directory cannot reach.
//!
//! A file that fails is not used (a built-in's code then comes from the program, an external
//! plugin is compiled again from its verified bytes) and is replaced.

use super::{CacheDir, Dir};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::os::fd::AsRawFd;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The sub-directory of the cache that holds compiled code.
pub const DIR: &str = "components";
/// The cache root's file holding the key of the compiled code's MACs.
const KEY: &str = "key";
/// Largest compiled component read back (a JavaScript or Python runtime is tens of MiB).
const MAX_COMPILED_BYTES: u64 = 512 << 20;

/// Where the code a plugin runs came from, for `audit` and the debug log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeSource {
    /// A built-in's build-time code, mapped from the cache copy after it compared equal.
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
            CodeSource::BuiltinCached(path) => {
                write!(f, "compiled when this program was built; mapped from {path} (compared equal)")
            }
            CodeSource::Builtin => f.write_str("compiled when this program was built; from the program"),
            CodeSource::Cached(path) => write!(f, "{path} (HMAC verified: compiled here from the pinned bytes)"),
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

/// A built-in's build-time code `compiled`: mapped from its cache copy `name` in `dir` when
/// that file holds exactly these bytes (the copy is written first if it is missing or
/// differs), else loaded from the program; `None` if the engine refuses it.
pub fn builtin(
    engine: &Engine,
    dir: Option<&Dir>,
    name: &str,
    compiled: &'static [u8],
) -> Option<(Component, CodeSource)> {
    if let Some(dir) = dir {
        let mapped = match map_if_equal(engine, dir, name, compiled) {
            Ok(Some(component)) => Some(component),
            Ok(None) => dir
                .write_atomically(name, compiled)
                .ok()
                .and_then(|()| map_if_equal(engine, dir, name, compiled).ok().flatten()),
            Err(why) => {
                refused(dir, name, &why);
                dir.write_atomically(name, compiled)
                    .ok()
                    .and_then(|()| map_if_equal(engine, dir, name, compiled).ok().flatten())
            }
        };
        if let Some(component) = mapped {
            return Some((component, CodeSource::BuiltinCached(dir.path().join(name).display().to_string())));
        }
    }
    // SAFETY: compiled by this program's build, by the same wasmtime with the same settings.
    let component = unsafe { Component::deserialize(engine, compiled) }.ok()?;
    Some((component, CodeSource::Builtin))
}

/// The component in `dir`'s file `name` if it is byte for byte `expected`, mapped from the
/// very file that was compared; `Ok(None)` if there is no such file; `Err` if it differs or
/// fails a check.
fn map_if_equal(engine: &Engine, dir: &Dir, name: &str, expected: &[u8]) -> Result<Option<Component>, String> {
    let Some(file) = dir.open(name).map_err(|e| e.to_string())? else { return Ok(None) };
    let length = file.metadata().map_err(|e| e.to_string())?.len();
    if length != expected.len() as u64 {
        return Err(format!("it holds {length} bytes, not the {} this program built", expected.len()));
    }
    if length > 0 {
        // SAFETY: a private, read-only mapping of a file we opened, unmapped below; the
        // slice does not outlive it.
        let mapped = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                expected.len(),
                rustix::mm::ProtFlags::READ,
                rustix::mm::MapFlags::PRIVATE,
                &file,
                0,
            )
        }
        .map_err(|e| e.to_string())?;
        let equal = unsafe { std::slice::from_raw_parts(mapped.cast::<u8>(), expected.len()) } == expected;
        // SAFETY: the mapping made above, no longer used.
        let _ = unsafe { rustix::mm::munmap(mapped, expected.len()) };
        if !equal {
            return Err("it differs from the code this program built".into());
        }
    }
    // SAFETY: the file is the one compared above (reopened through its descriptor, not its
    // name), a regular file of this user's that nobody else may write, in a directory that
    // nobody else may write; the cache never rewrites a file in place.
    let component = unsafe { Component::deserialize_file(engine, format!("/proc/self/fd/{}", file.as_raw_fd())) }
        .map_err(|e| format!("the engine refuses it: {e}"))?;
    Ok(Some(component))
}

/// An external plugin's cached code `name`, if its MAC verifies. A file that fails is
/// removed (and logged), so the caller compiles and replaces it.
pub fn cached(engine: &Engine, cache: &CacheDir, dir: &Dir, name: &str) -> Option<(Component, CodeSource)> {
    match verified(engine, cache, dir, name) {
        Ok(found) => {
            found.map(|component| (component, CodeSource::Cached(dir.path().join(name).display().to_string())))
        }
        Err(why) => {
            refused(dir, name, &why);
            None
        }
    }
}

fn verified(engine: &Engine, cache: &CacheDir, dir: &Dir, name: &str) -> Result<Option<Component>, String> {
    let Some(mut file) = dir.open(name).map_err(|e| e.to_string())? else { return Ok(None) };
    let Some(recorded) = dir.read(&mac_name(name), 64).map_err(|e| e.to_string())? else {
        // Compiled by a version that recorded no MACs (or planted): compiled again.
        crate::logging::log(
            crate::logging::Level::Debug,
            format_args!("{}: no MAC was recorded for it; compiling again", dir.path().join(name).display()),
        );
        return Ok(None);
    };
    let mut bytes = Vec::new();
    (&mut file).take(MAX_COMPILED_BYTES + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let recorded = hex::decode(&recorded).map_err(|_| "its recorded MAC is not hex")?;
    mac(cache, name, &bytes)?
        .verify_slice(&recorded)
        .map_err(|_| "its MAC does not match: it is not what this cache compiled")?;
    // SAFETY: these bytes are what this program compiled from the pinned bytes (the MAC,
    // keyed by a secret only this user can read, says so), and were read into memory, so
    // nothing can change them under the engine.
    let component =
        unsafe { Component::deserialize(engine, &bytes) }.map_err(|e| format!("the engine refuses it: {e}"))?;
    Ok(Some(component))
}

/// Logs and removes a cache file that failed its check.
fn refused(dir: &Dir, name: &str, why: &str) {
    crate::logging::log(
        crate::logging::Level::Warn,
        format_args!("not running the compiled code {}: {why}; replacing it", dir.path().join(name).display()),
    );
    let _ = dir.remove(name);
    let _ = dir.remove(&mac_name(name));
}

fn mac_name(name: &str) -> String {
    format!("{name}.mac")
}

/// The MAC of the cache file `name` holding `bytes`, keyed by the cache's key (made on
/// first use).
fn mac(cache: &CacheDir, name: &str, bytes: &[u8]) -> Result<Hmac<Sha256>, String> {
    let key = key(cache).map_err(|e| format!("the cache's key: {e}"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(name.as_bytes());
    mac.update(&[0]);
    mac.update(bytes);
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

/// Compiles `bytes` with `compiler` and stores the result, with its MAC, as `name` in `dir`;
/// returns the component, loaded into `engine` (which has the compiler's settings).
pub fn compile(
    compiler: &Engine,
    engine: &Engine,
    bytes: &[u8],
    store: Option<(&CacheDir, &Dir)>,
    name: &str,
) -> anyhow::Result<(Component, CodeSource)> {
    let compiled =
        compiler.precompile_component(bytes).map_err(|e| anyhow::anyhow!("not a valid WebAssembly component: {e}"))?;
    let stored = store.and_then(|(cache, dir)| {
        let written = mac(cache, name, &compiled).map_err(std::io::Error::other).and_then(|mac| {
            dir.write_atomically(name, &compiled)?;
            dir.write_atomically(&mac_name(name), hex::encode(mac.finalize().into_bytes()).as_bytes())
        });
        match written {
            Ok(()) => Some(dir.path().join(name).display().to_string()),
            Err(e) => {
                crate::logging::log(crate::logging::Level::Debug, format_args!("cannot cache {name}: {e}"));
                None
            }
        }
    });
    // SAFETY: `compiled` was produced a moment ago by an engine with `engine`'s settings.
    let component = unsafe { Component::deserialize(engine, &compiled) }?;
    Ok((component, CodeSource::Compiled(stored)))
}
