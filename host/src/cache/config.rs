//! The parsed config, remembered in the cache directory, so that a run whose config has not
//! changed reads its routing table and plugins back instead of parsing and validating the
//! TOML again.
//!
//! A remembered config is used only for exactly the text it was parsed from (the config
//! file is still read on every run, and its SHA-256 compared) and by the same program
//! (device, inode, size and times of the executable): an edit, however quick and whatever
//! its size, or a new build means the text is parsed as usual and the copy is rewritten, as
//! it is when the copy is missing or corrupt or the cache directory is not the user's alone.
//! The copy is private like every cache file (0600 in the 0700 directory, written
//! atomically) and is kept only when the config does not name a cache directory of its
//! own, so no directory is created where the operator moved the cache away from.

use super::{CacheDir, write_atomically};
use crate::config::{self, Config, Origin};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What the copy was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Sources {
    program: ProgramIdentity,
    /// The config file, or `None` for the embedded default.
    path: Option<PathBuf>,
    /// Hex SHA-256 of the config text.
    sha256: String,
}

/// What changes when a program is rebuilt or reinstalled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ProgramIdentity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl ProgramIdentity {
    fn of(path: &Path) -> std::io::Result<ProgramIdentity> {
        let m = std::fs::metadata(path)?;
        Ok(ProgramIdentity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Remembered {
    sources: Sources,
    config: Config,
}

/// The config at `path` (or the embedded default) as `program` parses it (see
/// [`config::load`]): the remembered copy when it was parsed from this very text by this
/// very program, else parsed and remembered.
pub fn load(path: Option<&Path>, cache_root: &Path, program: &Path) -> anyhow::Result<Config> {
    let (text, origin) = match path {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => (std::borrow::Cow::Owned(text), Origin::File(path.to_path_buf())),
            // An unreadable config gets the loader's own error.
            Err(_) => return config::load(Some(path)),
        },
        None => (config::EMBEDDED_DEFAULT.into(), Origin::Embedded),
    };
    let Ok(program_identity) = ProgramIdentity::of(program) else {
        return Ok(config::parse(&text, origin)?);
    };
    let sources = Sources {
        program: program_identity,
        path: path.map(Path::to_path_buf),
        sha256: hex::encode(Sha256::digest(text.as_bytes())),
    };
    let file = copy_path(cache_root, program, path);
    if let Some(config) = read(cache_root, &file, &sources) {
        return Ok(config);
    }
    let config = config::parse(&text, origin)?;
    if config.cache_dir.is_none()
        && let Ok(cache) = CacheDir::open(cache_root)
        && cache.subdir(SUBDIR).is_ok()
    {
        let remembered = Remembered { sources, config };
        if let Ok(bytes) = serde_json::to_vec(&remembered) {
            // A copy that cannot be written only costs the next run a parse.
            let _ = write_atomically(&file, &bytes);
        }
        return Ok(remembered.config);
    }
    Ok(config)
}

const SUBDIR: &str = "config";

/// One copy per program and config path (the front and the engine parse the same file
/// but are different programs): `config/<sha256 of both paths>.json`.
fn copy_path(cache_root: &Path, program: &Path, path: Option<&Path>) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let mut hasher = Sha256::new();
    hasher.update(program.as_os_str().as_bytes());
    hasher.update([0]);
    if let Some(path) = path {
        hasher.update(path.as_os_str().as_bytes());
    }
    cache_root.join(SUBDIR).join(format!("{}.json", hex::encode(hasher.finalize())))
}

/// The copy in `file`, if the cache directory is the user's alone and the copy was made
/// from exactly `sources`.
fn read(cache_root: &Path, file: &Path, sources: &Sources) -> Option<Config> {
    if !CacheDir::is_private(cache_root) {
        return None;
    }
    let remembered: Remembered = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    (remembered.sources == *sources).then_some(remembered.config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    const ROUTES: &str =
        "[routes]\n\"a.test\" = \"static\"\n[plugins.static]\nsettings = { username = \"u\", secret = \"s\" }\n";

    struct Setup {
        dir: tempfile::TempDir,
        config: PathBuf,
        cache: PathBuf,
        program: PathBuf,
    }

    fn setup(text: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, text).unwrap();
        let program = dir.path().join("program");
        std::fs::write(&program, "build 1").unwrap();
        let cache = dir.path().join("cache");
        Setup { config, cache, program, dir }
    }

    impl Setup {
        fn load(&self) -> anyhow::Result<Config> {
            load(Some(&self.config), &self.cache, &self.program)
        }
        fn copy(&self) -> PathBuf {
            copy_path(&self.cache, &self.program, Some(&self.config))
        }
        /// Rewrites the copy's config with a route to another plugin, keeping its sources,
        /// so a load that returns that route read the copy.
        fn tamper(&self) {
            let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(self.copy()).unwrap()).unwrap();
            let text = serde_json::to_string(&value["config"]).unwrap().replace("\"static\"", "\"other\"");
            value["config"] = serde_json::from_str(&text).unwrap();
            std::fs::write(self.copy(), serde_json::to_vec(&value).unwrap()).unwrap();
        }
    }

    fn plugin_for(config: &Config, registry: &str) -> Option<String> {
        let registry = crate::registry::Registry::parse(registry).unwrap();
        config.router.route(&registry).map(|route| route.plugin.clone())
    }

    #[test]
    fn an_unchanged_config_is_read_back_from_its_private_copy() {
        let s = setup(ROUTES);
        let parsed = s.load().unwrap();
        assert_eq!(plugin_for(&parsed, "a.test").as_deref(), Some("static"));
        let mode = std::fs::metadata(s.copy()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        s.tamper();
        let remembered = s.load().unwrap();
        assert_eq!(plugin_for(&remembered, "a.test").as_deref(), Some("other"), "read from the copy");
        assert_eq!(remembered.origin, parsed.origin);
    }

    #[test]
    fn a_remembered_config_equals_the_parsed_one() {
        let s = setup(ROUTES);
        let parsed = s.load().unwrap();
        let remembered = s.load().unwrap();
        assert_eq!(format!("{remembered:?}"), format!("{parsed:?}"));
        let embedded = load(None, &s.cache, &s.program).unwrap();
        assert_eq!(format!("{:?}", load(None, &s.cache, &s.program).unwrap()), format!("{embedded:?}"));
        assert_eq!(format!("{embedded:?}"), format!("{:?}", config::load(None).unwrap()));
        assert!(copy_path(&s.cache, &s.program, None).is_file());
    }

    #[test]
    fn an_edited_config_is_parsed_again_and_remembered_anew() {
        let s = setup(ROUTES);
        s.load().unwrap();
        s.tamper();
        std::fs::write(&s.config, ROUTES.replace("a.test", "b.test")).unwrap();
        let edited = s.load().unwrap();
        assert_eq!(plugin_for(&edited, "a.test"), None);
        assert_eq!(plugin_for(&edited, "b.test").as_deref(), Some("static"));
        assert_eq!(plugin_for(&s.load().unwrap(), "b.test").as_deref(), Some("static"));
    }

    #[test]
    fn an_edit_that_keeps_size_and_times_or_a_new_program_makes_the_copy_stale() {
        let s = setup(ROUTES);
        s.load().unwrap();
        s.tamper();
        let before = std::fs::metadata(&s.config).unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&s.config).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, b"\"c", ROUTES.find("\"a").unwrap() as u64).unwrap();
        file.set_modified(before.modified().unwrap()).unwrap();
        drop(file);
        let after = std::fs::metadata(&s.config).unwrap();
        assert_eq!(
            (after.ino(), after.len(), after.modified().unwrap()),
            (before.ino(), before.len(), before.modified().unwrap())
        );
        let edited = s.load().unwrap();
        assert_eq!(plugin_for(&edited, "c.test").as_deref(), Some("static"), "the new text was parsed");
        s.tamper();
        std::fs::write(&s.program, "build 2").unwrap();
        assert_eq!(plugin_for(&s.load().unwrap(), "c.test").as_deref(), Some("static"), "program changed");
    }

    #[test]
    fn a_corrupt_copy_is_parsed_over() {
        let s = setup(ROUTES);
        s.load().unwrap();
        std::fs::write(s.copy(), b"{\"sources\": tru").unwrap();
        assert_eq!(plugin_for(&s.load().unwrap(), "a.test").as_deref(), Some("static"));
        let rewritten: serde_json::Value = serde_json::from_slice(&std::fs::read(s.copy()).unwrap()).unwrap();
        assert!(rewritten["config"].is_object());
    }

    #[test]
    fn a_cache_others_may_enter_is_not_read() {
        let s = setup(ROUTES);
        s.load().unwrap();
        s.tamper();
        std::fs::set_permissions(&s.cache, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(plugin_for(&s.load().unwrap(), "a.test").as_deref(), Some("static"));
    }

    #[test]
    fn config_errors_and_unreadable_files_are_the_parsers_and_leave_no_copy() {
        let s = setup("[routes]\n\"a.test\" = \"nope\"\n");
        let error = format!("{:#}", s.load().unwrap_err());
        assert_eq!(error, format!("{:#}", config::load(Some(&s.config)).unwrap_err()));
        let missing = s.dir.path().join("missing.toml");
        let error = format!("{:#}", load(Some(&missing), &s.cache, &s.program).unwrap_err());
        assert!(error.starts_with(&format!("cannot read the config file {}", missing.display())), "{error}");
        assert!(!s.cache.join(SUBDIR).exists());
    }

    #[test]
    fn a_config_with_its_own_cache_dir_is_not_remembered() {
        let s = setup(&format!("{ROUTES}[cache]\ndir = \"/elsewhere\"\n"));
        s.load().unwrap();
        assert!(!s.cache.exists(), "the operator moved the cache away");
    }
}
