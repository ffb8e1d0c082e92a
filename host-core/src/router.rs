//! Routing: which plugin serves a registry. Pure.
//!
//! A route pattern is `host[:port]` where any label of the host may contain `*`, which
//! matches any run of characters inside that one label (never a dot), as the kubelet's
//! `matchImages` globs do: `*.azurecr.io` matches `myreg.azurecr.io` but not `azurecr.io`
//! or `a.b.azurecr.io`; `*-docker.pkg.dev` matches `europe-west3-docker.pkg.dev`. The
//! pattern and the registry must have the same number of labels and the same port (no
//! port matches only a registry named without one). When several patterns match, the most
//! specific wins: fewest `*`, then most literal characters, then the lexically first.

use crate::registry::{Registry, split_host_port};
use std::cmp::Reverse;
use std::fmt;

/// A validated route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    labels: Vec<String>,
    port: Option<u16>,
}

/// Why a route pattern is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid route pattern {pattern:?}: {reason}; expected host[:port] with `*` inside host labels, e.g. \"*.azurecr.io\" or \"127.0.0.1:5000\""
)]
pub struct PatternError {
    pattern: String,
    reason: &'static str,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let error = |reason| PatternError { pattern: text.to_string(), reason };
        if text.contains("://") || text.contains('/') {
            return Err(error("no scheme or path is allowed"));
        }
        let (host, port) = split_host_port(text).ok_or_else(|| error("the port is not a number from 1 to 65535"))?;
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        if host.is_empty() {
            return Err(error("the host is empty"));
        }
        let labels: Vec<String> = if host.starts_with('[') {
            if host.contains('*') {
                return Err(error("an IPv6 address cannot contain `*`"));
            }
            // Same validation as a registry so that the pattern can ever match.
            Registry::parse(&host).map_err(|_| error("the IPv6 address is invalid"))?;
            vec![host]
        } else {
            host.split('.').map(str::to_string).collect()
        };
        for label in &labels {
            let valid = !label.is_empty()
                && (label.starts_with('[')
                    || label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*'));
            if !valid {
                return Err(error(
                    "a host label is empty or has a character other than letters, digits, `-`, `_` and `*`",
                ));
            }
        }
        Ok(Pattern { text: text.to_ascii_lowercase(), labels, port })
    }

    /// Whether this pattern serves `registry`.
    pub fn matches(&self, registry: &Registry) -> bool {
        if self.port != registry.port() {
            return false;
        }
        let host = registry.host();
        if host.starts_with('[') {
            return self.labels.len() == 1 && self.labels[0] == host;
        }
        let mut labels = host.split('.');
        let same_count = host.split('.').count() == self.labels.len();
        same_count && self.labels.iter().all(|pattern| labels.next().is_some_and(|label| glob(pattern, label)))
    }

    /// Whether the pattern names exactly one registry (no `*`).
    pub fn is_exact(&self) -> bool {
        !self.text.contains('*')
    }

    fn specificity(&self) -> (Reverse<usize>, usize) {
        let wildcards = self.text.matches('*').count();
        (Reverse(wildcards), self.text.len() - wildcards)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `*` matches any run of characters (within one label, the caller splits on dots).
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// One route: registries matching `pattern` go to the plugin `plugin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub pattern: Pattern,
    pub plugin: String,
}

/// The routing table, most specific pattern first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(mut routes: Vec<Route>) -> Router {
        routes.sort_by(|a, b| {
            b.pattern.specificity().cmp(&a.pattern.specificity()).then_with(|| a.pattern.text.cmp(&b.pattern.text))
        });
        Router { routes }
    }

    /// The route serving `registry`, if any.
    pub fn route(&self, registry: &Registry) -> Option<&Route> {
        self.routes.iter().find(|route| route.pattern.matches(registry))
    }

    /// All routes, most specific first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(s: &str) -> Registry {
        Registry::parse(s).unwrap()
    }

    fn matches(pattern: &str, server_url: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(&registry(server_url))
    }

    #[test]
    fn exact_patterns_need_the_same_host_and_port() {
        assert!(matches("127.0.0.1:5000", "127.0.0.1:5000"));
        assert!(matches("127.0.0.1:5000", "http://127.0.0.1:5000/v2/"));
        assert!(!matches("127.0.0.1:5000", "127.0.0.1:5001"));
        assert!(!matches("127.0.0.1:5000", "127.0.0.1"));
        assert!(!matches("localhost", "localhost:5000"));
        assert!(matches("Docker.IO", "https://index.docker.io/v1/"));
        assert!(matches("[::1]:5000", "[::1]:5000"));
    }

    #[test]
    fn a_star_stays_inside_one_label_and_never_matches_the_apex() {
        assert!(matches("*.azurecr.io", "myreg.azurecr.io"));
        assert!(!matches("*.azurecr.io", "azurecr.io"));
        assert!(!matches("*.azurecr.io", "a.b.azurecr.io"));
        assert!(!matches("*.azurecr.io", "evilazurecr.io"));
        assert!(!matches("*.azurecr.io", "myreg.azurecr.io.evil.net"));
        assert!(matches("*.dkr.ecr.*.amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com"));
        assert!(!matches("*.dkr.ecr.*.amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com.cn"));
        assert!(matches("*-docker.pkg.dev", "europe-west3-docker.pkg.dev"));
        assert!(!matches("*-docker.pkg.dev", "docker.pkg.dev"));
        assert!(matches("*-docker.pkg.dev", "-docker.pkg.dev"));
        assert!(matches("a*b*c.example", "abc.example"));
        assert!(matches("a*b*c.example", "a-x-b-y-c.example"));
        assert!(!matches("a*b*c.example", "a-c-b.example"));
        assert!(!matches("*.example:5000", "x.example"));
    }

    #[test]
    fn the_most_specific_route_wins() {
        let route = |p: &str, id: &str| Route { pattern: Pattern::parse(p).unwrap(), plugin: id.into() };
        let router = Router::new(vec![
            route("*.example.com", "wild"),
            route("*.*.com", "wilder"),
            route("special.example.com", "exact"),
            route("sp*.example.com", "prefix"),
        ]);
        let served = |s: &str| router.route(&registry(s)).map(|r| r.plugin.as_str());
        assert_eq!(served("special.example.com"), Some("exact"));
        assert_eq!(served("spare.example.com"), Some("prefix"));
        assert_eq!(served("other.example.com"), Some("wild"));
        assert_eq!(served("a.other.com"), Some("wilder"));
        assert_eq!(served("example.com"), None);
        assert_eq!(served("docker.io"), None);
    }

    #[test]
    fn bad_patterns_say_what_is_expected() {
        for bad in ["https://x.io", "x.io/v2", "x.io:99999", "", "a..b", "a b.io", "[::1*]", "*.io:"] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Pattern::parse("https://x.io").unwrap_err().to_string(),
            "invalid route pattern \"https://x.io\": no scheme or path is allowed; expected host[:port] with `*` inside host labels, e.g. \"*.azurecr.io\" or \"127.0.0.1:5000\""
        );
    }
}
