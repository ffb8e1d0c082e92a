//! A small synchronous HTTP client over `wasi:http/outgoing-handler`: build a [`Request`],
//! [`Request::send`] it, read the whole [`Response`]. Every request crosses the host's
//! egress chokepoint, which checks it against the plugin's network grants; a refusal comes
//! back as [`Error::Denied`] naming the URL, any other failure as [`Error::Upstream`].

use crate::Error;
use std::time::Duration;

/// An HTTP request to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Give up connecting after this long (the host may allow less, never more).
    pub connect_timeout: Option<Duration>,
    /// Give up waiting for the response after this long.
    pub response_timeout: Option<Duration>,
}

// By hand: header values and bodies may hold secrets.
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        write!(
            f,
            "Request {{ {} {}, headers {names:?}, {} body bytes }}",
            self.method,
            Url::shown(&self.url),
            self.body.len()
        )
    }
}

impl Request {
    /// A request with `method` to `url` (`http://` or `https://`).
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            connect_timeout: None,
            response_timeout: None,
        }
    }

    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }

    pub fn post(url: &str) -> Request {
        Request::new("POST", url)
    }

    pub fn put(url: &str) -> Request {
        Request::new("PUT", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Sets a form body (`application/x-www-form-urlencoded`) from name/value pairs.
    pub fn form(self, fields: &[(&str, &str)]) -> Request {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v))).collect();
        self.header("content-type", "application/x-www-form-urlencoded").body(body.join("&"))
    }

    /// Gives up after `connect` to connect and `response` more for the answer: for probes
    /// of endpoints that exist only on some machines (metadata services).
    pub fn timeouts(mut self, connect: Duration, response: Duration) -> Request {
        self.connect_timeout = Some(connect);
        self.response_timeout = Some(response);
        self
    }

    /// Sends the request and reads the whole response.
    pub fn send(&self) -> Result<Response, Error> {
        match self.probe()? {
            Ok(response) => Ok(response),
            Err(nothing) => Err(Error::Upstream(nothing)),
        }
    }

    /// Sends a probe of an endpoint that exists only on some machines (a metadata service):
    /// `Ok(Err(why))` when nothing answered at all (refused, unreachable, reset or timed out
    /// before any answer), so that the caller moves on; a failure once an answer began (a
    /// broken or oversized body) is an error, as with [`Request::send`].
    pub fn probe(&self) -> Result<Result<Response, String>, Error> {
        let url = Url::parse(&self.url)?;
        crate::native::host_call!("http", self.probe_through_host(&url), |host| crate::effects::Effects::probe(
            host, self
        ))
    }

    /// [`Request::probe`] through the host's `wasi:http`.
    fn probe_through_host(&self, url: &Url) -> Result<Result<Response, String>, Error> {
        let shown = |why: String| format!("{} {}: {why}", self.method, Url::shown(&self.url));
        match wasi::send(self, url) {
            Ok(response) => Ok(Ok(response)),
            Err(Failure::Unanswered(why)) => Ok(Err(shown(why))),
            Err(Failure::Denied(why)) => Err(Error::Denied(shown(why))),
            Err(Failure::Other(why)) => Err(Error::Upstream(shown(why))),
        }
    }
}

/// A whole HTTP response.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Response {{ {}, {} body bytes }}", self.status, self.body.len())
    }
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text (invalid sequences replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body parsed as JSON into `T`; the error names `what` and the parse failure
    /// (never the body, which may hold secrets).
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Upstream(format!("{what}: the answer is not the expected JSON: {e}")))
    }
}

/// Percent-encodes `text` for a form body or a query: unreserved characters stay, a space
/// becomes `%20`, everything else `%XX`.
pub fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The name/value pairs of a form body or query, percent-decoded (`+` is a space).
pub fn form_decode(text: &str) -> Vec<(String, String)> {
    let decode = |part: &str| {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            match (bytes[i], bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b))) {
                (b'%', Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                }
                (byte, _, _) => {
                    out.push(if byte == b'+' { b' ' } else { byte });
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// The parts of an `http`/`https` URL the request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// `host[:port]`, IPv6 in brackets.
    pub authority: String,
    /// Path and query, at least `/`.
    pub path_and_query: String,
}

impl Url {
    /// Splits `scheme://authority/path?query` (a fragment is dropped).
    pub fn parse(url: &str) -> Result<Url, Error> {
        let invalid = |why: &str| Error::InvalidInput(format!("{} is not a usable URL: {why}", Url::shown(url)));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("it has no scheme"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(invalid("the scheme must be http or https")),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
            return Err(invalid("the host is missing or invalid"));
        }
        let path_and_query = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(Url { https, authority: authority.to_string(), path_and_query })
    }

    /// The URL without query or fragment, for messages (queries may carry secrets).
    pub fn shown(url: &str) -> &str {
        url.split(['?', '#']).next().unwrap_or(url)
    }
}

/// Why sending failed, before it is given the URL.
enum Failure {
    Denied(String),
    /// Nothing answered at all.
    Unanswered(String),
    Other(String),
}

mod wasi {
    use super::{Failure, Request, Response, Url};
    use crate::__private::bindings::wasi::http::{outgoing_handler, types as http};
    use crate::__private::bindings::wasi::io::streams::StreamError;

    /// Largest chunk written to an output stream at once (the WASI `blocking-write`
    /// limit is 4096 bytes).
    const WRITE_CHUNK: usize = 4096;

    pub fn send(request: &Request, url: &Url) -> Result<Response, Failure> {
        let other = |what: &str| Failure::Other(what.to_string());
        let fields = http::Fields::new();
        for (name, value) in &request.headers {
            fields.append(name, value.as_bytes()).map_err(|e| Failure::Other(format!("header {name}: {e:?}")))?;
        }
        let outgoing = http::OutgoingRequest::new(fields);
        let method = match request.method.as_str() {
            "GET" => http::Method::Get,
            "POST" => http::Method::Post,
            "PUT" => http::Method::Put,
            "DELETE" => http::Method::Delete,
            "HEAD" => http::Method::Head,
            other => http::Method::Other(other.to_string()),
        };
        outgoing.set_method(&method).map_err(|()| other("invalid method"))?;
        let scheme = if url.https { http::Scheme::Https } else { http::Scheme::Http };
        outgoing.set_scheme(Some(&scheme)).map_err(|()| other("invalid scheme"))?;
        outgoing.set_authority(Some(&url.authority)).map_err(|()| other("invalid host"))?;
        outgoing.set_path_with_query(Some(&url.path_and_query)).map_err(|()| other("invalid path"))?;
        let body = outgoing.body().map_err(|()| other("no request body"))?;

        let options = http::RequestOptions::new();
        let nanos = |d: std::time::Duration| d.as_nanos().min(u64::MAX as u128) as u64;
        if let Some(timeout) = request.connect_timeout {
            let _ = options.set_connect_timeout(Some(nanos(timeout)));
        }
        if let Some(timeout) = request.response_timeout {
            let _ = options.set_first_byte_timeout(Some(nanos(timeout)));
        }
        let future = outgoing_handler::handle(outgoing, Some(options)).map_err(describe)?;
        {
            let stream = body.write().map_err(|()| other("cannot write the request body"))?;
            for chunk in request.body.chunks(WRITE_CHUNK) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| Failure::Other(format!("writing the body: {e:?}")))?;
            }
        }
        http::OutgoingBody::finish(body, None).map_err(describe)?;

        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(describe(code)),
            _ => return Err(other("no response")),
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = response.consume().map_err(|()| other("no response body"))?;
        let mut bytes = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| other("no response body stream"))?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(Failure::Other(format!("reading the response: {}", e.to_debug_string())));
                    }
                }
            }
        }
        drop(incoming);
        Ok(Response { status, headers, body: bytes })
    }

    fn describe(code: http::ErrorCode) -> Failure {
        use http::ErrorCode as E;
        match code {
            E::HttpRequestDenied => Failure::Denied(
                "the host refused the request; grant it in the plugin's `network` list (the host log names the grant)"
                    .into(),
            ),
            E::DestinationIpProhibited => {
                Failure::Denied("the host refused the destination address (not granted explicitly)".into())
            }
            E::ConnectionTimeout => Failure::Unanswered("timed out connecting".into()),
            E::ConnectionRefused => Failure::Unanswered("connection refused".into()),
            E::DnsError(_) | E::DnsTimeout => Failure::Unanswered("the name does not resolve".into()),
            E::DestinationNotFound | E::DestinationUnavailable | E::DestinationIpUnroutable => {
                Failure::Unanswered("the destination cannot be reached".into())
            }
            E::ConnectionTerminated => Failure::Unanswered("the connection was closed before any answer".into()),
            E::HttpResponseTimeout => Failure::Unanswered("timed out waiting for the answer".into()),
            E::TlsCertificateError => Failure::Other("the server's TLS certificate is not trusted".into()),
            E::ConnectionReadTimeout => Failure::Other("the answer stalled: timed out reading its body".into()),
            E::HttpResponseIncomplete => Failure::Other("the connection broke off in the middle of the answer".into()),
            E::HttpResponseBodySize(size) => Failure::Other(match size {
                Some(size) => format!("the answer's body ({size} bytes) is larger than the host accepts"),
                None => "the answer's body is larger than the host accepts".into(),
            }),
            E::HttpResponseHeaderSize(_) | E::HttpResponseHeaderSectionSize(_) => {
                Failure::Other("the answer's headers are larger than the host accepts".into())
            }
            E::HttpProtocolError => Failure::Other("the answer is not valid HTTP".into()),
            E::InternalError(Some(why)) => Failure::Other(why),
            other => Failure::Other(format!("{other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_what_wasi_http_needs() {
        let url = Url::parse("https://api.ecr.us-west-2.amazonaws.com/").unwrap();
        assert_eq!(
            url,
            Url { https: true, authority: "api.ecr.us-west-2.amazonaws.com".into(), path_and_query: "/".into() }
        );
        let url = Url::parse("http://169.254.169.254/latest/api/token").unwrap();
        assert_eq!(
            (url.https, url.authority.as_str(), url.path_and_query.as_str()),
            (false, "169.254.169.254", "/latest/api/token")
        );
        let url = Url::parse("http://[fd00:ec2::254]:80?x=1#frag").unwrap();
        assert_eq!((url.authority.as_str(), url.path_and_query.as_str()), ("[fd00:ec2::254]:80", "/?x=1"));
        assert_eq!(Url::parse("HTTPS://Example.com").unwrap().path_and_query, "/");
        for bad in ["example.com/x", "ftp://example.com/", "https:///x", "https://user@example.com/"] {
            assert!(matches!(Url::parse(bad), Err(Error::InvalidInput(_))), "{bad}");
        }
        assert_eq!(Url::shown("https://sts.amazonaws.com/?Action=X&Token=secret"), "https://sts.amazonaws.com/");
    }

    #[test]
    fn form_bodies_are_percent_encoded() {
        let request = Request::post("https://sts.amazonaws.com/")
            .form(&[("Action", "AssumeRole"), ("RoleArn", "arn:aws:iam::1:role/a b+c")]);
        assert_eq!(
            String::from_utf8(request.body.clone()).unwrap(),
            "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b%2Bc"
        );
        assert_eq!(
            request.headers,
            vec![("content-type".to_string(), "application/x-www-form-urlencoded".to_string())]
        );
        let decoded = form_decode(&String::from_utf8(request.body.clone()).unwrap());
        let expected = [("Action", "AssumeRole"), ("RoleArn", "arn:aws:iam::1:role/a b+c")];
        assert_eq!(decoded, expected.map(|(k, v)| (k.to_string(), v.to_string())));
        let shown = format!("{:?}", request.header("x-secret", "v"));
        assert_eq!(
            shown,
            "Request { POST https://sts.amazonaws.com/, headers [\"content-type\", \"x-secret\"], 67 body bytes }"
        );
    }

    #[test]
    fn responses_answer_headers_case_insensitively_and_name_bad_json() {
        let response = Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{\"a\":1}".to_vec(),
        };
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        assert!(response.is_success());
        let value: serde_json::Value = response.json("ecr").unwrap();
        assert_eq!(value["a"], 1);
        let bad = Response { body: b"<html>".to_vec(), ..response };
        assert_eq!(
            bad.json::<serde_json::Value>("ecr GetAuthorizationToken").unwrap_err(),
            Error::Upstream(
                "ecr GetAuthorizationToken: the answer is not the expected JSON: expected value at line 1 column 1"
                    .into()
            )
        );
    }
}
