//! `timestamped`: `X-Genesys-Signature: t=<unix seconds>,s=<digest>` (or
//! `v1=`), HMAC over `{t}.{body}`. The signed timestamp bounds replays to the
//! tolerance; dedup covers the rest.

use http::HeaderName;

use super::{
    Algorithm, Digest, Keys, MAX_SIGNATURES, Scheme, SchemeName, check_timestamp, decode_digest,
    signature_header,
};
use crate::envelope::HttpDelivery;
use crate::error::{Reject, RejectCode};

pub struct Timestamped {
    header: HeaderName,
    keys: Keys,
    tolerance: i64,
}

impl Timestamped {
    pub const HEADER: &'static str = "x-genesys-signature";

    pub fn new(header: Option<HeaderName>, keys: Keys, tolerance: i64) -> Self {
        Self {
            header: header.unwrap_or(HeaderName::from_static(Self::HEADER)),
            keys,
            tolerance,
        }
    }

    pub fn sign(keys: &Keys, timestamp: i64, body: &[u8]) -> String {
        let t = timestamp.to_string();
        let digest = keys.sign(&[t.as_bytes(), b".", body]);
        format!("t={t},s={}", hex::encode(digest))
    }
}

/// The parts of a `t=…,s=…` header: one timestamp, some signatures. A
/// malformed entry is skipped, as the Standard Webhooks libraries skip one,
/// so one bad signature cannot hide a good one.
pub(super) fn parse(value: &str) -> Result<(&str, Vec<Digest>), Reject> {
    let invalid = |detail| RejectCode::InvalidSignature.because(detail);
    let mut timestamp = None;
    let mut digests = Vec::new();
    for (key, val) in value.split(',').filter_map(|e| e.trim().split_once('=')) {
        match key {
            "t" if timestamp.is_some() => return Err(invalid("timestamp repeated")),
            "t" => timestamp = Some(val),
            "s" | "v1" => {
                let Some(digest) = decode_digest(val, true) else {
                    continue;
                };
                if digests.len() == MAX_SIGNATURES {
                    return Err(invalid("too many signatures"));
                }
                digests.push(digest);
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(invalid("no t= timestamp"))?;
    if digests.is_empty() {
        return Err(invalid("no s= or v1= signature"));
    }
    Ok((timestamp, digests))
}

impl Scheme for Timestamped {
    fn name(&self) -> SchemeName {
        SchemeName::Timestamped
    }

    fn keys(&self) -> &Keys {
        &self.keys
    }

    fn verify(&self, delivery: &HttpDelivery, now: i64) -> Result<(), Reject> {
        let (timestamp, digests) = parse(signature_header(delivery, &self.header)?)?;
        check_timestamp(timestamp, now, self.tolerance)?;
        let message: [&[u8]; 3] = [timestamp.as_bytes(), b".", &delivery.body];
        self.keys.check(Algorithm::Sha256, &message, &digests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Genesys;
    use crate::verify::tests::{NOW, delivery, secrets};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    const BODY: &[u8] = b"{\"id\":\"1\"}\r\n";

    fn keys() -> Keys {
        Keys::new(&secrets("test-secret", Some("old-secret")))
    }

    fn verify_at(value: &str, now: i64) -> Result<(), RejectCode> {
        Timestamped::new(None, keys(), 300)
            .verify(&delivery(&[("X-Genesys-Signature", value)], BODY), now)
            .map_err(|e| e.code)
    }

    fn digest_at(t: i64) -> Digest {
        keys().sign(&[t.to_string().as_bytes(), b".", BODY])
    }

    #[test]
    fn signed_header_verifies_with_s_or_v1_hex_or_base64() {
        let d = digest_at(NOW);
        for v in [
            Timestamped::sign(&keys(), NOW, BODY),
            format!("t={NOW},v1={}", hex::encode(d)),
            format!("v1={}, t={NOW}", STANDARD.encode(d)),
            format!("t={NOW},v0=ignored,s={}", hex::encode(d).to_uppercase()),
        ] {
            assert_eq!(verify_at(&v, NOW), Ok(()), "{v}");
        }
    }

    #[test]
    fn several_signatures_any_may_match() {
        let good = hex::encode(digest_at(NOW));
        let bad = hex::encode([0u8; 32]);
        assert_eq!(verify_at(&format!("t={NOW},s={bad},s={good}"), NOW), Ok(()));
        assert_eq!(
            verify_at(&format!("t={NOW},s={bad},s={bad}"), NOW),
            Err(RejectCode::InvalidSignature)
        );
    }

    #[test]
    fn malformed_entries_are_skipped() {
        let good = hex::encode(digest_at(NOW));
        for v in [
            format!("t={NOW},s=zz,s={good}"),
            format!("t={NOW},s={},v1={good}", &good[..10]),
            format!("t={NOW},junk,,s={good}"),
        ] {
            assert_eq!(verify_at(&v, NOW), Ok(()), "{v}");
        }
    }

    #[test]
    fn too_many_signatures_are_refused_unhashed() {
        let good = hex::encode(digest_at(NOW));
        let many: Vec<String> = (0..MAX_SIGNATURES)
            .map(|_| format!("s={}", hex::encode([0u8; 32])))
            .collect();
        let v = format!("t={NOW},{},s={good}", many.join(","));
        assert_eq!(verify_at(&v, NOW), Err(RejectCode::InvalidSignature));
    }

    #[test]
    fn tolerance_edges_in_both_directions() {
        for (t, want) in [
            (NOW - 300, Ok(())),
            (NOW + 300, Ok(())),
            (NOW - 301, Err(RejectCode::StaleTimestamp)),
            (NOW + 301, Err(RejectCode::StaleTimestamp)),
        ] {
            assert_eq!(
                verify_at(&Timestamped::sign(&keys(), t, BODY), NOW),
                want,
                "{t}"
            );
        }
    }

    #[test]
    fn body_only_signature_never_passes() {
        let body_only = Genesys::sign(&keys(), BODY);
        assert_eq!(
            verify_at(&body_only, NOW),
            Err(RejectCode::InvalidSignature)
        );
        let bare = hex::encode(keys().sign(&[BODY]));
        assert_eq!(
            verify_at(&format!("t={NOW},s={bare}"), NOW),
            Err(RejectCode::InvalidSignature)
        );
    }

    #[test]
    fn changed_timestamp_breaks_the_signature() {
        let d = hex::encode(digest_at(NOW));
        assert_eq!(
            verify_at(&format!("t={},s={d}", NOW + 1), NOW),
            Err(RejectCode::InvalidSignature)
        );
    }

    #[test]
    fn malformed_headers() {
        let d = hex::encode(digest_at(NOW));
        for v in [
            format!("s={d}"),
            format!("t={NOW}"),
            format!("t={NOW},t={NOW},s={d}"),
            format!("t=-{NOW},s={d}"),
            format!("t={NOW}.0,s={d}"),
            format!("t=99999999999999999999,s={d}"),
            format!("t={NOW};s={d}"),
            format!("t={NOW},s={}", &d[..10]),
        ] {
            assert_eq!(verify_at(&v, NOW), Err(RejectCode::InvalidSignature), "{v}");
        }
    }
}
