//! The Rust SDK for `docker-credential-wasm` plugins: one trait, one macro, typed errors
//! and safe wrappers over the host interfaces of the `docker-credential-wasm:plugin` world.
//!
//! A plugin is a `cdylib` built for `wasm32-wasip2`. It implements [`Plugin`] (only
//! [`Plugin::get`] is required; the other actions answer [`Error::Unsupported`] by default)
//! and registers it with [`export_plugin!`]:
//!
//! ```no_run
//! use docker_credential_wasm_sdk::{Credentials, Error, Plugin, env, export_plugin, log, settings};
//!
//! struct Example;
//!
//! impl Plugin for Example {
//!     fn get(registry: &str) -> Result<Credentials, Error> {
//!         // Operator settings come from `[plugins.<id>.settings]` in the host config.
//!         let username = settings::require("username")?;
//!         // Only environment variables named in the plugin's `env` grant are visible.
//!         let secret = env::var("EXAMPLE_TOKEN")
//!             .ok_or_else(|| Error::NotFound("EXAMPLE_TOKEN is not set".into()))?;
//!         log::info(&format!("serving {registry} as {username}"));
//!         Ok(Credentials::new(username, secret))
//!     }
//! }
//!
//! export_plugin!(Example);
//! ```
//!
//! ```toml
//! # Cargo.toml of the plugin
//! [lib]
//! crate-type = ["cdylib", "rlib"]
//!
//! [dependencies]
//! docker-credential-wasm-sdk = "0.2"
//!
//! [dev-dependencies]
//! docker-credential-wasm-sdk = { version = "0.2", features = ["testing"] }
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` file in
//! `target/wasm32-wasip2/release/` is the component the host loads.
//!
//! Features: `hmac` ([`crypto::hmac_sha256`]), `rsa` ([`crypto::rs256_sign`]), `jwt`
//! (the `jwt` module), and `testing`: the `Scripted` host for native tests, whose
//! `Scripted::run` calls a plugin's real actions natively, every host call answered by
//! the fake (in `effects`).
//!
//! Compatibility: this SDK binds the world [`WIT_VERSION`], vendored in the crate's `wit/`.
//! The version is part of the names the component exports, so a host refuses a plugin
//! built for a world it does not speak, with a message naming both versions; hosts that
//! speak `0.1.2` or a later `0.1.x` load plugins built with SDK `0.2`.

// Lets the generated bindings name this crate as `docker_credential_wasm_sdk`, the path plugins see.
extern crate self as docker_credential_wasm_sdk;

pub mod crypto;
pub mod effects;
pub mod encoding;
mod error;
pub mod http;
#[cfg(feature = "jwt")]
pub mod jwt;
mod native;
pub mod time;

pub use error::Error;
/// `serde` and `serde_json`, for plugins that parse identity endpoints' JSON. Derive with
/// `#[derive(docker_credential_wasm_sdk::serde::Deserialize)]` and `#[serde(crate = "docker_credential_wasm_sdk::serde")]`.
pub use {serde, serde_json};

/// The version of the `docker-credential-wasm:plugin` WIT world this SDK binds (its
/// `wit/plugin.wit`).
pub const WIT_VERSION: &str = "0.1.2";

/// Credentials for one registry (the WIT record `credentials`).
pub use crate::__private::bindings::docker_credential_wasm::plugin::types::Credentials;
/// One entry of a `list` answer (the WIT record `registry-entry`).
pub use crate::__private::bindings::docker_credential_wasm::plugin::types::RegistryEntry;

impl Credentials {
    /// Credentials with no known expiry.
    pub fn new(username: impl Into<String>, secret: impl Into<String>) -> Self {
        Credentials { username: username.into(), secret: secret.into(), expires_at: None }
    }

    /// The same credentials, valid until `unix_seconds` (seconds since the Unix epoch).
    pub fn expiring_at(mut self, unix_seconds: u64) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }
}

impl PartialEq for Credentials {
    fn eq(&self, other: &Self) -> bool {
        (&self.username, &self.secret, self.expires_at) == (&other.username, &other.secret, other.expires_at)
    }
}
impl Eq for Credentials {}

/// A credential plugin. Each action runs in a fresh, sandboxed instance, so there is
/// no state between calls: keep what you need in the host's settings, files or cache.
pub trait Plugin {
    /// Credentials for `registry`, the normalised registry host (`host[:port]`, lower
    /// case; Docker Hub is `docker.io`).
    ///
    /// Return [`Error::NotFound`] when the client should fall back (for example to an
    /// anonymous pull), and the other variants for real failures.
    fn get(registry: &str) -> Result<Credentials, Error>;

    /// Remember credentials (`docker login`). Unsupported unless implemented.
    fn store(registry: &str, credentials: Credentials) -> Result<(), Error> {
        let _ = (registry, credentials);
        Err(Error::Unsupported("store".into()))
    }

    /// Forget credentials (`docker logout`). Unsupported unless implemented.
    fn erase(registry: &str) -> Result<(), Error> {
        let _ = registry;
        Err(Error::Unsupported("erase".into()))
    }

    /// The registries this plugin serves, with user names. `routed` holds the exact
    /// registry hosts the operator routes to this plugin. Unsupported unless implemented
    /// (the host then lists nothing for this plugin).
    fn list(routed: &[String]) -> Result<Vec<RegistryEntry>, Error> {
        let _ = routed;
        Err(Error::Unsupported("list".into()))
    }
}

/// Registers a [`Plugin`] implementation as the component's `helper` export.
/// Use it exactly once, at the top level of the plugin crate.
///
/// With `manifest = "manifest.toml"` (a path from the crate's directory), the manifest is
/// embedded in the component (a custom section the host reads without running anything):
/// `audit` then shows what the plugin asks for beside what the operator granted, and the
/// host refuses settings the manifest does not name.
///
/// ```ignore
/// export_plugin!(MyPlugin, manifest = "manifest.toml");
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty, manifest = $manifest:literal) => {
        $crate::export_plugin!($plugin);
        #[cfg(target_family = "wasm")]
        #[unsafe(link_section = "docker-credential-wasm-manifest")]
        static __DOCKER_CREDENTIAL_WASM_MANIFEST: [u8; include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $manifest))
            .len()] = *include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $manifest));
    };
    ($plugin:ty) => {
        // Native builds (the plugin's unit tests) have no component exports.
        #[doc(hidden)]
        #[cfg(target_family = "wasm")]
        type __DockerCredentialWasmExports = $crate::__private::Exports<$plugin>;
        #[cfg(target_family = "wasm")]
        $crate::__private::bindings::export!(
            __DockerCredentialWasmExports with_types_in $crate::__private::bindings
        );
        // Natively, keep the plugin "used" so its code is checked without dead-code noise.
        #[cfg(not(target_family = "wasm"))]
        const _: () = {
            let _ = <$plugin as $crate::Plugin>::get;
            let _ = <$plugin as $crate::Plugin>::store;
            let _ = <$plugin as $crate::Plugin>::erase;
            let _ = <$plugin as $crate::Plugin>::list;
        };
    };
}

/// The operator's settings for this plugin instance (read-only).
pub mod settings {
    use crate::__private::bindings::docker_credential_wasm::plugin::settings as raw;
    use crate::Error;

    /// The value of setting `key`, if the operator set it.
    pub fn get(key: &str) -> Option<String> {
        crate::native::host_call!("settings::get", raw::get(key), |host| host.settings.get(key).cloned())
    }

    /// The value of setting `key`, or an [`Error::InvalidInput`] naming the missing key.
    pub fn require(key: &str) -> Result<String, Error> {
        get(key).ok_or_else(|| Error::InvalidInput(format!("the setting `{key}` is required but not set")))
    }

    /// Every key the operator set, sorted.
    pub fn keys() -> Vec<String> {
        crate::native::host_call!("settings::keys", raw::keys(), |host| host.settings.keys().cloned().collect())
    }
}

/// Files the operator granted to this plugin, read-only and by name.
pub mod files {
    use crate::__private::bindings::docker_credential_wasm::plugin::files as raw;
    use crate::Error;

    pub use raw::FileError;

    /// The contents of the granted file `name` (the path as written in the grant).
    pub fn read(name: &str) -> Result<Vec<u8>, Error> {
        crate::native::host_call!("files::read", Ok(raw::read(name)?), |host| match host.files.get(name) {
            Some(text) => Ok(text.clone().into_bytes()),
            None => Err(FileError::NotFound(name.to_string()).into()),
        })
    }

    /// The contents of the granted file `name` as UTF-8 text.
    pub fn read_to_string(name: &str) -> Result<String, Error> {
        String::from_utf8(read(name)?).map_err(|_| Error::InvalidInput(format!("the file {name} is not valid UTF-8")))
    }
}

/// What the client said about this request beyond the registry. Docker clients name only
/// the registry; the kubelet names the image and, in its service-account token mode, the
/// pod's token and its service account's annotations (since WIT 0.1.1).
pub mod request {
    use crate::__private::bindings::docker_credential_wasm::plugin::request as raw;

    /// The image repository being pulled (`host[:port]/path`, no tag or digest), if the
    /// client named one. Calling this tells the host that the answer may be specific to the
    /// image, so the kubelet caches it per image: call it only if the answer depends on it.
    pub fn image() -> Option<String> {
        crate::native::host_call!("request::image", raw::image(), |host| host.image.clone())
    }

    /// The pod's service-account token from the kubelet, if any. A secret: never log it.
    pub fn service_account_token() -> Option<String> {
        crate::native::host_call!("request::service_account_token", raw::service_account_token(), |host| host
            .token
            .clone())
    }

    /// The value of the pod's service-account annotation `key`, if the kubelet passed it.
    pub fn service_account_annotation(key: &str) -> Option<String> {
        service_account_annotations().into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Every service-account annotation the kubelet passed, sorted by key.
    pub fn service_account_annotations() -> Vec<(String, String)> {
        crate::native::host_call!("request::service_account_annotations", raw::service_account_annotations(), |host| {
            host.annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        })
    }

    /// The server URL exactly as the client sent it (`https://index.docker.io/v1/`,
    /// `registry.example.com:5000`), for a credential store that keys entries by it as
    /// Docker's stores do; `None` when the client named an image (since WIT 0.1.2).
    pub fn server_url() -> Option<String> {
        crate::native::host_call!("request::server_url", raw::server_url(), |host| host.server_url.clone())
    }
}

/// Secrets the host keeps for this plugin in the user's keyring or password store, in the
/// namespace its `secrets` grant names (since WIT 0.1.2). Without that grant every call
/// answers [`SecretError::NotGranted`].
pub mod secrets {
    use crate::__private::bindings::docker_credential_wasm::plugin::secrets as raw;

    pub use raw::{Secret, SecretError};

    /// The secret stored under `key`, if there is one.
    pub fn get(key: &str) -> Result<Option<Secret>, SecretError> {
        crate::native::host_call!("secrets::get", raw::get(key), |host| Ok(host.secrets.borrow().get(key).cloned()))
    }

    /// Stores `entry`, replacing whatever was stored under its key.
    pub fn set(entry: &Secret) -> Result<(), SecretError> {
        crate::native::host_call!("secrets::set", raw::set(entry), |host| {
            host.secrets.borrow_mut().insert(entry.key.clone(), entry.clone());
            Ok(())
        })
    }

    /// Removes what is stored under `key`; true if there was something to remove.
    pub fn delete(key: &str) -> Result<bool, SecretError> {
        crate::native::host_call!("secrets::delete", raw::delete(key), |host| Ok(host
            .secrets
            .borrow_mut()
            .remove(key)
            .is_some()))
    }

    /// Every key in the namespace with its account, sorted by key.
    pub fn list() -> Result<Vec<(String, String)>, SecretError> {
        crate::native::host_call!("secrets::list", raw::list(), |host| {
            Ok(host.secrets.borrow().values().map(|s| (s.key.clone(), s.account.clone())).collect())
        })
    }

    impl SecretError {
        /// The text any variant carries.
        pub fn message(&self) -> &str {
            match self {
                SecretError::NotGranted(m)
                | SecretError::Unavailable(m)
                | SecretError::Locked(m)
                | SecretError::Failed(m)
                | SecretError::Invalid(m) => m,
            }
        }
    }
}

/// Environment variables: only the names in the plugin's `env` grant are visible.
pub mod env {
    /// The value of the environment variable `name`, if it is granted, set and UTF-8.
    pub fn var(name: &str) -> Option<String> {
        crate::native::host_call!("env::var", std::env::var(name).ok(), |host| host.env.get(name).cloned())
    }
}

/// Diagnostics into the host's log. Never log a secret.
pub mod log {
    use crate::__private::bindings::docker_credential_wasm::plugin::log::Level;

    fn log(level: Level, message: &str) {
        crate::native::host_call!(
            "log",
            crate::__private::bindings::docker_credential_wasm::plugin::log::log(level, message),
            |host| host.logs.borrow_mut().push(message.to_string())
        )
    }

    /// Log an error: something failed and the action's answer is an error.
    pub fn error(message: &str) {
        log(Level::Error, message)
    }
    /// Log a warning: something unexpected that the plugin worked around.
    pub fn warn(message: &str) {
        log(Level::Warn, message)
    }
    /// Log a notable step.
    pub fn info(message: &str) {
        log(Level::Info, message)
    }
    /// Log troubleshooting detail.
    pub fn debug(message: &str) {
        log(Level::Debug, message)
    }
    /// Log very verbose detail.
    pub fn trace(message: &str) {
        log(Level::Trace, message)
    }
}

/// Not part of the public API: the raw bindings and the glue [`export_plugin!`] uses.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    use crate::{Credentials, Error, Plugin, RegistryEntry};
    use std::marker::PhantomData;

    #[allow(missing_docs, reason = "generated from the documented WIT")]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "wit",
            world: "plugin",
            generate_all,
            pub_export_macro: true,
            default_bindings_module: "docker_credential_wasm_sdk::__private::bindings",
            runtime_path: "docker_credential_wasm_sdk::__private::wit_bindgen::rt",
        });
    }

    /// Adapts a [`Plugin`] to the generated `helper` export trait.
    pub struct Exports<P>(PhantomData<P>);

    impl<P: Plugin> bindings::exports::docker_credential_wasm::plugin::helper::Guest for Exports<P> {
        fn get(registry: String) -> Result<Credentials, Error> {
            P::get(&registry)
        }
        fn save(registry: String, credentials: Credentials) -> Result<(), Error> {
            P::store(&registry, credentials)
        }
        fn erase(registry: String) -> Result<(), Error> {
            P::erase(&registry)
        }
        fn list(routed: Vec<String>) -> Result<Vec<RegistryEntry>, Error> {
            P::list(&routed)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sdk_binds_the_version_its_vendored_world_declares() {
        let vendored = include_str!("../wit/plugin.wit");
        let package = format!("package docker-credential-wasm:plugin@{};", super::WIT_VERSION);
        assert!(vendored.lines().any(|line| line == package), "wit/plugin.wit must declare `{package}`");
    }
}
