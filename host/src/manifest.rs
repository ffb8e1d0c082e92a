//! A plugin's manifest: the grants it needs by default and the settings it understands.
//! The operator's config may replace each grant list; `audit` shows the result.

use serde::Deserialize;

/// The parsed `manifest.toml` of a plugin.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// One line saying what the plugin does.
    pub description: String,
    /// Network grants the plugin needs by default (`scheme://host[:port][/path]`).
    #[serde(default)]
    pub network: Vec<String>,
    /// Environment variable names the plugin reads by default.
    #[serde(default)]
    pub env: Vec<String>,
    /// Files the plugin reads by default (absolute, or starting with `~/`).
    #[serde(default)]
    pub files: Vec<String>,
    /// The setting keys the plugin understands; others are config errors.
    #[serde(default)]
    pub settings: Vec<String>,
}

impl Manifest {
    /// The manifest of the plugin `source` names: a built-in's own, or none (empty) for an
    /// external component, whose grants come from the operator's config alone.
    pub fn of(source: &crate::config::PluginSource) -> Manifest {
        match source {
            crate::config::PluginSource::Builtin(name) => {
                crate::builtins::find(name).map(|builtin| builtin.manifest()).unwrap_or_default()
            }
            crate::config::PluginSource::File { .. } => Manifest::default(),
        }
    }

    pub fn parse(text: &str) -> Result<Manifest, toml::de::Error> {
        toml::from_str(text)
    }
}
