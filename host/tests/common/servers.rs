//! What the cloud mocks share: an HTTPS listener (a test CA's certificate for the real
//! names, reached through a CONNECT proxy) and a plain-HTTP listener (metadata services),
//! one thread per connection, and just enough HTTP/1.1 to read a request and write an
//! answer. Each mock supplies a handler.

use super::tls::{ConnectProxy, TestPki, server_config};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

/// One HTTP request.
pub struct Request {
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn host(&self) -> &str {
        self.header("host").unwrap_or_default()
    }

    /// The body as `application/x-www-form-urlencoded` fields.
    pub fn form(&self) -> BTreeMap<String, String> {
        pairs(&String::from_utf8_lossy(&self.body))
    }
}

/// Percent-decodes `text` (`+` is a space).
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn pairs(text: &str) -> BTreeMap<String, String> {
    text.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

pub fn read_request(stream: &mut dyn Read) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap_or(0));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request { method, path: path.to_string(), query: pairs(query), headers, body })
}

/// Writes one answer and closes the exchange. `extra` is more header lines, each ending in `\r\n`.
pub fn respond(stream: &mut dyn Write, status: u16, content_type: &str, extra: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status} Mock\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// A handler: the request, where to write the answer, and whether it came over HTTPS.
pub type Handler = Arc<dyn Fn(&Request, &mut dyn Write, bool) + Send + Sync>;

/// How one endpoint misbehaves, for the fault matrix (`host/tests/faults.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing listens: the proxy answers a CONNECT to the name with 502 Bad Gateway, as a
    /// proxy does when the server refuses; a plain-HTTP connection is reset as it is accepted.
    Refused,
    /// The request is read, and nothing ever comes back.
    NeverAnswers,
    /// The status line and headers come, then the body stalls.
    StallsBody,
    /// 503 with a JSON error.
    ServerError,
    /// 429 with `Retry-After: 1`.
    TooManyRequests,
    /// 200 and half a JSON document (the HTTP message itself complete).
    TruncatedJson,
    /// 200 and an HTML page (a captive portal's, say).
    WrongContentType,
    /// 200 and a 64 MiB body.
    Huge,
    /// Headers and part of the body, then the connection is reset.
    ResetMidBody,
}

impl Fault {
    pub const ALL: [Fault; 9] = [
        Fault::Refused,
        Fault::NeverAnswers,
        Fault::StallsBody,
        Fault::ServerError,
        Fault::TooManyRequests,
        Fault::TruncatedJson,
        Fault::WrongContentType,
        Fault::Huge,
        Fault::ResetMidBody,
    ];

    /// Misbehaves on `stream` instead of answering, with `headers` (lines ending in `\r\n`)
    /// in any answer; `reset` makes the connection's close a reset (RST).
    fn perform(self, stream: &mut dyn Write, headers: &str, reset: &dyn Fn()) {
        let head = |stream: &mut dyn Write, status: &str, content_type: &str, extra: &str, length: usize| {
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{headers}{extra}Content-Length: {length}\r\nConnection: close\r\n\r\n"
            );
        };
        let respond = |stream: &mut dyn Write, status: u16, content_type: &str, extra: &str, body: &str| {
            respond(stream, status, content_type, &format!("{headers}{extra}"), body)
        };
        let hold = || std::thread::sleep(std::time::Duration::from_secs(30));
        match self {
            Fault::Refused => reset(),
            Fault::NeverAnswers => hold(),
            Fault::StallsBody => {
                head(stream, "200 OK", "application/json", "", 1000);
                let _ = stream.write_all(b"{\"Code\":");
                let _ = stream.flush();
                hold();
            }
            Fault::ServerError => {
                respond(stream, 503, "application/json", "", r#"{"error":"temporarily unavailable"}"#)
            }
            Fault::TooManyRequests => {
                respond(stream, 429, "application/json", "Retry-After: 1\r\n", r#"{"error":"too many requests"}"#)
            }
            Fault::TruncatedJson => {
                respond(stream, 200, "application/json", "", r#"{"AccessKeyId":"ASIA","access_token":"ya29.tr"#)
            }
            Fault::WrongContentType => {
                respond(stream, 200, "text/html", "", "<html><body><h1>Sign in to the guest network</h1></body></html>")
            }
            Fault::Huge => {
                let size = 64 << 20;
                head(stream, "200 OK", "application/json", "", size);
                let chunk = vec![b' '; 64 << 10];
                for _ in 0..size / chunk.len() {
                    if stream.write_all(&chunk).is_err() {
                        break;
                    }
                }
                let _ = stream.flush();
            }
            Fault::ResetMidBody => {
                head(stream, "200 OK", "application/json", "", 1000);
                let _ = stream.write_all(b"{\"AccessKeyId\":\"ASIA");
                let _ = stream.flush();
                std::thread::sleep(std::time::Duration::from_millis(50));
                reset();
            }
        }
    }
}

/// The fault a mock's endpoint is to show, if any: a host (as the request names it) and a
/// path prefix.
#[derive(Clone, Default)]
pub struct Faults(Arc<std::sync::Mutex<Option<(String, String, Fault, String)>>>);

impl Faults {
    /// Makes requests to `host` whose path starts with `path` show `fault`, with `headers`
    /// (lines ending in `\r\n`) in any answer it gives.
    pub fn set(&self, host: &str, path: &str, fault: Fault, headers: &str) {
        *self.0.lock().unwrap() = Some((host.to_string(), path.to_string(), fault, headers.to_string()));
    }

    pub fn clear(&self) {
        *self.0.lock().unwrap() = None;
    }

    fn matching(&self, request: &Request) -> Option<(Fault, String)> {
        let fault = self.0.lock().unwrap().clone()?;
        let host = request.host().split(':').next().unwrap_or_default();
        (host == fault.0 && request.path.starts_with(&fault.1)).then_some((fault.2, fault.3))
    }

    /// Whether connections to `host` are refused.
    pub fn refuses(&self, host: &str) -> bool {
        matches!(&*self.0.lock().unwrap(), Some((refused, _, Fault::Refused, _)) if refused == host)
    }

    /// Whether plain-HTTP connections are refused (a refused host that is not one of `names`).
    fn refuses_plain(&self, names: &[String]) -> bool {
        matches!(&*self.0.lock().unwrap(), Some((host, _, Fault::Refused, _)) if !names.contains(host))
    }
}

/// Makes the close of the socket `fd` a reset (SO_LINGER with a zero timeout).
fn reset_on_close(fd: std::os::fd::RawFd) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a socket this mock owns, with a valid linger struct.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}

/// The listeners of a running mock.
pub struct Servers {
    pub pki: TestPki,
    pub https_port: u16,
    pub http_port: u16,
    /// Tunnels every CONNECT to the HTTPS listener (set `HTTPS_PROXY` to it).
    pub proxy: ConnectProxy,
    /// The fault an endpoint is to show (none unless a test sets one).
    pub faults: Faults,
}

impl Servers {
    /// Serves `names` over HTTPS on 127.0.0.1 and plain HTTP on `http`, with `handler`
    /// (or with the fault set in `faults` for the endpoint asked).
    pub fn start(names: &[&str], http: TcpListener, handler: Handler) -> Servers {
        use std::os::fd::AsRawFd;
        let pki = TestPki::for_names(names);
        let tls = server_config(&pki);
        let https = TcpListener::bind("127.0.0.1:0").unwrap();
        let https_port = https.local_addr().unwrap().port();
        let http_port = http.local_addr().unwrap().port();
        let secure = handler.clone();
        let faults = Faults::default();
        let (secure_faults, plain_faults) = (faults.clone(), faults.clone());
        std::thread::spawn(move || {
            for stream in https.incoming().flatten() {
                // As a real server answers: no Nagle delay between the writes of one answer
                // (a client that delays its ACKs would otherwise wait 40 ms for the rest).
                let _ = stream.set_nodelay(true);
                let (tls, handler, faults) = (tls.clone(), secure.clone(), secure_faults.clone());
                std::thread::spawn(move || {
                    let Ok(connection) = rustls::ServerConnection::new(tls) else { return };
                    let fd = stream.as_raw_fd();
                    let mut stream = rustls::StreamOwned::new(connection, stream);
                    if let Some(request) = read_request(&mut stream) {
                        if let Some((fault, headers)) = faults.matching(&request) {
                            return fault.perform(&mut stream, &headers, &|| reset_on_close(fd));
                        }
                        handler(&request, &mut stream, true);
                    }
                    stream.conn.send_close_notify();
                    let _ = stream.flush();
                });
            }
        });
        let https_names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        std::thread::spawn(move || {
            for mut stream in http.incoming().flatten() {
                if plain_faults.refuses_plain(&https_names) {
                    reset_on_close(stream.as_raw_fd());
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let (handler, faults) = (handler.clone(), plain_faults.clone());
                std::thread::spawn(move || {
                    if let Some(request) = read_request(&mut stream) {
                        if let Some((fault, headers)) = faults.matching(&request) {
                            let fd = stream.as_raw_fd();
                            return fault.perform(&mut stream, &headers, &|| reset_on_close(fd));
                        }
                        handler(&request, &mut stream, false);
                    }
                });
            }
        });
        let proxy = ConnectProxy::refusing(https_port, faults.clone());
        Servers { pki, https_port, http_port, proxy, faults }
    }

    /// `HTTPS_PROXY` for the binary.
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy.port)
    }
}
