use super::*;
use crate::config::{Origin, parse};

type Answer = Box<dyn Fn(&PluginConfig, &Call) -> CallOutcome>;

/// Answers every call with a fixed reply and records what it was asked.
struct FakePlugins {
    answer: Answer,
    calls: Vec<(String, String)>,
    cache: Option<CredentialCache>,
}

impl FakePlugins {
    fn new(answer: impl Fn(&PluginConfig, &Call) -> CallOutcome + 'static) -> Self {
        FakePlugins { answer: Box::new(answer), calls: Vec::new(), cache: None }
    }
}

impl Plugins for FakePlugins {
    fn credential_cache(&mut self, _config: &Config) -> Option<CredentialCache> {
        self.cache.clone()
    }

    fn call(&mut self, _config: &Config, plugin: &PluginConfig, call: Call) -> CallOutcome {
        self.calls.push((plugin.id.clone(), format!("{call:?}")));
        (self.answer)(plugin, &call)
    }
}

const CONFIG: &str = "[routes]\n\"127.0.0.1:5000\" = \"static\"\n\"*.corp.example\" = \"corp\"\n\
    [plugins.static]\nsettings = { username = \"testuser\", secret = \"s\" }\n\
    [plugins.corp]\nbuiltin = \"static\"\nignore-store = true\n";

fn config() -> anyhow::Result<Config> {
    Ok(parse(CONFIG, Origin::Embedded)?)
}

/// Runs `action` and returns (stdout, exit code).
fn run_with(action: Action, stdin: &str, plugins: &mut FakePlugins) -> (String, ExitCode) {
    let mut out = Vec::new();
    let code = run(action, stdin.as_bytes(), &mut out, config, plugins).unwrap();
    (String::from_utf8(out).unwrap(), code)
}

fn credentials(username: &str, secret: &str) -> CallOutcome {
    Ok(Ok(Reply::Credentials(Credentials { username: username.into(), secret: secret.into(), expires_at: None })))
}

#[test]
fn get_echoes_the_server_url_as_sent_and_passes_the_normalised_registry() {
    let mut plugins = FakePlugins::new(|_, _| credentials("<token>", "refresh"));
    let (out, code) = run_with(Action::Get, "http://127.0.0.1:5000/v2/\n", &mut plugins);
    assert_eq!(
        out,
        "{\"ServerURL\":\"http://127.0.0.1:5000/v2/\",\"Username\":\"\\u003ctoken\\u003e\",\"Secret\":\"refresh\"}\n"
    );
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(plugins.calls, vec![("static".to_string(), "Get(\"127.0.0.1:5000\")".to_string())]);
}

#[test]
fn get_for_an_unrouted_or_unparseable_registry_is_not_found_without_a_plugin_call() {
    let mut plugins = FakePlugins::new(|_, _| panic!("no plugin may run"));
    for input in ["docker.io", "https://index.docker.io/v1/", "127.0.0.1:5001", "corp.example", "ftp://x", "a b"] {
        assert_eq!(
            run_with(Action::Get, input, &mut plugins),
            ("credentials not found in native keychain\n".into(), ExitCode::FAILURE),
            "{input}"
        );
    }
}

#[test]
fn get_without_a_server_url_is_the_reference_error() {
    let mut plugins = FakePlugins::new(|_, _| panic!("no plugin may run"));
    assert_eq!(run_with(Action::Get, "", &mut plugins), ("no credentials server URL\n".into(), ExitCode::FAILURE));
    assert_eq!(run_with(Action::Get, " \n\n", &mut plugins), ("no credentials server URL\n".into(), ExitCode::FAILURE));
}

#[test]
fn plugin_answers_map_to_protocol_lines() {
    let cases: Vec<(PluginError, &str)> = vec![
        (PluginError::NotFound("none".into()), "credentials not found in native keychain\n"),
        (PluginError::Unsupported("get".into()), "credentials not found in native keychain\n"),
        (
            PluginError::Denied("403 from sts".into()),
            "docker-credential-wasm: plugin \"static\": denied: 403 from sts\n",
        ),
        (
            PluginError::Upstream("imds: timeout".into()),
            "docker-credential-wasm: plugin \"static\": upstream failure: imds: timeout\n",
        ),
        (
            PluginError::InvalidInput("bad\nregion\u{1b}[2J".into()),
            "docker-credential-wasm: plugin \"static\": invalid input: bad\\nregion\\u{1b}[2J\n",
        ),
    ];
    for (error, expected) in cases {
        let mut plugins = FakePlugins::new(move |_, _| Ok(Err(error.clone())));
        assert_eq!(run_with(Action::Get, "127.0.0.1:5000", &mut plugins), (expected.to_string(), ExitCode::FAILURE));
    }
}

#[test]
fn sandbox_failures_are_one_line_naming_the_plugin() {
    let mut plugins =
        FakePlugins::new(|_, _| Err(anyhow::anyhow!("it exceeded its deadline of 15000 ms (deadline-ms)")));
    assert_eq!(
        run_with(Action::Get, "127.0.0.1:5000", &mut plugins),
        (
            "docker-credential-wasm: plugin \"static\" failed: it exceeded its deadline of 15000 ms (deadline-ms)\n"
                .into(),
            ExitCode::FAILURE
        )
    );
}

#[test]
fn oversized_credentials_are_refused() {
    let mut plugins = FakePlugins::new(|_, _| credentials("u", &"x".repeat(MAX_SECRET_BYTES + 1)));
    let (out, code) = run_with(Action::Get, "127.0.0.1:5000", &mut plugins);
    assert_eq!(
        out,
        format!(
            "docker-credential-wasm: plugin \"static\" failed: it returned a secret of {} bytes; the limit is {MAX_SECRET_BYTES}\n",
            MAX_SECRET_BYTES + 1
        )
    );
    assert_eq!(code, ExitCode::FAILURE);
}

#[test]
fn a_config_error_is_reported_not_hidden_as_not_found() {
    let mut out = Vec::new();
    let mut plugins = FakePlugins::new(|_, _| panic!("no plugin may run"));
    let broken = || -> anyhow::Result<Config> { Ok(parse("[routes]\n\"x\" = \"nope\"\n", Origin::Embedded)?) };
    let code = run(Action::Get, b"x", &mut out, broken, &mut plugins).unwrap();
    assert_eq!(code, ExitCode::FAILURE);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "docker-credential-wasm: <embedded default config>:2:7: route \"x\" names the plugin \"nope\", which is neither a [plugins.nope] table nor a built-in plugin (static)\n"
    );
}

#[test]
fn store_validates_input_then_asks_the_plugin() {
    let mut plugins = FakePlugins::new(|_, _| Ok(Ok(Reply::Done)));
    let (out, code) =
        run_with(Action::Store, r#"{"ServerURL":"127.0.0.1:5000","Username":"u","Secret":"s"}"#, &mut plugins);
    assert_eq!((out.as_str(), code), ("", ExitCode::SUCCESS));
    assert_eq!(
        plugins.calls[0].1,
        "Store(\"127.0.0.1:5000\", Credentials { username: \"u\", secret: \"s\", expires-at: None })"
    );
    for (input, expected) in [
        (r#"{"Username":"u"}"#, "no credentials server URL\n"),
        (r#"{"ServerURL":"127.0.0.1:5000"}"#, "no credentials username\n"),
        ("nope", "invalid credentials JSON on stdin: expected ident at line 1 column 2\n"),
        (
            r#"{"ServerURL":"elsewhere.example","Username":"u"}"#,
            "docker-credential-wasm: no route serves elsewhere.example, so there is no plugin to store its credentials; add it to [routes] in <embedded default config>\n",
        ),
    ] {
        assert_eq!(run_with(Action::Store, input, &mut plugins), (expected.to_string(), ExitCode::FAILURE), "{input}");
    }
}

#[test]
fn unsupported_store_and_erase_fail_unless_the_operator_ignores_them() {
    let mut plugins = FakePlugins::new(|_, _| Ok(Err(PluginError::Unsupported("save".into()))));
    let stored = r#"{"ServerURL":"127.0.0.1:5000","Username":"u","Secret":"s"}"#;
    assert_eq!(
        run_with(Action::Store, stored, &mut plugins),
        ("docker-credential-wasm: plugin \"static\" does not store credentials; to let `docker login` and `docker logout` succeed without it, set ignore-store = true in [plugins.static]\n".into(), ExitCode::FAILURE)
    );
    assert_eq!(
        run_with(Action::Erase, "127.0.0.1:5000", &mut plugins),
        ("docker-credential-wasm: plugin \"static\" does not erase credentials; to let `docker login` and `docker logout` succeed without it, set ignore-store = true in [plugins.static]\n".into(), ExitCode::FAILURE)
    );
    let ignored = r#"{"ServerURL":"x.corp.example","Username":"u","Secret":"s"}"#;
    assert_eq!(run_with(Action::Store, ignored, &mut plugins), (String::new(), ExitCode::SUCCESS));
    assert_eq!(run_with(Action::Erase, "x.corp.example", &mut plugins), (String::new(), ExitCode::SUCCESS));
}

#[test]
fn erase_of_an_unserved_registry_is_not_found() {
    let mut plugins = FakePlugins::new(|_, _| panic!("no plugin may run"));
    assert_eq!(
        run_with(Action::Erase, "docker.io", &mut plugins),
        ("credentials not found in native keychain\n".into(), ExitCode::FAILURE)
    );
    assert_eq!(run_with(Action::Erase, "", &mut plugins), ("no credentials server URL\n".into(), ExitCode::FAILURE));
}

#[test]
fn list_merges_plugins_and_survives_failures() {
    let mut plugins = FakePlugins::new(|plugin, call| match (plugin.id.as_str(), call) {
        ("static", Call::List(routed)) => Ok(Ok(Reply::Entries(
            routed
                .iter()
                .map(|r| crate::runtime::RegistryEntry { registry: r.clone(), username: "testuser".into() })
                .collect(),
        ))),
        _ => Err(anyhow::anyhow!("trapped")),
    });
    assert_eq!(
        run_with(Action::List, "unused", &mut plugins),
        ("{\"127.0.0.1:5000\":\"testuser\"}\n".into(), ExitCode::SUCCESS)
    );
    // The wildcard route gives its plugin no exact registries to list.
    assert!(plugins.calls.contains(&("corp".to_string(), "List([])".to_string())));
}

#[test]
fn version_needs_no_config() {
    let mut out = Vec::new();
    let mut plugins = FakePlugins::new(|_, _| panic!("no plugin may run"));
    let code = run(Action::Version, b"", &mut out, || panic!("no config needed"), &mut plugins).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "docker-credential-wasm (docker-credential-wasm) 0.1.0\n");
    assert_eq!(code, ExitCode::SUCCESS);
}
