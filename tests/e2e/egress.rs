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
        "[routes]\n\"*.test\" = \"hostile\"\n[plugins.hostile]\npath = \"{}\"\nsha256 = \"{}\"\nnetwork = [{}]\ndeadline-ms = 5000\nsettings = {{ requests = {:?} }}\n{extra}",
        wasm.display(),
        sha256sum(wasm),
        grants.join(", "),
        requests.join("\n"),
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
        output.stderr.contains("which is not public; a grant must name that address to allow it"),
        "{}",
        output.stderr
    );
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
    // Naming the address as well is the explicit opt-in for a private destination.
    let (outcomes, output) = attack(&[&name_only, "http://127.0.0.0/8"], &request, "", &[]);
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
