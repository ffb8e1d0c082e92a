//! The native floor: the least a credential helper can do — read the request on stdin and
//! print a fixed answer. The benchmark's ratios are against this program.

use std::io::{Read, Write};

fn main() {
    let mut request = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut request);
    let _ = std::io::stdout()
        .write_all(b"{\"ServerURL\":\"requests.test\",\"Username\":\"observer\",\"Secret\":\"fixed\"}\n");
}
