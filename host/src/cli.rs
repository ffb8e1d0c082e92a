//! The engine's command line: the credential-helper actions exactly as Docker calls them
//! (one argument, request on stdin, answer on stdout), plus options for people; the front
//! passes on every command line it does not answer itself. Thin: it parses arguments, sets
//! up logging and hands the action to [`host_core::actions`] with the sandbox's plugins.

use crate::plugins::{self, WasmPlugins};
use anyhow::Context;
use clap::{ArgAction, CommandFactory, Parser, Subcommand};
use host_core::logging::{self, Level};
use host_core::protocol::{self, Action};
use host_core::startup::{init_logging, load_config, load_config_with_logging, read_stdin};
use host_core::{NAME, actions, config, invocation};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Docker, Podman, Skopeo and Buildah run this program with one action and the request on
stdin. Map registries to it in ~/.docker/config.json (or containers' auth.json):

  { \"credHelpers\": { \"127.0.0.1:5000\": \"wasm\", \"myreg.azurecr.io\": \"wasm\" } }

Examples:
  echo 127.0.0.1:5000 | docker-credential-wasm get
  echo 127.0.0.1:5000 | docker-credential-wasm --config examples/static.toml -vv get
  docker-credential-wasm list

Config file: --config, then $DOCKER_CREDENTIAL_WASM_CONFIG, then
$XDG_CONFIG_HOME/docker-credential-wasm/config.toml (~/.config/...), then
/etc/docker-credential-wasm/config.toml, else the embedded default.
Logging: -v/--log-level or $DOCKER_CREDENTIAL_WASM_LOG, to stderr or
--log-file/$DOCKER_CREDENTIAL_WASM_LOG_FILE; the config's [log] table otherwise.";

#[derive(Debug, Parser)]
#[command(name = NAME, version, about = "A Docker credential helper that runs registry plugins in a WebAssembly sandbox", after_help = AFTER_HELP)]
struct Cli {
    /// Config file to use (default: see below)
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log more to stderr: -v info, -vv debug, -vvv trace
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// Log level: off, error, warn, info, debug or trace (default: warn)
    #[arg(long, global = true, value_name = "LEVEL", value_parser = config::LOG_LEVELS)]
    log_level: Option<String>,
    /// Append the log to FILE instead of stderr
    #[arg(long, global = true, value_name = "FILE")]
    log_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Store credentials: JSON {"ServerURL","Username","Secret"} on stdin
    #[command(
        after_help = "Example:\n  echo '{\"ServerURL\":\"127.0.0.1:5000\",\"Username\":\"u\",\"Secret\":\"s\"}' | docker-credential-wasm store"
    )]
    Store,
    /// Print credentials as JSON for the server URL on stdin
    #[command(after_help = "Example:\n  echo 127.0.0.1:5000 | docker-credential-wasm get")]
    Get,
    /// Erase credentials for the server URL on stdin
    #[command(after_help = "Example:\n  echo 127.0.0.1:5000 | docker-credential-wasm erase")]
    Erase,
    /// Print a JSON map of server URL to user name for every served registry
    #[command(after_help = "Example:\n  docker-credential-wasm list")]
    List,
    /// Print the helper's version line
    #[command(after_help = "Example:\n  docker-credential-wasm version")]
    Version,
    /// Show every configured plugin: source, sha256, world, imports, and the grants and
    /// limits the host will enforce, each with where it came from. Exits 1 if any plugin
    /// would be refused.
    #[command(
        after_help = "Examples:\n  docker-credential-wasm audit\n  docker-credential-wasm --config /etc/docker-credential-wasm/config.toml audit --json"
    )]
    Audit {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Compile every configured plugin into the cache now (at install time), so that no
    /// credential request waits for a compiler
    #[command(after_help = "Example:\n  docker-credential-wasm precompile")]
    Precompile,
    /// Send registries to this helper in Docker's config.json (`credHelpers`, or
    /// `credsStore`), or in containers' auth.json (podman, skopeo, buildah)
    #[command(
        after_help = "Examples:\n  docker-credential-wasm configure-docker\n  docker-credential-wasm configure-docker 123456789012.dkr.ecr.us-east-1.amazonaws.com myreg.azurecr.io\n  docker-credential-wasm configure-docker --containers --dry-run gcr.io\n  docker-credential-wasm configure-docker --creds-store"
    )]
    ConfigureDocker {
        /// Registries to send to this helper (default: every host the config routes by an
        /// exact pattern)
        registries: Vec<String>,
        /// Set `credsStore` instead: this helper is asked about every registry
        #[arg(long, conflicts_with = "registries")]
        creds_store: bool,
        /// Replace entries that name another helper
        #[arg(long)]
        overwrite: bool,
        /// Print the changes without writing them
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        client_file: ClientFile,
        /// The helper name to write: `wasm`, or a drop-in's (`ecr-login`, ...)
        #[arg(long, value_name = "NAME", default_value = "wasm")]
        helper: String,
    },
    /// Move the plain-text logins of Docker's config.json (or containers' auth.json) into
    /// the credential store, and rewrite the file without them, with "credsStore": "wasm".
    /// If any login cannot be stored, nothing changes
    #[command(
        after_help = "Examples:\n  docker-credential-wasm import --dry-run\n  docker-credential-wasm import\n  docker-credential-wasm import --containers"
    )]
    Import {
        /// Print what would move without storing or writing anything
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        client_file: ClientFile,
    },
    /// Print a .dockerconfigjson ({"auths": ...}) with credentials from the plugins for
    /// each registry: a Kubernetes image pull secret, or an authfile for skopeo and podman.
    /// Prints nothing and exits 1 if any registry gets no credentials.
    #[command(
        after_help = "Examples:\n  docker-credential-wasm docker-config 123456789012.dkr.ecr.us-east-1.amazonaws.com > config.json\n  kubectl create secret docker-registry ecr --from-file=.dockerconfigjson=config.json\n\nSee deploy/kubernetes/pull-secret-refresher/ for a CronJob that keeps such a secret fresh."
    )]
    DockerConfig {
        /// The registries
        #[arg(required = true)]
        registries: Vec<String>,
    },
    /// Why a registry gets the answer it gets: the config, its route and plugin, the
    /// plugin's grants (set or not, present or not), the cached answer, and a live call with
    /// everything the plugin and its requests logged (never a secret). Exits 1 if the
    /// registry gets no credentials.
    #[command(
        after_help = "Examples:\n  docker-credential-wasm doctor 123456789012.dkr.ecr.us-east-1.amazonaws.com\n  docker-credential-wasm doctor --json myreg.azurecr.io"
    )]
    Doctor {
        /// The registry, as a client names it
        registry: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// A plugin author's loop: run a .wasm file, pin its sha256 into the config
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell
    #[command(
        after_help = "Examples:\n  docker-credential-wasm completions bash > /usr/share/bash-completion/completions/docker-credential-wasm\n  docker-credential-wasm completions zsh > /usr/share/zsh/vendor-completions/_docker-credential-wasm\n  docker-credential-wasm completions fish > /usr/share/fish/vendor_completions.d/docker-credential-wasm.fish"
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff)
    #[command(after_help = "Example:\n  docker-credential-wasm man > /usr/share/man/man1/docker-credential-wasm.1")]
    Man,
    /// Act as a kubelet image credential provider: read a CredentialProviderRequest on
    /// stdin, write a CredentialProviderResponse on stdout. Also `get-credentials`, as the
    /// replaced providers call it; the default action under a provider's name.
    #[command(after_help = KUBELET_HELP)]
    Kubelet,
    /// One plugin's part of `list`, in a process of its own (run by `list`).
    #[command(hide = true)]
    ListPlugin {
        /// The plugin id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Run FILE's `get` for REGISTRY with the grants and settings given here (no config to
    /// write, no pin: the file as it is now) and print its answer as `get` does
    #[command(
        after_help = "Example:\n  docker-credential-wasm -v plugin run target/wasm32-wasip2/release/my_plugin.wasm registry.example.com \\\n    --setting username=me --env MY_TOKEN --network https://auth.example.com"
    )]
    Run {
        /// The plugin's .wasm file
        file: PathBuf,
        /// The registry to ask about
        registry: String,
        /// A setting, KEY=VALUE (repeatable)
        #[arg(long = "setting", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// A network grant (repeatable)
        #[arg(long, value_name = "GRANT")]
        network: Vec<String>,
        /// An environment variable to grant (repeatable)
        #[arg(long, value_name = "NAME")]
        env: Vec<String>,
        /// A file to grant (repeatable)
        #[arg(long = "file", value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// Write FILE's current sha256 (and its path, if the table has none) into
    /// `[plugins.ID]` of the config file, keeping the rest as written
    #[command(
        after_help = "Example:\n  docker-credential-wasm --config ~/.config/docker-credential-wasm/config.toml plugin pin mine target/wasm32-wasip2/release/my_plugin.wasm"
    )]
    Pin {
        /// The plugin id
        id: String,
        /// The plugin's .wasm file
        file: PathBuf,
    },
    /// Write MANIFEST (a manifest.toml: description, default grants, settings) into FILE as
    /// its embedded manifest, replacing any FILE has at its top level, for toolchains that
    /// cannot embed it themselves (Rust plugins embed it with
    /// `export_plugin!(P, manifest = "manifest.toml")`)
    #[command(after_help = "Example:
  docker-credential-wasm plugin embed-manifest python-plugin.wasm manifest.toml
  docker-credential-wasm plugin pin mine python-plugin.wasm")]
    EmbedManifest {
        /// The plugin's .wasm file (rewritten in place)
        file: PathBuf,
        /// The manifest.toml to embed
        manifest: PathBuf,
    },
}

const KUBELET_HELP: &str = "\
In the kubelet's CredentialProviderConfig:
  providers:
  - name: docker-credential-wasm
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    args: [kubelet]
    matchImages: [\"registry.example.com\"]
    defaultCacheDuration: 10m

Example:
  echo '{\"kind\":\"CredentialProviderRequest\",\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"image\":\"127.0.0.1:5000/app\"}' | docker-credential-wasm kubelet

Installed under a replaced provider's name (`ecr`, `ecr-credential-provider`,
`acr-credential-provider`, `auth-provider-gcp`, `gcp-credential-provider`), the matching
built-in plugin serves its cloud's registries (any other gets no credentials), and that
provider's arguments are accepted: `get-credentials`, `--v=N` (a log level), a provider
config file (not read).
Any other name ending in `credential-provider` needs no arguments.

See deploy/kubernetes/README.md.";

/// Which client's credential file a command works on.
#[derive(clap::Args, Debug)]
struct ClientFile {
    /// Containers' auth.json ($REGISTRY_AUTH_FILE, else
    /// $XDG_CONFIG_HOME/containers/auth.json) instead of Docker's config.json
    /// ($DOCKER_CONFIG/config.json, else ~/.docker/config.json)
    #[arg(long)]
    containers: bool,
    /// This file instead
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

/// Parses the command line and runs it.
pub fn run() -> anyhow::Result<ExitCode> {
    let (args, unused) = provider_args(std::env::args().collect());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.len() < 2 {
        writeln!(out, "{}", protocol::usage(NAME))?;
        return Ok(ExitCode::FAILURE);
    }
    let cli = match plain_action(&args).map_or_else(|| Cli::try_parse_from(&args), Ok) {
        Ok(cli) => cli,
        Err(error) => return parse_failure(&args, error, &mut out),
    };
    let run = match &cli.command {
        Command::Audit { json } => return audit(&cli, *json, &mut out),
        Command::Precompile => return precompile(&cli, &mut out),
        Command::ListPlugin { id } => return list_plugin(&cli, id, &mut out),
        Command::Completions { shell } => {
            out.write_all(completions(*shell).as_bytes())?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::DockerConfig { registries } => Run::DockerConfig(registries),
        Command::ConfigureDocker { registries, creds_store, overwrite, dry_run, client_file, helper } => {
            let request = crate::configure::Request {
                registries: registries.clone(),
                helper: helper.clone(),
                creds_store: *creds_store,
                overwrite: *overwrite,
                dry_run: *dry_run,
                containers: client_file.containers,
                file: client_file.file.clone(),
            };
            return crate::configure::run(&load_config(cli.config.as_deref())?, request, &mut out);
        }
        Command::Import { dry_run, client_file } => {
            let config = load_config(cli.config.as_deref())?;
            let file = client_file.file.clone();
            return crate::import::run(&config, client_file.containers, file, *dry_run, &mut out);
        }
        Command::Doctor { registry, json } => {
            let capture = logging::capture(Level::Debug);
            let config = load_config(cli.config.as_deref())?;
            return crate::doctor::run(&config, registry.as_deref(), capture, *json, &mut out);
        }
        Command::Plugin(PluginCommand::Run { file, registry, settings, network, env, files }) => {
            Run::Plugin(crate::plugin_dev::RunRequest {
                file: file.clone(),
                registry: registry.clone(),
                settings: settings.clone(),
                network: network.clone(),
                env: env.clone(),
                files: files.iter().map(|path| path.display().to_string()).collect(),
            })
        }
        Command::Plugin(PluginCommand::Pin { id, file }) => {
            let path = config::locate(cli.config.as_deref(), |name| std::env::var(name).ok())
                .context("there is no config file to pin into; name one with --config")?;
            return crate::plugin_dev::pin(&path, id, file, &mut out);
        }
        Command::Plugin(PluginCommand::EmbedManifest { file, manifest }) => {
            return crate::plugin_dev::embed_manifest(file, manifest, &mut out);
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            return Ok(ExitCode::SUCCESS);
        }
        // The kubelet's provider protocol.
        Command::Kubelet => Run::Kubelet,
        command => Run::Helper(command.action().expect("every other command is a protocol action")),
    };

    let level = cli.log_level.clone().or_else(|| match cli.verbose {
        0 => None,
        1 => Some("info".into()),
        2 => Some("debug".into()),
        _ => Some("trace".into()),
    });
    let log_file = init_logging(level, cli.log_file.clone())?;
    for arg in unused {
        logging::log(
            Level::Debug,
            format_args!("argument {arg:?} (a replaced kubelet provider's config file) is not read"),
        );
    }

    let config_with_logging = || load_config_with_logging(cli.config.as_deref(), log_file.as_deref());
    let (plugins, err) = (&mut WasmPlugins::answering_one_request(), &mut std::io::stderr());
    let code = match run {
        Run::Helper(action) => {
            let stdin = match action {
                Action::Store | Action::Get | Action::Erase => read_stdin()?,
                Action::List | Action::Version => Vec::new(),
            };
            actions::run(action, &stdin, &mut out, config_with_logging, plugins)?
        }
        Run::Kubelet => actions::kubelet(&read_stdin()?, &mut out, err, config_with_logging, plugins)?,
        Run::Plugin(request) => crate::plugin_dev::run(&config_with_logging()?, request, &mut out)?,
        Run::DockerConfig(registries) => {
            actions::docker_config(registries, &mut out, err, config_with_logging, plugins)?
        }
    };
    out.flush()?;
    Ok(code)
}

/// What runs after logging starts.
enum Run<'a> {
    /// A credential-helper action.
    Helper(Action),
    /// The kubelet's provider protocol.
    Kubelet,
    DockerConfig(&'a [String]),
    /// A plugin author's run.
    Plugin(crate::plugin_dev::RunRequest),
}

/// The command line as Docker and the kubelet give it (one action, no options), without
/// building clap's parser: every cache hit starts here, and building the parser is work a
/// hit does not need.
fn plain_action(args: &[String]) -> Option<Cli> {
    let [_, action] = args else { return None };
    let command = match Action::parse(action) {
        // `version` goes through clap, which prints it.
        Some(Action::Version) => return None,
        Some(action) => Command::of(action),
        None if action == KUBELET => Command::Kubelet,
        None => return None,
    };
    Some(Cli { config: None, verbose: 0, log_level: None, log_file: None, command })
}

/// The kubelet action's name.
const KUBELET: &str = "kubelet";

impl Command {
    /// The command of a protocol action.
    fn of(action: Action) -> Command {
        match action {
            Action::Store => Command::Store,
            Action::Get => Command::Get,
            Action::Erase => Command::Erase,
            Action::List => Command::List,
            Action::Version => Command::Version,
        }
    }

    /// The protocol action of this command, if it is one.
    fn action(&self) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|action| std::mem::discriminant(&Command::of(*action)) == std::mem::discriminant(self))
    }
}

/// The command line, in this program's terms when the kubelet runs it (see
/// [`invocation::provider_args`]), with the arguments it accepts and does not use.
fn provider_args(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    // Only a provider's command line needs clap's parser built (every miss starts here).
    let actions = || {
        let command = Cli::command();
        let names = command.get_subcommands().map(|c| c.get_name());
        names.chain(["help", "-h", "--help", "-V", "--version"]).map(str::to_string).collect()
    };
    match invocation::provider_args(&args, actions) {
        Some(provider) => (provider.args, provider.unused),
        None => (args, Vec::new()),
    }
}

/// The completion script for `shell`. (Into a buffer: the generator panics on a write
/// error, such as a closed pipe.) Bash's lists the hidden command among the suggestions
/// unless it is taken out.
fn completions(shell: clap_complete::Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), NAME, &mut script);
    String::from_utf8_lossy(&script).replace(" list-plugin", "")
}

/// One plugin's part of `list`, for the `list` that started this process.
fn list_plugin(cli: &Cli, id: &str, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let log_file = init_logging(None, None)?;
    let config = load_config_with_logging(cli.config.as_deref(), log_file.as_deref())?;
    plugins::list_here(&config, id, out)
}

fn audit(cli: &Cli, json: bool, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    crate::audit::print(&load_config(cli.config.as_deref())?, json, out)
}

fn precompile(cli: &Cli, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    plugins::precompile(&load_config(cli.config.as_deref())?, out)
}

/// Answers a command line clap rejected the way the reference helpers do: usage or
/// "unknown action" on stdout with exit code 1; help and version on stdout with 0.
fn parse_failure(args: &[String], error: clap::Error, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    use clap::error::{ContextKind, ErrorKind};
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            write!(out, "{}", error.render())?;
            Ok(ExitCode::SUCCESS)
        }
        ErrorKind::InvalidSubcommand => {
            let action = error.get(ContextKind::InvalidSubcommand).map(ToString::to_string).unwrap_or_default();
            writeln!(out, "{}", protocol::unknown_action(NAME, &action))?;
            Ok(ExitCode::FAILURE)
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            writeln!(out, "{}", protocol::usage(NAME))?;
            Ok(ExitCode::FAILURE)
        }
        _ if args.iter().skip(1).any(|arg| Action::parse(arg).is_some()) => {
            // An action with extra arguments: the reference helper prints its usage.
            writeln!(out, "{}", protocol::usage(NAME))?;
            Ok(ExitCode::FAILURE)
        }
        _ => {
            eprint!("{}", error.render());
            Ok(ExitCode::from(2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The protocol's names are the command line's: clap's and the quick path's.
    #[test]
    fn every_protocol_action_is_a_command_of_the_same_name() {
        for action in Action::ALL {
            let cli = Cli::try_parse_from([NAME, action.name()]).unwrap();
            assert_eq!(cli.command.action(), Some(action), "{}", action.name());
            let quick = plain_action(&[NAME.to_string(), action.name().to_string()]);
            assert_eq!(quick.map(|cli| cli.command.action()), (action != Action::Version).then_some(Some(action)));
        }
        assert!(matches!(Cli::try_parse_from([NAME, KUBELET]).unwrap().command, Command::Kubelet));
        assert_eq!(Command::Kubelet.action(), None);
    }

    /// Completions and the man page come from the same definitions as the parser: every
    /// visible command is in them, the hidden one is not.
    #[test]
    fn completions_and_the_man_page_name_every_visible_command() {
        let visible: Vec<String> = Cli::command()
            .get_subcommands()
            .filter(|command| !command.is_hide_set())
            .map(|command| command.get_name().to_string())
            .collect();
        assert!(visible.len() >= 10, "{visible:?}");
        let mut man = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut man).unwrap();
        let man = String::from_utf8(man).unwrap();
        assert!(man.contains(".TH docker-credential-wasm 1"), "{man}");
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
            let script = completions(shell);
            for command in &visible {
                assert!(script.contains(command.as_str()), "{shell}: {command}");
                assert!(man.contains(&command.replace('-', "\\-")), "man: {command}");
            }
            assert!(!script.contains(" list-plugin"), "{shell} suggests the hidden command");
        }
        assert!(!man.contains("list\\-plugin"));
    }
}
