//! What both programs do before an action: logging as the command line or the environment
//! chooses it, the request on stdin, and the config (whose `[log]` table may start logging).

use crate::config::{self, Config};
use crate::invocation;
use crate::logging::{self, LOG_ENV, LOG_FILE_ENV, Level};
use anyhow::Context;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest request accepted on stdin.
const MAX_STDIN_BYTES: u64 = 1024 * 1024;

/// Starts the logging the command line (`level`, `log_file`) or else the environment
/// chooses, if either chooses a level; returns the log file chosen, for the config's logging.
pub fn init_logging(level: Option<String>, log_file: Option<PathBuf>) -> anyhow::Result<Option<PathBuf>> {
    let level = level.or_else(|| std::env::var(LOG_ENV).ok().filter(|v| !v.is_empty()));
    let log_file = log_file.or_else(|| std::env::var_os(LOG_FILE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from));
    if let Some(level) = &level {
        logging::init(Level::parse(level).map_err(anyhow::Error::msg).context(LOG_ENV)?, log_file.as_deref())?;
    }
    Ok(log_file)
}

/// The config (see [`load_config`]), whose `[log]` table then starts logging unless the
/// command line or the environment chose it already.
pub fn load_config_with_logging(flag: Option<&Path>, log_file: Option<&Path>) -> anyhow::Result<Config> {
    let (config, drop_in) = load(flag)?;
    let level = Level::parse(config.log.level.as_deref().unwrap_or("warn")).map_err(anyhow::Error::msg)?;
    logging::init(level, log_file.or(config.log.file.as_deref()))?;
    logging::log(Level::Debug, format_args!("config: {}", config.origin));
    for line in drop_in {
        logging::log(Level::Debug, format_args!("{line}"));
    }
    Ok(config)
}

/// The config file `--config` (`flag`), the environment or the standard places name, or
/// the default; as a drop-in serves it when this program runs under another's name.
pub fn load_config(flag: Option<&Path>) -> anyhow::Result<Config> {
    Ok(load(flag)?.0)
}

/// [`load_config`], and lines for the log saying what the drop-in did.
fn load(flag: Option<&Path>) -> anyhow::Result<(Config, Vec<String>)> {
    let path = config::locate(flag, |name| std::env::var(name).ok());
    let mut config = config::load(path.as_deref())?;
    let program = std::env::args_os().next().map(|arg0| arg0.to_string_lossy().into_owned()).unwrap_or_default();
    let mut lines = Vec::new();
    if let Some(drop_in) = invocation::drop_in(invocation::program_name(&program)) {
        lines.push(format!("running as {}: the {} plugin serves its registries", drop_in.name, drop_in.plugin));
        lines.extend(drop_in.apply(&mut config, |name| std::env::var(name).ok()));
    }
    Ok((config, lines))
}

/// The request on stdin, at most [`MAX_STDIN_BYTES`].
pub fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut input = Vec::new();
    std::io::stdin().take(MAX_STDIN_BYTES + 1).read_to_end(&mut input).context("cannot read stdin")?;
    anyhow::ensure!(
        input.len() as u64 <= MAX_STDIN_BYTES,
        "the request on stdin is larger than {MAX_STDIN_BYTES} bytes"
    );
    Ok(input)
}
