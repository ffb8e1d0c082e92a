//! The files capability: a plugin reads whole files that its grant names, read-only and by
//! name. There is no directory listing, no write, and `wasi:filesystem` has no preopens.
//! A grant may end in a pattern (`/var/opt/azcmagent/tokens/*.key`) for files whose names
//! the plugin learns at run time; it still names no directory to list.

use crate::runtime::bindings::docker_credential_wasm::plugin::files::{FileError, Host, add_to_linker};
use std::io::Read;
use std::path::PathBuf;
use wasmtime::component::{HasData, Linker};

/// Largest granted file a plugin may read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The files granted to one plugin instance.
#[derive(Debug, Default)]
pub struct FileGrants {
    /// Each grant as written in config or manifest, and the path it names.
    grants: Vec<(String, PathBuf)>,
}

impl FileGrants {
    /// Grants `written` paths; a leading `~/` is the user's home directory.
    pub fn new(written: &[String]) -> FileGrants {
        let grants =
            written.iter().map(|name| (name.clone(), PathBuf::from(crate::config::expand_home(name)))).collect();
        FileGrants { grants }
    }

    /// The path of the granted file `name`: a grant written as `name` or expanding to it, or
    /// a grant whose last component has a `*` (`/var/opt/azcmagent/tokens/*.key`) and names
    /// a file directly in that directory (never below it) matching the pattern.
    fn granted(&self, name: &str) -> Option<PathBuf> {
        let is_pattern = |path: &PathBuf| path.file_name().is_some_and(|n| n.to_string_lossy().contains('*'));
        let mut exact = self.grants.iter().filter(|(_, path)| !is_pattern(path));
        if let Some((_, path)) = exact.find(|(written, path)| written == name || path.as_os_str() == name) {
            return Some(path.clone());
        }
        let wanted = std::path::Path::new(name);
        let file_name = wanted.file_name()?.to_str()?;
        if file_name.starts_with('.') || file_name.contains('*') || name.contains("/./") || name.contains("/../") {
            return None;
        }
        self.grants.iter().filter(|(_, path)| is_pattern(path)).find_map(|(_, pattern)| {
            let glob = pattern.file_name()?.to_str()?;
            let matches =
                wanted.is_absolute() && wanted.parent() == pattern.parent() && crate::router::glob(glob, file_name);
            matches.then(|| wanted.to_path_buf())
        })
    }

    /// The contents of the granted file `name` (as written in the grant, or expanded).
    pub fn read(&self, name: &str) -> Result<Vec<u8>, FileError> {
        let Some(path) = self.granted(name) else {
            return Err(FileError::NotGranted(name.to_string()));
        };
        let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => FileError::NotFound(name.to_string()),
            _ => FileError::Io(format!("cannot open {name}: {e}")),
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

    #[test]
    fn only_granted_files_are_readable() {
        let dir = tempfile::tempdir().unwrap();
        let granted = dir.path().join("secret");
        std::fs::write(&granted, "pw\n").unwrap();
        std::fs::write(dir.path().join("other"), "no").unwrap();
        let name = granted.to_str().unwrap().to_string();
        let grants = FileGrants::new(std::slice::from_ref(&name));

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
        let grants = FileGrants::new(&[missing.clone(), folder.clone(), big.clone()]);
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
        let grants = FileGrants::new(std::slice::from_ref(&pattern));
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
