//! Host bindings generated from `wit/plugin.wit`, and the conversions between the world's
//! types and the core's. A leaf: it uses nothing else of this crate.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    require_store_data_send: true,
    additional_derives: [PartialEq, Eq],
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

use docker_credential_wasm::plugin::types;
use host_core::call;

impl From<call::Credentials> for types::Credentials {
    fn from(c: call::Credentials) -> Self {
        types::Credentials { username: c.username, secret: c.secret, expires_at: c.expires_at }
    }
}

impl From<types::Credentials> for call::Credentials {
    fn from(c: types::Credentials) -> Self {
        call::Credentials { username: c.username, secret: c.secret, expires_at: c.expires_at }
    }
}

impl From<types::RegistryEntry> for call::RegistryEntry {
    fn from(e: types::RegistryEntry) -> Self {
        call::RegistryEntry { registry: e.registry, username: e.username }
    }
}

impl From<types::Error> for call::PluginError {
    fn from(error: types::Error) -> Self {
        match error {
            types::Error::NotFound(m) => call::PluginError::NotFound(m),
            types::Error::Unsupported(m) => call::PluginError::Unsupported(m),
            types::Error::Denied(m) => call::PluginError::Denied(m),
            types::Error::Upstream(m) => call::PluginError::Upstream(m),
            types::Error::InvalidInput(m) => call::PluginError::InvalidInput(m),
        }
    }
}
