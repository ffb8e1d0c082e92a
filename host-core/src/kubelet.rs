//! The kubelet image credential provider wire format (`credentialprovider.kubelet.k8s.io`):
//! reads a `CredentialProviderRequest`, parses its image reference, and writes a
//! `CredentialProviderResponse` with only the documented fields. Pure.
//!
//! The kubelet decodes the response strictly and drops it unless kind, group and version
//! match what it sent, so the response echoes the request's `apiVersion`. Unknown fields
//! in a request are ignored, so that a newer kubelet's additions do not break a pull.

use crate::registry::{DOCKER_HUB, Registry};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};

/// The API group of requests and responses.
pub const GROUP: &str = "credentialprovider.kubelet.k8s.io";
/// The versions of the group this provider speaks (the shapes are the same).
pub const VERSIONS: [&str; 3] = ["v1", "v1beta1", "v1alpha1"];
const REQUEST_KIND: &str = "CredentialProviderRequest";
const RESPONSE_KIND: &str = "CredentialProviderResponse";

/// The key the kubelet's keyring uses for Docker Hub: it matches every Hub image form
/// (`nginx`, `library/nginx`, `docker.io/library/nginx`, `index.docker.io/...`).
const DOCKER_HUB_AUTH_KEY: &str = "index.docker.io";

/// Why a request cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("the request on stdin is not a CredentialProviderRequest in JSON: {0}")]
    Json(String),
    #[error("the request has no `{0}` field; the kubelet sends kind, apiVersion and image")]
    Missing(&'static str),
    #[error("the request's kind is {0:?}; expected \"CredentialProviderRequest\"")]
    Kind(String),
    #[error(
        "the request's apiVersion {0:?} is not supported; expected credentialprovider.kubelet.k8s.io/v1 (or v1beta1, v1alpha1)"
    )]
    ApiVersion(String),
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// Why an image reference does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the image {image:?} is not a valid image reference: {reason}; expected host[:port]/path, e.g. \"123456789012.dkr.ecr.us-west-2.amazonaws.com/app\""
)]
pub struct ImageError {
    image: String,
    reason: String,
}

/// A request as the kubelet sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    pub api_version: String,
    pub image: Image,
    pub service_account_token: Option<String>,
    pub service_account_annotations: BTreeMap<String, String>,
}

// By hand, so that the token never reaches a log line or a panic message.
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("api_version", &self.api_version)
            .field("image", &self.image)
            .field("service_account_token", &self.service_account_token.as_ref().map(|_| "<redacted>"))
            .field("service_account_annotations", &self.service_account_annotations)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest {
    kind: Option<String>,
    api_version: Option<String>,
    image: Option<String>,
    service_account_token: Option<String>,
    service_account_annotations: Option<BTreeMap<String, String>>,
}

/// Parses and checks a request.
pub fn read_request(input: &[u8]) -> Result<Request, RequestError> {
    let raw: RawRequest = serde_json::from_slice(input).map_err(|e| RequestError::Json(e.to_string()))?;
    let kind = raw.kind.ok_or(RequestError::Missing("kind"))?;
    if kind != REQUEST_KIND {
        return Err(RequestError::Kind(kind));
    }
    let api_version = raw.api_version.ok_or(RequestError::Missing("apiVersion"))?;
    let supported =
        api_version.split_once('/').is_some_and(|(group, version)| group == GROUP && VERSIONS.contains(&version));
    if !supported {
        return Err(RequestError::ApiVersion(api_version));
    }
    let image = Image::parse(&raw.image.ok_or(RequestError::Missing("image"))?)?;
    Ok(Request {
        api_version,
        image,
        service_account_token: raw.service_account_token.filter(|token| !token.is_empty()),
        service_account_annotations: raw.service_account_annotations.unwrap_or_default(),
    })
}

/// An image repository: its registry and its path, without tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub registry: Registry,
    pub path: String,
}

impl Image {
    /// Parses an image reference as Docker does: the first component is a registry if it
    /// has a `.` or `:`, is `localhost` or an IPv6 literal; otherwise the image is on Docker
    /// Hub (`nginx` is `docker.io/library/nginx`). A tag or digest is dropped.
    pub fn parse(reference: &str) -> Result<Image, ImageError> {
        let error = |reason: &str| ImageError { image: reference.to_string(), reason: reason.to_string() };
        if reference.is_empty() {
            return Err(error("it is empty"));
        }
        if reference.contains("://") {
            return Err(error("it has a scheme"));
        }
        if reference.len() > 4096 {
            return Err(error("it is longer than 4096 characters"));
        }
        let name = match reference.split_once('@') {
            Some((name, digest)) if digest.split_once(':').is_some_and(|(a, h)| !a.is_empty() && !h.is_empty()) => name,
            Some(_) => return Err(error("the digest after `@` is not algorithm:hex")),
            None => reference,
        };
        let (domain, remainder) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" || first.starts_with('[') => {
                (first, rest.to_string())
            }
            Some(_) => (DOCKER_HUB, name.to_string()),
            None => (DOCKER_HUB, format!("library/{name}")),
        };
        // A tag is a `:` in the last path component.
        let path = match remainder.rsplit_once('/').map_or(remainder.as_str(), |(_, last)| last).rsplit_once(':') {
            Some((_, tag)) if valid_tag(tag) => &remainder[..remainder.len() - tag.len() - 1],
            Some(_) => return Err(error("the tag is not 1 to 128 letters, digits, `_`, `.` or `-`")),
            None => remainder.as_str(),
        };
        if path.split('/').any(|component| !valid_path_component(component)) {
            return Err(error(
                "a path component is empty or not lower-case letters and digits separated by `.`, `_`, `__` or `-`",
            ));
        }
        let registry = Registry::parse(domain).map_err(|_| error("the registry host or port is invalid"))?;
        let path = if registry.host() == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        Ok(Image { registry, path })
    }
}

impl fmt::Display for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

fn valid_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !tag.starts_with(['.', '-'])
}

/// A path component as the distribution reference grammar has it:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(&bytes[0]) || !alnum(&bytes[bytes.len() - 1]) {
        return false;
    }
    let mut separator = String::new();
    for &b in bytes {
        if alnum(&b) {
            let ok = separator.is_empty()
                || separator == "."
                || separator == "_"
                || separator == "__"
                || separator.bytes().all(|s| s == b'-');
            if !ok {
                return false;
            }
            separator.clear();
        } else if b"._-".contains(&b) {
            separator.push(b as char);
        } else {
            return false;
        }
    }
    true
}

/// How the kubelet keys its cache of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CacheKeyType {
    /// Per image repository.
    Image,
    /// Per registry `host[:port]`.
    Registry,
}

/// A user name and password for the kubelet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthConfig {
    pub username: String,
    pub password: String,
}

/// A response to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub api_version: String,
    pub cache_key_type: CacheKeyType,
    /// Seconds the kubelet may reuse the answer; `None` leaves it to the provider's
    /// `defaultCacheDuration`.
    pub cache_duration: Option<u64>,
    pub auth: BTreeMap<String, AuthConfig>,
}

impl Response {
    /// No credentials: the kubelet pulls without any (anonymously or with other sources),
    /// and asks again on the next pull.
    pub fn empty(api_version: &str) -> Response {
        Response {
            api_version: api_version.to_string(),
            cache_key_type: CacheKeyType::Registry,
            cache_duration: Some(0),
            auth: BTreeMap::new(),
        }
    }

    /// Credentials for `image`: the auth key covers its registry (or, for an answer
    /// specific to the image, that image repository).
    pub fn credentials(
        request: &Request,
        scope: CacheKeyType,
        cache_duration: Option<u64>,
        auth: AuthConfig,
    ) -> Response {
        let key = auth_key(&request.image, scope);
        Response {
            api_version: request.api_version.clone(),
            cache_key_type: scope,
            cache_duration,
            auth: BTreeMap::from([(key, auth)]),
        }
    }
}

/// The `auth` key for `image`: a pattern the kubelet's keyring matches against exactly the
/// registry (same host labels, same port) or, for [`CacheKeyType::Image`], the images whose
/// repository starts with this one.
pub fn auth_key(image: &Image, scope: CacheKeyType) -> String {
    match scope {
        CacheKeyType::Registry if image.registry.host() == DOCKER_HUB => DOCKER_HUB_AUTH_KEY.to_string(),
        CacheKeyType::Registry => image.registry.to_string(),
        CacheKeyType::Image => image.to_string(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RawResponse<'a> {
    kind: &'static str,
    api_version: &'a str,
    cache_key_type: CacheKeyType,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_duration: Option<String>,
    auth: &'a BTreeMap<String, AuthConfig>,
}

/// Writes `response` as one line of JSON.
pub fn write_response(out: &mut impl Write, response: &Response) -> io::Result<()> {
    let raw = RawResponse {
        kind: RESPONSE_KIND,
        api_version: &response.api_version,
        cache_key_type: response.cache_key_type,
        cache_duration: response.cache_duration.map(go_duration),
        auth: &response.auth,
    };
    serde_json::to_writer(&mut *out, &raw)?;
    writeln!(out)
}

/// Whole seconds as Go's `time.Duration.String()` writes them: `0s`, `45s`, `1m30s`, `6h0m0s`.
pub fn go_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(reference: &str) -> String {
        Image::parse(reference).map(|i| i.to_string()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn image_references_parse_as_docker_parses_them() {
        for (reference, expected) in [
            ("123456789012.dkr.ecr.us-west-2.amazonaws.com/app", "123456789012.dkr.ecr.us-west-2.amazonaws.com/app"),
            ("myreg.azurecr.io/team/app:v1.2", "myreg.azurecr.io/team/app"),
            ("europe-west3-docker.pkg.dev/p/r/img@sha256:abcd", "europe-west3-docker.pkg.dev/p/r/img"),
            ("gcr.io/p/img:tag@sha256:abcd", "gcr.io/p/img"),
            ("docker.io/library/nginx", "docker.io/library/nginx"),
            ("index.docker.io/library/nginx", "docker.io/library/nginx"),
            ("docker.io/nginx", "docker.io/library/nginx"),
            ("nginx", "docker.io/library/nginx"),
            ("nginx:1.27", "docker.io/library/nginx"),
            ("bitnami/redis", "docker.io/bitnami/redis"),
            ("localhost/app", "localhost/app"),
            ("localhost:5000/a/b", "localhost:5000/a/b"),
            ("127.0.0.1:5000/app:1", "127.0.0.1:5000/app"),
            ("[::1]:5000/app", "[::1]:5000/app"),
            ("Registry.Example.COM/app", "registry.example.com/app"),
            ("r.example.com/a__b/c-d--e/f.g_h", "r.example.com/a__b/c-d--e/f.g_h"),
        ] {
            assert_eq!(image(reference), expected, "{reference}");
        }
    }

    #[test]
    fn bad_image_references_say_why() {
        for (reference, reason) in [
            ("", "it is empty"),
            ("https://gcr.io/p/img", "it has a scheme"),
            (
                "gcr.io/p/Img",
                "a path component is empty or not lower-case letters and digits separated by `.`, `_`, `__` or `-`",
            ),
            (
                "gcr.io//img",
                "a path component is empty or not lower-case letters and digits separated by `.`, `_`, `__` or `-`",
            ),
            (
                "gcr.io/p/img/",
                "a path component is empty or not lower-case letters and digits separated by `.`, `_`, `__` or `-`",
            ),
            (
                "gcr.io/a___b",
                "a path component is empty or not lower-case letters and digits separated by `.`, `_`, `__` or `-`",
            ),
            (
                "gcr.io/a._b",
                "a path component is empty or not lower-case letters and digits separated by `.`, `_`, `__` or `-`",
            ),
            ("gcr.io/img:", "the tag is not 1 to 128 letters, digits, `_`, `.` or `-`"),
            (
                "gcr.io/img:a/b",
                "a path component is empty or not lower-case letters and digits separated by `.`, `_`, `__` or `-`",
            ),
            ("gcr.io/img@sha256", "the digest after `@` is not algorithm:hex"),
            ("gcr.io:99999/img", "the registry host or port is invalid"),
            ("bad host.io/img", "the registry host or port is invalid"),
        ] {
            let error = Image::parse(reference).unwrap_err();
            assert_eq!(error, ImageError { image: reference.into(), reason: reason.into() }, "{reference}");
        }
        assert_eq!(
            Image::parse("gcr.io/p/Img").unwrap_err().to_string(),
            "the image \"gcr.io/p/Img\" is not a valid image reference: a path component is empty or not lower-case letters and digits separated by `.`, `_`, `__` or `-`; expected host[:port]/path, e.g. \"123456789012.dkr.ecr.us-west-2.amazonaws.com/app\""
        );
    }

    #[test]
    fn requests_are_checked() {
        let ok = br#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"gcr.io/p/img","serviceAccountToken":"tok","serviceAccountAnnotations":{"b":"2","a":"1"},"futureField":true}"#;
        let request = read_request(ok).unwrap();
        assert_eq!(request.api_version, "credentialprovider.kubelet.k8s.io/v1");
        assert_eq!(request.image.to_string(), "gcr.io/p/img");
        assert_eq!(request.service_account_token.as_deref(), Some("tok"));
        assert_eq!(
            request.service_account_annotations,
            BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())])
        );
        assert!(!format!("{request:?}").contains("tok\""), "{request:?}");
        let beta = br#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","image":"nginx"}"#;
        let request = read_request(beta).unwrap();
        assert_eq!(
            (request.image.to_string().as_str(), request.service_account_token),
            ("docker.io/library/nginx", None)
        );

        let v1 = r#""apiVersion":"credentialprovider.kubelet.k8s.io/v1""#;
        for (input, error) in [
            ("", RequestError::Json("EOF while parsing a value at line 1 column 0".into())),
            (
                r#""text""#,
                RequestError::Json(
                    r#"invalid type: string "text", expected struct RawRequest at line 1 column 6"#.into(),
                ),
            ),
            (&format!(r#"{{{v1},"image":"x.io/a"}}"#), RequestError::Missing("kind")),
            (r#"{"kind":"CredentialProviderRequest","image":"x.io/a"}"#, RequestError::Missing("apiVersion")),
            (&format!(r#"{{"kind":"CredentialProviderRequest",{v1}}}"#), RequestError::Missing("image")),
            (
                &format!(r#"{{"kind":"CredentialProviderResponse",{v1},"image":"x.io/a"}}"#),
                RequestError::Kind("CredentialProviderResponse".into()),
            ),
            (
                r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v2","image":"x.io/a"}"#,
                RequestError::ApiVersion("credentialprovider.kubelet.k8s.io/v2".into()),
            ),
            (
                r#"{"kind":"CredentialProviderRequest","apiVersion":"kubelet.config.k8s.io/v1","image":"x.io/a"}"#,
                RequestError::ApiVersion("kubelet.config.k8s.io/v1".into()),
            ),
        ] {
            assert_eq!(read_request(input.as_bytes()).unwrap_err(), error, "{input}");
        }
        assert!(matches!(
            read_request(format!(r#"{{"kind":"CredentialProviderRequest",{v1},"image":"x.io/A"}}"#).as_bytes()),
            Err(RequestError::Image(_))
        ));
    }

    #[test]
    fn responses_carry_only_documented_fields() {
        let request = read_request(
            br#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"r.example.com:5000/team/app"}"#,
        )
        .unwrap();
        let auth = AuthConfig { username: "u".into(), password: "p<&>".into() };
        let mut out = Vec::new();
        write_response(&mut out, &Response::credentials(&request, CacheKeyType::Registry, Some(21600), auth.clone()))
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Registry","cacheDuration":"6h0m0s","auth":{"r.example.com:5000":{"username":"u","password":"p<&>"}}}"#.to_string() + "\n"
        );
        let mut out = Vec::new();
        write_response(&mut out, &Response::credentials(&request, CacheKeyType::Image, None, auth)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Image","auth":{"r.example.com:5000/team/app":{"username":"u","password":"p<&>"}}}"#.to_string() + "\n"
        );
        let mut out = Vec::new();
        write_response(&mut out, &Response::empty("credentialprovider.kubelet.k8s.io/v1beta1")).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","cacheKeyType":"Registry","cacheDuration":"0s","auth":{}}"#.to_string() + "\n"
        );
    }

    #[test]
    fn docker_hub_is_keyed_as_the_kubelet_keyring_expects() {
        let hub = Image::parse("nginx").unwrap();
        assert_eq!(auth_key(&hub, CacheKeyType::Registry), "index.docker.io");
        assert_eq!(auth_key(&hub, CacheKeyType::Image), "docker.io/library/nginx");
        let ecr = Image::parse("123456789012.dkr.ecr.us-west-2.amazonaws.com/app").unwrap();
        assert_eq!(auth_key(&ecr, CacheKeyType::Registry), "123456789012.dkr.ecr.us-west-2.amazonaws.com");
    }

    #[test]
    fn durations_are_written_as_go_writes_them() {
        for (seconds, text) in [
            (0, "0s"),
            (1, "1s"),
            (59, "59s"),
            (60, "1m0s"),
            (90, "1m30s"),
            (3599, "59m59s"),
            (3600, "1h0m0s"),
            (21600, "6h0m0s"),
            (43201, "12h0m1s"),
            (90061, "25h1m1s"),
        ] {
            assert_eq!(go_duration(seconds), text);
        }
    }
}
