//! The `static` plugin: serves one fixed user name and secret for every registry the
//! operator routes to it. The secret is read at each `get` from the environment variable
//! (`secret-env`) or file (`secret-file`) the operator names and grants, or, only when
//! the operator writes it there explicitly, from the `secret` setting itself.

mod secret;

use docker_credential_wasm_sdk::{Credentials, Error, Plugin, RegistryEntry, env, export_plugin, files, settings};
use secret::SecretSource;

struct Static;

impl Plugin for Static {
    fn get(_registry: &str) -> Result<Credentials, Error> {
        let username = username()?;
        let source = SecretSource::from_settings(
            settings::get("secret-env"),
            settings::get("secret-file"),
            settings::get("secret"),
        )?;
        let secret = match &source {
            SecretSource::Env(name) => secret::from_env(name, env::var(name))?,
            SecretSource::File(path) => secret::from_file(path, files::read(path)?)?,
            SecretSource::Literal(value) => value.clone(),
        };
        Ok(Credentials::new(username, secret))
    }

    fn list(routed: &[String]) -> Result<Vec<RegistryEntry>, Error> {
        let username = username()?;
        Ok(routed
            .iter()
            .map(|registry| RegistryEntry { registry: registry.clone(), username: username.clone() })
            .collect())
    }
}

fn username() -> Result<String, Error> {
    let username = settings::require("username")?;
    if username.is_empty() {
        return Err(Error::InvalidInput("the setting `username` is empty".into()));
    }
    Ok(username)
}

export_plugin!(Static);
