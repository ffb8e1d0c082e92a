//! The settings capability: the operator's `[plugins.<id>.settings]`, read-only.

use super::CallSetup;
use crate::bindings::docker_credential_wasm::plugin::settings::{Host, add_to_linker};
use std::collections::BTreeMap;
use wasmtime::component::{HasData, Linker};

/// The interfaces this capability serves.
pub const INTERFACES: &[&str] = &["docker-credential-wasm:plugin/settings"];

/// The settings of one plugin instance.
#[derive(Debug, Default)]
pub struct Settings(pub BTreeMap<String, String>);

impl Settings {
    pub fn for_call(call: &CallSetup<'_>) -> Settings {
        Settings(call.grants.settings.clone())
    }
}

impl Host for Settings {
    fn get(&mut self, key: String) -> Option<String> {
        self.0.get(&key).cloned()
    }

    fn keys(&mut self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

struct SettingsData;
impl HasData for SettingsData {
    type Data<'a> = &'a mut Settings;
}

/// Links `docker-credential-wasm:plugin/settings`, served from `get(state)`.
pub fn link<T: 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut Settings) -> wasmtime::Result<()> {
    add_to_linker::<T, SettingsData>(linker, get)
}
