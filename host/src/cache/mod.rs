//! The host's cache directory: precompiled components and cached credentials, in a
//! directory only the user can enter (0700, owned by them), written atomically (temp file +
//! rename, mode 0600) so a reader never sees half a file.
//!
//! Location: `$DOCKER_CREDENTIAL_WASM_CACHE_DIR`, else `$XDG_CACHE_HOME/docker-credential-wasm`,
//! else `~/.cache/docker-credential-wasm`, else (no `HOME`, as under systemd or Nomad)
//! `/tmp/docker-credential-wasm-<uid>`. A directory that someone else owns, or that others
//! may enter, is not used: the host then runs without a cache and says so in the log.

pub mod components;
pub mod credentials;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Environment variable naming the cache directory.
pub const CACHE_DIR_ENV: &str = "DOCKER_CREDENTIAL_WASM_CACHE_DIR";

/// A verified, user-only cache directory.
#[derive(Debug, Clone)]
pub struct CacheDir {
    root: PathBuf,
}

impl CacheDir {
    /// Where the cache lives, from the environment as `lookup` reports it.
    pub fn locate(configured: Option<&Path>, lookup: impl Fn(&str) -> Option<String>) -> PathBuf {
        let var = |name: &str| lookup(name).filter(|v| Path::new(v).is_absolute()).map(PathBuf::from);
        configured
            .map(Path::to_path_buf)
            .or_else(|| var(CACHE_DIR_ENV))
            .or_else(|| var("XDG_CACHE_HOME").map(|dir| dir.join("docker-credential-wasm")))
            .or_else(|| var("HOME").map(|home| home.join(".cache").join("docker-credential-wasm")))
            .unwrap_or_else(|| {
                std::env::temp_dir().join(format!("docker-credential-wasm-{}", rustix::process::getuid().as_raw()))
            })
    }

    /// Opens (creating it 0700 if needed) the cache at `root`; refuses a directory that
    /// another user owns or that others may enter.
    pub fn open(root: &Path) -> Result<CacheDir, String> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| format!("cannot create the cache directory {}: {e}", root.display()))?;
        let metadata = fs::symlink_metadata(root).map_err(|e| format!("cannot inspect {}: {e}", root.display()))?;
        if !metadata.is_dir() {
            return Err(format!("{} is not a directory", root.display()));
        }
        if metadata.uid() != rustix::process::getuid().as_raw() {
            return Err(format!("{} belongs to another user (uid {}); not using it", root.display(), metadata.uid()));
        }
        if metadata.mode() & 0o077 != 0 {
            fs::set_permissions(root, fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("cannot make {} private: {e}", root.display()))?;
        }
        Ok(CacheDir { root: root.to_path_buf() })
    }

    /// Ensures the user-only subdirectory `name` exists and returns it.
    pub fn subdir(&self, name: &str) -> std::io::Result<PathBuf> {
        let dir = self.root.join(name);
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        Ok(dir)
    }
}

/// The cache for `config` (its `[cache] dir`, else the environment's), or `None` with a
/// log line saying why there is none.
pub fn open_for(config: &crate::config::Config) -> Option<CacheDir> {
    let root = CacheDir::locate(config.cache_dir.as_deref(), |name| std::env::var(name).ok());
    match CacheDir::open(&root) {
        Ok(cache) => Some(cache),
        Err(why) => {
            crate::logging::log(crate::logging::Level::Warn, format_args!("running without a cache: {why}"));
            None
        }
    }
}

/// Writes `bytes` to `path` atomically with mode 0600: a temp file in the same directory,
/// then a rename over the target.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let nonce: u64 = rand_u64();
    let temp = dir.join(format!(".{name}.{}.{nonce:016x}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
        file.write_all(bytes)?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_user_only_and_files_are_0600() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let cache = CacheDir::open(&root).unwrap();
        assert_eq!(fs::metadata(&root).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        CacheDir::open(&root).unwrap();
        assert_eq!(fs::metadata(&root).unwrap().mode() & 0o777, 0o700, "a loose mode is tightened");
        let sub = cache.subdir("credentials").unwrap();
        assert_eq!(fs::metadata(&sub).unwrap().mode() & 0o777, 0o700);
        let file = sub.join("entry");
        write_atomically(&file, b"one").unwrap();
        write_atomically(&file, b"two").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"two");
        assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(&sub).unwrap().count(), 1, "no temp files are left behind");
    }

    #[test]
    fn a_file_where_the_cache_should_be_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache");
        fs::write(&file, "").unwrap();
        assert!(CacheDir::open(&file).is_err());
    }

    #[test]
    fn location_follows_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(CacheDir::locate(Some(Path::new("/c")), env(&[(CACHE_DIR_ENV, "/e")])), PathBuf::from("/c"));
        assert_eq!(CacheDir::locate(None, env(&[(CACHE_DIR_ENV, "/e"), ("HOME", "/h")])), PathBuf::from("/e"));
        assert_eq!(
            CacheDir::locate(None, env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])),
            PathBuf::from("/x/docker-credential-wasm")
        );
        assert_eq!(CacheDir::locate(None, env(&[("HOME", "/h")])), PathBuf::from("/h/.cache/docker-credential-wasm"));
        let fallback = CacheDir::locate(None, env(&[("XDG_CACHE_HOME", "relative")]));
        assert!(
            fallback
                .to_str()
                .unwrap()
                .starts_with(std::env::temp_dir().join("docker-credential-wasm-").to_str().unwrap())
        );
    }
}
