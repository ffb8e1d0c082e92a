//! Sends one vetted request with the host's own client: rustls with the system roots (or
//! `SSL_CERT_FILE`) plus the configured CA bundle, no redirects, pinned addresses, bounded
//! time and bodies. The response body is read whole (bounded) before the plugin sees it, and
//! every body the host holds is charged to the call's memory budget until it is dropped.

use super::grant::{Target, TargetHost};
use super::{Bounds, Network, Via};
use crate::capabilities::memory::{Held, MemoryBudget};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use std::pin::Pin;
use std::task::{Context, Poll};
use wasmtime_wasi_http::WasiBody;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;

/// Largest total size of request header names and values.
const MAX_REQUEST_HEADER_BYTES: usize = 64 * 1024;

pub async fn send(
    network: &Network,
    bounds: &Bounds,
    memory: &std::sync::Arc<MemoryBudget>,
    target: &Target,
    via: &Via,
    request: http::Request<WasiBody>,
) -> Result<http::Response<WasiBody>, ErrorCode> {
    let (parts, body) = request.into_parts();
    let header_bytes: usize = parts.headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if header_bytes > MAX_REQUEST_HEADER_BYTES {
        return Err(ErrorCode::HttpRequestHeaderSize(Some(
            wasmtime_wasi_http::p2::bindings::http::types::FieldSizePayload {
                field_name: None,
                field_size: Some(header_bytes as u32),
            },
        )));
    }
    let body = Limited::new(body, bounds.max_request_bytes)
        .collect()
        .await
        .map_err(|_| ErrorCode::HttpRequestBodySize(None))?
        .to_bytes();
    // Held while the request is sent.
    let mut sending = memory.hold();
    if !sending.grow(body.len() + header_bytes) {
        return Err(ErrorCode::HttpRequestBodySize(Some(body.len() as u64)));
    }

    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(bounds.connect_timeout)
        .timeout(bounds.request_timeout);
    // The system's roots are loaded only for HTTPS; plain HTTP gets a configuration that
    // trusts nothing (and is never used).
    let tls = match target.https || matches!(via, Via::Proxy(_)) {
        true => network.tls().map_err(|why| ErrorCode::InternalError(Some(format!("TLS setup: {why}"))))?,
        false => untrusting_tls(),
    };
    client = client.tls_backend_preconfigured((*tls).clone());
    client = match via {
        Via::Proxy(proxy) => {
            client.proxy(reqwest::Proxy::all(proxy.as_str()).map_err(|_| ErrorCode::HttpRequestDenied)?)
        }
        Via::Direct(addresses) => match &target.host {
            TargetHost::Name(name) => client.no_proxy().resolve_to_addrs(name, addresses),
            TargetHost::Ip(_) => client.no_proxy(),
        },
        Via::Literal => client.no_proxy(),
    };
    let client = client.build().map_err(|e| ErrorCode::InternalError(Some(format!("HTTP client: {e}"))))?;

    let mut headers = parts.headers;
    // The host names the target; a plugin cannot front another name.
    headers.remove(http::header::HOST);
    let response =
        client.request(parts.method, target.url()).headers(headers).body(body).send().await.map_err(classify)?;

    drop(sending);

    let status = response.status();
    let headers = response.headers().clone();
    if response.content_length().is_some_and(|len| len > bounds.max_response_bytes as u64) {
        return Err(ErrorCode::HttpResponseBodySize(response.content_length()));
    }
    // The headers and the body stay in memory until the plugin drops the response.
    let mut held = memory.hold();
    let header_bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 64).sum();
    if !held.grow(header_bytes) {
        return Err(ErrorCode::HttpResponseHeaderSize(
            wasmtime_wasi_http::p2::bindings::http::types::FieldSizePayload {
                field_name: None,
                field_size: Some(header_bytes as u32),
            },
        ));
    }
    let mut response = response;
    let mut collected = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify_body)? {
        if collected.len() + chunk.len() > bounds.max_response_bytes {
            return Err(ErrorCode::HttpResponseBodySize(Some((collected.len() + chunk.len()) as u64)));
        }
        if !held.grow(chunk.len()) {
            return Err(ErrorCode::HttpResponseBodySize(Some((collected.len() + chunk.len()) as u64)));
        }
        collected.extend_from_slice(&chunk);
    }
    let body = HeldBody { data: Some(Bytes::from(collected)), _held: held };
    let mut answer = http::Response::new(body.boxed_unsync());
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}

/// A whole response body, charged to the call's memory budget until it is dropped.
struct HeldBody {
    data: Option<Bytes>,
    _held: Held,
}

impl http_body::Body for HeldBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.data.take().filter(|data| !data.is_empty()).map(|data| Ok(http_body::Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.as_ref().map_or(0, |data| data.len() as u64))
    }
}

/// The error and its causes, as one line.
fn cause_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The `wasi:http` error code for a client error before the answer's head arrived: the
/// codes of "nothing answered" (refused, timed out, reset before any answer, a proxy that
/// opened no tunnel) are told apart from a server that answered badly, since a plugin
/// probing for a metadata service moves on after the former only.
fn classify(error: reqwest::Error) -> ErrorCode {
    let chain = cause_chain(&error);
    if error.is_timeout() && error.is_connect() {
        ErrorCode::ConnectionTimeout
    } else if error.is_timeout() {
        ErrorCode::HttpResponseTimeout
    } else if chain.contains("certificate") || chain.contains("InvalidCertificate") {
        ErrorCode::TlsCertificateError
    } else if chain.contains("tunnel error") {
        ErrorCode::InternalError(Some("the proxy opened no tunnel to it (its CONNECT failed)".into()))
    } else if chain.contains("refused") {
        ErrorCode::ConnectionRefused
    } else if chain.contains("reset") || chain.contains("closed before message completed") {
        ErrorCode::ConnectionTerminated
    } else if error.is_connect() {
        ErrorCode::InternalError(Some(chain))
    } else {
        ErrorCode::HttpProtocolError
    }
}

/// The `wasi:http` error code for a failure while reading an answer's body.
fn classify_body(error: reqwest::Error) -> ErrorCode {
    if error.is_timeout() { ErrorCode::ConnectionReadTimeout } else { ErrorCode::HttpResponseIncomplete }
}

/// A TLS configuration with no trusted roots, for clients that only speak plain HTTP.
fn untrusting_tls() -> std::sync::Arc<rustls::ClientConfig> {
    static EMPTY: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    EMPTY
        .get_or_init(|| {
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            std::sync::Arc::new(config)
        })
        .clone()
}

/// Builds the client TLS configuration: the platform's roots (or the file named by
/// `SSL_CERT_FILE`, or the directory `SSL_CERT_DIR`) plus the PEM certificates in
/// `ca_bundle`.
pub fn tls_config(ca_bundle: Option<&std::path::Path>) -> anyhow::Result<rustls::ClientConfig> {
    use anyhow::Context;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_bundle {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read the CA bundle {}", path.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("the CA bundle {} is not PEM certificates", path.display()))?;
        anyhow::ensure!(!certs.is_empty(), "the CA bundle {} holds no certificate", path.display());
        for cert in certs {
            roots.add(cert).with_context(|| format!("a certificate in {} is invalid", path.display()))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
