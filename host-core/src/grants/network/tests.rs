use super::*;

fn grant(text: &str) -> NetworkGrant {
    NetworkGrant::parse(text).unwrap()
}

fn allows(grant_text: &str, url: &str) -> bool {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    match target(scheme, authority, path) {
        Ok(target) => grant(grant_text).allows(&target),
        Err(_) => false,
    }
}

#[test]
fn names_match_exactly_after_normalisation() {
    assert!(allows("https://api.example.com", "https://api.example.com/x"));
    assert!(allows("https://api.example.com", "https://API.Example.COM/x"));
    assert!(allows("https://api.example.com", "https://api.example.com./x"));
    assert!(allows("https://API.example.com.", "https://api.example.com:443/"));
    assert!(!allows("https://api.example.com", "https://api.example.com:444/"));
    assert!(!allows("https://api.example.com", "http://api.example.com/"));
    assert!(!allows("http://api.example.com", "https://api.example.com:80/"));
    assert!(!allows("https://api.example.com", "https://api.example.com.evil.net/"));
    assert!(!allows("https://api.example.com", "https://evil.net/"));
    assert!(allows("https://bücher.example", "https://xn--bcher-kva.example/"));
}

#[test]
fn wildcards_match_one_or_more_labels_never_the_apex_or_siblings() {
    assert!(allows("https://*.amazonaws.com", "https://api.ecr.us-east-1.amazonaws.com/"));
    assert!(allows("https://*.amazonaws.com", "https://sts.amazonaws.com/"));
    assert!(!allows("https://*.amazonaws.com", "https://amazonaws.com/"));
    assert!(!allows("https://*.amazonaws.com", "https://evilamazonaws.com/"));
    assert!(!allows("https://*.amazonaws.com", "https://amazonaws.com.evil.net/"));
    assert!(!allows("https://*.amazonaws.com", "https://52.94.0.1/"));
    // `*` inside labels: the same number of labels, each glob within its label.
    assert!(allows("https://api.ecr.*.amazonaws.com", "https://api.ecr.us-west-2.amazonaws.com/"));
    assert!(allows("https://API.ECR.*.amazonaws.com", "https://api.ecr.cn-north-1.amazonaws.com/"));
    assert!(!allows("https://api.ecr.*.amazonaws.com", "https://api.ecr.a.b.amazonaws.com/"));
    assert!(!allows("https://api.ecr.*.amazonaws.com", "https://bucket.s3.us-west-2.amazonaws.com/"));
    assert!(!allows("https://api.ecr.*.amazonaws.com", "https://api.ecr.us-west-2.amazonaws.com.cn/"));
    assert!(!allows("https://api.ecr.*.amazonaws.com", "http://api.ecr.us-west-2.amazonaws.com/"));
    assert!(allows("https://*.dkr.ecr.*.amazonaws.com", "https://123.dkr.ecr.us-east-1.amazonaws.com/"));
    assert!(!allows("https://*.dkr.ecr.*.amazonaws.com", "https://a.123.dkr.ecr.us-east-1.amazonaws.com/"));
    assert!(allows("https://sts-*.*.amazonaws.com", "https://sts-fips.us-east-1.amazonaws.com/"));
}

#[test]
fn every_form_of_an_address_is_the_address() {
    for form in
        ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"]
    {
        assert!(allows("http://127.0.0.1", &format!("http://{form}/")), "{form}");
        assert!(!allows("http://localhost", &format!("http://{form}/")), "{form}");
        assert!(!allows("http://*.example.com", &format!("http://{form}/")), "{form}");
    }
    assert!(allows("http://[::1]", "http://[::1]/"));
    assert!(allows("http://[::1]", "http://[0:0:0:0:0:0:0:1]/"));
    assert!(!allows("http://127.0.0.1", "http://[::1]/"));
    assert!(!allows("http://127.0.0.1", "http://0.0.0.0/"));
    assert!(allows("http://169.254.169.254", "http://169.254.169.254/latest/api/token"));
}

/// Found by fuzzing (fuzz/regressions/egress_target): `28520391.%2E` was checked as the name
/// `28520391.`, which the sender's URL parser reads as the address 1.179.47.199.
#[test]
fn a_name_with_an_empty_label_is_refused_not_sent_as_an_address() {
    assert_eq!(
        target("http", "28520391.%2E", "/latest/api/token").unwrap_err(),
        Invalid("the host name \"28520391.\" has an empty label".into())
    );
    assert!(target("https", "a..example.com", "/").is_err());
    assert!(target("https", ".example.com", "/").is_err());
    assert_eq!(target("https", "example.com.", "/").unwrap().host, TargetHost::Name("example.com".into()));
    assert_eq!(target("http", "28520391.", "/").unwrap().host, TargetHost::Ip("1.179.47.199".parse().unwrap()));
}

#[test]
fn cidr_ranges_and_path_prefixes() {
    assert!(allows("https://10.0.0.0/8", "https://10.1.2.3/"));
    assert!(!allows("https://10.0.0.0/8", "https://11.0.0.1/"));
    assert!(allows("http://[fd00::]/8", "http://[fd00:ec2::254]/"));
    assert!(allows("https://login.example.com/tenant/", "https://login.example.com/tenant/oauth2/token"));
    assert!(allows("https://login.example.com/tenant", "https://login.example.com/tenant?x=1"));
    assert!(!allows("https://login.example.com/tenant", "https://login.example.com/tenant2"));
    assert!(!allows("https://login.example.com/tenant", "https://login.example.com/other"));
}

#[test]
fn userinfo_and_bad_schemes_are_not_targets() {
    assert!(target("https", "user@api.example.com", "/").is_err());
    assert!(target("https", "api.example.com:443@evil.net", "/").is_err());
    assert!(target("ftp", "api.example.com", "/").is_err());
    assert_eq!(target("https", "EXAMPLE.com", "/a?b").unwrap().to_string(), "https://example.com:443/a");
}

#[test]
fn bad_grants_say_what_is_expected() {
    for bad in [
        "api.example.com",
        "ftp://x.example",
        "https://u@x.example",
        "https://x.example:0",
        "https://x.example:99999",
        "https://*.com",
        "https://a*.com",
        "https://api.*.com",
        "https://api.ecr.*.amazonaws.com/v2",
        "https://*.example.com/path",
        "https://10.0.0.1/8",
        "https://10.0.0.0/33",
        "https://",
        "https://exa mple.com",
    ] {
        let error = NetworkGrant::parse(bad).unwrap_err().to_string();
        assert!(error.starts_with(&format!("invalid network grant {bad:?}: ")), "{error}");
        assert!(error.ends_with(GRANT_FORM), "{error}");
    }
    assert_eq!(
        NetworkGrant::parse("https://10.0.0.1/8").unwrap_err().to_string(),
        format!(
            "invalid network grant \"https://10.0.0.1/8\": the CIDR range has host bits set; write 10.0.0.0/8; {GRANT_FORM}"
        )
    );
}

#[test]
fn public_addresses_only() {
    for private in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:10.0.0.1",
        "2001:db8::1",
        "64:ff9b::a00:1",
    ] {
        assert!(!is_public(private.parse().unwrap()), "{private}");
    }
    for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
        assert!(is_public(public.parse().unwrap()), "{public}");
    }
}

#[test]
fn suggestions_are_the_smallest_grant() {
    assert_eq!(target("https", "evil.example", "/x").unwrap().suggested_grant(), "https://evil.example");
    assert_eq!(target("http", "127.0.0.1:8080", "/x").unwrap().suggested_grant(), "http://127.0.0.1:8080");
    assert_eq!(target("http", "[::1]", "/").unwrap().suggested_grant(), "http://[::1]");
}

#[test]
fn the_path_checked_is_the_path_sent() {
    let sent = |path: &str| target("https", "login.example.com", path).map(|t| t.url());
    assert_eq!(sent("/tenant/../admin/secret").unwrap(), "https://login.example.com:443/admin/secret");
    assert_eq!(sent("/tenant/%2e%2e/admin").unwrap(), "https://login.example.com:443/admin");
    assert_eq!(sent("/tenant/.%2E/admin").unwrap(), "https://login.example.com:443/admin");
    assert_eq!(sent("/tenant\\..\\admin").unwrap(), "https://login.example.com:443/admin");
    assert_eq!(sent("/tenant/./x/../token?a=b/../c").unwrap(), "https://login.example.com:443/tenant/token?a=b/../c");
    let grant = "https://login.example.com/tenant";
    for escape in [
        "/tenant/../admin",
        "/tenant/%2e%2e/admin",
        "/tenant/%2E./admin",
        "/tenant\\..\\admin",
        "/tenant/x/../../admin",
    ] {
        assert!(!allows(grant, &format!("https://login.example.com{escape}")), "{escape}");
    }
    assert!(allows(grant, "https://login.example.com/tenant/./oauth2/../oauth2/token"));
}

#[test]
fn segments_a_server_could_decode_into_others_are_refused() {
    for path in [
        "/tenant/..%2fadmin",
        "/tenant/..%2Fadmin",
        "/tenant/%5c..%5cadmin",
        "/tenant/%252e%252e/admin",
        "/tenant/%25252e%25252e/admin",
        "/tenant/a%2fb",
    ] {
        let error = target("https", "login.example.com", path).unwrap_err().to_string();
        assert!(error.contains("encodes a dot segment, `/` or `\\`"), "{path}: {error}");
    }
    // Other encodings are ordinary characters.
    assert!(target("https", "login.example.com", "/a%20b/c%40d/%2e%2ex").is_ok());
}

#[test]
fn a_grant_path_must_be_in_normal_form() {
    for bad in [
        "https://login.example.com/tenant/../admin",
        "https://login.example.com/a/./b",
        "https://login.example.com/a%2fb",
    ] {
        let error = NetworkGrant::parse(bad).unwrap_err().to_string();
        assert!(error.contains("the path is not in normal form"), "{bad}: {error}");
    }
    assert!(NetworkGrant::parse("https://login.example.com/tenant/v2.0").is_ok());
}

#[test]
fn an_address_grant_vets_a_name_only_for_its_own_scheme_port_and_path() {
    let to = |url: &str| {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
        target(scheme, authority, path).unwrap()
    };
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let address = grant("https://127.0.0.1:9443");
    assert!(address.names_address(&to("https://localhost:9443/x"), loopback));
    assert!(!address.names_address(&to("http://localhost:9443/x"), loopback));
    assert!(!address.names_address(&to("https://localhost:9444/x"), loopback));
    assert!(!address.names_address(&to("https://localhost/x"), loopback));
    let range = grant("http://127.0.0.0:8080/8");
    assert!(range.names_address(&to("http://localhost:8080/"), "127.1.2.3".parse().unwrap()));
    assert!(!range.names_address(&to("http://localhost/"), loopback));
    let prefixed = grant("http://127.0.0.1:8080/tenant");
    assert!(prefixed.names_address(&to("http://localhost:8080/tenant/x"), loopback));
    assert!(!prefixed.names_address(&to("http://localhost:8080/admin"), loopback));
    assert!(!grant("http://localhost:8080").names_address(&to("http://localhost:8080/"), loopback));
}

#[test]
fn a_grant_shows_in_normal_form_and_parses_back_to_itself() {
    for (written, normal) in [
        ("https://API.Example.COM:443/", "https://api.example.com"),
        ("https://*.Amazonaws.com", "https://*.amazonaws.com"),
        ("https://api.ecr.*.amazonaws.com", "https://api.ecr.*.amazonaws.com"),
        ("http://169.254.169.254:80/latest/", "http://169.254.169.254/latest/"),
        ("http://127.1:8080", "http://127.0.0.1:8080"),
        ("https://[::ffff:10.0.0.1]", "https://10.0.0.1"),
        ("https://[FD00::1]:8443", "https://[fd00::1]:8443"),
        ("https://10.0.0.0/8", "https://10.0.0.0/8"),
        ("https://[fd00::]/8", "https://[fd00::]/8"),
        ("http://bücher.example", "http://xn--bcher-kva.example"),
    ] {
        let grant = NetworkGrant::parse(written).unwrap();
        assert_eq!(grant.to_string(), normal, "{written}");
        let again = NetworkGrant::parse(normal).unwrap();
        assert_eq!(
            (again.https, &again.host, again.port, &again.path_prefix),
            (grant.https, &grant.host, grant.port, &grant.path_prefix)
        );
    }
}
