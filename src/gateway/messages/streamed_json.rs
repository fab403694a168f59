//! A tool call's arguments as they stream in, and whether they are a whole JSON
//! value yet. The stream translator asks that while another call waits (a new
//! block may start only once the open call's input is complete); parsing the
//! whole text at every piece made a long call interleaved with another quadratic.
//! Here each byte is read once as it arrives, and the text is parsed (to be sure
//! it is valid) only when its outermost object or array closes.

use serde_json::Value;

/// Longest arguments whose root is not an object, an array or a string (a bare
/// number or literal, which no tool takes) that are still parsed to judge them;
/// longer ones are never complete, and wait for the end of the stream.
const MAX_SCALAR_BYTES: usize = 1_024;

#[derive(Debug, Default)]
pub(super) struct StreamedJson {
    text: String,
    /// The first byte that is not JSON white space: `{`, `[` and `"` roots are
    /// followed byte by byte; any other root is a scalar.
    root: Option<u8>,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Once the root closed: whether the text up to it parsed, with nothing but
    /// white space after it since.
    verdict: Option<bool>,
}

fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

fn parses(text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok()
}

impl StreamedJson {
    pub(super) fn as_str(&self) -> &str {
        &self.text
    }

    pub(super) fn push(&mut self, piece: &str) {
        let start = self.text.len();
        self.text.push_str(piece);
        for (offset, &byte) in piece.as_bytes().iter().enumerate() {
            if let Some(valid) = self.verdict {
                // After the root only white space may follow.
                self.verdict = Some(valid && is_blank(byte));
                continue;
            }
            let Some(root) = self.root else {
                if !is_blank(byte) {
                    self.root = Some(byte);
                    match byte {
                        b'{' | b'[' => self.depth = 1,
                        b'"' => self.in_string = true,
                        _ => {}
                    }
                }
                continue;
            };
            if !matches!(root, b'{' | b'[' | b'"') {
                continue;
            }
            let closes = if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                !self.in_string && self.depth == 0
            } else {
                match byte {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                    _ => {}
                }
                self.depth == 0
            };
            if closes {
                let end = start + offset + 1;
                self.verdict = Some(self.text.get(..end).is_some_and(parses));
            }
        }
    }

    /// Whether the text so far is one whole JSON value (white space around it allowed).
    pub(super) fn is_complete(&self) -> bool {
        match (self.root, self.verdict) {
            (_, Some(valid)) => valid,
            (None, None) | (Some(b'{' | b'[' | b'"'), None) => false,
            (Some(_), None) => self.text.len() <= MAX_SCALAR_BYTES && parses(&self.text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn streamed(pieces: &[&str]) -> StreamedJson {
        let mut json = StreamedJson::default();
        for piece in pieces {
            json.push(piece);
        }
        json
    }

    /// What the translator asked before: the whole text parsed at every question.
    fn parsed_whole(text: &str) -> bool {
        !text.trim().is_empty() && parses(text)
    }

    #[test]
    fn given_an_object_in_pieces_then_it_is_complete_only_once_it_closes() {
        let json = streamed(&["{\"path\": \"a}", "\\\"b\"", ", \"n\": [1, {\"x\": 2}]", "}"]);
        assert!(json.is_complete(), "{}", json.as_str());
        assert!(!streamed(&["{\"path\": \"a}\"", ", \"n\": [1, {\"x\": 2}]"]).is_complete());
    }

    #[test]
    fn given_text_after_the_closed_root_then_only_white_space_keeps_it_complete() {
        assert!(streamed(&["{}", " \n"]).is_complete());
        assert!(!streamed(&["{}", " x"]).is_complete());
        assert!(!streamed(&["{} {}"]).is_complete());
    }

    #[test]
    fn given_invalid_json_that_closes_then_it_is_never_complete() {
        assert!(!streamed(&["{a}"]).is_complete());
        assert!(!streamed(&["{\"a\":1]", "}"]).is_complete());
    }

    #[test]
    fn given_scalars_then_short_ones_are_judged_by_parsing_and_long_ones_wait() {
        assert!(streamed(&["12"]).is_complete());
        assert!(streamed(&["\"a", "b\""]).is_complete());
        assert!(!streamed(&[""]).is_complete());
        assert!(!streamed(&[&"9".repeat(MAX_SCALAR_BYTES + 1)]).is_complete());
    }

    #[test]
    fn given_a_long_object_in_one_byte_pieces_then_judging_it_after_each_costs_linear_time() {
        // 200,000 pieces; parsing the whole text after each would parse ~20 GB.
        let text = format!("{{\"data\": \"{}\"}}", "x".repeat(200_000));
        let mut json = StreamedJson::default();
        let started = std::time::Instant::now();
        for byte in text.as_bytes() {
            json.push(std::str::from_utf8(std::slice::from_ref(byte)).unwrap_or_default());
            let _ = json.is_complete();
        }
        assert!(json.is_complete());
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            "[a-z\"\\\\{}\\[\\] ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z{}\"]{1,4}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn given_any_json_cut_anywhere_then_each_prefix_is_judged_as_parsing_the_whole_would(
            value in json_value(),
            before in "[ \n]{0,2}",
            after in prop_oneof![Just(String::new()), Just(" ".to_string()), Just(" x".to_string()), Just("}".to_string())],
            cuts in proptest::collection::vec(1usize..6, 1..40),
        ) {
            let text = format!("{before}{value}{after}");
            let mut json = StreamedJson::default();
            let (mut at, mut sizes) = (0, cuts.iter().cycle());
            while at < text.len() {
                let mut end = (at + sizes.next().copied().unwrap_or(1)).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                json.push(&text[at..end]);
                at = end;
                prop_assert_eq!(json.is_complete(), parsed_whole(&text[..at]), "{:?}", &text[..at]);
            }
        }
    }
}
