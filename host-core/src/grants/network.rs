//! Network grants and request targets, both normalised the WHATWG way (the `url` crate):
//! lower case, IDNA to punycode, one trailing dot dropped, IPv4 in any form (`127.1`,
//! `0x7f000001`, `2130706433`) as an address, IPv4-mapped IPv6 as IPv4. Pure.
//!
//! A grant is `scheme://host[:port][/path-prefix]`: scheme `http` or `https`; host a DNS
//! name, `*.` + a name (one or more further labels, never the name itself), a name with `*`
//! inside labels (`api.ecr.*.amazonaws.com`: the same number of labels, `*` matching within
//! one label; the last two labels literal), an IP address
//! (`[...]` for IPv6) or a CIDR range (`10.0.0.0/8`, `[fd00::]/8`); a missing port is the
//! scheme's default. Names never match IP targets and addresses never match names.

use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// What a grant allows for the host part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostGrant {
    /// Exactly this DNS name.
    Name(String),
    /// Any name with one or more labels in front of this suffix.
    Subdomains(String),
    /// Names with exactly these labels, where `*` in a label matches any run of characters
    /// inside that one label (`api.ecr.*.amazonaws.com`).
    Labels(Vec<String>),
    /// A range of addresses (a single address is a /32 or /128).
    Addresses(IpNet),
}

/// One network grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkGrant {
    pub text: String,
    pub https: bool,
    pub host: HostGrant,
    pub port: u16,
    pub path_prefix: Option<String>,
}

/// The grant in normal form (lower case, punycode, no default port, no `/` path): what
/// the host enforces, whatever the spelling it was written in.
impl fmt::Display for NetworkGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", if self.https { "https" } else { "http" })?;
        match &self.host {
            HostGrant::Name(name) => f.write_str(name)?,
            HostGrant::Subdomains(suffix) => write!(f, "*.{suffix}")?,
            HostGrant::Labels(labels) => f.write_str(&labels.join("."))?,
            HostGrant::Addresses(net) => match (net.addr(), net.prefix_len() == net.max_prefix_len()) {
                (IpAddr::V6(ip), true) => write!(f, "[{ip}]")?,
                (ip, true) => write!(f, "{ip}")?,
                (IpAddr::V6(ip), false) => write!(f, "[{ip}]/{}", net.prefix_len())?,
                (_, false) => write!(f, "{net}")?,
            },
        }
        if self.port != if self.https { 443 } else { 80 } {
            write!(f, ":{}", self.port)?;
        }
        f.write_str(self.path_prefix.as_deref().unwrap_or(""))
    }
}

/// The host of a request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    Name(String),
    Ip(IpAddr),
}

impl fmt::Display for TargetHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetHost::Name(name) => f.write_str(name),
            TargetHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            TargetHost::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Where a request goes, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: TargetHost,
    pub port: u16,
    /// The normalised path: the one checked and the one sent.
    pub path: String,
    /// The query, as the plugin wrote it (never logged: it may carry secrets).
    pub query: Option<String>,
}

impl Target {
    /// The scheme, `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// `scheme://host:port`, the form a grant for this target would take.
    pub fn origin(&self) -> String {
        format!("{}://{}:{}", self.scheme(), self.host, self.port)
    }

    /// The smallest grant that would allow this target (port omitted when it is the default).
    pub fn suggested_grant(&self) -> String {
        let default_port = if self.https { 443 } else { 80 };
        match self.port == default_port {
            true => format!("{}://{}", self.scheme(), self.host),
            false => self.origin(),
        }
    }

    /// The URL to send: the normalised origin and path, and the query.
    pub fn url(&self) -> String {
        match &self.query {
            Some(query) => format!("{}{}?{query}", self.origin(), self.path),
            None => format!("{}{}", self.origin(), self.path),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin(), self.path)
    }
}

/// Why a grant or a target is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

const GRANT_FORM: &str = "expected scheme://host[:port][/path], e.g. \"https://*.amazonaws.com\", \"http://169.254.169.254\" or \"https://10.0.0.0/8\"";

impl NetworkGrant {
    pub fn parse(text: &str) -> Result<NetworkGrant, Invalid> {
        let bad = |why: &str| Invalid(format!("invalid network grant {text:?}: {why}; {GRANT_FORM}"));
        let (scheme, rest) = text.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let https = match scheme {
            "https" => true,
            "http" => false,
            _ => return Err(bad("the scheme must be http or https")),
        };
        if rest.contains(['@', '?', '#']) {
            return Err(bad("user info, query and fragment are not allowed"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        let (host_text, port) = crate::registry::split_host_port(authority)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?;
        let port = port.unwrap_or(if https { 443 } else { 80 });
        if host_text.is_empty() {
            return Err(bad("the host is empty"));
        }
        if let Some(suffix) = host_text.strip_prefix("*.").filter(|suffix| !suffix.contains('*')) {
            let suffix = normalise_name(suffix).ok_or_else(|| bad("the wildcard suffix is not a DNS name"))?;
            if !suffix.contains('.') {
                return Err(bad("a wildcard needs a suffix of at least two labels"));
            }
            if path.is_some() {
                return Err(bad("a wildcard grant cannot have a path"));
            }
            return Ok(NetworkGrant {
                text: text.into(),
                https,
                host: HostGrant::Subdomains(suffix),
                port,
                path_prefix: None,
            });
        }
        if host_text.contains('*') {
            let host = host_text.strip_suffix('.').unwrap_or(host_text).to_ascii_lowercase();
            let labels: Vec<String> = host.split('.').map(str::to_string).collect();
            let valid = labels.len() >= 3
                && labels
                    .iter()
                    .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_*".contains(&b)))
                && labels[labels.len() - 2..].iter().all(|l| !l.contains('*'));
            if !valid {
                return Err(bad(
                    "`*` may stand for a whole first label (`*.example.com`) or for part of a label with the last two labels literal (`api.ecr.*.amazonaws.com`)",
                ));
            }
            if path.is_some() {
                return Err(bad("a wildcard grant cannot have a path"));
            }
            return Ok(NetworkGrant {
                text: text.into(),
                https,
                host: HostGrant::Labels(labels),
                port,
                path_prefix: None,
            });
        }
        let address = parse_ip(host_text);
        let host = match (address, path) {
            (Some(ip), Some(bits)) if bits.len() > 1 && bits[1..].bytes().all(|b| b.is_ascii_digit()) => {
                let prefix: u8 = bits[1..].parse().map_err(|_| bad("invalid CIDR prefix length"))?;
                let net = IpNet::new(ip, prefix).map_err(|_| bad("invalid CIDR prefix length"))?;
                if net.trunc() != net {
                    return Err(bad(&format!("the CIDR range has host bits set; write {}", net.trunc())));
                }
                HostGrant::Addresses(net)
            }
            (Some(ip), _) => HostGrant::Addresses(IpNet::from(ip)),
            (None, _) => HostGrant::Name(
                normalise_name(host_text).ok_or_else(|| bad("the host is not a DNS name or IP address"))?,
            ),
        };
        let path_prefix = match path {
            None | Some("/") => None,
            Some(_) if matches!(host, HostGrant::Addresses(net) if net.prefix_len() != net.max_prefix_len()) => None,
            Some(p) => {
                let normal = url::Url::parse(&format!("http://host{p}")).map_err(|_| bad("the path is not valid"))?;
                if normal.path() != p || p.split('/').any(hides_segments) {
                    return Err(bad(&format!("the path is not in normal form; write {:?}", normal.path())));
                }
                Some(p.to_string())
            }
        };
        Ok(NetworkGrant { text: text.into(), https, host, port, path_prefix })
    }

    /// Whether this grant allows `target`.
    pub fn allows(&self, target: &Target) -> bool {
        if self.https != target.https || self.port != target.port {
            return false;
        }
        let host = match (&self.host, &target.host) {
            (HostGrant::Name(name), TargetHost::Name(host)) => name == host,
            (HostGrant::Subdomains(suffix), TargetHost::Name(host)) => {
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix.as_str())
                    && host[..host.len() - suffix.len()].ends_with('.')
            }
            (HostGrant::Labels(labels), TargetHost::Name(host)) => {
                host.split('.').count() == labels.len()
                    && host.split('.').zip(labels).all(|(label, pattern)| crate::router::glob(pattern, label))
            }
            (HostGrant::Addresses(net), TargetHost::Ip(ip)) => net.contains(ip),
            _ => false,
        };
        host && self.path_prefix.as_deref().is_none_or(|prefix| path_within(&target.path, prefix))
    }

    /// Whether this grant names `ip` explicitly (an address or range) for `target`'s scheme,
    /// port and path, which is what makes a non-public address acceptable for a name that
    /// resolves to it: `https://127.0.0.1:9443` vets `localhost` for `https` on 9443 only.
    pub fn names_address(&self, target: &Target, ip: IpAddr) -> bool {
        self.https == target.https
            && self.port == target.port
            && matches!(&self.host, HostGrant::Addresses(net) if net.contains(&ip))
            && self.path_prefix.as_deref().is_none_or(|prefix| path_within(&target.path, prefix))
    }
}

/// `path` is `prefix` or below it (`/v2` allows `/v2` and `/v2/x`, not `/v20`).
fn path_within(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

/// Normalises a request's scheme, authority and path (with its query) the way a browser
/// would, once: the path a grant is checked against is the path that is sent. Dot segments
/// are resolved (`/a/./b/../c` is `/a/c`, `\` is `/`), and a path that a server could
/// decode into other segments than the ones checked (`%2e%2e`, `%2f`, `%5c` inside a
/// segment) is refused.
pub fn target(scheme: &str, authority: &str, path_and_query: &str) -> Result<Target, Invalid> {
    let https = match scheme {
        "https" => true,
        "http" => false,
        other => return Err(Invalid(format!("the scheme {other:?} is not http or https"))),
    };
    if authority.contains('@') {
        return Err(Invalid("the authority carries user info".to_string()));
    }
    if authority.is_empty() {
        return Err(Invalid("the request names no host".to_string()));
    }
    let path_and_query = if path_and_query.is_empty() { "/" } else { path_and_query };
    if !path_and_query.starts_with(['/', '?']) {
        return Err(Invalid("the path does not start with `/`".to_string()));
    }
    let url = url::Url::parse(&format!("{scheme}://{authority}{path_and_query}"))
        .map_err(|e| Invalid(format!("the authority {authority:?} is not valid: {e}")))?;
    let host = match url.host() {
        Some(url::Host::Domain(name)) => match parse_ip(name) {
            Some(ip) => TargetHost::Ip(ip),
            None => {
                // One trailing dot (the root) is the same name; an empty label is none, and
                // `1.2.3.4..` would be an address again once its dot is dropped.
                let name = name.strip_suffix('.').unwrap_or(name);
                if name.split('.').any(str::is_empty) {
                    return Err(Invalid(format!("the host name {name:?} has an empty label")));
                }
                TargetHost::Name(name.to_string())
            }
        },
        Some(url::Host::Ipv4(ip)) => TargetHost::Ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => TargetHost::Ip(unmap(ip)),
        None => return Err(Invalid(format!("the authority {authority:?} has no host"))),
    };
    let path = url.path().to_string();
    if let Some(segment) = path.split('/').find(|segment| hides_segments(segment)) {
        return Err(Invalid(format!(
            "the path segment {segment:?} encodes a dot segment, `/` or `\\`, which a server may decode into a path other than the one the grants were checked against"
        )));
    }
    let port = url.port_or_known_default().unwrap_or(if https { 443 } else { 80 });
    Ok(Target { https, host, port, path, query: url.query().map(str::to_string) })
}

/// Whether a (normalised) path segment, once percent-decoded, is `.` or `..` or holds a `/`
/// or `\`: what a server may see differently from the segments the host checked.
fn hides_segments(segment: &str) -> bool {
    if !segment.contains('%') {
        return false;
    }
    let decoded: Vec<u8> = percent_decode(segment.as_bytes());
    decoded == b"." || decoded == b".." || decoded.contains(&b'/') || decoded.contains(&b'\\')
}

/// `%XX` sequences decoded, repeatedly (a server that decodes twice sees `%252e` as `.`).
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut current = bytes.to_vec();
    for _ in 0..4 {
        let next = decode_once(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn decode_once(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16)).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            (b'%', Some(high), Some(low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

fn unmap(ip: Ipv6Addr) -> IpAddr {
    ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4)
}

/// An IPv4 address in any WHATWG form, or a bracketed IPv6 address.
fn parse_ip(text: &str) -> Option<IpAddr> {
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(unmap);
    }
    match url::Host::parse(text).ok()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        _ => None,
    }
}

/// A DNS name, WHATWG-normalised, trailing dot dropped; `None` if it is not a name.
fn normalise_name(text: &str) -> Option<String> {
    match url::Host::parse(text).ok()? {
        url::Host::Domain(name) => {
            let name = name.strip_suffix('.').unwrap_or(&name).to_string();
            let valid = !name.is_empty()
                && name
                    .split('.')
                    .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            valid.then_some(name)
        }
        _ => None,
    }
}

/// Whether `ip` is a public, globally routable address. Loopback, private, link-local,
/// CGNAT, unique-local, unspecified, broadcast, documentation, benchmarking, multicast and
/// reserved ranges are not.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || v6.segments()[..6] == [0, 0, 0, 0, 0, 0]
                || first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

#[cfg(test)]
mod tests;
