//! `doctor` on a working route, a broken one and none: it names the config, route, plugin,
//! grants and cache, makes a live call through the same sandbox and egress, shows what
//! happened on the way, never shows a secret, and exits 1 when the registry gets nothing.

mod common;

use common::Sandbox;
use common::aws::AwsMock;

const REGISTRY: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

#[test]
fn a_working_route_shows_its_plugin_grants_cache_and_call_without_the_secret() {
    let sandbox = Sandbox::new();
    let config = sandbox.write(
        "config.toml",
        "[routes]\n\"127.0.0.1:5000\" = \"static\"\n[plugins.static]\nsettings = { username = \"testuser\", secret-env = \"REGISTRY_PASSWORD\" }\nenv = [\"REGISTRY_PASSWORD\"]\n",
    );
    let config = config.to_str().unwrap();
    let env = [("REGISTRY_PASSWORD", "s3cret-value")];
    let output = sandbox.run(&["--config", config, "doctor", "127.0.0.1:5000"], "", &env);
    assert_eq!(output.code, 0, "{}{}", output.stdout, output.stderr);
    let lines: Vec<&str> = output.stdout.lines().collect();
    let sha = lines[3].strip_prefix("plugin    built-in static (").and_then(|rest| rest.strip_suffix(')')).unwrap();
    assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "{}", lines[3]);
    assert_eq!(
        lines[..7],
        [
            format!("config    {config}").as_str(),
            "registry  127.0.0.1:5000",
            "route     \"127.0.0.1:5000\" -> plugin \"static\"",
            lines[3],
            "grants    env REGISTRY_PASSWORD (set)",
            "cache     no cached answer",
            "call      credentials for user \"testuser\", which no expiry given (the secret is not shown)",
        ]
    );
    assert_eq!(lines[7], "what happened:");
    assert!(!output.stdout.contains("s3cret-value") && !output.stderr.contains("s3cret-value"));
    // A get caches the answer; doctor shows it and does not write the cache itself.
    let get = sandbox.run(&["--config", config, "get"], "127.0.0.1:5000", &env);
    assert_eq!(get.code, 0);
    let json = sandbox.run(&["--config", config, "doctor", "--json", "127.0.0.1:5000"], "", &env);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(report["cache"].as_str().unwrap().starts_with("fresh for "), "{report}");
    assert_eq!(report["ok"], true);
}

#[test]
fn a_broken_route_says_what_failed_and_what_the_plugin_tried() {
    let sandbox = Sandbox::new();
    let aws = AwsMock::start();
    aws.identity("AKIDSTATIC", "static-secret");
    let ca = sandbox.write("ca.pem", &aws.pki.ca_pem);
    let proxy = aws.proxy_url();
    let env = [
        ("HTTPS_PROXY", proxy.as_str()),
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ACCESS_KEY_ID", "AKIDSTATIC"),
        ("AWS_SECRET_ACCESS_KEY", "wrong-secret"),
    ];
    let output = sandbox.run(&["doctor", REGISTRY], "", &env);
    assert_eq!(output.code, 1, "{}", output.stdout);
    assert!(output.stdout.contains("route     \"*.dkr.ecr.*.amazonaws.com\" -> plugin \"ecr\"\n"), "{}", output.stdout);
    assert!(output.stdout.contains("grants    network https://api.ecr.*.amazonaws.com\n"), "{}", output.stdout);
    assert!(output.stdout.contains("env AWS_ACCESS_KEY_ID (set)\n"), "{}", output.stdout);
    assert!(output.stdout.contains("env AWS_PROFILE (not set)\n"), "{}", output.stdout);
    assert!(
        output
            .stdout
            .contains("call      denied: ecr GetAuthorizationToken in us-west-2: HTTP 403 InvalidSignatureException"),
        "{}",
        output.stdout
    );
    // The request, as the egress logged it.
    assert!(
        output.stdout.lines().any(|line| line.contains("POST https://api.ecr.us-west-2.amazonaws.com:443/ 403")),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("wrong-secret"));

    // The embedded default sends every other registry to the credential store; with no store
    // set up here, the live call says how to set one up.
    let stored = sandbox.run(&["doctor", "quay.io"], "", &env);
    assert_eq!(stored.code, 1);
    assert!(
        stored.stdout.starts_with("config    <embedded default config>\nregistry  quay.io\nroute     no route serves quay.io: the credential store's plugin \"keyring\" ([store] plugin)\n"),
        "{}",
        stored.stdout
    );
    assert!(
        stored.stdout.contains("\ncall      not found: no secret store to keep credentials in: "),
        "{}",
        stored.stdout
    );
    // A config with neither a route nor a store for it.
    let empty = sandbox.write("empty.toml", "");
    let unrouted = sandbox.run(&["--config", empty.to_str().unwrap(), "doctor", "quay.io"], "", &env);
    assert_eq!(unrouted.code, 1);
    assert_eq!(
        unrouted.stdout,
        format!(
            "config    {}\nregistry  quay.io\nroute     no route serves quay.io: clients get \"credentials not found\"; add it to [routes] in {}\n",
            empty.display(),
            empty.display()
        )
    );
}
