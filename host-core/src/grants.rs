//! What one plugin instance may reach and use, resolved once: when the config loads, each
//! grant list it sets is parsed into typed values, and the others stand for the plugin's
//! manifest lists (a built-in's manifest is parsed on its first use, once per process),
//! each marked with where it came from; the settings, and the limits with their defaults.
//! The sandbox gives a call exactly these; `audit` prints them.

pub mod network;

use crate::builtins::Builtin;
use crate::manifest::Manifest;
use network::NetworkGrant;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::PathBuf;

/// Where a grant list or a limit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The plugin's manifest (its defaults).
    Manifest,
    /// The operator's config.
    Config,
    /// The host's default (limits only).
    Default,
}

impl Origin {
    /// As `audit` names it.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Manifest => "manifest",
            Origin::Config => "config",
            Origin::Default => "default",
        }
    }
}

/// A grant list and where it came from: the config's list where it sets one (replacing the
/// manifest's), else the manifest's. A built-in's manifest is parsed on first use (once per
/// process): a config routes to several built-ins, and a call reads the lists of one.
pub struct Granted<T: 'static> {
    configured: Option<Vec<T>>,
    manifest: Option<ManifestList<T>>,
}

/// One list of a built-in's manifest.
struct ManifestList<T: 'static> {
    builtin: &'static Builtin,
    list: fn(&'static Manifest) -> &'static [T],
}

impl<T> Granted<T> {
    /// The config's list if it sets one, else the list `list` picks from `builtin`'s manifest
    /// (none for an external plugin, whose grants come from the config alone).
    pub fn resolve(
        configured: Option<Vec<T>>,
        builtin: Option<&'static Builtin>,
        list: fn(&'static Manifest) -> &'static [T],
    ) -> Granted<T> {
        Granted { configured, manifest: builtin.map(|builtin| ManifestList { builtin, list }) }
    }

    /// The grants.
    pub fn items(&self) -> &[T] {
        match (&self.configured, &self.manifest) {
            (Some(items), _) => items,
            (None, Some(manifest)) => (manifest.list)(manifest.builtin.manifest()),
            (None, None) => &[],
        }
    }

    pub fn origin(&self) -> Origin {
        if self.configured.is_some() { Origin::Config } else { Origin::Manifest }
    }
}

impl<T: Clone> Clone for Granted<T> {
    fn clone(&self) -> Self {
        let manifest = self.manifest.as_ref().map(|m| ManifestList { builtin: m.builtin, list: m.list });
        Granted { configured: self.configured.clone(), manifest }
    }
}

impl<T: PartialEq> PartialEq for Granted<T> {
    fn eq(&self, other: &Self) -> bool {
        self.origin() == other.origin() && self.items() == other.items()
    }
}

impl<T: Eq> Eq for Granted<T> {}

impl<T: std::fmt::Debug> std::fmt::Debug for Granted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Granted").field("items", &self.items()).field("origin", &self.origin()).finish()
    }
}

/// A file grant: an absolute path, or one under the user's home (`~/`), whose last
/// component may be a pattern (`/var/opt/azcmagent/tokens/*.key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    /// As written in the config or the manifest.
    pub written: String,
    /// The path it names: `None` for a `~/` grant when the user has no home directory
    /// (never a path relative to the current one).
    pub path: Option<PathBuf>,
}

impl FileGrant {
    /// The grant `written`, or why it is not one.
    pub fn parse(written: &str) -> Result<FileGrant, String> {
        let valid = (written.starts_with('/') || written.starts_with("~/"))
            && !written.split('/').any(|part| part == "..")
            && !written.chars().any(crate::logging::must_escape);
        if !valid {
            return Err(format!(
                "invalid file grant {written:?}: expected an absolute path or one starting with `~/`, with no control or invisible formatting characters"
            ));
        }
        let path = crate::home::expand_home(written).ok().map(PathBuf::from);
        Ok(FileGrant { written: written.to_string(), path })
    }
}

/// The namespace of the secrets a plugin may keep through the host (`secrets = "<name>"`):
/// its entries, and only those, are what its `secrets` calls read and write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsNamespace(String);

impl SecretsNamespace {
    /// The namespace laid out as Docker's own credential stores lay out their entries
    /// (docker-credential-secretservice's item attributes, docker-credential-pass's
    /// `docker-credential-helpers/` folder), shared with them.
    pub const DOCKER: &str = "docker-credential-helpers";

    /// The namespace `name`, or why it is not one.
    pub fn parse(name: &str) -> Result<SecretsNamespace, String> {
        let valid = name.len() <= 64
            && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        match valid {
            true => Ok(SecretsNamespace(name.to_string())),
            false => Err(format!(
                "invalid secrets namespace {name:?}: expected lower-case letters, digits and `-` (at most 64), e.g. \"{}\"",
                Self::DOCKER
            )),
        }
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    /// Whether this is the layout shared with Docker's credential stores.
    pub fn is_docker(&self) -> bool {
        self.0 == Self::DOCKER
    }
}

/// An environment variable name, or why it is not one.
pub fn parse_env_name(name: &str) -> Result<String, String> {
    let mut bytes = name.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match valid {
        true => Ok(name.to_string()),
        false => Err(format!(
            "invalid environment variable name {name:?}: expected letters, digits and `_`, not starting with a digit"
        )),
    }
}

/// A limit's config key, default and allowed range: the one place each is written.
#[derive(Debug)]
pub struct LimitKind {
    pub key: &'static str,
    pub default: Option<u64>,
    pub range: RangeInclusive<u64>,
}

/// Memory of one plugin instance, in MiB.
pub const MEMORY_MIB: LimitKind = LimitKind { key: "memory-mib", default: Some(64), range: 1..=4096 };
/// Wall-clock deadline of one plugin call, in milliseconds.
pub const DEADLINE_MS: LimitKind = LimitKind { key: "deadline-ms", default: Some(15_000), range: 1..=600_000 };
/// HTTP requests in one plugin call.
pub const MAX_REQUESTS: LimitKind = LimitKind { key: "max-requests", default: Some(32), range: 0..=1000 };
/// The operator's cap on how long an answer is reused (no default: the answer's expiry).
pub const CACHE_MAX_SECONDS: LimitKind = LimitKind { key: "cache-max-seconds", default: None, range: 1..=7 * 86_400 };

/// One limit's value and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub value: u64,
    pub origin: Origin,
}

impl Limit {
    /// The configured value, else `kind`'s default.
    pub fn resolve(kind: &LimitKind, configured: Option<u64>) -> Limit {
        match configured {
            Some(value) => Limit { value, origin: Origin::Config },
            None => Limit { value: kind.default.expect("a limit with a default"), origin: Origin::Default },
        }
    }
}

/// The limits of one plugin instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub memory_mib: Limit,
    pub deadline_ms: Limit,
    pub max_requests: Limit,
}

impl Limits {
    /// Each with the name `audit` and the config use for it.
    pub fn named(&self) -> [(&'static str, Limit); 3] {
        [(MEMORY_MIB.key, self.memory_mib), (DEADLINE_MS.key, self.deadline_ms), (MAX_REQUESTS.key, self.max_requests)]
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_mib: Limit::resolve(&MEMORY_MIB, None),
            deadline_ms: Limit::resolve(&DEADLINE_MS, None),
            max_requests: Limit::resolve(&MAX_REQUESTS, None),
        }
    }
}

/// Everything one plugin instance is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    pub network: Granted<NetworkGrant>,
    pub env: Granted<String>,
    pub files: Granted<FileGrant>,
    /// The namespace of the user's keyring the plugin may keep secrets in (at most one).
    pub secrets: Granted<SecretsNamespace>,
    /// The operator's `[plugins.<id>.settings]`.
    pub settings: BTreeMap<String, String>,
    pub limits: Limits,
}

impl Grants {
    /// The secrets namespace granted, if any.
    pub fn secrets_namespace(&self) -> Option<&SecretsNamespace> {
        self.secrets.items().first()
    }

    /// Everything besides the plugin and registry that can change a plugin's answer, for the
    /// credential cache key: settings, the values of granted environment variables (as
    /// `lookup` reports them) and the identity of granted files (size, device, inode,
    /// modification and change times: a file rewritten with its old mtime restored, or
    /// another file moved into its place, still changes it), so that a changed secret or
    /// profile is a miss, not a stale hit.
    pub fn cache_inputs(&self, lookup: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        use std::os::unix::fs::MetadataExt;
        let settings = self.settings.iter().map(|(k, v)| (format!("setting:{k}"), v.clone()));
        let env = self
            .env
            .items()
            .iter()
            .map(|name| (format!("env:{name}"), lookup(name).unwrap_or_else(|| "\0unset".into())));
        let files = self.files.items().iter().map(|grant| {
            let identity = grant.path.as_ref().and_then(|path| std::fs::metadata(path).ok()).map_or(
                "\0missing".to_string(),
                |m| {
                    let (size, dev, ino) = (m.len(), m.dev(), m.ino());
                    let (mtime, mtime_ns, ctime, ctime_ns) = (m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec());
                    format!("{size}:{dev}:{ino}:{mtime}.{mtime_ns}:{ctime}.{ctime_ns}")
                },
            );
            (format!("file:{}", grant.written), identity)
        });
        let network = self.network.items().iter().map(|grant| ("network".to_string(), grant.text.clone()));
        let budget = std::iter::once((MAX_REQUESTS.key.to_string(), self.limits.max_requests.value.to_string()));
        settings.chain(env).chain(files).chain(network).chain(budget).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_granted_file_rewritten_with_its_old_times_is_still_a_new_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(&path, "key=one").unwrap();
        let grants = Grants {
            network: Granted::resolve(None, None, |m| &m.network),
            env: Granted::resolve(None, None, |m| &m.env),
            files: Granted::resolve(Some(vec![FileGrant::parse(&path.display().to_string()).unwrap()]), None, |m| {
                &m.files
            }),
            secrets: Granted::resolve(None, None, |m| &m.secrets),
            settings: BTreeMap::new(),
            limits: Limits::default(),
        };
        let before = grants.cache_inputs(|_| None);
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        // The same size, its modification time put back: only the change time tells.
        std::fs::write(&path, "key=two").unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(modified).unwrap();
        assert_ne!(grants.cache_inputs(|_| None), before);
    }

    #[test]
    fn the_password_database_knows_this_users_home() {
        let home = crate::home::password_database_home().expect("this user has an entry");
        assert!(home.is_absolute(), "{}", home.display());
    }

    #[test]
    fn file_grants_and_env_names_are_checked() {
        assert_eq!(FileGrant::parse("/etc/x").unwrap().path, Some(PathBuf::from("/etc/x")));
        for bad in ["relative", "/a/../b", "~user/x"] {
            assert!(FileGrant::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_env_name("AWS_PROFILE"), Ok("AWS_PROFILE".into()));
        assert!(parse_env_name("1X").is_err());
        assert!(parse_env_name("A-B").is_err());
    }
}
