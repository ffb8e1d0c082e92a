//! A plugin built against a hypothetical `docker-credential-wasm:plugin@0.2.0`, whose
//! `helper` interface changed shape. The host (which speaks 0.1.x) must refuse it with a
//! message naming both versions, not fail obscurely at instantiation.

wit_bindgen::generate!({
    inline: "
        package docker-credential-wasm:plugin@0.2.0;
        interface helper {
            get: func(request: list<string>) -> result<string, string>;
        }
        world plugin {
            export helper;
        }
    ",
});

struct Future;

impl exports::docker_credential_wasm::plugin::helper::Guest for Future {
    fn get(request: Vec<String>) -> Result<String, String> {
        Ok(request.join(","))
    }
}

#[cfg(target_family = "wasm")]
export!(Future);
