//! The egress capability: the one chokepoint every `wasi:http` request of a plugin
//! crosses. Until network grants exist, it denies every request (typed
//! `HttpRequestDenied` to the plugin, one log line on the host naming the target).

use crate::logging::{self, Level};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// The egress policy of one plugin instance.
#[derive(Debug)]
pub struct Egress {
    pub plugin: String,
}

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let uri = request.uri();
        logging::log(
            Level::Warn,
            format_args!(
                "plugin {}: denied {} {}://{}{}: this host grants no network access to plugins",
                self.plugin,
                request.method(),
                uri.scheme_str().unwrap_or("?"),
                uri.authority().map_or("?", |a| a.as_str()),
                uri.path(),
            ),
        );
        Box::new(async { Err(ErrorCode::HttpRequestDenied.into()) })
    }
}
