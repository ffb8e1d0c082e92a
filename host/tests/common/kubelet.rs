//! The kubelet's side of the credential provider API, written from its documented rules
//! (kubernetes/kubernetes pkg/credentialprovider/plugin and keyring.go), to check our
//! answers the way a kubelet reads them: strict decoding, the `CredentialProviderConfig`
//! validation, and the `matchImages`/`auth` glob matcher with its keyring lookup.

use serde::Deserialize;
use std::collections::BTreeMap;

pub const GROUP_V1: &str = "credentialprovider.kubelet.k8s.io/v1";

/// `CredentialProviderResponse`, decoded strictly as the kubelet's codec does.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Response {
    pub kind: String,
    pub api_version: String,
    pub cache_key_type: String,
    #[serde(default)]
    pub cache_duration: Option<String>,
    #[serde(default)]
    pub auth: BTreeMap<String, AuthConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub username: String,
    pub password: String,
}

/// Decodes a response and applies the kubelet's checks for a provider configured with
/// `api_version`; the error says which check failed.
pub fn decode_response(stdout: &str, api_version: &str) -> Result<Response, String> {
    let response: Response = serde_json::from_str(stdout).map_err(|e| format!("strict decode: {e}"))?;
    if response.kind != "CredentialProviderResponse" {
        return Err(format!("kind {}", response.kind));
    }
    if response.api_version != api_version {
        return Err(format!("apiVersion {} for a provider configured with {api_version}", response.api_version));
    }
    if !["Image", "Registry", "Global"].contains(&response.cache_key_type.as_str()) {
        return Err(format!("cacheKeyType {}", response.cache_key_type));
    }
    if let Some(duration) = &response.cache_duration {
        go_duration_seconds(duration).ok_or_else(|| format!("cacheDuration {duration}"))?;
    }
    Ok(response)
}

/// `kubelet.config.k8s.io/v1` `CredentialProviderConfig`, decoded strictly.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderConfig {
    pub api_version: String,
    pub kind: String,
    pub providers: Vec<Provider>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provider {
    pub name: String,
    pub match_images: Vec<String>,
    pub default_cache_duration: String,
    pub api_version: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub token_attributes: Option<TokenAttributes>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenAttributes {
    pub service_account_token_audience: String,
    pub cache_type: String,
    pub require_service_account: bool,
    #[serde(default)]
    pub required_service_account_annotation_keys: Vec<String>,
    #[serde(default)]
    pub optional_service_account_annotation_keys: Vec<String>,
}

/// Parses and validates a `CredentialProviderConfig` as the kubelet does at start-up.
pub fn parse_provider_config(yaml: &str) -> Result<ProviderConfig, String> {
    let config: ProviderConfig = serde_yaml_ng::from_str(yaml).map_err(|e| format!("strict decode: {e}"))?;
    if config.api_version != "kubelet.config.k8s.io/v1" || config.kind != "CredentialProviderConfig" {
        return Err(format!("{} {}", config.api_version, config.kind));
    }
    if config.providers.is_empty() {
        return Err("no providers".into());
    }
    let mut names = std::collections::BTreeSet::new();
    for provider in &config.providers {
        let name = &provider.name;
        if name.is_empty() || name.contains('/') || name.contains(' ') || name == "." || name == ".." {
            return Err(format!("provider name {name:?}"));
        }
        if !names.insert(name) {
            return Err(format!("duplicate provider {name}"));
        }
        let supported = ["v1", "v1beta1", "v1alpha1"].map(|v| format!("credentialprovider.kubelet.k8s.io/{v}"));
        if !supported.contains(&provider.api_version) {
            return Err(format!("provider apiVersion {}", provider.api_version));
        }
        if provider.match_images.is_empty() {
            return Err(format!("{name}: no matchImages"));
        }
        for image in &provider.match_images {
            if image.is_empty() || image.contains("://") || image.contains(char::is_whitespace) {
                return Err(format!("{name}: matchImages {image:?}"));
            }
        }
        go_duration_seconds(&provider.default_cache_duration)
            .ok_or_else(|| format!("{name}: defaultCacheDuration {}", provider.default_cache_duration))?;
        if let Some(attributes) = &provider.token_attributes {
            if provider.api_version != GROUP_V1 {
                return Err(format!("{name}: tokenAttributes need {GROUP_V1}"));
            }
            if attributes.service_account_token_audience.is_empty()
                || !["Token", "ServiceAccount"].contains(&attributes.cache_type.as_str())
                || (!attributes.required_service_account_annotation_keys.is_empty()
                    && !attributes.require_service_account)
            {
                return Err(format!("{name}: tokenAttributes {attributes:?}"));
            }
        }
    }
    Ok(config)
}

/// Seconds in a Go duration string (`0`, `10m`, `6h0m0s`, `1h30m`), whole seconds only.
pub fn go_duration_seconds(text: &str) -> Option<u64> {
    if text == "0" {
        return Some(0);
    }
    let mut total = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let value: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        total += value
            * match &rest[..unit_len] {
                "h" => 3600,
                "m" => 60,
                "s" => 1,
                _ => return None,
            };
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// `host` labels, port and path of a schemeless URL, as `url.Parse("https://" + s)` gives them.
fn split(url: &str) -> (Vec<String>, Option<String>, String) {
    let (authority, path) = match url.find('/') {
        Some(i) => (&url[..i], url[i..].to_string()),
        None => (url, String::new()),
    };
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').unwrap();
        (&authority[1..end], authority[end + 1..].strip_prefix(':').map(str::to_string))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port.to_string())),
            None => (authority, None),
        }
    };
    (host.split('.').map(str::to_string).collect(), port, path)
}

/// `filepath.Match` for one host label: `*` any run of characters, `?` one character.
fn label_match(pattern: &str, name: &str) -> bool {
    assert!(!pattern.contains('['), "character classes are not used in our patterns");
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    go(&pattern.chars().collect::<Vec<_>>(), &name.chars().collect::<Vec<_>>())
}

/// keyring.go `URLsMatch`: same port, same number of labels, each label glob-matched, and
/// the target's path starts with the glob's.
pub fn urls_match(glob: &str, target: &str) -> bool {
    let (glob_labels, glob_port, glob_path) = split(glob);
    let (labels, port, path) = split(target);
    glob_port == port
        && glob_labels.len() == labels.len()
        && path.starts_with(&glob_path)
        && glob_labels.iter().zip(&labels).all(|(g, l)| label_match(g, l))
}

/// keyring.go `BasicDockerKeyring.Lookup`: the `auth` keys that apply to `image`, most
/// specific first; Docker Hub images fall back to the key `index.docker.io`.
pub fn keyring_lookup<'a>(keys: impl IntoIterator<Item = &'a String>, image: &str) -> Vec<String> {
    let mut normalised: Vec<String> = keys
        .into_iter()
        .map(|key| {
            let (host, path) = key.split_once('/').map_or((key.as_str(), ""), |(h, p)| (h, p));
            let path = path.strip_prefix("v1/").or_else(|| path.strip_prefix("v2/")).unwrap_or(path);
            if path.is_empty() { host.to_string() } else { format!("{host}/{path}") }
        })
        .collect();
    normalised.sort_by(|a, b| b.cmp(a));
    normalised.dedup();
    let matched: Vec<String> = normalised.iter().filter(|key| urls_match(key, image)).cloned().collect();
    if !matched.is_empty() {
        return matched;
    }
    let first = image.split('/').next().unwrap_or_default();
    let default_registry =
        !image.contains('/') || first == "docker.io" || first == "index.docker.io" || !first.contains(['.', ':']);
    if default_registry && normalised.iter().any(|key| key == "index.docker.io") {
        return vec!["index.docker.io".into()];
    }
    Vec::new()
}
