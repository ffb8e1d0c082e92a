//! A plugin that opens a TCP socket itself (importing `wasi:sockets`) instead of asking the
//! host through `wasi:http`. The host refuses to load it.

use guest_sdk::{Credentials, Error, Plugin, export_plugin};

struct Sockets;

impl Plugin for Sockets {
    fn get(registry: &str) -> Result<Credentials, Error> {
        let stream = std::net::TcpStream::connect(registry).map_err(|e| Error::Upstream(e.to_string()))?;
        Ok(Credentials::new("sockets", format!("{:?}", stream.peer_addr())))
    }
}

export_plugin!(Sockets);
