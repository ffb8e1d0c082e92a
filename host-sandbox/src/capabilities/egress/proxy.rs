//! Which proxy carries a request: `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` (either case)
//! unless `NO_PROXY` exempts the target, as curl reads them. Decided here, explicitly, so the
//! grant is always checked against the target and the host knows when it must not resolve
//! the target itself. Pure over the environment it is given.

use super::grant::{Target, TargetHost};
use ipnet::IpNet;
use std::net::IpAddr;

/// The proxy settings read from an environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    http: Option<String>,
    https: Option<String>,
    no_proxy: Vec<String>,
}

impl ProxyEnv {
    /// Reads the proxy variables through `lookup` (lower case wins, as in curl).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> ProxyEnv {
        let var = |name: &str| {
            lookup(&name.to_ascii_lowercase())
                .or_else(|| lookup(name))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let all = var("ALL_PROXY");
        ProxyEnv {
            http: var("HTTP_PROXY").or(all.clone()),
            https: var("HTTPS_PROXY").or(all),
            no_proxy: var("NO_PROXY")
                .map(|list| list.split(',').map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()).collect())
                .unwrap_or_default(),
        }
    }

    /// The proxy URL for `target`, or `None` for a direct connection. This machine's own
    /// addresses are never proxied, `NO_PROXY` or not (as Go's rules, which the other
    /// helpers use, never proxy loopback): loopback (`127.0.0.0/8`, `::1`, `localhost`,
    /// `*.localhost`), where local identity agents listen, and link-local addresses, where
    /// instance metadata and container credential endpoints live. A proxy elsewhere would
    /// receive their secrets in plain text and answer from its own loopback or link; a proxy
    /// on another instance would answer with that instance's identity.
    pub fn proxy_for(&self, target: &Target) -> Option<String> {
        let proxy = if target.https { self.https.as_ref() } else { self.http.as_ref() }?;
        if is_this_machine(&target.host) || self.no_proxy.iter().any(|entry| exempts(entry, target)) {
            return None;
        }
        Some(proxy.clone())
    }
}

/// Whether requests to `host` stay on this machine: loopback or link-local addresses, and
/// the `localhost` names.
fn is_this_machine(host: &TargetHost) -> bool {
    match host {
        TargetHost::Ip(ip) => is_node_local(*ip),
        TargetHost::Name(name) => name == "localhost" || name.ends_with(".localhost"),
    }
}

/// Loopback (127.0.0.0/8, ::1), link-local (169.254.0.0/16, fe80::/10) and AWS's IPv6
/// metadata range (fd00:ec2::/32): addresses only this machine can serve.
pub fn is_node_local(ip: IpAddr) -> bool {
    const RANGES: [&str; 5] = ["127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "fd00:ec2::/32"];
    RANGES.iter().any(|range| range.parse::<IpNet>().is_ok_and(|net| net.contains(&ip)))
}

/// `url` without its user info (`http://alice:secret@proxy:3128` is `http://proxy:3128`), for
/// log lines: a proxy's password never reaches the log.
pub fn without_user_info(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").map_or(("", url), |(s, r)| (s, r));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let scheme = if scheme.is_empty() { String::new() } else { format!("{scheme}://") };
    format!("{scheme}{host}{tail}")
}

/// Whether one `NO_PROXY` entry exempts `target`: `*`, a domain suffix (`example.com`,
/// `.example.com`, `*.example.com`), an address or a CIDR range, optionally with `:port`.
fn exempts(entry: &str, target: &Target) -> bool {
    if entry == "*" {
        return true;
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (host, port.parse::<u16>().ok()),
        _ => (entry, None),
    };
    if port.is_some_and(|port| port != target.port) {
        return false;
    }
    let host = host.trim_start_matches("*.").trim_start_matches('.').trim_start_matches('[').trim_end_matches(']');
    match &target.host {
        TargetHost::Name(name) => {
            name == host
                || (name.len() > host.len() && name.ends_with(host) && name[..name.len() - host.len()].ends_with('.'))
        }
        TargetHost::Ip(ip) => match host.parse::<IpNet>() {
            Ok(net) => net.contains(ip),
            Err(_) => host.parse::<std::net::IpAddr>().is_ok_and(|address| &address == ip),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use host_core::grants::network::target;

    fn env(vars: &'static [(&'static str, &'static str)]) -> ProxyEnv {
        ProxyEnv::from_env(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    fn proxied(proxies: &ProxyEnv, url: &str) -> Option<String> {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
        proxies.proxy_for(&target(scheme, authority, path).unwrap())
    }

    #[test]
    fn scheme_specific_proxies_and_all_proxy() {
        let proxies = env(&[("HTTPS_PROXY", "http://proxy:3128"), ("http_proxy", "http://plain:8080")]);
        assert_eq!(proxied(&proxies, "https://api.example.com"), Some("http://proxy:3128".into()));
        assert_eq!(proxied(&proxies, "http://api.example.com"), Some("http://plain:8080".into()));
        let all = env(&[("ALL_PROXY", "http://all:1")]);
        assert_eq!(proxied(&all, "http://x.example"), Some("http://all:1".into()));
        assert_eq!(proxied(&env(&[]), "https://x.example"), None);
        let lower_wins = env(&[("HTTPS_PROXY", "http://upper:1"), ("https_proxy", "http://lower:1")]);
        assert_eq!(proxied(&lower_wins, "https://x.example"), Some("http://lower:1".into()));
    }

    #[test]
    fn no_proxy_exempts_suffixes_addresses_ranges_and_ports() {
        let proxies = env(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("HTTP_PROXY", "http://p:1"),
            ("NO_PROXY", "internal.example, .corp.example,169.254.169.254,10.0.0.0/8,[::1],metadata:8080"),
        ]);
        assert_eq!(proxied(&proxies, "https://internal.example"), None);
        assert_eq!(proxied(&proxies, "https://a.internal.example"), None);
        assert_eq!(proxied(&proxies, "https://notinternal.example"), Some("http://p:1".into()));
        assert_eq!(proxied(&proxies, "https://x.corp.example"), None);
        assert_eq!(proxied(&proxies, "http://169.254.169.254"), None);
        assert_eq!(proxied(&proxies, "http://10.2.3.4"), None);
        assert_eq!(proxied(&proxies, "http://[::1]"), None);
        assert_eq!(proxied(&proxies, "http://metadata:8080"), None);
        assert_eq!(proxied(&proxies, "http://metadata"), Some("http://p:1".into()));
        assert_eq!(proxied(&env(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", "*")]), "https://x.example"), None);
    }

    #[test]
    fn this_machines_addresses_are_never_proxied() {
        let proxies = env(&[("HTTP_PROXY", "http://p:1"), ("HTTPS_PROXY", "http://p:1")]);
        for direct in [
            "http://169.254.169.254",
            "http://169.254.170.2",
            "http://[fe80::1]",
            "http://[fd00:ec2::254]",
            "http://127.0.0.1:40342",
            "http://127.1.2.3",
            "http://[::1]:8080",
            "http://localhost:40342",
            "http://LOCALHOST.",
            "https://identity.localhost",
            "http://[::ffff:127.0.0.1]",
        ] {
            assert_eq!(proxied(&proxies, direct), None, "{direct}");
        }
        for proxied_target in [
            "http://169.255.0.1",
            "http://[fd00:ec3::1]",
            "http://metadata.google.internal",
            "http://localhost.example.com",
            "http://notlocalhost",
            "http://128.0.0.1",
        ] {
            assert_eq!(proxied(&proxies, proxied_target), Some("http://p:1".into()), "{proxied_target}");
        }
    }

    #[test]
    fn user_info_is_removed_from_proxy_urls() {
        assert_eq!(without_user_info("http://alice:s3cret@proxy.corp:3128"), "http://proxy.corp:3128");
        assert_eq!(without_user_info("http://a@b:c@proxy:1/path"), "http://proxy:1/path");
        assert_eq!(without_user_info("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(without_user_info("user:pw@proxy:3128"), "proxy:3128");
    }
}
