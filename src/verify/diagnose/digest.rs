//! The digest is the right HMAC written the wrong way, or an HMAC under the
//! other hash. The first takes one pass over the body per secret, as many as
//! the verification made; the second, past the size bound, only the digest's
//! length.

use super::super::{Algorithm, KeyedMac, Keys, SchemeName};
use super::Diagnosis;
use super::offered::{Encoding, Offered, accepts};

/// The pinned hash's HMAC per secret over the message as received, and, from
/// the same pass, over the message with trailing whitespace removed and with
/// a newline added.
pub(super) struct Received {
    pub plain: Vec<KeyedMac>,
    /// `None` when the body ends in no whitespace.
    pub trimmed: Option<Vec<KeyedMac>>,
    pub newline: Vec<KeyedMac>,
}

pub(super) fn received(
    keys: &Keys,
    algorithm: Algorithm,
    prefix: &[&[u8]],
    body: &[u8],
) -> Received {
    let kept = body.trim_ascii_end().len();
    let mut macs = keys.macs(algorithm);
    for mac in &mut macs {
        for part in prefix {
            mac.update(part);
        }
        mac.update(&body[..kept]);
    }
    let trimmed = (kept < body.len()).then(|| macs.clone());
    for mac in &mut macs {
        mac.update(&body[kept..]);
    }
    let newline = macs
        .iter()
        .map(|mac| {
            let mut mac = mac.clone();
            mac.update(b"\n");
            mac
        })
        .collect();
    Received {
        plain: macs,
        trimmed,
        newline,
    }
}

/// Whether any of `macs` signs as any of `digests`.
pub(super) fn any(macs: &[KeyedMac], digests: &[&[u8]]) -> bool {
    !digests.is_empty() && macs.iter().any(|m| m.matches_any(digests))
}

/// Whether any offered digest of the pinned hash is written in an encoding
/// the scheme refuses.
pub(super) fn wrongly_encoded(scheme: SchemeName, offered: &Offered<'_>) -> bool {
    offered
        .digests
        .iter()
        .any(|d| d.algorithm == scheme.algorithm() && !accepts(scheme, d.encoding))
}

/// Where the offered digest is the received body's HMAC in an encoding the
/// scheme refuses.
pub(super) fn wrong_encoding(
    scheme: SchemeName,
    offered: &Offered<'_>,
    received: &Received,
) -> Option<Diagnosis> {
    let wrongly_encoded: Vec<_> = offered
        .digests
        .iter()
        .filter(|d| d.algorithm == scheme.algorithm() && !accepts(scheme, d.encoding))
        .collect();
    let first = wrongly_encoded.first()?;
    let candidates: Vec<&[u8]> = wrongly_encoded.iter().map(|d| d.bytes.as_slice()).collect();
    if !any(&received.plain, &candidates) {
        return None;
    }
    let (expected, got) = match first.encoding {
        Encoding::Hex => ("base64", "hex"),
        Encoding::Base64 => ("hex", "base64"),
    };
    Some(Diagnosis::WrongEncoding {
        scheme,
        expected,
        got,
    })
}

/// Where every offered digest has the other hash's length. `other_hash`
/// allows one pass under that hash to tell whether such a digest matches.
pub(super) fn wrong_algorithm(
    scheme: SchemeName,
    keys: &Keys,
    offered: &Offered<'_>,
    body: &[u8],
    other_hash: bool,
) -> Option<Diagnosis> {
    let algorithm = scheme.algorithm();
    let other = match algorithm {
        Algorithm::Sha256 => Algorithm::Sha1,
        Algorithm::Sha1 => Algorithm::Sha256,
    };
    let foreign = offered.of(other);
    if foreign.is_empty() || !offered.of(algorithm).is_empty() {
        return None;
    }
    let matches = other_hash && {
        let message: Vec<&[u8]> = offered.prefix.iter().copied().chain([body]).collect();
        keys.any_matches(other, &message, &foreign)
    };
    Some(Diagnosis::WrongAlgorithm {
        scheme,
        got: other,
        matches,
    })
}
