//! What a plugin instance may be given, one module per capability (in the manner of Spin's
//! factors). Each module owns its part of the store state and its linker entries; nothing
//! outside the grant is reachable because nothing else is linked.

pub mod egress;
pub mod env;
pub mod files;
pub mod log;
pub mod memory;
pub mod request;
pub mod settings;

use crate::config::PluginConfig;
use crate::manifest::Manifest;
use std::collections::BTreeMap;

/// The effective grants of one plugin instance: each list from the operator's config where
/// it sets one, from the plugin's manifest otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    pub network: Vec<egress::grant::NetworkGrant>,
    pub env: Vec<String>,
    pub files: Vec<String>,
    pub settings: BTreeMap<String, String>,
    pub memory_mib: u64,
    pub deadline_ms: u64,
    pub max_requests: u64,
}

impl Grants {
    pub fn effective(config: &PluginConfig) -> Grants {
        let manifest = Manifest::of(&config.source);
        let network = config.network.clone().unwrap_or(manifest.network);
        Grants {
            // Validated when the config and the built-in manifests were parsed.
            network: network.iter().filter_map(|grant| egress::grant::NetworkGrant::parse(grant).ok()).collect(),
            env: config.env.clone().unwrap_or(manifest.env),
            files: config.files.clone().unwrap_or(manifest.files),
            settings: config.settings.clone(),
            memory_mib: config.memory_mib(),
            deadline_ms: config.deadline_ms(),
            max_requests: config.max_requests(),
        }
    }
}

impl Grants {
    /// Everything besides the plugin and registry that can change a plugin's answer, for the
    /// credential cache key: settings, the values of granted environment variables (as
    /// `lookup` reports them) and the identity of granted files (size, device, inode,
    /// modification and change times: a file rewritten with its old mtime restored, or
    /// another file moved into its place, still changes it), so that a changed secret or
    /// profile is a miss, not a stale hit.
    pub fn cache_inputs(&self, lookup: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        use std::os::unix::fs::MetadataExt;
        let settings = self.settings.iter().map(|(k, v)| (format!("setting:{k}"), v.clone()));
        let env = self.env.iter().map(|name| (format!("env:{name}"), lookup(name).unwrap_or_else(|| "\0unset".into())));
        let files = self.files.iter().map(|name| {
            let identity = crate::config::expand_home(name).ok().and_then(|path| std::fs::metadata(path).ok()).map_or(
                "\0missing".to_string(),
                |m| {
                    let (size, dev, ino) = (m.len(), m.dev(), m.ino());
                    let (mtime, mtime_ns, ctime, ctime_ns) = (m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec());
                    format!("{size}:{dev}:{ino}:{mtime}.{mtime_ns}:{ctime}.{ctime_ns}")
                },
            );
            (format!("file:{name}"), identity)
        });
        let network = self.network.iter().map(|grant| ("network".to_string(), grant.text.clone()));
        let budget = std::iter::once(("max-requests".to_string(), self.max_requests.to_string()));
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
            network: Vec::new(),
            env: Vec::new(),
            files: vec![path.display().to_string()],
            settings: BTreeMap::new(),
            memory_mib: 64,
            deadline_ms: 1000,
            max_requests: 1,
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
        let home = crate::config::password_database_home().expect("this user has an entry");
        assert!(home.is_absolute(), "{}", home.display());
    }
}
