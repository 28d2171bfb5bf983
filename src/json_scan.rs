//! JSON text read byte by byte for its structure alone, without parsing it:
//! which bytes stand outside strings, and how deep the brackets nest. The
//! relay checks a body's depth this way before splicing it into an entry,
//! and the diagnosis bounds and re-lays out a body the same way.

/// Follows JSON text one byte at a time. Bytes that are no JSON give a
/// defined answer too: a backslash outside a string is an ordinary byte,
/// and a closing bracket with none open leaves the depth at 0.
#[derive(Debug, Default)]
pub(crate) struct Scanner {
    inside: bool,
    escaped: bool,
    depth: usize,
    deepest: usize,
}

impl Scanner {
    /// Takes the next byte: whether it stands outside every string. A
    /// string's own quotes count as inside it.
    pub(crate) fn structural(&mut self, b: u8) -> bool {
        if self.inside {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.inside = false;
            }
            return false;
        }
        match b {
            b'"' => {
                self.inside = true;
                return false;
            }
            b'{' | b'[' => {
                self.depth += 1;
                self.deepest = self.deepest.max(self.depth);
            }
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        true
    }

    /// The deepest nesting so far: brackets outside strings.
    pub(crate) fn deepest(&self) -> usize {
        self.deepest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of `json` that stand outside strings, and its depth.
    fn scan(json: &[u8]) -> (String, usize) {
        let mut s = Scanner::default();
        let outside = json.iter().filter(|&&b| s.structural(b)).copied();
        let outside = String::from_utf8(outside.collect()).unwrap();
        (outside, s.deepest())
    }

    #[test]
    fn strings_and_their_quotes_are_inside() {
        assert_eq!(scan(br#"{"a":["x",1]}"#), ("{:[,1]}".to_owned(), 2));
        assert_eq!(scan(br#"["[{\"]}"]"#), ("[]".to_owned(), 1));
    }

    #[test]
    fn an_escaped_backslash_does_not_escape_the_quote_after_it() {
        assert_eq!(scan(br#"["\\",[]]"#), ("[,[]]".to_owned(), 2));
        assert_eq!(scan(br#"["\\\"[",[]]"#), ("[,[]]".to_owned(), 2));
    }

    #[test]
    fn depth_counts_the_deepest_point_not_the_last() {
        assert_eq!(scan(b"[[[]],[]]").1, 3);
        assert_eq!(scan(b"1").1, 0);
    }

    #[test]
    fn text_that_is_no_json_gets_an_answer() {
        assert_eq!(scan(b"]]}[").1, 1);
        assert_eq!(scan(br#"\"["#), ("\\".to_owned(), 0));
        assert_eq!(scan(b"\"unterminated [[["), (String::new(), 0));
    }
}
