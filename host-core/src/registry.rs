//! Registry keys: turns whatever a client sends as a "server URL" into the one key that
//! routing, caching and plugins use, `host[:port]` in lower case. Pure.
//!
//! Clients disagree on the spelling: the Docker CLI sends `https://index.docker.io/v1/` for
//! Docker Hub and a bare `host[:port]` otherwise; containers/image sends `docker.io`; older
//! configs carry `https://host/v2/` or `http://host:5000`. All Docker Hub spellings become
//! `docker.io`.

use std::fmt;

/// The canonical key of Docker Hub.
pub const DOCKER_HUB: &str = "docker.io";
/// The server URL the Docker CLI names Docker Hub by (its key in `credHelpers` and `auths`).
pub const DOCKER_HUB_SERVER_URL: &str = "https://index.docker.io/v1/";

/// Host names that all mean Docker Hub.
const DOCKER_HUB_ALIASES: [&str; 4] =
    ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"];

/// A normalised registry: lower-case host (IPv6 in brackets) and an optional port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Registry {
    host: String,
    port: Option<u16>,
}

/// Why a server URL names no registry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("the server URL is empty")]
    Empty,
    #[error("the server URL {0:?} has scheme {1:?}; only http and https name a registry")]
    Scheme(String, String),
    #[error("the server URL {0:?} carries a user name; give only host[:port]")]
    UserInfo(String),
    #[error("the server URL {0:?} has an invalid port; expected a number from 1 to 65535")]
    Port(String),
    #[error("the server URL {0:?} has an invalid host name")]
    Host(String),
}

impl Registry {
    /// Parses a server URL as clients send it: optional `http://`/`https://`, host, optional
    /// `:port`, optional path (ignored).
    pub fn parse(server_url: &str) -> Result<Registry, RegistryError> {
        let input = server_url.trim();
        if input.is_empty() {
            return Err(RegistryError::Empty);
        }
        let rest = match input.find("://") {
            Some(i) => {
                let scheme = &input[..i];
                if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
                    return Err(RegistryError::Scheme(input.into(), scheme.into()));
                }
                &input[i + 3..]
            }
            None => input,
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(RegistryError::UserInfo(input.into()));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| RegistryError::Port(input.into()))?;
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        if !valid_host(&host) {
            return Err(RegistryError::Host(input.into()));
        }
        let host = if DOCKER_HUB_ALIASES.contains(&host.as_str()) { DOCKER_HUB.to_string() } else { host };
        Ok(Registry { host, port })
    }

    /// The host, lower case, IPv6 literals in brackets.
    /// Whether this is Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.host() == DOCKER_HUB && self.port().is_none()
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, if the server URL named one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// Splits `host[:port]` (IPv6 as `[addr]:port`). `None` when the port is not a valid port.
pub fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let (host, rest) = authority.split_at(end + 1);
                match rest.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None if rest.is_empty() => (host, None),
                    None => return None,
                }
            }
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    match port {
        None => Some((host, None)),
        Some(port) => match port.parse::<u16>() {
            Ok(number) if number > 0 && number.to_string() == port => Some((host, Some(number))),
            _ => None,
        },
    }
}

/// A DNS name (letters, digits, `-`, `_`, dot-separated non-empty labels), an IPv4
/// address or a bracketed IPv6 address.
fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        Registry::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_hub_spellings_are_one_key() {
        for s in [
            "https://index.docker.io/v1/",
            "docker.io",
            "index.docker.io",
            "https://registry-1.docker.io/v2/",
            "Registry.Hub.Docker.com",
            "http://docker.io/",
        ] {
            assert_eq!(key(s), "docker.io", "{s}");
        }
    }

    #[test]
    fn scheme_path_case_and_trailing_dot_are_dropped_port_kept() {
        assert_eq!(key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(key("https://Registry.Example.COM:5000/v2/foo"), "registry.example.com:5000");
        assert_eq!(key("HTTP://localhost:5000"), "localhost:5000");
        assert_eq!(key("123456789012.dkr.ecr.us-east-1.amazonaws.com"), "123456789012.dkr.ecr.us-east-1.amazonaws.com");
        assert_eq!(key("gcr.io."), "gcr.io");
        assert_eq!(key("[::1]:5000"), "[::1]:5000");
        assert_eq!(key("https://[::1]/v2/"), "[::1]");
        assert_eq!(key("host:443"), "host:443");
        assert_eq!(key("my_registry.local?x"), "my_registry.local");
    }

    #[test]
    fn bad_server_urls_name_the_problem() {
        assert_eq!(Registry::parse(" "), Err(RegistryError::Empty));
        assert_eq!(Registry::parse("ftp://host"), Err(RegistryError::Scheme("ftp://host".into(), "ftp".into())));
        assert_eq!(Registry::parse("https://u:p@host"), Err(RegistryError::UserInfo("https://u:p@host".into())));
        for bad_port in ["host:0", "host:65536", "host:http", "host:", "host:+5", "host:05000"] {
            assert_eq!(Registry::parse(bad_port), Err(RegistryError::Port(bad_port.into())), "{bad_port}");
        }
        for bad_host in ["ho st", "a..b", "[zz]:5", "exa\u{e9}mple.com", ":5000"] {
            assert!(Registry::parse(bad_host).is_err(), "{bad_host}");
        }
        assert_eq!(
            RegistryError::Scheme("ftp://host".into(), "ftp".into()).to_string(),
            "the server URL \"ftp://host\" has scheme \"ftp\"; only http and https name a registry"
        );
    }
}
