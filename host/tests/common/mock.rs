//! A loopback HTTP/1.1 mock that counts every connection and request it receives, for the
//! end-to-end tests and `bench/`. Paths: `/redirect?to=URL` answers 302 to URL, `/big` a 5 MiB body,
//! `/bytes?n=N` a body of N bytes,
//! `/slow` never answers, `/slow-once` never answers the first time, anything else 200
//! `hello`.

#![allow(dead_code, reason = "the tests and the benchmark use different parts")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running mock; stopped when dropped.
pub struct Mock {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    /// (request line, Host header) of each request.
    pub requests: Arc<Mutex<Vec<(String, String)>>>,
    /// How long the mock itself held each connection, from accepting it to the end of its
    /// answer (the benchmark subtracts it).
    pub service_times: Arc<Mutex<Vec<Duration>>>,
    stop: Arc<AtomicBool>,
}

impl Mock {
    pub fn start(ip: &str) -> Mock {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mock = Mock {
            port,
            connections: Arc::default(),
            requests: Arc::default(),
            service_times: Arc::default(),
            stop: Arc::default(),
        };
        let (connections, requests, stop) = (mock.connections.clone(), mock.requests.clone(), mock.stop.clone());
        let service_times = mock.service_times.clone();
        std::thread::spawn(move || {
            // Blocking accept: a connection is served the moment it arrives.
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let accepted = Instant::now();
                let first = connections.fetch_add(1, Ordering::SeqCst) == 0;
                let (requests, service_times) = (requests.clone(), service_times.clone());
                std::thread::spawn(move || serve(stream, &requests, &service_times, first, accepted));
            }
        });
        mock
    }

    pub fn hits(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and closes the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    stream: TcpStream,
    requests: &Mutex<Vec<(String, String)>>,
    service_times: &Mutex<Vec<Duration>>,
    first: bool,
    accepted: Instant,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut host = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("host:") {
            host = value.trim().to_string();
        }
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    requests.lock().unwrap().push((request_line.trim().to_string(), host));
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut stream = stream;
    let response = if let Some(to) = path.strip_prefix("/redirect?to=") {
        format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes()
    } else if let Some(n) = path.strip_prefix("/bytes?n=").and_then(|n| n.parse::<usize>().ok()) {
        let mut response = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n").into_bytes();
        response.resize(response.len() + n, b'x');
        response
    } else if path == "/big" {
        let mut response =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", 5 << 20).into_bytes();
        response.resize(response.len() + (5 << 20), b'x');
        response
    } else if path == "/slow" || (path == "/slow-once" && first) {
        std::thread::sleep(Duration::from_secs(30));
        return;
    } else {
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_vec()
    };
    let _ = stream.write_all(&response);
    service_times.lock().unwrap().push(accepted.elapsed());
}
