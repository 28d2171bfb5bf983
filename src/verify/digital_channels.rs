//! `digital-channels`: Genesys Multicloud CX's Digital Channels webhooks
//! (Third-Party Messaging, Interactions Webhook), `X-Hub-Signature:
//! sha1=<HMAC-SHA1 of the body>` keyed with the channel's app secret. Genesys
//! documents the header and the hash, not the digest's encoding: hex in
//! either case is what such receivers expect, and base64 is taken too, as
//! `genesys` takes it.

use http::HeaderName;

use super::{
    Algorithm, Keys, Scheme, SchemeName, Sha1Digest, decode_bytes, signature_header,
    strip_prefix_ignore_case,
};
use crate::envelope::HttpDelivery;
use crate::error::{Reject, RejectCode};

pub struct DigitalChannels {
    header: HeaderName,
    keys: Keys,
}

impl DigitalChannels {
    pub const HEADER: &'static str = "x-hub-signature";

    pub fn new(header: Option<HeaderName>, keys: Keys) -> Self {
        Self {
            header: header.unwrap_or(HeaderName::from_static(Self::HEADER)),
            keys,
        }
    }

    /// The header value Genesys would put on `body`: `sha1=<hex>`.
    pub fn sign(keys: &Keys, body: &[u8]) -> String {
        format!("sha1={}", hex::encode(keys.sign_sha1(&[body])))
    }
}

/// The SHA-1 digest of a `sha1=<hex or base64>` value (prefix in any case).
pub(super) fn parse(value: &str) -> Option<Sha1Digest> {
    strip_prefix_ignore_case(value, "sha1=").and_then(|d| decode_bytes(d, true))
}

impl Scheme for DigitalChannels {
    fn name(&self) -> SchemeName {
        SchemeName::DigitalChannels
    }

    fn keys(&self) -> &Keys {
        &self.keys
    }

    fn verify(&self, delivery: &HttpDelivery, _now: i64) -> Result<(), Reject> {
        let value = signature_header(delivery, &self.header)?;
        let digest = parse(value)
            .ok_or(RejectCode::InvalidSignature.because("not sha1=<hex or base64 SHA-1>"))?;
        self.keys
            .check(Algorithm::Sha1, &[&delivery.body], &[digest])
    }

    /// Genesys documents no delivery id here: the id is the body's hash.
    fn honours_id_header(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::tests::{NOW, delivery, secrets};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    const BODY: &[u8] = br#"{"id":"1"}"#;
    /// HMAC-SHA1 computed independently (Python's hmac module) for key
    /// "test-secret" over `{"id":"1"}`.
    const KNOWN_HEX: &str = "e1623bf4c26b7705a573ea4c5cf67783adba3203";

    fn verify(headers: &[(&str, &str)], body: &[u8]) -> Result<(), RejectCode> {
        DigitalChannels::new(None, Keys::new(&secrets("test-secret", None)))
            .verify(&delivery(headers, body), NOW)
            .map_err(|e| e.code)
    }

    #[test]
    fn known_answer() {
        let keys = Keys::new(&secrets("test-secret", None));
        assert_eq!(
            DigitalChannels::sign(&keys, BODY),
            format!("sha1={KNOWN_HEX}")
        );
    }

    #[test]
    fn hex_in_either_case_and_base64_verify() {
        let b64 = STANDARD.encode(hex::decode(KNOWN_HEX).unwrap());
        for v in [
            format!("sha1={KNOWN_HEX}"),
            format!("sha1={}", KNOWN_HEX.to_uppercase()),
            format!("SHA1={KNOWN_HEX}"),
            format!("sha1={b64}"),
        ] {
            assert_eq!(verify(&[("X-Hub-Signature", &v)], BODY), Ok(()), "{v}");
        }
    }

    #[test]
    fn rejections() {
        assert_eq!(verify(&[], BODY), Err(RejectCode::MissingSignature));
        let sha256 = hex::encode(Keys::new(&secrets("test-secret", None)).sign(&[BODY]));
        let wrong_key = DigitalChannels::sign(&Keys::new(&secrets("other", None)), BODY);
        for v in [
            KNOWN_HEX.to_string(),
            format!("sha256={KNOWN_HEX}"),
            format!("sha1={sha256}"),
            format!("sha256={sha256}"),
            format!("sha1={}", &KNOWN_HEX[..38]),
            "sha1=".to_string(),
            wrong_key,
        ] {
            assert_eq!(
                verify(&[("x-hub-signature", &v)], BODY),
                Err(RejectCode::InvalidSignature),
                "{v}"
            );
        }
        assert_eq!(
            verify(
                &[("x-hub-signature", &format!("sha1={KNOWN_HEX}"))],
                b"{\"id\":\"2\"}"
            ),
            Err(RejectCode::InvalidSignature)
        );
    }
}
