//! The files capability: a plugin reads whole files that its grant names, read-only and by
//! name. There is no directory listing, no write, and `wasi:filesystem` has no preopens.

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

    /// The contents of the granted file `name` (as written in the grant, or expanded).
    pub fn read(&self, name: &str) -> Result<Vec<u8>, FileError> {
        let Some((_, path)) = self.grants.iter().find(|(written, path)| written == name || path.as_os_str() == name)
        else {
            return Err(FileError::NotGranted(name.to_string()));
        };
        let file = std::fs::File::open(path).map_err(|e| match e.kind() {
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
}
