//! `genesys`: `X-Genesys-Signature` carries the HMAC of the raw body, as hex
//! (either case) or base64, with or without `sha256=`. Found in the field
//! rather than in Genesys's documentation; kept as a named scheme.

use http::HeaderName;

use super::{
    Algorithm, Keys, Scheme, SchemeName, decode_digest, signature_header, strip_sha256_prefix,
};
use crate::envelope::HttpDelivery;
use crate::error::{Reject, RejectCode};

pub struct Genesys {
    header: HeaderName,
    keys: Keys,
}

impl Genesys {
    pub const HEADER: &'static str = "x-genesys-signature";

    pub fn new(header: Option<HeaderName>, keys: Keys) -> Self {
        Self {
            header: header.unwrap_or(HeaderName::from_static(Self::HEADER)),
            keys,
        }
    }

    /// The header value a sender would put on `body`: `sha256=<hex>`.
    pub fn sign(keys: &Keys, body: &[u8]) -> String {
        format!("sha256={}", hex::encode(keys.sign(&[body])))
    }
}

impl Scheme for Genesys {
    fn name(&self) -> SchemeName {
        SchemeName::Genesys
    }

    fn keys(&self) -> &Keys {
        &self.keys
    }

    fn verify(&self, delivery: &HttpDelivery, _now: i64) -> Result<(), Reject> {
        let value = signature_header(delivery, &self.header)?;
        let digest = strip_sha256_prefix(value).unwrap_or(value);
        let digest = decode_digest(digest, true)
            .ok_or(RejectCode::InvalidSignature.because("digest is not a hex or base64 SHA-256"))?;
        self.keys
            .check(Algorithm::Sha256, &[&delivery.body], &[digest])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::tests::{KNOWN_HEX, NOW, delivery, secrets};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    const BODY: &[u8] = br#"{"id":"1"}"#;

    fn verify(headers: &[(&str, &str)], body: &[u8]) -> Result<(), RejectCode> {
        Genesys::new(None, Keys::new(&secrets("test-secret", None)))
            .verify(&delivery(headers, body), NOW)
            .map_err(|e| e.code)
    }

    #[test]
    fn every_digest_encoding_verifies() {
        let b64 = STANDARD.encode(hex::decode(KNOWN_HEX).unwrap());
        for v in [
            KNOWN_HEX.to_string(),
            KNOWN_HEX.to_uppercase(),
            format!("sha256={KNOWN_HEX}"),
            format!("SHA256={}", KNOWN_HEX.to_uppercase()),
            b64.clone(),
            format!("sha256={b64}"),
        ] {
            assert_eq!(verify(&[("X-Genesys-Signature", &v)], BODY), Ok(()), "{v}");
        }
    }

    #[test]
    fn rejections() {
        assert_eq!(verify(&[], BODY), Err(RejectCode::MissingSignature));
        assert_eq!(
            verify(&[("x-genesys-signature", "")], BODY),
            Err(RejectCode::MissingSignature)
        );
        assert_eq!(
            verify(&[("x-genesys-signature", KNOWN_HEX)], b"{\"id\":\"2\"}"),
            Err(RejectCode::InvalidSignature)
        );
        assert_eq!(
            verify(&[("x-genesys-signature", "sha256=nothex")], BODY),
            Err(RejectCode::InvalidSignature)
        );
        assert_eq!(
            verify(
                &[("x-genesys-signature", &format!("sha1={KNOWN_HEX}"))],
                BODY
            ),
            Err(RejectCode::InvalidSignature)
        );
        let wrong_key = Genesys::sign(&Keys::new(&secrets("other", None)), BODY);
        assert_eq!(
            verify(&[("x-genesys-signature", &wrong_key)], BODY),
            Err(RejectCode::InvalidSignature)
        );
    }

    #[test]
    fn header_name_override() {
        let scheme = Genesys::new(
            Some(HeaderName::from_static("x-sig")),
            Keys::new(&secrets("test-secret", None)),
        );
        let d = delivery(&[("X-Sig", KNOWN_HEX)], BODY);
        assert!(scheme.verify(&d, NOW).is_ok());
        let d = delivery(&[("X-Genesys-Signature", KNOWN_HEX)], BODY);
        assert_eq!(
            scheme.verify(&d, NOW).unwrap_err().code,
            RejectCode::MissingSignature
        );
    }

    #[test]
    fn sign_round_trips() {
        let keys = Keys::new(&secrets("test-secret", None));
        assert_eq!(Genesys::sign(&keys, BODY), format!("sha256={KNOWN_HEX}"));
    }
}
