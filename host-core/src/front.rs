//! The front: the program clients run. It answers a plain `get` whose answer needs no
//! plugin (a fresh cache entry, a bad request, an unrouted registry) by itself, and hands
//! every other command line, and every `get` a plugin must answer, to the engine binary
//! installed next to it. A cache hit therefore never even maps the WebAssembly engine.

use crate::NAME;
use crate::actions::{self, WithoutEngine};
use crate::cache::{self, credentials::CredentialCache};
use crate::logging::{self, Level};
use crate::protocol::Action;
use crate::startup;
use anyhow::Context;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

/// The engine's file name; it is installed in the same directory as the front.
pub const ENGINE_NAME: &str = "docker-credential-wasm-engine";

/// The front's `main`.
pub fn main() -> ExitCode {
    crate::report(run())
}

/// Answers from the cache, or runs the engine in this process's place.
fn run() -> anyhow::Result<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().collect();
    // Exactly what Docker, Podman and Skopeo run on every pull; anything else is the engine's.
    if !matches!(args.as_slice(), [_, action] if *action == Action::Get.name()) {
        return exec_engine(&args, None);
    }
    let log_file = startup::init_logging(None, None)?;
    let stdin = startup::read_stdin()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let answer = actions::get_without_engine(
        &stdin,
        &mut out,
        || startup::load_config_with_logging(None, log_file.as_deref()),
        |config| cache::open_for(config).map(CredentialCache::new),
    )?;
    match answer {
        WithoutEngine::Answered(code) => {
            out.flush()?;
            Ok(code)
        }
        WithoutEngine::NeedsEngine => {
            logging::log(Level::Debug, format_args!("no fresh answer in the cache; running {ENGINE_NAME}"));
            exec_engine(&args, Some(&stdin))
        }
    }
}

/// Replaces this process with the engine, given the same arguments (and program name, which
/// decides the kubelet mode) and, when the front read stdin already, those bytes as stdin.
/// Returns only if the engine cannot be run.
fn exec_engine(args: &[OsString], stdin: Option<&[u8]>) -> anyhow::Result<ExitCode> {
    let engine = engine_path()?;
    let mut command = std::process::Command::new(&engine);
    command.args(args.iter().skip(1));
    if let Some(arg0) = args.first() {
        command.arg0(arg0);
    }
    if let Some(bytes) = stdin {
        command.stdin(replay(bytes).context("cannot pass the request on to the engine")?);
    }
    let error = command.exec();
    Err(error).with_context(|| {
        format!(
            "cannot run the plugin engine {}; install {ENGINE_NAME} in the same directory as {NAME}",
            engine.display()
        )
    })
}

/// The engine next to this program (symbolic links resolved, so a link named for the
/// kubelet still finds it).
fn engine_path() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the path of this program")?;
    Ok(exe.with_file_name(ENGINE_NAME))
}

/// A pipe holding `bytes`, write end closed: stdin for the engine. The pipe is grown first
/// when `bytes` might not fit, since nothing reads it until the engine runs.
fn replay(bytes: &[u8]) -> std::io::Result<std::io::PipeReader> {
    /// What every pipe holds, even one made when the user's pipe quota is spent.
    const PAGE: usize = 4096;
    let (reader, mut writer) = std::io::pipe()?;
    if bytes.len() > PAGE {
        rustix::pipe::fcntl_setpipe_size(&writer, bytes.len())?;
    }
    writer.write_all(bytes)?;
    Ok(reader)
}
