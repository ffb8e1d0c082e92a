//! `docker-credential-wasm audit`: what each plugin is and what the host will let it do,
//! for the embedded default config and for a custom one with a widened grant and a
//! component the host refuses.

mod common;

use common::{Sandbox, sha256sum};
use std::path::Path;

#[test]
fn the_embedded_default_shows_its_plugins_and_exactly_their_manifest_grants() {
    let output = Sandbox::new().run(&["audit"], "", &[]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    for id in ["acr", "ecr", "gcr", "keyring"] {
        assert!(output.stdout.contains(&format!("\nplugin \"{id}\"  built-in {id}\n")), "{}", output.stdout);
    }
    assert_eq!(output.stdout.matches("  status    ok\n").count(), 4, "{}", output.stdout);
    let json = Sandbox::new().run(&["audit", "--json"], "", &[]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let plugins = report["plugins"].as_array().unwrap();
    let ids: Vec<&str> = plugins.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["acr", "ecr", "gcr", "keyring"]);
    for plugin in plugins {
        let id = plugin["id"].as_str().unwrap();
        assert_eq!(plugin["world"].as_str(), Some("0.1.2"), "{id}");
        let path = format!("{}/../plugins/{id}/manifest.toml", env!("CARGO_MANIFEST_DIR"));
        let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for list in ["network", "env", "files"] {
            let grants = plugin[list].as_array().unwrap();
            let shown: Vec<&str> = grants.iter().map(|g| g["grant"].as_str().unwrap()).collect();
            let declared: Vec<&str> = manifest
                .get(list)
                .map_or(vec![], |l| l.as_array().unwrap().iter().map(|g| g.as_str().unwrap()).collect());
            assert_eq!(shown, declared, "{id} {list}");
            assert!(grants.iter().all(|g| g["origin"] == "manifest" && g["widens"] == false), "{id} {list}");
        }
        let imports: Vec<&str> = plugin["imports"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
        assert!(
            imports.iter().all(|i| !i.starts_with("wasi:sockets") && !i.starts_with("wasi:filesystem")),
            "{imports:?}"
        );
        // Network for the token minters; the keyring for the store, and nothing else.
        let (network, secrets) = (imports.contains(&"wasi:http/outgoing-handler@0.2.12"), plugin["secrets"].clone());
        match id {
            "keyring" => {
                assert!(!network, "{imports:?}");
                assert_eq!(
                    secrets,
                    serde_json::json!([{"grant": "docker-credential-helpers (shared with docker-credential-secretservice and -pass)", "origin": "manifest", "widens": false}])
                );
                assert_eq!(plugin["routes"], serde_json::json!(["every registry no route serves ([store] plugin)"]));
            }
            _ => assert!(network && secrets == serde_json::json!([]), "{id}: {imports:?} {secrets}"),
        }
    }
}

#[test]
fn a_custom_config_shows_effective_grants_their_origin_and_refusals() {
    let sandbox = Sandbox::new();
    let hostile = Path::new(test_artifacts::HOSTILE);
    let undeclared = Path::new(test_artifacts::UNDECLARED_IMPORT);
    let config = sandbox.write(
        "config.toml",
        &format!(
            "[routes]\n\"127.0.0.1:5000\" = \"static\"\n\"*.hostile.test\" = \"hostile\"\n\"*.undeclared.test\" = \"undeclared\"\n\
             [plugins.static]\nsettings = {{ username = \"u\", secret = \"never-shown\" }}\nenv = [\"REGISTRY_PASSWORD\"]\nmemory-mib = 16\n\
             [plugins.hostile]\npath = \"{}\"\nsha256 = \"{}\"\nnetwork = [\"https://*.example.com\", \"http://169.254.169.254\"]\n\
             [plugins.undeclared]\npath = \"{}\"\nsha256 = \"{}\"\n",
            hostile.display(),
            sha256sum(hostile),
            undeclared.display(),
            sha256sum(undeclared)
        ),
    );
    let json = sandbox.run(&["--config", config.to_str().unwrap(), "audit", "--json"], "", &[]);
    assert_eq!(json.code, 1, "a refused component makes audit fail: {json:?}");
    assert!(!json.stdout.contains("never-shown"), "setting values must not be shown");
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let plugin = |id: &str| report["plugins"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap().clone();

    let static_plugin = plugin("static");
    assert_eq!(static_plugin["source"], "built-in static");
    assert_eq!(static_plugin["world"], "0.1.2");
    assert_eq!(static_plugin["routes"], serde_json::json!(["127.0.0.1:5000"]));
    assert_eq!(
        static_plugin["env"],
        serde_json::json!([{"grant": "REGISTRY_PASSWORD", "origin": "config", "widens": true}])
    );
    assert_eq!(static_plugin["network"], serde_json::json!([]));
    assert_eq!(static_plugin["settings"], serde_json::json!(["secret", "username"]));
    assert_eq!(
        static_plugin["limits"],
        serde_json::json!([
            {"name": "memory-mib", "value": 16, "origin": "config"},
            {"name": "deadline-ms", "value": 15000, "origin": "default"},
            {"name": "max-requests", "value": 32, "origin": "default"}
        ])
    );
    assert_eq!(static_plugin["error"], serde_json::Value::Null);
    assert_eq!(static_plugin["sha256"].as_str().unwrap().len(), 64);
    let imports: Vec<&str> = static_plugin["imports"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
    assert!(imports.contains(&"docker-credential-wasm:plugin/settings@0.1.2"), "{imports:?}");
    assert!(imports.iter().all(|i| !i.starts_with("wasi:sockets") && !i.starts_with("wasi:filesystem")), "{imports:?}");

    let hostile_plugin = plugin("hostile");
    assert_eq!(hostile_plugin["sha256"], sha256sum(hostile));
    assert_eq!(
        hostile_plugin["network"],
        serde_json::json!([
            {"grant": "https://*.example.com", "origin": "config", "widens": true},
            {"grant": "http://169.254.169.254", "origin": "config", "widens": true}
        ])
    );
    let hostile_imports = hostile_plugin["imports"].as_array().unwrap();
    assert!(hostile_imports.iter().any(|i| i == "wasi:http/outgoing-handler@0.2.12"), "{hostile_imports:?}");
    // The code that would run, and how it was checked.
    let cached_at = hostile_plugin["code"].as_str().unwrap();
    assert!(cached_at.starts_with("compiled now from the pinned bytes; cached at "), "{cached_at}");
    assert!(
        static_plugin["code"].as_str().unwrap().starts_with("compiled when this program was built; mapped from "),
        "{static_plugin}"
    );

    let refused = plugin("undeclared");
    assert_eq!(refused["refused_imports"], serde_json::json!(["example:forbidden/keyvalue@1.0.0"]));
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .starts_with("it imports example:forbidden/keyvalue@1.0.0, which plugins may not use; "),
        "{refused:?}"
    );

    let table = sandbox.run(&["--config", config.to_str().unwrap(), "audit"], "", &[]);
    assert_eq!(table.code, 1);
    // The second audit finds the code compiled by the first, and says how it checked it.
    assert!(
        table.stdout.contains(&format!(
            "  code      {} (HMAC verified: the file this cache compiled from the pinned bytes)\n",
            cached_at.trim_start_matches("compiled now from the pinned bytes; cached at ")
        )),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("\nplugin \"static\"  built-in static\n"), "{}", table.stdout);
    assert!(
        table.stdout.contains("  env       REGISTRY_PASSWORD                        config  WIDENS the manifest\n"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("  limits    memory-mib 16 (config), deadline-ms 15000 (default), max-requests 32 (default)\n"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("  REFUSED\n"), "{}", table.stdout);
    assert!(
        table.stdout.contains("  status    REFUSED: it imports example:forbidden/keyvalue@1.0.0, "),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("  status    ok\n"), "{}", table.stdout);
}
