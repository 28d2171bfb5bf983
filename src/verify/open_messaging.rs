//! `open-messaging`: the scheme Genesys documents for Open Messaging
//! outbound webhooks, `X-Hub-Signature-256: sha256=<base64 HMAC of the body>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderName;

use super::{
    Algorithm, Keys, Scheme, SchemeName, decode_digest, signature_header, strip_sha256_prefix,
};
use crate::envelope::HttpDelivery;
use crate::error::{Reject, RejectCode};

pub struct OpenMessaging {
    header: HeaderName,
    keys: Keys,
}

impl OpenMessaging {
    pub const HEADER: &'static str = "x-hub-signature-256";

    pub fn new(header: Option<HeaderName>, keys: Keys) -> Self {
        Self {
            header: header.unwrap_or(HeaderName::from_static(Self::HEADER)),
            keys,
        }
    }

    pub fn sign(keys: &Keys, body: &[u8]) -> String {
        format!("sha256={}", STANDARD.encode(keys.sign(&[body])))
    }
}

impl Scheme for OpenMessaging {
    fn name(&self) -> SchemeName {
        SchemeName::OpenMessaging
    }

    fn keys(&self) -> &Keys {
        &self.keys
    }

    fn verify(&self, delivery: &HttpDelivery, _now: i64) -> Result<(), Reject> {
        let value = signature_header(delivery, &self.header)?;
        let digest = strip_sha256_prefix(value)
            .and_then(|d| decode_digest(d, false))
            .ok_or(RejectCode::InvalidSignature.because("not sha256=<base64 SHA-256>"))?;
        self.keys
            .check(Algorithm::Sha256, &[&delivery.body], &[digest])
    }

    /// Genesys sends no delivery id here: the id is always the body's hash.
    fn honours_id_header(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::tests::{KNOWN_HEX, NOW, delivery, secrets};

    const BODY: &[u8] = br#"{"id":"1"}"#;

    fn verify(value: &str) -> Result<(), RejectCode> {
        OpenMessaging::new(None, Keys::new(&secrets("test-secret", None)))
            .verify(&delivery(&[("X-Hub-Signature-256", value)], BODY), NOW)
            .map_err(|e| e.code)
    }

    #[test]
    fn documented_format_verifies() {
        let b64 = STANDARD.encode(hex::decode(KNOWN_HEX).unwrap());
        assert_eq!(verify(&format!("sha256={b64}")), Ok(()));
    }

    #[test]
    fn only_the_documented_format_verifies() {
        let b64 = STANDARD.encode(hex::decode(KNOWN_HEX).unwrap());
        for v in [
            b64.clone(),
            format!("sha256={KNOWN_HEX}"),
            KNOWN_HEX.to_string(),
            format!("sha1={b64}"),
        ] {
            assert_eq!(verify(&v), Err(RejectCode::InvalidSignature), "{v}");
        }
    }

    #[test]
    fn raw_bytes_not_reserialized_json() {
        let keys = Keys::new(&secrets("test-secret", None));
        let sent = b"{ \"id\" : \"1\" }";
        let header = OpenMessaging::sign(&keys, sent);
        let scheme = OpenMessaging::new(None, keys);
        assert!(
            scheme
                .verify(&delivery(&[("x-hub-signature-256", &header)], sent), NOW)
                .is_ok()
        );
        let reserialized =
            serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(sent).unwrap())
                .unwrap();
        assert!(
            scheme
                .verify(
                    &delivery(&[("x-hub-signature-256", &header)], &reserialized),
                    NOW
                )
                .is_err()
        );
    }
}
