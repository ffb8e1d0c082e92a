//! Network grants and request targets, any text: a grant parses or is refused; a target
//! normalises or is refused; and the target the egress check allows is the one sent: the
//! URL built from it names the same origin and path when parsed again (as the sender's
//! HTTP client parses it), so a grant allows the sent request exactly when it allowed the
//! checked one.
#![no_main]

use host_core::grants::network::{NetworkGrant, TargetHost, target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(4, '\n');
    let (Some(grant), Some(scheme), Some(authority)) = (parts.next(), parts.next(), parts.next()) else { return };
    let path = parts.next().unwrap_or_default();
    let grant = NetworkGrant::parse(grant);
    let Ok(checked) = target(scheme, authority, path) else { return };
    let url = checked.url();
    let sent = url::Url::parse(&url).unwrap_or_else(|e| panic!("the URL to send, {url:?}, does not parse: {e}"));
    let host = sent.host_str().expect("the URL to send has a host");
    assert_eq!(host, checked.host.to_string(), "{url}");
    assert_eq!(sent.port_or_known_default(), Some(checked.port), "{url}");
    assert_eq!(sent.path(), checked.path, "{url}");
    assert_eq!(sent.query(), checked.query.as_deref(), "{url}");
    // The sent URL's own target is the checked one: normalising is done once and for all.
    let authority = match sent.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let query = sent.query().map(|q| format!("?{q}")).unwrap_or_default();
    let again =
        target(sent.scheme(), &authority, &format!("{}{query}", sent.path())).expect("the sent URL is a valid target");
    assert_eq!(again, checked, "{url}");
    if let Ok(grant) = grant {
        assert_eq!(grant.allows(&again), grant.allows(&checked));
        // A name that is an address in disguise is checked as the address.
        if let TargetHost::Name(name) = &checked.host {
            assert!(name.parse::<std::net::IpAddr>().is_err(), "{name} is an address");
        }
    }
});
