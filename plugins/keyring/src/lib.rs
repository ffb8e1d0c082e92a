//! The `keyring` plugin: a credential store. `docker login` (`store`) keeps the user name
//! and password in the host's secrets capability under the server URL exactly as the
//! client sent it, as Docker's own stores key them; `get`, `erase` and `list` read and
//! remove those entries. With no store set up, `get` and `list` find nothing (an anonymous
//! pull still works) and `store` fails saying how to set one up.

mod entries;

use docker_credential_wasm_sdk::secrets::{self, SecretError};
use docker_credential_wasm_sdk::{Credentials, Error, Plugin, RegistryEntry, export_plugin, log, request};

struct Keyring;

impl Plugin for Keyring {
    fn get(registry: &str) -> Result<Credentials, Error> {
        let key = entries::key(request::server_url(), registry);
        match secrets::get(&key) {
            Ok(found) => entries::credentials(&key, found),
            Err(SecretError::Unavailable(why)) => Err(Error::NotFound(why)),
            Err(error) => Err(error.into()),
        }
    }

    fn store(registry: &str, credentials: Credentials) -> Result<(), Error> {
        let key = entries::key(request::server_url(), registry);
        secrets::set(&entries::secret(key, credentials)?)?;
        Ok(())
    }

    fn erase(registry: &str) -> Result<(), Error> {
        let key = entries::key(request::server_url(), registry);
        // A logout of what is not there succeeds, as docker-credential-secretservice's
        // and Docker's own file store's do: the registry is logged out either way.
        match secrets::delete(&key) {
            Ok(true) => Ok(()),
            Ok(false) => {
                log::info(&format!("nothing was stored for {key}"));
                Ok(())
            }
            Err(SecretError::Unavailable(why)) => {
                log::info(&why);
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    fn list(_routed: &[String]) -> Result<Vec<RegistryEntry>, Error> {
        match secrets::list() {
            Ok(listed) => Ok(entries::listed(listed)),
            Err(SecretError::Unavailable(why)) => {
                log::debug(&why);
                Ok(Vec::new())
            }
            Err(error) => Err(error.into()),
        }
    }
}

export_plugin!(Keyring);

#[cfg(test)]
mod tests {
    use super::*;
    use docker_credential_wasm_sdk::effects::Scripted;

    /// The real actions, run natively against the SDK's fake host and its in-memory secrets.
    #[test]
    fn a_login_is_kept_under_the_server_url_as_sent_until_logout() {
        let host = Scripted::default().server_url("https://index.docker.io/v1/");
        host.run(|| Keyring::store("docker.io", Credentials::new("alice", "s3cret"))).unwrap();
        assert_eq!(host.run(|| Keyring::get("docker.io")), Ok(Credentials::new("alice", "s3cret")));
        let listed = host.run(|| Keyring::list(&[])).unwrap();
        let listed: Vec<_> = listed.iter().map(|e| (e.registry.as_str(), e.username.as_str())).collect();
        assert_eq!(listed, [("https://index.docker.io/v1/", "alice")]);

        host.run(|| Keyring::erase("docker.io")).unwrap();
        assert_eq!(
            host.run(|| Keyring::get("docker.io")),
            Err(Error::NotFound("nothing is stored for https://index.docker.io/v1/".into()))
        );
        // A logout of what is not there succeeds, and says so in the log.
        host.run(|| Keyring::erase("docker.io")).unwrap();
        assert_eq!(host.logs.borrow().as_slice(), ["nothing was stored for https://index.docker.io/v1/"]);
    }
}
