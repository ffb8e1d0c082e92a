//! The egress capability: the one chokepoint every `wasi:http` request of a plugin crosses.
//!
//! For each request it (1) spends one unit of the per-call request budget, (2) normalises
//! the target and checks it against the plugin's network grants, (3) for a direct
//! connection to a name, resolves it once and keeps only public addresses or addresses a
//! grant names explicitly, and connects to exactly those, (4) sends it with the host's own
//! client (rustls, no redirects followed, bounded time and body sizes, `HTTPS_PROXY`/
//! `HTTP_PROXY`/`NO_PROXY` honoured, extra CA bundles trusted), and (5) logs one line:
//! the decision, never a header value or a body.

pub mod grant;
mod proxy;
mod send;

use crate::logging::{self, Level};
use grant::{NetworkGrant, Target, TargetHost};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

pub use proxy::ProxyEnv;

/// Bounds on a plugin's traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    /// Requests per plugin call.
    pub max_requests: u32,
    /// Time to connect (and to resolve a name).
    pub connect_timeout: Duration,
    /// Time for one whole request, also capped by what is left of the plugin's deadline.
    pub request_timeout: Duration,
    /// Largest request body a plugin may send.
    pub max_request_bytes: usize,
    /// Largest response body a plugin may receive.
    pub max_response_bytes: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_requests: 32,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            max_request_bytes: 1 << 20,
            max_response_bytes: 4 << 20,
        }
    }
}

impl Bounds {
    /// These bounds, tightened by the plugin's own request options (a plugin probing an
    /// endpoint that may not exist asks to give up early; it can never wait longer than the
    /// host allows) and by what is left of its deadline.
    pub fn narrowed(&self, options: Option<&RequestOptions>, remaining: Duration) -> Bounds {
        let shorter = |bound: Duration, asked: Option<Duration>| asked.map_or(bound, |asked| bound.min(asked));
        let asked_whole = options.and_then(|o| Some(o.connect_timeout? + o.first_byte_timeout?));
        Bounds {
            connect_timeout: shorter(self.connect_timeout, options.and_then(|o| o.connect_timeout)),
            request_timeout: shorter(self.request_timeout.min(remaining), asked_whole),
            ..self.clone()
        }
    }
}

/// The host's HTTP client settings, shared by every plugin call of the process: proxies
/// read on the first request, TLS roots loaded on the first HTTPS request (loading the
/// system's roots takes milliseconds that a plain-HTTP metadata call should not pay).
pub struct Network {
    pub proxies: ProxyEnv,
    ca_bundle: Option<std::path::PathBuf>,
    tls: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
}

static NETWORK: OnceLock<Result<Arc<Network>, String>> = OnceLock::new();

impl Network {
    /// The process-wide client settings: proxies from the environment, TLS roots from the
    /// system (or `SSL_CERT_FILE`) plus `ca_bundle`.
    pub fn shared(ca_bundle: Option<&std::path::Path>) -> Result<Arc<Network>, String> {
        NETWORK
            .get_or_init(|| {
                let proxies = ProxyEnv::from_env(|name| std::env::var(name).ok());
                Ok(Arc::new(Network { proxies, ca_bundle: ca_bundle.map(Into::into), tls: OnceLock::new() }))
            })
            .clone()
    }

    /// The TLS client configuration, built on first use.
    pub fn tls(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        self.tls
            .get_or_init(|| send::tls_config(self.ca_bundle.as_deref()).map(Arc::new).map_err(|e| format!("{e:#}")))
            .clone()
    }
}

/// The egress policy of one plugin call.
pub struct Egress {
    pub plugin: String,
    pub grants: Arc<Vec<NetworkGrant>>,
    pub bounds: Bounds,
    /// Extra CA certificates to trust (the config's `[network] ca-bundle`).
    pub ca_bundle: Option<std::path::PathBuf>,
    /// When the plugin's call must be over.
    pub deadline: Instant,
    /// Requests made so far in this call.
    pub requests: u32,
}

/// The decision for one request.
#[derive(Debug)]
pub enum Decision {
    /// Send it; connect directly to these vetted addresses, or through the proxy.
    Allow(Route),
    /// Refuse it with this error code; the text says why and how to allow it.
    Deny(ErrorCode, String),
}

/// How an allowed request travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To a name: connect only to these addresses (resolved and vetted once).
    Direct(Vec<std::net::SocketAddr>),
    /// To an IP literal the grants name.
    Literal,
    /// Through this proxy, which resolves the target itself.
    Proxy(String),
}

impl Egress {
    /// The grant check (pure): budget, target, grant.
    pub fn check(&mut self, target: &Result<Target, grant::Invalid>) -> Result<(), Decision> {
        self.requests += 1;
        if self.requests > self.bounds.max_requests {
            return Err(Decision::Deny(
                ErrorCode::HttpRequestDenied,
                format!("request budget of {} per call exhausted (max-requests)", self.bounds.max_requests),
            ));
        }
        let target = target.as_ref().map_err(|e| Decision::Deny(ErrorCode::HttpRequestDenied, e.to_string()))?;
        if !self.grants.iter().any(|grant| grant.allows(target)) {
            return Err(Decision::Deny(
                ErrorCode::HttpRequestDenied,
                format!(
                    "no network grant allows it; to allow it add \"{}\" to `network` in [plugins.{}]",
                    target.suggested_grant(),
                    self.plugin
                ),
            ));
        }
        Ok(())
    }

    fn deny_log(&self, method: &str, target: &str, why: &str) {
        logging::log(Level::Warn, format_args!("plugin {}: denied {method} {target}: {why}", self.plugin));
    }

    /// What is left of the plugin's deadline for a request: all but a tenth (at most a
    /// quarter second), so that a request that times out leaves the plugin time to say
    /// which endpoint failed instead of being cut off by the deadline itself.
    fn remaining(&self) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now());
        left.saturating_sub((left / 10).min(Duration::from_millis(250)))
    }
}

/// Resolves and vets the destination of an allowed target: a proxy when one carries it,
/// otherwise the target's addresses that are public or that a grant names.
async fn route(grants: &[NetworkGrant], connect_timeout: Duration, network: &Network, target: &Target) -> Decision {
    if let Some(proxy) = network.proxies.proxy_for(target) {
        return Decision::Allow(Route::Proxy(proxy));
    }
    let name = match &target.host {
        TargetHost::Ip(_) => return Decision::Allow(Route::Literal),
        TargetHost::Name(name) => name,
    };
    let lookup = tokio::time::timeout(connect_timeout, tokio::net::lookup_host((name.as_str(), target.port)));
    let addresses: Vec<std::net::SocketAddr> = match lookup.await {
        Ok(Ok(addresses)) => addresses.collect(),
        Ok(Err(e)) => {
            return Decision::Deny(
                ErrorCode::DnsError(wasmtime_wasi_http::p2::bindings::http::types::DnsErrorPayload {
                    rcode: Some("lookup failed".into()),
                    info_code: None,
                }),
                format!("cannot resolve {name}: {e}"),
            );
        }
        Err(_) => {
            return Decision::Deny(
                ErrorCode::DnsTimeout,
                format!("resolving {name} took longer than {:?}", connect_timeout),
            );
        }
    };
    let (vetted, refused): (Vec<_>, Vec<_>) = addresses.into_iter().partition(|address| {
        let ip = address.ip();
        grant::is_public(ip) || grants.iter().any(|grant| grant.names_address(ip))
    });
    if vetted.is_empty() {
        let refused: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
        return Decision::Deny(
            ErrorCode::DestinationIpProhibited,
            format!(
                "{name} resolves to {}, which is not public; a grant must name that address to allow it (e.g. \"{}://{}\")",
                refused.join(", "),
                target.scheme(),
                refused.first().map_or("", String::as_str)
            ),
        );
    }
    Decision::Allow(Route::Direct(vetted))
}

type IoFuture = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), wasmtime_wasi_http::Error>> + Send> {
        let uri = request.uri().clone();
        let method = request.method().to_string();
        let target =
            grant::target(uri.scheme_str().unwrap_or(""), uri.authority().map_or("", |a| a.as_str()), uri.path());
        let shown = match &target {
            Ok(target) => target.to_string(),
            Err(_) => format!(
                "{}://{}{}",
                uri.scheme_str().unwrap_or("?"),
                uri.authority().map_or("?", |a| a.as_str()),
                uri.path()
            ),
        };
        if let Err(Decision::Deny(code, why)) = self.check(&target) {
            self.deny_log(&method, &shown, &why);
            return Box::new(async move { Err(code.into()) });
        }
        let network = match Network::shared(self.ca_bundle.as_deref()) {
            Ok(network) => network,
            Err(why) => {
                self.deny_log(&method, &shown, &format!("the host's HTTP client cannot start: {why}"));
                return Box::new(async { Err(ErrorCode::HttpRequestDenied.into()) });
            }
        };
        let target = target.expect("checked above");
        let remaining = self.remaining();
        if remaining.is_zero() {
            self.deny_log(&method, &shown, "the plugin's deadline has passed");
            return Box::new(async { Err(ErrorCode::ConnectionTimeout.into()) });
        }
        let plugin = self.plugin.clone();
        let grants = self.grants.clone();
        let bounds = self.bounds.narrowed(options.as_ref(), remaining);
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        Box::new(async move {
            let route = match route(&grants, bounds.connect_timeout, &network, &target).await {
                Decision::Allow(route) => route,
                Decision::Deny(code, why) => {
                    logging::log(Level::Warn, format_args!("plugin {plugin}: denied {method} {shown}: {why}"));
                    return Err(code.into());
                }
            };
            let started = Instant::now();
            let result = send::send(&network, &bounds, &target, &path_and_query, &route, request).await;
            let elapsed = started.elapsed().as_millis();
            match &result {
                Ok(response) => logging::log(
                    Level::Info,
                    format_args!(
                        "plugin {plugin}: {method} {shown} {} in {elapsed} ms{}",
                        response.status().as_u16(),
                        route.describe()
                    ),
                ),
                Err(code) => logging::log(
                    Level::Warn,
                    format_args!(
                        "plugin {plugin}: {method} {shown} failed after {elapsed} ms{}: {code:?}",
                        route.describe()
                    ),
                ),
            }
            let response = result.map_err(wasmtime_wasi_http::Error::from)?;
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

impl Route {
    fn describe(&self) -> String {
        match self {
            Route::Direct(addresses) => {
                format!(" (connected to {})", addresses.first().map(|a| a.ip().to_string()).unwrap_or_default())
            }
            Route::Literal => String::new(),
            Route::Proxy(proxy) => format!(" (through proxy {proxy})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_may_shorten_but_never_lengthen_the_time_bounds() {
        let host = Bounds::default();
        let ask = |connect: u64, first_byte: u64| RequestOptions {
            connect_timeout: Some(Duration::from_millis(connect)),
            first_byte_timeout: Some(Duration::from_millis(first_byte)),
            between_bytes_timeout: None,
        };
        let long = Duration::from_secs(60);
        let fast = host.narrowed(Some(&ask(250, 500)), long);
        assert_eq!(
            (fast.connect_timeout, fast.request_timeout),
            (Duration::from_millis(250), Duration::from_millis(750))
        );
        let greedy = host.narrowed(Some(&ask(60_000, 60_000)), long);
        assert_eq!((greedy.connect_timeout, greedy.request_timeout), (host.connect_timeout, host.request_timeout));
        let unasked = host.narrowed(None, Duration::from_secs(3));
        assert_eq!((unasked.connect_timeout, unasked.request_timeout), (host.connect_timeout, Duration::from_secs(3)));
        assert_eq!(fast.max_requests, host.max_requests);
    }
}
