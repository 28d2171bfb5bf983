//! Why a signature failed, for the log line only: the caller still gets just
//! the rejection code. Runs only after a rejection, costs a bounded number of
//! HMACs, never accepts anything, and never puts a secret, a signature value
//! or body bytes into its text.

use std::fmt;

use http::HeaderName;

use super::standard_webhooks::{ID, TIMESTAMP};
use super::{
    Digest, Keys, MAX_SIGNATURES, Pasted, SchemeName, SchemeSettings, decode_digest, keyed,
    signed_header, strip_sha256_prefix,
};
use crate::envelope::HttpDelivery;
use crate::error::{Reject, RejectCode};

/// Largest body tried re-serialized: past this the extra hashing would cost
/// a forged flood more than the answer is worth.
pub const MAX_REFORMATTED_BODY: usize = 64 * 1024;

/// The reason a delivery's signature did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnosis {
    /// The digest matches once decoded in an encoding the scheme refuses.
    WrongEncoding {
        scheme: SchemeName,
        expected: &'static str,
        got: &'static str,
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
            let offered = offered(settings.name, &header, delivery)?;
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
    let found = offered(settings.name, &header, delivery)
        .and_then(|o| diagnose_digests(settings.name, keys, &o, &delivery.body))
        .or_else(|| other_scheme(settings, keys, delivery, now))
        .or_else(|| {
            other_integrations
                .iter()
                .find(|(_, k)| keyed(settings, (*k).clone()).verify(delivery, now).is_ok())
                .map(|(name, _)| Diagnosis::OtherIntegration((*name).to_owned()))
        });
    Some(found.unwrap_or(Diagnosis::Unexplained(reject.detail)))
}

fn default_header(name: SchemeName) -> HeaderName {
    HeaderName::from_static(match name {
        SchemeName::Genesys => super::Genesys::HEADER,
        SchemeName::OpenMessaging => super::OpenMessaging::HEADER,
        SchemeName::Timestamped => super::Timestamped::HEADER,
        SchemeName::StandardWebhooks => super::StandardWebhooks::HEADER,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Hex,
    Base64,
}

/// What the pinned scheme's headers offer, read leniently: the parts signed
/// before the body, the timestamp, and every digest in either encoding.
struct Offered<'a> {
    prefix: Vec<&'a [u8]>,
    timestamp: Option<&'a str>,
    digests: Vec<(Digest, Encoding)>,
}

fn lenient_digest(s: &str) -> Option<(Digest, Encoding)> {
    let s = strip_sha256_prefix(s).unwrap_or(s);
    match s.len() {
        64 => decode_digest(s, true).map(|d| (d, Encoding::Hex)),
        _ => decode_digest(s, false).map(|d| (d, Encoding::Base64)),
    }
}

fn offered<'a>(
    scheme: SchemeName,
    header: &HeaderName,
    delivery: &'a HttpDelivery,
) -> Option<Offered<'a>> {
    let value = signed_header(delivery, header).ok().flatten()?;
    let mut prefix = Vec::new();
    let mut timestamp = None;
    let digests: Vec<_> = match scheme {
        SchemeName::Genesys | SchemeName::OpenMessaging => {
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

/// The encodings a scheme's own check accepts.
fn accepts(scheme: SchemeName, encoding: Encoding) -> bool {
    match scheme {
        SchemeName::Genesys | SchemeName::Timestamped => true,
        SchemeName::OpenMessaging | SchemeName::StandardWebhooks => encoding == Encoding::Base64,
    }
}

/// Tries the pinned scheme's digests against the wrong encoding, other
/// layouts of the body, and pasted copies of the secret, in that order.
fn diagnose_digests(
    scheme: SchemeName,
    keys: &Keys,
    offered: &Offered<'_>,
    body: &[u8],
) -> Option<Diagnosis> {
    fn message<'a>(prefix: &[&'a [u8]], body: &'a [u8]) -> Vec<&'a [u8]> {
        prefix.iter().copied().chain([body]).collect()
    }
    let wrongly_encoded: Vec<&(Digest, Encoding)> = offered
        .digests
        .iter()
        .filter(|(_, e)| !accepts(scheme, *e))
        .collect();
    if let Some((_, encoding)) = wrongly_encoded.first() {
        let candidates: Vec<Digest> = wrongly_encoded.iter().map(|(d, _)| *d).collect();
        if keys.any_matches(&message(&offered.prefix, body), &candidates) {
            let (expected, got) = match encoding {
                Encoding::Hex => ("base64", "hex"),
                Encoding::Base64 => ("hex", "base64"),
            };
            return Some(Diagnosis::WrongEncoding {
                scheme,
                expected,
                got,
            });
        }
    }
    let digests: Vec<Digest> = offered.digests.iter().map(|(d, _)| *d).collect();
    if digests.is_empty() {
        return None;
    }
    for (form, variant) in reformatted(body) {
        if keys.any_matches(&message(&offered.prefix, &variant), &digests) {
            return Some(Diagnosis::Reserialized { form });
        }
    }
    keys.pasted_match(&message(&offered.prefix, body), &digests)
        .map(Diagnosis::PastedSecret)
}

/// The delivery checked by each scheme the deployment does not pin, at its
/// own header and at the pinned one, with the deployment's keys and no bound
/// on the timestamp.
fn other_scheme(
    pinned: &SchemeSettings,
    keys: &Keys,
    delivery: &HttpDelivery,
    now: i64,
) -> Option<Diagnosis> {
    let pinned_header = pinned
        .header
        .clone()
        .unwrap_or_else(|| default_header(pinned.name));
    for signed in SchemeName::ALL.into_iter().filter(|s| *s != pinned.name) {
        let own = default_header(signed);
        let headers = if own == pinned_header {
            vec![own]
        } else {
            vec![own, pinned_header.clone()]
        };
        for header in headers {
            let settings = SchemeSettings {
                name: signed,
                header: Some(header.clone()),
                tolerance_seconds: i64::MAX,
            };
            if keyed(&settings, keys.clone()).verify(delivery, now).is_ok() {
                return Some(Diagnosis::OtherScheme {
                    signed,
                    header,
                    pinned: pinned.name,
                });
            }
        }
    }
    None
}

/// The body as a sender may have signed it before something re-formatted
/// it: a few JSON layouts and line endings, none equal to the body itself.
fn reformatted(body: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    if body.len() > MAX_REFORMATTED_BODY {
        return Vec::new();
    }
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        for (form, style) in [
            ("compact", Style::COMPACT),
            ("spaced", Style::SPACED),
            ("pretty-printed", Style::PRETTY),
        ] {
            let text = relayout(body, style);
            let mut newline = text.clone();
            newline.push(b'\n');
            out.push((form, text));
            out.push((form, newline));
        }
        out.extend(
            serde_json::to_vec(&value)
                .ok()
                .map(|v| ("compact, keys sorted", v)),
        );
        out.extend(
            serde_json::to_vec_pretty(&value)
                .ok()
                .map(|v| ("pretty-printed, keys sorted", v)),
        );
    }
    out.push(("LF line endings", replace(body, b"\r\n", b"\n")));
    out.push(("CRLF line endings", replace(body, b"\n", b"\r\n")));
    out.push((
        "trailing whitespace removed",
        body.trim_ascii_end().to_vec(),
    ));
    out.push(("trailing newline added", [body, b"\n"].concat()));
    let mut seen: Vec<Vec<u8>> = vec![body.to_vec()];
    out.retain(|(_, v)| {
        let new = !seen.contains(v);
        if new {
            seen.push(v.clone());
        }
        new
    });
    out
}

fn replace(body: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while !rest.is_empty() {
        if rest.starts_with(from) {
            out.extend_from_slice(to);
            rest = &rest[from.len()..];
        } else if rest.starts_with(to) {
            out.extend_from_slice(to);
            rest = &rest[to.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// A JSON layout: what follows a comma and a colon, and the indent, if any.
#[derive(Clone, Copy)]
struct Style {
    comma: &'static [u8],
    colon: &'static [u8],
    indent: Option<&'static [u8]>,
}

impl Style {
    /// `JSON.stringify(v)`.
    const COMPACT: Self = Self {
        comma: b",",
        colon: b":",
        indent: None,
    };
    /// Python's `json.dumps(v)`.
    const SPACED: Self = Self {
        comma: b", ",
        colon: b": ",
        indent: None,
    };
    /// `JSON.stringify(v, null, 2)`.
    const PRETTY: Self = Self {
        comma: b",",
        colon: b": ",
        indent: Some(b"  "),
    };
}

/// Tracks whether each byte of JSON text is inside a string.
#[derive(Default)]
struct Strings {
    inside: bool,
    escaped: bool,
}

impl Strings {
    /// Whether `b`, the next byte, stands outside every string (quotes
    /// themselves count as inside).
    fn structural(&mut self, b: u8) -> bool {
        if self.inside {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.inside = false;
            }
            false
        } else {
            self.inside = b == b'"';
            !self.inside
        }
    }
}

/// Lays out valid JSON `body` in `style`, keeping its keys' order, numbers
/// and escapes exactly: only the whitespace between tokens changes.
fn relayout(body: &[u8], style: Style) -> Vec<u8> {
    let mut strings = Strings::default();
    let tokens: Vec<u8> = body
        .iter()
        .copied()
        .filter(|&b| !(strings.structural(b) && b.is_ascii_whitespace()))
        .collect();
    let mut out = Vec::with_capacity(tokens.len() * 2);
    let mut depth = 0usize;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        if let Some(indent) = style.indent {
            out.push(b'\n');
            for _ in 0..depth {
                out.extend_from_slice(indent);
            }
        }
    };
    let mut strings = Strings::default();
    for (i, &b) in tokens.iter().enumerate() {
        if !strings.structural(b) {
            out.push(b);
            continue;
        }
        match b {
            b'{' | b'[' => {
                out.push(b);
                if !matches!(tokens.get(i + 1), Some(b'}' | b']')) {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                if !(i > 0 && matches!(tokens[i - 1], b'{' | b'[')) {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(b);
            }
            b',' => {
                out.extend_from_slice(style.comma);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(style.colon),
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::tests::{NOW, delivery, secrets};
    use crate::verify::{
        Genesys, OpenMessaging, Scheme, StandardWebhooks, Timestamped, scheme_for,
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

    #[test]
    fn body_re_serialized() {
        let pretty = relayout(BODY, Style::PRETTY);
        assert_eq!(
            pretty,
            b"{\n  \"id\": \"1\",\n  \"text\": \"caf\\u00e9, \\\"x\\\": [1, 2]\",\n  \"n\": []\n}"
        );
        let scheme = pinned(SchemeName::Genesys, SECRET);
        for (signed, received, form) in [
            (pretty.clone(), BODY.to_vec(), "pretty-printed"),
            (BODY.to_vec(), pretty.clone(), "compact"),
            (relayout(BODY, Style::SPACED), BODY.to_vec(), "spaced"),
            ([BODY, b"\n"].concat(), BODY.to_vec(), "pretty-printed"),
        ] {
            let header = Genesys::sign(&keys(SECRET), &signed);
            let d = delivery(&[("x-genesys-signature", &header)], &received);
            match why(&scheme, &d, &[]) {
                Diagnosis::Reserialized { .. } => {}
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
    fn a_large_body_is_not_tried_re_serialized() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_REFORMATTED_BODY));
        assert!(
            reformatted(big.as_bytes())
                .iter()
                .all(|(form, _)| !form.contains("compact"))
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
            assert!(!keys(ours).any_matches(message, &[keys(theirs).sign(message)]));
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
