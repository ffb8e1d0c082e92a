//! `configure-docker`: sends registries to this helper in Docker's `config.json` or
//! containers' `auth.json`, written atomically (a temp file beside it, then a rename), with
//! the file's mode kept; a file that cannot be edited is left exactly as it was.

use anyhow::{Context, bail};
use host_core::config::Config;
use host_core::docker_config::{self, Client, Edit};
use host_core::registry::Registry;
use host_core::{actions, home, invocation};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What the command line asked for.
pub struct Request {
    pub registries: Vec<String>,
    pub helper: String,
    pub creds_store: bool,
    pub overwrite: bool,
    pub dry_run: bool,
    pub containers: bool,
    pub file: Option<PathBuf>,
}

pub fn run(config: &Config, request: Request, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let helpers: Vec<&str> = std::iter::once("wasm")
        .chain(invocation::DROP_INS.iter().filter_map(|drop_in| drop_in.name.strip_prefix("docker-credential-")))
        .collect();
    if !helpers.contains(&request.helper.as_str()) {
        bail!("unknown helper name {:?}: this program answers as {}", request.helper, helpers.join(", "));
    }
    let client = if request.containers { Client::Containers } else { Client::Docker };
    let path = match &request.file {
        Some(path) => path.clone(),
        None => default_file(client)?,
    };
    let registries = if request.creds_store { Vec::new() } else { registries(config, &request.registries, out)? };
    let edit =
        Edit { helper: request.helper, registries, creds_store: request.creds_store, overwrite: request.overwrite };
    // A link (dotfiles kept elsewhere) is edited where it points.
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let (new, changes) = docker_config::edit(text.as_deref(), client, &edit)
        .map_err(|why| anyhow::anyhow!("{} is left as it is: {why}", path.display()))?;
    let verb = if request.dry_run { "would change" } else { "changed" };
    match &new {
        Some(_) => writeln!(out, "{} {verb}:", path.display())?,
        None => writeln!(out, "{}: nothing to change", path.display())?,
    }
    for change in &changes {
        writeln!(out, "  {change}")?;
    }
    if let Some(new) = new
        && !request.dry_run
    {
        write_atomically(&path, &new)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The registries given (each parsed, none twice), else every host the config routes by an
/// exact pattern (wildcard routes have no `credHelpers` form: they are named in a note).
fn registries(config: &Config, given: &[String], out: &mut impl Write) -> anyhow::Result<Vec<Registry>> {
    let mut registries: Vec<Registry> = Vec::new();
    for name in given {
        let registry = Registry::parse(name).map_err(|e| anyhow::anyhow!("{e}"))?;
        if registries.contains(&registry) {
            bail!("the registry {registry} is given twice");
        }
        registries.push(registry);
    }
    if !given.is_empty() {
        return Ok(registries);
    }
    let exact: Vec<String> = actions::exact_routes(config).into_values().flatten().collect();
    let wildcards: Vec<String> = config
        .router
        .routes()
        .iter()
        .filter(|route| !route.pattern.is_exact())
        .map(|route| route.pattern.to_string())
        .collect();
    if !wildcards.is_empty() {
        writeln!(
            out,
            "note: routes with `*` ({}) have no credHelpers form; name their hosts (configure-docker HOST...) or use --creds-store",
            wildcards.join(", ")
        )?;
    }
    if exact.is_empty() {
        bail!(
            "{} routes no exact host; name the registries (configure-docker HOST...) or use --creds-store",
            config.origin
        );
    }
    exact.iter().map(|name| Registry::parse(name).map_err(|e| anyhow::anyhow!("{e}"))).collect()
}

/// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`; for containers,
/// `$REGISTRY_AUTH_FILE` or `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`.
pub fn default_file(client: Client) -> anyhow::Result<PathBuf> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = || home::home_dir().context("there is no home directory; name the file with --file");
    Ok(match client {
        Client::Docker => {
            env("DOCKER_CONFIG").map_or_else(|| home().map(|h| h.join(".docker")), Ok)?.join("config.json")
        }
        Client::Containers => match env("REGISTRY_AUTH_FILE") {
            Some(file) => file,
            None => env("XDG_CONFIG_HOME")
                .map_or_else(|| home().map(|h| h.join(".config")), Ok)?
                .join("containers/auth.json"),
        },
    })
}

/// Writes `text` to `path` through a temp file in the same directory and a rename, with the
/// mode of the file it replaces (0600 for a new one); refuses a read-only file.
pub fn write_atomically(path: &Path, text: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let mode = match std::fs::metadata(path) {
        Ok(metadata) if metadata.permissions().mode() & 0o200 == 0 => {
            bail!("{} is read-only; it is left as it is", path.display())
        }
        Ok(metadata) => metadata.permissions().mode() & 0o7777,
        Err(_) => 0o600,
    };
    let dir = path.parent().context("the file has no directory")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let temp =
        dir.join(format!(".{}.{}.tmp", path.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&temp)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(text.as_ref())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e).with_context(|| format!("cannot write {}; it is left as it is", path.display()));
    }
    Ok(())
}
