//! `audit`: what each configured plugin is and what it will be allowed to do, as the host
//! will enforce it — source and digest, world version, the imports the component actually
//! declares (and which the host refuses), every effective grant marked with where it came
//! from (plugin manifest or operator config) and whether the config widens the manifest,
//! and the limits. A human table or JSON. Never a setting's value: settings may hold secrets.

use crate::capabilities::egress::grant::{HostGrant, NetworkGrant, Target, TargetHost};
use crate::config::{Config, PluginConfig, PluginSource};
use crate::manifest::Manifest;
use crate::runtime::{Inspection, WIT_PACKAGE};
use serde::Serialize;
use std::fmt::Write;

/// The audit of a whole config.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Report {
    pub config: String,
    pub plugins: Vec<PluginReport>,
}

/// The audit of one plugin instance.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PluginReport {
    pub id: String,
    pub source: String,
    pub sha256: Option<String>,
    pub world: Option<String>,
    pub routes: Vec<String>,
    pub imports: Vec<String>,
    pub refused_imports: Vec<String>,
    /// Where the native code that would run comes from (and how it was checked).
    pub code: Option<String>,
    /// Why the host would not run it, if it would not.
    pub error: Option<String>,
    pub network: Vec<GrantLine>,
    pub env: Vec<GrantLine>,
    pub files: Vec<GrantLine>,
    /// The keys of the operator's settings (values are not shown).
    pub settings: Vec<String>,
    pub limits: Vec<Limit>,
}

/// One effective grant.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct GrantLine {
    pub grant: String,
    /// `manifest` (the plugin's default) or `config` (the operator's).
    pub origin: &'static str,
    /// The config grants something the manifest does not.
    pub widens: bool,
}

/// One limit and whether the operator set it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Limit {
    pub name: &'static str,
    pub value: u64,
    /// `default` or `config`.
    pub origin: &'static str,
}

impl Report {
    /// Audits every plugin of `config`; `inspect` reads and compiles a plugin.
    pub fn build(config: &Config, inspect: impl Fn(&PluginConfig) -> anyhow::Result<Inspection>) -> Report {
        let plugins = config.plugins.values().map(|plugin| audit_plugin(config, plugin, &inspect)).collect();
        Report { config: config.origin.to_string(), plugins }
    }

    /// Whether every plugin would load.
    pub fn all_loadable(&self) -> bool {
        self.plugins.iter().all(|plugin| plugin.error.is_none())
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = format!("config: {}\n", self.config);
        if self.plugins.is_empty() {
            out.push_str("\nno plugins are configured\n");
        }
        for p in &self.plugins {
            let _ = writeln!(out, "\nplugin {:?}  {}", p.id, p.source);
            row(&mut out, "sha256", p.sha256.as_deref().unwrap_or("-"));
            row(
                &mut out,
                "world",
                p.world.as_deref().map_or("-".to_string(), |v| format!("{WIT_PACKAGE}@{v}")).as_str(),
            );
            row(&mut out, "routes", &list_or_none(&p.routes));
            let imports: Vec<String> = p
                .imports
                .iter()
                .map(|i| if p.refused_imports.contains(i) { format!("{i}  REFUSED") } else { i.clone() })
                .collect();
            rows(&mut out, "imports", &imports);
            row(&mut out, "code", p.code.as_deref().unwrap_or("-"));
            for (name, grants) in [("network", &p.network), ("env", &p.env), ("files", &p.files)] {
                let lines: Vec<String> = grants
                    .iter()
                    .map(|g| {
                        format!("{:<40} {}{}", g.grant, g.origin, if g.widens { "  WIDENS the manifest" } else { "" })
                    })
                    .collect();
                rows(&mut out, name, &lines);
            }
            let settings =
                if p.settings.is_empty() { "(none)".to_string() } else { format!("{}  config", p.settings.join(", ")) };
            row(&mut out, "settings", &settings);
            let limits: Vec<String> =
                p.limits.iter().map(|l| format!("{} {} ({})", l.name, l.value, l.origin)).collect();
            row(&mut out, "limits", &limits.join(", "));
            row(&mut out, "status", p.error.as_deref().map_or("ok".to_string(), |e| format!("REFUSED: {e}")).as_str());
        }
        out
    }
}

fn row(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(out, "  {name:<9} {value}");
}

fn rows(out: &mut String, name: &str, values: &[String]) {
    if values.is_empty() {
        row(out, name, "(none)");
    }
    for (i, value) in values.iter().enumerate() {
        row(out, if i == 0 { name } else { "" }, value);
    }
}

fn list_or_none(values: &[String]) -> String {
    if values.is_empty() { "(none)".to_string() } else { values.join(", ") }
}

fn audit_plugin(
    config: &Config,
    plugin: &PluginConfig,
    inspect: &impl Fn(&PluginConfig) -> anyhow::Result<Inspection>,
) -> PluginReport {
    let manifest = Manifest::of(&plugin.source);
    let source = match &plugin.source {
        PluginSource::Builtin(name) => format!("built-in {name}"),
        PluginSource::File { path, .. } => path.display().to_string(),
    };
    let routes = config
        .router
        .routes()
        .iter()
        .filter(|route| route.plugin == plugin.id)
        .map(|route| route.pattern.to_string())
        .collect();
    let (inspection, mut error) = match inspect(plugin) {
        Ok(inspection) => (Some(inspection), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let refused_imports: Vec<String> =
        inspection.as_ref().map(|i| i.refused_imports().into_iter().map(str::to_string).collect()).unwrap_or_default();
    if let Some(inspection) = &inspection
        && error.is_none()
    {
        let check = crate::runtime::check_imports(inspection.imports.iter().map(String::as_str))
            .and_then(|()| crate::runtime::check_exports(inspection.exports.iter().map(String::as_str)));
        error = check.err().map(|e| e.to_string());
    }
    let limits = vec![
        limit("memory-mib", plugin.memory_mib, plugin.memory_mib()),
        limit("deadline-ms", plugin.deadline_ms, plugin.deadline_ms()),
        limit("max-requests", plugin.max_requests, plugin.max_requests()),
    ];
    PluginReport {
        id: plugin.id.clone(),
        source,
        sha256: inspection.as_ref().map(|i| i.sha256.clone()),
        world: inspection.as_ref().and_then(|i| i.world_version().map(str::to_string)),
        routes,
        code: inspection.as_ref().map(|i| i.code.clone()),
        imports: inspection.map(|i| i.imports).unwrap_or_default(),
        refused_imports,
        error,
        network: grant_lines(&plugin.network, &manifest.network, network_widens),
        env: grant_lines(&plugin.env, &manifest.env, |value, manifest| !manifest.contains(&value.to_string())),
        files: grant_lines(&plugin.files, &manifest.files, |value, manifest| !manifest.contains(&value.to_string())),
        settings: plugin.settings.keys().cloned().collect(),
        limits,
    }
}

fn limit(name: &'static str, configured: Option<u64>, value: u64) -> Limit {
    Limit { name, value, origin: if configured.is_some() { "config" } else { "default" } }
}

fn grant_lines(
    configured: &Option<Vec<String>>,
    manifest: &[String],
    widens: impl Fn(&str, &[String]) -> bool,
) -> Vec<GrantLine> {
    match configured {
        None => {
            manifest.iter().map(|grant| GrantLine { grant: grant.clone(), origin: "manifest", widens: false }).collect()
        }
        Some(grants) => grants
            .iter()
            .map(|grant| GrantLine { grant: grant.clone(), origin: "config", widens: widens(grant, manifest) })
            .collect(),
    }
}

/// A network grant widens the manifest unless the manifest has it, or a manifest grant
/// allows the exact name it names (`https://api.example.com` under `https://*.example.com`).
fn network_widens(grant: &str, manifest: &[String]) -> bool {
    if manifest.iter().any(|m| m == grant) {
        return false;
    }
    let Ok(parsed) = NetworkGrant::parse(grant) else { return true };
    let HostGrant::Name(name) = &parsed.host else { return true };
    let target = Target {
        https: parsed.https,
        host: TargetHost::Name(name.clone()),
        port: parsed.port,
        path: parsed.path_prefix.clone().unwrap_or_else(|| "/".into()),
        query: None,
    };
    let covered = manifest
        .iter()
        .filter_map(|m| NetworkGrant::parse(m).ok())
        .any(|m| m.allows(&target) && (parsed.path_prefix.is_some() || m.path_prefix.is_none()));
    !covered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_say_where_they_came_from() {
        let manifest = vec!["A".to_string(), "B".to_string()];
        let defaults = grant_lines(&None, &manifest, |v, m| !m.contains(&v.to_string()));
        assert_eq!(
            defaults,
            vec![
                GrantLine { grant: "A".into(), origin: "manifest", widens: false },
                GrantLine { grant: "B".into(), origin: "manifest", widens: false }
            ]
        );
        let configured =
            grant_lines(&Some(vec!["B".into(), "C".into()]), &manifest, |v, m| !m.contains(&v.to_string()));
        assert_eq!(
            configured,
            vec![
                GrantLine { grant: "B".into(), origin: "config", widens: false },
                GrantLine { grant: "C".into(), origin: "config", widens: true }
            ]
        );
    }

    #[test]
    fn network_widening_is_judged_by_what_the_grant_reaches() {
        let manifest = vec!["https://*.example.com".to_string(), "http://169.254.169.254".to_string()];
        assert!(!network_widens("https://*.example.com", &manifest));
        assert!(!network_widens("https://api.example.com", &manifest));
        assert!(!network_widens("https://api.example.com/v2/", &manifest));
        assert!(network_widens("https://example.com", &manifest));
        assert!(network_widens("http://api.example.com", &manifest));
        assert!(network_widens("https://*.other.com", &manifest));
        assert!(network_widens("http://169.254.0.0/16", &manifest));
        assert!(!network_widens("http://169.254.169.254", &manifest));
    }
}
