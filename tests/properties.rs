//! Properties over random bodies, schemes and front doors: a signed delivery
//! is accepted, and any single change to its body, signature, timestamp or
//! signed id is rejected.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use genesys_sign as sample;
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::verify::SchemeName;
use proptest::prelude::*;
use serde_json::Value;

const NOW: i64 = sample::SAMPLE_TIME;

/// The status code and `status` or `error` the handler answers.
fn answer(scheme: SchemeName, event: Value) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let reply = rt
        .block_on(sample::memory_handler(scheme, &[]).handle_at(&event.to_string(), NOW))
        .unwrap();
    let (code, body) = support::answer_of(&serde_json::to_value(reply).unwrap());
    (code, support::verdict(&body))
}

fn schemes() -> impl Strategy<Value = SchemeName> {
    prop::sample::select(SchemeName::ALL.to_vec())
}

fn doors() -> impl Strategy<Value = FrontDoor> {
    prop::sample::select(
        sample::DOORS
            .iter()
            .map(|(_, d)| *d)
            .filter(|d| *d != FrontDoor::EventBridge)
            .collect::<Vec<_>>(),
    )
}

fn headers(scheme: SchemeName, body: &[u8], id: &str, at: i64) -> Vec<(String, String)> {
    sample::signed_headers(scheme, sample::test_secret(scheme), body, Some(id), at).unwrap()
}

fn ids() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,40}"
}

/// Flips one bit of the digest in a signature header value, keeping its
/// encoding, so the value still parses and only the digest is wrong.
fn flip_digest(value: &str, bit: usize) -> String {
    let start = [",s=", "v1,", "sha256=", "sha1="]
        .iter()
        .find_map(|p| value.rfind(p).map(|at| at + p.len()))
        .unwrap();
    let (head, digest) = value.split_at(start);
    let (mut bytes, hex) = match hex::decode(digest) {
        Ok(b) if digest.len() == 64 || digest.len() == 40 => (b, true),
        _ => (STANDARD.decode(digest).unwrap(), false),
    };
    let len = bytes.len();
    bytes[bit / 8 % len] ^= 1 << (bit % 8);
    let digest = if hex {
        hex::encode(bytes)
    } else {
        STANDARD.encode(bytes)
    };
    format!("{head}{digest}")
}

fn is_signature(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "x-genesys-signature",
        "x-hub-signature-256",
        "x-hub-signature",
        "webhook-signature",
    ]
    .contains(&n.as_str())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn signed_deliveries_are_accepted(
        scheme in schemes(), door in doors(), b64 in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..2048), id in ids(),
    ) {
        let event = sample::wrap(door, &headers(scheme, &body, &id, NOW), &body, b64, NOW);
        prop_assert_eq!(answer(scheme, event), (200, "accepted".to_owned()));
    }

    #[test]
    fn one_changed_body_byte_is_rejected(
        scheme in schemes(), door in doors(), b64 in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 1..2048), id in ids(),
        at in any::<prop::sample::Index>(), xor in 1u8..=255,
    ) {
        let headers = headers(scheme, &body, &id, NOW);
        let mut sent = body.clone();
        let i = at.index(sent.len());
        sent[i] ^= xor;
        let event = sample::wrap(door, &headers, &sent, b64, NOW);
        prop_assert_eq!(answer(scheme, event), (401, "invalid_signature".to_owned()));
    }

    #[test]
    fn one_flipped_signature_bit_is_rejected(
        scheme in schemes(), door in doors(),
        body in prop::collection::vec(any::<u8>(), 0..512), id in ids(), bit in 0usize..256,
    ) {
        let mut headers = headers(scheme, &body, &id, NOW);
        for (name, value) in headers.iter_mut() {
            if is_signature(name) {
                *value = flip_digest(value, bit);
            }
        }
        let event = sample::wrap(door, &headers, &body, false, NOW);
        prop_assert_eq!(answer(scheme, event), (401, "invalid_signature".to_owned()));
    }

    #[test]
    fn a_changed_timestamp_inside_the_tolerance_is_rejected(
        scheme in prop::sample::select(vec![SchemeName::Timestamped, SchemeName::StandardWebhooks]),
        door in doors(), body in prop::collection::vec(any::<u8>(), 0..512), id in ids(),
        shift in prop::sample::select(vec![-300i64, -1, 1, 299]),
    ) {
        let mut headers = headers(scheme, &body, &id, NOW);
        let signed = NOW.to_string();
        let moved = (NOW + shift).to_string();
        for (name, value) in headers.iter_mut() {
            if name == "webhook-timestamp" || (is_signature(name) && scheme == SchemeName::Timestamped) {
                *value = value.replacen(&signed, &moved, 1);
            }
        }
        let event = sample::wrap(door, &headers, &body, false, NOW);
        prop_assert_eq!(answer(scheme, event), (401, "invalid_signature".to_owned()));
    }

    #[test]
    fn a_changed_signed_id_is_rejected(
        door in doors(), body in prop::collection::vec(any::<u8>(), 0..512),
        id in ids(), at in any::<prop::sample::Index>(),
    ) {
        let scheme = SchemeName::StandardWebhooks;
        let mut headers = headers(scheme, &body, &id, NOW);
        let i = at.index(id.len());
        let mut changed = id.clone().into_bytes();
        changed[i] = if changed[i] == b'x' { b'y' } else { b'x' };
        for (name, value) in headers.iter_mut() {
            if name == "webhook-id" {
                *value = String::from_utf8(changed.clone()).unwrap();
            }
        }
        let event = sample::wrap(door, &headers, &body, false, NOW);
        prop_assert_eq!(answer(scheme, event), (401, "invalid_signature".to_owned()));
    }
}
