//! `doctor [REGISTRY]`: why a registry gets the answer it gets. The config in use; for the
//! registry, its route and plugin, the plugin's grants (whether each granted variable is set
//! and each granted file is there; never a value), its cached answer, and a live call: the
//! outcome (never the secret) and everything the plugin and its requests logged on the way,
//! through the same sandbox and egress rules as a real `get`. The cache is not written.

use crate::plugins::WasmPlugins;
use host_core::answers::Slot;
use host_core::cache::{self, credentials};
use host_core::call::{Call, Reply, RequestContext};
use host_core::config::Config;
use host_core::logging::{Capture, sanitize};
use host_core::registry::Registry;
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;

/// Longest the live call may take.
const DEADLINE_MS: u64 = 10_000;

/// What `doctor` found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub config: String,
    pub registry: Option<String>,
    /// `"<pattern>" -> <plugin>`, or why none.
    pub route: Option<String>,
    pub plugin: Option<String>,
    pub grants: Vec<String>,
    pub cache: Option<String>,
    /// The live call's outcome.
    pub call: Option<String>,
    /// What the plugin and its requests logged during the call.
    pub log: Vec<String>,
    /// Whether the registry gets credentials.
    pub ok: bool,
}

pub fn run(
    config: &Config,
    registry: Option<&str>,
    capture: Option<Capture>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let report = diagnose(config, registry, capture);
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.text())?;
    }
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn diagnose(config: &Config, registry: Option<&str>, capture: Option<Capture>) -> Report {
    let mut report = Report {
        config: config.origin.to_string(),
        registry: None,
        route: None,
        plugin: None,
        grants: Vec::new(),
        cache: None,
        call: None,
        log: Vec::new(),
        ok: false,
    };
    let Some(name) = registry else {
        report.route = Some(format!(
            "{} routes; name a registry to see its plugin, cache and a live call",
            config.router.routes().len()
        ));
        report.ok = true;
        return report;
    };
    let registry = match Registry::parse(name) {
        Ok(registry) => registry,
        Err(e) => {
            report.route = Some(e.to_string());
            return report;
        }
    };
    report.registry = Some(registry.to_string());
    let id = match (config.router.route(&registry), &config.store.plugin) {
        (Some(route), _) => {
            report.route = Some(format!("{:?} -> plugin {:?}", route.pattern.to_string(), route.plugin));
            &route.plugin
        }
        (None, Some(store)) => {
            report.route =
                Some(format!("no route serves {registry}: the credential store's plugin {store:?} ([store] plugin)"));
            store
        }
        (None, None) => {
            report.route = Some(format!(
                "no route serves {registry}: clients get \"credentials not found\"; add it to [routes] in {}",
                config.origin
            ));
            return report;
        }
    };
    let Some(plugin) = config.plugins.get(id) else {
        return report;
    };
    report.plugin = Some(match &plugin.source {
        host_core::config::PluginSource::Builtin(name) => format!("built-in {name} ({})", plugin.component_sha256()),
        host_core::config::PluginSource::File { path, .. } => {
            format!("{} ({})", path.display(), plugin.component_sha256())
        }
    });
    let grants = &plugin.grants;
    report.grants.extend(grants.network.items().iter().map(|grant| format!("network {grant}")));
    report.grants.extend(grants.env.items().iter().map(|name| {
        let set = std::env::var_os(name).is_some();
        format!("env {name} ({})", if set { "set" } else { "not set" })
    }));
    report.grants.extend(grants.files.items().iter().map(|grant| {
        let there = grant.path.as_ref().is_some_and(|path| path.exists());
        format!("file {} ({})", grant.written, if there { "present" } else { "missing" })
    }));
    report.grants.extend(grants.secrets.items().iter().map(|namespace| format!("secrets {}", namespace.name())));
    report.cache = Some(cache_state(config, plugin, &registry));

    // A quick answer: an endpoint that does not answer within seconds is the diagnosis.
    let mut plugin = plugin.clone();
    let deadline = &mut plugin.grants.limits.deadline_ms.value;
    *deadline = (*deadline).min(DEADLINE_MS);
    let mut plugins = WasmPlugins::default();
    // The name as given is the server URL a client would send (a store keys logins by it).
    let outcome = plugins.call_here(config, &plugin, Call::Get(registry.to_string(), RequestContext::docker(name)));
    report.call = Some(match outcome {
        Ok(Ok(Reply::Credentials(credentials, _))) => {
            report.ok = true;
            let expiry = credentials.expires_at.map_or("no expiry given".to_string(), |at| {
                format!("expire in {} s", at.saturating_sub(credentials::now()))
            });
            format!(
                "credentials for user {:?}, which {expiry} (the secret is not shown)",
                sanitize(&credentials.username, 256)
            )
        }
        Ok(Ok(other)) => format!("the plugin answered get with {}", other.kind()),
        Ok(Err(error)) => format!("{}: {}", error.kind(), sanitize(error.message(), 2048)),
        Err(error) => format!("the sandbox: {error:#}"),
    });
    report.log = capture.map(|capture| capture.lines()).unwrap_or_default();
    report
}

/// The cached answer's state, or why there is none.
fn cache_state(config: &Config, plugin: &host_core::config::PluginConfig, registry: &Registry) -> String {
    if plugin.grants.secrets_namespace().is_some() {
        return "never: it keeps secrets in the user's keyring, which are not copied to disk".into();
    }
    if !plugin.cache {
        return "off for this plugin (cache = false)".into();
    }
    let mut why = None;
    let slot = Slot::of(config, plugin, registry, &RequestContext::default(), |config| {
        let dir = cache::open_for(config);
        if dir.is_none() {
            why = Some("no usable cache directory (the log says why)".to_string());
        }
        dir.map(credentials::CredentialCache::new)
    });
    let now = credentials::now();
    match slot.as_ref().map(Slot::entry) {
        None => why.unwrap_or_default(),
        Some(None) => "no cached answer".into(),
        Some(Some(entry)) if entry.is_fresh(now) => format!("fresh for {} s more", entry.fresh_until - now),
        Some(Some(entry)) if entry.is_usable(now) => {
            format!("stale, usable as a fallback for {} s (cache-stale-fallback)", entry.usable_until() - now)
        }
        Some(Some(_)) => "expired".into(),
    }
}

impl Report {
    fn text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let mut row = |name: &str, value: &str| {
            let _ = writeln!(out, "{name:<9} {value}");
        };
        row("config", &self.config);
        let rows = [("registry", &self.registry), ("route", &self.route), ("plugin", &self.plugin)];
        for (name, value) in rows {
            if let Some(value) = value {
                row(name, value);
            }
        }
        for (i, grant) in self.grants.iter().enumerate() {
            row(if i == 0 { "grants" } else { "" }, grant);
        }
        for (name, value) in [("cache", &self.cache), ("call", &self.call)] {
            if let Some(value) = value {
                row(name, value);
            }
        }
        if !self.log.is_empty() {
            out.push_str("what happened:\n");
            for line in &self.log {
                let _ = writeln!(out, "  {line}");
            }
        }
        out
    }
}
