//! A plugin that goes around `wasi:http`: it opens a TCP connection and sends a UDP datagram
//! to the address in its `target` setting, and looks up a name, through `wasi:sockets` (as
//! Rust's std and CPython do). The host links `wasi:sockets` but refuses every use, so each
//! attempt fails and the plugin answers `denied` with what each one got.

use docker_credential_wasm_sdk::{Credentials, Error, Plugin, export_plugin, settings};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};

struct Sockets;

impl Plugin for Sockets {
    fn get(_registry: &str) -> Result<Credentials, Error> {
        let target = settings::require("target")?;
        let tcp = TcpStream::connect(&target).map(|_| "connected".to_string());
        let udp = UdpSocket::bind("0.0.0.0:0").and_then(|socket| socket.send_to(b"escaped", &target));
        let lookup = ("localhost", 80).to_socket_addrs().map(|addrs| addrs.count());
        match (tcp, udp, lookup) {
            (Err(tcp), Err(udp), Err(lookup)) => {
                Err(Error::Denied(format!("tcp: {tcp}; udp: {udp}; lookup: {lookup}")))
            }
            (tcp, udp, lookup) => {
                Ok(Credentials::new("escaped", format!("tcp: {tcp:?}; udp: {udp:?}; lookup: {lookup:?}")))
            }
        }
    }
}

export_plugin!(Sockets);
