//! The files capability: a plugin reads whole files that its grant names, read-only and by
//! name. There is no directory listing, no write, and `wasi:filesystem` has no preopens.
//! A grant may end in a pattern (`/var/opt/azcmagent/tokens/*.key`) for files whose names
//! the plugin learns at run time; it still names no directory to list.
//!
//! Only regular files are read: a FIFO, a device or a socket at a granted path is refused
//! (opened without blocking, checked on the opened handle). Symbolic links are followed,
//! because Kubernetes projects service-account tokens as links (`token -> ..data/token`).
//! Reads run on a thread of their own, so a file on a hung network mount costs the plugin
//! its deadline, not the process its life: one thread per call, started with the call when
//! it grants any file, on the CPU the call runs on.

use super::CallSetup;
use crate::bindings::docker_credential_wasm::plugin::files::{FileError, Host, add_to_linker};
use host_core::grants::FileGrant;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;
use wasmtime::component::{HasData, Linker};

/// The interfaces this capability serves.
pub const INTERFACES: &[&str] = &["docker-credential-wasm:plugin/files"];

/// Largest granted file a plugin may read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The files granted to one plugin instance.
#[derive(Debug)]
pub struct FileGrants {
    /// Each grant as written in config or manifest, and the path it names (none for a `~/`
    /// grant when the user has no home directory: never a path relative to the current one).
    grants: Vec<(String, Option<PathBuf>)>,
    /// When the plugin's call must be over: no read waits past it.
    deadline: Instant,
    /// Reads still running: only ever one that outlived the deadline, and then no other
    /// read is started.
    reading: Arc<AtomicUsize>,
    /// The call's reading thread (or why it could not start): it runs each read sent here,
    /// one at a time, and ends when these grants are dropped and its last read returns.
    reader: Result<mpsc::Sender<ReadJob>, String>,
}

/// One read for the reading thread.
type ReadJob = Box<dyn FnOnce() + Send>;

/// Starts a reading thread on the CPU this thread runs on (it inherits this thread's
/// affinity, narrowed to that CPU while it is created): the call waits for each read, so the
/// two never run at once, and handing a read over within one CPU is a switch of threads,
/// where waking an idle CPU costs tens of microseconds on a virtual machine.
fn start_reader() -> Result<mpsc::Sender<ReadJob>, String> {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
    let (sender, reads) = mpsc::channel::<ReadJob>();
    let affinity = sched_getaffinity(None).ok();
    if affinity.is_some() {
        let mut here = CpuSet::new();
        here.set(sched_getcpu());
        let _ = sched_setaffinity(None, &here);
    }
    let started = std::thread::Builder::new()
        .name("granted-file".into())
        .spawn(move || reads.into_iter().for_each(|read| read()));
    if let Some(affinity) = affinity {
        let _ = sched_setaffinity(None, &affinity);
    }
    started.map_err(|e| e.to_string())?;
    Ok(sender)
}

impl FileGrants {
    /// The call's file grants.
    pub fn for_call(call: &CallSetup<'_>) -> FileGrants {
        FileGrants::new(&call.grants.files.items(), call.deadline)
    }

    /// Grants the files `grants` name, read only until `deadline`.
    pub fn new(grants: &[FileGrant], deadline: Instant) -> FileGrants {
        let grants: Vec<_> = grants.iter().map(|grant| (grant.written.clone(), grant.path.clone())).collect();
        let reader = if grants.is_empty() { Err("no file is granted".into()) } else { start_reader() };
        FileGrants { grants, deadline, reading: Arc::default(), reader }
    }

    /// The path of the granted file `name`: a grant written as `name` or expanding to it, or
    /// a grant whose last component has a `*` (`/var/opt/azcmagent/tokens/*.key`) and names
    /// a file directly in that directory (never below it) matching the pattern.
    fn granted(&self, name: &str) -> Option<PathBuf> {
        let is_pattern = |path: &PathBuf| path.file_name().is_some_and(|n| n.to_string_lossy().contains('*'));
        let grants = self.grants.iter().filter_map(|(written, path)| Some((written, path.as_ref()?)));
        let mut exact = grants.clone().filter(|(_, path)| !is_pattern(path));
        if let Some((_, path)) = exact.find(|(written, path)| *written == name || path.as_os_str() == name) {
            return Some(path.clone());
        }
        let wanted = std::path::Path::new(name);
        let file_name = wanted.file_name()?.to_str()?;
        if file_name.starts_with('.') || file_name.contains('*') || name.contains("/./") || name.contains("/../") {
            return None;
        }
        grants.filter(|(_, path)| is_pattern(path)).find_map(|(_, pattern)| {
            let glob = pattern.file_name()?.to_str()?;
            let matches =
                wanted.is_absolute() && wanted.parent() == pattern.parent() && host_core::router::glob(glob, file_name);
            matches.then(|| wanted.to_path_buf())
        })
    }

    /// The contents of the granted file `name` (as written in the grant, or expanded).
    pub fn read(&self, name: &str) -> Result<Vec<u8>, FileError> {
        self.read_with(name, read_regular_file)
    }

    /// [`FileGrants::read`] with `reader` doing the reading, on the call's reading thread.
    fn read_with(
        &self,
        name: &str,
        reader: fn(&std::path::Path, &str) -> Result<Vec<u8>, FileError>,
    ) -> Result<Vec<u8>, FileError> {
        let Some(path) = self.granted(name) else {
            if self.grants.iter().any(|(written, path)| written == name && path.is_none()) {
                // A `~/` grant with no home directory names no file.
                return Err(FileError::NotFound(name.to_string()));
            }
            return Err(FileError::NotGranted(name.to_string()));
        };
        if self.reading.load(Ordering::SeqCst) > 0 {
            return Err(FileError::Io(format!(
                "cannot read {name}: an earlier read of a granted file is still blocked"
            )));
        }
        let thread = self.reader.as_ref().map_err(|e| FileError::Io(format!("cannot read {name}: {e}")))?;
        let (sender, receiver) = mpsc::channel();
        let (owned, reading) = (name.to_string(), self.reading.clone());
        reading.fetch_add(1, Ordering::SeqCst);
        let read = Box::new(move || {
            let result = reader(&path, &owned);
            // Before the answer, so that a caller that has the answer sees no read running.
            reading.fetch_sub(1, Ordering::SeqCst);
            let _ = sender.send(result);
        });
        if thread.send(read).is_err() {
            self.reading.fetch_sub(1, Ordering::SeqCst);
            return Err(FileError::Io(format!("cannot read {name}: its reading thread has ended")));
        }
        receiver.recv_timeout(self.deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| {
            Err(FileError::Io(format!("reading {name} did not finish before the plugin's deadline")))
        })
    }
}

/// Opens `path` without blocking (a FIFO or a device would block a plain open or read), and
/// reads it whole if the opened handle is a regular file of at most [`MAX_FILE_BYTES`].
fn read_regular_file(path: &std::path::Path, name: &str) -> Result<Vec<u8>, FileError> {
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path).map_err(|e| {
            match e.kind() {
                std::io::ErrorKind::NotFound => FileError::NotFound(name.to_string()),
                _ => FileError::Io(format!("cannot open {name}: {e}")),
            }
        })?;
    let metadata = file.metadata().map_err(|e| FileError::Io(format!("cannot stat {name}: {e}")))?;
    if !metadata.is_file() {
        return Err(FileError::Io(format!("{name} is not a regular file")));
    }
    let mut contents = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut contents)
        .map_err(|e| FileError::Io(format!("cannot read {name}: {e}")))?;
    if contents.len() as u64 > MAX_FILE_BYTES {
        return Err(FileError::TooLarge(name.to_string()));
    }
    Ok(contents)
}

impl Host for FileGrants {
    fn read(&mut self, name: String) -> Result<Vec<u8>, FileError> {
        FileGrants::read(self, &name)
    }
}

struct Files;
impl HasData for Files {
    type Data<'a> = &'a mut FileGrants;
}

/// Links `docker-credential-wasm:plugin/files`, served from `get(state)`.
pub fn link<T: 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut FileGrants) -> wasmtime::Result<()> {
    add_to_linker::<T, Files>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grants `names`, as the config would parse them.
    fn files(names: &[String], deadline: Instant) -> FileGrants {
        FileGrants::new(&names.iter().map(|name| FileGrant::parse(name).unwrap()).collect::<Vec<_>>(), deadline)
    }
    use std::time::Duration;

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[test]
    fn a_fifo_or_a_device_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap();
        let fifo = fifo.to_str().unwrap().to_string();
        // Nothing ever writes the FIFO: a blocking open would wait forever.
        let grants = files(&[fifo.clone(), "/dev/zero".to_string()], later());
        assert_eq!(grants.read(&fifo), Err(FileError::Io(format!("{fifo} is not a regular file"))));
        assert_eq!(grants.read("/dev/zero"), Err(FileError::Io("/dev/zero is not a regular file".into())));
    }

    #[test]
    fn a_read_that_blocks_ends_at_the_deadline_and_no_other_read_starts_behind_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let name = file.to_str().unwrap().to_string();
        let grants = files(std::slice::from_ref(&name), Instant::now() + Duration::from_millis(100));
        // A reader that hangs stands in for a file on a hung network mount.
        let hangs: fn(&std::path::Path, &str) -> Result<Vec<u8>, FileError> = |_, _| {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(Vec::new())
        };
        assert_eq!(
            grants.read_with(&name, hangs),
            Err(FileError::Io(format!("reading {name} did not finish before the plugin's deadline")))
        );
        assert_eq!(
            grants.read(&name),
            Err(FileError::Io(format!("cannot read {name}: an earlier read of a granted file is still blocked")))
        );
    }

    #[test]
    fn a_calls_reads_run_one_after_another_on_one_thread_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let name = dir.path().join("f").to_str().unwrap().to_string();
        let grants = files(std::slice::from_ref(&name), later());
        let thread: fn(&std::path::Path, &str) -> Result<Vec<u8>, FileError> =
            |_, _| Ok(format!("{:?}", std::thread::current().id()).into_bytes());
        let first = grants.read_with(&name, thread).unwrap();
        assert_eq!(grants.read_with(&name, thread).unwrap(), first);
        assert_ne!(first, format!("{:?}", std::thread::current().id()).into_bytes());
        assert!(files(&[], later()).reader.is_err(), "no thread for a call that grants no file");
    }

    #[test]
    fn a_home_grant_without_a_home_names_no_file() {
        let grants = FileGrants {
            grants: vec![("~/.aws/config".into(), None)],
            deadline: later(),
            reading: Arc::default(),
            reader: start_reader(),
        };
        assert_eq!(grants.read("~/.aws/config"), Err(FileError::NotFound("~/.aws/config".into())));
        assert_eq!(grants.read(".aws/config"), Err(FileError::NotGranted(".aws/config".into())));
    }

    #[test]
    fn only_granted_files_are_readable() {
        let dir = tempfile::tempdir().unwrap();
        let granted = dir.path().join("secret");
        std::fs::write(&granted, "pw\n").unwrap();
        std::fs::write(dir.path().join("other"), "no").unwrap();
        let name = granted.to_str().unwrap().to_string();
        let grants = files(std::slice::from_ref(&name), later());

        assert_eq!(grants.read(&name), Ok(b"pw\n".to_vec()));
        let other = dir.path().join("other").to_str().unwrap().to_string();
        assert_eq!(grants.read(&other), Err(FileError::NotGranted(other.clone())));
        assert_eq!(grants.read("/etc/passwd"), Err(FileError::NotGranted("/etc/passwd".into())));
        let escape = format!("{name}/../other");
        assert_eq!(grants.read(&escape), Err(FileError::NotGranted(escape.clone())));
    }

    #[test]
    fn missing_directories_and_oversized_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing").to_str().unwrap().to_string();
        let folder = dir.path().to_str().unwrap().to_string();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_FILE_BYTES as usize + 1]).unwrap();
        let big = big.to_str().unwrap().to_string();
        let grants = files(&[missing.clone(), folder.clone(), big.clone()], later());
        assert_eq!(grants.read(&missing), Err(FileError::NotFound(missing.clone())));
        assert_eq!(grants.read(&folder), Err(FileError::Io(format!("{folder} is not a regular file"))));
        assert_eq!(grants.read(&big), Err(FileError::TooLarge(big.clone())));
    }

    #[test]
    fn a_pattern_grant_reads_matching_files_in_its_directory_only() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir_all(tokens.join("sub")).unwrap();
        std::fs::write(tokens.join("a1b2.key"), "secret").unwrap();
        std::fs::write(tokens.join("sub/x.key"), "deeper").unwrap();
        std::fs::write(tokens.join("notes.txt"), "no").unwrap();
        std::fs::write(dir.path().join("outside.key"), "no").unwrap();
        let pattern = format!("{}/*.key", tokens.display());
        let grants = files(std::slice::from_ref(&pattern), later());
        let key = format!("{}/a1b2.key", tokens.display());
        assert_eq!(grants.read(&key), Ok(b"secret".to_vec()));
        for refused in [
            format!("{}/sub/x.key", tokens.display()),
            format!("{}/notes.txt", tokens.display()),
            format!("{}/outside.key", dir.path().display()),
            format!("{}/../outside.key", tokens.display()),
            format!("{}/./a1b2.key", tokens.display()),
            format!("{}/.hidden.key", tokens.display()),
            "a1b2.key".to_string(),
            pattern.clone(),
        ] {
            assert_eq!(grants.read(&refused), Err(FileError::NotGranted(refused.clone())), "{refused}");
        }
    }
}
