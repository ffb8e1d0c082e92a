//! The user's home directory, and `~/` paths resolved against it.

use std::path::PathBuf;

/// Expands a leading `~/` with the user's home directory ([`home_dir`]); an error when
/// there is none, so that `~/x` never becomes a path relative to the current directory.
pub fn expand_home(path: &str) -> Result<String, String> {
    let Some(rest) = path.strip_prefix("~/") else { return Ok(path.to_string()) };
    match home_dir() {
        Some(home) => Ok(format!("{}/{rest}", home.display().to_string().trim_end_matches('/'))),
        None => Err(format!(
            "{path:?} needs a home directory, but HOME is unset and the password database has none for uid {}; write an absolute path",
            rustix::process::getuid().as_raw()
        )),
    }
}

/// The user's home directory: `$HOME` when it is an absolute path, else the password
/// database's entry for this user (systemd services, Nomad tasks and the kubelet's
/// providers run without `HOME`).
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from).filter(|home| home.is_absolute()).or_else(password_database_home)
}

pub fn password_database_home() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut buffer = vec![0u8; 16 * 1024];
    // SAFETY: an all-zero `passwd` is a valid value for getpwuid_r to fill; `buffer` outlives
    // every pointer it stores in it, and we copy the directory out before returning.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let status =
        unsafe { libc::getpwuid_r(libc::getuid(), &mut entry, buffer.as_mut_ptr().cast(), buffer.len(), &mut found) };
    if status != 0 || found.is_null() || entry.pw_dir.is_null() {
        return None;
    }
    let dir = unsafe { std::ffi::CStr::from_ptr(entry.pw_dir) };
    let home = PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes()));
    home.is_absolute().then_some(home)
}
