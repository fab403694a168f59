//! Bounded copies of bodies: at most `max` bytes of each, cut on a character
//! boundary and flagged when cut.

use serde::Serialize;

/// A body as stored: text (bodies are JSON or server-sent events), and whether it was cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapturedBody {
    pub text: String,
    pub truncated: bool,
}

impl CapturedBody {
    /// The first `max` bytes of `bytes`.
    pub fn of(bytes: &[u8], max: usize) -> Self {
        let mut bounded = Bounded::new(max);
        bounded.push(bytes);
        bounded.finish()
    }
}

/// A body collected piece by piece (a stream's frames) up to a bound.
#[derive(Debug)]
pub struct Bounded {
    bytes: Vec<u8>,
    max: usize,
    truncated: bool,
}

impl Bounded {
    pub fn new(max: usize) -> Self {
        Bounded { bytes: Vec::new(), max, truncated: false }
    }

    /// Keeps what still fits of `piece`.
    pub fn push(&mut self, piece: &[u8]) {
        let room = self.max.saturating_sub(self.bytes.len());
        if piece.len() > room {
            self.truncated = true;
        }
        self.bytes.extend_from_slice(&piece[..piece.len().min(room)]);
    }

    pub fn finish(self) -> CapturedBody {
        let Bounded { mut bytes, truncated, .. } = self;
        // A cut may split a character: drop its first bytes rather than store a
        // replacement character the client never sent.
        if let Err(error) = std::str::from_utf8(&bytes) {
            if truncated && error.error_len().is_none() {
                bytes.truncate(error.valid_up_to());
            }
        }
        // PostgreSQL text cannot hold NUL; JSON never carries one raw.
        let text = String::from_utf8_lossy(&bytes).replace('\0', "\u{FFFD}");
        CapturedBody { text, truncated }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_body_within_the_bound_when_captured_then_it_is_kept_whole() {
        let body = CapturedBody::of(br#"{"model":"echo/demo"}"#, 64);
        assert_eq!(body, CapturedBody { text: r#"{"model":"echo/demo"}"#.into(), truncated: false });
    }

    #[test]
    fn given_a_body_of_exactly_the_bound_when_captured_then_it_is_not_flagged() {
        assert_eq!(CapturedBody::of(b"abcd", 4), CapturedBody { text: "abcd".into(), truncated: false });
    }

    #[test]
    fn given_a_longer_body_when_captured_then_it_is_cut_at_the_bound_and_flagged() {
        assert_eq!(CapturedBody::of(b"abcdefgh", 5), CapturedBody { text: "abcde".into(), truncated: true });
    }

    #[test]
    fn given_pieces_when_they_pass_the_bound_then_only_the_first_bytes_are_kept() {
        let mut bounded = Bounded::new(6);
        for piece in [&b"data: "[..], b"one\n\n", b"data: two\n\n"] {
            bounded.push(piece);
        }
        assert_eq!(bounded.finish(), CapturedBody { text: "data: ".into(), truncated: true });
    }

    #[test]
    fn given_a_cut_inside_a_character_when_captured_then_the_partial_character_is_dropped() {
        // "é" is two bytes: a bound of 2 cuts it after "a".
        assert_eq!(CapturedBody::of("aé".as_bytes(), 2), CapturedBody { text: "a".into(), truncated: true });
    }

    #[test]
    fn given_a_nul_byte_when_captured_then_it_is_replaced() {
        assert_eq!(CapturedBody::of(b"a\0b", 8).text, "a\u{FFFD}b");
    }
}
