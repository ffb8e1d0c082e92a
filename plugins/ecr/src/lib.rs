//! The `ecr` plugin: credentials for Amazon ECR registries, private
//! (`<account>.dkr.ecr.<region>.amazonaws.com` and every partition, FIPS and dual-stack
//! form) and public (`public.ecr.aws`), from any AWS credential source, through ECR's
//! `GetAuthorizationToken`. A drop-in for `docker-credential-ecr-login`, in a sandbox.
//!
//! Settings (all optional): `profile` (use this profile of the shared files, and only it),
//! `role-arn` (assume this role with the credentials found; with a kubelet
//! service-account token, exchange the token for it), `role-session-name`, `external-id`,
//! `region` (for registry names that are not ECR host names), `fips` (`true`: FIPS STS
//! and ECR endpoints).

mod chain;
mod ecr;
mod endpoints;
mod profile;
mod registry;
mod sigv4;
mod sts;

use docker_credential_wasm_sdk::effects::{Effects, Level, Wasi};
use docker_credential_wasm_sdk::{Credentials, Error, Plugin, RegistryEntry, export_plugin};
use registry::EcrRegistry;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("docker-credential-wasm-ecr/", env!("CARGO_PKG_VERSION"));

/// The service-account annotation naming the role for a pod (as the kubelet's ECR provider reads it).
const ROLE_ANNOTATION: &str = "eks.amazonaws.com/ecr-role-arn";

/// The settings this plugin understands.
const SETTINGS: [&str; 6] = ["profile", "role-arn", "role-session-name", "external-id", "region", "fips"];

/// The operator's settings, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub role_session_name: Option<String>,
    pub external_id: Option<String>,
    pub region: Option<String>,
    pub fips: bool,
}

impl Settings {
    /// Reads and checks the settings `get` returns for the keys in `keys`.
    pub fn read(keys: &[String], get: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        if let Some(unknown) = keys.iter().find(|key| !SETTINGS.contains(&key.as_str())) {
            return Err(Error::InvalidInput(format!(
                "unknown setting `{unknown}`; the ecr plugin knows {}",
                SETTINGS.join(", ")
            )));
        }
        let fips = match get("fips").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(Error::InvalidInput(format!("the setting `fips` is {other:?}; expected true or false")));
            }
        };
        Ok(Settings {
            profile: get("profile"),
            role_arn: get("role-arn"),
            role_session_name: get("role-session-name"),
            external_id: get("external-id"),
            region: get("region"),
            fips,
        })
    }
}

/// Credentials for `registry`: which API and region its name implies, credentials from
/// the chain (or the pod's token), then `GetAuthorizationToken`.
pub fn answer(context: &dyn Effects, settings: &Settings, registry: &str) -> Result<ecr::Token, Error> {
    let env = |name: &str| context.env(name);
    let fips_env = context.env_flag("AWS_USE_FIPS_ENDPOINT") || settings.fips;
    let (api, endpoint, fips) = match EcrRegistry::parse(registry) {
        EcrRegistry::Private { region, fips, dual_stack, .. } => {
            let dual_stack = dual_stack || context.env_flag("AWS_USE_DUALSTACK_ENDPOINT");
            let variants = endpoints::Variants { fips: fips || fips_env, dual_stack };
            (ecr::Api::Private, endpoints::ecr(&region, variants, &env), fips || fips_env)
        }
        EcrRegistry::Public => (ecr::Api::Public, endpoints::ecr_public(&env), fips_env),
        EcrRegistry::Other => {
            let region = settings.region.clone().or_else(|| env("AWS_REGION")).or_else(|| env("AWS_DEFAULT_REGION"));
            let region = region.ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{registry} is not an ECR host name, so it names no region; set the plugin's `region` setting or AWS_REGION"
                ))
            })?;
            let variants =
                endpoints::Variants { fips: fips_env, dual_stack: context.env_flag("AWS_USE_DUALSTACK_ENDPOINT") };
            (ecr::Api::Private, endpoints::ecr(&region, variants, &env), fips_env)
        }
    };
    context.log(Level::Debug, &format!("{registry}: GetAuthorizationToken at {} ({})", endpoint.url, endpoint.region));
    let pod_role = context.service_account_annotation(ROLE_ANNOTATION).or_else(|| settings.role_arn.clone());
    let credentials = match (context.service_account_token(), pod_role) {
        (Some(token), Some(role_arn)) => {
            chain::from_service_account(context, &token, &role_arn, &endpoint.region, fips)?
        }
        _ => {
            let role = settings.role_arn.as_ref().map(|arn| sts::Role {
                arn: arn.clone(),
                session_name: settings
                    .role_session_name
                    .clone()
                    .unwrap_or_else(|| format!("docker-credential-wasm-{}", context.now())),
                external_id: settings.external_id.clone(),
                duration_seconds: None,
            });
            let choices = chain::Choices { profile: settings.profile.clone(), role, fips };
            chain::resolve(context, &choices, &endpoint.region)?
        }
    };
    ecr::authorization_token(context, api, &endpoint, &credentials)
}

struct Ecr;

impl Plugin for Ecr {
    fn get(registry: &str) -> Result<Credentials, Error> {
        let settings =
            Settings::read(&docker_credential_wasm_sdk::settings::keys(), docker_credential_wasm_sdk::settings::get)?;
        let token = answer(&Wasi, &settings, registry)?;
        let credentials = Credentials::new(token.username, token.password);
        Ok(match token.expires_at {
            Some(at) => credentials.expiring_at(at),
            None => credentials,
        })
    }

    /// The routed ECR registries, with ECR's user name: no network, no region needed.
    fn list(routed: &[String]) -> Result<Vec<RegistryEntry>, Error> {
        Ok(routed
            .iter()
            .filter(|registry| EcrRegistry::parse(registry) != EcrRegistry::Other)
            .map(|registry| RegistryEntry { registry: registry.clone(), username: "AWS".into() })
            .collect())
    }
}

export_plugin!(Ecr);
