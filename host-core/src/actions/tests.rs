use super::*;
use crate::cache::{CacheDir, credentials};
use crate::call::RegistryEntry;
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
    Ok(Ok(Reply::Credentials(
        Credentials { username: username.into(), secret: secret.into(), expires_at: None },
        Scope::Registry,
    )))
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
    assert_eq!(plugins.calls, vec![("static".to_string(), "Get(\"127.0.0.1:5000\", RequestContext { image: None, service_account_token: None, service_account_annotations: {}, server_url: Some(\"http://127.0.0.1:5000/v2/\") })".to_string())]);
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
fn without_the_engine_a_get_is_answered_only_when_no_plugin_must_run() {
    let dir = tempfile::tempdir().unwrap();
    let cache = || Some(CredentialCache::new(CacheDir::open(dir.path()).unwrap()));
    let front = |stdin: &str, config: fn() -> anyhow::Result<Config>| {
        let mut out = Vec::new();
        let answer = get_without_engine(stdin.as_bytes(), &mut out, config, |_| cache()).unwrap();
        (String::from_utf8(out).unwrap(), answer)
    };
    // A miss: nothing written, the engine must answer.
    assert_eq!(front("127.0.0.1:5000", config), (String::new(), WithoutEngine::NeedsEngine));
    // Once the engine's fetch is cached, the same request is answered here.
    let mut plugins = FakePlugins::new(|_, _| credentials("testuser", "s"));
    plugins.cache = cache();
    run(Action::Get, b"127.0.0.1:5000", &mut Vec::new(), config, &mut plugins).unwrap();
    assert_eq!(
        front("http://127.0.0.1:5000/v2/\n", config),
        (
            "{\"ServerURL\":\"http://127.0.0.1:5000/v2/\",\"Username\":\"testuser\",\"Secret\":\"s\"}\n".into(),
            WithoutEngine::Answered(ExitCode::SUCCESS)
        )
    );
    // Answers that need no plugin, exactly as the engine gives them.
    let not_found =
        ("credentials not found in native keychain\n".to_string(), WithoutEngine::Answered(ExitCode::FAILURE));
    assert_eq!(front("docker.io", config), not_found);
    assert_eq!(front("", config), ("no credentials server URL\n".into(), WithoutEngine::Answered(ExitCode::FAILURE)));
    let (out, answer) = front("127.0.0.1:5000", || Err(anyhow::anyhow!("cannot read the config file")));
    assert_eq!(
        (out, answer),
        ("docker-credential-wasm: cannot read the config file\n".into(), WithoutEngine::Answered(ExitCode::FAILURE))
    );
    // A plugin whose answers are not cached always needs the engine.
    let uncached = || Ok(parse(&CONFIG.replace("ignore-store = true", "cache = false"), Origin::Embedded)?);
    assert_eq!(front("x.corp.example", uncached), (String::new(), WithoutEngine::NeedsEngine));
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
        "docker-credential-wasm: <embedded default config>:2:7: route \"x\" names the plugin \"nope\", which is neither a [plugins.nope] table nor a built-in plugin (acr, ecr, gcr, keyring, static)\n"
    );
}

#[test]
fn store_validates_input_then_asks_the_plugin() {
    let mut plugins = FakePlugins::new(|_, call| {
        if let Call::Store(_, credentials, _) = call {
            assert_eq!(credentials.secret, "s");
        }
        Ok(Ok(Reply::Done))
    });
    let (out, code) =
        run_with(Action::Store, r#"{"ServerURL":"127.0.0.1:5000","Username":"u","Secret":"s"}"#, &mut plugins);
    assert_eq!((out.as_str(), code), ("", ExitCode::SUCCESS));
    // The secret reaches the plugin (checked above), never a debug line.
    assert_eq!(
        plugins.calls[0].1,
        "Store(\"127.0.0.1:5000\", Credentials { username: \"u\", secret: \"<redacted>\", expires_at: None }, RequestContext { image: None, service_account_token: None, service_account_annotations: {}, server_url: Some(\"127.0.0.1:5000\") })"
    );
    for (input, expected) in [
        (r#"{"Username":"u"}"#, "no credentials server URL\n"),
        (r#"{"ServerURL":"127.0.0.1:5000"}"#, "no credentials username\n"),
        ("nope", "invalid credentials JSON on stdin: expected ident at line 1 column 2\n"),
        (
            r#"{"ServerURL":"elsewhere.example","Username":"u"}"#,
            "docker-credential-wasm: no route serves elsewhere.example, so there is no plugin to store its credentials; add it to [routes], or name a credential store plugin (`[store] plugin = \"keyring\"`), in <embedded default config>\n",
        ),
    ] {
        assert_eq!(run_with(Action::Store, input, &mut plugins), (expected.to_string(), ExitCode::FAILURE), "{input}");
    }
    // Larger than a plugin could be handed: refused before any plugin runs.
    let calls = plugins.calls.len();
    let huge = format!(r#"{{"ServerURL":"127.0.0.1:5000","Username":"u","Secret":"{}"}}"#, "x".repeat(57_345));
    assert_eq!(
        run_with(Action::Store, &huge, &mut plugins),
        ("docker-credential-wasm: the secret to store is 57345 bytes; the limit is 57344\n".into(), ExitCode::FAILURE)
    );
    assert_eq!(plugins.calls.len(), calls);
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
    let entry = |registry: &str| RegistryEntry { registry: registry.into(), username: "testuser".into() };
    let mut plugins = FakePlugins::new(move |plugin, call| match (plugin.id.as_str(), call) {
        ("static", Call::List(routed)) => {
            // Rows for registries routed to another plugin, or to none, are left out.
            let mut entries: Vec<_> = routed.iter().map(|r| entry(r)).collect();
            entries.extend([entry("a.corp.example"), entry("docker.io"), entry("not a registry")]);
            Ok(Ok(Reply::Entries(entries)))
        }
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

mod kubelet_provider {
    use super::*;

    /// Every built-in host form routed to its own plugin (all the `static` built-in here:
    /// these tests are about the wire format, not the clouds).
    const KUBELET_CONFIG: &str = r#"
[routes]
"*.dkr.ecr.*.amazonaws.com" = "ecr"
"*.dkr.ecr.*.amazonaws.com.cn" = "ecr"
"public.ecr.aws" = "ecr"
"*.azurecr.io" = "acr"
"gcr.io" = "gcr"
"*.gcr.io" = "gcr"
"*-docker.pkg.dev" = "gcr"
"127.0.0.1:5000" = "static"
"docker.io" = "hub"
"slow.example" = "slow"
"nocache.example" = "nocache"
"capped.example" = "capped"

[plugins.ecr]
builtin = "static"
[plugins.acr]
builtin = "static"
[plugins.gcr]
builtin = "static"
[plugins.static]
[plugins.hub]
builtin = "static"
[plugins.slow]
builtin = "static"
deadline-ms = 120000
[plugins.nocache]
builtin = "static"
cache = false
[plugins.capped]
builtin = "static"
cache-max-seconds = 600
"#;

    fn kubelet_config() -> anyhow::Result<Config> {
        Ok(parse(KUBELET_CONFIG, Origin::Embedded)?)
    }

    fn request(image: &str) -> String {
        format!(
            r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"{image}"}}"#
        )
    }

    /// Runs the kubelet action: (stdout, stderr, exit code).
    fn provide(stdin: &str, plugins: &mut FakePlugins) -> (String, String, ExitCode) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = kubelet(stdin.as_bytes(), &mut out, &mut err, kubelet_config, plugins).unwrap();
        (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap(), code)
    }

    /// Answers with the plugin id as the user name, expiring `lifetime` seconds from now.
    fn answering(lifetime: Option<u64>, scope: Scope) -> FakePlugins {
        FakePlugins::new(move |plugin, _| {
            let expires_at = lifetime.map(|seconds| credentials::now() + seconds);
            Ok(Ok(Reply::Credentials(
                Credentials { username: plugin.id.clone(), secret: "s3cr3t".into(), expires_at },
                scope,
            )))
        })
    }

    fn response(key_type: &str, duration: Option<&str>, auth: &str) -> String {
        let duration = duration.map(|d| format!(r#""cacheDuration":"{d}","#)).unwrap_or_default();
        format!(
            r#"{{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"{key_type}",{duration}"auth":{auth}}}"#
        ) + "\n"
    }

    #[test]
    fn each_host_form_gets_its_plugins_answer_keyed_by_its_registry() {
        for (image, key, plugin) in [
            (
                "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app",
                "123456789012.dkr.ecr.us-west-2.amazonaws.com",
                "ecr",
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app:v1",
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                "ecr",
            ),
            ("public.ecr.aws/lts/ubuntu", "public.ecr.aws", "ecr"),
            ("myreg.azurecr.io/app@sha256:0123", "myreg.azurecr.io", "acr"),
            ("gcr.io/project/app", "gcr.io", "gcr"),
            ("eu.gcr.io/project/app", "eu.gcr.io", "gcr"),
            ("europe-west3-docker.pkg.dev/project/repo/app", "europe-west3-docker.pkg.dev", "gcr"),
            ("127.0.0.1:5000/app", "127.0.0.1:5000", "static"),
            ("docker.io/library/nginx", "index.docker.io", "hub"),
        ] {
            let mut plugins = answering(Some(7200), Scope::Registry);
            let (out, err, code) = provide(&request(image), &mut plugins);
            let duration = if out.contains("\"59m59s\"") { "59m59s" } else { "1h0m0s" };
            let auth = format!(r#"{{"{key}":{{"username":"{plugin}","password":"s3cr3t"}}}}"#);
            assert_eq!(
                (out, err, code),
                (response("Registry", Some(duration), &auth), String::new(), ExitCode::SUCCESS)
            );
            assert_eq!(plugins.calls.len(), 1);
            assert_eq!(plugins.calls[0].0, plugin);
            let registry = key.replace("index.docker.io", "docker.io");
            let image = Image::parse(image).unwrap().to_string();
            assert_eq!(
                plugins.calls[0].1,
                format!(
                    "Get({registry:?}, RequestContext {{ image: Some({image:?}), service_account_token: None, service_account_annotations: {{}}, server_url: None }})"
                )
            );
        }
    }

    use crate::kubelet::Image;

    #[test]
    fn what_is_not_served_gets_an_empty_answer_not_an_error() {
        let empty = response("Registry", Some("0s"), "{}");
        let mut plugins = FakePlugins::new(|_, _| panic!("no plugin may run"));
        for image in ["quay.io/org/app", "127.0.0.1:5001/app", "a.b.azurecr.io/app", "ghcr.io/o/a"] {
            assert_eq!(provide(&request(image), &mut plugins), (empty.clone(), String::new(), ExitCode::SUCCESS));
        }
        let mut plugins = FakePlugins::new(|_, _| Ok(Err(PluginError::NotFound("no identity".into()))));
        assert_eq!(provide(&request("gcr.io/p/a"), &mut plugins), (empty, String::new(), ExitCode::SUCCESS));
    }

    #[test]
    fn bad_requests_and_failures_are_errors_on_stderr() {
        let mut plugins = FakePlugins::new(|_, _| panic!("no plugin may run"));
        for (stdin, error) in [
            (
                "",
                "docker-credential-wasm: the request on stdin is not a CredentialProviderRequest in JSON: EOF while parsing a value at line 1 column 0\n",
            ),
            (
                r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v2","image":"gcr.io/a"}"#,
                "docker-credential-wasm: the request's apiVersion \"credentialprovider.kubelet.k8s.io/v2\" is not supported; expected credentialprovider.kubelet.k8s.io/v1 (or v1beta1, v1alpha1)\n",
            ),
            (
                &request("gcr.io/Project/app"),
                "docker-credential-wasm: the image \"gcr.io/Project/app\" is not a valid image reference: a path component is empty or not lower-case letters and digits separated by `.`, `_`, `__` or `-`; expected host[:port]/path, e.g. \"123456789012.dkr.ecr.us-west-2.amazonaws.com/app\"\n",
            ),
        ] {
            assert_eq!(provide(stdin, &mut plugins), (String::new(), error.to_string(), ExitCode::FAILURE), "{stdin}");
        }
        let mut plugins = FakePlugins::new(|_, _| Ok(Err(PluginError::Denied("sts: 403 AccessDenied".into()))));
        assert_eq!(
            provide(&request("gcr.io/p/a"), &mut plugins),
            (
                String::new(),
                "docker-credential-wasm: plugin \"gcr\": denied: sts: 403 AccessDenied\n".into(),
                ExitCode::FAILURE
            )
        );
    }

    #[test]
    fn the_cache_duration_follows_the_credentials_and_the_operator() {
        let cases = [
            // Half the lifetime, as the cache refreshes; never past the expiry.
            ("gcr.io/p/a", Some(21_600), Some("3h0m0s")),
            ("gcr.io/p/a", Some(10), Some("5s")),
            ("gcr.io/p/a", Some(0), Some("0s")),
            // No known expiry: the provider's defaultCacheDuration decides...
            ("gcr.io/p/a", None, None),
            // ...unless the operator capped it, or turned caching off.
            ("capped.example/a", None, Some("10m0s")),
            ("capped.example/a", Some(21_600), Some("10m0s")),
            ("nocache.example/a", Some(21_600), Some("0s")),
        ];
        for (image, lifetime, expected) in cases {
            let mut plugins = answering(lifetime, Scope::Registry);
            let (out, _, code) = provide(&request(image), &mut plugins);
            assert_eq!(code, ExitCode::SUCCESS);
            let value: serde_json::Value = serde_json::from_str(&out).unwrap();
            let duration = value.get("cacheDuration").map(|d| d.as_str().unwrap().to_string());
            // The plugin's clock and the host's may be a second apart.
            let one_less = |d: &str| match d {
                "3h0m0s" => "2h59m59s".to_string(),
                "5s" => "4s".into(),
                d => d.into(),
            };
            assert!(
                duration.as_deref() == expected || duration == expected.map(one_less),
                "{image} {lifetime:?}: {duration:?}"
            );
        }
    }

    #[test]
    fn an_answer_that_depends_on_the_image_is_keyed_by_the_image_and_not_cached_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut plugins = answering(None, Scope::Image);
        plugins.cache = Some(CredentialCache::new(CacheDir::open(dir.path()).unwrap()));
        for _ in 0..2 {
            let (out, _, _) = provide(&request("127.0.0.1:5000/team/app:1"), &mut plugins);
            let auth = r#"{"127.0.0.1:5000/team/app":{"username":"static","password":"s3cr3t"}}"#;
            assert_eq!(out, response("Image", None, auth));
        }
        assert_eq!(plugins.calls.len(), 2);
        assert!(std::fs::read_dir(dir.path().join("credentials")).map_or(true, |mut d| d.next().is_none()));
    }

    #[test]
    fn registry_answers_are_cached_apart_from_docker_answers() {
        let dir = tempfile::tempdir().unwrap();
        let mut plugins = answering(Some(7200), Scope::Registry);
        plugins.cache = Some(CredentialCache::new(CacheDir::open(dir.path()).unwrap()));
        provide(&request("127.0.0.1:5000/app"), &mut plugins);
        provide(&request("127.0.0.1:5000/other"), &mut plugins);
        assert_eq!(plugins.calls.len(), 1, "the second image of the registry is a cache hit");
        let mut out = Vec::new();
        run(Action::Get, b"127.0.0.1:5000", &mut out, kubelet_config, &mut plugins).unwrap();
        assert_eq!(plugins.calls.len(), 2, "a Docker get does not reuse the kubelet's answer");
    }

    #[test]
    fn a_service_account_token_reaches_the_plugin_and_skips_the_disk_cache() {
        let dir = tempfile::tempdir().unwrap();
        let mut plugins = answering(Some(7200), Scope::Registry);
        plugins.cache = Some(CredentialCache::new(CacheDir::open(dir.path()).unwrap()));
        let stdin = r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"myreg.azurecr.io/app","serviceAccountToken":"eyJ.pod.token","serviceAccountAnnotations":{"kubernetes.azure.com/acr-client-id":"1234"}}"#;
        for _ in 0..2 {
            let (_, err, code) = provide(stdin, &mut plugins);
            assert_eq!((err.as_str(), code), ("", ExitCode::SUCCESS));
        }
        assert_eq!(plugins.calls.len(), 2);
        assert_eq!(
            plugins.calls[0].1,
            r#"Get("myreg.azurecr.io", RequestContext { image: Some("myreg.azurecr.io/app"), service_account_token: Some("<redacted>"), service_account_annotations: {"kubernetes.azure.com/acr-client-id": "1234"}, server_url: None })"#
        );
        assert!(std::fs::read_dir(dir.path().join("credentials")).map_or(true, |mut d| d.next().is_none()));
    }

    #[test]
    fn a_long_plugin_deadline_is_capped_inside_the_kubelets_minute() {
        let mut plugins = FakePlugins::new(|plugin, _| {
            assert_eq!(plugin.grants.limits.deadline_ms.value, KUBELET_DEADLINE_MS);
            credentials("u", "s")
        });
        let (_, err, code) = provide(&request("slow.example/app"), &mut plugins);
        assert_eq!((err.as_str(), code), ("", ExitCode::SUCCESS));
        assert_eq!(plugins.calls.len(), 1);
    }
}
