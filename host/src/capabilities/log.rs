//! The log capability: a plugin's diagnostics, and its captured stdout and stderr, go to the
//! host's log (stderr or a log file), prefixed with the plugin id and sanitised; never to
//! the protocol's stdout.

use crate::logging::{self, Level as HostLevel};
use crate::runtime::bindings::docker_credential_wasm::plugin::log::{Host, Level, add_to_linker};
use wasmtime::component::{HasData, Linker};

/// Longest plugin log message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// The log of one plugin instance.
#[derive(Debug)]
pub struct PluginLog {
    pub plugin: String,
}

impl PluginLog {
    /// Logs text the plugin wrote to `stream` (stdout or stderr), one record per line.
    pub fn captured(&self, stream: &str, bytes: &[u8]) {
        for line in String::from_utf8_lossy(bytes).lines().filter(|l| !l.trim().is_empty()) {
            logging::log(
                HostLevel::Debug,
                format_args!("plugin {}: {stream}: {}", self.plugin, super::sanitize(line, MAX_MESSAGE_CHARS)),
            );
        }
    }
}

impl Host for PluginLog {
    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Error => HostLevel::Error,
            Level::Warn => HostLevel::Warn,
            Level::Info => HostLevel::Info,
            Level::Debug => HostLevel::Debug,
            Level::Trace => HostLevel::Trace,
        };
        logging::log(level, format_args!("plugin {}: {}", self.plugin, super::sanitize(&message, MAX_MESSAGE_CHARS)));
    }
}

struct LogData;
impl HasData for LogData {
    type Data<'a> = &'a mut PluginLog;
}

/// Links `docker-credential-wasm:plugin/log`, served from `get(state)`.
pub fn link<T: 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut PluginLog) -> wasmtime::Result<()> {
    add_to_linker::<T, LogData>(linker, get)
}
