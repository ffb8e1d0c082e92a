//! Cached credentials: one file per (plugin, component, registry, and every input that can
//! change the answer), holding only what a hit must print and the times that decide its
//! freshness. A corrupt or unreadable entry is a miss; the next fetch replaces it.
//!
//! Freshness: an answer is reused until half its lifetime has passed (refreshed early, so
//! a client never receives credentials about to expire), capped by the operator's
//! `cache-max-seconds`; one with no known expiry is reused for at most that cap (default
//! [`DEFAULT_MAX_SECONDS`]). Past that point an entry that has not expired can still serve as
//! a fallback when the plugin fails, if the operator allows it.

use super::{CacheDir, write_atomically};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long an answer with no expiry is reused, unless the operator says otherwise.
pub const DEFAULT_MAX_SECONDS: u64 = 3600;

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
            Some(expires_at) => (expires_at.saturating_sub(now) / 2).min(max_seconds.unwrap_or(u64::MAX)),
            None => max_seconds.unwrap_or(DEFAULT_MAX_SECONDS),
        };
        Entry { username, secret, expires_at, fetched_at: now, fresh_until: now + fresh_for }
    }

    /// Reusable without asking the plugin.
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.fresh_until && self.expires_at.is_none_or(|expires_at| now < expires_at)
    }

    /// Still valid, so usable as a fallback when the plugin fails.
    pub fn is_unexpired(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|expires_at| now < expires_at)
    }
}

/// The cache key: a digest of everything that can change the answer. `inputs` are
/// `(name, value)` pairs (granted env values, granted files' identity, settings), hashed,
/// so no secret appears in a file name.
pub fn key(plugin: &str, component_sha256: &str, registry: &str, inputs: &[(String, String)]) -> String {
    let mut hasher = Sha256::new();
    for part in [plugin, component_sha256, registry] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    for (name, value) in inputs {
        for part in [name, value] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hex::encode(hasher.finalize())
}

/// The credential entries of a cache directory.
#[derive(Debug, Clone)]
pub struct CredentialCache {
    dir: CacheDir,
}

impl CredentialCache {
    pub fn new(dir: CacheDir) -> CredentialCache {
        CredentialCache { dir }
    }

    fn entry_path(&self, key: &str) -> std::io::Result<PathBuf> {
        Ok(self.dir.subdir("credentials")?.join(format!("{key}.json")))
    }

    /// The entry under `key`; `None` if there is none or it cannot be read or parsed.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let bytes = std::fs::read(self.entry_path(key).ok()?).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores `entry` under `key`, replacing any previous one atomically.
    pub fn put(&self, key: &str, entry: &Entry) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        write_atomically(&self.entry_path(key)?, &bytes)
    }

    /// Waits (polling, until `deadline`) for the exclusive lock of `key`, so that concurrent
    /// misses make one upstream fetch. The lock goes with the process: a holder that
    /// crashes releases it at once. `None` if it was not obtained in time (the caller then
    /// fetches without it rather than fail).
    pub fn lock(&self, key: &str, deadline: Instant) -> Option<File> {
        let path = self.dir.subdir("locks").ok()?.join(format!("{key}.lock"));
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).ok()?;
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

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(twelve_hours.is_unexpired(44_199) && !twelve_hours.is_unexpired(44_200));
        assert!(no_expiry.is_unexpired(u64::MAX));
    }

    #[test]
    fn keys_change_with_every_input_and_hide_secrets() {
        let inputs = vec![("env:REGISTRY_PASSWORD".to_string(), "hunter2".to_string())];
        let base = key("static", "abc", "127.0.0.1:5000", &inputs);
        assert_eq!(base.len(), 64);
        assert!(!base.contains("hunter2"));
        assert_ne!(base, key("static2", "abc", "127.0.0.1:5000", &inputs));
        assert_ne!(base, key("static", "abd", "127.0.0.1:5000", &inputs));
        assert_ne!(base, key("static", "abc", "127.0.0.1:5001", &inputs));
        assert_ne!(base, key("static", "abc", "127.0.0.1:5000", &[("env:REGISTRY_PASSWORD".into(), "other".into())]));
        assert_ne!(key("a", "bc", "r", &[]), key("ab", "c", "r", &[]), "parts are length-delimited");
    }

    #[test]
    fn corrupt_entries_are_misses_and_get_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CredentialCache::new(CacheDir::open(dir.path()).unwrap());
        let entry = Entry::new("u".into(), "s".into(), None, 1, Some(60));
        assert_eq!(cache.get("k"), None);
        cache.put("k", &entry).unwrap();
        assert_eq!(cache.get("k"), Some(entry.clone()));
        for junk in [&b""[..], b"{", b"{\"username\":1}", b"\xff\xfe", b"{\"username\":\"u\",\"secret\":\"s\",\"expires_at\":null,\"fetched_at\":1,\"fresh_until\":61,\"extra\":1}"] {
            std::fs::write(dir.path().join("credentials/k.json"), junk).unwrap();
            assert_eq!(cache.get("k"), None, "{junk:?}");
        }
        cache.put("k", &entry).unwrap();
        assert_eq!(cache.get("k"), Some(entry));
    }

    #[test]
    fn the_lock_is_exclusive_and_dies_with_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CredentialCache::new(CacheDir::open(dir.path()).unwrap());
        let held = cache.lock("k", Instant::now()).expect("free lock");
        assert!(cache.lock("k", Instant::now() + Duration::from_millis(50)).is_none(), "held elsewhere");
        drop(held);
        assert!(cache.lock("k", Instant::now()).is_some(), "released with its file");
    }
}
