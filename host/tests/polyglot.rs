//! Plugins in Python and JavaScript against the same world: `examples/plugins/build` builds
//! them with componentize-py and componentize-js, and each answers a real `get` through the
//! host: a settings read, a request through the egress chokepoint to a loopback token
//! endpoint under a network grant, and a line in the host's log.

mod common;

use common::servers::{read_request, respond};
use common::{Sandbox, credentials_json, sha256sum};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A token endpoint on loopback: `/token/robot` answers a token, anything else 404.
fn token_endpoint() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let Some(request) = read_request(&mut stream) else { continue };
            match request.path.as_str() {
                "/token/robot" => respond(
                    &mut stream,
                    200,
                    "application/json",
                    "",
                    r#"{"token":"t0ken-for-robot","expires_at":4102444800}"#,
                ),
                _ => respond(&mut stream, 404, "application/json", "", "{}"),
            }
        }
    });
    port
}

/// Builds both example plugins once, into this test binary's own directory.
fn built() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let out = workspace.join("target/polyglot");
        let build = Command::new(workspace.join("examples/plugins/build"))
            .arg(&out)
            .env("DOCKER_CREDENTIAL_WASM", common::BIN)
            .output()
            .unwrap();
        assert!(build.status.success(), "examples/plugins/build:\n{}", String::from_utf8_lossy(&build.stderr));
        out
    })
}

fn config(sandbox: &Sandbox, id: &str, port: u16, user: &str, network: &str) -> PathBuf {
    let wasm = built().join(format!("{id}-plugin.wasm"));
    sandbox.write(
        "config.toml",
        &format!(
            "[routes]\n\"registry.example.com\" = \"{id}\"\n\
             [plugins.{id}]\npath = \"{}\"\nsha256 = \"{}\"\nnetwork = [{network}]\n\
             settings = {{ username = \"{user}\", token_url = \"http://127.0.0.1:{port}/token/{user}\" }}\n",
            wasm.display(),
            sha256sum(&wasm)
        ),
    )
}

fn answers_a_get_through_the_host(id: &str, refused: &str) {
    let sandbox = Sandbox::new();
    let port = token_endpoint();
    let grant = format!("\"http://127.0.0.1:{port}\"");
    let get =
        |config: &Path| sandbox.run(&["--config", config.to_str().unwrap(), "-v", "get"], "registry.example.com", &[]);

    let answered = get(&config(&sandbox, id, port, "robot", &grant));
    assert_eq!(
        (answered.stdout.as_str(), answered.code),
        (credentials_json("registry.example.com", "robot", "t0ken-for-robot").as_str(), 0),
        "{}",
        answered.stderr
    );
    let asked = format!(
        "INFO: plugin {id}: registry.example.com: asking http://127.0.0.1:{port}/token/robot for robot's token\n"
    );
    assert!(answered.stderr.contains(&asked), "{}", answered.stderr);
    assert!(
        answered.stderr.contains(&format!("GET http://127.0.0.1:{port}/token/robot 200 in ")),
        "{}",
        answered.stderr
    );

    // The endpoint has no token for this user: the client falls back, as for any not-found.
    let unknown = get(&config(&sandbox, id, port, "nobody", &grant));
    assert_eq!(
        (unknown.stdout.as_str(), unknown.code),
        ("credentials not found in native keychain\n", 1),
        "{}",
        unknown.stderr
    );

    // Without the network grant the chokepoint refuses the request, and the plugin says so.
    let ungranted = get(&config(&sandbox, id, port, "robot", ""));
    assert_eq!((ungranted.stdout.as_str(), ungranted.code), (refused.replace("PORT", &port.to_string()).as_str(), 1));

    // Its embedded manifest: `audit` shows it, and a setting it does not name is refused.
    let config = config(&sandbox, id, port, "robot", &grant);
    let audit = sandbox.run(&["--config", config.to_str().unwrap(), "audit", "--json"], "", &[]);
    let report: serde_json::Value = serde_json::from_str(&audit.stdout).unwrap();
    assert_eq!(
        (&report["plugins"][0]["manifest"], &report["plugins"][0]["not_granted"], audit.code),
        (
            &serde_json::json!(format!(
                "Example {id} plugin: a user name setting and a token from the token_url endpoint. (embedded in the component)"
            )),
            &serde_json::json!([]),
            0
        )
    );
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("token_url =", "token_uri =")).unwrap();
    let misspelt = get(&config);
    assert_eq!(
        (misspelt.stdout.as_str(), misspelt.code),
        (
            format!(
                "docker-credential-wasm: plugin \"{id}\" failed: cannot load it: unknown setting \"token_uri\" for plugin \"{id}\"; expected one of: username, token_url (the settings its embedded manifest names)\n"
            )
            .as_str(),
            1
        )
    );
}

#[test]
fn a_python_plugin_answers_a_get_through_the_host() {
    answers_a_get_through_the_host(
        "python",
        "docker-credential-wasm: plugin \"python\": upstream failure: http://127.0.0.1:PORT/token/robot: the request failed: HttpRequestDenied\n",
    );
}

#[test]
fn a_javascript_plugin_answers_a_get_through_the_host() {
    answers_a_get_through_the_host(
        "javascript",
        "docker-credential-wasm: plugin \"javascript\": upstream failure: http://127.0.0.1:PORT/token/robot: the request failed: NetworkError when attempting to fetch resource\n",
    );
}
