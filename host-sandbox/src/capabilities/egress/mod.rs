//! The egress capability: the one chokepoint every `wasi:http` request of a plugin crosses.
//!
//! For each request it (1) spends one unit of the per-call request budget, (2) refuses
//! methods an identity flow has no use for (`CONNECT`, `TRACE`, extensions), (3) normalises
//! the target once (the path checked is the path sent) and checks it against the plugin's
//! network grants, (4) for a direct connection to a name, resolves it once and keeps only
//! public addresses or addresses a grant names explicitly for that scheme and port, and
//! connects to exactly those, (5) sends it with the host's own client (rustls, no redirects
//! followed, bounded time and body sizes, bodies charged to the call's memory budget,
//! `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` honoured but never for this machine's own addresses,
//! extra CA bundles trusted), and (6) logs one line through the plugin's log budget: the
//! decision, never a header value, a query, user info or a body. Requests that `wasi:http`
//! itself refuses before they reach this hook (an unknown scheme, no authority) are logged
//! the same way, by [`link`].

mod proxy;
mod send;

use super::CallSetup;
use super::log::PluginLog;
use super::memory::MemoryBudget;
use grant::{NetworkGrant, Target, TargetHost};
use host_core::grants::network as grant;
use host_core::logging::Level;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::bindings::http::{outgoing_handler, types as http_types};
use wasmtime_wasi_http::p2::types::HostOutgoingRequest;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

pub use proxy::ProxyEnv;

/// The interfaces this capability serves.
pub const INTERFACES: &[&str] = &["wasi:http/types", "wasi:http/outgoing-handler"];

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

impl Bounds {
    /// The host's bounds, with the plugin's request budget.
    pub fn new(max_requests: u32) -> Self {
        Bounds {
            max_requests,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            max_request_bytes: 1 << 20,
            max_response_bytes: 4 << 20,
        }
    }

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
    /// Where the request lines go, within the call's log budget.
    pub log: Arc<PluginLog>,
    /// What buffered bodies are charged to.
    pub memory: Arc<MemoryBudget>,
}

/// Methods an identity flow uses; anything else (`CONNECT`, `TRACE`, extensions) is refused.
const ALLOWED_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The decision for one request.
#[derive(Debug)]
pub enum Decision {
    /// Send it; connect directly to these vetted addresses, or through the proxy.
    Allow(Via),
    /// Refuse it with this error code; the text says why and how to allow it.
    Deny(ErrorCode, String),
}

/// How an allowed request travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// To a name: connect only to these addresses (resolved and vetted once).
    Direct(Vec<std::net::SocketAddr>),
    /// To an IP literal the grants name.
    Literal,
    /// Through this proxy, which resolves the target itself.
    Proxy(String),
}

impl Egress {
    /// The egress of one call, with its network grants and request budget.
    pub fn for_call(call: &CallSetup<'_>) -> Egress {
        Egress {
            plugin: call.plugin.to_string(),
            grants: Arc::new(call.grants.network.items().to_vec()),
            bounds: Bounds::new(u32::try_from(call.grants.limits.max_requests.value).unwrap_or(u32::MAX)),
            ca_bundle: call.ca_bundle.map(Into::into),
            deadline: call.deadline,
            requests: 0,
            log: call.log.clone(),
            memory: call.memory.clone(),
        }
    }

    /// The grant check (pure): budget, method, target, grant.
    pub fn check(&mut self, method: &str, target: &Result<Target, grant::Invalid>) -> Result<(), Decision> {
        self.requests += 1;
        if self.requests > self.bounds.max_requests {
            return Err(Decision::Deny(
                ErrorCode::HttpRequestDenied,
                format!("request budget of {} per call exhausted (max-requests)", self.bounds.max_requests),
            ));
        }
        if !ALLOWED_METHODS.contains(&method) {
            return Err(Decision::Deny(
                ErrorCode::HttpRequestMethodInvalid,
                format!("the method is not one plugins may use ({})", ALLOWED_METHODS.join(", ")),
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

    /// What is left of the plugin's deadline for a request: all but a tenth (at most a
    /// quarter second), so that a request that times out leaves the plugin time to say
    /// which endpoint failed instead of being cut off by the deadline itself.
    fn remaining(&self) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now());
        left.saturating_sub((left / 10).min(Duration::from_millis(250)))
    }
}

/// One line for a refused request, within the plugin's log budget.
fn deny_log(log: &PluginLog, method: &str, target: &str, why: &str) {
    log.record(Level::Warn, "", format_args!("denied {method} {target}: {why}"));
}

/// Resolves and vets the destination of an allowed target: a proxy when one carries it,
/// otherwise the target's addresses that are public or that a grant names for its scheme
/// and port. A plain-HTTP name that a proxy would carry is resolved first: when it names
/// only this machine's addresses (`metadata.google.internal` on a cloud VM) it goes direct,
/// never to the proxy; when it does not resolve here, the proxy resolves it. HTTPS names
/// are left to the proxy unresolved: TLS keeps their secrets from it, and in proxied
/// networks often only the proxy can resolve them.
async fn via(grants: &[NetworkGrant], connect_timeout: Duration, network: &Network, target: &Target) -> Decision {
    let proxy = network.proxies.proxy_for(target);
    let name = match (&target.host, &proxy) {
        (TargetHost::Ip(_), _) => return Decision::Allow(proxy.map_or(Via::Literal, Via::Proxy)),
        (TargetHost::Name(_), Some(proxy)) if target.https => return Decision::Allow(Via::Proxy(proxy.clone())),
        (TargetHost::Name(name), _) => name,
    };
    let lookup = tokio::time::timeout(connect_timeout, tokio::net::lookup_host((name.as_str(), target.port)));
    let addresses: Vec<std::net::SocketAddr> = match (lookup.await, &proxy) {
        (Ok(Ok(addresses)), _) => addresses.collect(),
        // It does not resolve here: the proxy may resolve it.
        (_, Some(proxy)) => return Decision::Allow(Via::Proxy(proxy.clone())),
        (Ok(Err(e)), None) => {
            return Decision::Deny(
                ErrorCode::DnsError(wasmtime_wasi_http::p2::bindings::http::types::DnsErrorPayload {
                    rcode: Some("lookup failed".into()),
                    info_code: None,
                }),
                format!("cannot resolve {name}: {e}"),
            );
        }
        (Err(_), None) => {
            return Decision::Deny(
                ErrorCode::DnsTimeout,
                format!("resolving {name} took longer than {:?}", connect_timeout),
            );
        }
    };
    if let Some(proxy) = proxy
        && !addresses.iter().all(|address| proxy::is_node_local(address.ip()))
    {
        return Decision::Allow(Via::Proxy(proxy));
    }
    let (vetted, refused): (Vec<_>, Vec<_>) = addresses.into_iter().partition(|address| {
        let ip = address.ip();
        grant::is_public(ip) || grants.iter().any(|grant| grant.names_address(target, ip))
    });
    if vetted.is_empty() {
        let refused: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
        let shown = refused.first().map_or(String::new(), |ip| match ip.contains(':') {
            true => format!("[{ip}]"),
            false => ip.clone(),
        });
        return Decision::Deny(
            ErrorCode::DestinationIpProhibited,
            format!(
                "{name} resolves to {}, which is not public; a grant must name that address for this scheme and port to allow it (e.g. \"{}://{shown}:{}\")",
                refused.join(", "),
                target.scheme(),
                target.port,
            ),
        );
    }
    Decision::Allow(Via::Direct(vetted))
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
        let target = grant::target(
            uri.scheme_str().unwrap_or(""),
            uri.authority().map_or("", |a| a.as_str()),
            uri.path_and_query().map_or("/", |p| p.as_str()),
        );
        let shown = match &target {
            Ok(target) => target.to_string(),
            Err(_) => shown_raw(uri.scheme_str(), uri.authority().map(|a| a.as_str()), Some(uri.path())),
        };
        if let Err(Decision::Deny(code, why)) = self.check(&method, &target) {
            deny_log(&self.log, &method, &shown, &why);
            return Box::new(async move { Err(code.into()) });
        }
        let network = match Network::shared(self.ca_bundle.as_deref()) {
            Ok(network) => network,
            Err(why) => {
                deny_log(&self.log, &method, &shown, &format!("the host's HTTP client cannot start: {why}"));
                return Box::new(async { Err(ErrorCode::HttpRequestDenied.into()) });
            }
        };
        let target = target.expect("checked above");
        let remaining = self.remaining();
        if remaining.is_zero() {
            deny_log(&self.log, &method, &shown, "the plugin's deadline has passed");
            return Box::new(async { Err(ErrorCode::ConnectionTimeout.into()) });
        }
        let log = self.log.clone();
        let memory = self.memory.clone();
        let grants = self.grants.clone();
        let bounds = self.bounds.narrowed(options.as_ref(), remaining);
        Box::new(async move {
            let via = match via(&grants, bounds.connect_timeout, &network, &target).await {
                Decision::Allow(via) => via,
                Decision::Deny(code, why) => {
                    deny_log(&log, &method, &shown, &why);
                    return Err(code.into());
                }
            };
            let started = Instant::now();
            let result = send::send(&network, &bounds, &memory, &target, &via, request).await;
            let elapsed = started.elapsed().as_millis();
            match &result {
                Ok(response) => log.record(
                    Level::Info,
                    "",
                    format_args!("{method} {shown} {} in {elapsed} ms{}", response.status().as_u16(), via.describe()),
                ),
                Err(code) => log.record(
                    Level::Warn,
                    "",
                    format_args!("{method} {shown} failed after {elapsed} ms{}: {code:?}", via.describe()),
                ),
            }
            let response = result.map_err(wasmtime_wasi_http::Error::from)?;
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        super::memory::OUTGOING_CHUNK_BYTES
    }
}

/// A request target as the plugin wrote it, for a log line about a request that could not
/// be normalised: user info is left out (`<user info>@`), the query too.
fn shown_raw(scheme: Option<&str>, authority: Option<&str>, path: Option<&str>) -> String {
    let authority = authority.unwrap_or("?");
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("<user info>@{host}"),
        None => authority.to_string(),
    };
    let path = path.unwrap_or("").split('?').next().unwrap_or("");
    format!("{}://{authority}{path}", scheme.unwrap_or("?"))
}

impl Via {
    fn describe(&self) -> String {
        match self {
            Via::Direct(addresses) => {
                format!(" (connected to {})", addresses.first().map(|a| a.ip().to_string()).unwrap_or_default())
            }
            Via::Literal => String::new(),
            Via::Proxy(proxy) => format!(" (through proxy {})", proxy::without_user_info(proxy)),
        }
    }
}

/// What a request looked like when the plugin handed it over: method and target as
/// written, user info and query left out (for the log line of a refusal).
fn described(request: &HostOutgoingRequest) -> (String, String) {
    let scheme = request.scheme.as_ref().map(|scheme| match scheme {
        http_types::Scheme::Http => "http".to_string(),
        http_types::Scheme::Https => "https".to_string(),
        http_types::Scheme::Other(other) => other.clone(),
    });
    let method = match &request.method {
        http_types::Method::Get => "GET",
        http_types::Method::Head => "HEAD",
        http_types::Method::Post => "POST",
        http_types::Method::Put => "PUT",
        http_types::Method::Delete => "DELETE",
        http_types::Method::Connect => "CONNECT",
        http_types::Method::Options => "OPTIONS",
        http_types::Method::Trace => "TRACE",
        http_types::Method::Patch => "PATCH",
        http_types::Method::Other(other) => other,
    };
    (method.to_string(), shown_raw(scheme.as_deref(), request.authority.as_deref(), request.path_with_query.as_deref()))
}

/// Links `wasi:http` (WASI 0.2): its types as wasmtime implements them, and
/// `outgoing-handler.handle` as wasmtime implements it (which sends through
/// [`Egress::send_request`]), wrapped so that a request `wasi:http` itself refuses before
/// it reaches the hook (an unknown or upper-case scheme, no authority, a malformed method or
/// `content-length`) is counted and logged as every refusal is.
pub fn link<T: WasiHttpView + 'static>(
    linker: &mut Linker<T>,
    egress: fn(&mut T) -> &mut Egress,
) -> wasmtime::Result<()> {
    let options = wasmtime_wasi_http::p2::bindings::LinkOptions::default();
    http_types::add_to_linker::<T, Types>(linker, &options.into(), T::http)?;
    let mut handler = linker.instance("wasi:http/outgoing-handler@0.2.12")?;
    handler.func_wrap(
        "handle",
        move |mut store: wasmtime::StoreContextMut<'_, T>,
              (request, options): (
            Resource<HostOutgoingRequest>,
            Option<Resource<http_types::RequestOptions>>,
        )| {
            let state = store.data_mut();
            let mut view = state.http();
            let shown = view.table.get(&request).ok().map(described);
            let result = match outgoing_handler::Host::handle(&mut view, request, options) {
                Ok(future) => Ok(future),
                Err(error) => Err(http_types::Host::convert_error_code(&mut view, error)?),
            };
            if let (Err(code), Some((method, target))) = (&result, shown) {
                let egress = egress(state);
                egress.requests += 1;
                deny_log(&egress.log, &method, &target, &format!("wasi:http refused it: {code:?}"));
            }
            Ok((result,))
        },
    )?;
    Ok(())
}

struct Types;
impl HasData for Types {
    type Data<'a> = WasiHttpCtxView<'a>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_may_shorten_but_never_lengthen_the_time_bounds() {
        let host = Bounds::new(32);
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
