//! Why a signature failed, for the log line only: the caller still gets just
//! the rejection code. Runs only after a rejection, never accepts anything,
//! and never puts a secret, a signature value or body bytes into its text.
//!
//! It runs on the unauthenticated path, so what it costs is bounded. Past
//! [`FULL_DIAGNOSIS_BODY`] it reads the digest's length, and makes one HMAC
//! pass per secret (as many as the verification made) only for a digest in
//! an encoding the scheme refuses. Everything else (layouts, trailing
//! whitespace, pasted secrets, other schemes, other integrations) runs only
//! for bodies up to the bound, where its cost is a constant.

mod digest;
mod layout;
mod offered;
mod scheme;
mod secret;

use std::fmt;

use http::HeaderName;

pub use layout::MAX_RELAYOUT_DEPTH;

use super::{Algorithm, Keys, Pasted, SchemeName, SchemeSettings};
use crate::envelope::HttpDelivery;
use crate::error::{Reject, RejectCode};

/// Largest body diagnosed in full. Genesys's messages are a few KiB; a forged
/// flood of larger ones gets the one-pass reasons only.
pub const FULL_DIAGNOSIS_BODY: usize = 16 * 1024;

/// The reason a delivery's signature did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnosis {
    /// The digest matches once decoded in an encoding the scheme refuses.
    WrongEncoding {
        scheme: SchemeName,
        expected: &'static str,
        got: &'static str,
    },
    /// The digest has the length of `got`, the hash the scheme does not use;
    /// `matches` when it is that hash's HMAC of the body.
    WrongAlgorithm {
        scheme: SchemeName,
        got: Algorithm,
        matches: bool,
    },
    /// The digest matches the body in another JSON layout.
    Reserialized { form: &'static str },
    /// The digest matches a secret pasted with extra or missing characters.
    PastedSecret(Pasted),
    /// The delivery verifies under a scheme the deployment does not pin.
    OtherScheme {
        signed: SchemeName,
        header: HeaderName,
        pinned: SchemeName,
    },
    /// The delivery verifies with another integration's secret.
    OtherIntegration(String),
    /// The signed timestamp is `seconds` away from now, past `tolerance`.
    Timestamp {
        seconds: i64,
        in_future: bool,
        tolerance: i64,
    },
    /// None of the above: the rejection's own detail.
    Unexplained(&'static str),
    /// None of what the bounds allowed: the rejection's detail, and what was
    /// left untried.
    Bounded { detail: &'static str, bound: Bound },
}

/// Why part of a diagnosis was not tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Over [`FULL_DIAGNOSIS_BODY`]: only the one-pass reasons.
    Size,
    /// Nested deeper than [`MAX_RELAYOUT_DEPTH`]: no JSON layouts.
    Depth,
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongEncoding {
                scheme,
                expected,
                got,
            } => write!(
                f,
                "digest is {got} where {} expects {expected}; it matches once decoded",
                scheme.as_str()
            ),
            Self::WrongAlgorithm {
                scheme,
                got,
                matches: true,
            } => write!(
                f,
                "digest is an HMAC-{} where {} expects HMAC-{}; it matches the body under {}",
                got.as_str(),
                scheme.as_str(),
                scheme.algorithm().as_str(),
                got.as_str()
            ),
            Self::WrongAlgorithm { scheme, got, .. } => write!(
                f,
                "digest has the length of {} where {} expects {}",
                got.as_str(),
                scheme.as_str(),
                scheme.algorithm().as_str()
            ),
            Self::Reserialized { form } => write!(
                f,
                "matches the body re-serialized ({form}): something between Genesys and AWS \
                 re-stringified the JSON"
            ),
            Self::PastedSecret(Pasted::WhitespaceRemoved) => f.write_str(
                "matches the secret with surrounding whitespace removed: a pasted secret",
            ),
            Self::PastedSecret(Pasted::NewlineAdded) => {
                f.write_str("matches the secret with a trailing newline added: a pasted secret")
            }
            Self::OtherScheme {
                signed,
                header,
                pinned,
            } => write!(
                f,
                "matches under {} ({header}), but this deployment pins {}",
                signed.as_str(),
                pinned.as_str()
            ),
            Self::OtherIntegration(name) => {
                write!(f, "matches the secret of another integration, {name}")
            }
            Self::Timestamp {
                seconds,
                in_future,
                tolerance,
            } => {
                let way = if *in_future {
                    "in the future"
                } else {
                    "in the past"
                };
                write!(f, "timestamp {seconds} s {way}, tolerance {tolerance} s")
            }
            Self::Unexplained(detail) => f.write_str(detail),
            Self::Bounded {
                detail,
                bound: Bound::Size,
            } => write!(
                f,
                "{detail}; a body over {FULL_DIAGNOSIS_BODY} bytes is checked only for the \
                 digest's encoding and hash"
            ),
            Self::Bounded {
                detail,
                bound: Bound::Depth,
            } => write!(
                f,
                "{detail}; a body nested deeper than {MAX_RELAYOUT_DEPTH} levels is not tried \
                 in other JSON layouts"
            ),
        }
    }
}

/// Why the scheme `settings` pin, keyed with `keys`, answered `reject` to
/// `delivery` at `now`. `None` for rejections that are not about the
/// signature. `other_integrations` are the deployment's other integrations,
/// keyed for the same scheme.
pub fn diagnose(
    settings: &SchemeSettings,
    keys: &Keys,
    delivery: &HttpDelivery,
    reject: &Reject,
    now: i64,
    other_integrations: &[(&str, &Keys)],
) -> Option<Diagnosis> {
    let header = settings
        .header
        .clone()
        .unwrap_or_else(|| default_header(settings.name));
    match reject.code {
        RejectCode::StaleTimestamp => {
            let offered = offered::read(settings.name, &header, delivery)?;
            let t: i64 = offered.timestamp?.parse().ok()?;
            return Some(Diagnosis::Timestamp {
                seconds: (now - t).abs(),
                in_future: t > now,
                tolerance: settings.tolerance_seconds,
            });
        }
        RejectCode::InvalidSignature | RejectCode::MissingSignature => {}
        _ => return None,
    }
    let full = delivery.body.len() <= FULL_DIAGNOSIS_BODY;
    let mut bound = (!full).then_some(Bound::Size);
    let found = offered::read(settings.name, &header, delivery)
        .and_then(|o| digests(settings.name, keys, &o, &delivery.body, full, &mut bound))
        .or_else(|| {
            full.then(|| scheme::other_scheme(settings, &header, keys, delivery, now))
                .flatten()
        })
        .or_else(|| {
            full.then(|| secret::other_integration(settings, delivery, now, other_integrations))
                .flatten()
                .map(|name| Diagnosis::OtherIntegration(name.to_owned()))
        });
    Some(found.unwrap_or(match bound {
        Some(bound) => Diagnosis::Bounded {
            detail: reject.detail,
            bound,
        },
        None => Diagnosis::Unexplained(reject.detail),
    }))
}

fn default_header(name: SchemeName) -> HeaderName {
    HeaderName::from_static(match name {
        SchemeName::Genesys => super::Genesys::HEADER,
        SchemeName::OpenMessaging => super::OpenMessaging::HEADER,
        SchemeName::Timestamped => super::Timestamped::HEADER,
        SchemeName::StandardWebhooks => super::StandardWebhooks::HEADER,
        SchemeName::DigitalChannels => super::DigitalChannels::HEADER,
    })
}

/// Tries the pinned scheme's digests against the wrong encoding or hash,
/// other layouts of the body, and pasted copies of the secret, in that
/// order; the layouts and secrets only when `full`. Sets `bound` when a body
/// too deep kept the layouts from being tried.
fn digests(
    scheme: SchemeName,
    keys: &Keys,
    offered: &offered::Offered<'_>,
    body: &[u8],
    full: bool,
    bound: &mut Option<Bound>,
) -> Option<Diagnosis> {
    let algorithm = scheme.algorithm();
    // Past the bound, the pass is made only for a digest in a refused
    // encoding: a forgery cannot buy it with a well-formed digest.
    let received = (full || digest::wrongly_encoded(scheme, offered))
        .then(|| digest::received(keys, algorithm, &offered.prefix, body));
    if let Some(found) = received
        .as_ref()
        .and_then(|r| digest::wrong_encoding(scheme, offered, r))
    {
        return Some(found);
    }
    if let Some(found) = digest::wrong_algorithm(scheme, keys, offered, body, full) {
        return Some(found);
    }
    let received = received?;
    let digests = offered.of(algorithm);
    // A digest the body already signs is refused for another reason.
    if digests.is_empty() || digest::any(&received.plain, &digests) {
        return None;
    }
    if full {
        let tried = layout::relaid_out(keys, algorithm, &offered.prefix, body, &digests);
        if tried.too_deep {
            *bound = Some(Bound::Depth);
        }
        if let Some(form) = tried.form {
            return Some(Diagnosis::Reserialized { form });
        }
    }
    if let Some(form) = layout::trailing(&received, &digests) {
        return Some(Diagnosis::Reserialized { form });
    }
    let message: Vec<&[u8]> = offered.prefix.iter().copied().chain([body]).collect();
    full.then(|| secret::pasted(keys, algorithm, &message, &digests))
        .flatten()
        .map(Diagnosis::PastedSecret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::tests::{NOW, delivery, secrets};
    use crate::verify::{
        DigitalChannels, Genesys, OpenMessaging, Scheme, StandardWebhooks, Timestamped, scheme_for,
    };
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    const SECRET: &str = "test-secret";
    const BODY: &[u8] = br#"{"id":"1","text":"caf\u00e9, \"x\": [1, 2]","n":[]}"#;

    /// A scheme as a deployment pins it, with what it was built from.
    struct Pinned {
        settings: SchemeSettings,
        scheme: Box<dyn Scheme>,
    }

    fn pinned(name: SchemeName, secret: &str) -> Pinned {
        let settings = SchemeSettings {
            name,
            header: None,
            tolerance_seconds: 300,
        };
        let scheme = scheme_for(&settings, &secrets(secret, None)).unwrap();
        Pinned { settings, scheme }
    }

    fn keys(secret: &str) -> Keys {
        Keys::new(&secrets(secret, None))
    }

    /// The diagnosis `scheme` gives `d`, after checking it really rejects it.
    fn why(pinned: &Pinned, d: &HttpDelivery, others: &[(&str, &Keys)]) -> Diagnosis {
        let Pinned { settings, scheme } = pinned;
        let reject = scheme.verify(d, NOW).unwrap_err();
        diagnose(settings, scheme.keys(), d, &reject, NOW, others).unwrap()
    }

    #[test]
    fn hex_where_base64_is_expected() {
        let hex = hex::encode(keys(SECRET).sign(&[BODY]));
        let scheme = pinned(SchemeName::OpenMessaging, SECRET);
        for value in [format!("sha256={hex}"), hex.clone()] {
            let d = delivery(&[("x-hub-signature-256", &value)], BODY);
            let why = why(&scheme, &d, &[]);
            assert_eq!(
                why.to_string(),
                "digest is hex where open-messaging expects base64; it matches once decoded"
            );
        }
    }

    const PRETTY: &[u8] =
        b"{\n  \"id\": \"1\",\n  \"text\": \"caf\\u00e9, \\\"x\\\": [1, 2]\",\n  \"n\": []\n}";
    const SPACED: &[u8] = br#"{"id": "1", "text": "caf\u00e9, \"x\": [1, 2]", "n": []}"#;

    #[test]
    fn body_re_serialized() {
        let pretty = PRETTY.to_vec();
        let scheme = pinned(SchemeName::Genesys, SECRET);
        for (signed, received, form) in [
            (pretty.clone(), BODY.to_vec(), "pretty-printed"),
            (BODY.to_vec(), pretty.clone(), "compact"),
            (SPACED.to_vec(), BODY.to_vec(), "spaced"),
            ([BODY, b"\n"].concat(), BODY.to_vec(), "compact"),
            (
                b"plain".to_vec(),
                b"plain \n".to_vec(),
                "trailing whitespace removed",
            ),
        ] {
            let header = Genesys::sign(&keys(SECRET), &signed);
            let d = delivery(&[("x-genesys-signature", &header)], &received);
            match why(&scheme, &d, &[]) {
                Diagnosis::Reserialized { form: found } if found.starts_with(form) => {}
                other => panic!("{form}: {other}"),
            }
        }
        let header = Genesys::sign(&keys(SECRET), &pretty);
        let d = delivery(&[("x-genesys-signature", &header)], BODY);
        assert_eq!(
            why(&scheme, &d, &[]).to_string(),
            "matches the body re-serialized (pretty-printed): something between Genesys and AWS \
             re-stringified the JSON"
        );
    }

    #[test]
    fn a_large_body_gets_only_the_one_pass_reasons() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(FULL_DIAGNOSIS_BODY));
        let pretty = big.replace(':', ": ");
        let scheme = pinned(SchemeName::Genesys, SECRET);
        let header = Genesys::sign(&keys(SECRET), pretty.as_bytes());
        let d = delivery(&[("x-genesys-signature", &header)], big.as_bytes());
        assert_eq!(
            why(&scheme, &d, &[]),
            Diagnosis::Bounded {
                detail: "no secret matches",
                bound: Bound::Size
            }
        );
        let hex = hex::encode(keys(SECRET).sign(&[big.as_bytes()]));
        let om = pinned(SchemeName::OpenMessaging, SECRET);
        let d = delivery(&[("x-hub-signature-256", &hex)], big.as_bytes());
        assert!(matches!(why(&om, &d, &[]), Diagnosis::WrongEncoding { .. }));
        let newline = Genesys::sign(&keys(SECRET), format!("{big}\n").as_bytes());
        let d = delivery(&[("x-genesys-signature", &newline)], big.as_bytes());
        assert!(matches!(
            why(&scheme, &d, &[]),
            Diagnosis::Bounded {
                bound: Bound::Size,
                ..
            }
        ));
        let sha1 = DigitalChannels::sign(&keys(SECRET), big.as_bytes());
        let d = delivery(&[("x-genesys-signature", &sha1[5..])], big.as_bytes());
        assert_eq!(
            why(&scheme, &d, &[]).to_string(),
            "digest has the length of SHA-1 where genesys expects SHA-256"
        );
    }

    #[test]
    fn a_deeply_nested_body_is_not_tried_in_other_layouts() {
        let scheme = pinned(SchemeName::Genesys, SECRET);
        let nested = |depth: usize, open: &str, close: &str| {
            format!("{}1{}", open.repeat(depth), close.repeat(depth))
        };
        let deepest = MAX_RELAYOUT_DEPTH;
        let header = Genesys::sign(&keys(SECRET), nested(deepest, "[", "]").as_bytes());
        let d = delivery(
            &[("x-genesys-signature", &header)],
            nested(deepest, "[ ", " ]").as_bytes(),
        );
        assert_eq!(
            why(&scheme, &d, &[]),
            Diagnosis::Reserialized { form: "compact" }
        );
        let header = Genesys::sign(&keys(SECRET), nested(deepest + 1, "[", "]").as_bytes());
        let d = delivery(
            &[("x-genesys-signature", &header)],
            nested(deepest + 1, "[ ", " ]").as_bytes(),
        );
        assert_eq!(
            why(&scheme, &d, &[]).to_string(),
            format!(
                "no secret matches; a body nested deeper than {MAX_RELAYOUT_DEPTH} levels is not \
                 tried in other JSON layouts"
            )
        );
    }

    #[test]
    fn digital_channels_reasons() {
        let scheme = pinned(SchemeName::DigitalChannels, SECRET);
        let sha256 = hex::encode(keys(SECRET).sign(&[BODY]));
        for value in [format!("sha256={sha256}"), format!("sha1={sha256}")] {
            let d = delivery(&[("x-hub-signature", &value)], BODY);
            assert_eq!(
                why(&scheme, &d, &[]).to_string(),
                "digest is an HMAC-SHA-256 where digital-channels expects HMAC-SHA-1; it \
                 matches the body under SHA-256"
            );
        }
        let other = hex::encode(keys("other").sign(&[BODY]));
        let d = delivery(&[("x-hub-signature", &format!("sha1={other}"))], BODY);
        assert_eq!(
            why(&scheme, &d, &[]).to_string(),
            "digest has the length of SHA-256 where digital-channels expects SHA-1"
        );
        let d = delivery(
            &[(
                "x-hub-signature-256",
                &OpenMessaging::sign(&keys(SECRET), BODY),
            )],
            BODY,
        );
        assert_eq!(
            why(&scheme, &d, &[]).to_string(),
            "matches under open-messaging (x-hub-signature-256), but this deployment pins \
             digital-channels"
        );
        let pretty = DigitalChannels::sign(&keys(SECRET), PRETTY);
        let d = delivery(&[("x-hub-signature", &pretty)], BODY);
        assert_eq!(
            why(&scheme, &d, &[]),
            Diagnosis::Reserialized {
                form: "pretty-printed"
            }
        );
        let sha1 = DigitalChannels::sign(&keys(SECRET), BODY);
        let om = pinned(SchemeName::OpenMessaging, SECRET);
        let d = delivery(&[("x-hub-signature", &sha1)], BODY);
        assert_eq!(
            why(&om, &d, &[]).to_string(),
            "matches under digital-channels (x-hub-signature), but this deployment pins \
             open-messaging"
        );
        let d = delivery(&[("x-hub-signature-256", &sha1)], BODY);
        assert_eq!(
            why(&om, &d, &[]).to_string(),
            "digest is an HMAC-SHA-1 where open-messaging expects HMAC-SHA-256; it matches the \
             body under SHA-1"
        );
    }

    #[test]
    fn pasted_secret() {
        let message: &[&[u8]] = &[BODY];
        let cases = [
            ("  test-secret\n", SECRET, Pasted::WhitespaceRemoved),
            (SECRET, "test-secret\n", Pasted::NewlineAdded),
        ];
        for (ours, theirs, how) in cases {
            let scheme = pinned(SchemeName::Genesys, ours);
            let header = Genesys::sign(&keys(theirs), BODY);
            let d = delivery(&[("x-genesys-signature", &header)], BODY);
            assert_eq!(why(&scheme, &d, &[]), Diagnosis::PastedSecret(how));
            assert!(!keys(ours).any_matches(
                Algorithm::Sha256,
                message,
                &[keys(theirs).sign(message)]
            ));
        }
        assert_eq!(
            Diagnosis::PastedSecret(Pasted::NewlineAdded).to_string(),
            "matches the secret with a trailing newline added: a pasted secret"
        );
    }

    #[test]
    fn signed_under_another_scheme() {
        let k = keys(SECRET);
        let om = OpenMessaging::sign(&k, BODY);
        let genesys = Genesys::sign(&k, BODY);
        let cases = [
            (
                SchemeName::Genesys,
                ("X-Hub-Signature-256", om),
                "open-messaging (x-hub-signature-256), but this deployment pins genesys",
            ),
            (
                SchemeName::Timestamped,
                ("X-Genesys-Signature", genesys.clone()),
                "genesys (x-genesys-signature), but this deployment pins timestamped",
            ),
            (
                SchemeName::OpenMessaging,
                ("X-Genesys-Signature", genesys),
                "genesys (x-genesys-signature), but this deployment pins open-messaging",
            ),
        ];
        for (scheme, (name, value), text) in cases {
            let d = delivery(&[(name, &value)], BODY);
            let why = why(&pinned(scheme, SECRET), &d, &[]);
            assert_eq!(why.to_string(), format!("matches under {text}"));
        }
    }

    #[test]
    fn timestamped_signed_in_the_standard_webhooks_layout() {
        let secret = "whsec_Z2VuZXN5cy13ZWJob29rLXRlc3Qtc2VjcmV0";
        let k = StandardWebhooks::keys(&secrets(secret, None)).unwrap();
        let d = delivery(
            &[("x-genesys-signature", &Timestamped::sign(&k, NOW, BODY))],
            BODY,
        );
        let why = why(&pinned(SchemeName::StandardWebhooks, secret), &d, &[]);
        assert!(matches!(
            why,
            Diagnosis::OtherScheme {
                signed: SchemeName::Timestamped,
                ..
            }
        ));
    }

    #[test]
    fn another_integrations_secret() {
        let scheme = pinned(SchemeName::OpenMessaging, SECRET);
        let (sales, support) = (keys("sales-secret"), keys("support-secret"));
        let header = OpenMessaging::sign(&support, BODY);
        let d = delivery(&[("x-hub-signature-256", &header)], BODY);
        let others = [("sales", &sales), ("support", &support)];
        assert_eq!(
            why(&scheme, &d, &others).to_string(),
            "matches the secret of another integration, support"
        );
        assert_eq!(
            why(&scheme, &d, &others[..1]),
            Diagnosis::Unexplained("no secret matches")
        );
    }

    #[test]
    fn timestamp_outside_the_tolerance_says_by_how_much() {
        let scheme = pinned(SchemeName::Timestamped, SECRET);
        for (t, text) in [
            (NOW - 612, "timestamp 612 s in the past, tolerance 300 s"),
            (NOW + 301, "timestamp 301 s in the future, tolerance 300 s"),
        ] {
            let d = delivery(
                &[(
                    "x-genesys-signature",
                    &Timestamped::sign(&keys(SECRET), t, BODY),
                )],
                BODY,
            );
            assert_eq!(why(&scheme, &d, &[]).to_string(), text);
        }
        let secret = "whsec_Z2VuZXN5cy13ZWJob29rLXRlc3Qtc2VjcmV0";
        let k = StandardWebhooks::keys(&secrets(secret, None)).unwrap();
        let t = NOW - 1000;
        let d = delivery(
            &[
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", &t.to_string()),
                (
                    "webhook-signature",
                    &StandardWebhooks::sign(&k, "msg_1", t, BODY),
                ),
            ],
            BODY,
        );
        let scheme = pinned(SchemeName::StandardWebhooks, secret);
        assert_eq!(
            why(&scheme, &d, &[]).to_string(),
            "timestamp 1000 s in the past, tolerance 300 s"
        );
    }

    #[test]
    fn none_of_these() {
        let scheme = pinned(SchemeName::Genesys, SECRET);
        let header = Genesys::sign(&keys("someone-else"), BODY);
        let d = delivery(&[("x-genesys-signature", &header)], BODY);
        assert_eq!(why(&scheme, &d, &[]).to_string(), "no secret matches");
        let d = delivery(&[("x-genesys-signature", "sha256=zz")], BODY);
        assert_eq!(
            why(&scheme, &d, &[]),
            Diagnosis::Unexplained("digest is not a hex or base64 SHA-256")
        );
    }

    #[test]
    fn other_rejections_get_no_diagnosis() {
        let scheme = pinned(SchemeName::Genesys, SECRET);
        let d = delivery(&[], BODY);
        let reject = RejectCode::Malformed.because("header repeated");
        let keys = scheme.scheme.keys();
        assert_eq!(
            diagnose(&scheme.settings, keys, &d, &reject, NOW, &[]),
            None
        );
    }

    #[test]
    fn the_text_never_holds_the_secret_signature_or_body() {
        let scheme = pinned(SchemeName::Genesys, SECRET);
        let hex = hex::encode(keys(SECRET).sign(&[br#"{"id": "1"}"#]));
        let d = delivery(&[("x-genesys-signature", &hex)], br#"{"id":"1"}"#);
        let text = why(&scheme, &d, &[]).to_string();
        for f in [
            SECRET,
            &hex,
            &STANDARD.encode(hex::decode(&hex).unwrap()),
            "\"id\"",
        ] {
            assert!(!text.contains(f), "{text}");
        }
    }
}
