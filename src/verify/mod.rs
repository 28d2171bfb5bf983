//! Signature verification: one module per scheme behind [`Scheme`].
//!
//! Every scheme is an HMAC (SHA-256, or SHA-1 for `digital-channels`) with
//! keys prepared once at init, compared in constant time through
//! `Mac::verify_slice`.

pub mod diagnose;
mod digital_channels;
mod genesys;
mod keyring;
mod open_messaging;
mod standard_webhooks;
mod timestamped;

pub use digital_channels::DigitalChannels;
pub use genesys::Genesys;
pub use keyring::{Keyring, LiveKeyring, Refresh};
pub use open_messaging::OpenMessaging;
pub use standard_webhooks::StandardWebhooks;
pub use timestamped::Timestamped;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderName;
use sha1::Sha1;
use sha2::Sha256;

use crate::envelope::HttpDelivery;
use crate::error::{ConfigError, Reject, RejectCode};
use crate::secrets::Secrets;

/// The signature scheme a deployment pins. Never detected per request: a
/// body-only signature must not pass where a timestamped one is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeName {
    Genesys,
    OpenMessaging,
    Timestamped,
    StandardWebhooks,
    DigitalChannels,
}

impl SchemeName {
    pub const ALL: [SchemeName; 5] = [
        Self::Genesys,
        Self::OpenMessaging,
        Self::Timestamped,
        Self::StandardWebhooks,
        Self::DigitalChannels,
    ];

    /// What a deployment that sets no `SIGNATURE_SCHEME` verifies: the one
    /// scheme Genesys Cloud documents.
    pub const DEFAULT: SchemeName = Self::OpenMessaging;

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Genesys => "genesys",
            Self::OpenMessaging => "open-messaging",
            Self::Timestamped => "timestamped",
            Self::StandardWebhooks => "standard-webhooks",
            Self::DigitalChannels => "digital-channels",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }

    /// The HMAC's hash.
    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::DigitalChannels => Algorithm::Sha1,
            _ => Algorithm::Sha256,
        }
    }

    /// Whether the sender reads a `messageId` in the answer: Multicloud CX's
    /// Third-Party Messaging API does.
    pub fn answers_message_id(self) -> bool {
        self == Self::DigitalChannels
    }
}

/// How one deployment's deliveries prove they came from the sender.
pub trait Scheme: Send + Sync {
    fn name(&self) -> SchemeName;

    /// `now` is Unix seconds, for schemes that bound a timestamp.
    fn verify(&self, delivery: &HttpDelivery, now: i64) -> Result<(), Reject>;

    /// A delivery id the scheme signs, when it has one.
    fn delivery_id<'a>(&self, _delivery: &'a HttpDelivery) -> Result<Option<&'a str>, Reject> {
        Ok(None)
    }

    /// The keys the scheme verifies with.
    fn keys(&self) -> &Keys;

    /// Whether an unsigned delivery-id header may name a delivery that has
    /// no signed id. Where the sender never sends one, a header that appears
    /// was added on the way, and honouring it would let a captured delivery
    /// be recorded again under each new id.
    fn honours_id_header(&self) -> bool {
        true
    }
}

/// What a deployment pins about how its deliveries are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeSettings {
    pub name: SchemeName,
    /// Replaces the scheme's own signature header name.
    pub header: Option<HeaderName>,
    /// Seconds a signed timestamp may be off, either way.
    pub tolerance_seconds: i64,
}

/// Builds the scheme `settings` pin, keyed with `secrets`.
pub fn scheme_for(
    settings: &SchemeSettings,
    secrets: &Secrets,
) -> Result<Box<dyn Scheme>, ConfigError> {
    let keys = match settings.name {
        SchemeName::StandardWebhooks => StandardWebhooks::keys(secrets)?,
        _ => Keys::new(secrets),
    };
    Ok(keyed(settings, keys))
}

/// The scheme `settings` pin, with `keys` already prepared for it.
pub fn keyed(settings: &SchemeSettings, keys: Keys) -> Box<dyn Scheme> {
    let header = settings.header.clone();
    let tolerance = settings.tolerance_seconds;
    match settings.name {
        SchemeName::Genesys => Box::new(Genesys::new(header, keys)),
        SchemeName::OpenMessaging => Box::new(OpenMessaging::new(header, keys)),
        SchemeName::Timestamped => Box::new(Timestamped::new(header, keys, tolerance)),
        SchemeName::StandardWebhooks => Box::new(StandardWebhooks::new(header, keys, tolerance)),
        SchemeName::DigitalChannels => Box::new(DigitalChannels::new(header, keys)),
    }
}

/// Most signatures one delivery may offer: enough for any rotation, few
/// enough that a header full of them costs nothing.
pub const MAX_SIGNATURES: usize = 8;

pub type Digest = [u8; 32];
pub type Sha1Digest = [u8; 20];
type HmacSha256 = Hmac<Sha256>;
type HmacSha1 = Hmac<Sha1>;

/// The hash under an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Sha1,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha1 => "SHA-1",
        }
    }
}

/// How a secret may have been mangled when it was pasted somewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pasted {
    /// Our copy has whitespace around it that the sender's lacks.
    WhitespaceRemoved,
    /// The sender's copy ends with a line break ours lacks.
    NewlineAdded,
}

/// One secret keyed for each hash a scheme may use.
#[derive(Clone)]
struct Keyed {
    sha256: HmacSha256,
    sha1: HmacSha1,
}

impl Keyed {
    fn new(k: &[u8]) -> Self {
        Self {
            sha256: <HmacSha256 as KeyInit>::new_from_slice(k)
                .expect("HMAC takes keys of any length"),
            sha1: <HmacSha1 as KeyInit>::new_from_slice(k).expect("HMAC takes keys of any length"),
        }
    }

    fn mac(&self, algorithm: Algorithm) -> KeyedMac {
        match algorithm {
            Algorithm::Sha256 => KeyedMac::Sha256(self.sha256.clone()),
            Algorithm::Sha1 => KeyedMac::Sha1(self.sha1.clone()),
        }
    }
}

/// An HMAC under way, keyed with one secret.
#[derive(Clone)]
pub enum KeyedMac {
    Sha256(HmacSha256),
    Sha1(HmacSha1),
}

impl KeyedMac {
    pub fn update(&mut self, part: &[u8]) {
        match self {
            Self::Sha256(m) => m.update(part),
            Self::Sha1(m) => m.update(part),
        }
    }

    /// Whether the message so far signs as any of `candidates`, each
    /// compared in constant time.
    pub fn matches_any<D: AsRef<[u8]>>(&self, candidates: &[D]) -> bool {
        candidates.iter().any(|c| match self.clone() {
            Self::Sha256(m) => m.verify_slice(c.as_ref()).is_ok(),
            Self::Sha1(m) => m.verify_slice(c.as_ref()).is_ok(),
        })
    }

    fn finalize(self) -> Vec<u8> {
        match self {
            Self::Sha256(m) => m.finalize().into_bytes().to_vec(),
            Self::Sha1(m) => m.finalize().into_bytes().to_vec(),
        }
    }
}

/// HMAC states per secret, keyed once so no request pays the key schedule.
/// The pasted variants are keyed too, so a diagnosis never needs the secret.
#[derive(Clone)]
pub struct Keys {
    keys: Vec<Keyed>,
    pasted: Vec<(Pasted, Keyed)>,
}

impl Keys {
    pub fn new(secrets: &Secrets) -> Self {
        let mut keys = Self::from_raw(secrets.iter().map(|s| s.expose()));
        for secret in secrets.iter().map(|s| s.expose()) {
            let trimmed = secret.trim_ascii();
            if trimmed.len() != secret.len() {
                keys.pasted
                    .push((Pasted::WhitespaceRemoved, Keyed::new(trimmed)));
            }
            for newline in [&b"\n"[..], b"\r\n"] {
                let added = [trimmed, newline].concat();
                keys.pasted.push((Pasted::NewlineAdded, Keyed::new(&added)));
            }
        }
        keys
    }

    fn from_raw<'a>(keys: impl Iterator<Item = &'a [u8]>) -> Self {
        Self {
            keys: keys.map(Keyed::new).collect(),
            pasted: Vec::new(),
        }
    }

    /// One HMAC per secret under `algorithm`, over nothing yet.
    pub fn macs(&self, algorithm: Algorithm) -> Vec<KeyedMac> {
        self.keys.iter().map(|k| k.mac(algorithm)).collect()
    }

    /// The same for each pasted copy of a secret, with how it was pasted.
    pub fn pasted_macs(&self, algorithm: Algorithm) -> Vec<(Pasted, KeyedMac)> {
        self.pasted
            .iter()
            .map(|(how, k)| (*how, k.mac(algorithm)))
            .collect()
    }

    /// True when any secret's HMAC over the concatenated `message` equals any
    /// of `candidates`. The body is hashed once per secret, not per candidate.
    pub fn any_matches<D: AsRef<[u8]>>(
        &self,
        algorithm: Algorithm,
        message: &[&[u8]],
        candidates: &[D],
    ) -> bool {
        self.macs(algorithm).into_iter().any(|mut mac| {
            for part in message {
                mac.update(part);
            }
            mac.matches_any(candidates)
        })
    }

    /// `Ok` when any secret signed the concatenated `message` as any of
    /// `candidates` under `algorithm`; otherwise `invalid_signature`.
    pub fn check<D: AsRef<[u8]>>(
        &self,
        algorithm: Algorithm,
        message: &[&[u8]],
        candidates: &[D],
    ) -> Result<(), Reject> {
        if self.any_matches(algorithm, message, candidates) {
            Ok(())
        } else {
            Err(RejectCode::InvalidSignature.because("no secret matches"))
        }
    }

    /// The HMAC-SHA256 digest under the current secret; for signing tools
    /// and tests.
    pub fn sign(&self, message: &[&[u8]]) -> Digest {
        self.sign_with(Algorithm::Sha256, message)
            .try_into()
            .expect("SHA-256 digests are 32 bytes")
    }

    /// The HMAC-SHA1 digest under the current secret.
    pub fn sign_sha1(&self, message: &[&[u8]]) -> Sha1Digest {
        self.sign_with(Algorithm::Sha1, message)
            .try_into()
            .expect("SHA-1 digests are 20 bytes")
    }

    fn sign_with(&self, algorithm: Algorithm, message: &[&[u8]]) -> Vec<u8> {
        let mut mac = self.keys[0].mac(algorithm);
        for part in message {
            mac.update(part);
        }
        mac.finalize()
    }
}

/// Decodes a SHA-256 digest given as base64, or as hex (either case) when
/// `hex_allowed`. Anything else, including a digest of the wrong length, is
/// `None`.
pub fn decode_digest(s: &str, hex_allowed: bool) -> Option<Digest> {
    decode_bytes(s, hex_allowed)
}

/// Decodes `N` bytes given as padded base64, or as hex when `hex_allowed`.
pub fn decode_bytes<const N: usize>(s: &str, hex_allowed: bool) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    if hex_allowed && s.len() == 2 * N {
        return hex::decode_to_slice(s, &mut out).ok().map(|()| out);
    }
    if s.len() != N.div_ceil(3) * 4 {
        return None;
    }
    match STANDARD.decode_slice(s, &mut out) {
        Ok(n) if n == N => Some(out),
        _ => None,
    }
}

/// Parses Unix seconds (digits only) and rejects them when more than
/// `tolerance` from `now`, in either direction.
pub fn check_timestamp(raw: &str, now: i64, tolerance: i64) -> Result<(), Reject> {
    let malformed = RejectCode::InvalidSignature.because("timestamp is not Unix seconds");
    if raw.is_empty() || raw.len() > 12 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed);
    }
    let t: i64 = raw.parse().map_err(|_| malformed)?;
    if (now - t).abs() > tolerance {
        return Err(RejectCode::StaleTimestamp.because("timestamp outside tolerance"));
    }
    Ok(())
}

/// The one value of a header the signature covers. Anything wrong with it
/// is a signature failure, so the signature alarm counts it.
fn signed_header<'a>(
    delivery: &'a HttpDelivery,
    name: &HeaderName,
) -> Result<Option<&'a str>, Reject> {
    delivery
        .header(name)
        .map_err(|r| RejectCode::InvalidSignature.because(r.detail))
}

/// The one value of the signature header, or `missing_signature`.
fn signature_header<'a>(delivery: &'a HttpDelivery, name: &HeaderName) -> Result<&'a str, Reject> {
    match signed_header(delivery, name)? {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(RejectCode::MissingSignature.because("signature header absent")),
    }
}

/// Strips a case-insensitive `sha256=` prefix.
fn strip_sha256_prefix(v: &str) -> Option<&str> {
    strip_prefix_ignore_case(v, "sha256=")
}

fn strip_prefix_ignore_case<'a>(v: &'a str, prefix: &str) -> Option<&'a str> {
    v.get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(prefix))
        .map(|_| &v[prefix.len()..])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::envelope::FrontDoor;
    use crate::secrets::Secret;
    use http::{HeaderMap, HeaderValue};

    pub const NOW: i64 = 1_764_000_000;

    pub fn secrets(current: &str, previous: Option<&str>) -> Secrets {
        Secrets {
            current: Secret::new(current),
            previous: previous.map(Secret::new),
        }
    }

    pub fn delivery(headers: &[(&str, &str)], body: &[u8]) -> HttpDelivery {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        HttpDelivery {
            front_door: FrontDoor::ApiGatewayV2,
            path: String::new(),
            headers: map,
            body: body.to_vec(),
        }
    }

    /// HMAC-SHA256 computed independently (Python's hmac module) for key
    /// "test-secret" over `{"id":"1"}`.
    pub const KNOWN_HEX: &str = "b6ee61d26a3494ddc3437b55028299a9c39956dfdcf623629b0b1f7d0c64baf1";

    #[test]
    fn digest_encodings() {
        let d = [0xabu8; 32];
        let hex_lower = hex::encode(d);
        let hex_upper = hex_lower.to_uppercase();
        let b64 = STANDARD.encode(d);
        assert_eq!(decode_digest(&hex_lower, true), Some(d));
        assert_eq!(decode_digest(&hex_upper, true), Some(d));
        assert_eq!(decode_digest(&b64, true), Some(d));
        assert_eq!(decode_digest(&b64, false), Some(d));
        assert_eq!(decode_digest(&hex_lower, false), None);
        for bad in [
            &hex_lower[..62],
            &b64[..43],
            "",
            "zz",
            &format!("{hex_lower}00"),
            &b64.replace('q', "-"),
            &format!(" {}", &b64[1..]),
        ] {
            assert_eq!(decode_digest(bad, true), None, "{bad}");
        }
    }

    #[test]
    fn timestamp_tolerance_edges_both_ways() {
        let ok = |t: i64| check_timestamp(&t.to_string(), NOW, 300);
        assert!(ok(NOW).is_ok());
        assert!(ok(NOW - 300).is_ok());
        assert!(ok(NOW + 300).is_ok());
        assert_eq!(ok(NOW - 301).unwrap_err().code, RejectCode::StaleTimestamp);
        assert_eq!(ok(NOW + 301).unwrap_err().code, RejectCode::StaleTimestamp);
        for bad in [
            "",
            "-5",
            "+5",
            "1.5",
            "1e9",
            "99999999999999999999",
            " 1",
            "0x10",
        ] {
            assert_eq!(
                check_timestamp(bad, NOW, 300).unwrap_err().code,
                RejectCode::InvalidSignature,
                "{bad}"
            );
        }
    }

    #[test]
    fn rotation_accepts_either_secret_and_nothing_else() {
        let keys = Keys::new(&secrets("new", Some("old")));
        let by_old = Keys::new(&secrets("old", None)).sign(&[b"body"]);
        let by_new = Keys::new(&secrets("new", None)).sign(&[b"body"]);
        let by_other = Keys::new(&secrets("other", None)).sign(&[b"body"]);
        assert!(keys.any_matches(Algorithm::Sha256, &[b"body"], &[by_old]));
        assert!(keys.any_matches(Algorithm::Sha256, &[b"body"], &[by_new]));
        assert!(!keys.any_matches(Algorithm::Sha256, &[b"body"], &[by_other]));
        assert!(keys.any_matches(Algorithm::Sha256, &[b"body"], &[by_other, by_old]));
        assert!(!keys.any_matches(Algorithm::Sha256, &[b"body!"], &[by_old, by_new]));
    }

    #[test]
    fn message_parts_are_concatenated() {
        let keys = Keys::new(&secrets("k", None));
        assert_eq!(keys.sign(&[b"12.", b"ab"]), keys.sign(&[b"12.ab"]));
    }

    #[test]
    fn known_answer() {
        let keys = Keys::new(&secrets("test-secret", None));
        assert_eq!(hex::encode(keys.sign(&[br#"{"id":"1"}"#])), KNOWN_HEX);
    }
}
