//! The kubelet image credential provider, end to end: the built binary answers
//! `CredentialProviderRequest`s with real plugins, its responses pass the kubelet's strict
//! decoding and checks, its `auth` keys match exactly the requested registry under the
//! kubelet's glob rules, and the examples in `deploy/kubernetes/` are valid kubelet configs
//! that answer their example requests.

mod common;

use common::azure::identity_of;
use common::kubelet::{
    GROUP_V1, decode_response, go_duration_seconds, keyring_lookup, parse_provider_config, urls_match,
};
use common::{Output, Sandbox, mock_cloud, sha256sum};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn request(image: &str) -> String {
    format!(r#"{{"kind":"CredentialProviderRequest","apiVersion":"{GROUP_V1}","image":"{image}"}}"#)
}

fn provide(sandbox: &Sandbox, config: &Path, stdin: &str, extra_args: &[&str]) -> Output {
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(extra_args);
    args.push("kubelet");
    sandbox.run(&args, stdin, &[])
}

/// A config routing `*.test` (any port-less host with two labels) to the kubelet-context guest.
fn context_plugin(sandbox: &Sandbox, settings: &str) -> PathBuf {
    let wasm = Path::new(test_artifacts::KUBELET_CONTEXT);
    let config = format!(
        "[routes]\n\"*.test\" = \"context\"\n[plugins.context]\npath = \"{}\"\nsha256 = \"{}\"\nsettings = {{ {settings} }}\n",
        wasm.display(),
        sha256sum(wasm)
    );
    sandbox.write("config.toml", &config)
}

#[test]
fn the_kubelet_matcher_follows_the_documented_rules() {
    for (glob, target, expected) in [
        ("*.kubernetes.io", "prefix.kubernetes.io", true),
        ("*.kubernetes.io", "prefix.k8s.io", false),
        ("*.k8s.io", "a.b.k8s.io", false),
        ("*.*.k8s.io", "a.b.k8s.io", true),
        ("prefix.*.io", "prefix.kubernetes.io", true),
        ("*-good.kubernetes.io", "prefix-good.kubernetes.io", true),
        ("app*.k8s.io", "apple.k8s.io", true),
        ("k8s.*", "k8s.io", true),
        ("k8s.io", "k8s.io/anything", true),
        ("k8s.io/team", "k8s.io/team/app", true),
        ("k8s.io/team", "k8s.io/other", false),
        ("k8s.io:5000", "k8s.io:5000/app", true),
        ("k8s.io", "k8s.io:5000/app", false),
        ("k8s.io:5000", "k8s.io/app", false),
        ("*.dkr.ecr.*.amazonaws.com", "123.dkr.ecr.us-west-2.amazonaws.com/app", true),
        ("*.dkr.ecr.*.amazonaws.com", "123.dkr.ecr.cn-north-1.amazonaws.com.cn/app", false),
    ] {
        assert_eq!(urls_match(glob, target), expected, "{glob} vs {target}");
    }
}

#[test]
fn responses_pass_the_kubelets_checks_and_cover_exactly_the_registry() {
    let sandbox = Sandbox::new();
    let config = context_plugin(&sandbox, "");
    for (image, others) in [
        ("registry.test/team/app", ["other.test/team/app", "registry.test:5000/team/app", "a.registry.test/team/app"]),
        ("mirror.test/library/nginx", ["mirror.test.example/x", "docker.io/library/nginx", "nginx"]),
    ] {
        let output = provide(&sandbox, &config, &request(image), &[]);
        assert_eq!((output.code, output.stderr.as_str()), (0, ""), "{image}");
        let response = decode_response(&output.stdout, GROUP_V1).unwrap();
        assert_eq!(response.cache_key_type, "Registry");
        assert_eq!(response.cache_duration, None);
        let registry = image.split('/').next().unwrap().to_string();
        assert_eq!(response.auth.keys().collect::<Vec<_>>(), [&registry]);
        assert_eq!(
            (response.auth[&registry].username.as_str(), response.auth[&registry].password.as_str()),
            ("node", "no-token")
        );
        assert_eq!(keyring_lookup(response.auth.keys(), image), std::slice::from_ref(&registry), "{image}");
        for other in others {
            assert!(keyring_lookup(response.auth.keys(), other).is_empty(), "{registry} must not apply to {other}");
        }
    }
    // An image on a registry no route serves: a valid answer with no credentials.
    let output = provide(&sandbox, &config, &request("quay.io/org/app"), &[]);
    assert_eq!(
        (output.stdout.as_str(), output.code),
        (
            r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Registry","cacheDuration":"0s","auth":{}}
"#,
            0
        )
    );
    decode_response(&output.stdout, GROUP_V1).unwrap();
}

#[test]
fn golden_answers_for_each_cloud_host_form() {
    let sandbox = Sandbox::new();
    let config = sandbox.write(
        "config.toml",
        r#"
[routes]
"*.dkr.ecr.*.amazonaws.com" = "ecr"
"*.azurecr.io" = "acr"
"gcr.io" = "gcr"
"*-docker.pkg.dev" = "gcr"
"127.0.0.1:5000" = "static"
"docker.io" = "hub"
[plugins.ecr]
builtin = "static"
settings = { username = "AWS", secret = "ecr-password" }
[plugins.acr]
builtin = "static"
settings = { username = "00000000-0000-0000-0000-000000000000", secret = "acr-refresh-token" }
[plugins.gcr]
builtin = "static"
settings = { username = "oauth2accesstoken", secret = "ya29.token" }
[plugins.static]
settings = { username = "testuser", secret = "s" }
cache-max-seconds = 600
[plugins.hub]
builtin = "static"
settings = { username = "hubuser", secret = "dckr_pat" }
"#,
    );
    for (image, answer) in [
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app",
            r#""cacheKeyType":"Registry","auth":{"123456789012.dkr.ecr.us-west-2.amazonaws.com":{"username":"AWS","password":"ecr-password"}}"#,
        ),
        (
            "myreg.azurecr.io/app@sha256:0123",
            r#""cacheKeyType":"Registry","auth":{"myreg.azurecr.io":{"username":"00000000-0000-0000-0000-000000000000","password":"acr-refresh-token"}}"#,
        ),
        (
            "gcr.io/project/app:v1",
            r#""cacheKeyType":"Registry","auth":{"gcr.io":{"username":"oauth2accesstoken","password":"ya29.token"}}"#,
        ),
        (
            "europe-west3-docker.pkg.dev/project/repo/app",
            r#""cacheKeyType":"Registry","auth":{"europe-west3-docker.pkg.dev":{"username":"oauth2accesstoken","password":"ya29.token"}}"#,
        ),
        (
            "127.0.0.1:5000/app",
            r#""cacheKeyType":"Registry","cacheDuration":"10m0s","auth":{"127.0.0.1:5000":{"username":"testuser","password":"s"}}"#,
        ),
        (
            "docker.io/library/nginx",
            r#""cacheKeyType":"Registry","auth":{"index.docker.io":{"username":"hubuser","password":"dckr_pat"}}"#,
        ),
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com.cn/app",
            r#""cacheKeyType":"Registry","cacheDuration":"0s","auth":{}"#,
        ),
    ] {
        let output = provide(&sandbox, &config, &request(image), &[]);
        let expected = format!(
            r#"{{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1",{answer}}}"#
        ) + "\n";
        assert_eq!((output.stdout.as_str(), output.code), (expected.as_str(), 0), "{image}: {}", output.stderr);
        let response = decode_response(&output.stdout, GROUP_V1).unwrap();
        if let Some(key) = response.auth.keys().next() {
            assert_eq!(keyring_lookup(response.auth.keys(), image), std::slice::from_ref(key), "{image}");
        }
    }
}

#[test]
fn the_response_echoes_the_requests_api_version() {
    let sandbox = Sandbox::new();
    let config = context_plugin(&sandbox, "");
    let beta = "credentialprovider.kubelet.k8s.io/v1beta1";
    let stdin = format!(r#"{{"kind":"CredentialProviderRequest","apiVersion":"{beta}","image":"registry.test/app"}}"#);
    let output = provide(&sandbox, &config, &stdin, &[]);
    assert_eq!(
        output.stdout,
        r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","cacheKeyType":"Registry","auth":{"registry.test":{"username":"node","password":"no-token"}}}
"#
    );
    decode_response(&output.stdout, beta).unwrap();
}

#[test]
fn service_account_tokens_and_annotations_reach_the_plugin() {
    let sandbox = Sandbox::new();
    let config = context_plugin(&sandbox, "");
    let stdin = format!(
        r#"{{"kind":"CredentialProviderRequest","apiVersion":"{GROUP_V1}","image":"registry.test/app","serviceAccountToken":"pod-token-1","serviceAccountAnnotations":{{"example.com/role":"puller","other":"x"}}}}"#
    );
    let output = provide(&sandbox, &config, &stdin, &["--log-level", "debug"]);
    assert_eq!(
        output.stdout,
        r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Registry","auth":{"registry.test":{"username":"puller","password":"token:pod-token-1"}}}
"#
    );
    assert!(!output.stderr.contains("pod-token-1"), "the token must not be logged: {}", output.stderr);
    // Answers that carry a pod's token are not kept in the host's cache: a second pod's
    // token is exchanged anew.
    let second = stdin.replace("pod-token-1", "pod-token-2");
    let output = provide(&sandbox, &config, &second, &[]);
    assert!(output.stdout.contains(r#""password":"token:pod-token-2""#), "{}", output.stdout);
    let cached = std::fs::read_dir(sandbox.path(".cache/docker-credential-wasm/credentials"));
    assert!(cached.map_or(true, |mut entries| entries.next().is_none()), "no credential may be cached");
}

#[test]
fn a_plugin_that_reads_the_image_is_answered_per_image() {
    let sandbox = Sandbox::new();
    let config = context_plugin(&sandbox, "per-image = \"true\"");
    let output = provide(&sandbox, &config, &request("registry.test/team/app:v1"), &[]);
    assert_eq!(
        output.stdout,
        r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Image","auth":{"registry.test/team/app":{"username":"node@registry.test/team/app","password":"no-token"}}}
"#
    );
    let response = decode_response(&output.stdout, GROUP_V1).unwrap();
    assert_eq!(keyring_lookup(response.auth.keys(), "registry.test/team/app"), ["registry.test/team/app"]);
    assert!(keyring_lookup(response.auth.keys(), "registry.test/team/other").is_empty());
}

#[test]
fn the_cache_duration_is_half_the_remaining_life_and_a_second_pull_is_a_cache_hit() {
    let sandbox = Sandbox::new();
    let config = context_plugin(&sandbox, "lifetime-seconds = \"7200\"");
    let output = provide(&sandbox, &config, &request("registry.test/app"), &[]);
    let response = decode_response(&output.stdout, GROUP_V1).unwrap();
    // The plugin's clock and the host's may be a second apart.
    assert!(
        ["1h0m0s", "59m59s"].contains(&response.cache_duration.as_deref().unwrap()),
        "{:?}",
        response.cache_duration
    );
    let output = provide(&sandbox, &config, &request("registry.test/other"), &["--log-level", "debug"]);
    assert!(output.stderr.contains("registry.test: fresh in the cache until"), "{}", output.stderr);
    assert!(!output.stderr.contains("instantiate and call"), "a hit runs no plugin: {}", output.stderr);
    let again = decode_response(&output.stdout, GROUP_V1).unwrap();
    assert!(again.cache_duration.as_deref().and_then(go_duration_seconds).unwrap() <= 3600);
}

#[test]
fn bad_requests_exit_1_with_the_reason_on_stderr() {
    let sandbox = Sandbox::new();
    let config = context_plugin(&sandbox, "");
    for (stdin, reason) in [
        (
            "{",
            "the request on stdin is not a CredentialProviderRequest in JSON: EOF while parsing an object at line 1 column 1",
        ),
        (
            r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"a.test/x"}"#,
            "the request's kind is \"CredentialProviderResponse\"; expected \"CredentialProviderRequest\"",
        ),
        (
            r#"{"kind":"CredentialProviderRequest","apiVersion":"v1","image":"a.test/x"}"#,
            "the request's apiVersion \"v1\" is not supported; expected credentialprovider.kubelet.k8s.io/v1 (or v1beta1, v1alpha1)",
        ),
        (
            &request("a.test/x y"),
            "the image \"a.test/x y\" is not a valid image reference: a path component is empty or not lower-case letters and digits separated by `.`, `_`, `__` or `-`; expected host[:port]/path, e.g. \"123456789012.dkr.ecr.us-west-2.amazonaws.com/app\"",
        ),
    ] {
        let output = provide(&sandbox, &config, stdin, &[]);
        assert_eq!(
            output,
            Output { stdout: String::new(), stderr: format!("docker-credential-wasm: {reason}\n"), code: 1 },
            "{stdin}"
        );
    }
}

#[test]
fn installed_under_a_provider_name_it_needs_no_arguments() {
    let sandbox = Sandbox::new();
    let config = context_plugin(&sandbox, "");
    let provider = sandbox.path("wasm-credential-provider");
    std::os::unix::fs::symlink(common::BIN, &provider).unwrap();
    let mut command = std::process::Command::new(&provider);
    command.env_clear().env("HOME", sandbox.path("")).env("DOCKER_CREDENTIAL_WASM_CONFIG", &config);
    let output = common::run(command, &request("registry.test/app"));
    assert_eq!(
        (output.stdout.as_str(), output.code),
        (
            r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Registry","auth":{"registry.test":{"username":"node","password":"no-token"}}}
"#,
            0
        ),
        "{}",
        output.stderr
    );
}

/// Every directory of `deploy/kubernetes` with a `credential-provider-config.yaml`.
fn deploy_examples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(workspace().join("deploy/kubernetes"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|dir| dir.join("credential-provider-config.yaml").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_built_in_plugin_has_a_kubelet_example() {
    let examples: Vec<String> =
        deploy_examples().iter().map(|dir| dir.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for plugin in std::fs::read_dir(workspace().join("plugins")).unwrap() {
        let name = plugin.unwrap().file_name().to_string_lossy().into_owned();
        // The credential store keeps a desktop user's logins; the kubelet is not served by it.
        if name == "keyring" {
            continue;
        }
        assert!(examples.contains(&name), "deploy/kubernetes/{name}/ is missing");
    }
}

#[test]
fn the_deploy_examples_are_valid_kubelet_configs_that_answer_their_requests() {
    const NODE_DIR: &str = "/etc/docker-credential-wasm/";
    let examples = deploy_examples();
    assert!(!examples.is_empty());
    for dir in examples {
        let yaml = std::fs::read_to_string(dir.join("credential-provider-config.yaml")).unwrap();
        let kubelet_config = parse_provider_config(&yaml).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let node_config = std::fs::read_to_string(dir.join("config.toml")).unwrap();

        // matchImages are exactly the config's routes.
        let routes: toml::Table =
            toml::from_str::<toml::Table>(&node_config).unwrap()["routes"].as_table().unwrap().clone();
        let mut routed: Vec<&String> = routes.keys().collect();
        routed.sort();
        for provider in &kubelet_config.providers {
            let mut matched: Vec<&String> = provider.match_images.iter().collect();
            matched.sort();
            assert_eq!(matched, routed, "{}: matchImages must be the config's [routes]", dir.display());
        }

        // The node's files live in a scratch dir instead of /etc.
        let sandbox = Sandbox::new();
        let node_dir = format!("{}/", sandbox.path("etc").display());
        std::fs::create_dir_all(&node_dir).unwrap();
        std::fs::write(format!("{node_dir}registry-password"), "example-password\n").unwrap();
        let node_config = node_config
            .replace(NODE_DIR, &node_dir)
            .replace("/var/cache/docker-credential-wasm", sandbox.path("cache").to_str().unwrap());
        std::fs::write(format!("{node_dir}config.toml"), node_config).unwrap();

        let (_mock, cloud_env) = mock_cloud(dir.file_name().unwrap().to_str().unwrap(), &sandbox);
        for provider in &kubelet_config.providers {
            let mut command = sandbox.command(&provider.args.iter().map(String::as_str).collect::<Vec<_>>());
            command.env_remove("HOME").envs(cloud_env.iter().map(|(k, v)| (k, v)));
            for env in &provider.env {
                command.env(&env.name, env.value.replace(NODE_DIR, &node_dir));
            }
            let request = std::fs::read_to_string(dir.join("example-request.json")).unwrap();
            let output = common::run(command, &request);
            let expected = std::fs::read_to_string(dir.join("example-response.json")).unwrap();
            assert_eq!(output.code, 0, "{}: {}", dir.display(), output.stderr);
            // The cache duration follows the clock: it may be a second short of the example's.
            let (mut actual, mut expected): (serde_json::Value, serde_json::Value) =
                (serde_json::from_str(&output.stdout).unwrap(), serde_json::from_str(&expected).unwrap());
            let seconds = |v: &mut serde_json::Value| {
                v.as_object_mut()
                    .unwrap()
                    .remove("cacheDuration")
                    .map(|d| go_duration_seconds(d.as_str().unwrap()).unwrap())
            };
            let (got, want) = (seconds(&mut actual), seconds(&mut expected));
            assert!(
                got == want || got.zip(want).is_some_and(|(g, w)| g + 1 == w),
                "{}: {got:?} {want:?}",
                dir.display()
            );
            // A password written `<ACR refresh token for X>` is a token the mock issued to X.
            for (key, auth) in expected["auth"].as_object_mut().unwrap() {
                let Some(identity) = auth["password"].as_str().and_then(|p| p.strip_prefix("<ACR refresh token for "))
                else {
                    continue;
                };
                let identity = identity.trim_end_matches('>').to_string();
                let token = actual["auth"][key]["password"].as_str().unwrap_or_default().to_string();
                assert_eq!(identity_of(&token), identity, "{}", dir.display());
                auth["password"] = serde_json::Value::String(token);
            }
            assert_eq!(actual, expected, "{}", dir.display());
            let response = decode_response(&output.stdout, &provider.api_version).unwrap();
            let image: serde_json::Value = serde_json::from_str(&request).unwrap();
            let image = image["image"].as_str().unwrap();
            assert!(provider.match_images.iter().any(|glob| urls_match(glob, image)), "{image} is not matched");
            assert_eq!(keyring_lookup(response.auth.keys(), image).len(), 1, "{image}");
        }
    }
}

#[test]
fn the_daemonset_installs_where_the_examples_expect() {
    let yaml = std::fs::read_to_string(workspace().join("deploy/kubernetes/daemonset.yaml")).unwrap();
    let daemonset: serde_json::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!((daemonset["apiVersion"].as_str(), daemonset["kind"].as_str()), (Some("apps/v1"), Some("DaemonSet")));
    let spec = &daemonset["spec"]["template"]["spec"];
    let host_paths: Vec<&str> =
        spec["volumes"].as_array().unwrap().iter().filter_map(|v| v["hostPath"]["path"].as_str()).collect();
    let guide = std::fs::read_to_string(workspace().join("deploy/kubernetes/README.md")).unwrap();
    for path in host_paths.iter() {
        assert!(guide.contains(path), "README.md does not mention {path}");
    }
    assert!(host_paths.contains(&"/usr/local/libexec/kubernetes/credential-provider"));
    for dir in deploy_examples() {
        let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
        let cache_dir = toml::from_str::<toml::Table>(&config).unwrap()["cache"]["dir"].as_str().unwrap().to_string();
        assert!(
            host_paths.contains(&cache_dir.as_str()),
            "{}: the cache dir {cache_dir} is not installed",
            dir.display()
        );
        let yaml = std::fs::read_to_string(dir.join("credential-provider-config.yaml")).unwrap();
        for provider in parse_provider_config(&yaml).unwrap().providers {
            let config_env = provider.env.iter().find(|e| e.name == "DOCKER_CREDENTIAL_WASM_CONFIG").unwrap();
            assert!(config_env.value.starts_with("/etc/docker-credential-wasm/"), "{}", config_env.value);
        }
    }
    // Run the install script, with the node's and the image's paths moved into a scratch
    // root: both programs land in the provider bin dir, and the installed front finds the
    // engine there to precompile the plugins.
    let install = spec["initContainers"][0]["command"].as_array().unwrap().last().unwrap().as_str().unwrap();
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().display().to_string();
    let image = Path::new(env!("CARGO_BIN_EXE_docker-credential-wasm")).parent().unwrap().display().to_string();
    for dir in ["provider-bin", "etc", "cache", "config"] {
        std::fs::create_dir(root.path().join(dir)).unwrap();
    }
    let example = std::fs::read_to_string(workspace().join("deploy/kubernetes/static/config.toml")).unwrap();
    let moved = example.replace("/var/cache/docker-credential-wasm", &format!("{root_path}/cache"));
    assert_ne!(moved, example, "the static example's cache dir moved");
    std::fs::write(root.path().join("config/config.toml"), moved).unwrap();
    let script = install
        .replace("install -m 0755 /$program", &format!("install -m 0755 {image}/$program"))
        .replace("/provider-bin", &format!("{root_path}/provider-bin"))
        .replace("/etc/docker-credential-wasm", &format!("{root_path}/etc"))
        .replace("/config/", &format!("{root_path}/config/"));
    let output = Command::new("sh").args(["-ec", &script]).env_clear().output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut installed: Vec<String> = std::fs::read_dir(root.path().join("provider-bin"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    installed.sort();
    assert_eq!(installed, ["docker-credential-wasm", "docker-credential-wasm-engine"]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("precompiled static ("), "{stdout}");
    let mut compiled: Vec<String> = std::fs::read_dir(root.path().join("cache/components"))
        .unwrap()
        .map(|entry| entry.unwrap().path().extension().unwrap().to_string_lossy().into_owned())
        .collect();
    compiled.sort();
    assert_eq!(compiled, ["cwasm", "mac"], "the compiled code and its MAC");
    let containerfile = std::fs::read_to_string(workspace().join("deploy/kubernetes/Containerfile")).unwrap();
    assert!(containerfile.contains("COPY docker-credential-wasm docker-credential-wasm-engine /"), "{containerfile}");
}

#[test]
fn the_pull_secret_refresher_example_writes_a_secret_from_docker_config() {
    let dir = workspace().join("deploy/kubernetes/pull-secret-refresher");
    let yaml = std::fs::read_to_string(dir.join("refresher.yaml")).unwrap();
    let documents: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&yaml)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .collect();
    let kinds: Vec<&str> = documents.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ServiceAccount", "Role", "RoleBinding", "CronJob"]);
    let cron_job = &documents[3];
    let pod = &cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], documents[0]["metadata"]["name"]);
    // The secret it writes is the one the Role lets it update.
    let update_rule = documents[1]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["verbs"].as_array().unwrap().contains(&"update".into()))
        .unwrap();
    assert_eq!(update_rule["resourceNames"], serde_json::json!(["ecr-pull"]));

    // The init container's script, run here: our binary for the image's, a scratch dir for
    // the volume, and the static plugin standing in for ECR.
    let script = pod["initContainers"][0]["command"][2].as_str().unwrap();
    let sandbox = Sandbox::new();
    let work = sandbox.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let script = script
        .replace("/work/", &format!("{}/", work.display()))
        .replace("/docker-credential-wasm ", &format!("{} ", common::BIN));
    let config = sandbox.write(
        "config.toml",
        "[routes]\n\"123456789012.dkr.ecr.us-east-1.amazonaws.com\" = \"static\"\n[plugins.static]\nsettings = { username = \"AWS\", secret = \"ecr-token\" }\n",
    );
    // As the container runs it: its own HOME, the config where the image would put it.
    let run_script = |config: &Path| {
        let mut command = Command::new("sh");
        command
            .args(["-c", &script])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", &work)
            .env("DOCKER_CREDENTIAL_WASM_CONFIG", config);
        common::run(command, "")
    };
    let output = run_script(&config);
    assert_eq!((output.code, output.stderr.as_str()), (0, ""));
    let secret: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(work.join("secret.yaml")).unwrap()).unwrap();
    assert_eq!(
        (secret["kind"].as_str(), secret["type"].as_str()),
        (Some("Secret"), Some("kubernetes.io/dockerconfigjson"))
    );
    assert_eq!(secret["metadata"], serde_json::json!({"name": "ecr-pull", "namespace": "apps"}));
    let encoded = secret["data"][".dockerconfigjson"].as_str().unwrap();
    use base64::Engine;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap();
    assert_eq!(
        decoded,
        "{\"auths\":{\"123456789012.dkr.ecr.us-east-1.amazonaws.com\":{\"auth\":\"QVdTOmVjci10b2tlbg==\",\"password\":\"ecr-token\",\"username\":\"AWS\"}}}\n"
    );

    // No credentials: the script fails and writes no secret.
    std::fs::remove_file(work.join("secret.yaml")).unwrap();
    let output = run_script(&sandbox.write("empty.toml", ""));
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(!work.join("secret.yaml").exists());
}
