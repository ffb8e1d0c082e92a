//! The `pass` backend: entries are files of the password store (`$PASSWORD_STORE_DIR`, else
//! `~/.password-store`), written and read by running `pass` itself as docker-credential-pass
//! does (`pass insert -f -m`, `pass show`, `pass rm -r -f`), so GnuPG, the store's
//! recipients and its git history are `pass`'s business. Folders and file names are read
//! from the store's directory, which holds no secret in the clear.

use super::layout::Layout;
use super::{Entry, StoreError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The password store at `dir`, used through the `pass` program.
#[derive(Debug)]
pub struct Pass {
    dir: PathBuf,
}

impl Pass {
    /// The user's password store: `$PASSWORD_STORE_DIR`, else `~/.password-store`.
    pub fn store_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
        match env("PASSWORD_STORE_DIR").filter(|dir| !dir.is_empty()) {
            Some(dir) => Some(PathBuf::from(dir)),
            None => host_core::home::home_dir().map(|home| home.join(".password-store")),
        }
    }

    /// The password store at `dir` if `pass init` made one there (it has a `.gpg-id`).
    pub fn open(dir: PathBuf) -> Result<Pass, StoreError> {
        if !dir.join(".gpg-id").is_file() {
            return Err(StoreError::Unavailable(format!(
                "there is no password store at {} (no .gpg-id); run `pass init <gpg-key-id>` to make one",
                dir.display()
            )));
        }
        Ok(Pass { dir })
    }

    pub fn get(&self, layout: &Layout, key: &str) -> Result<Option<Entry>, StoreError> {
        let folder = layout.pass_key_folder(key);
        let Some(account) = self.accounts(&folder)?.into_iter().next() else {
            return Ok(None);
        };
        let secret = self.run(&["show", &format!("{folder}/{account}")], None)?;
        let secret = String::from_utf8(secret)
            .map_err(|_| StoreError::Failed(format!("the secret pass shows for {key} is not UTF-8")))?;
        Ok(Some(Entry { key: key.to_string(), account, secret }))
    }

    /// Writes the new entry, then removes the key's entries for other accounts: at every
    /// moment one of the two logins is there.
    pub fn set(&self, layout: &Layout, entry: &Entry) -> Result<(), StoreError> {
        check_account(&entry.account)?;
        let folder = layout.pass_key_folder(&entry.key);
        self.run(&["insert", "--force", "--multiline", &format!("{folder}/{}", entry.account)], Some(&entry.secret))?;
        for other in self.accounts(&folder)?.into_iter().filter(|account| *account != entry.account) {
            self.run(&["rm", "--force", &format!("{folder}/{other}")], None)?;
        }
        Ok(())
    }

    pub fn delete(&self, layout: &Layout, key: &str) -> Result<bool, StoreError> {
        let folder = layout.pass_key_folder(key);
        if !self.dir.join(&folder).is_dir() {
            return Ok(false);
        }
        self.run(&["rm", "--recursive", "--force", &folder], None)?;
        Ok(true)
    }

    pub fn list(&self, layout: &Layout) -> Result<Vec<(String, String)>, StoreError> {
        let folder = self.dir.join(layout.pass_folder());
        let mut listed = Vec::new();
        for name in names_in(&folder)? {
            let Some(key) = Layout::pass_key(&name) else { continue };
            if let Some(account) = self.accounts(&format!("{}/{name}", layout.pass_folder()))?.into_iter().next() {
                listed.push((key, account));
            }
        }
        listed.sort();
        Ok(listed)
    }

    /// The accounts stored in `folder` (its `<account>.gpg` files), sorted.
    fn accounts(&self, folder: &str) -> Result<Vec<String>, StoreError> {
        let mut accounts: Vec<String> = names_in(&self.dir.join(folder))?
            .into_iter()
            .filter_map(|n| n.strip_suffix(".gpg").map(str::to_string))
            .collect();
        accounts.sort();
        Ok(accounts)
    }

    /// Runs `pass args…` on this store with `input` on its stdin; its stdout, or its
    /// first line of stderr in the error.
    fn run(&self, args: &[&str], input: Option<&str>) -> Result<Vec<u8>, StoreError> {
        let mut child = Command::new("pass")
            .args(args)
            .env("PASSWORD_STORE_DIR", &self.dir)
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StoreError::Unavailable(
                    "the `pass` program is not installed (the password store needs it); install pass".into(),
                ),
                _ => StoreError::Failed(format!("cannot run pass: {e}")),
            })?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // A broken pipe here shows as pass's own failure below.
            let _ = stdin.write_all(input.as_bytes());
        }
        let output = child.wait_with_output().map_err(|e| StoreError::Failed(format!("pass failed: {e}")))?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).last().unwrap_or("no message");
        Err(StoreError::Failed(format!("pass {} failed ({}): {why}", args[0], output.status)))
    }
}

/// An account must name one file of the store: not empty, no `/`, not `.`-led.
fn check_account(account: &str) -> Result<(), StoreError> {
    if account.is_empty() || account.contains('/') || account.starts_with('.') {
        return Err(StoreError::Invalid(format!(
            "the user name {account:?} cannot be kept in a password store: it must not be empty, contain `/` or start with `.`"
        )));
    }
    Ok(())
}

/// The names in `dir`; none if it does not exist.
fn names_in(dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::Failed(format!("cannot read {}: {e}", dir.display()))),
    };
    Ok(entries.filter_map(|entry| entry.ok()?.file_name().into_string().ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_without_gpg_id_is_unavailable_and_says_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let error = Pass::open(dir.path().to_path_buf()).unwrap_err();
        assert_eq!(
            error,
            StoreError::Unavailable(format!(
                "there is no password store at {} (no .gpg-id); run `pass init <gpg-key-id>` to make one",
                dir.path().display()
            ))
        );
    }

    #[test]
    fn accounts_that_are_not_one_file_name_are_refused() {
        for bad in ["", "a/b", ".hidden", "../x"] {
            assert!(matches!(check_account(bad), Err(StoreError::Invalid(_))), "{bad:?}");
        }
        check_account("<token>").unwrap();
        check_account("robot$ci").unwrap();
    }
}
