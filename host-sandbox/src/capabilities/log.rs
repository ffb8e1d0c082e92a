//! The log capability: a plugin's diagnostics, its captured stdout and stderr, and the host's
//! own lines about what the plugin asked for (each refused or sent request) go to the host's
//! log (stderr or a log file), prefixed with the plugin id and sanitised; never to the
//! protocol's stdout.
//!
//! A plugin cannot flood the log: what it makes the host write in one call is held to a
//! budget of [`MAX_RECORDS`] records and [`MAX_BYTES`] bytes; past it records are dropped and
//! counted, and one line at the end of the call says how many. Nor can it raise its voice:
//! its records are logged at its own level but never above info, so the default `warn` log
//! holds nothing a plugin chose to say (an `error` or `warn` record is logged at info,
//! marked `[error]` or `[warn]`).

use super::CallSetup;
use crate::bindings::docker_credential_wasm::plugin::log::{Host, Level, add_to_linker};
use host_core::logging::{self, Level as HostLevel};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use wasmtime::component::{HasData, Linker};

/// Longest plugin log message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;
/// Most log records a plugin can cause in one call.
pub const MAX_RECORDS: u64 = 1000;
/// Most bytes of log a plugin can cause in one call.
pub const MAX_BYTES: u64 = 256 * 1024;
/// What a record adds to its message: the timestamp (in a log file), program, process id,
/// level and `plugin` prefix.
const RECORD_OVERHEAD: usize = 72;

/// The log of one plugin call, shared by everything that logs on the plugin's behalf.
#[derive(Debug)]
pub struct PluginLog {
    plugin: String,
    records: AtomicU64,
    bytes: AtomicU64,
    dropped_records: AtomicU64,
    dropped_bytes: AtomicU64,
    /// The most severe level among the dropped records (0: none dropped).
    dropped_level: AtomicU8,
}

impl PluginLog {
    pub fn new(plugin: &str) -> PluginLog {
        PluginLog {
            plugin: plugin.to_string(),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped_records: AtomicU64::new(0),
            dropped_bytes: AtomicU64::new(0),
            dropped_level: AtomicU8::new(0),
        }
    }

    /// Writes `plugin <id><tag>: <message>` at `level` if the log takes that level and the
    /// call's budget allows it; counts it as dropped otherwise. Records the log would not
    /// write cost nothing, and a dropped record is never formatted. `size` is what the
    /// message will take, about (for the budget).
    pub fn record_sized(&self, level: HostLevel, tag: &str, size: usize, message: impl FnOnce() -> String) {
        if logging::enabled(level) && self.admit(level, (size + self.plugin.len() + tag.len() + RECORD_OVERHEAD) as u64)
        {
            logging::log(level, format_args!("plugin {}{tag}: {}", self.plugin, message()));
        }
    }

    /// [`PluginLog::record_sized`] for a message formatted by the host.
    pub fn record(&self, level: HostLevel, tag: &str, message: fmt::Arguments<'_>) {
        if logging::enabled(level) {
            let text = message.to_string();
            self.record_sized(level, tag, text.len(), || text);
        }
    }

    /// Spends one record of `size` bytes from the budget; `false` (and counted as dropped)
    /// when the budget does not cover it.
    fn admit(&self, level: HostLevel, size: u64) -> bool {
        let records = self.records.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self.bytes.fetch_add(size, Ordering::Relaxed) + size;
        if records <= MAX_RECORDS && bytes <= MAX_BYTES {
            return true;
        }
        self.dropped_records.fetch_add(1, Ordering::Relaxed);
        self.dropped_bytes.fetch_add(size, Ordering::Relaxed);
        // Lower numbers are more severe; keep the most severe.
        let level = level as u8;
        let _ = self
            .dropped_level
            .try_update(Ordering::Relaxed, Ordering::Relaxed, |seen| (seen == 0 || level < seen).then_some(level));
        false
    }

    /// Logs text the plugin wrote to `stream` (stdout or stderr), one record per line.
    pub fn captured(&self, stream: &str, bytes: &[u8]) {
        if !logging::enabled(HostLevel::Debug) {
            return;
        }
        for line in String::from_utf8_lossy(bytes).lines().filter(|l| !l.trim().is_empty()) {
            self.record_sized(HostLevel::Debug, "", stream.len() + 2 + line.len(), || {
                format!("{stream}: {}", logging::sanitize(line, MAX_MESSAGE_CHARS))
            });
        }
    }

    /// At the end of the call: one line saying how much was dropped, if anything was, at the
    /// level of the most severe dropped record.
    pub fn report_dropped(&self) {
        let dropped = self.dropped_records.load(Ordering::Relaxed);
        let level = match self.dropped_level.load(Ordering::Relaxed) {
            1 => HostLevel::Error,
            2 => HostLevel::Warn,
            3 => HostLevel::Info,
            4 => HostLevel::Debug,
            _ => HostLevel::Trace,
        };
        if dropped > 0 {
            logging::log(
                level,
                format_args!(
                    "plugin {}: {dropped} log records ({} bytes) dropped: over the budget of {MAX_RECORDS} records and {MAX_BYTES} bytes a plugin call may write",
                    self.plugin,
                    self.dropped_bytes.load(Ordering::Relaxed)
                ),
            );
        }
    }
}

/// The host level of a plugin record, and the tag that keeps the plugin's own level visible
/// when it is capped.
fn capped(level: Level) -> (HostLevel, &'static str) {
    match level {
        Level::Error => (HostLevel::Info, " [error]"),
        Level::Warn => (HostLevel::Info, " [warn]"),
        Level::Info => (HostLevel::Info, ""),
        Level::Debug => (HostLevel::Debug, ""),
        Level::Trace => (HostLevel::Trace, ""),
    }
}

/// The interfaces this capability serves.
pub const INTERFACES: &[&str] = &["docker-credential-wasm:plugin/log"];

/// The capability's state in a call: the call's log, which egress writes to as well.
pub struct Log(pub Arc<PluginLog>);

impl Log {
    pub fn for_call(call: &CallSetup<'_>) -> Log {
        Log(call.log.clone())
    }
}

impl Host for Log {
    fn log(&mut self, level: Level, message: String) {
        let (level, tag) = capped(level);
        self.0.record_sized(level, tag, message.len().min(4 * MAX_MESSAGE_CHARS), || {
            logging::sanitize(&message, MAX_MESSAGE_CHARS)
        });
    }
}

struct LogData;
impl HasData for LogData {
    type Data<'a> = &'a mut Log;
}

/// Links `docker-credential-wasm:plugin/log`, served from `get(state)`.
pub fn link<T: 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut Log) -> wasmtime::Result<()> {
    add_to_linker::<T, LogData>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_levels_are_capped_at_info_and_keep_their_name() {
        assert_eq!(capped(Level::Error), (HostLevel::Info, " [error]"));
        assert_eq!(capped(Level::Warn), (HostLevel::Info, " [warn]"));
        assert_eq!(capped(Level::Info), (HostLevel::Info, ""));
        assert_eq!(capped(Level::Debug), (HostLevel::Debug, ""));
        assert_eq!(capped(Level::Trace), (HostLevel::Trace, ""));
    }

    #[test]
    fn the_budget_admits_records_and_bytes_up_to_the_limits_then_counts_what_it_drops() {
        let log = PluginLog::new("p");
        for _ in 0..MAX_RECORDS {
            assert!(log.admit(HostLevel::Debug, 10));
        }
        assert!(!log.admit(HostLevel::Debug, 10));
        assert!(!log.admit(HostLevel::Warn, 10));
        assert!(!log.admit(HostLevel::Info, 10));
        assert_eq!(log.dropped_records.load(Ordering::Relaxed), 3);
        assert_eq!(log.dropped_bytes.load(Ordering::Relaxed), 30);
        assert_eq!(log.dropped_level.load(Ordering::Relaxed), HostLevel::Warn as u8);

        let bytes = PluginLog::new("p");
        assert!(bytes.admit(HostLevel::Info, MAX_BYTES - 1));
        assert!(bytes.admit(HostLevel::Info, 1));
        assert!(!bytes.admit(HostLevel::Info, 1));
    }
}
