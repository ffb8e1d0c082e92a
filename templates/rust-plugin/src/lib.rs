//! A docker-credential-wasm plugin: the user name from the operator's settings, the token
//! from the granted environment variable `MY_REGISTRY_TOKEN`. The logic is a function of
//! the host's effects, so it is tested natively with `Scripted`.

use docker_credential_wasm_sdk::effects::{Effects, Level, Wasi};
use docker_credential_wasm_sdk::{Credentials, Error, Plugin, export_plugin};

/// The environment variable the token comes from (granted in the config's `env`).
pub const TOKEN_ENV: &str = "MY_REGISTRY_TOKEN";

struct MyPlugin;

impl Plugin for MyPlugin {
    fn get(registry: &str) -> Result<Credentials, Error> {
        credentials(registry, &Wasi)
    }
}

/// Credentials for `registry`: the `username` setting and the token `effects` give.
pub fn credentials(registry: &str, effects: &impl Effects) -> Result<Credentials, Error> {
    let username = effects.setting("username").filter(|u| !u.is_empty()).ok_or_else(|| {
        Error::InvalidInput("the setting `username` is required: settings = { username = \"...\" }".into())
    })?;
    let token = effects
        .env(TOKEN_ENV)
        .ok_or_else(|| Error::NotFound(format!("{TOKEN_ENV} is not set (or not granted: env = [\"{TOKEN_ENV}\"])")))?;
    effects.log(Level::Info, &format!("{registry}: credentials for {username} from {TOKEN_ENV}"));
    Ok(Credentials::new(username, token))
}

// The manifest travels inside the component: `audit` shows what it asks for, and the host
// refuses settings it does not name.
export_plugin!(MyPlugin, manifest = "manifest.toml");

#[cfg(test)]
mod tests {
    use super::*;
    use docker_credential_wasm_sdk::effects::Scripted;

    #[test]
    fn the_token_comes_from_the_granted_variable() {
        let host = Scripted::at(0).setting("username", "robot").env(TOKEN_ENV, "s3cret");
        let got = credentials("registry.example.com", &host).unwrap();
        assert_eq!(got, Credentials::new("robot", "s3cret"));
        assert_eq!(
            host.logs.borrow().as_slice(),
            ["registry.example.com: credentials for robot from MY_REGISTRY_TOKEN"]
        );
    }

    #[test]
    fn without_a_token_the_client_falls_back() {
        let got = credentials("registry.example.com", &Scripted::at(0).setting("username", "robot"));
        assert_eq!(
            got.unwrap_err(),
            Error::NotFound("MY_REGISTRY_TOKEN is not set (or not granted: env = [\"MY_REGISTRY_TOKEN\"])".into())
        );
    }

    /// The plugin's real `get`, as the host calls it, with `Scripted` as the whole host.
    #[test]
    fn get_answers_from_the_hosts_settings_and_environment() {
        let host = Scripted::at(0).setting("username", "robot").env(TOKEN_ENV, "s3cret");
        assert_eq!(host.run(|| MyPlugin::get("registry.example.com")), Ok(Credentials::new("robot", "s3cret")));
    }
}
