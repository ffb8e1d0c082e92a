//! The host's diagnostic log: stderr or a file, off unless asked, never stdout (which
//! belongs to the wire protocol). Every record is exactly one line: whatever a caller
//! passes, characters that could end a line, rewrite the terminal or reorder what a reader
//! sees (control, line and paragraph separators, bidirectional formatting) are escaped here.

use std::fmt;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// Environment variable with the log level (off, error, warn, info, debug, trace).
pub const LOG_ENV: &str = "DOCKER_CREDENTIAL_WASM_LOG";
/// Environment variable with a log file path (instead of stderr).
pub const LOG_FILE_ENV: &str = "DOCKER_CREDENTIAL_WASM_LOG_FILE";
/// Longest text from a plugin (an error message, a name it made up) put in a line for a
/// client or the log.
pub const MAX_PLUGIN_TEXT_CHARS: usize = 512;

/// Severity, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    /// Parses a level name; `off` is `Ok(None)`.
    pub fn parse(name: &str) -> Result<Option<Level>, String> {
        match name {
            "off" => Ok(None),
            "error" => Ok(Some(Level::Error)),
            "warn" => Ok(Some(Level::Warn)),
            "info" => Ok(Some(Level::Info)),
            "debug" => Ok(Some(Level::Debug)),
            "trace" => Ok(Some(Level::Trace)),
            other => Err(format!("invalid log level {other:?}; expected off, error, warn, info, debug or trace")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }
}

struct Logger {
    max: Level,
    sink: Mutex<Box<dyn Write + Send>>,
    timestamps: bool,
    file: Option<std::path::PathBuf>,
}

/// The logger, once chosen; `None` inside when logging is off.
static LOGGER: OnceLock<Option<Logger>> = OnceLock::new();

/// Starts logging records up to `max` (`None`: nothing) to `file` (appended) or, without
/// one, to stderr. Only the first call has an effect, so the command line and environment,
/// read first, win over the config file.
pub fn init(max: Option<Level>, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    use anyhow::Context;
    if LOGGER.get().is_some() {
        return Ok(());
    }
    let Some(max) = max else {
        let _ = LOGGER.set(None);
        return Ok(());
    };
    let (sink, timestamps): (Box<dyn Write + Send>, bool) = match file {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            // Private (the log names registries, identities and endpoints), and never
            // through a link someone else planted at the log's path.
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(path)
                .with_context(|| {
                    format!("cannot open the log file {} (a symbolic link is not followed)", path.display())
                })?;
            (Box::new(file), true)
        }
        None => (Box::new(std::io::stderr()), false),
    };
    let _ = LOGGER.set(Some(Logger { max, sink: Mutex::new(sink), timestamps, file: file.map(Into::into) }));
    Ok(())
}

/// Starts logging records up to `max` into memory instead (for a command that reports what
/// happened, as `doctor` does); the lines written so far are [`Capture::lines`]. Only if no
/// logging was started before.
pub fn capture(max: Level) -> Option<Capture> {
    let buffer = Capture(std::sync::Arc::default());
    let sink: Box<dyn Write + Send> = Box::new(buffer.clone());
    let logger = Logger { max, sink: Mutex::new(sink), timestamps: false, file: None };
    LOGGER.set(Some(logger)).ok().map(|()| buffer)
}

/// Log lines kept in memory.
#[derive(Clone, Default)]
pub struct Capture(std::sync::Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Every line so far, without the program's name and process id.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| line.split_once("] ").map_or(line, |(_, rest)| rest).to_string())
            .collect()
    }
}

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The environment a child process of this program needs to log as this one does: the
/// level (`off` when logging is off) and the log file, if any.
pub fn child_env() -> Vec<(&'static str, String)> {
    match LOGGER.get() {
        None => Vec::new(),
        Some(None) => vec![(LOG_ENV, "off".to_string())],
        Some(Some(logger)) => {
            let mut env = vec![(LOG_ENV, logger.max.name().to_ascii_lowercase())];
            if let Some(file) = &logger.file {
                env.push((LOG_FILE_ENV, file.display().to_string()));
            }
            env
        }
    }
}

/// Whether a record at `level` would be written.
pub fn enabled(level: Level) -> bool {
    LOGGER.get().and_then(Option::as_ref).is_some_and(|logger| level <= logger.max)
}

/// Writes one record.
pub fn log(level: Level, message: fmt::Arguments<'_>) {
    let Some(logger) = LOGGER.get().and_then(Option::as_ref).filter(|logger| level <= logger.max) else {
        return;
    };
    let mut line = String::new();
    if logger.timestamps {
        line.push_str(&utc_timestamp(std::time::SystemTime::now()));
        line.push(' ');
    }
    use std::fmt::Write as _;
    let message = message.to_string();
    let _ = write!(line, "docker-credential-wasm[{}] {}: ", std::process::id(), level.name());
    escape_into(&mut line, &message, usize::MAX);
    line.push('\n');
    if let Ok(mut sink) = logger.sink.lock() {
        let _ = sink.write_all(line.as_bytes());
        let _ = sink.flush();
    }
}

/// Whether `c` must be escaped in a log or protocol line: control characters (C0, DEL and
/// C1, which holds the 8-bit CSI U+009B), the Unicode line and paragraph separators, and the
/// invisible formatting characters that reorder or hide text (bidirectional marks,
/// embeddings, overrides and isolates, zero-width characters, the byte order mark).
pub fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// Appends `text` to `out` with [`must_escape`] characters escaped (`\n`, `\u{202e}`),
/// cut at `max_chars` characters (marked with `…`).
fn escape_into(out: &mut String, text: &str, max_chars: usize) {
    for (i, c) in text.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        if must_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

/// Makes untrusted text (plugin messages, request targets, file names) safe for one log or
/// protocol line: [`must_escape`] characters are escaped and the text is cut at `max_chars`.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars));
    escape_into(&mut out, text, max_chars);
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` for `time`.
fn utc_timestamp(time: std::time::SystemTime) -> String {
    let secs = time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(UNIX_EPOCH + Duration::from_secs(1_796_003_661)), "2026-11-30T01:54:21Z");
    }

    #[test]
    fn sanitize_escapes_everything_that_could_forge_or_hide_a_line() {
        assert_eq!(sanitize("a\nb\u{1b}[2Jc\r", 100), "a\\nb\\u{1b}[2Jc\\r");
        assert_eq!(sanitize("abcdef", 3), "abc…");
        assert_eq!(sanitize("ünï", 3), "ünï");
        // C1 (8-bit CSI and NEL), line and paragraph separators, bidi overrides and isolates.
        assert_eq!(sanitize("x\u{9b}31m\u{85}y", 100), "x\\u{9b}31m\\u{85}y");
        assert_eq!(sanitize("one\u{2028}two\u{2029}", 100), "one\\u{2028}two\\u{2029}");
        assert_eq!(
            sanitize("\u{202e}gpj.exe\u{2066}\u{200f}\u{feff}", 100),
            "\\u{202e}gpj.exe\\u{2066}\\u{200f}\\u{feff}"
        );
        assert_eq!(sanitize("café 東京 🙂 back\\slash", 100), "café 東京 🙂 back\\slash");
    }

    #[test]
    fn level_names() {
        assert_eq!(Level::parse("off"), Ok(None));
        assert_eq!(Level::parse("debug"), Ok(Some(Level::Debug)));
        assert!(Level::parse("loud").unwrap_err().contains("\"loud\""));
    }
}
