//! The secrets capability: a plugin whose grant names a secrets namespace gets, stores,
//! deletes and lists the entries of that namespace, and no other, in the user's keyring
//! (Secret Service) or password store (`pass`), as the operator's `[store] backend` chooses
//! (by default the Secret Service when one answers, else `pass` when a store exists).
//!
//! Each operation runs on a thread of its own, so a keyring that hangs (a prompt nobody
//! answers, a bus that stopped answering) costs the plugin its deadline, not the process its
//! life. Writes hold a lock, so two `docker login`s at once end with one of the two logins,
//! never with none. A call may make at most [`MAX_OPERATIONS`] operations, and every key,
//! account and secret is held to the sizes the host accepts from a plugin.

mod layout;
mod pass;
mod secret_service;

use super::CallSetup;
use crate::bindings::docker_credential_wasm::plugin::secrets::{Host, Secret, SecretError, add_to_linker};
use host_core::config::SecretBackend;
use host_core::logging::{self, Level};
use layout::Layout;
use pass::Pass;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Linker};

/// The interfaces this capability serves.
pub const INTERFACES: &[&str] = &["docker-credential-wasm:plugin/secrets"];

/// Largest key and account (a server URL, a user name), and secret.
pub const MAX_KEY_BYTES: usize = 4 * 1024;
pub const MAX_ACCOUNT_BYTES: usize = 4 * 1024;
pub const MAX_SECRET_BYTES: usize = 56 * 1024;
/// Operations one plugin call may make (a credential store makes one or two).
pub const MAX_OPERATIONS: usize = 16;

/// Which store the host uses, as the operator configured it.
#[derive(Debug, Clone, Default)]
pub struct StoreChoice {
    /// `[store] backend`, if set; else the first that answers.
    pub backend: Option<SecretBackend>,
    /// Where that was (or would be) set, for messages: the config file.
    pub config: String,
}

/// One stored secret. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub account: String,
    pub secret: String,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("key", &self.key).field("account", &self.account).finish_non_exhaustive()
    }
}

/// Why a backend could not do an operation (the WIT `secret-error`, but for `not-granted`,
/// which the capability decides before any backend is asked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Locked(String),
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<StoreError> for SecretError {
    fn from(error: StoreError) -> SecretError {
        match error {
            StoreError::Unavailable(m) => SecretError::Unavailable(m),
            StoreError::Locked(m) => SecretError::Locked(m),
            StoreError::Failed(m) => SecretError::Failed(m),
            StoreError::Invalid(m) => SecretError::Invalid(m),
        }
    }
}

/// One operation on a namespace.
#[derive(Debug)]
enum Operation {
    Get(String),
    Set(Entry),
    Delete(String),
    List,
}

/// What an operation gives.
enum Done {
    Found(Option<Entry>),
    Stored,
    Deleted(bool),
    Listed(Vec<(String, String)>),
}

/// The store state of the capability for one call.
#[derive(Debug)]
pub struct Secrets {
    plugin: String,
    /// The granted namespace, if any.
    layout: Option<Layout>,
    choice: StoreChoice,
    deadline: Instant,
    operations: usize,
    /// An operation still running past the deadline: no other is started.
    stuck: Arc<AtomicBool>,
}

impl Secrets {
    pub fn for_call(call: &CallSetup<'_>) -> Secrets {
        Secrets {
            plugin: call.plugin.to_string(),
            layout: call.grants.secrets_namespace().cloned().map(Layout::new),
            choice: call.store.clone(),
            deadline: call.deadline,
            operations: 0,
            stuck: Arc::default(),
        }
    }

    /// Runs `operation` on the granted namespace, on a thread of its own, until the deadline.
    fn run(&mut self, operation: Operation) -> Result<Done, SecretError> {
        let Some(layout) = self.layout.clone() else {
            return Err(SecretError::NotGranted(format!(
                "plugin {:?} has no secrets grant; an operator who wants it to keep secrets sets `secrets = \"<namespace>\"` in [plugins.{}]",
                self.plugin, self.plugin
            )));
        };
        check(&operation)?;
        self.operations += 1;
        if self.operations > MAX_OPERATIONS {
            return Err(SecretError::Failed(format!(
                "a plugin call may make at most {MAX_OPERATIONS} secrets operations"
            )));
        }
        if self.stuck.load(Ordering::SeqCst) {
            return Err(SecretError::Failed("an earlier secrets operation is still blocked".into()));
        }
        logging::log(Level::Debug, format_args!("plugin {}: secrets {}", self.plugin, describe(&operation)));
        let (sender, receiver) = std::sync::mpsc::channel();
        let (choice, deadline, stuck) = (self.choice.clone(), self.deadline, self.stuck.clone());
        stuck.store(true, Ordering::SeqCst);
        let thread = std::thread::Builder::new().name("secrets".into()).spawn(move || {
            let done = perform(&choice, &layout, operation, deadline);
            stuck.store(false, Ordering::SeqCst);
            let _ = sender.send(done);
        });
        if let Err(e) = thread {
            self.stuck.store(false, Ordering::SeqCst);
            return Err(SecretError::Failed(format!("cannot start a secrets operation: {e}")));
        }
        let done = receiver.recv_timeout(self.deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| {
            Err(StoreError::Failed(
                "the secret store did not answer before the plugin's deadline (a keyring prompt left open, or a store that stopped answering)".into(),
            ))
        });
        done.map_err(SecretError::from)
    }
}

/// What the log may say about an operation: never the secret.
fn describe(operation: &Operation) -> String {
    match operation {
        Operation::Get(key) => format!("get {key:?}"),
        Operation::Set(entry) => format!("set {:?} for {:?}", entry.key, entry.account),
        Operation::Delete(key) => format!("delete {key:?}"),
        Operation::List => "list".into(),
    }
}

/// Refuses keys, accounts and secrets no store should be asked to keep.
fn check(operation: &Operation) -> Result<(), SecretError> {
    let field = |what: &str, value: &str, max: usize, may_be_empty: bool| {
        if value.len() > max {
            return Err(SecretError::Invalid(format!("the {what} is {} bytes; the limit is {max}", value.len())));
        }
        if !may_be_empty && value.is_empty() {
            return Err(SecretError::Invalid(format!("the {what} is empty")));
        }
        if value.contains('\0') {
            return Err(SecretError::Invalid(format!("the {what} contains a NUL character")));
        }
        Ok(())
    };
    match operation {
        Operation::Get(key) | Operation::Delete(key) => field("key", key, MAX_KEY_BYTES, false),
        Operation::Set(entry) => {
            field("key", &entry.key, MAX_KEY_BYTES, false)?;
            field("account", &entry.account, MAX_ACCOUNT_BYTES, false)?;
            field("secret", &entry.secret, MAX_SECRET_BYTES, true)
        }
        Operation::List => Ok(()),
    }
}

/// The backend the operator chose, or the first that answers; runs `operation` on it.
fn perform(choice: &StoreChoice, layout: &Layout, operation: Operation, deadline: Instant) -> Result<Done, StoreError> {
    let _lock = match operation {
        Operation::Set(_) | Operation::Delete(_) => Some(WriteLock::acquire(deadline)?),
        Operation::Get(_) | Operation::List => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Failed(format!("cannot start the D-Bus client: {e}")))?;
    runtime.block_on(async {
        match open(choice).await? {
            Backend::SecretService(service) => Ok(match operation {
                Operation::Get(key) => Done::Found(secret_service::get(&service, layout, &key).await?),
                Operation::Set(entry) => secret_service::set(&service, layout, &entry).await.map(|()| Done::Stored)?,
                Operation::Delete(key) => Done::Deleted(secret_service::delete(&service, layout, &key).await?),
                Operation::List => Done::Listed(secret_service::list(&service, layout).await?),
            }),
            Backend::Pass(pass) => Ok(match operation {
                Operation::Get(key) => Done::Found(pass.get(layout, &key)?),
                Operation::Set(entry) => pass.set(layout, &entry).map(|()| Done::Stored)?,
                Operation::Delete(key) => Done::Deleted(pass.delete(layout, &key)?),
                Operation::List => Done::Listed(pass.list(layout)?),
            }),
        }
    })
}

/// The store an operation runs on.
enum Backend {
    SecretService(::secret_service::SecretService<'static>),
    Pass(Pass),
}

/// The backend the operator chose; else the Secret Service if one answers, else the
/// password store if `pass init` made one.
async fn open(choice: &StoreChoice) -> Result<Backend, StoreError> {
    let pass = || {
        let dir = Pass::store_dir(|name| std::env::var(name).ok()).ok_or_else(|| {
            StoreError::Unavailable("there is no home directory, and PASSWORD_STORE_DIR is not set".into())
        })?;
        Pass::open(dir)
    };
    let backend = match choice.backend {
        Some(SecretBackend::Pass) => Backend::Pass(pass()?),
        Some(SecretBackend::SecretService) => Backend::SecretService(secret_service::connect().await?),
        None => match secret_service::connect().await {
            Ok(service) => Backend::SecretService(service),
            Err(unanswered) => Backend::Pass(pass().map_err(|_| {
                nothing_to_use(choice, &unanswered, Pass::store_dir(|name| std::env::var(name).ok()).as_ref())
            })?),
        },
    };
    let name = match backend {
        Backend::SecretService(_) => "the Secret Service on the session bus",
        Backend::Pass(_) => "the password store (pass)",
    };
    logging::log(Level::Debug, format_args!("secrets: {name}"));
    Ok(backend)
}

/// The error when neither store can be used: what was tried, and how to set one up.
fn nothing_to_use(choice: &StoreChoice, unanswered: &StoreError, pass_dir: Option<&PathBuf>) -> StoreError {
    let store =
        pass_dir.map_or("no password store".to_string(), |dir| format!("no password store at {}", dir.display()));
    StoreError::Unavailable(format!(
        "no secret store to keep credentials in: {unanswered}, and there is {store}; start a keyring (GNOME Keyring, KeePassXC) in the desktop session, or run `pass init <gpg-key-id>`, or choose one with `[store] backend = \"secret-service\"` or `\"pass\"` in {}",
        choice.config
    ))
}

/// The lock writers hold, so that concurrent writes of one key end with one of them;
/// released when the file closes.
struct WriteLock {
    _file: std::fs::File,
}

impl WriteLock {
    /// The lock file: in `$XDG_RUNTIME_DIR` (the user's own), else in the user's cache.
    fn path() -> Option<PathBuf> {
        let runtime =
            std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|dir| dir.is_absolute() && dir.is_dir());
        match runtime {
            Some(dir) => Some(dir.join("docker-credential-wasm-secrets.lock")),
            None => Some(host_core::home::home_dir()?.join(".cache/docker-credential-wasm/secrets.lock")),
        }
    }

    fn acquire(deadline: Instant) -> Result<WriteLock, StoreError> {
        use rustix::fs::{FlockOperation, flock};
        let path =
            Self::path().ok_or_else(|| StoreError::Failed("there is no home directory for the write lock".into()))?;
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::Failed(format!("cannot open the write lock {}: {e}", path.display())))?;
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(WriteLock { _file: file }),
                Err(rustix::io::Errno::WOULDBLOCK | rustix::io::Errno::INTR) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => {
                    return Err(StoreError::Failed(format!("cannot take the write lock {}: {e}", path.display())));
                }
            }
        }
    }
}

impl Host for Secrets {
    fn get(&mut self, key: String) -> Result<Option<Secret>, SecretError> {
        match self.run(Operation::Get(key))? {
            Done::Found(entry) => Ok(entry.map(|e| Secret { key: e.key, account: e.account, secret: e.secret })),
            _ => unreachable!("get answers with an entry or none"),
        }
    }

    fn set(&mut self, entry: Secret) -> Result<(), SecretError> {
        let entry = Entry { key: entry.key, account: entry.account, secret: entry.secret };
        self.run(Operation::Set(entry)).map(drop)
    }

    fn delete(&mut self, key: String) -> Result<bool, SecretError> {
        match self.run(Operation::Delete(key))? {
            Done::Deleted(any) => Ok(any),
            _ => unreachable!("delete answers whether there was anything"),
        }
    }

    fn list(&mut self) -> Result<Vec<(String, String)>, SecretError> {
        match self.run(Operation::List)? {
            Done::Listed(listed) => Ok(listed),
            _ => unreachable!("list answers with the entries"),
        }
    }
}

struct SecretsData;
impl HasData for SecretsData {
    type Data<'a> = &'a mut Secrets;
}

/// Links `docker-credential-wasm:plugin/secrets`, served from `get(state)`.
pub fn link<T: 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut Secrets) -> wasmtime::Result<()> {
    add_to_linker::<T, SecretsData>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use host_core::grants::SecretsNamespace;

    fn secrets(namespace: Option<&str>) -> Secrets {
        Secrets {
            plugin: "keyring".into(),
            layout: namespace.map(|n| Layout::new(SecretsNamespace::parse(n).unwrap())),
            choice: StoreChoice::default(),
            deadline: Instant::now() + Duration::from_secs(5),
            operations: 0,
            stuck: Arc::default(),
        }
    }

    #[test]
    fn a_plugin_without_the_grant_is_refused_before_any_store_is_asked() {
        let mut ungranted = secrets(None);
        assert_eq!(
            ungranted.get("reg.example".into()),
            Err(SecretError::NotGranted(
                "plugin \"keyring\" has no secrets grant; an operator who wants it to keep secrets sets `secrets = \"<namespace>\"` in [plugins.keyring]".into()
            ))
        );
        assert_eq!(ungranted.operations, 0);
    }

    #[test]
    fn oversized_or_empty_values_are_refused_and_secrets_never_shown() {
        let mut granted = secrets(Some("docker-credential-helpers"));
        let too_long = "k".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(
            granted.get(too_long),
            Err(SecretError::Invalid(format!("the key is {} bytes; the limit is {MAX_KEY_BYTES}", MAX_KEY_BYTES + 1)))
        );
        assert_eq!(granted.delete(String::new()), Err(SecretError::Invalid("the key is empty".into())));
        let entry = Secret { key: "k".into(), account: "a\0b".into(), secret: "hunter2".into() };
        assert_eq!(granted.set(entry), Err(SecretError::Invalid("the account contains a NUL character".into())));
        let shown = format!("{:?}", Entry { key: "k".into(), account: "a".into(), secret: "hunter2".into() });
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            !describe(&Operation::Set(Entry { key: "k".into(), account: "a".into(), secret: "hunter2".into() }))
                .contains("hunter2")
        );
    }
}
