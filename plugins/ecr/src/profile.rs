//! The shared AWS files: `~/.aws/config` (`[default]`, `[profile name]`) and
//! `~/.aws/credentials` (`[name]`), INI as the AWS SDKs read them. Pure.

use std::collections::BTreeMap;

/// The settings of one profile: the config file's, with the credentials file's on top.
pub type Profile = BTreeMap<String, String>;

/// Both files, parsed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Profiles {
    config: BTreeMap<String, Profile>,
    credentials: BTreeMap<String, Profile>,
}

impl Profiles {
    /// Parses the text of the config file and of the credentials file (either may be absent).
    pub fn parse(config: Option<&str>, credentials: Option<&str>) -> Profiles {
        let config = config
            .map(parse_ini)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(section, values)| {
                let section = section.trim();
                let name = match section.strip_prefix("profile") {
                    Some(rest) if rest.starts_with(char::is_whitespace) => rest.trim(),
                    _ if section == "default" => "default",
                    // `[sso-session x]`, `[services x]` and profiles without the `profile` prefix.
                    _ => return None,
                };
                Some((name.to_string(), values))
            })
            .collect();
        let credentials = credentials
            .map(parse_ini)
            .unwrap_or_default()
            .into_iter()
            .map(|(section, values)| (section.trim().to_string(), values))
            .collect();
        Profiles { config, credentials }
    }

    /// The profile `name`, if either file has it.
    pub fn get(&self, name: &str) -> Option<Profile> {
        let config = self.config.get(name);
        let credentials = self.credentials.get(name);
        if config.is_none() && credentials.is_none() {
            return None;
        }
        let mut profile = config.cloned().unwrap_or_default();
        profile.extend(credentials.cloned().unwrap_or_default());
        Some(profile)
    }
}

/// `[section]` headers and `key = value` lines; `#` and `;` start comments; indented lines
/// (nested settings such as `s3 =` blocks) are skipped; keys are lower case.
fn parse_ini(text: &str) -> BTreeMap<String, Profile> {
    let mut sections: BTreeMap<String, Profile> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = Some(section.trim().to_string());
            sections.entry(section.trim().to_string()).or_default();
            continue;
        }
        if let (Some(section), Some((key, value))) = (&current, line.split_once('=')) {
            let value = value.split([' ', '\t']).take_while(|w| !w.starts_with(['#', ';'])).collect::<Vec<_>>();
            let value = value.join(" ").trim().to_string();
            sections.get_mut(section).expect("inserted").insert(key.trim().to_ascii_lowercase(), value);
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_files_merge_per_profile() {
        let config = "\
[default]
region = us-west-2
[profile prod]
role_arn = arn:aws:iam::123456789012:role/puller   # the role
source_profile = default
s3 =
  max_concurrent_requests = 20
[sso-session corp]
sso_region = us-east-1
[ignored]
region = eu-west-1
";
        let credentials = "\
; keys
[default]
aws_access_key_id = AKIDEXAMPLE
aws_secret_access_key = secret
[prod]
region = eu-central-1
";
        let profiles = Profiles::parse(Some(config), Some(credentials));
        let default = profiles.get("default").unwrap();
        assert_eq!(default["region"], "us-west-2");
        assert_eq!(default["aws_access_key_id"], "AKIDEXAMPLE");
        let prod = profiles.get("prod").unwrap();
        assert_eq!(prod["role_arn"], "arn:aws:iam::123456789012:role/puller");
        assert_eq!(prod["region"], "eu-central-1", "the credentials file wins");
        assert_eq!(prod["s3"], "");
        assert!(!prod.contains_key("max_concurrent_requests"));
        assert_eq!(profiles.get("ignored"), None);
        assert_eq!(profiles.get("corp"), None);
        assert_eq!(Profiles::parse(None, None).get("default"), None);
    }
}
