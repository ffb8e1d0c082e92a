//! What this program was run as. Installed (linked or copied) under another credential
//! helper's name (`docker-credential-ecr-login`, …) or a kubelet provider's (`ecr`,
//! `acr-credential-provider`, …), it is a drop-in for that program: the matching built-in
//! plugin serves every registry of its cloud it is asked about (every host form the
//! embedded default routes to it, and any the config routes to it), whatever the config's
//! other routes say; any other registry is not found, as the replaced helpers answer, so
//! that a `credsStore` drop-in never sends a cloud's token to Docker Hub. The replaced
//! helper's documented environment knobs apply where they mean something here, and the
//! arguments the kubelet configs of the replaced providers pass (`get-credentials`,
//! `--v=N`, a provider config file) are accepted. Pure: the program name, arguments and
//! environment are given.

use crate::config::{self, Config, PluginConfig};
use crate::router::Router;
use std::path::Path;

/// A program this one stands in for.
#[derive(Debug, PartialEq, Eq)]
pub struct DropIn {
    /// The replaced program's file name.
    pub name: &'static str,
    /// The built-in plugin that serves its cloud's registries.
    pub plugin: &'static str,
    /// The replaced program's environment knobs.
    pub knobs: &'static [Knob],
}

/// One environment variable of a replaced program, and what it does here.
#[derive(Debug, PartialEq, Eq)]
pub struct Knob {
    pub name: &'static str,
    pub effect: Effect,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// Set to anything: answers are not cached (`cache = false`).
    NoCache,
    /// Set to `true`: `store` and `erase` succeed without storing (`ignore-store = true`).
    IgnoreStore,
    /// Read by the plugin itself (granted by its manifest).
    ReadByPlugin,
    /// No meaning here; the reason.
    Ignored(&'static str),
}

const ECR_KNOBS: &[Knob] = &[
    Knob { name: "AWS_ECR_DISABLE_CACHE", effect: Effect::NoCache },
    Knob { name: "AWS_ECR_IGNORE_CREDS_STORAGE", effect: Effect::IgnoreStore },
    Knob {
        name: "AWS_ECR_CACHE_DIR",
        effect: Effect::Ignored("answers are cached in this program's own cache ($DOCKER_CREDENTIAL_WASM_CACHE_DIR)"),
    },
    Knob { name: "AWS_PROFILE", effect: Effect::ReadByPlugin },
    Knob { name: "AWS_REGION", effect: Effect::ReadByPlugin },
];
const GCR_KNOBS: &[Knob] = &[
    Knob { name: "GOOGLE_APPLICATION_CREDENTIALS", effect: Effect::ReadByPlugin },
    Knob { name: "CLOUDSDK_CONFIG", effect: Effect::ReadByPlugin },
    Knob {
        name: "DOCKER_CREDENTIAL_GCR_CONFIG",
        effect: Effect::Ignored("the token sources are the gcr plugin's: credential file, ADC, metadata server"),
    },
    Knob {
        name: "DOCKER_CREDENTIAL_GCR_STORE",
        effect: Effect::Ignored("there is no gcr-login token store; use application default credentials"),
    },
];
const ACR_KNOBS: &[Knob] = &[
    Knob { name: "AZURE_TENANT_ID", effect: Effect::ReadByPlugin },
    Knob { name: "AZURE_CLIENT_ID", effect: Effect::ReadByPlugin },
    Knob { name: "AZURE_CLIENT_SECRET", effect: Effect::ReadByPlugin },
    Knob { name: "AZURE_FEDERATED_TOKEN_FILE", effect: Effect::ReadByPlugin },
    Knob {
        name: "AZURE_FEDERATED_TOKEN",
        effect: Effect::Ignored("a token in the environment is not read; write it to AZURE_FEDERATED_TOKEN_FILE"),
    },
];

/// Every name this program answers to besides its own.
pub const DROP_INS: &[DropIn] = &[
    DropIn { name: "docker-credential-ecr-login", plugin: "ecr", knobs: ECR_KNOBS },
    DropIn { name: "docker-credential-gcr", plugin: "gcr", knobs: GCR_KNOBS },
    DropIn { name: "docker-credential-gcloud", plugin: "gcr", knobs: GCR_KNOBS },
    DropIn { name: "docker-credential-acr-env", plugin: "acr", knobs: ACR_KNOBS },
    DropIn { name: "docker-credential-acr-login", plugin: "acr", knobs: ACR_KNOBS },
    // Kubelet providers, named as their configs name them.
    DropIn { name: "ecr", plugin: "ecr", knobs: ECR_KNOBS },
    DropIn { name: "ecr-credential-provider", plugin: "ecr", knobs: ECR_KNOBS },
    DropIn { name: "acr-credential-provider", plugin: "acr", knobs: ACR_KNOBS },
    DropIn { name: "azure-credential-provider", plugin: "acr", knobs: ACR_KNOBS },
    DropIn { name: "gcp-credential-provider", plugin: "gcr", knobs: GCR_KNOBS },
    DropIn { name: "auth-provider-gcp", plugin: "gcr", knobs: GCR_KNOBS },
];

/// Kubelet provider names that do not end in `credential-provider`.
const OTHER_PROVIDER_NAMES: [&str; 2] = ["ecr", "auth-provider-gcp"];

/// The file name of the program path `arg0`.
pub fn program_name(arg0: &str) -> &str {
    Path::new(arg0).file_name().and_then(|name| name.to_str()).unwrap_or(arg0)
}

/// The program this one stands in for when run as `program` (a file name), if any.
pub fn drop_in(program: &str) -> Option<&'static DropIn> {
    DROP_INS.iter().find(|drop_in| drop_in.name == program)
}

/// Whether `program` is a name the kubelet runs providers by: one ending in
/// `credential-provider` (as `wasm-credential-provider`), or a replaced provider's.
pub fn is_provider_name(program: &str) -> bool {
    program.ends_with("credential-provider") || OTHER_PROVIDER_NAMES.contains(&program)
}

impl DropIn {
    /// `config` as this drop-in serves it: only its plugin's routes (the embedded default's
    /// and the config's, and no credential store), to its plugin (the config's `[plugins.<name>]` table if it has
    /// one, else the built-in's defaults), with the knobs set in the environment (`env`)
    /// applied. Returns a line for the log per knob set.
    pub fn apply(&self, config: &mut Config, env: impl Fn(&str) -> Option<String>) -> Vec<String> {
        let plugin =
            config.plugins.entry(self.plugin.to_string()).or_insert_with(|| PluginConfig::builtin_default(self.plugin));
        let mut applied = Vec::new();
        for knob in self.knobs {
            let Some(value) = env(knob.name).filter(|value| !value.is_empty()) else { continue };
            let effect = match &knob.effect {
                Effect::NoCache => {
                    plugin.cache = false;
                    "answers are not cached".to_string()
                }
                Effect::IgnoreStore if value == "true" => {
                    plugin.ignore_store = true;
                    "store and erase succeed without storing".to_string()
                }
                Effect::IgnoreStore => "not `true`: store and erase fail".to_string(),
                Effect::ReadByPlugin => format!("read by the {} plugin", self.plugin),
                Effect::Ignored(why) => format!("ignored: {why}"),
            };
            applied.push(format!("{} is set ({}): {effect}", knob.name, self.name));
        }
        let default = match config.origin {
            config::Origin::Embedded => None,
            config::Origin::File(_) => Some(
                config::parse(config::EMBEDDED_DEFAULT, config::Origin::Embedded)
                    .expect("the embedded default is valid"),
            ),
        };
        let routes = default.iter().flat_map(|default| default.router.routes()).chain(config.router.routes());
        config.router = Router::new(routes.filter(|route| route.plugin == self.plugin).cloned().collect());
        // The helper it replaces keeps no other registry's logins.
        config.store = config::StoreConfig::default();
        applied
    }
}

/// The kubelet's arguments, in this program's terms.
#[derive(Debug, PartialEq, Eq)]
pub struct ProviderArgs {
    /// The command line for this program's parser.
    pub args: Vec<String>,
    /// Arguments accepted and not used (a replaced provider's config file), for the log.
    pub unused: Vec<String>,
}

/// The command line of a kubelet provider run (under a provider name, or with the
/// `get-credentials` argument the replaced providers take), in this program's terms:
/// `get-credentials` is the `kubelet` action, klog's `--v=N` a log level, a replaced
/// provider's config file (`acr-credential-provider /etc/kubernetes/azure.json`) is not
/// read, and with no action the `kubelet` action is added. `None` for any other command
/// line. `actions` gives this program's action and option words (never taken for a file),
/// asked for only when the command line is a provider's.
pub fn provider_args(args: &[String], actions: impl FnOnce() -> Vec<String>) -> Option<ProviderArgs> {
    let program = program_name(args.first()?);
    let rest = &args[1..];
    if !is_provider_name(program) && !rest.iter().any(|arg| arg == "get-credentials") {
        return None;
    }
    let actions = actions();
    let mut out = ProviderArgs { args: vec![args[0].clone()], unused: Vec::new() };
    let mut rest = rest.iter().peekable();
    while let Some(arg) = rest.next() {
        if arg == "get-credentials" {
            out.args.push("kubelet".into());
        } else if let Some(level) = klog_verbosity(arg, || rest.next_if(|next| next.parse::<u8>().is_ok())) {
            out.args.push(format!("--log-level={level}"));
        } else if looks_like_a_file(arg) && !actions.contains(arg) && !takes_a_value(out.args.last()) {
            out.unused.push(arg.clone());
        } else {
            out.args.push(arg.clone());
        }
    }
    if !out.args.iter().skip(1).any(|arg| actions.contains(arg)) {
        out.args.push("kubelet".into());
    }
    Some(out)
}

/// The log level for klog's `--v=N` (`-v=N`, `--v N`): 0 the default, 1–2 info, 3–5
/// debug, 6 and more trace. `next` takes the following argument when it is a number.
fn klog_verbosity<'a>(arg: &str, next: impl FnOnce() -> Option<&'a String>) -> Option<&'static str> {
    let value = match arg.strip_prefix("--v").or_else(|| arg.strip_prefix("-v")) {
        Some(rest) if rest.is_empty() => next()?.clone(),
        Some(rest) => rest.strip_prefix('=')?.to_string(),
        None => return None,
    };
    Some(match value.parse::<u8>().ok()? {
        0 => "warn",
        1..=2 => "info",
        3..=5 => "debug",
        _ => "trace",
    })
}

fn looks_like_a_file(arg: &str) -> bool {
    !arg.starts_with('-') && (arg.contains('/') || [".json", ".yaml", ".yml"].iter().any(|ext| arg.ends_with(ext)))
}

/// Whether `previous` is an option of this program whose value is the next argument
/// (`--config FILE`, `--log-file FILE`).
fn takes_a_value(previous: Option<&String>) -> bool {
    previous.is_some_and(|option| ["--config", "--log-file", "--log-level"].contains(&option.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTIONS: &[&str] =
        &["get", "store", "erase", "list", "version", "kubelet", "audit", "-h", "--help", "-V", "--version"];

    fn rewritten(args: &[&str]) -> Option<(Vec<String>, Vec<String>)> {
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        provider_args(&args, || ACTIONS.iter().map(|action| action.to_string()).collect())
            .map(|out| (out.args, out.unused))
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn the_arguments_real_kubelet_configs_pass_are_the_kubelet_action() {
        // The ECR provider's documented config: `ecr` with `get-credentials`.
        assert_eq!(
            rewritten(&["/usr/libexec/kubelet/ecr", "get-credentials"]),
            Some((strings(&["/usr/libexec/kubelet/ecr", "kubelet"]), vec![]))
        );
        // The GCP provider's: `get-credentials` with klog's verbosity.
        assert_eq!(
            rewritten(&["auth-provider-gcp", "get-credentials", "--v=3"]),
            Some((strings(&["auth-provider-gcp", "kubelet", "--log-level=debug"]), vec![]))
        );
        // Azure's: the provider's config file, which is not read.
        assert_eq!(
            rewritten(&["acr-credential-provider", "/etc/kubernetes/azure.json"]),
            Some((strings(&["acr-credential-provider", "kubelet"]), strings(&["/etc/kubernetes/azure.json"])))
        );
        // `get-credentials` makes any name a provider; a provider name needs no argument.
        assert_eq!(
            rewritten(&["docker-credential-wasm", "get-credentials", "-v", "7"]),
            Some((strings(&["docker-credential-wasm", "kubelet", "--log-level=trace"]), vec![]))
        );
        assert_eq!(
            rewritten(&["wasm-credential-provider"]),
            Some((strings(&["wasm-credential-provider", "kubelet"]), vec![]))
        );
        // This program's own options keep their values.
        assert_eq!(
            rewritten(&["ecr", "--config", "/etc/dcw.toml", "kubelet"]),
            Some((strings(&["ecr", "--config", "/etc/dcw.toml", "kubelet"]), vec![]))
        );
        assert_eq!(
            rewritten(&["wasm-credential-provider", "--help"]),
            Some((strings(&["wasm-credential-provider", "--help"]), vec![]))
        );
        // Anything else stays for the parser, which names it in its error.
        assert_eq!(
            rewritten(&["ecr", "--registry-mirror=a:b"]),
            Some((strings(&["ecr", "--registry-mirror=a:b", "kubelet"]), vec![]))
        );
        // Not a provider run.
        assert_eq!(rewritten(&["docker-credential-wasm", "get"]), None);
        assert_eq!(rewritten(&["docker-credential-ecr-login", "get"]), None);
    }

    #[test]
    fn klog_levels_map_to_log_levels() {
        for (arg, level) in [("--v=0", "warn"), ("--v=2", "info"), ("-v=4", "debug"), ("--v=9", "trace")] {
            assert_eq!(klog_verbosity(arg, || None), Some(level), "{arg}");
        }
        for arg in ["-vv", "--verbose", "--version", "--v=x", "-v"] {
            assert_eq!(klog_verbosity(arg, || None), None, "{arg}");
        }
    }

    #[test]
    fn a_drop_in_serves_its_clouds_registries_with_its_plugin_and_applies_its_knobs() {
        let mut config =
            crate::config::parse(crate::config::EMBEDDED_DEFAULT, crate::config::Origin::Embedded).unwrap();
        let ecr = drop_in(program_name("/usr/local/bin/docker-credential-ecr-login")).unwrap();
        let env = |name: &str| match name {
            "AWS_ECR_DISABLE_CACHE" => Some("1".to_string()),
            "AWS_ECR_IGNORE_CREDS_STORAGE" => Some("true".to_string()),
            "AWS_ECR_CACHE_DIR" => Some("/tmp/ecr".to_string()),
            _ => None,
        };
        let applied = ecr.apply(&mut config, env);
        assert_eq!(
            applied,
            [
                "AWS_ECR_DISABLE_CACHE is set (docker-credential-ecr-login): answers are not cached",
                "AWS_ECR_IGNORE_CREDS_STORAGE is set (docker-credential-ecr-login): store and erase succeed without storing",
                "AWS_ECR_CACHE_DIR is set (docker-credential-ecr-login): ignored: answers are cached in this program's own cache ($DOCKER_CREDENTIAL_WASM_CACHE_DIR)",
            ]
        );
        let plugin = &config.plugins["ecr"];
        assert_eq!((plugin.cache, plugin.ignore_store), (false, true));
        let served = |config: &Config, registry: &str| {
            let registry = crate::registry::Registry::parse(registry).unwrap();
            config.router.route(&registry).map(|route| route.plugin.clone())
        };
        assert_eq!(served(&config, "123456789012.dkr.ecr.us-east-1.amazonaws.com").as_deref(), Some("ecr"));
        assert_eq!(served(&config, "public.ecr.aws").as_deref(), Some("ecr"));
        // Never another cloud's registry, nor Docker Hub: a `credsStore` drop-in is asked
        // about every registry, and must not send an AWS token anywhere but to ECR.
        for other in ["docker.io", "127.0.0.1:5000", "myreg.azurecr.io", "gcr.io"] {
            assert_eq!(served(&config, other), None, "{other}");
        }

        // A config file's routes to the plugin are kept with the default's; its routes to
        // other plugins are not.
        let text =
            "[routes]\n\"123456789012.dkr.ecr.us-east-1.amazonaws.com\" = \"static\"\n\"ecr.corp.example\" = \"ecr\"\n";
        let mut config = crate::config::parse(text, crate::config::Origin::File("/etc/dcw.toml".into())).unwrap();
        ecr.apply(&mut config, |_| None);
        assert_eq!(served(&config, "123456789012.dkr.ecr.us-east-1.amazonaws.com").as_deref(), Some("ecr"));
        assert_eq!(served(&config, "ecr.corp.example").as_deref(), Some("ecr"));
        assert_eq!(served(&config, "docker.io"), None);
        // Without the knobs, the plugin's defaults stand.
        let mut config =
            crate::config::parse(crate::config::EMBEDDED_DEFAULT, crate::config::Origin::Embedded).unwrap();
        assert!(drop_in("acr-credential-provider").unwrap().apply(&mut config, |_| None).is_empty());
        assert_eq!((config.plugins["acr"].cache, config.plugins["acr"].ignore_store), (true, false));
        assert_eq!(drop_in("docker-credential-wasm"), None);
        assert_eq!(drop_in("wasm-credential-provider"), None);
    }

    #[test]
    fn every_drop_in_names_a_built_in_plugin_and_every_provider_name_is_one() {
        for drop_in in DROP_INS {
            assert!(crate::builtins::find(drop_in.plugin).is_some(), "{}", drop_in.name);
            let knobs: Vec<&str> = drop_in.knobs.iter().map(|knob| knob.name).collect();
            let manifest = &crate::builtins::find(drop_in.plugin).unwrap().manifest().env;
            for knob in drop_in.knobs.iter().filter(|knob| knob.effect == Effect::ReadByPlugin) {
                assert!(
                    manifest.contains(&knob.name.to_string()),
                    "{} is not granted to {}: {knobs:?}",
                    knob.name,
                    drop_in.plugin
                );
            }
        }
        for name in OTHER_PROVIDER_NAMES {
            assert!(drop_in(name).is_some(), "{name}");
        }
    }

    #[test]
    fn the_readme_documents_every_drop_in_name_and_knob() {
        let readme = include_str!("../../README.md");
        for drop_in in DROP_INS {
            assert!(readme.contains(&format!("`{}`", drop_in.name)), "{}", drop_in.name);
            for knob in drop_in.knobs {
                assert!(readme.contains(&format!("`{}", knob.name)), "{}", knob.name);
            }
        }
    }
}
