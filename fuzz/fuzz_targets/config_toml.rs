//! The operator's config file, any text: it parses, or fails with an error that names the
//! file and a line within it; a config that parses routes any registry without panicking.
#![no_main]

use host_core::config::{Origin, parse};
use libfuzzer_sys::fuzz_target;

const PATH: &str = "/etc/docker-credential-wasm/config.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text, Origin::File(PATH.into())) {
        Err(error) => {
            assert_eq!(error.origin, PATH);
            assert!(
                error.line >= 1 && error.line <= text.lines().count().max(1) + 1,
                "line {} of {text:?}",
                error.line
            );
            assert!(!error.message.is_empty());
            let shown = error.to_string();
            assert!(shown.contains(PATH), "{shown}");
        }
        Ok(config) => {
            for registry in
                ["127.0.0.1:5000", "registry.corp.example", "123456789012.dkr.ecr.us-west-2.amazonaws.com", "docker.io"]
            {
                let registry = host_core::registry::Registry::parse(registry).unwrap();
                let _ = config.router.route(&registry);
            }
        }
    }
});
