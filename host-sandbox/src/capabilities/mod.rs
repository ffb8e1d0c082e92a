//! What a plugin instance may be given, one module per capability (in the manner of Spin's
//! factors, without their trait machinery). A capability with a WIT interface owns, in its
//! module: the names of the interfaces it serves (`INTERFACES`), its part of a call's store
//! state and how that part is made from the call's grants (`<State>::for_call`), and its
//! linking (`link`). The [`capabilities!`] list below composes them; the runtime links what
//! it lists and a plugin imports, and nothing else, so nothing outside a grant is reachable.
//!
//! Two capabilities have no interface of their own: `env` (granted variables, through
//! WASI's environment) and `memory` (the call's memory budget, charged by the others).

pub mod egress;
pub mod env;
pub mod files;
pub mod log;
pub mod memory;
pub mod request;
pub mod secrets;
pub mod settings;

use host_core::grants::Grants;
use log::PluginLog;
use memory::MemoryBudget;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::Linker;
use wasmtime_wasi_http::WasiHttpView;

/// What each capability's state for one call is made from.
pub struct CallSetup<'a> {
    /// The plugin's id, for log lines.
    pub plugin: &'a str,
    pub grants: &'a Grants,
    /// When the call must be over.
    pub deadline: Instant,
    /// The call's log, within its budget.
    pub log: &'a Arc<PluginLog>,
    /// The call's memory budget.
    pub memory: &'a Arc<MemoryBudget>,
    /// Extra CA certificates the operator trusts (`[network] ca-bundle`).
    pub ca_bundle: Option<&'a Path>,
    /// The secret store the operator chose (`[store] backend`).
    pub store: &'a secrets::StoreChoice,
}

/// Store state that holds the capabilities (and the wasi:http context egress serves).
pub trait HasCapabilities: WasiHttpView + 'static {
    fn capabilities(&mut self) -> &mut Capabilities;
}

/// Declares the capabilities with an interface, each `field: module::State`.
macro_rules! capabilities {
    ($($field:ident: $module:ident::$state:ident),* $(,)?) => {
        /// The capabilities' part of one call's store state.
        pub struct Capabilities {
            $(pub $field: $module::$state,)*
        }

        impl Capabilities {
            /// The interfaces each capability serves, in the order listed.
            pub const INTERFACES: &[&[&str]] = &[$($module::INTERFACES,)*];

            /// Each capability's state for one call.
            pub fn for_call(call: &CallSetup<'_>) -> Capabilities {
                Capabilities { $($field: $module::$state::for_call(call),)* }
            }

            /// Links the interfaces of each capability one of whose interfaces `imported`
            /// holds, each served from its part of the state.
            pub fn link<T: HasCapabilities>(
                linker: &mut Linker<T>,
                imported: impl Fn(&str) -> bool,
            ) -> wasmtime::Result<()> {
                $(if $module::INTERFACES.iter().any(|name| imported(name)) {
                    $module::link(linker, |state: &mut T| &mut state.capabilities().$field)?;
                })*
                Ok(())
            }
        }
    };
}

// The one list to extend when adding a capability.
capabilities! {
    log: log::Log,
    settings: settings::Settings,
    files: files::FileGrants,
    request: request::ClientRequest,
    secrets: secrets::Secrets,
    egress: egress::Egress,
}
