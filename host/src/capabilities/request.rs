//! The request capability: what the client said about this request beyond the registry
//! (the kubelet's image, service-account token and annotations), read-only, and whether
//! the plugin looked at the image (its answer may then be specific to that image).

use crate::runtime::bindings::docker_credential_wasm::plugin::request::{Host, add_to_linker};
use std::collections::BTreeMap;
use std::fmt;
use wasmtime::component::{HasData, Linker};

/// The context of one `get`: empty for Docker clients.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The image repository, `host[:port]/path`, when the client named one.
    pub image: Option<String>,
    /// The pod's service-account token (a secret).
    pub service_account_token: Option<String>,
    /// The service account's annotations the kubelet passed.
    pub service_account_annotations: BTreeMap<String, String>,
}

// By hand, so that the token never reaches a log line or a panic message.
impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("image", &self.image)
            .field("service_account_token", &self.service_account_token.as_ref().map(|_| "<redacted>"))
            .field("service_account_annotations", &self.service_account_annotations)
            .finish()
    }
}

/// The store state of the capability: the context, and what the plugin read of it.
#[derive(Debug, Default)]
pub struct Request {
    pub context: RequestContext,
    /// The plugin asked for the image.
    pub image_read: bool,
}

impl Host for Request {
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
}

struct RequestData;
impl HasData for RequestData {
    type Data<'a> = &'a mut Request;
}

/// Links `docker-credential-wasm:plugin/request`, served from `get(state)`.
pub fn link<T: 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut Request) -> wasmtime::Result<()> {
    add_to_linker::<T, RequestData>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_token() {
        let context = RequestContext {
            image: Some("example.com/app".into()),
            service_account_token: Some("eyJhbGciOiJSUzI1NiJ9.secret".into()),
            service_account_annotations: BTreeMap::from([("k".into(), "v".into())]),
        };
        let shown = format!("{context:?}");
        assert!(!shown.contains("eyJ"), "{shown}");
        assert_eq!(
            shown,
            r#"RequestContext { image: Some("example.com/app"), service_account_token: Some("<redacted>"), service_account_annotations: {"k": "v"} }"#
        );
    }

    #[test]
    fn reading_the_image_is_remembered() {
        let mut request = Request::default();
        assert_eq!(request.service_account_annotations(), vec![]);
        assert!(!request.image_read);
        assert_eq!(request.image(), None);
        assert!(request.image_read);
    }
}
