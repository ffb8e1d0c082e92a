//! `audit`: what each configured plugin is and what it will be allowed to do, as the host
//! will enforce it — source and digest, world version, the imports the component actually
//! declares (and which the host refuses), every effective grant marked with where it came
//! from (plugin manifest or operator config) and whether the config widens the manifest,
//! and the limits. A human table or JSON. Never a setting's value: settings may hold secrets.

use host_core::config::{Config, PluginConfig, PluginSource};
use host_core::grants::network::{HostGrant, NetworkGrant, Target, TargetHost};
use host_core::grants::{Granted, Origin, SecretsNamespace};
use host_core::manifest::Manifest;
use host_sandbox::{Inspection, WIT_PACKAGE};
use serde::Serialize;
use std::fmt::Write;

/// Prints the audit of `config` (table or JSON); exit code 1 if a plugin would be refused.
pub fn print(config: &Config, json: bool, out: &mut impl std::io::Write) -> anyhow::Result<std::process::ExitCode> {
    let sandbox = crate::plugins::sandbox(config, host_core::cache::open_for(config))?;
    let report = Report::build(config, |plugin| sandbox.inspect(plugin));
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.table())?;
    }
    Ok(if report.all_loadable() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE })
}

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
    /// What the plugin says of itself: a built-in's manifest, or the one an external
    /// plugin embeds (`null` when it embeds none, and its grants come from the config alone).
    pub manifest: Option<String>,
    /// What its manifest asks for that it is not granted (`network https://…`, `env NAME`).
    pub not_granted: Vec<String>,
    /// Where the native code that would run comes from (and how it was checked).
    pub code: Option<String>,
    /// Why the host would not run it, if it would not.
    pub error: Option<String>,
    pub network: Vec<GrantLine>,
    pub env: Vec<GrantLine>,
    pub files: Vec<GrantLine>,
    /// The namespace of the user's keyring it may keep secrets in (none or one).
    pub secrets: Vec<GrantLine>,
    /// The keys of the operator's settings (values are not shown).
    pub settings: Vec<String>,
    pub limits: Vec<Limit>,
}

/// One effective grant, as the host parsed it (network grants in normal form).
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
            let manifest = p.manifest.as_deref().unwrap_or("none embedded: every grant comes from the config");
            row(&mut out, "manifest", manifest);
            row(&mut out, "code", p.code.as_deref().unwrap_or("-"));
            let secrets = [("network", &p.network), ("env", &p.env), ("files", &p.files), ("secrets", &p.secrets)];
            for (name, grants) in secrets {
                let lines: Vec<String> = grants
                    .iter()
                    .map(|g| {
                        format!("{:<40} {}{}", g.grant, g.origin, if g.widens { "  WIDENS the manifest" } else { "" })
                    })
                    .collect();
                rows(&mut out, name, &lines);
            }
            let not_granted: Vec<String> = p.not_granted.iter().map(|asked| format!("{asked}  NOT GRANTED")).collect();
            if !not_granted.is_empty() {
                rows(&mut out, "asks", &not_granted);
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
        .chain(
            (config.store.plugin.as_deref() == Some(plugin.id.as_str()))
                .then(|| "every registry no route serves ([store] plugin)".to_string()),
        )
        .collect();
    let (inspection, error) = match inspect(plugin) {
        Ok(inspection) => {
            let refusal = inspection.refusal();
            (Some(inspection), refusal)
        }
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let embedded = inspection.as_ref().and_then(|i| i.manifest.as_ref());
    let no_manifest = Manifest::default();
    let (manifest, said) = match (plugin.source.builtin(), embedded) {
        (Some(builtin), _) => (builtin.manifest(), Some(format!("{} (built in)", builtin.manifest().description))),
        (None, Some(embedded)) => (embedded, Some(format!("{} (embedded in the component)", embedded.description))),
        (None, None) => (&no_manifest, None),
    };
    let refused_imports: Vec<String> =
        inspection.as_ref().map(|i| i.refused_imports().into_iter().map(str::to_string).collect()).unwrap_or_default();
    let grants = &plugin.grants;
    let limits =
        grants.limits.named().map(|(name, limit)| Limit { name, value: limit.value, origin: limit.origin.name() });
    PluginReport {
        id: plugin.id.clone(),
        source,
        sha256: inspection.as_ref().map(|i| i.sha256.clone()),
        world: inspection.as_ref().and_then(|i| i.world_version().map(str::to_string)),
        routes,
        code: inspection.as_ref().map(|i| i.code.clone()),
        imports: inspection.as_ref().map(|i| i.imports.clone()).unwrap_or_default(),
        refused_imports,
        manifest: said,
        not_granted: not_granted(manifest, grants),
        error,
        network: grant_lines(&grants.network, ToString::to_string, |g| network_widens(g, &manifest.network)),
        env: grant_lines(&grants.env, Clone::clone, |name| !manifest.env.contains(name)),
        files: grant_lines(&grants.files, |g| g.written.clone(), |g| !manifest.files.contains(g)),
        secrets: grant_lines(&grants.secrets, secrets_line, |ns| !manifest.secrets.contains(ns)),
        settings: grants.settings.keys().cloned().collect(),
        limits: limits.into(),
    }
}

/// What `manifest` asks for that `grants` do not give, each as `<list> <grant>`.
fn not_granted(manifest: &Manifest, grants: &host_core::grants::Grants) -> Vec<String> {
    let missing = |list: &str, granted: Vec<String>, asked: Vec<String>| -> Vec<String> {
        asked.into_iter().filter(|a| !granted.contains(a)).map(|a| format!("{list} {a}")).collect()
    };
    let network: Vec<String> = manifest
        .network
        .iter()
        .filter(|asked| network_widens(asked, grants.network.items()))
        .map(|asked| format!("network {asked}"))
        .collect();
    let files = |list: &[host_core::grants::FileGrant]| list.iter().map(|g| g.written.clone()).collect();
    let names = |list: &[SecretsNamespace]| list.iter().map(|ns| ns.name().to_string()).collect();
    network
        .into_iter()
        .chain(missing("env", grants.env.items().to_vec(), manifest.env.clone()))
        .chain(missing("files", files(grants.files.items()), files(&manifest.files)))
        .chain(missing("secrets", names(grants.secrets.items()), names(&manifest.secrets)))
        .collect()
}

/// A secrets namespace, saying whose entries it shares.
fn secrets_line(namespace: &SecretsNamespace) -> String {
    match namespace.is_docker() {
        true => format!("{} (shared with docker-credential-secretservice and -pass)", namespace.name()),
        false => namespace.name().to_string(),
    }
}

/// The lines of one grant list: each grant as the host parsed it, where the list came
/// from, and (for the config's) whether it grants what the manifest does not.
fn grant_lines<T>(granted: &Granted<T>, text: impl Fn(&T) -> String, widens: impl Fn(&T) -> bool) -> Vec<GrantLine> {
    let origin = granted.origin();
    let line = |grant| GrantLine {
        grant: text(grant),
        origin: origin.name(),
        widens: origin == Origin::Config && widens(grant),
    };
    granted.items().iter().map(line).collect()
}

/// A network grant widens the manifest unless the manifest has it, or a manifest grant
/// allows the exact name it names (`https://api.example.com` under `https://*.example.com`).
fn network_widens(grant: &NetworkGrant, manifest: &[NetworkGrant]) -> bool {
    if manifest.iter().any(|m| m.to_string() == grant.to_string()) {
        return false;
    }
    let HostGrant::Name(name) = &grant.host else { return true };
    let target = Target {
        https: grant.https,
        host: TargetHost::Name(name.clone()),
        port: grant.port,
        path: grant.path_prefix.clone().unwrap_or_else(|| "/".into()),
        query: None,
    };
    let covered =
        manifest.iter().any(|m| m.allows(&target) && (grant.path_prefix.is_some() || m.path_prefix.is_none()));
    !covered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_say_where_they_came_from() {
        let builtin = host_core::builtins::find("static");
        let manifest = ["A".to_string(), "B".to_string()];
        let widens = |v: &String| !manifest.contains(v);
        // The static plugin's manifest grants no files; its settings stand in for a list.
        let defaults = Granted::resolve(None, builtin, |m| &m.settings[..2]);
        assert_eq!(
            grant_lines(&defaults, Clone::clone, widens),
            vec![
                GrantLine { grant: "username".into(), origin: "manifest", widens: false },
                GrantLine { grant: "secret-env".into(), origin: "manifest", widens: false }
            ]
        );
        let configured = Granted::resolve(Some(vec!["B".into(), "C".into()]), builtin, |m| &m.settings);
        assert_eq!(
            grant_lines(&configured, Clone::clone, widens),
            vec![
                GrantLine { grant: "B".into(), origin: "config", widens: false },
                GrantLine { grant: "C".into(), origin: "config", widens: true }
            ]
        );
    }

    #[test]
    fn network_widening_is_judged_by_what_the_grant_reaches() {
        let parse = |text: &str| NetworkGrant::parse(text).unwrap();
        let manifest = [parse("https://*.example.com"), parse("http://169.254.169.254")];
        let widens = |text: &str| network_widens(&parse(text), &manifest);
        assert!(!widens("https://*.example.com"));
        assert!(!widens("https://api.example.com"));
        assert!(!widens("https://api.example.com/v2/"));
        assert!(widens("https://example.com"));
        assert!(widens("http://api.example.com"));
        assert!(widens("https://*.other.com"));
        assert!(widens("http://169.254.0.0/16"));
        assert!(!widens("http://169.254.169.254"));
    }
}
