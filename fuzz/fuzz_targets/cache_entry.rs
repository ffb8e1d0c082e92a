//! Credential-cache entries read back from disk, any bytes (a corrupt, truncated or forged
//! file): reading one gives nothing or an entry exactly as the bytes say, never a panic;
//! writing another answer beside it keeps that answer whole and leaves the forged one
//! either gone or still usable.
#![no_main]

use host_core::cache::CacheDir;
use host_core::cache::credentials::{CredentialCache, Entry, key, now};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn cache() -> &'static (tempfile::TempDir, CredentialCache) {
    static CACHE: OnceLock<(tempfile::TempDir, CredentialCache)> = OnceLock::new();
    CACHE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let cache = CredentialCache::new(CacheDir::open(dir.path()).unwrap());
        (dir, cache)
    })
}

fuzz_target!(|data: &[u8]| {
    let (dir, cache) = cache();
    let forged = key("ecr", "digest", "123456789012.dkr.ecr.us-west-2.amazonaws.com", "docker", &[]);
    let other = key("static", "digest", "registry.example", "docker", &[("SECRET".into(), "1".into())]);
    let entries = dir.path().join("credentials");
    std::fs::create_dir_all(&entries).unwrap();
    std::fs::write(entries.join(forged.file_name()), data).unwrap();
    let read = cache.get(&forged);
    if let Some(entry) = &read {
        assert_eq!(Some(entry), serde_json::from_slice::<Entry>(data).ok().as_ref());
    }
    let now = now();
    let answer = Entry::new("user".into(), "secret".into(), Some(now + 3600), now, None);
    cache.put(&other, &answer).unwrap();
    assert_eq!(cache.get(&other).as_ref(), Some(&answer));
    match cache.get(&forged) {
        None => {}
        Some(entry) => {
            assert_eq!(Some(&entry), read.as_ref());
            assert!(entry.is_usable(now), "a forged entry no longer usable was kept");
        }
    }
    cache.forget(&forged);
    cache.forget(&other);
});
