//! A plugin built against `docker-credential-wasm:plugin@0.1.0`, the world as first
//! released (before the `request` interface of 0.1.1). The host speaks a later 0.1.x and
//! must still load and run it: adding to a 0.1 world never breaks 0.1.0 plugins.

wit_bindgen::generate!({
    inline: "
        package docker-credential-wasm:plugin@0.1.0;
        interface types {
            record credentials { username: string, secret: string, expires-at: option<u64> }
            variant error {
                not-found(string), unsupported(string), denied(string), upstream(string), invalid-input(string),
            }
            record registry-entry { registry: string, username: string }
        }
        interface helper {
            use types.{credentials, error, registry-entry};
            get: func(registry: string) -> result<credentials, error>;
            save: func(registry: string, credentials: credentials) -> result<_, error>;
            erase: func(registry: string) -> result<_, error>;
            %list: func(routed: list<string>) -> result<list<registry-entry>, error>;
        }
        interface settings {
            get: func(key: string) -> option<string>;
            keys: func() -> list<string>;
        }
        world plugin {
            import settings;
            export helper;
        }
    ",
});

use docker_credential_wasm::plugin::settings;
use docker_credential_wasm::plugin::types::{Credentials, Error, RegistryEntry};
use exports::docker_credential_wasm::plugin::helper::Guest;

struct Past;

impl Guest for Past {
    fn get(registry: String) -> Result<Credentials, Error> {
        let username = settings::get("username").unwrap_or_else(|| "past".into());
        Ok(Credentials { username, secret: format!("built-for-0.1.0:{registry}"), expires_at: None })
    }
    fn save(_: String, _: Credentials) -> Result<(), Error> {
        Err(Error::Unsupported("save".into()))
    }
    fn erase(_: String) -> Result<(), Error> {
        Err(Error::Unsupported("erase".into()))
    }
    fn list(_: Vec<String>) -> Result<Vec<RegistryEntry>, Error> {
        Err(Error::Unsupported("list".into()))
    }
}

#[cfg(target_family = "wasm")]
export!(Past);
