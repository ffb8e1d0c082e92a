//! The request capability: what the client said about this request beyond the registry
//! (the kubelet's image, service-account token and annotations), read-only, and whether
//! the plugin looked at the image (its answer may then be specific to that image).

use super::CallSetup;
use crate::bindings::docker_credential_wasm::plugin::request::{Host, add_to_linker};
use host_core::call::RequestContext;
use wasmtime::component::{HasData, Linker};

/// The interfaces this capability serves.
pub const INTERFACES: &[&str] = &["docker-credential-wasm:plugin/request"];

/// The store state of the capability: the context, and what the plugin read of it.
#[derive(Debug, Default)]
pub struct ClientRequest {
    pub context: RequestContext,
    /// The plugin asked for the image.
    pub image_read: bool,
}

impl ClientRequest {
    /// Empty: the runtime sets the context of a `get`.
    pub fn for_call(_: &CallSetup<'_>) -> ClientRequest {
        ClientRequest::default()
    }
}

impl Host for ClientRequest {
    fn image(&mut self) -> Option<String> {
        self.image_read = true;
        self.context.image.clone()
    }

    fn service_account_token(&mut self) -> Option<String> {
        self.context.service_account_token.clone()
    }

    fn service_account_annotations(&mut self) -> Vec<(String, String)> {
        self.context.service_account_annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn server_url(&mut self) -> Option<String> {
        self.context.server_url.clone()
    }
}

struct RequestData;
impl HasData for RequestData {
    type Data<'a> = &'a mut ClientRequest;
}

/// Links `docker-credential-wasm:plugin/request`, served from `get(state)`.
pub fn link<T: 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut ClientRequest) -> wasmtime::Result<()> {
    add_to_linker::<T, RequestData>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_the_image_is_remembered() {
        let mut request = ClientRequest::default();
        assert_eq!(request.service_account_annotations(), vec![]);
        assert!(!request.image_read);
        assert_eq!(request.image(), None);
        assert!(request.image_read);
    }
}
