//! The network capability against an attacker: the hostile plugin (tests/guests/hostile)
//! sends requests a malicious plugin would, through standard `wasi:http`; every one that the
//! grants do not allow is refused before any connection (the loopback mock's connection
//! counter stays at 0) with a typed error, and the host logs one line naming the plugin,
//! the target and the grant that would allow it.

mod common;

use common::mock::Mock;
use common::{Output, Sandbox, sha256sum};
use std::path::Path;

/// Runs the hostile plugin's `requests` attack with `network` grants and the `requests`
/// list, and returns each request's outcome line plus the whole output.
fn attack(network: &[&str], requests: &[String], extra: &str, env: &[(&str, &str)]) -> (Vec<String>, Output) {
    let sandbox = Sandbox::new();
    let wasm = Path::new(test_artifacts::HOSTILE);
    let grants: Vec<String> = network.iter().map(|g| format!("{g:?}")).collect();
    let config = format!(
        "[routes]\n\"*.test\" = \"hostile\"\n[plugins.hostile]\npath = \"{}\"\nsha256 = \"{}\"\nnetwork = [{}]\ndeadline-ms = 5000\nsettings = {{ requests = {} }}\n{extra}",
        wasm.display(),
        sha256sum(wasm),
        grants.join(", "),
        toml::Value::String(requests.join("\n")),
    );
    let path = sandbox.write("config.toml", &config);
    let output = sandbox.run(&["--config", path.to_str().unwrap(), "-v", "get"], "requests.test", env);
    let outcomes = match serde_json::from_str::<serde_json::Value>(&output.stdout) {
        Ok(answer) => answer["Secret"].as_str().unwrap_or_default().lines().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    };
    (outcomes, output)
}

fn outcome_of<'a>(outcomes: &'a [String], request: &str) -> &'a str {
    let prefix = format!("{request} => ");
    outcomes
        .iter()
        .find_map(|o| o.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no outcome for {request}: {outcomes:#?}"))
}

#[test]
fn thirty_ways_to_reach_loopback_are_all_refused_before_connecting() {
    let mock = Mock::start("127.0.0.1");
    let p = mock.port;
    // Grants name hosts the attacker might abuse, but never the mock's address.
    let network = [
        "http://localhost:PORT".replace("PORT", &p.to_string()),
        "https://secure.example.com".into(),
        "https://*.example.com".into(),
    ];
    let network: Vec<&str> = network.iter().map(String::as_str).collect();
    let denied = "Err(\"ErrorCode::HttpRequestDenied\")";
    let prohibited = "Err(\"ErrorCode::DestinationIpProhibited\")";
    let cases: Vec<(String, &str)> = vec![
        // Ungranted host, every spelling of loopback and "this host".
        (format!("GET http://127.0.0.1:{p}/"), denied),
        (format!("GET http://127.1:{p}/"), denied),
        (format!("GET http://2130706433:{p}/"), denied),
        (format!("GET http://0x7f000001:{p}/"), denied),
        (format!("GET http://0x7f.1:{p}/"), denied),
        (format!("GET http://0177.0.0.1:{p}/"), denied),
        (format!("GET http://127.0.0.1.:{p}/"), denied),
        (format!("GET http://[::1]:{p}/"), denied),
        (format!("GET http://[0:0:0:0:0:0:0:1]:{p}/"), denied),
        (format!("GET http://[::ffff:127.0.0.1]:{p}/"), denied),
        (format!("GET http://[::ffff:7f00:1]:{p}/"), denied),
        (format!("GET http://0.0.0.0:{p}/"), denied),
        (format!("GET http://[::]:{p}/"), denied),
        ("GET http://169.254.169.254/latest/meta-data/".to_string(), denied),
        // A granted name that resolves to loopback, in every case and with a trailing dot.
        (format!("GET http://localhost:{p}/"), prohibited),
        (format!("GET http://LOCALHOST:{p}/"), prohibited),
        (format!("GET http://localhost.:{p}/"), prohibited),
        (format!("GET http://%6c%6fcalhost:{p}/"), "authority rejected"),
        // Granted name, wrong port or scheme.
        (format!("GET http://localhost:{}/", p + 1), denied),
        ("GET http://secure.example.com/".to_string(), denied),
        ("GET https://secure.example.com:80/".to_string(), denied),
        ("GET https://secure.example.com:8443/".to_string(), denied),
        // Wildcards never match the apex, siblings or look-alike suffixes.
        ("GET https://example.com/".to_string(), denied),
        ("GET https://evilexample.com/".to_string(), denied),
        ("GET https://a.example.com.evil.net/".to_string(), denied),
        ("GET https://example.com.evil.net/".to_string(), denied),
        // User info tricks: refused by the runtime or the host, never sent.
        (format!("GET http://secure.example.com@127.0.0.1:{p}/"), denied),
        (format!("GET http://127.0.0.1:{p}@secure.example.com/"), "authority rejected"),
        // Other schemes.
        (format!("GET ftp://127.0.0.1:{p}/"), "Err(\"ErrorCode::HttpProtocolError\")"),
        (format!("GET gopher://localhost:{p}/"), "Err(\"ErrorCode::HttpProtocolError\")"),
    ];
    assert!(cases.len() >= 30);
    let requests: Vec<String> = cases.iter().map(|(r, _)| r.clone()).collect();
    let (outcomes, output) = attack(&network, &requests, "max-requests = 100\n", &[]);
    assert_eq!(output.code, 0, "{output:?}");
    for (request, expected) in &cases {
        let outcome = outcome_of(&outcomes, request);
        match *expected {
            "authority rejected" => assert_eq!(outcome, "Err(\"authority rejected\")", "{request}"),
            expected => assert_eq!(outcome, expected, "{request}"),
        }
    }
    assert_eq!(mock.hits(), 0, "the mock was reached: {:?}", mock.requests.lock().unwrap());
    assert!(
        output.stderr.contains(&format!("WARN: plugin hostile: denied GET http://127.0.0.1:{p}/: no network grant allows it; to allow it add \"http://127.0.0.1:{p}\" to `network` in [plugins.hostile]")),
        "{}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .contains(&format!("WARN: plugin hostile: denied GET http://localhost:{p}/: localhost resolves to ")),
        "{}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .contains("which is not public; a grant must name that address for this scheme and port to allow it"),
        "{}",
        output.stderr
    );
    // Refused inside wasi:http, before the egress hook: logged like every other refusal.
    for scheme in ["ftp", "gopher"] {
        assert!(
            output.stderr.contains(&format!(
                "WARN: plugin hostile: denied GET {scheme}://{}:{p}/: wasi:http refused it: ",
                if scheme == "ftp" { "127.0.0.1" } else { "localhost" }
            )),
            "{}",
            output.stderr
        );
    }
}

#[test]
fn allowed_requests_reach_the_target_named_by_the_grant_and_nothing_else() {
    let mock = Mock::start("127.0.0.1");
    let elsewhere = Mock::start("127.0.0.1");
    let p = mock.port;
    let grant = format!("http://127.0.0.1:{p}");
    let redirect = format!("GET http://127.0.0.1:{p}/redirect?to=http://127.0.0.1:{}/stolen", elsewhere.port);
    let follow = format!("GET http://127.0.0.1:{}/stolen", elsewhere.port);
    let requests = vec![
        format!("GET http://127.0.0.1:{p}/ok"),
        format!("GET http://127.1:{p}/ok"),
        format!("GET http://127.0.0.1:{p}/fronted host=evil.example"),
        redirect.clone(),
        follow.clone(),
        format!("GET http://127.0.0.1:{p}/big"),
        format!("GET http://127.0.0.1:{p}/over-budget"),
    ];
    let (outcomes, output) = attack(&[&grant], &requests, "max-requests = 5\n", &[]);
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(outcome_of(&outcomes, &requests[0]), "Ok(\"200 location=None body=5\")");
    assert_eq!(outcome_of(&outcomes, &requests[1]), "Ok(\"200 location=None body=5\")");
    assert_eq!(outcome_of(&outcomes, &requests[2]), "Err(\"header: HeaderError::Forbidden\")");
    assert_eq!(
        outcome_of(&outcomes, &redirect),
        format!("Ok(\"302 location=Some(\\\"http://127.0.0.1:{}/stolen\\\") body=0\")", elsewhere.port)
    );
    assert_eq!(outcome_of(&outcomes, &follow), "Err(\"ErrorCode::HttpRequestDenied\")");
    assert!(outcome_of(&outcomes, &requests[5]).starts_with("Err(\"ErrorCode::HttpResponseBodySize"), "{outcomes:?}");
    assert_eq!(outcome_of(&outcomes, &requests[6]), "Err(\"ErrorCode::HttpRequestDenied\")");
    assert_eq!(elsewhere.hits(), 0, "the redirect was followed");
    assert_eq!(mock.hits(), 4, "{:?}", mock.requests.lock().unwrap());
    let seen = mock.requests.lock().unwrap().clone();
    assert_eq!(seen[0], ("GET /ok HTTP/1.1".to_string(), format!("127.0.0.1:{p}")));
    assert!(seen.iter().all(|(_, host)| host == &format!("127.0.0.1:{p}")), "{seen:?}");
    assert!(
        output.stderr.contains(&format!("INFO: plugin hostile: GET http://127.0.0.1:{p}/ok 200 in ")),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("request budget of 5 per call exhausted (max-requests)"), "{}", output.stderr);
}

#[test]
fn a_granted_name_connects_only_to_addresses_a_grant_names() {
    let mock = Mock::start("127.0.0.1");
    let p = mock.port;
    let name_only = format!("http://localhost:{p}");
    let request = vec![format!("GET http://localhost:{p}/ok")];
    let (outcomes, _) = attack(&[&name_only], &request, "", &[]);
    assert_eq!(outcome_of(&outcomes, &request[0]), "Err(\"ErrorCode::DestinationIpProhibited\")");
    assert_eq!(mock.hits(), 0);
    // An address grant for another scheme or port vets nothing for this one.
    for other in
        [format!("https://127.0.0.1:{p}"), "http://127.0.0.0/8".to_string(), format!("http://127.0.0.1:{}", p + 1)]
    {
        let (outcomes, output) = attack(&[&name_only, &other], &request, "", &[]);
        assert_eq!(outcome_of(&outcomes, &request[0]), "Err(\"ErrorCode::DestinationIpProhibited\")", "{other}");
        assert!(
            output.stderr.contains(&format!(
                "a grant must name that address for this scheme and port to allow it (e.g. \"http://127.0.0.1:{p}\")"
            )),
            "{}",
            output.stderr
        );
    }
    assert_eq!(mock.hits(), 0);
    // Naming the address as well, for this scheme and port, is the explicit opt-in for a
    // private destination.
    let (outcomes, output) = attack(&[&name_only, &format!("http://127.0.0.0:{p}/8")], &request, "", &[]);
    assert_eq!(outcome_of(&outcomes, &request[0]), "Ok(\"200 location=None body=5\")", "{output:?}");
    assert_eq!(mock.hits(), 1);
    assert!(output.stderr.contains("(connected to 127.0.0.1)"), "{}", output.stderr);
}

#[test]
fn a_slow_response_is_cut_off_when_the_plugin_deadline_is_spent() {
    let mock = Mock::start("127.0.0.1");
    let grant = format!("http://127.0.0.1:{}", mock.port);
    let request = vec![format!("GET http://127.0.0.1:{}/slow", mock.port)];
    let (outcomes, output) = attack(&[&grant], &request, "", &[]);
    // The mock never answers; the request is given only what is left of the 5 s deadline.
    assert_eq!(outcome_of(&outcomes, &request[0]), "Err(\"ErrorCode::HttpResponseTimeout\")", "{output:?}");
    assert_eq!(mock.hits(), 1);
    assert!(
        output.stderr.contains(&format!("WARN: plugin hostile: GET {grant}/slow failed after ")),
        "{}",
        output.stderr
    );
}

/// A name that exists nowhere but in the test CA's certificate and the proxy's mind.
const CORPORATE_NAME: &str = "registry.corp.test";

#[test]
fn https_goes_through_the_proxy_to_the_granted_name_with_the_configured_ca() {
    let pki = common::tls::TestPki::new(CORPORATE_NAME);
    let server = common::tls::HttpsMock::start(&pki);
    let proxy = common::tls::ConnectProxy::start(server.port);
    let sandbox = Sandbox::new();
    let ca = sandbox.write("corp-ca.pem", &pki.ca_pem);
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let allowed = format!("GET https://{CORPORATE_NAME}/v2/");
    let ungranted = "GET https://elsewhere.corp.test/v2/".to_string();
    let requests = vec![allowed.clone(), ungranted.clone()];
    let grant = format!("https://{CORPORATE_NAME}");

    // The CA from the config's [network] ca-bundle.
    let extra = format!("[network]\nca-bundle = \"{}\"\n", ca.display());
    let (outcomes, output) = attack(&[&grant], &requests, &extra, &[("HTTPS_PROXY", &proxy_url)]);
    assert_eq!(outcome_of(&outcomes, &allowed), "Ok(\"200 location=None body=5\")", "{output:?}");
    assert_eq!(outcome_of(&outcomes, &ungranted), "Err(\"ErrorCode::HttpRequestDenied\")");
    assert_eq!(*proxy.targets.lock().unwrap(), vec![format!("CONNECT {CORPORATE_NAME}:443 HTTP/1.1")]);
    assert_eq!(server.hits(), 1);
    assert!(output.stderr.contains(&format!("(through proxy {proxy_url})")), "{}", output.stderr);

    // The CA from SSL_CERT_FILE, as corporate machines set it.
    let (outcomes, output) =
        attack(&[&grant], &requests[..1], "", &[("HTTPS_PROXY", &proxy_url), ("SSL_CERT_FILE", ca.to_str().unwrap())]);
    assert_eq!(outcome_of(&outcomes, &allowed), "Ok(\"200 location=None body=5\")", "{output:?}");
    assert_eq!(server.hits(), 2);

    // Without the CA the connection fails closed.
    let (outcomes, _) = attack(&[&grant], &requests[..1], "", &[("HTTPS_PROXY", &proxy_url)]);
    assert_eq!(outcome_of(&outcomes, &allowed), "Err(\"ErrorCode::TlsCertificateError\")");

    // NO_PROXY sends a request direct: here to the server's address, whose certificate
    // names only the corporate name, so TLS fails, and the proxy sees nothing new.
    let direct = format!("GET https://127.0.0.1:{}/v2/", server.port);
    let grant = format!("https://127.0.0.1:{}", server.port);
    let (outcomes, _) = attack(
        &[&grant],
        std::slice::from_ref(&direct),
        &extra,
        &[("HTTPS_PROXY", &proxy_url), ("NO_PROXY", "127.0.0.1")],
    );
    assert_eq!(outcome_of(&outcomes, &direct), "Err(\"ErrorCode::TlsCertificateError\")");
    assert_eq!(proxy.targets.lock().unwrap().len(), 3, "NO_PROXY must bypass the proxy");
    assert_eq!(server.hits(), 4);
}

#[test]
fn a_path_grant_cannot_be_left_by_dot_segments_in_any_spelling() {
    let mock = Mock::start("127.0.0.1");
    let p = mock.port;
    let grant = format!("http://127.0.0.1:{p}/tenant");
    let denied = "Err(\"ErrorCode::HttpRequestDenied\")";
    let escapes = [
        "/tenant/../admin/secret",
        "/tenant/%2e%2e/admin",
        "/tenant/%2E%2E/admin",
        "/tenant/.%2e/admin",
        "/tenant/%2e./admin",
        "/tenant/..%2fadmin",
        "/tenant/..%2Fadmin",
        "/tenant/%252e%252e/admin",
        "/tenant\\..\\admin",
        "/tenant/%5c..%5cadmin",
        "/tenant/x/../../admin",
    ];
    let mut requests: Vec<String> = escapes.iter().map(|path| format!("GET http://127.0.0.1:{p}{path}")).collect();
    let inside = [format!("GET http://127.0.0.1:{p}/tenant/./ok"), format!("GET http://127.0.0.1:{p}/tenant/x/../ok")];
    requests.extend(inside.iter().cloned());
    let (outcomes, output) = attack(&[&grant], &requests, "max-requests = 100\n", &[]);
    assert_eq!(output.code, 0, "{output:?}");
    for request in &requests[..escapes.len()] {
        assert_eq!(outcome_of(&outcomes, request), denied, "{request}");
    }
    for request in &inside {
        assert_eq!(outcome_of(&outcomes, request), "Ok(\"200 location=None body=5\")", "{request}");
    }
    // The server saw exactly the normalised paths that were checked.
    let seen: Vec<String> = mock.requests.lock().unwrap().iter().map(|(line, _)| line.clone()).collect();
    assert_eq!(seen, vec!["GET /tenant/ok HTTP/1.1".to_string(), "GET /tenant/ok HTTP/1.1".to_string()]);
    assert!(
        output.stderr.contains(&format!(
            "WARN: plugin hostile: denied GET http://127.0.0.1:{p}/admin/secret: no network grant allows it"
        )),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("the path segment \"..%2fadmin\" encodes a dot segment, `/` or `\\`"),
        "{}",
        output.stderr
    );
}

#[test]
fn only_the_methods_of_identity_flows_are_sent() {
    let mock = Mock::start("127.0.0.1");
    let p = mock.port;
    let grant = format!("http://127.0.0.1:{p}");
    let refused = ["CONNECT", "TRACE", "PROPFIND"];
    let allowed = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let request = |method: &str| format!("{method} http://127.0.0.1:{p}/{}", method.to_lowercase());
    let requests: Vec<String> = refused.iter().chain(&allowed).map(|m| request(m)).collect();
    let (outcomes, output) = attack(&[&grant], &requests, "", &[]);
    for method in refused {
        assert_eq!(outcome_of(&outcomes, &request(method)), "Err(\"ErrorCode::HttpRequestMethodInvalid\")", "{method}");
        assert!(
            output.stderr.contains(&format!(
                "WARN: plugin hostile: denied {method} http://127.0.0.1:{p}/{}: the method is not one plugins may use (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)",
                method.to_lowercase()
            )),
            "{}",
            output.stderr
        );
    }
    for method in allowed {
        assert!(outcome_of(&outcomes, &request(method)).starts_with("Ok(\"200 "), "{method}: {outcomes:?}");
    }
    let seen: Vec<String> = mock.requests.lock().unwrap().iter().map(|(line, _)| line.clone()).collect();
    assert_eq!(seen.len(), allowed.len(), "{seen:?}");
    assert!(seen.iter().all(|line| !line.starts_with("CONNECT") && !line.starts_with("TRACE")), "{seen:?}");
}

#[test]
fn every_refusal_is_one_log_line_even_inside_wasi_http() {
    let mock = Mock::start("127.0.0.1");
    let p = mock.port;
    let grant = format!("http://127.0.0.1:{p}");
    let requests = vec![
        format!("GET HTTP://127.0.0.1:{p}/upper"),
        format!("GET ftp://127.0.0.1:{p}/ftp"),
        "GET http://(none)/no-authority".to_string(),
        format!("GET http://user:secret-pw@127.0.0.1:{p}/userinfo"),
    ];
    let (outcomes, output) = attack(&[&grant], &requests, "", &[]);
    assert_eq!(outcome_of(&outcomes, &requests[0]), "Err(\"ErrorCode::HttpProtocolError\")");
    assert_eq!(outcome_of(&outcomes, &requests[1]), "Err(\"ErrorCode::HttpProtocolError\")");
    assert_eq!(outcome_of(&outcomes, &requests[2]), "Err(\"ErrorCode::HttpRequestUriInvalid\")");
    assert_eq!(outcome_of(&outcomes, &requests[3]), "Err(\"ErrorCode::HttpRequestDenied\")");
    let denied: Vec<&str> =
        output.stderr.lines().filter(|line| line.contains("WARN: plugin hostile: denied ")).collect();
    assert_eq!(denied.len(), 4, "{}", output.stderr);
    for expected in [
        format!("denied GET HTTP://127.0.0.1:{p}/upper: wasi:http refused it: ErrorCode::HttpProtocolError"),
        format!("denied GET ftp://127.0.0.1:{p}/ftp: wasi:http refused it: ErrorCode::HttpProtocolError"),
        "denied GET http://?/no-authority: wasi:http refused it: ErrorCode::HttpRequestUriInvalid".to_string(),
        format!("denied GET http://<user info>@127.0.0.1:{p}/userinfo: the authority carries user info"),
    ] {
        assert!(denied.iter().any(|line| line.ends_with(&expected)), "{expected}\n{}", output.stderr);
    }
    assert!(!output.stderr.contains("secret-pw"), "{}", output.stderr);
    assert_eq!(mock.hits(), 0);
}

#[test]
fn request_targets_cannot_forge_log_lines() {
    let mock = Mock::start("127.0.0.1");
    let p = mock.port;
    let requests = vec![
        format!("GET http://127.0.0.1:{p}/\u{9b}31m\u{202e}evil\u{9d}next\u{2066}"),
        "GET http://192.0.2.1/\u{9b}31m\u{202e}evil\u{9d}next\u{2066}".to_string(),
    ];
    let (outcomes, output) = attack(&[&format!("http://127.0.0.1:{p}")], &requests, "", &[]);
    assert!(outcome_of(&outcomes, &requests[0]).starts_with("Ok(\"200 "), "{outcomes:?}");
    for raw in ['\u{9b}', '\u{202e}', '\u{9d}', '\u{2066}'] {
        assert!(!output.stderr.contains(raw), "{raw:?} reached the log: {}", output.stderr);
    }
    assert!(output.stderr.lines().all(|line| line.starts_with("docker-credential-wasm[")), "{}", output.stderr);
    assert!(
        output.stderr.contains(&format!("GET http://127.0.0.1:{p}/%C2%9B31m%E2%80%AEevil%C2%9Dnext%E2%81%A6 200 in ")),
        "{}",
        output.stderr
    );
}

#[test]
fn this_machines_addresses_never_go_through_the_proxy() {
    let mock = Mock::start("127.0.0.1");
    let mock6 = Mock::start("::1");
    let proxy = common::tls::ConnectProxy::start(mock.port);
    let (p, p6) = (mock.port, mock6.port);
    let proxy_url = format!("http://proxy-user:proxy-pw@127.0.0.1:{}", proxy.port);
    let grants = [
        format!("http://127.0.0.1:{p}"),
        format!("http://localhost:{p}"),
        format!("http://[::1]:{p6}"),
        format!("http://identity.localhost:{p}"),
        "http://192.0.2.1".to_string(),
    ];
    let grants: Vec<&str> = grants.iter().map(String::as_str).collect();
    // The secrets that local identity endpoints take (Azure App Service's header, Arc's
    // key, ECS/EKS's token) must never reach a proxy.
    let requests = vec![
        format!("GET http://127.0.0.1:{p}/msi/token x-identity-header=app-service-secret"),
        format!("GET http://localhost:{p}/metadata/identity/oauth2/token authorization=Basic%20arc-key"),
        format!("GET http://[::1]:{p6}/v2/credentials authorization=eks-pod-token"),
        format!("GET http://identity.localhost:{p}/token"),
        "GET http://192.0.2.1/elsewhere".to_string(),
    ];
    let env = [("HTTP_PROXY", proxy_url.as_str()), ("HTTPS_PROXY", proxy_url.as_str())];
    let (outcomes, output) = attack(&grants, &requests, "", &env);
    assert_eq!(outcome_of(&outcomes, &requests[0]), "Ok(\"200 location=None body=5\")", "{output:?}");
    assert_eq!(outcome_of(&outcomes, &requests[1]), "Ok(\"200 location=None body=5\")");
    assert_eq!(outcome_of(&outcomes, &requests[2]), "Ok(\"200 location=None body=5\")");
    // `*.localhost` goes direct too (here it resolves nowhere, so it fails, unproxied).
    assert!(outcome_of(&outcomes, &requests[3]).starts_with("Err("), "{outcomes:?}");
    // Another machine's address does go through the proxy (which refuses plain forwarding).
    assert_eq!(outcome_of(&outcomes, &requests[4]), "Ok(\"405 location=None body=0\")");
    let proxied = proxy.targets.lock().unwrap().clone();
    eprintln!("requests the proxy received: {}", proxied.len());
    assert_eq!(proxied, vec!["GET http://192.0.2.1/elsewhere HTTP/1.1".to_string()]);
    assert_eq!((mock.hits(), mock6.hits()), (2, 1));
    // The proxy's password never reaches the log.
    assert!(output.stderr.contains(&format!("(through proxy http://127.0.0.1:{})", proxy.port)), "{}", output.stderr);
    assert!(!output.stderr.contains("proxy-pw"), "{}", output.stderr);
}

#[test]
fn a_name_that_resolves_to_link_local_metadata_is_not_proxied() {
    // In a namespace of the test's own: the metadata address on its loopback, a name for it
    // in the namespace's hosts file (as a cloud VM's resolver answers), and a proxy.
    let ns = common::netns::NetNs::with_instance_metadata_address();
    let hosts = std::path::PathBuf::from(format!("/etc/netns/{}", ns.0));
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(hosts.join("hosts"), "127.0.0.1 localhost\n169.254.169.254 metadata.google.internal\n").unwrap();
    let _cleanup = RemoveOnDrop(hosts);
    let (mock, proxy) = ns.inside(|| {
        let mock = Mock::start("169.254.169.254");
        let proxy = common::tls::ConnectProxy::start(mock.port);
        (mock, proxy)
    });
    let sandbox = Sandbox::new();
    let request =
        format!("GET http://metadata.google.internal:{}/computeMetadata/v1/token metadata-flavor=Google", mock.port);
    let config = format!(
        "[routes]\n\"*.test\" = \"hostile\"\n{}",
        common::hostile_plugin(&format!(
            "network = [\"http://metadata.google.internal:{p}\", \"http://169.254.169.254:{p}\"]\nsettings = {{ requests = {request:?} }}\n",
            p = mock.port
        ))
    );
    let config = sandbox.write("config.toml", &config);
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let mut command = ns.command(&sandbox, &["--config", config.to_str().unwrap(), "-v", "get"]);
    command.env("HTTP_PROXY", &proxy_url);
    let output = common::run(command, "requests.test");
    let answer: serde_json::Value = serde_json::from_str(&output.stdout).unwrap_or_else(|_| panic!("{output:?}"));
    assert_eq!(answer["Secret"].as_str().unwrap(), format!("{request} => Ok(\"200 location=None body=5\")"));
    assert_eq!(proxy.targets.lock().unwrap().len(), 0, "the proxy saw the metadata request");
    assert_eq!(mock.hits(), 1);
    assert!(output.stderr.contains("(connected to 169.254.169.254)"), "{}", output.stderr);
}

/// Removes a directory of the test's own when dropped.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_name_lookup_that_never_answers_does_not_keep_the_engine_past_its_deadline() {
    // A namespace whose resolver never answers (a UDP socket that reads and stays silent),
    // with lookups allowed 90 seconds: longer than the test waits for the engine to exit.
    let ns = common::netns::NetNs::with_instance_metadata_address();
    let etc = std::path::PathBuf::from(format!("/etc/netns/{}", ns.0));
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("resolv.conf"), "nameserver 127.0.0.1\noptions timeout:30 attempts:3\n").unwrap();
    let _cleanup = RemoveOnDrop(etc);
    let _silent = ns.inside(|| std::net::UdpSocket::bind("127.0.0.1:53").unwrap());
    let sandbox = Sandbox::new();
    let config = format!(
        "[routes]\n\"*.test\" = \"hostile\"\n{}",
        common::hostile_plugin(
            "network = [\"http://never-answers.example\"]\ndeadline-ms = 1500\ncache = false\nsettings = { requests = \"GET http://never-answers.example/\" }\n"
        )
    );
    let config = sandbox.write("config.toml", &config);
    let command = ns.command(&sandbox, &["--config", config.to_str().unwrap(), "get"]);
    // `run` kills the engine after 60 s and fails the test if it had to.
    let output = common::run(command, "requests.test");
    assert_eq!(
        (output.stdout.as_str(), output.code),
        ("docker-credential-wasm: plugin \"hostile\" failed: it exceeded its deadline of 1500 ms (deadline-ms)\n", 1),
        "{}",
        output.stderr
    );
}
