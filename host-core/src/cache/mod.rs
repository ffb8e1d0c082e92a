//! The host's cache directory: cached credentials (here) and precompiled components (the
//! sandbox's), in a directory only the user can write, reached only through handles.
//!
//! Location: `$DOCKER_CREDENTIAL_WASM_CACHE_DIR`, else `$XDG_CACHE_HOME/docker-credential-wasm`,
//! else `~/.cache/docker-credential-wasm`, else (no `HOME`, as under systemd or Nomad)
//! `/tmp/docker-credential-wasm-<uid>`.
//!
//! The root is opened once, without following a link, and must belong to the user and be
//! writable by nobody else (a root that others can write is refused, not repaired: whatever
//! they planted there is still there; one that others can only read or enter is made 0700).
//! Every sub-directory and file is then reached relative to that handle, without following
//! links, and must pass the same check on the opened handle, so a name swapped between a
//! check and its use changes nothing. Files are written atomically (a temp file, then a
//! rename) with mode 0600, so a reader never sees half a file. A cache that fails a check is
//! not used: the host runs without it and says why in the log.

pub mod credentials;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable naming the cache directory.
pub const CACHE_DIR_ENV: &str = "DOCKER_CREDENTIAL_WASM_CACHE_DIR";

/// Temp files older than this are a crashed writer's and are removed.
pub const STALE_TEMP_SECONDS: i64 = 60;

/// A verified, user-only cache directory, held open.
#[derive(Debug, Clone)]
pub struct CacheDir {
    root: Dir,
}

/// A directory of the cache, held open and checked.
#[derive(Debug, Clone)]
pub struct Dir {
    path: PathBuf,
    fd: Arc<OwnedFd>,
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

    /// Opens (creating it 0700 if needed) the cache at `root`; refuses a link, a directory
    /// that another user owns, or one that others may write.
    pub fn open(root: &Path) -> Result<CacheDir, String> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| format!("cannot create the cache directory {}: {e}", root.display()))?;
        let fd = rustix::fs::open(root, directory_flags(), Mode::empty()).map_err(|e| match e {
            rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
                format!("{} is not a directory (a symbolic link is not followed); not using it", root.display())
            }
            e => format!("cannot open the cache directory {}: {e}", root.display()),
        })?;
        let stat = check(&fd, root).map_err(|e| e.to_string())?;
        if stat.st_mode & 0o077 != 0 {
            // Others could read or enter it, never write: make it private.
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700))
                .map_err(|e| format!("cannot make {} private: {e}", root.display()))?;
        }
        Ok(CacheDir { root: Dir { path: root.to_path_buf(), fd: Arc::new(fd) } })
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Dir {
        &self.root
    }

    /// The user-only sub-directory `name`, created if needed and checked.
    pub fn subdir(&self, name: &str) -> io::Result<Dir> {
        match rustix::fs::mkdirat(&*self.root.fd, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let path = self.root.path.join(name);
        let fd = rustix::fs::openat(&*self.root.fd, name, directory_flags(), Mode::empty()).map_err(|e| {
            io::Error::other(format!("cannot open {}: {e} (a symbolic link is not followed)", path.display()))
        })?;
        check(&fd, &path)?;
        Ok(Dir { path, fd: Arc::new(fd) })
    }
}

fn directory_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Requires what `fd` refers to to belong to this user and to be writable by nobody else;
/// returns its status.
fn check(fd: &impl AsFd, path: &Path) -> io::Result<rustix::fs::Stat> {
    let stat = rustix::fs::fstat(fd)?;
    let uid = rustix::process::getuid().as_raw();
    if stat.st_uid != uid {
        return Err(io::Error::other(format!(
            "{} belongs to another user (uid {}); not using it",
            path.display(),
            stat.st_uid
        )));
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "{} can be written by other users (mode {mode:o}); not using it: what they wrote could run as this user. Remove it, or `chmod go-w` it if nobody else wrote there",
            path.display()
        )));
    }
    Ok(stat)
}

/// A name that must stay inside its directory.
fn plain(name: &str) -> io::Result<&str> {
    match name.is_empty() || name.contains('/') || name == "." || name == ".." {
        true => Err(io::Error::other(format!("{name:?} is not a file name"))),
        false => Ok(name),
    }
}

impl Dir {
    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file `name` for reading: a regular file of this user's that nobody else can
    /// write, not a link. `Ok(None)` if there is none.
    pub fn open(&self, name: &str) -> io::Result<Option<File>> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&*self.fd, plain(name)?, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => {
                return Err(io::Error::other(format!(
                    "{} is a symbolic link; not using it",
                    self.path.join(name).display()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let path = self.path.join(name);
        let stat = check(&fd, &path)?;
        if !rustix::fs::FileType::from_raw_mode(stat.st_mode).is_file() {
            return Err(io::Error::other(format!("{} is not a regular file; not using it", path.display())));
        }
        Ok(Some(File::from(fd)))
    }

    /// The contents of the file `name` (see [`Dir::open`]), at most `max` bytes.
    pub fn read(&self, name: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        let Some(file) = self.open(name)? else { return Ok(None) };
        let mut bytes = Vec::new();
        file.take(max + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > max {
            return Err(io::Error::other(format!("{} is larger than {max} bytes", self.path.join(name).display())));
        }
        Ok(Some(bytes))
    }

    /// Writes `bytes` to `name` atomically with mode 0600: a temp file in the same directory,
    /// then a rename over the target. Answers the file's status after the rename.
    pub fn write_atomically(&self, name: &str, bytes: &[u8]) -> io::Result<rustix::fs::Stat> {
        let name = plain(name)?;
        let mut nonce = [0u8; 8];
        let _ = rustix::rand::getrandom(&mut nonce, rustix::rand::GetRandomFlags::empty());
        let temp = format!(".{name}.{}.{:016x}.tmp", std::process::id(), u64::from_le_bytes(nonce));
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&*self.fd, temp.as_str(), flags, Mode::from_raw_mode(0o600))?;
        let result = (|| {
            let mut file = File::from(fd);
            file.write_all(bytes)?;
            rustix::fs::renameat(&*self.fd, temp.as_str(), &*self.fd, name)?;
            Ok(rustix::fs::fstat(&file)?)
        })();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&*self.fd, temp.as_str(), AtFlags::empty());
        }
        result
    }

    /// Creates the file `name` (mode 0600) holding `bytes`; fails if it exists.
    pub fn create_new(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&*self.fd, plain(name)?, flags, Mode::from_raw_mode(0o600))?;
        File::from(fd).write_all(bytes)
    }

    /// Opens (creating it 0600) the lock file `name`, never through a link.
    pub fn lock_file(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&*self.fd, plain(name)?, flags, Mode::from_raw_mode(0o600))?;
        check(&fd, &self.path.join(name))?;
        Ok(File::from(fd))
    }

    /// Removes the file `name`, if it is there.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        match rustix::fs::unlinkat(&*self.fd, plain(name)?, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The names of the entries, with each one's modification time (seconds since the
    /// epoch), links not followed.
    pub fn entries(&self) -> io::Result<Vec<(String, i64)>> {
        let fd = rustix::fs::openat(&*self.fd, ".", directory_flags(), Mode::empty())?;
        let mut entries = Vec::new();
        for entry in rustix::fs::Dir::read_from(&fd)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().to_str() else { continue };
            if name == "." || name == ".." {
                continue;
            }
            if let Ok(stat) = rustix::fs::statat(&*self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                entries.push((name.to_string(), stat.st_mtime));
            }
        }
        Ok(entries)
    }

    /// Removes temp files a crashed writer left (older than [`STALE_TEMP_SECONDS`]).
    pub fn remove_stale_temps(&self, now: i64) {
        for (name, modified) in self.entries().unwrap_or_default() {
            if name.starts_with('.') && name.ends_with(".tmp") && now - modified > STALE_TEMP_SECONDS {
                let _ = self.remove(&name);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn the_cache_is_user_only_and_files_are_0600() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let cache = CacheDir::open(&root).unwrap();
        assert_eq!(fs::metadata(&root).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        CacheDir::open(&root).unwrap();
        assert_eq!(fs::metadata(&root).unwrap().mode() & 0o777, 0o700, "a readable root is made private");
        let sub = cache.subdir("credentials").unwrap();
        assert_eq!(fs::metadata(sub.path()).unwrap().mode() & 0o777, 0o700);
        sub.write_atomically("entry", b"one").unwrap();
        sub.write_atomically("entry", b"two").unwrap();
        assert_eq!(sub.read("entry", 10).unwrap().unwrap(), b"two");
        assert_eq!(fs::metadata(sub.path().join("entry")).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(sub.path()).unwrap().count(), 1, "no temp files are left behind");
        assert_eq!(sub.read("missing", 10).unwrap(), None);
        assert!(sub.read("entry", 2).is_err(), "over the size bound");
        assert!(sub.read("../cache", 10).is_err() && sub.write_atomically("a/b", b"").is_err());
    }

    #[test]
    fn a_root_others_can_write_is_refused_not_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        fs::create_dir(&root).unwrap();
        for mode in [0o777, 0o770, 0o722, 0o1777] {
            fs::set_permissions(&root, fs::Permissions::from_mode(mode)).unwrap();
            let error = CacheDir::open(&root).unwrap_err();
            assert!(error.contains("can be written by other users"), "{mode:o}: {error}");
            assert_eq!(fs::metadata(&root).unwrap().mode() & 0o7777, mode, "left as it was");
        }
    }

    #[test]
    fn links_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        CacheDir::open(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let error = CacheDir::open(&link).unwrap_err();
        assert!(error.contains("is not a directory (a symbolic link is not followed)"), "{error}");

        let cache = CacheDir::open(&real).unwrap();
        let sub = cache.subdir("components").unwrap();
        fs::write(dir.path().join("elsewhere"), "planted").unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), sub.path().join("entry")).unwrap();
        let error = sub.read("entry", 100).unwrap_err().to_string();
        assert!(error.ends_with("entry is a symbolic link; not using it"), "{error}");
        fs::remove_dir_all(sub.path()).unwrap();
        std::os::unix::fs::symlink(dir.path(), real.join("components")).unwrap();
        assert!(cache.subdir("components").is_err(), "a linked sub-directory");
    }

    #[test]
    fn sub_directories_and_files_others_can_write_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::open(&dir.path().join("cache")).unwrap();
        let sub = cache.subdir("components").unwrap();
        sub.write_atomically("entry", b"x").unwrap();
        fs::set_permissions(sub.path().join("entry"), fs::Permissions::from_mode(0o666)).unwrap();
        let error = sub.read("entry", 10).unwrap_err().to_string();
        assert!(error.contains("can be written by other users (mode 666)"), "{error}");
        fs::set_permissions(sub.path(), fs::Permissions::from_mode(0o770)).unwrap();
        let error = cache.subdir("components").unwrap_err().to_string();
        assert!(error.contains("components can be written by other users (mode 770)"), "{error}");
    }

    #[test]
    fn a_root_swapped_after_opening_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let cache = CacheDir::open(&root).unwrap();
        cache.subdir("credentials").unwrap().write_atomically("entry", b"mine").unwrap();
        fs::rename(&root, dir.path().join("moved")).unwrap();
        fs::create_dir_all(root.join("credentials")).unwrap();
        fs::write(root.join("credentials/entry"), "planted").unwrap();
        assert_eq!(cache.subdir("credentials").unwrap().read("entry", 100).unwrap().unwrap(), b"mine");
    }

    #[test]
    fn stale_temps_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::open(dir.path()).unwrap();
        let sub = cache.subdir("credentials").unwrap();
        sub.write_atomically(".entry.1.0.tmp", b"left by a crash").unwrap();
        sub.write_atomically("entry", b"kept").unwrap();
        let now = credentials::now() as i64;
        sub.remove_stale_temps(now);
        assert_eq!(sub.entries().unwrap().len(), 2, "a fresh temp may be a writer's");
        sub.remove_stale_temps(now + STALE_TEMP_SECONDS + 1);
        let names: Vec<String> = sub.entries().unwrap().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, vec!["entry".to_string()]);
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
