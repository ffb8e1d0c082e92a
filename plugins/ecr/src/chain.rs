//! The AWS credential chain, in the SDKs' order: environment keys, web identity (IRSA),
//! the shared profile (static keys, `role_arn` with `source_profile` or
//! `credential_source`, `web_identity_token_file`), container credentials (ECS, EKS Pod
//! Identity), then EC2 instance metadata (IMDSv2). A source that is not configured is
//! skipped and noted; a source that is configured but fails ends the search with its error.
//! The first source found answers; an operator's `role-arn` then wraps it in AssumeRole.

use crate::endpoints::{self, Endpoint};
use crate::profile::{Profile, Profiles};
use crate::registry::partition_suffix;
use crate::sigv4::AwsCredentials;
use crate::sts::{self, Role};
use docker_credential_wasm_sdk::Error;
use docker_credential_wasm_sdk::effects::{Effects, Level};
use docker_credential_wasm_sdk::http::{Request, Url};
use docker_credential_wasm_sdk::serde::Deserialize;
use std::time::Duration;

/// Default locations of the shared files (as granted in the manifest).
const CONFIG_FILE: &str = "~/.aws/config";
const CREDENTIALS_FILE: &str = "~/.aws/credentials";
const IMDS_IPV4: &str = "http://169.254.169.254";
const IMDS_IPV6: &str = "http://[fd00:ec2::254]";
const ECS_HOST: &str = "http://169.254.170.2";
/// Hosts an `http://` `AWS_CONTAINER_CREDENTIALS_FULL_URI` may name (ECS, EKS Pod Identity).
const CONTAINER_HOSTS: [&str; 6] =
    ["127.0.0.1", "localhost", "[::1]", "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]"];
/// Metadata endpoints exist only on some machines: give up on them fast elsewhere.
const PROBE_CONNECT: Duration = Duration::from_millis(1000);
const PROBE_RESPONSE: Duration = Duration::from_millis(2000);

/// The operator's choices for this plugin instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    /// A profile to use instead of `AWS_PROFILE` (and only it).
    pub profile: Option<String>,
    /// A role to assume with whatever credentials the chain finds.
    pub role: Option<Role>,
    /// Use FIPS endpoints for STS.
    pub fips: bool,
}

/// Finds credentials for calls in `region`.
///
/// STS is called in the configured region (`AWS_REGION`, `AWS_DEFAULT_REGION`, the
/// profile's `region`), as the SDKs do, unless that is in another partition than `region`
/// (credentials from one partition do not work in another); then, and when none is
/// configured, in `region` itself.
pub fn resolve(context: &dyn Effects, choices: &Choices, region: &str) -> Result<AwsCredentials, Error> {
    let profiles = read_profiles(context)?;
    let profile_name =
        choices.profile.clone().or_else(|| profile_from_env(context)).unwrap_or_else(|| "default".into());
    let configured = context
        .env("AWS_REGION")
        .or_else(|| context.env("AWS_DEFAULT_REGION"))
        .or_else(|| profiles.get(&profile_name).and_then(|p| p.get("region").cloned()).filter(|r| !r.is_empty()));
    let sts_region =
        configured.filter(|c| partition_suffix(c) == partition_suffix(region)).unwrap_or_else(|| region.to_string());
    let sts = endpoints::sts(&sts_region, choices.fips, &|name| context.env(name));
    let chain = Chain { context, sts, session: format!("docker-credential-wasm-{}", context.now()) };
    let credentials = chain.find(choices, profiles)?;
    match &choices.role {
        Some(role) => {
            context.log(Level::Info, &format!("assuming {} (the plugin's role-arn setting)", role.arn));
            sts::assume_role(context, &chain.sts, role, &credentials)
        }
        None => Ok(credentials),
    }
}

/// One source of the chain: its name for messages, and how to ask it.
type Source<'a> = Box<dyn Fn() -> Result<Found, Error> + 'a>;

/// What one source found.
enum Found {
    Credentials(AwsCredentials),
    /// Not configured here; the text says why, for the log.
    Skipped(String),
}

struct Chain<'a> {
    context: &'a dyn Effects,
    sts: Endpoint,
    session: String,
}

impl Chain<'_> {
    fn find(&self, choices: &Choices, profiles: Profiles) -> Result<AwsCredentials, Error> {
        let sources: Vec<(String, Source<'_>)> = match &choices.profile {
            // An explicit profile is the only source, as with the SDKs' explicit profile.
            Some(name) => vec![(format!("profile {name}"), Box::new(|| self.profile(&profiles, name, true, 0)))],
            None => {
                let env_profile = profile_from_env(self.context);
                let profile_name = env_profile.clone().unwrap_or_else(|| "default".into());
                vec![
                    ("environment".into(), Box::new(|| self.environment())),
                    ("web identity".into(), Box::new(|| self.web_identity_from_env())),
                    (
                        format!("profile {profile_name}"),
                        Box::new(move || self.profile(&profiles, &profile_name, env_profile.is_some(), 0)),
                    ),
                    ("container".into(), Box::new(|| self.container())),
                    ("instance metadata".into(), Box::new(|| self.instance_metadata())),
                ]
            }
        };
        let mut tried = Vec::new();
        for (source, find) in sources {
            match find().map_err(|e| e.context(format!("AWS credentials from {source}")))? {
                Found::Credentials(credentials) => {
                    self.context
                        .log(Level::Info, &format!("AWS credentials from {source} ({})", credentials.access_key_id));
                    if let Some(expires_at) = credentials.expires_at.filter(|&at| at <= self.context.now()) {
                        return Err(Error::Denied(format!(
                            "the AWS credentials from {source} expired at {}",
                            docker_credential_wasm_sdk::time::DateTime::from_unix(expires_at).rfc3339()
                        )));
                    }
                    return Ok(credentials);
                }
                Found::Skipped(why) => {
                    self.context.log(Level::Debug, &format!("AWS credentials: {source}: {why}"));
                    tried.push(format!("{source}: {why}"));
                }
            }
        }
        Err(Error::NotFound(format!("no AWS credentials found; tried {}", tried.join("; "))))
    }

    fn environment(&self) -> Result<Found, Error> {
        let env = |a: &str, b: &str| self.context.env(a).or_else(|| self.context.env(b));
        match (env("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"), env("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => Ok(Found::Credentials(AwsCredentials {
                access_key_id,
                secret_access_key,
                session_token: self.context.env("AWS_SESSION_TOKEN"),
                expires_at: None,
            })),
            (None, None) => Ok(Found::Skipped("AWS_ACCESS_KEY_ID is not set".into())),
            (Some(_), None) => {
                Err(Error::InvalidInput("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into()))
            }
            (None, Some(_)) => {
                Err(Error::InvalidInput("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into()))
            }
        }
    }

    fn web_identity_from_env(&self) -> Result<Found, Error> {
        let Some(token_file) = self.context.env("AWS_WEB_IDENTITY_TOKEN_FILE") else {
            return Ok(Found::Skipped("AWS_WEB_IDENTITY_TOKEN_FILE is not set".into()));
        };
        let role_arn = self
            .context
            .env("AWS_ROLE_ARN")
            .ok_or_else(|| Error::InvalidInput("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not".into()))?;
        let session = self.context.env("AWS_ROLE_SESSION_NAME");
        self.web_identity(&token_file, &role_arn, session).map(Found::Credentials)
    }

    fn web_identity(&self, token_file: &str, role_arn: &str, session: Option<String>) -> Result<AwsCredentials, Error> {
        // Re-read at every call: the kubelet rotates the projected token.
        let token = self
            .context
            .file(token_file)?
            .ok_or_else(|| Error::InvalidInput(format!("the web identity token file {token_file} does not exist")))?;
        let role = Role {
            arn: role_arn.to_string(),
            session_name: session.unwrap_or_else(|| self.session.clone()),
            external_id: None,
            duration_seconds: None,
        };
        sts::assume_role_with_web_identity(self.context, &self.sts, &role, token.trim())
    }

    /// The profile `name`; `explicit` when the user named it (then it must exist).
    fn profile(&self, profiles: &Profiles, name: &str, explicit: bool, depth: usize) -> Result<Found, Error> {
        if depth > 8 {
            return Err(Error::InvalidInput(format!("profile {name}: source_profile chains loop or nest too deep")));
        }
        let Some(profile) = profiles.get(name) else {
            return match explicit {
                true => Err(Error::InvalidInput(format!(
                    "the profile {name} is in neither the config file nor the credentials file"
                ))),
                false => Ok(Found::Skipped(format!("no profile {name} in ~/.aws/config or ~/.aws/credentials"))),
            };
        };
        let value = |key: &str| profile.get(key).filter(|v| !v.is_empty()).cloned();
        if let Some(role_arn) = value("role_arn") {
            let role = Role {
                arn: role_arn.clone(),
                session_name: value("role_session_name").unwrap_or_else(|| self.session.clone()),
                external_id: value("external_id"),
                duration_seconds: value("duration_seconds").and_then(|d| d.parse().ok()),
            };
            if let Some(token_file) = value("web_identity_token_file") {
                return self.web_identity(&token_file, &role_arn, value("role_session_name")).map(Found::Credentials);
            }
            let source = match (value("source_profile"), value("credential_source")) {
                (Some(source), _) if source == name => static_keys(name, &profile)?.ok_or_else(|| {
                    Error::InvalidInput(format!("profile {name} is its own source_profile but has no keys"))
                })?,
                (Some(source), _) => match self.profile(profiles, &source, true, depth + 1)? {
                    Found::Credentials(credentials) => credentials,
                    Found::Skipped(why) => return Err(Error::InvalidInput(format!("source_profile {source}: {why}"))),
                },
                (None, Some(credential_source)) => self.credential_source(&credential_source)?,
                (None, None) => {
                    return Err(Error::InvalidInput(format!(
                        "profile {name} has role_arn but neither source_profile nor credential_source"
                    )));
                }
            };
            return sts::assume_role(self.context, &self.sts, &role, &source).map(Found::Credentials);
        }
        if let Some(credentials) = static_keys(name, &profile)? {
            return Ok(Found::Credentials(credentials));
        }
        if value("credential_process").is_some() {
            return Err(Error::InvalidInput(format!(
                "profile {name} uses credential_process, which a sandboxed plugin cannot run; use keys, a role or a token file instead"
            )));
        }
        if value("sso_session").is_some() || value("sso_start_url").is_some() {
            return Err(Error::InvalidInput(format!(
                "profile {name} uses IAM Identity Center (SSO), which this plugin does not support yet; use keys, a role or a token file instead"
            )));
        }
        Ok(Found::Skipped(format!("profile {name} has no credentials")))
    }

    fn credential_source(&self, source: &str) -> Result<AwsCredentials, Error> {
        let found = match source {
            "Environment" => self.environment()?,
            "Ec2InstanceMetadata" => self.instance_metadata()?,
            "EcsContainer" => self.container()?,
            other => {
                return Err(Error::InvalidInput(format!(
                    "credential_source {other:?} is not one of Environment, Ec2InstanceMetadata, EcsContainer"
                )));
            }
        };
        match found {
            Found::Credentials(credentials) => Ok(credentials),
            Found::Skipped(why) => Err(Error::NotFound(format!("credential_source {source}: {why}"))),
        }
    }

    fn container(&self) -> Result<Found, Error> {
        let url = match (
            self.context.env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            self.context.env("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        ) {
            (Some(relative), _) => format!("{ECS_HOST}{relative}"),
            (None, Some(full)) => {
                let parsed = Url::parse(&full)?;
                if !parsed.https && !CONTAINER_HOSTS.contains(&host_of(&parsed.authority)) {
                    return Err(Error::InvalidInput(format!(
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI {full} is plain http to a host that is neither loopback nor an ECS/EKS credential endpoint"
                    )));
                }
                full
            }
            (None, None) => {
                return Ok(Found::Skipped("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not set".into()));
            }
        };
        let authorization = match self.context.env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            Some(path) => Some(
                self.context
                    .file(&path)?
                    .ok_or_else(|| {
                        Error::InvalidInput(format!("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {path} does not exist"))
                    })?
                    .trim()
                    .to_string(),
            ),
            None => self.context.env("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        };
        let mut request =
            Request::get(&url).timeouts(PROBE_CONNECT, PROBE_RESPONSE).header("accept", "application/json");
        if let Some(authorization) = authorization {
            request = request.header("authorization", &authorization);
        }
        let response = self.context.send(&request)?;
        if !response.is_success() {
            let error: docker_credential_wasm_sdk::serde_json::Value =
                response.json("container credentials").unwrap_or_default();
            let why = format!(
                "{}: HTTP {} {} {}",
                Url::shown(&url),
                response.status,
                error["code"].as_str().unwrap_or(""),
                error["message"].as_str().unwrap_or("")
            );
            return Err(if matches!(response.status, 401 | 403) { Error::Denied(why) } else { Error::Upstream(why) });
        }
        parse_credentials(&response.json::<CredentialsJson>("container credentials")?).map(Found::Credentials)
    }

    fn instance_metadata(&self) -> Result<Found, Error> {
        if self.context.env_flag("AWS_EC2_METADATA_DISABLED") {
            return Ok(Found::Skipped("AWS_EC2_METADATA_DISABLED is true".into()));
        }
        let base = self.context.env("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| {
            let ipv6 = self
                .context
                .env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
                .is_some_and(|m| m.eq_ignore_ascii_case("ipv6"));
            (if ipv6 { IMDS_IPV6 } else { IMDS_IPV4 }).to_string()
        });
        let base = base.trim_end_matches('/');
        let probe = |request: Request| request.timeouts(PROBE_CONNECT, PROBE_RESPONSE);
        let token_request = probe(Request::put(&format!("{base}/latest/api/token")))
            .header("x-aws-ec2-metadata-token-ttl-seconds", "21600");
        // Nothing answering is a machine without instance metadata; a service that answers
        // badly is a failure of this machine's.
        let token = match self.context.probe(&token_request)? {
            Ok(response) if response.is_success() => {
                let token = response.text();
                // A session token is base64: anything else (a proxy's page, a truncated
                // answer) is not one, and would only be refused at the next request.
                if token.is_empty() || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b)) {
                    return Err(Error::Upstream(format!(
                        "{base}/latest/api/token: the answer ({} bytes) is not a session token",
                        token.len()
                    )));
                }
                Some(token)
            }
            // IMDSv1 only (the SDKs fall back unless told not to).
            Ok(response)
                if (403..=405).contains(&response.status) && !self.context.env_flag("AWS_EC2_METADATA_V1_DISABLED") =>
            {
                None
            }
            Ok(response) => {
                return Err(Error::Upstream(format!("{base}/latest/api/token: HTTP {}", response.status)));
            }
            Err(nothing) => return Ok(Found::Skipped(format!("no instance metadata service ({nothing})"))),
        };
        let get = |path: &str| {
            let mut request = probe(Request::get(&format!("{base}{path}")));
            if let Some(token) = &token {
                request = request.header("x-aws-ec2-metadata-token", token);
            }
            self.context.send(&request)
        };
        let roles = get("/latest/meta-data/iam/security-credentials/")?;
        if roles.status == 404 {
            return Ok(Found::Skipped("the instance has no IAM role".into()));
        }
        if !roles.is_success() {
            return Err(Error::Upstream(format!(
                "{base}/latest/meta-data/iam/security-credentials/: HTTP {}",
                roles.status
            )));
        }
        let text = roles.text();
        let role = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| Error::Upstream("the instance metadata lists no IAM role".into()))?;
        // IAM role names are letters, digits and `+=,.@_-`.
        if !role.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b)) {
            return Err(Error::Upstream(format!(
                "{base}/latest/meta-data/iam/security-credentials/: the answer is not an IAM role name"
            )));
        }
        let response = get(&format!("/latest/meta-data/iam/security-credentials/{role}"))?;
        if !response.is_success() {
            return Err(Error::Upstream(format!(
                "instance metadata credentials for role {role}: HTTP {}",
                response.status
            )));
        }
        let credentials: CredentialsJson = response.json("instance metadata credentials")?;
        if let Some(code) = credentials.code.as_deref().filter(|c| *c != "Success") {
            return Err(Error::Upstream(format!("instance metadata credentials for role {role}: Code {code}")));
        }
        parse_credentials(&credentials).map(Found::Credentials)
    }
}

/// The host of `host[:port]` (IPv6 literals keep their brackets).
fn host_of(authority: &str) -> &str {
    match authority.strip_prefix('[') {
        Some(rest) => rest.find(']').map_or(authority, |end| &authority[..end + 2]),
        None => authority.split(':').next().unwrap_or(authority),
    }
}

/// `AWS_PROFILE`, else `AWS_DEFAULT_PROFILE`.
fn profile_from_env(context: &dyn Effects) -> Option<String> {
    context.env("AWS_PROFILE").or_else(|| context.env("AWS_DEFAULT_PROFILE"))
}

/// The shared config and credentials files (each where its variable says, else the default).
fn read_profiles(context: &dyn Effects) -> Result<Profiles, Error> {
    let read = |variable: &str, default: &str| -> Result<Option<String>, Error> {
        match context.env(variable) {
            Some(path) => context.file(&path).map_err(|e| e.context(format!("{variable}={path}"))),
            // The default files are optional, also when the operator removed their grant.
            None => Ok(context.file(default).unwrap_or(None)),
        }
    };
    let config = read("AWS_CONFIG_FILE", CONFIG_FILE)?;
    let credentials = read("AWS_SHARED_CREDENTIALS_FILE", CREDENTIALS_FILE)?;
    Ok(Profiles::parse(config.as_deref(), credentials.as_deref()))
}

/// Static keys of a profile, if it has them.
fn static_keys(name: &str, profile: &Profile) -> Result<Option<AwsCredentials>, Error> {
    let value = |key: &str| profile.get(key).filter(|v| !v.is_empty()).cloned();
    match (value("aws_access_key_id"), value("aws_secret_access_key")) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Some(AwsCredentials {
            access_key_id,
            secret_access_key,
            session_token: value("aws_session_token"),
            expires_at: None,
        })),
        (None, None) => Ok(None),
        _ => Err(Error::InvalidInput(format!(
            "profile {name} has only one of aws_access_key_id and aws_secret_access_key"
        ))),
    }
}

/// The JSON of container and instance-metadata credentials.
#[derive(Deserialize)]
#[serde(crate = "docker_credential_wasm_sdk::serde", rename_all = "PascalCase")]
struct CredentialsJson {
    code: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    token: Option<String>,
    expiration: Option<String>,
}

fn parse_credentials(json: &CredentialsJson) -> Result<AwsCredentials, Error> {
    let missing = |field: &str| Error::Upstream(format!("the credentials have no {field}"));
    let expires_at = match &json.expiration {
        Some(text) => Some(
            docker_credential_wasm_sdk::time::parse_rfc3339(text)
                .ok_or_else(|| Error::Upstream(format!("the credentials' Expiration {text:?} is not a time")))?,
        ),
        None => None,
    };
    Ok(AwsCredentials {
        access_key_id: json.access_key_id.clone().ok_or_else(|| missing("AccessKeyId"))?,
        secret_access_key: json.secret_access_key.clone().ok_or_else(|| missing("SecretAccessKey"))?,
        session_token: json.token.clone(),
        expires_at,
    })
}

/// Exchanges a kubelet service-account token for credentials of `role_arn` (the kubelet's
/// ECR provider does the same with `eks.amazonaws.com/ecr-role-arn`).
pub fn from_service_account(
    context: &dyn Effects,
    token: &str,
    role_arn: &str,
    region: &str,
    fips: bool,
) -> Result<AwsCredentials, Error> {
    let sts = endpoints::sts(region, fips, &|name| context.env(name));
    let role = Role {
        arn: role_arn.into(),
        session_name: "ecr-credential-provider".into(),
        external_id: None,
        duration_seconds: None,
    };
    context.log(Level::Info, &format!("AWS credentials from the pod's service-account token for {role_arn}"));
    sts::assume_role_with_web_identity(context, &sts, &role, token)
}

#[cfg(test)]
mod tests;
