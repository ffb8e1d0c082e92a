//! The fault matrix: every identity endpoint of every built-in plugin (one table below),
//! each made to fail in every way of [`Fault`] (refused, never answering, a stalled body,
//! 503, 429 with `Retry-After`, truncated JSON, an HTML page, a 64 MiB body, a reset mid-body),
//! each cell generated from the table and run in a network namespace of its own. For each
//! cell: the helper exits by itself within the plugin's deadline (a pull never hangs), its
//! error line names the endpoint and what went wrong, a usable stale cached answer is served
//! when `cache-stale-fallback` allows it, and the cache reads back whole afterwards.
//!
//! The matrix is printed (`cargo test --test faults -- --nocapture`).

mod common;

use common::aws::{AwsMock, CONTAINER_TOKEN, WEB_IDENTITY_TOKEN};
use common::azure::{AzureMock, SP_CLIENT, SP_SECRET, TENANT};
use common::google::{GoogleMock, SA_EMAIL, SUBJECT_TOKEN, WIF_AUDIENCE};
use common::netns::Namespaced;
use common::servers::{Fault, Servers};
use common::{NOT_FOUND, Output, Sandbox};
use std::time::{Duration, Instant};

/// The plugin deadline of every cell.
const DEADLINE_MS: u64 = 2000;
/// What a cell may take beyond the deadline before it counts as hung (the watchdog ends
/// the process at 60 s): the processes' start and exit on a busy machine. A bound on
/// hanging, not a measure of speed.
const GRACE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cloud {
    Aws,
    Azure,
    Google,
}

/// One identity endpoint: where it is and how a plugin is made to go through it.
struct Endpoint {
    name: &'static str,
    cloud: Cloud,
    /// Instance metadata at its real address (a cloud VM), else a machine without.
    vm: bool,
    /// The host as requests name it, and the path (a prefix when it ends in `/`).
    host: &'static str,
    path: &'static str,
    registry: &'static str,
    /// How every error line about this endpoint names it.
    named: &'static str,
    /// What the error line says of a garbled answer (truncated JSON, an HTML page).
    garbled: &'static str,
    /// Headers every answer of the endpoint carries (lines ending in `\r\n`).
    headers: &'static str,
    /// The scenario: config lines for the plugin's table, and the environment, given the
    /// cell's setup.
    scenario: fn(&Cell) -> (String, Vec<(String, String)>),
}

/// A cell's mock, namespace and scratch home.
enum Cell {
    Aws(Namespaced<AwsMock>),
    Azure(Namespaced<AzureMock>),
    Google(Namespaced<GoogleMock>),
}

impl Cell {
    fn start(endpoint: &Endpoint) -> Cell {
        match endpoint.cloud {
            Cloud::Aws => {
                let setup = Namespaced::start(endpoint.vm, AwsMock::start_with_http);
                setup.mock.identity("AKIDSTATIC", "static-secret");
                Cell::Aws(setup)
            }
            Cloud::Azure => {
                let setup = Namespaced::start(endpoint.vm, AzureMock::start_with_http);
                setup.mock.identities(true, &[]);
                Cell::Azure(setup)
            }
            Cloud::Google => Cell::Google(Namespaced::start(endpoint.vm, GoogleMock::start_with_http)),
        }
    }

    fn servers(&self) -> &Servers {
        match self {
            Cell::Aws(setup) => &setup.mock,
            Cell::Azure(setup) => &setup.mock,
            Cell::Google(setup) => &setup.mock,
        }
    }

    fn sandbox(&self) -> &Sandbox {
        match self {
            Cell::Aws(setup) => &setup.sandbox,
            Cell::Azure(setup) => &setup.sandbox,
            Cell::Google(setup) => &setup.sandbox,
        }
    }

    fn get(&self, config: &std::path::Path, registry: &str, env: &[(String, String)]) -> Output {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        match self {
            Cell::Aws(setup) => setup.get(Some(&config.to_path_buf()), registry, &env),
            Cell::Azure(setup) => setup.get(Some(&config.to_path_buf()), registry, &env),
            Cell::Google(setup) => setup.get(Some(&config.to_path_buf()), registry, &env),
        }
    }

    /// A config routing `registry` to its plugin, with the manifest's grants, the mock's
    /// plain-HTTP port, `lines` and `extra`.
    fn config(&self, endpoint: &Endpoint, lines: &str, name: &str, extra: &str) -> std::path::PathBuf {
        let plugin = match endpoint.cloud {
            Cloud::Aws => "ecr",
            Cloud::Azure => "acr",
            Cloud::Google => "gcr",
        };
        let manifest: toml::Table = match endpoint.cloud {
            Cloud::Aws => toml::from_str(include_str!("../../plugins/ecr/manifest.toml")),
            Cloud::Azure => toml::from_str(include_str!("../../plugins/acr/manifest.toml")),
            Cloud::Google => toml::from_str(include_str!("../../plugins/gcr/manifest.toml")),
        }
        .unwrap();
        let mut network: Vec<String> =
            manifest["network"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_string()).collect();
        network.push(format!("http://127.0.0.1:{}", self.servers().http_port));
        let config = format!(
            "[routes]\n{:?} = \"{plugin}\"\n[plugins.{plugin}]\nnetwork = {network:?}\ndeadline-ms = {DEADLINE_MS}\n{lines}\n{extra}\n",
            endpoint.registry
        );
        self.sandbox().write(name, &config)
    }

    /// The file `name` with `text` in the scratch home, as a `files` grant line.
    fn file(&self, name: &str, text: &str) -> String {
        self.sandbox().write(name, text).display().to_string()
    }
}

fn pair(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

const ECR: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const ACR: &str = "myreg.azurecr.io";
const GAR: &str = "europe-west3-docker.pkg.dev";

fn aws_keys(_: &Cell) -> (String, Vec<(String, String)>) {
    let env = vec![
        pair("AWS_ACCESS_KEY_ID", "AKIDSTATIC"),
        pair("AWS_SECRET_ACCESS_KEY", "static-secret"),
        pair("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    (String::new(), env)
}

/// A cloud VM as it comes: no config lines, no environment; the plugin finds its metadata
/// service at the real address.
fn as_it_comes(_: &Cell) -> (String, Vec<(String, String)>) {
    (String::new(), Vec::new())
}

fn azure_service_principal(_: &Cell) -> (String, Vec<(String, String)>) {
    (
        String::new(),
        vec![
            pair("AZURE_TENANT_ID", TENANT),
            pair("AZURE_CLIENT_ID", SP_CLIENT),
            pair("AZURE_CLIENT_SECRET", SP_SECRET),
        ],
    )
}

/// Workload identity federation from a subject token file, then impersonation.
fn google_federation(cell: &Cell) -> (String, Vec<(String, String)>) {
    let subject = cell.file("subject-token", SUBJECT_TOKEN);
    let file = serde_json::json!({
        "type": "external_account", "audience": WIF_AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {"file": subject},
        "service_account_impersonation_url": format!("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{SA_EMAIL}:generateAccessToken"),
    });
    let wif = cell.file("wif.json", &file.to_string());
    (format!("files = [{wif:?}, {subject:?}]"), vec![pair("GOOGLE_APPLICATION_CREDENTIALS", &wif)])
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        name: "AWS IMDS session token",
        cloud: Cloud::Aws,
        vm: true,
        host: "169.254.169.254",
        path: "/latest/api/token",
        registry: ECR,
        named: "AWS credentials from instance metadata",
        garbled: "is not a session token",
        headers: "",
        scenario: as_it_comes,
    },
    Endpoint {
        name: "AWS IMDS role list",
        cloud: Cloud::Aws,
        vm: true,
        host: "169.254.169.254",
        path: "/latest/meta-data/iam/security-credentials",
        registry: ECR,
        named: "AWS credentials from instance metadata",
        garbled: "not an IAM role name",
        headers: "",
        scenario: as_it_comes,
    },
    Endpoint {
        name: "AWS IMDS role credentials",
        cloud: Cloud::Aws,
        vm: true,
        host: "169.254.169.254",
        path: "/latest/meta-data/iam/security-credentials/node-role",
        registry: ECR,
        named: "AWS credentials from instance metadata",
        garbled: "not the expected JSON",
        headers: "",
        scenario: as_it_comes,
    },
    Endpoint {
        name: "ECS/EKS container credentials",
        cloud: Cloud::Aws,
        vm: false,
        host: "127.0.0.1",
        path: "/container/credentials",
        registry: ECR,
        named: "AWS credentials from container",
        garbled: "not the expected JSON",
        headers: "",
        scenario: |cell| {
            let token = cell.file("pod-identity-token", CONTAINER_TOKEN);
            let uri = format!("http://127.0.0.1:{}/container/credentials", cell.servers().http_port);
            let env = vec![
                pair("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri),
                pair("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token),
                pair("AWS_EC2_METADATA_DISABLED", "true"),
            ];
            (format!("files = [{token:?}]"), env)
        },
    },
    Endpoint {
        name: "AWS STS AssumeRoleWithWebIdentity",
        cloud: Cloud::Aws,
        vm: false,
        host: "sts.us-west-2.amazonaws.com",
        path: "/",
        registry: ECR,
        named: "STS AssumeRoleWithWebIdentity for arn:aws:iam::123456789012:role/irsa",
        garbled: "the answer has no Expiration",
        headers: "",
        scenario: |cell| {
            let token = cell.file("token", WEB_IDENTITY_TOKEN);
            let env = vec![
                pair("AWS_WEB_IDENTITY_TOKEN_FILE", &token),
                pair("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa"),
                pair("AWS_EC2_METADATA_DISABLED", "true"),
            ];
            (format!("files = [{token:?}]"), env)
        },
    },
    Endpoint {
        name: "AWS STS AssumeRole",
        cloud: Cloud::Aws,
        vm: false,
        host: "sts.us-west-2.amazonaws.com",
        path: "/",
        registry: ECR,
        named: "STS AssumeRole for arn:aws:iam::123456789012:role/puller",
        garbled: "the answer has no Expiration",
        headers: "",
        scenario: |cell| {
            let (_, env) = aws_keys(cell);
            ("settings = { role-arn = \"arn:aws:iam::123456789012:role/puller\" }".into(), env)
        },
    },
    Endpoint {
        name: "Amazon ECR",
        cloud: Cloud::Aws,
        vm: false,
        host: "api.ecr.us-west-2.amazonaws.com",
        path: "/",
        registry: ECR,
        named: "ecr GetAuthorizationToken in us-west-2",
        garbled: "not the expected JSON",
        headers: "",
        scenario: aws_keys,
    },
    Endpoint {
        name: "Amazon ECR Public",
        cloud: Cloud::Aws,
        vm: false,
        host: "api.ecr-public.us-east-1.amazonaws.com",
        path: "/",
        registry: "public.ecr.aws",
        named: "ecr-public GetAuthorizationToken in us-east-1",
        garbled: "not the expected JSON",
        headers: "",
        scenario: aws_keys,
    },
    Endpoint {
        name: "Azure IMDS",
        cloud: Cloud::Azure,
        vm: true,
        host: "169.254.169.254",
        path: "/metadata/identity/oauth2/token",
        registry: ACR,
        named: "Azure identity from instance metadata",
        garbled: "not the expected JSON",
        headers: "",
        scenario: as_it_comes,
    },
    Endpoint {
        name: "Azure App Service",
        cloud: Cloud::Azure,
        vm: false,
        host: "127.0.0.1",
        path: "/msi/token",
        registry: ACR,
        named: "Azure identity from App Service",
        garbled: "not the expected JSON",
        headers: "",
        scenario: |cell| {
            let endpoint = format!("http://127.0.0.1:{}/msi/token", cell.servers().http_port);
            (
                String::new(),
                vec![pair("IDENTITY_ENDPOINT", &endpoint), pair("IDENTITY_HEADER", common::azure::APP_SERVICE_HEADER)],
            )
        },
    },
    Endpoint {
        name: "Azure Arc",
        cloud: Cloud::Azure,
        vm: false,
        host: "127.0.0.1",
        path: "/arc/token",
        registry: ACR,
        named: "Azure identity from Azure Arc",
        garbled: "expected a 401 challenge, got HTTP 200",
        headers: "",
        scenario: |cell| {
            std::fs::create_dir_all(cell.sandbox().path("tokens")).unwrap();
            let key = cell.file("tokens/5c0e8a.key", "arc-key-contents");
            if let Cell::Azure(setup) = cell {
                setup.mock.arc_key(&key, "arc-key-contents");
            }
            let pattern = format!("{}/*.key", cell.sandbox().path("tokens").display());
            let endpoint = format!("http://127.0.0.1:{}/arc/token", cell.servers().http_port);
            let env = vec![pair("IDENTITY_ENDPOINT", &endpoint), pair("IMDS_ENDPOINT", "http://localhost:40342")];
            (format!("files = [{pattern:?}]"), env)
        },
    },
    Endpoint {
        name: "Entra ID token endpoint",
        cloud: Cloud::Azure,
        vm: false,
        host: "login.microsoftonline.com",
        path: "/",
        registry: ACR,
        named: "login.microsoftonline.com",
        garbled: "not the expected JSON",
        headers: "",
        scenario: azure_service_principal,
    },
    Endpoint {
        name: "ACR token exchange",
        cloud: Cloud::Azure,
        vm: false,
        host: ACR,
        path: "/oauth2/exchange",
        registry: ACR,
        named: "myreg.azurecr.io",
        garbled: "not the expected JSON",
        headers: "",
        scenario: azure_service_principal,
    },
    Endpoint {
        name: "GCE metadata server",
        cloud: Cloud::Google,
        vm: true,
        host: "169.254.169.254",
        path: "/computeMetadata/v1/instance/service-accounts/default/token",
        registry: GAR,
        named: "169.254.169.254",
        garbled: "not the expected JSON",
        headers: "Metadata-Flavor: Google\r\n",
        scenario: as_it_comes,
    },
    Endpoint {
        name: "Google OAuth token",
        cloud: Cloud::Google,
        vm: false,
        host: "oauth2.googleapis.com",
        path: "/token",
        registry: GAR,
        named: "oauth2.googleapis.com",
        garbled: "not the expected JSON",
        headers: "",
        scenario: |cell| {
            let (id, secret, refresh) = common::google::USER_CLIENT;
            let user = serde_json::json!({"type": "authorized_user", "client_id": id, "client_secret": secret, "refresh_token": refresh});
            let file = cell.file("user.json", &user.to_string());
            (format!("files = [{file:?}]"), vec![pair("GOOGLE_APPLICATION_CREDENTIALS", &file)])
        },
    },
    Endpoint {
        name: "Google STS",
        cloud: Cloud::Google,
        vm: false,
        host: "sts.googleapis.com",
        path: "/v1/token",
        registry: GAR,
        named: "sts.googleapis.com",
        garbled: "not the expected JSON",
        headers: "",
        scenario: google_federation,
    },
    Endpoint {
        name: "Google IAM Credentials",
        cloud: Cloud::Google,
        vm: false,
        host: "iamcredentials.googleapis.com",
        path: "/v1/projects/-/serviceAccounts/",
        registry: GAR,
        named: "iamcredentials.googleapis.com",
        garbled: "not the expected JSON",
        headers: "",
        scenario: google_federation,
    },
];

/// What a cell must show.
#[derive(Debug, PartialEq)]
enum Expected {
    /// The helper fails with a line that names the endpoint and says this; a stale cached
    /// answer is served when the fallback is allowed.
    Fails(&'static str),
    /// Nothing answered a probe of a metadata service: this is not a machine of that cloud,
    /// so "not found" (the client pulls anonymously), with or without a cached answer.
    NoService,
}

impl Endpoint {
    /// The metadata services a plugin probes (the first request to them).
    fn probed(&self) -> bool {
        self.vm && (self.cloud != Cloud::Aws || self.path == "/latest/api/token")
    }

    /// Whether the host is a plain-HTTP one (an address), not a name behind the proxy.
    fn plain(&self) -> bool {
        self.host.parse::<std::net::IpAddr>().is_ok()
    }

    fn expected(&self, fault: Fault) -> Expected {
        match fault {
            Fault::Refused if self.vm => Expected::NoService,
            Fault::NeverAnswers if self.probed() => Expected::NoService,
            Fault::Refused if self.plain() => Expected::Fails("the connection was closed before any answer"),
            Fault::Refused => Expected::Fails("the proxy opened no tunnel to it"),
            Fault::NeverAnswers => Expected::Fails("timed out waiting for the answer"),
            Fault::StallsBody => Expected::Fails("the answer stalled"),
            Fault::ServerError => Expected::Fails("HTTP 503"),
            Fault::TooManyRequests => Expected::Fails("HTTP 429"),
            Fault::TruncatedJson | Fault::WrongContentType => Expected::Fails(self.garbled),
            Fault::Huge => Expected::Fails("is larger than the host accepts"),
            Fault::ResetMidBody => Expected::Fails("broke off in the middle of the answer"),
        }
    }
}

/// What one cell showed.
struct Outcome {
    endpoint: &'static Endpoint,
    fault: Fault,
    took: Duration,
}

/// Runs every fault against `endpoint`: each once with no cache (its error line) and once
/// with a stale cached answer and `cache-stale-fallback`.
fn run_endpoint(endpoint: &'static Endpoint) -> Vec<Outcome> {
    let cell = Cell::start(endpoint);
    let (lines, env) = (endpoint.scenario)(&cell);
    let uncached = cell.config(endpoint, &lines, "uncached.toml", "cache = false");
    // Fresh for a second, then stale but usable (for hours): the fallback's case.
    let stale = cell.config(endpoint, &lines, "stale.toml", "cache-max-seconds = 1\ncache-stale-fallback = true");
    let primed = cell.get(&stale, endpoint.registry, &env);
    assert_eq!(primed.code, 0, "{}: the scenario answers without a fault: {primed:?}", endpoint.name);
    std::thread::sleep(Duration::from_millis(1100));
    let mut outcomes = Vec::new();
    for fault in Fault::ALL {
        cell.servers().faults.set(endpoint.host, endpoint.path, fault, endpoint.headers);
        let started = Instant::now();
        let output = cell.get(&uncached, endpoint.registry, &env);
        let took = started.elapsed();
        assert_eq!(output.code, 1, "{} / {fault:?}: {output:?}", endpoint.name);
        let fallback = cell.get(&stale, endpoint.registry, &env);
        let line = output.stdout.trim_end().to_string();
        let stale_served = fallback.code == 0 && fallback.stdout == primed.stdout;
        match endpoint.expected(fault) {
            Expected::Fails(what) => {
                assert!(line.contains(endpoint.named) && line.contains(what), "{} / {fault:?}: {line}", endpoint.name);
                assert!(stale_served, "{} / {fault:?}: the stale answer is served: {fallback:?}", endpoint.name);
            }
            Expected::NoService => {
                assert_eq!(line, NOT_FOUND.trim_end(), "{} / {fault:?}", endpoint.name);
                assert_eq!((fallback.stdout.as_str(), fallback.code), (NOT_FOUND, 1), "{} / {fault:?}", endpoint.name);
            }
        }
        assert!(took < Duration::from_millis(DEADLINE_MS) + GRACE, "{} / {fault:?} took {took:?}", endpoint.name);
        outcomes.push(Outcome { endpoint, fault, took });
    }
    cell.servers().faults.clear();
    // The cache reads back whole, and the endpoint, healthy again, answers.
    let entries = cell.sandbox().path(".cache/docker-credential-wasm/credentials");
    for entry in std::fs::read_dir(&entries).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        assert!(
            entry.path().extension().is_some_and(|e| e == "json"),
            "{}: {} left",
            endpoint.name,
            entry.path().display()
        );
        let parsed: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: a corrupt entry ({e})", endpoint.name));
        assert!(parsed["secret"].is_string() && parsed["fresh_until"].is_u64(), "{}: {text}", endpoint.name);
    }
    let healthy = cell.get(&uncached, endpoint.registry, &env);
    assert_eq!(healthy.code, 0, "{}: healthy again: {healthy:?}", endpoint.name);
    outcomes
}

#[test]
fn every_identity_endpoint_fails_every_way_within_the_deadline_with_a_clear_error() {
    let (sender, receiver) = std::sync::mpsc::channel();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (sender, next) = (sender.clone(), next.clone());
            std::thread::spawn(move || {
                while let Some(endpoint) = ENDPOINTS.get(next.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) {
                    sender.send(run_endpoint(endpoint)).unwrap();
                }
            })
        })
        .collect();
    drop(sender);
    let outcomes: Vec<Outcome> = receiver.iter().flatten().collect();
    for worker in workers {
        worker.join().unwrap();
    }
    // The matrix, as the closing note reports it: what each cell's error line says.
    eprintln!("| endpoint | {} |", Fault::ALL.map(|f| format!("{f:?}")).join(" | "));
    for endpoint in ENDPOINTS {
        let cells: Vec<String> = Fault::ALL
            .iter()
            .map(|fault| {
                let outcome = outcomes.iter().find(|o| o.endpoint.name == endpoint.name && o.fault == *fault).unwrap();
                let shown = match endpoint.expected(*fault) {
                    Expected::NoService => "not found".to_string(),
                    Expected::Fails(what) => format!("{what} (stale served)"),
                };
                format!("{shown}, {} ms", outcome.took.as_millis())
            })
            .collect();
        eprintln!("| {} | {} |", endpoint.name, cells.join(" | "));
    }
    assert_eq!(outcomes.len(), ENDPOINTS.len() * Fault::ALL.len());
}
