//! The hashes identity protocols sign with: SHA-256 always, HMAC-SHA256 with the `hmac`
//! feature, RS256 signatures with the `rsa` feature.

use sha2::{Digest, Sha256};

/// An RSASSA-PKCS1-v1_5 signature with SHA-256 (JWT `RS256`) of `message` by the private
/// key in `pem` (PKCS#8 `BEGIN PRIVATE KEY`, as in Google service-account keys, or PKCS#1
/// `BEGIN RSA PRIVATE KEY`). The error never contains the key.
#[cfg(feature = "rsa")]
pub fn rs256_sign(pem: &str, message: &[u8]) -> Result<Vec<u8>, crate::Error> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let key =
        rsa::RsaPrivateKey::from_pkcs8_pem(pem).or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem)).map_err(|_| {
            crate::Error::InvalidInput("the private key is not an RSA key in PEM (PKCS#8 or PKCS#1)".into())
        })?;
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key);
    Ok(signer.sign(message).to_vec())
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// HMAC-SHA256 of `message` under `key`.
#[cfg(feature = "hmac")]
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "rsa")]
    #[test]
    fn rs256_signs_with_pkcs8_keys_and_refuses_other_pem() {
        use rsa::pkcs8::EncodePrivateKey;
        use rsa::signature::Verifier;
        // A small key keeps the test fast; the code path is the same for 2048 bits.
        let mut rng = TestRng(7);
        let key = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
        let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let signature = rs256_sign(&pem, b"header.claims").unwrap();
        let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.to_public_key());
        let signature = rsa::pkcs1v15::Signature::try_from(signature.as_slice()).unwrap();
        verifier.verify(b"header.claims", &signature).unwrap();
        assert!(verifier.verify(b"header.other", &signature).is_err());
        assert_eq!(
            rs256_sign("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", b"x").unwrap_err(),
            crate::Error::InvalidInput("the private key is not an RSA key in PEM (PKCS#8 or PKCS#1)".into())
        );
    }

    /// A deterministic generator, for key generation in tests only.
    #[cfg(feature = "rsa")]
    struct TestRng(u64);
    #[cfg(feature = "rsa")]
    impl rsa::rand_core::RngCore for TestRng {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for chunk in dest.chunks_mut(8) {
                let bytes = self.next_u64().to_le_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    #[cfg(feature = "rsa")]
    impl rsa::rand_core::CryptoRng for TestRng {}

    #[test]
    fn known_answers() {
        assert_eq!(hex::encode(sha256(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        // RFC 4231 test case 2.
        #[cfg(feature = "hmac")]
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
