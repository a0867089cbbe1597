//! ES256 keys and JWTs made with aws-lc-rs alone, for tests that need a real
//! token outside the dev-dependencies (JWS compact form, RFC 7515; ES256 is the
//! fixed-width r||s signature aws-lc-rs produces).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// A P-256 key pair and its public key as PEM (what `pem_file` takes).
#[allow(missing_debug_implementations)]
pub struct Es256 {
    pair: EcdsaKeyPair,
    pub public_pem: String,
}

impl Es256 {
    pub fn generate() -> Es256 {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
        let spki = pair.public_key().as_der().expect("SPKI");
        let b64 = STANDARD.encode(spki.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        let public_pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        );
        Es256 { pair, public_pem }
    }

    /// A signed token with these claims; returns the token and its signature part.
    pub fn token(&self, claims: &serde_json::Value) -> (String, String) {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{payload}");
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign");
        let sig = URL_SAFE_NO_PAD.encode(sig.as_ref());
        (format!("{input}.{sig}"), sig)
    }
}
