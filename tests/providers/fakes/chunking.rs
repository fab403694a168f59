//! Cuts a stream's bytes into pieces the way TCP may deliver them: anywhere, in the
//! middle of a line, between `\r` and `\n`, inside a multi-byte UTF-8 character.
//! The cuts come from a seeded RNG; the seed is printed once per fake, and setting
//! `GAIAROUTER_FAKE_SEED` replays a failing run.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const SEED_VARIABLE: &str = "GAIAROUTER_FAKE_SEED";

/// Longest piece: short enough that every frame of a small reply is cut somewhere.
const MAX_PIECE: usize = 40;

/// The seed for a fake's streams: `GAIAROUTER_FAKE_SEED` if set, else a fresh one.
/// Printed so that a failure can be reproduced.
#[allow(clippy::print_stderr)]
pub fn seed_for(origin: &str) -> u64 {
    let seed = std::env::var(SEED_VARIABLE).ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("fake upstream {origin}: streams cut with seed {seed} (replay: {SEED_VARIABLE}={seed})");
    seed
}

/// `text` as pieces of 1 to `MAX_PIECE` bytes cut at random, plus two cuts every seed
/// makes: inside the first multi-byte character and between the first `\r` and `\n`.
pub fn pieces(text: &str, seed: u64) -> Vec<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cuts = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        at += rng.random_range(1..=MAX_PIECE);
        cuts.push(at.min(bytes.len()));
    }
    if let Some(first_wide) = text.char_indices().find(|(_, c)| c.len_utf8() > 1) {
        cuts.push(first_wide.0 + 1);
    }
    if let Some(cr) = text.find("\r\n") {
        cuts.push(cr + 1);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut start = 0;
    for cut in cuts {
        if cut > start && cut <= bytes.len() {
            pieces.push(bytes[start..cut].to_vec());
            start = cut;
        }
    }
    if start < bytes.len() {
        pieces.push(bytes[start..].to_vec());
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pieces_put_back_together_are_the_text_and_split_a_character_and_a_crlf() {
        let text = "data: {\"text\":\"Café 日本 🦀\"}\r\n\r\n";
        for seed in 0..200 {
            let pieces = pieces(text, seed);
            assert_eq!(pieces.concat(), text.as_bytes(), "seed {seed}");
            assert!(pieces.iter().any(|p| std::str::from_utf8(p).is_err()), "seed {seed}: a character is cut");
            assert!(pieces.iter().any(|p| p.ends_with(b"\r")), "seed {seed}: a CRLF is cut");
            assert!(pieces.len() >= 2);
        }
    }
}
