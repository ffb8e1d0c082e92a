//! Reading (not verifying) JSON Web Tokens: the claims of a token an identity endpoint
//! issued, for its expiry. Never log a token.

use crate::Error;
use crate::encoding::base64url_decode;

/// The claims (payload) of a JWT, without checking its signature.
pub fn claims(token: &str) -> Result<serde_json::Value, Error> {
    let mut parts = token.split('.');
    let payload = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(payload), Some(_), None) => payload,
        _ => return Err(Error::Upstream("the token is not a JWT (three dot-separated parts)".into())),
    };
    let bytes = base64url_decode(payload, "the token's claims")?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Upstream(format!("the token's claims are not JSON: {e}")))
}

/// The `exp` claim (seconds since the epoch), if the token has one.
pub fn expiry(token: &str) -> Result<Option<u64>, Error> {
    Ok(claims(token)?.get("exp").and_then(|exp| exp.as_u64().or_else(|| exp.as_f64().map(|f| f as u64))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::base64url_encode;

    #[test]
    fn claims_and_expiry_are_read_without_verification() {
        let token = format!(
            "{}.{}.sig",
            base64url_encode(b"{\"alg\":\"RS256\"}"),
            base64url_encode(b"{\"exp\":1700000000,\"sub\":\"x\"}")
        );
        assert_eq!(expiry(&token).unwrap(), Some(1_700_000_000));
        assert_eq!(claims(&token).unwrap()["sub"], "x");
        let no_exp = format!("a.{}.c", base64url_encode(b"{}"));
        assert_eq!(expiry(&no_exp).unwrap(), None);
        assert!(matches!(expiry("opaque-token"), Err(Error::Upstream(_))));
    }
}
