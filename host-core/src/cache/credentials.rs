//! Cached credentials: one file per answer, named by its slot (plugin, registry and client:
//! what one answer stands for) and its key (a digest of everything that can change the
//! answer), holding only what a hit must print and the times that decide its freshness. A
//! corrupt or unreadable entry is a miss; the next fetch replaces it.
//!
//! Freshness: an answer is reused until half its lifetime has passed (refreshed early, so
//! a client never receives credentials about to expire), capped by the operator's
//! `cache-max-seconds` or else by [`DEFAULT_MAX_FRESH_SECONDS`]; one with no known expiry is
//! reused for at most that cap (default [`DEFAULT_MAX_SECONDS`]). Past that point an entry
//! that is still usable can serve as a fallback when the plugin fails, if the operator
//! allows it. Usable means: before its expiry (for an answer with none, a day past its
//! freshness), and never more than [`MAX_KEEP_SECONDS`] after it was fetched.
//!
//! Nothing is kept longer than it is usable: writing an answer removes the entries it
//! supersedes (same slot, other inputs: a rotated secret's old answer), every entry that is
//! no longer usable, corrupt entries, a crashed writer's temp files, and lock files nobody
//! has held for an hour.

use super::{CacheDir, Dir};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::time::{Duration, Instant};

/// How long an answer with no expiry is reused, unless the operator says otherwise.
pub const DEFAULT_MAX_SECONDS: u64 = 3600;
/// How long an answer with an expiry is reused at most, unless the operator says otherwise
/// (an answer claiming to last a century is not reused for fifty years).
pub const DEFAULT_MAX_FRESH_SECONDS: u64 = 12 * 3600;
/// How long an answer with no expiry stays usable as a fallback after it stops being fresh.
pub const NO_EXPIRY_FALLBACK_SECONDS: u64 = 86_400;
/// Longest an answer is kept at all.
pub const MAX_KEEP_SECONDS: u64 = 7 * 86_400;
/// Lock files unused this long are removed.
const STALE_LOCK_SECONDS: i64 = 3600;
/// Largest entry read back.
const MAX_ENTRY_BYTES: u64 = 1 << 20;

/// One cached answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub username: String,
    pub secret: String,
    /// When the credentials stop working (seconds since the epoch), if known.
    pub expires_at: Option<u64>,
    /// When they were fetched.
    pub fetched_at: u64,
    /// Until when they are reused without asking the plugin.
    pub fresh_until: u64,
}

impl Entry {
    /// A new entry fetched at `now`, fresh per the rules above with the operator's cap.
    pub fn new(username: String, secret: String, expires_at: Option<u64>, now: u64, max_seconds: Option<u64>) -> Entry {
        let fresh_for = match expires_at {
            Some(expires_at) => {
                (expires_at.saturating_sub(now) / 2).min(max_seconds.unwrap_or(DEFAULT_MAX_FRESH_SECONDS))
            }
            None => max_seconds.unwrap_or(DEFAULT_MAX_SECONDS),
        };
        Entry { username, secret, expires_at, fetched_at: now, fresh_until: now.saturating_add(fresh_for) }
    }

    /// Until when the entry may be used at all (as a fallback, past its freshness).
    pub fn usable_until(&self) -> u64 {
        let end = self.expires_at.unwrap_or(self.fresh_until.saturating_add(NO_EXPIRY_FALLBACK_SECONDS));
        end.min(self.fetched_at.saturating_add(MAX_KEEP_SECONDS))
    }

    /// Reusable without asking the plugin.
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.fresh_until && self.is_usable(now)
    }

    /// Still usable, so usable as a fallback when the plugin fails.
    pub fn is_usable(&self, now: u64) -> bool {
        now < self.usable_until()
    }
}

/// Where one answer is cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// What the answer stands for: plugin, registry, client (hex, 32 digits).
    slot: String,
    /// Everything that can change the answer (hex, 64 digits).
    inputs: String,
}

impl Key {
    /// The entry's file name: no secret appears in it.
    pub fn file_name(&self) -> String {
        format!("{}-{}.json", self.slot, self.inputs)
    }

    fn lock_name(&self) -> String {
        format!("{}-{}.lock", self.slot, self.inputs)
    }
}

/// The cache key of `plugin`'s answer for `registry` to `client` (`docker` or `kubelet`,
/// which may be answered differently). `inputs` are `(name, value)` pairs (granted env
/// values, granted files' identity, settings), hashed with the component's digest.
pub fn key(plugin: &str, component_sha256: &str, registry: &str, client: &str, inputs: &[(String, String)]) -> Key {
    let digest = |parts: &mut dyn Iterator<Item = &str>| {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hex::encode(hasher.finalize())
    };
    let slot = digest(&mut [plugin, registry, client].into_iter())[..32].to_string();
    let pairs = inputs.iter().flat_map(|(name, value)| [name.as_str(), value.as_str()]);
    let inputs = digest(&mut [plugin, component_sha256, registry, client].into_iter().chain(pairs));
    Key { slot, inputs }
}

/// The credential entries of a cache directory.
#[derive(Debug, Clone)]
pub struct CredentialCache {
    cache: CacheDir,
}

impl CredentialCache {
    pub fn new(cache: CacheDir) -> CredentialCache {
        CredentialCache { cache }
    }

    fn entries(&self) -> std::io::Result<Dir> {
        self.cache.subdir("credentials")
    }

    /// The entry under `key`; `None` if there is none or it cannot be read or parsed.
    pub fn get(&self, key: &Key) -> Option<Entry> {
        read_entry(&self.entries().ok()?, &key.file_name())
    }

    /// Stores `entry` under `key`, replacing any previous one atomically, then removes what
    /// it supersedes and what is no longer usable.
    pub fn put(&self, key: &Key, entry: &Entry) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        let dir = self.entries()?;
        dir.write_atomically(&key.file_name(), &bytes)?;
        self.sweep(&dir, key, now());
        Ok(())
    }

    /// Removes every answer of `key`'s slot (the registry's, for this plugin and client).
    pub fn forget(&self, key: &Key) {
        let Ok(dir) = self.entries() else { return };
        for (name, _) in dir.entries().unwrap_or_default() {
            if name.starts_with(&format!("{}-", key.slot)) {
                let _ = dir.remove(&name);
            }
        }
    }

    /// Removes, besides `kept`, the entries of its slot, entries no longer usable at `now`,
    /// corrupt entries, stale temp files and unused lock files.
    fn sweep(&self, dir: &Dir, kept: &Key, now: u64) {
        let kept_name = kept.file_name();
        let slot = format!("{}-", kept.slot);
        dir.remove_stale_temps(now as i64);
        for (name, _) in dir.entries().unwrap_or_default() {
            if name == kept_name || !name.ends_with(".json") {
                continue;
            }
            let superseded = name.starts_with(&slot);
            if superseded || read_entry(dir, &name).is_none_or(|entry| !entry.is_usable(now)) {
                let _ = dir.remove(&name);
            }
        }
        let Ok(locks) = self.cache.subdir("locks") else { return };
        for (name, modified) in locks.entries().unwrap_or_default() {
            if name.ends_with(".lock") && now as i64 - modified > STALE_LOCK_SECONDS {
                // Only a lock nobody holds. (One taken between this check and the removal
                // costs at worst one more upstream fetch, never a wrong answer.)
                if locks.lock_file(&name).is_ok_and(|file| file.try_lock().is_ok()) {
                    let _ = locks.remove(&name);
                }
            }
        }
        locks.remove_stale_temps(now as i64);
    }

    /// Waits (polling, until `deadline`) for the exclusive lock of `key`, so that concurrent
    /// misses make one upstream fetch. The lock goes with the process: a holder that
    /// crashes releases it at once. `None` if it was not obtained in time (the caller then
    /// fetches without it rather than fail).
    pub fn lock(&self, key: &Key, deadline: Instant) -> Option<File> {
        let file = self.cache.subdir("locks").ok()?.lock_file(&key.lock_name()).ok()?;
        loop {
            match file.try_lock() {
                Ok(()) => return Some(file),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(_) => return None,
            }
        }
    }
}

fn read_entry(dir: &Dir, name: &str) -> Option<Entry> {
    let bytes = dir.read(name, MAX_ENTRY_BYTES).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, CredentialCache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = CredentialCache::new(CacheDir::open(dir.path()).unwrap());
        (dir, cache)
    }

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn freshness_is_half_the_lifetime_capped() {
        let twelve_hours = Entry::new("u".into(), "s".into(), Some(1000 + 43_200), 1000, None);
        assert_eq!(twelve_hours.fresh_until, 1000 + 21_600);
        let capped = Entry::new("u".into(), "s".into(), Some(1000 + 43_200), 1000, Some(600));
        assert_eq!(capped.fresh_until, 1600);
        let no_expiry = Entry::new("u".into(), "s".into(), None, 1000, None);
        assert_eq!(no_expiry.fresh_until, 1000 + DEFAULT_MAX_SECONDS);
        let nearly_expired = Entry::new("u".into(), "s".into(), Some(1010), 1000, None);
        assert_eq!(nearly_expired.fresh_until, 1005);
        let already_expired = Entry::new("u".into(), "s".into(), Some(900), 1000, None);
        assert!(!already_expired.is_fresh(1000));
        assert!(twelve_hours.is_fresh(1000) && twelve_hours.is_fresh(22_599) && !twelve_hours.is_fresh(22_600));
        assert!(twelve_hours.is_usable(44_199) && !twelve_hours.is_usable(44_200));
    }

    #[test]
    fn a_century_long_answer_is_reused_for_hours_and_kept_for_days() {
        let century = 100 * 365 * 86_400;
        let entry = Entry::new("u".into(), "s".into(), Some(1000 + century), 1000, None);
        assert_eq!(entry.fresh_until, 1000 + DEFAULT_MAX_FRESH_SECONDS);
        assert_eq!(entry.usable_until(), 1000 + MAX_KEEP_SECONDS);
        let operator = Entry::new("u".into(), "s".into(), Some(1000 + century), 1000, Some(3 * 86_400));
        assert_eq!(operator.fresh_until, 1000 + 3 * 86_400, "cache-max-seconds may raise the cap");
        let no_expiry = Entry::new("u".into(), "s".into(), None, 1000, None);
        assert_eq!(no_expiry.usable_until(), 1000 + DEFAULT_MAX_SECONDS + NO_EXPIRY_FALLBACK_SECONDS);
    }

    #[test]
    fn keys_change_with_every_input_and_hide_secrets() {
        let inputs = vec![("env:REGISTRY_PASSWORD".to_string(), "hunter2".to_string())];
        let base = key("static", "abc", "127.0.0.1:5000", "docker", &inputs);
        assert_eq!(base.file_name().len(), 32 + 1 + 64 + 5);
        assert!(!base.file_name().contains("hunter2"));
        for other in [
            key("static2", "abc", "127.0.0.1:5000", "docker", &inputs),
            key("static", "abd", "127.0.0.1:5000", "docker", &inputs),
            key("static", "abc", "127.0.0.1:5001", "docker", &inputs),
            key("static", "abc", "127.0.0.1:5000", "kubelet", &inputs),
            key("static", "abc", "127.0.0.1:5000", "docker", &[("env:REGISTRY_PASSWORD".into(), "other".into())]),
        ] {
            assert_ne!(base, other);
        }
        // The same slot: another secret or component for the same plugin, registry, client.
        assert_eq!(base.slot, key("static", "abd", "127.0.0.1:5000", "docker", &[]).slot);
        assert_ne!(base.slot, key("static", "abc", "127.0.0.1:5000", "kubelet", &inputs).slot);
        assert_ne!(
            key("a", "bc", "r", "docker", &[]),
            key("ab", "c", "r", "docker", &[]),
            "parts are length-delimited"
        );
    }

    #[test]
    fn corrupt_entries_are_misses_and_get_replaced() {
        let (dir, cache) = cache();
        let k = key("p", "c", "r", "docker", &[]);
        let entry = Entry::new("u".into(), "s".into(), None, now(), Some(60));
        assert_eq!(cache.get(&k), None);
        cache.put(&k, &entry).unwrap();
        assert_eq!(cache.get(&k), Some(entry.clone()));
        let path = dir.path().join("credentials").join(k.file_name());
        for junk in [&b""[..], b"{", b"{\"username\":1}", b"\xff\xfe", b"{\"username\":\"u\",\"secret\":\"s\",\"expires_at\":null,\"fetched_at\":1,\"fresh_until\":61,\"extra\":1}"] {
            std::fs::write(&path, junk).unwrap();
            assert_eq!(cache.get(&k), None, "{junk:?}");
        }
        cache.put(&k, &entry).unwrap();
        assert_eq!(cache.get(&k), Some(entry));
    }

    #[test]
    fn an_answer_removes_what_it_supersedes_and_what_is_no_longer_usable() {
        let (dir, cache) = cache();
        let now = now();
        let old_secret = key("static", "c", "r", "docker", &[("env:PW".into(), "old".into())]);
        let new_secret = key("static", "c", "r", "docker", &[("env:PW".into(), "new".into())]);
        let other_registry = key("static", "c", "r2", "docker", &[]);
        let expired = key("ecr", "c", "r3", "docker", &[]);
        let no_expiry_long_stale = key("static", "c", "r4", "docker", &[]);
        cache.put(&old_secret, &Entry::new("u".into(), "old".into(), None, now, None)).unwrap();
        cache.put(&other_registry, &Entry::new("u".into(), "kept".into(), Some(now + 3600), now, None)).unwrap();
        let credentials = dir.path().join("credentials");
        let write = |key: &Key, entry: &Entry| {
            std::fs::write(credentials.join(key.file_name()), serde_json::to_vec(entry).unwrap()).unwrap()
        };
        write(&expired, &Entry::new("AWS".into(), "token".into(), Some(now - 1), now - 43_200, None));
        write(&no_expiry_long_stale, &Entry::new("u".into(), "s".into(), None, now - 2 * 86_400, None));
        std::fs::write(credentials.join("0123-garbage.json"), "{").unwrap();

        cache.put(&new_secret, &Entry::new("u".into(), "new".into(), None, now, None)).unwrap();
        assert_eq!(names(&credentials), {
            let mut kept = vec![new_secret.file_name(), other_registry.file_name()];
            kept.sort();
            kept
        });
        let everything: String =
            names(&credentials).iter().map(|name| std::fs::read_to_string(credentials.join(name)).unwrap()).collect();
        assert!(!everything.contains("\"old\""), "the rotated secret is gone from disk");

        cache.forget(&new_secret);
        assert_eq!(names(&credentials), vec![other_registry.file_name()]);
    }

    #[test]
    fn unused_lock_files_are_removed_and_held_ones_kept() {
        let (dir, cache) = cache();
        let held_key = key("p", "c", "held", "docker", &[]);
        let unused_key = key("p", "c", "unused", "docker", &[]);
        let held = cache.lock(&held_key, Instant::now()).unwrap();
        drop(cache.lock(&unused_key, Instant::now()).unwrap());
        let locks = dir.path().join("locks");
        let hours_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
        for name in names(&locks) {
            File::options().write(true).open(locks.join(name)).unwrap().set_modified(hours_ago).unwrap();
        }
        let k = key("p", "c", "r", "docker", &[]);
        cache.put(&k, &Entry::new("u".into(), "s".into(), None, now(), None)).unwrap();
        assert_eq!(names(&locks), vec![held_key.lock_name()]);
        drop(held);
    }

    #[test]
    fn the_lock_is_exclusive_and_dies_with_its_holder() {
        let (_dir, cache) = cache();
        let k = key("p", "c", "r", "docker", &[]);
        let held = cache.lock(&k, Instant::now()).expect("free lock");
        assert!(cache.lock(&k, Instant::now() + Duration::from_millis(50)).is_none(), "held elsewhere");
        drop(held);
        assert!(cache.lock(&k, Instant::now()).is_some(), "released with its file");
    }
}
