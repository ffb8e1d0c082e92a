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

fn read_request(stream: &mut dyn Read) -> Option<Request> {
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

/// The listeners of a running mock.
pub struct Servers {
    pub pki: TestPki,
    pub https_port: u16,
    pub http_port: u16,
    /// Tunnels every CONNECT to the HTTPS listener (set `HTTPS_PROXY` to it).
    pub proxy: ConnectProxy,
}

impl Servers {
    /// Serves `names` over HTTPS on 127.0.0.1 and plain HTTP on `http`, with `handler`.
    pub fn start(names: &[&str], http: TcpListener, handler: Handler) -> Servers {
        let pki = TestPki::for_names(names);
        let tls = server_config(&pki);
        let https = TcpListener::bind("127.0.0.1:0").unwrap();
        let https_port = https.local_addr().unwrap().port();
        let http_port = http.local_addr().unwrap().port();
        let secure = handler.clone();
        std::thread::spawn(move || {
            for stream in https.incoming().flatten() {
                // As a real server answers: no Nagle delay between the writes of one answer
                // (a client that delays its ACKs would otherwise wait 40 ms for the rest).
                let _ = stream.set_nodelay(true);
                let (tls, handler) = (tls.clone(), secure.clone());
                std::thread::spawn(move || {
                    let Ok(connection) = rustls::ServerConnection::new(tls) else { return };
                    let mut stream = rustls::StreamOwned::new(connection, stream);
                    if let Some(request) = read_request(&mut stream) {
                        handler(&request, &mut stream, true);
                    }
                    stream.conn.send_close_notify();
                    let _ = stream.flush();
                });
            }
        });
        std::thread::spawn(move || {
            for mut stream in http.incoming().flatten() {
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                std::thread::spawn(move || {
                    if let Some(request) = read_request(&mut stream) {
                        handler(&request, &mut stream, false);
                    }
                });
            }
        });
        let proxy = ConnectProxy::start(https_port);
        Servers { pki, https_port, http_port, proxy }
    }

    /// `HTTPS_PROXY` for the binary.
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy.port)
    }
}
