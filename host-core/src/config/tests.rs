use super::*;
use crate::grants::Limit;

fn parse_text(text: &str) -> Result<Config, ConfigError> {
    parse(text, Origin::File(PathBuf::from("/etc/dcw.toml")))
}

fn error(text: &str) -> String {
    parse_text(text).unwrap_err().to_string()
}

#[test]
fn the_embedded_default_routes_every_ecr_and_acr_host_form_and_nothing_else() {
    let config = parse(EMBEDDED_DEFAULT, Origin::Embedded).unwrap();
    assert_eq!(config.origin.to_string(), "<embedded default config>");
    let routed = |registry: &str| {
        let registry = crate::registry::Registry::parse(registry).unwrap();
        config.router.route(&registry).map(|route| route.plugin.clone())
    };
    for ecr in [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
        "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
        "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
        "123456789012.dkr-ecr.eu-west-1.on.aws",
        "123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn",
        "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
        "public.ecr.aws",
        "ecr-public.aws.com",
    ] {
        assert_eq!(routed(ecr).as_deref(), Some("ecr"), "{ecr}");
    }
    for acr in ["myreg.azurecr.io", "govreg.azurecr.us", "cnreg.azurecr.cn"] {
        assert_eq!(routed(acr).as_deref(), Some("acr"), "{acr}");
    }
    for gcr in
        ["gcr.io", "eu.gcr.io", "us-docker.pkg.dev", "europe-west3-docker.pkg.dev", "docker.us-central1.rep.pkg.dev"]
    {
        assert_eq!(routed(gcr).as_deref(), Some("gcr"), "{gcr}");
    }
    for other in [
        "docker.io",
        "a.b.gcr.io",
        "pkg.dev",
        "myreg.westeurope.data.azurecr.io",
        "azurecr.io",
        "x.dkr.ecr.us-east-1.amazonaws.com.evil.io",
        "127.0.0.1:5000",
    ] {
        assert_eq!(routed(other), None, "{other}");
    }
    assert_eq!(config.plugins["ecr"].source, PluginSource::Builtin("ecr".into()));
}

#[test]
fn the_static_example_resolves_to_a_builtin_with_its_grants() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/static.toml")).unwrap();
    let config = parse_text(&text).unwrap();
    let plugin = &config.plugins["static"];
    assert_eq!(plugin.source, PluginSource::Builtin("static".into()));
    assert_eq!(
        (plugin.grants.env.items(), plugin.grants.env.origin()),
        (&["REGISTRY_PASSWORD".to_string()][..], grants::Origin::Config)
    );
    assert_eq!((plugin.grants.files.items(), plugin.grants.files.origin()), (&[][..], grants::Origin::Manifest));
    assert_eq!(plugin.grants.settings["username"], "testuser");
    assert_eq!(plugin.grants.settings["secret-env"], "REGISTRY_PASSWORD");
    let limits = &plugin.grants.limits;
    assert_eq!(
        (limits.memory_mib.value, limits.deadline_ms.value, limits.max_requests.value, plugin.ignore_store),
        (64, 15_000, 32, false)
    );
    assert_eq!(limits, &Limits::default());
    let registry = crate::registry::Registry::parse("127.0.0.1:5000").unwrap();
    assert_eq!(config.router.route(&registry).unwrap().plugin, "static");
}

#[test]
fn a_route_to_a_builtin_needs_no_plugin_table() {
    let config = parse_text("[routes]\n\"r.example\" = \"static\"\n").unwrap();
    assert_eq!(config.plugins["static"], PluginConfig::builtin_default("static"));
}

#[test]
fn plugin_instances_of_one_builtin_and_external_files() {
    let digest = "ab".repeat(32);
    let config = parse_text(&format!(
        "[routes]\n\"a.example\" = \"team-a\"\n\"b.example\" = \"mine\"\n\
         [plugins.team-a]\nbuiltin = \"static\"\nsettings = {{ username = \"a\", secret = \"s\" }}\nmemory-mib = 16\ndeadline-ms = 500\nignore-store = true\n\
         [plugins.mine]\npath = \"/opt/p.wasm\"\nsha256 = \"{digest}\"\nsettings = {{ anything = 3, flag = true }}\nfiles = [\"~/.p/key\"]\n"
    ))
    .unwrap();
    let a = &config.plugins["team-a"];
    let configured = |value| Limit { value, origin: grants::Origin::Config };
    let limits = &a.grants.limits;
    assert_eq!((limits.memory_mib, limits.deadline_ms, a.ignore_store), (configured(16), configured(500), true));
    let mine = &config.plugins["mine"];
    assert_eq!(mine.source, PluginSource::File { path: "/opt/p.wasm".into(), sha256: [0xab; 32] });
    assert_eq!(mine.grants.settings["anything"], "3");
    assert_eq!(mine.grants.settings["flag"], "true");
    assert_eq!(mine.grants.files.origin(), grants::Origin::Config);
    let files: Vec<&str> = mine.grants.files.items().iter().map(|grant| grant.written.as_str()).collect();
    assert_eq!(files, ["~/.p/key"]);
}

#[test]
fn unknown_keys_name_file_line_and_key() {
    assert_eq!(
        error("[routes]\n\n[plugins.static]\nenvv = [\"X\"]\n"),
        "/etc/dcw.toml:4:1: unknown key `envv`, expected one of `builtin`, `path`, `sha256`, `settings`, `network`, `env`, `files`, `secrets`, `memory-mib`, `deadline-ms`, `max-requests`, `ignore-store`, `cache`, `cache-max-seconds`, `cache-stale-fallback`"
    );
    assert_eq!(
        error("route = {}\n"),
        "/etc/dcw.toml:1:1: unknown key `route`, expected one of `routes`, `plugins`, `log`, `network`, `cache`, `store`"
    );
    assert_eq!(
        error("[plugins.static]\nsettings = { username = \"u\", secret_env = \"X\" }\n"),
        "/etc/dcw.toml:2:30: unknown setting \"secret_env\" for plugin \"static\"; expected one of: username, secret-env, secret-file, secret"
    );
    assert_eq!(
        error("[log]\nlevel = \"loud\"\n"),
        "/etc/dcw.toml:2:9: invalid log level \"loud\"; expected one of off, error, warn, info, debug, trace"
    );
    assert!(error("[log]\nfile = \"/x\"\ncolor = true\n").starts_with("/etc/dcw.toml:3:1: unknown key `color`"));
}

#[test]
fn bad_values_name_the_value_and_the_fix() {
    assert_eq!(
        error("[routes]\n\"x.io\" = \"nope\"\n"),
        "/etc/dcw.toml:2:10: route \"x.io\" names the plugin \"nope\", which is neither a [plugins.nope] table nor a built-in plugin (acr, ecr, gcr, keyring, static)"
    );
    assert!(
        error("[routes]\n\"https://x.io\" = \"static\"\n")
            .starts_with("/etc/dcw.toml:2:1: invalid route pattern \"https://x.io\": no scheme or path is allowed")
    );
    assert_eq!(
        error("[plugins.mine]\npath = \"/p.wasm\"\n"),
        "/etc/dcw.toml:2:8: plugin \"mine\" loads \"/p.wasm\" but has no `sha256`; add sha256 = \"<output of sha256sum>\" so only those exact bytes run"
    );
    assert_eq!(
        error("[plugins.mine]\npath = \"/p.wasm\"\nsha256 = \"abc\"\n"),
        "/etc/dcw.toml:3:10: invalid sha256 \"abc\": expected 64 hexadecimal digits (`sha256sum plugin.wasm`)"
    );
    assert_eq!(
        error("[plugins.mine]\nsettings = {}\n"),
        "/etc/dcw.toml:1:1: plugin \"mine\" needs exactly one source: `builtin = \"<name>\"` (acr, ecr, gcr, keyring, static) or `path` with `sha256`"
    );
    assert_eq!(
        error("[plugins.x]\nbuiltin = \"ecs\"\n"),
        "/etc/dcw.toml:2:11: unknown built-in plugin \"ecs\"; built-ins are: acr, ecr, gcr, keyring, static"
    );
    assert_eq!(
        error("[plugins.static]\nenv = [\"OK\", \"1BAD\"]\n"),
        "/etc/dcw.toml:2:14: invalid environment variable name \"1BAD\": expected letters, digits and `_`, not starting with a digit"
    );
    assert_eq!(
        error("[plugins.static]\nfiles = [\"relative/key\"]\n"),
        "/etc/dcw.toml:2:10: invalid file grant \"relative/key\": expected an absolute path or one starting with `~/`, with no control or invisible formatting characters"
    );
    assert_eq!(
        error("[plugins.static]\nfiles = [\"/etc/key\\u001b[2J\"]\n").split(": ").nth(1),
        Some("invalid file grant \"/etc/key\\u{1b}[2J\"")
    );
    assert_eq!(
        error("[plugins.static]\nfiles = [\"/a/../etc/shadow\"]\n").split(": ").nth(1),
        Some("invalid file grant \"/a/../etc/shadow\"")
    );
    assert_eq!(
        error("[plugins.static]\nmemory-mib = 0\n"),
        "/etc/dcw.toml:2:14: memory-mib = 0 is out of range; expected 1 to 4096"
    );
    assert_eq!(
        error("[plugins.static]\ndeadline-ms = -5\n"),
        "/etc/dcw.toml:2:15: deadline-ms = -5 is out of range; expected 1 to 600000"
    );
    assert_eq!(
        error("[plugins.static]\nsettings = { username = [\"a\"] }\n"),
        "/etc/dcw.toml:2:25: setting \"username\" must be a string, number or boolean"
    );
    assert_eq!(
        error("[plugins.Static]\n"),
        "/etc/dcw.toml:1:10: invalid plugin id \"Static\": use lower-case letters, digits and `-`"
    );
    assert!(error("[routes\n").starts_with("/etc/dcw.toml:1:8: "));
}

#[test]
fn locate_follows_flag_env_xdg_home_then_system() {
    let dir = tempfile::tempdir().unwrap();
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("docker-credential-wasm")).unwrap();
    std::fs::write(xdg.join("docker-credential-wasm/config.toml"), "").unwrap();
    let xdg_file = xdg.join("docker-credential-wasm/config.toml");
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    };
    let flag = Path::new("/flag.toml");
    assert_eq!(locate(Some(flag), env(&[(CONFIG_ENV, "/env.toml")])), Some(flag.to_path_buf()));
    assert_eq!(locate(None, env(&[(CONFIG_ENV, "/env.toml")])), Some(PathBuf::from("/env.toml")));
    let xdg_str: &'static str = Box::leak(xdg.to_str().unwrap().to_string().into_boxed_str());
    let vars: &'static [(&str, &str)] = Box::leak(vec![("XDG_CONFIG_HOME", xdg_str)].into_boxed_slice());
    assert_eq!(locate(None, env(vars)), Some(xdg_file));
    let home: &'static str = Box::leak(dir.path().join("home").to_str().unwrap().to_string().into_boxed_str());
    let vars: &'static [(&str, &str)] = Box::leak(vec![("HOME", home)].into_boxed_slice());
    let expected = Path::new(SYSTEM_CONFIG).is_file().then(|| PathBuf::from(SYSTEM_CONFIG));
    assert_eq!(locate(None, env(vars)), expected);
}

#[test]
fn network_grants_are_validated_where_they_are_written() {
    let config = parse_text("[network]\nca-bundle = \"/etc/corp-ca.pem\"\n[plugins.static]\nnetwork = [\"https://*.example.com\", \"http://169.254.169.254\"]\nmax-requests = 4\n").unwrap();
    assert_eq!(config.network.ca_bundle, Some(PathBuf::from("/etc/corp-ca.pem")));
    let plugin = &config.plugins["static"];
    assert_eq!(plugin.grants.network.origin(), grants::Origin::Config);
    let network: Vec<&str> = plugin.grants.network.items().iter().map(|grant| grant.text.as_str()).collect();
    assert_eq!(network, ["https://*.example.com", "http://169.254.169.254"]);
    assert_eq!(plugin.grants.limits.max_requests.value, 4);
    assert_eq!(
        error("[plugins.static]\nnetwork = [\"https://ok.example\",\n  \"api.example.com\"]\n"),
        "/etc/dcw.toml:3:3: invalid network grant \"api.example.com\": no scheme; expected scheme://host[:port][/path], e.g. \"https://*.amazonaws.com\", \"http://169.254.169.254\" or \"https://10.0.0.0/8\""
    );
    assert!(
        error("[network]\nproxy = \"x\"\n").starts_with("/etc/dcw.toml:2:1: unknown key `proxy`, expected `ca-bundle`")
    );
}

#[test]
fn cache_settings() {
    let config = parse_text("[cache]\ndir = \"/var/cache/dcw\"\n[plugins.static]\ncache = false\ncache-max-seconds = 60\ncache-stale-fallback = true\n").unwrap();
    assert_eq!(config.cache_dir, Some(PathBuf::from("/var/cache/dcw")));
    let plugin = &config.plugins["static"];
    assert_eq!((plugin.cache, plugin.cache_max_seconds, plugin.cache_stale_fallback), (false, Some(60), true));
    assert!(PluginConfig::builtin_default("static").cache);
    assert_eq!(
        error("[plugins.static]\ncache-max-seconds = 0\n"),
        "/etc/dcw.toml:2:21: cache-max-seconds = 0 is out of range; expected 1 to 604800"
    );
}

#[test]
fn a_relative_plugin_path_is_the_config_files_neighbour() {
    let digest = "ab".repeat(32);
    let text = format!("[plugins.mine]\npath = \"plugins/p.wasm\"\nsha256 = \"{digest}\"\n");
    let config = parse(&text, Origin::File(PathBuf::from("/etc/dcw/config.toml"))).unwrap();
    assert_eq!(
        config.plugins["mine"].source,
        PluginSource::File { path: "/etc/dcw/plugins/p.wasm".into(), sha256: [0xab; 32] }
    );
    let absolute = format!("[plugins.mine]\npath = \"/opt/p.wasm\"\nsha256 = \"{digest}\"\n");
    let config = parse(&absolute, Origin::File(PathBuf::from("/etc/dcw/config.toml"))).unwrap();
    assert_eq!(config.plugins["mine"].source, PluginSource::File { path: "/opt/p.wasm".into(), sha256: [0xab; 32] });
}

#[test]
fn the_store_table_names_a_plugin_and_a_backend_and_what_holds_secrets_is_never_cached() {
    let config = parse_text("[store]\nplugin = \"keyring\"\nbackend = \"pass\"\n").unwrap();
    assert_eq!(config.store, StoreConfig { plugin: Some("keyring".into()), backend: Some(SecretBackend::Pass) });
    let keyring = &config.plugins["keyring"];
    assert_eq!(keyring.grants.secrets_namespace().map(|ns| ns.name()), Some("docker-credential-helpers"));
    assert!(!keyring.cache, "a plugin holding secrets is never cached");
    for (text, message) in [
        (
            "[store]\nbackend = \"kwallet\"\n",
            "/etc/dcw.toml:2:11: unknown secret store backend \"kwallet\"; expected one of: secret-service, pass",
        ),
        (
            "[store]\nplugin = \"vault\"\n",
            "/etc/dcw.toml:2:10: [store] plugin names the plugin \"vault\", which is neither a [plugins.vault] table nor a built-in plugin (acr, ecr, gcr, keyring, static)",
        ),
        (
            "[plugins.keyring]\ncache = true\n",
            "/etc/dcw.toml:2:9: plugin \"keyring\" keeps secrets in the user's keyring (secrets = \"docker-credential-helpers\"), and those are never copied to the credential cache on disk; remove `cache = true`",
        ),
        (
            "[plugins.static]\nsecrets = \"Bad Name\"\n",
            "/etc/dcw.toml:2:11: invalid secrets namespace \"Bad Name\": expected lower-case letters, digits and `-` (at most 64), e.g. \"docker-credential-helpers\"",
        ),
    ] {
        assert_eq!(error(text), message, "{text}");
    }
}
