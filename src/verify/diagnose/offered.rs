//! What the pinned scheme's headers offer, read leniently: the parts signed
//! before the body, the timestamp, and every digest in any encoding and of
//! either hash's length.

use http::HeaderName;

use super::super::standard_webhooks::{ID, TIMESTAMP};
use super::super::{
    Algorithm, MAX_SIGNATURES, SchemeName, decode_bytes, signed_header, strip_prefix_ignore_case,
    strip_sha256_prefix,
};
use crate::envelope::HttpDelivery;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Hex,
    Base64,
}

/// One digest as offered: its bytes, how they were written, and the hash
/// whose length they have.
pub(super) struct Digest {
    pub bytes: Vec<u8>,
    pub encoding: Encoding,
    pub algorithm: Algorithm,
}

pub(super) struct Offered<'a> {
    pub prefix: Vec<&'a [u8]>,
    pub timestamp: Option<&'a str>,
    pub digests: Vec<Digest>,
}

impl Offered<'_> {
    /// The digests of `algorithm`'s length.
    pub fn of(&self, algorithm: Algorithm) -> Vec<&[u8]> {
        self.digests
            .iter()
            .filter(|d| d.algorithm == algorithm)
            .map(|d| d.bytes.as_slice())
            .collect()
    }
}

fn lenient_digest(s: &str) -> Option<Digest> {
    let s = strip_sha256_prefix(s)
        .or_else(|| strip_prefix_ignore_case(s, "sha1="))
        .unwrap_or(s);
    let (bytes, encoding, algorithm) = match s.len() {
        64 => (
            decode_bytes::<32>(s, true)?.to_vec(),
            Encoding::Hex,
            Algorithm::Sha256,
        ),
        44 => (
            decode_bytes::<32>(s, false)?.to_vec(),
            Encoding::Base64,
            Algorithm::Sha256,
        ),
        40 => (
            decode_bytes::<20>(s, true)?.to_vec(),
            Encoding::Hex,
            Algorithm::Sha1,
        ),
        28 => (
            decode_bytes::<20>(s, false)?.to_vec(),
            Encoding::Base64,
            Algorithm::Sha1,
        ),
        _ => return None,
    };
    Some(Digest {
        bytes,
        encoding,
        algorithm,
    })
}

/// What `scheme`'s headers on `delivery` offer, with its signature at `header`.
pub(super) fn read<'a>(
    scheme: SchemeName,
    header: &HeaderName,
    delivery: &'a HttpDelivery,
) -> Option<Offered<'a>> {
    let value = signed_header(delivery, header).ok().flatten()?;
    let mut prefix = Vec::new();
    let mut timestamp = None;
    let digests: Vec<_> = match scheme {
        SchemeName::Genesys | SchemeName::OpenMessaging | SchemeName::DigitalChannels => {
            lenient_digest(value).into_iter().collect()
        }
        SchemeName::Timestamped => {
            let mut digests = Vec::new();
            for (key, val) in value.split(',').filter_map(|e| e.trim().split_once('=')) {
                match key {
                    "t" => timestamp = timestamp.or(Some(val)),
                    "s" | "v1" => digests.extend(lenient_digest(val)),
                    _ => {}
                }
            }
            prefix = vec![timestamp?.as_bytes(), b"."];
            digests
        }
        SchemeName::StandardWebhooks => {
            let id = signed_header(delivery, &ID).ok().flatten()?;
            let t = signed_header(delivery, &TIMESTAMP).ok().flatten()?;
            timestamp = Some(t);
            prefix = vec![id.as_bytes(), b".", t.as_bytes(), b"."];
            value
                .split(' ')
                .filter_map(|e| lenient_digest(e.split_once(',').map_or(e, |(_, sig)| sig)))
                .collect()
        }
    };
    Some(Offered {
        prefix,
        timestamp,
        digests: digests.into_iter().take(MAX_SIGNATURES).collect(),
    })
}

/// Whether `scheme`'s own check takes a digest written in `encoding`.
pub(super) fn accepts(scheme: SchemeName, encoding: Encoding) -> bool {
    match scheme {
        SchemeName::Genesys | SchemeName::Timestamped | SchemeName::DigitalChannels => true,
        SchemeName::OpenMessaging | SchemeName::StandardWebhooks => encoding == Encoding::Base64,
    }
}
