//! What a plugin instance may be given, one module per capability (in the manner of Spin's
//! factors). Each module owns its part of the store state and its linker entries; nothing
//! outside the grant is reachable because nothing else is linked.

pub mod egress;
pub mod env;
pub mod files;
pub mod log;
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
    /// `lookup` reports them) and the identity of granted files (size, modification time,
    /// inode), so that a changed secret or profile is a miss, not a stale hit.
    pub fn cache_inputs(&self, lookup: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        use std::os::unix::fs::MetadataExt;
        let settings = self.settings.iter().map(|(k, v)| (format!("setting:{k}"), v.clone()));
        let env = self.env.iter().map(|name| (format!("env:{name}"), lookup(name).unwrap_or_else(|| "\0unset".into())));
        let files = self.files.iter().map(|name| {
            let identity = std::fs::metadata(crate::config::expand_home(name)).map_or("\0missing".to_string(), |m| {
                format!("{}:{}:{}:{}", m.len(), m.mtime(), m.mtime_nsec(), m.ino())
            });
            (format!("file:{name}"), identity)
        });
        let network = self.network.iter().map(|grant| ("network".to_string(), grant.text.clone()));
        let budget = std::iter::once(("max-requests".to_string(), self.max_requests.to_string()));
        settings.chain(env).chain(files).chain(network).chain(budget).collect()
    }
}

/// Makes untrusted text (plugin messages, file names) safe for one log or protocol line:
/// control characters are escaped and the text is cut at `max_chars`.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars));
    for (i, c) in text.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sanitize_escapes_controls_and_truncates() {
        assert_eq!(super::sanitize("a\nb\u{1b}[2Jc\r", 100), "a\\nb\\u{1b}[2Jc\\r");
        assert_eq!(super::sanitize("abcdef", 3), "abc…");
        assert_eq!(super::sanitize("ünï", 3), "ünï");
    }
}
