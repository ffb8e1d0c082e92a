//! A plugin's manifest: the grants it needs by default, parsed into the same typed grants
//! as the config's, and the settings it understands. The operator's config may replace
//! each grant list; `audit` shows the result.

use crate::grants::network::NetworkGrant;
use crate::grants::{FileGrant, SecretsNamespace, parse_env_name};
use serde::Deserialize;

/// A parsed `manifest.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// One line saying what the plugin does.
    pub description: String,
    /// Network grants the plugin needs by default.
    pub network: Vec<NetworkGrant>,
    /// Environment variable names the plugin reads by default.
    pub env: Vec<String>,
    /// Files the plugin reads by default.
    pub files: Vec<FileGrant>,
    /// The secrets namespace the plugin keeps its entries in, if any (none or one).
    pub secrets: Vec<SecretsNamespace>,
    /// The setting keys the plugin understands; others are config errors.
    pub settings: Vec<String>,
}

/// `manifest.toml` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    description: String,
    #[serde(default)]
    network: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    files: Vec<String>,
    secrets: Option<String>,
    #[serde(default)]
    settings: Vec<String>,
}

impl Manifest {
    /// The manifest `text`; an error names the first key or grant that is not valid.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| e.to_string())?;
        let network: Result<_, String> =
            raw.network.iter().map(|g| NetworkGrant::parse(g).map_err(|e| e.to_string())).collect();
        Ok(Manifest {
            description: raw.description,
            network: network?,
            env: raw.env.iter().map(|name| parse_env_name(name)).collect::<Result<_, _>>()?,
            files: raw.files.iter().map(|path| FileGrant::parse(path)).collect::<Result<_, _>>()?,
            secrets: raw.secrets.as_deref().map(SecretsNamespace::parse).transpose()?.into_iter().collect(),
            settings: raw.settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_grant_in_a_manifest_is_an_error_that_names_it() {
        let bad = Manifest::parse("description = \"x\"\nnetwork = [\"https://ok.example.com\", \"ftp://x\"]\n");
        assert!(bad.unwrap_err().starts_with("invalid network grant \"ftp://x\": the scheme must be http or https"));
        let bad = Manifest::parse("description = \"x\"\nfiles = [\"relative/path\"]\n");
        assert!(bad.unwrap_err().starts_with("invalid file grant \"relative/path\""));
        let bad = Manifest::parse("description = \"x\"\nenv = [\"NOT-A-NAME\"]\n");
        assert!(bad.unwrap_err().starts_with("invalid environment variable name \"NOT-A-NAME\""));
        let unknown = Manifest::parse("description = \"x\"\nnetwrok = []\n").unwrap_err();
        assert!(unknown.contains("unknown field `netwrok`"), "{unknown}");
    }
}
