//! Base64 and hex, as identity endpoints use them.

use crate::Error;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64; the error names `what` (never the input, which may be a secret).
pub fn base64_decode(text: &str, what: &str) -> Result<Vec<u8>, Error> {
    STANDARD.decode(text.trim()).map_err(|e| Error::Upstream(format!("{what} is not valid base64: {e}")))
}

/// URL-safe base64 without padding (JWT segments).
pub fn base64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes URL-safe base64, with or without padding.
pub fn base64url_decode(text: &str, what: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| Error::Upstream(format!("{what} is not valid base64url: {e}")))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(base64_encode(b"AWS:password"), "QVdTOnBhc3N3b3Jk");
        assert_eq!(base64_decode("QVdTOnBhc3N3b3Jk\n", "token").unwrap(), b"AWS:password");
        assert_eq!(
            base64_decode("not base64!", "the ECR token").unwrap_err(),
            Error::Upstream("the ECR token is not valid base64: Invalid symbol 32, offset 3.".into())
        );
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url_decode("-_8=", "x").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }
}
