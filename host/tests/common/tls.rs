//! A test certificate authority, an HTTPS mock serving a name it certifies, and a CONNECT
//! proxy on loopback that sends every tunnel to that mock: what a corporate network with
//! its own CA and an egress proxy looks like, on 127.0.0.1 only.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A CA and a server certificate it signed for `name`.
pub struct TestPki {
    pub ca_pem: String,
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: Vec<u8>,
}

impl TestPki {
    pub fn new(name: &str) -> TestPki {
        TestPki::for_names(&[name])
    }

    /// A CA and a server certificate it signed for every name in `names`.
    pub fn for_names(names: &[&str]) -> TestPki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "docker-credential-wasm test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let server = CertificateParams::new(names).unwrap().signed_by(&server_key, &ca).unwrap();
        TestPki { ca_pem: ca.pem(), server_chain: vec![server.der().clone()], server_key: server_key.serialize_der() }
    }
}

/// An HTTPS server answering `200 hello` to every request; counts connections.
pub struct HttpsMock {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
}

/// The TLS configuration of a server with `pki`'s certificate.
pub fn server_config(pki: &TestPki) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.server_chain.clone(), key)
        .unwrap();
    Arc::new(config)
}

impl HttpsMock {
    pub fn start(pki: &TestPki) -> HttpsMock {
        let config = server_config(pki);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let config = config.clone();
                std::thread::spawn(move || {
                    let connection = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(connection, stream);
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        HttpsMock { port, connections }
    }

    pub fn hits(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A CONNECT proxy that tunnels every request to 127.0.0.1:`upstream`, recording the
/// targets it was asked for (it never resolves them).
pub struct ConnectProxy {
    pub port: u16,
    pub targets: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub fn start(upstream: u16) -> ConnectProxy {
        Self::refusing(upstream, super::servers::Faults::default())
    }

    /// A proxy that answers 502 to a CONNECT for a host `faults` refuses.
    pub fn refusing(upstream: u16, faults: super::servers::Faults) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let targets: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = targets.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (seen, faults) = (seen.clone(), faults.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(client.try_clone().unwrap());
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                    }
                    seen.lock().unwrap().push(line.trim().to_string());
                    let mut client = client;
                    if !line.starts_with("CONNECT ") {
                        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
                        return;
                    }
                    let host = line.split_whitespace().nth(1).and_then(|t| t.rsplit_once(':')).map_or("", |(h, _)| h);
                    if faults.refuses(host) {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
                        return;
                    }
                    let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                    // A tunnel adds no Nagle delay of its own.
                    let _ = (server.set_nodelay(true), client.set_nodelay(true));
                    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
                    let (mut client_read, mut server_write) =
                        (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let (mut server_read, mut client_write) = (server, client);
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut client_read, &mut server_write);
                        let _ = server_write.shutdown(std::net::Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut server_read, &mut client_write);
                    let _ = client_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        ConnectProxy { port, targets }
    }
}
