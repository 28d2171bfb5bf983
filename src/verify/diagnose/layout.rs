//! The digest matches the body in another JSON layout or with other line
//! endings: something re-stringified it on the way. Every layout is fed to
//! the HMACs as it is produced, never held whole, and is abandoned past a
//! few times the body's size.

use std::io;

use super::super::{Algorithm, KeyedMac, Keys};
use super::digest::{Received, any};
use crate::json_scan::Scanner;

/// Deepest nesting re-laid out: past it a pretty-printed layout grows with
/// the depth times the body, and no sender nests so deep.
pub const MAX_RELAYOUT_DEPTH: usize = 32;

/// What trying the layouts came to.
pub(super) struct Tried {
    pub form: Option<&'static str>,
    /// The body nests deeper than [`MAX_RELAYOUT_DEPTH`]: no JSON layout was
    /// tried, only line endings.
    pub too_deep: bool,
}

/// The first layout of `body` (after `prefix`) that a secret signed as one of
/// `digests`. None equal to the body counts.
pub(super) fn relaid_out<'a>(
    keys: &Keys,
    algorithm: Algorithm,
    prefix: &[&[u8]],
    body: &'a [u8],
    digests: &[&[u8]],
) -> Tried {
    let (depth, values) = shape(body);
    let too_deep = depth > MAX_RELAYOUT_DEPTH;
    let json = !too_deep && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok();
    let mut tried: Vec<(&'static str, Hashing<'a>)> = Vec::new();
    let mut layout = |form, write: &dyn Fn(&mut Hashing<'a>), newline: bool| {
        let mut h = Hashing::new(keys, algorithm, prefix, body);
        write(&mut h);
        h.flush();
        if newline {
            let mut with_newline = h.clone();
            with_newline.put(b"\n");
            with_newline.flush();
            tried.push((form, h));
            tried.push((form, with_newline));
        } else {
            tried.push((form, h));
        }
    };
    if json {
        for (form, style) in [
            ("compact", Style::COMPACT),
            ("spaced", Style::SPACED),
            ("pretty-printed", Style::PRETTY),
        ] {
            layout(form, &|h| relayout(body, style, h), true);
        }
    }
    // A parsed tree costs about one `Value` per value; only where that stays
    // within a few times the body.
    let tree = (json && values * size_of::<serde_json::Value>() <= 4 * body.len())
        .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
        .flatten();
    if let Some(value) = &tree {
        layout(
            "compact, keys sorted",
            &|h| {
                let _ = serde_json::to_writer(&mut *h, value);
            },
            false,
        );
        layout(
            "pretty-printed, keys sorted",
            &|h| {
                let _ = serde_json::to_writer_pretty(&mut *h, value);
            },
            false,
        );
    }
    layout("LF line endings", &|h| line_endings(body, b"\n", h), false);
    layout(
        "CRLF line endings",
        &|h| line_endings(body, b"\r\n", h),
        false,
    );
    let form = tried
        .iter()
        .find(|(_, h)| h.counts() && any(&h.macs, digests))
        .map(|(form, _)| *form);
    Tried { form, too_deep }
}

/// The body with trailing whitespace removed or a newline added, from the
/// pass already made.
pub(super) fn trailing(received: &Received, digests: &[&[u8]]) -> Option<&'static str> {
    if received.trimmed.as_ref().is_some_and(|t| any(t, digests)) {
        return Some("trailing whitespace removed");
    }
    any(&received.newline, digests).then_some("trailing newline added")
}

/// HMACs fed a layout in chunks as it is produced.
#[derive(Clone)]
struct Hashing<'a> {
    macs: Vec<KeyedMac>,
    body: &'a [u8],
    pending: Vec<u8>,
    /// Bytes fed to the HMACs so far.
    written: usize,
    /// Whether those bytes are the body's own so far.
    same: bool,
    /// Past this many bytes the layout is abandoned.
    limit: usize,
    over: bool,
}

const CHUNK: usize = 4096;

impl<'a> Hashing<'a> {
    fn new(keys: &Keys, algorithm: Algorithm, prefix: &[&[u8]], body: &'a [u8]) -> Self {
        let mut macs = keys.macs(algorithm);
        for mac in &mut macs {
            for part in prefix {
                mac.update(part);
            }
        }
        Self {
            macs,
            body,
            pending: Vec::with_capacity(CHUNK),
            written: 0,
            same: true,
            limit: 3 * body.len() + 1024,
            over: false,
        }
    }

    /// Appends `bytes`; false once the layout has been abandoned.
    fn put(&mut self, bytes: &[u8]) -> bool {
        if self.over || self.written + self.pending.len() + bytes.len() > self.limit {
            self.over = true;
            return false;
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= CHUNK {
            self.flush();
        }
        true
    }

    fn flush(&mut self) {
        let chunk = std::mem::take(&mut self.pending);
        let end = self.written + chunk.len();
        self.same = self.same && self.body.get(self.written..end) == Some(&chunk[..]);
        for mac in &mut self.macs {
            mac.update(&chunk);
        }
        self.written = end;
        self.pending = chunk;
        self.pending.clear();
    }

    /// Whether the finished layout is one to try: complete, and not the body.
    fn counts(&self) -> bool {
        !(self.over || self.same && self.written == self.body.len())
    }
}

impl io::Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.put(buf) {
            Ok(buf.len())
        } else {
            Err(io::Error::other("layout past its bound"))
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where a layout goes: HMACs, or a buffer for the tests.
trait Out {
    /// False once nothing more is taken.
    fn put(&mut self, bytes: &[u8]) -> bool;
}

impl Out for Hashing<'_> {
    fn put(&mut self, bytes: &[u8]) -> bool {
        Hashing::put(self, bytes)
    }
}

impl Out for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> bool {
        self.extend_from_slice(bytes);
        true
    }
}

/// Every line break as `newline`: `\r\n` and a lone `\n` alike.
fn line_endings(body: &[u8], newline: &[u8], out: &mut impl Out) {
    let mut i = 0;
    while i < body.len() {
        let ok = match body[i..] {
            [b'\r', b'\n', ..] => {
                i += 2;
                out.put(newline)
            }
            [b'\n', ..] => {
                i += 1;
                out.put(newline)
            }
            [b, ..] => {
                i += 1;
                out.put(&[b])
            }
            [] => true,
        };
        if !ok {
            return;
        }
    }
}

/// The deepest nesting of JSON text and about how many values it holds,
/// from its structure alone.
fn shape(body: &[u8]) -> (usize, usize) {
    let mut scanner = Scanner::default();
    let mut values = 1usize;
    for &b in body {
        if scanner.structural(b) && matches!(b, b'{' | b'[' | b',') {
            values += 1;
        }
    }
    (scanner.deepest(), values)
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

/// Lays out valid JSON `body` in `style`, keeping its keys' order, numbers
/// and escapes exactly: only the whitespace between tokens changes. Stops
/// when `out` takes no more.
fn relayout(body: &[u8], style: Style, out: &mut impl Out) {
    let mut between = Scanner::default();
    let mut tokens = body
        .iter()
        .copied()
        .filter(move |&b| !(between.structural(b) && b.is_ascii_whitespace()))
        .peekable();
    let mut depth = 0usize;
    let newline = |out: &mut dyn FnMut(&[u8]) -> bool, depth: usize| {
        let Some(indent) = style.indent else {
            return true;
        };
        out(b"\n") && (0..depth).all(|_| out(indent))
    };
    let mut put = |bytes: &[u8]| out.put(bytes);
    let mut strings = Scanner::default();
    let mut previous = 0u8;
    while let Some(b) = tokens.next() {
        let ok = if !strings.structural(b) {
            put(&[b])
        } else {
            match b {
                b'{' | b'[' => {
                    put(&[b])
                        && (matches!(tokens.peek(), Some(b'}' | b']')) || {
                            depth += 1;
                            newline(&mut put, depth)
                        })
                }
                b'}' | b']' => {
                    (matches!(previous, b'{' | b'[') || {
                        depth = depth.saturating_sub(1);
                        newline(&mut put, depth)
                    }) && put(&[b])
                }
                b',' => put(style.comma) && newline(&mut put, depth),
                b':' => put(style.colon),
                _ => put(&[b]),
            }
        };
        if !ok {
            return;
        }
        previous = b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laid_out(body: &[u8], style: Style) -> Vec<u8> {
        let mut out = Vec::new();
        relayout(body, style, &mut out);
        out
    }

    const BODY: &[u8] = br#"{"id":"1","text":"caf\u00e9, \"x\": [1, 2]","n":[]}"#;

    #[test]
    fn layouts_change_only_the_whitespace_between_tokens() {
        let pretty = laid_out(BODY, Style::PRETTY);
        assert_eq!(
            pretty,
            b"{\n  \"id\": \"1\",\n  \"text\": \"caf\\u00e9, \\\"x\\\": [1, 2]\",\n  \"n\": []\n}"
        );
        assert_eq!(laid_out(&pretty, Style::COMPACT), BODY);
        assert_eq!(laid_out(b"[ 1 ,{ } ]", Style::SPACED), b"[1, {}]".to_vec());
    }

    #[test]
    fn line_endings_become_one_kind() {
        let mut lf = Vec::new();
        line_endings(b"a\r\nb\nc", b"\n", &mut lf);
        assert_eq!(lf, b"a\nb\nc");
        let mut crlf = Vec::new();
        line_endings(b"a\r\nb\nc", b"\r\n", &mut crlf);
        assert_eq!(crlf, b"a\r\nb\r\nc");
    }

    #[test]
    fn shape_reads_depth_and_values_outside_strings() {
        assert_eq!(shape(br#"{"a":[[1,2],"[[["]}"#), (3, 6));
        assert_eq!(shape(b"1"), (0, 1));
    }

    #[test]
    fn a_layout_past_its_bound_is_abandoned() {
        let keys = Keys::new(&crate::verify::tests::secrets("k", None));
        let deep = format!("{}{}", "[".repeat(30), "]".repeat(30));
        let mut h = Hashing::new(&keys, Algorithm::Sha256, &[], deep.as_bytes());
        h.limit = 100;
        relayout(deep.as_bytes(), Style::PRETTY, &mut h);
        h.flush();
        assert!(!h.counts());
        assert!(h.written + h.pending.len() <= 100);
    }
}
