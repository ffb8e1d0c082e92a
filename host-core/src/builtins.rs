//! The built-in plugins the host knows by name: each one's digest and manifest, from
//! `plugins/` at build time. Their code is embedded by the sandbox, not here.

use crate::manifest::Manifest;

/// One built-in plugin.
#[derive(Debug, PartialEq, Eq)]
pub struct Builtin {
    pub name: &'static str,
    /// Hex SHA-256 of its component, computed at build time.
    pub sha256: &'static str,
    manifest_text: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

impl Builtin {
    /// The plugin's manifest (validated by the test suite, so parsing cannot fail), parsed
    /// on first use, once per process.
    pub fn manifest(&self) -> &'static Manifest {
        static PARSED: std::sync::OnceLock<Vec<std::sync::OnceLock<Manifest>>> = std::sync::OnceLock::new();
        let parsed = PARSED.get_or_init(|| BUILTINS.iter().map(|_| std::sync::OnceLock::new()).collect());
        let index = BUILTINS.iter().position(|builtin| builtin.name == self.name).expect("a built-in");
        parsed[index].get_or_init(|| {
            Manifest::parse(self.manifest_text)
                .unwrap_or_else(|e| panic!("the manifest of built-in plugin {} is invalid: {e}", self.name))
        })
    }
}

/// The built-in plugin called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|builtin| builtin.name == name)
}

/// The names of all built-in plugins.
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|builtin| builtin.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grant that does not parse in any built-in's manifest fails here, not silently at
    /// run time.
    #[test]
    fn every_builtin_manifest_is_valid_with_every_grant_typed() {
        assert!(names().contains(&"static"));
        for builtin in BUILTINS {
            let manifest = Manifest::parse(builtin.manifest_text)
                .unwrap_or_else(|e| panic!("plugins/{}/manifest.toml: {e}", builtin.name));
            assert!(!manifest.description.is_empty(), "{}", builtin.name);
            for grant in &manifest.network {
                // `audit` shows the normal form: the manifest is written in it.
                assert_eq!(grant.to_string(), grant.text, "plugins/{}/manifest.toml", builtin.name);
            }
            assert_eq!(builtin.sha256.len(), 64, "{}", builtin.name);
        }
    }
}
