//! `standard-webhooks`: the Standard Webhooks specification. `webhook-id`,
//! `webhook-timestamp` and `webhook-signature: v1,<base64> …` signed over
//! `{id}.{timestamp}.{body}` with a `whsec_<base64>` secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderName;

use super::{
    Algorithm, Digest, Keys, MAX_SIGNATURES, Scheme, SchemeName, check_timestamp, decode_digest,
    signature_header, signed_header,
};
use crate::envelope::HttpDelivery;
use crate::error::{ConfigError, Reject, RejectCode};
use crate::secrets::Secrets;

pub(super) const ID: HeaderName = HeaderName::from_static("webhook-id");
pub(super) const TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");

pub struct StandardWebhooks {
    header: HeaderName,
    keys: Keys,
    tolerance: i64,
}

impl StandardWebhooks {
    pub const HEADER: &'static str = "webhook-signature";

    pub fn new(header: Option<HeaderName>, keys: Keys, tolerance: i64) -> Self {
        Self {
            header: header.unwrap_or(HeaderName::from_static(Self::HEADER)),
            keys,
            tolerance,
        }
    }

    /// Keys from `whsec_<base64>` secrets (the prefix is optional, as in the
    /// specification's own libraries).
    pub fn keys(secrets: &Secrets) -> Result<Keys, ConfigError> {
        let decoded = secrets
            .iter()
            .map(|s| {
                let raw = s.expose();
                let raw = raw.strip_prefix(b"whsec_").unwrap_or(raw);
                match STANDARD.decode(raw) {
                    Ok(key) if (24..=64).contains(&key.len()) => Ok(key),
                    _ => Err(ConfigError::new(
                        s.var(),
                        "standard-webhooks needs whsec_<base64> secrets of 24 to 64 bytes",
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Keys::from_raw(decoded.iter().map(Vec::as_slice)))
    }

    pub fn sign(keys: &Keys, id: &str, timestamp: i64, body: &[u8]) -> String {
        let t = timestamp.to_string();
        let digest = keys.sign(&[id.as_bytes(), b".", t.as_bytes(), b".", body]);
        format!("v1,{}", STANDARD.encode(digest))
    }
}

/// The well-formed `v1` signatures; malformed entries and other versions
/// are skipped, as the specification's libraries skip them.
fn parse(value: &str) -> Result<Vec<Digest>, Reject> {
    let mut digests = Vec::new();
    for entry in value.split(' ') {
        let Some(digest) = entry
            .strip_prefix("v1,")
            .and_then(|sig| decode_digest(sig, false))
        else {
            continue;
        };
        if digests.len() == MAX_SIGNATURES {
            return Err(RejectCode::InvalidSignature.because("too many signatures"));
        }
        digests.push(digest);
    }
    if digests.is_empty() {
        return Err(RejectCode::InvalidSignature.because("no v1 signature"));
    }
    Ok(digests)
}

impl Scheme for StandardWebhooks {
    fn name(&self) -> SchemeName {
        SchemeName::StandardWebhooks
    }

    fn verify(&self, delivery: &HttpDelivery, now: i64) -> Result<(), Reject> {
        let digests = parse(signature_header(delivery, &self.header)?)?;
        let missing =
            RejectCode::InvalidSignature.because("webhook-id or webhook-timestamp absent");
        let id = signed_header(delivery, &ID)?
            .filter(|id| !id.is_empty())
            .ok_or(missing)?;
        let timestamp = signed_header(delivery, &TIMESTAMP)?.ok_or(missing)?;
        check_timestamp(timestamp, now, self.tolerance)?;
        let message: [&[u8]; 5] = [
            id.as_bytes(),
            b".",
            timestamp.as_bytes(),
            b".",
            &delivery.body,
        ];
        self.keys.check(Algorithm::Sha256, &message, &digests)
    }

    fn keys(&self) -> &Keys {
        &self.keys
    }

    fn delivery_id<'a>(&self, delivery: &'a HttpDelivery) -> Result<Option<&'a str>, Reject> {
        signed_header(delivery, &ID)
    }

    /// The id is signed and required: an unsigned header never stands in.
    fn honours_id_header(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::tests::{delivery, secrets};

    /// The specification's own test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID_VALUE: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn a_key_outside_24_to_64_bytes_fails_init_naming_its_variable() {
        use crate::secrets::{Secret, Secrets};
        let good = Secret::new(SECRET);
        let b64 = |n: usize| format!("whsec_{}", STANDARD.encode(vec![7u8; n]));
        for (bad, ok) in [
            ("whsec_".to_owned(), false),
            (b64(23), false),
            (b64(24), true),
            (b64(64), true),
            (b64(65), false),
        ] {
            let as_current = Secrets {
                current: Secret::new(bad.clone()),
                previous: None,
            };
            assert_eq!(StandardWebhooks::keys(&as_current).is_ok(), ok, "{bad}");
            let as_previous = Secrets {
                current: good.clone(),
                previous: Some(Secret::held_in("WEBHOOK_SECRET_PREVIOUS", bad.clone())),
            };
            match StandardWebhooks::keys(&as_previous) {
                Ok(_) => assert!(ok, "{bad}"),
                Err(e) => {
                    assert!(!ok, "{bad}");
                    assert_eq!(e.var, "WEBHOOK_SECRET_PREVIOUS");
                    let key = bad.trim_start_matches("whsec_");
                    assert!(key.is_empty() || !e.to_string().contains(key));
                }
            }
        }
    }

    fn scheme() -> StandardWebhooks {
        StandardWebhooks::new(
            None,
            StandardWebhooks::keys(&secrets(SECRET, None)).unwrap(),
            300,
        )
    }

    fn verify(id: &str, ts: &str, sig: &str, body: &[u8], now: i64) -> Result<(), RejectCode> {
        let d = delivery(
            &[
                ("webhook-id", id),
                ("webhook-timestamp", ts),
                ("webhook-signature", sig),
            ],
            body,
        );
        scheme().verify(&d, now).map_err(|e| e.code)
    }

    #[test]
    fn specification_vector() {
        assert_eq!(verify(ID_VALUE, &TS.to_string(), SIG, BODY, TS), Ok(()));
        let keys = StandardWebhooks::keys(&secrets(SECRET, None)).unwrap();
        assert_eq!(StandardWebhooks::sign(&keys, ID_VALUE, TS, BODY), SIG);
    }

    #[test]
    fn several_signatures_and_other_versions() {
        let sig = format!("v1a,xyz v1,{} {SIG}", STANDARD.encode([0u8; 32]));
        assert_eq!(verify(ID_VALUE, &TS.to_string(), &sig, BODY, TS), Ok(()));
        assert_eq!(
            verify(ID_VALUE, &TS.to_string(), "v2,abc", BODY, TS),
            Err(RejectCode::InvalidSignature)
        );
    }

    #[test]
    fn malformed_entries_are_skipped() {
        let ts = TS.to_string();
        for sig in [
            format!("v1,notbase64 {SIG}"),
            format!("v1, {SIG}"),
            format!("v1,{} {SIG}", hex::encode([0u8; 32])),
            format!("garbage v2,abc  {SIG}"),
        ] {
            assert_eq!(verify(ID_VALUE, &ts, &sig, BODY, TS), Ok(()), "{sig}");
        }
    }

    #[test]
    fn an_empty_webhook_id_is_a_signature_failure() {
        let keys = StandardWebhooks::keys(&secrets(SECRET, None)).unwrap();
        let sig = StandardWebhooks::sign(&keys, "", TS, BODY);
        assert_eq!(
            verify("", &TS.to_string(), &sig, BODY, TS),
            Err(RejectCode::InvalidSignature)
        );
    }

    #[test]
    fn every_signed_part_matters() {
        let ts = TS.to_string();
        assert!(verify("msg_other", &ts, SIG, BODY, TS).is_err());
        assert!(verify(ID_VALUE, &(TS + 1).to_string(), SIG, BODY, TS).is_err());
        assert!(verify(ID_VALUE, &ts, SIG, br#"{"test": 2432232315}"#, TS).is_err());
    }

    #[test]
    fn tolerance_both_ways() {
        let ts = TS.to_string();
        assert_eq!(verify(ID_VALUE, &ts, SIG, BODY, TS + 300), Ok(()));
        assert_eq!(verify(ID_VALUE, &ts, SIG, BODY, TS - 300), Ok(()));
        assert_eq!(
            verify(ID_VALUE, &ts, SIG, BODY, TS + 301),
            Err(RejectCode::StaleTimestamp)
        );
        assert_eq!(
            verify(ID_VALUE, &ts, SIG, BODY, TS - 301),
            Err(RejectCode::StaleTimestamp)
        );
    }

    #[test]
    fn missing_parts() {
        let d = delivery(
            &[("webhook-id", ID_VALUE), ("webhook-timestamp", "1")],
            BODY,
        );
        assert_eq!(
            scheme().verify(&d, TS).unwrap_err().code,
            RejectCode::MissingSignature
        );
        let d = delivery(
            &[("webhook-signature", SIG), ("webhook-timestamp", "1")],
            BODY,
        );
        assert_eq!(
            scheme().verify(&d, TS).unwrap_err().code,
            RejectCode::InvalidSignature
        );
    }

    #[test]
    fn delivery_id_is_the_signed_webhook_id() {
        let d = delivery(&[("Webhook-Id", ID_VALUE)], BODY);
        assert_eq!(scheme().delivery_id(&d).unwrap(), Some(ID_VALUE));
    }

    #[test]
    fn secret_must_be_base64() {
        let err = StandardWebhooks::keys(&secrets("whsec_not base64!", None))
            .err()
            .unwrap();
        assert_eq!(err.var, "WEBHOOK_SECRET");
        assert!(!err.to_string().contains("not base64!"));
    }
}
