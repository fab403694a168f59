//! Server-sent events from an upstream's bytes, as the WHATWG event-stream format
//! defines them: lines end with LF, CR LF or CR; `data:` lines join with LF;
//! `event:` names the event (`message` when unnamed); a blank line dispatches an
//! event that has data; comments (`:`) and other fields are ignored; an event left
//! unfinished when the stream ends is dropped; a leading byte-order mark is skipped.
//!
//! Written here for two bounds an upstream must not escape. An event (so also a
//! line) is at most [`MAX_EVENT_BYTES`]: a line that never ended was a buffer that
//! grew for as long as the upstream sent. And each byte is looked at once: the
//! crate used before rescanned the pending line at every chunk, so a long line
//! cost time quadratic in its length.

use std::collections::VecDeque;

/// Largest event read from an upstream: a Gemini event carrying a generated image
/// is some megabytes; nothing legitimate comes near this.
pub(crate) const MAX_EVENT_BYTES: usize = 32 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub event: String,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SseError {
    /// An event grew past [`MAX_EVENT_BYTES`].
    TooLarge,
    /// A line is not UTF-8.
    NotUtf8,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    /// The line being read (its end not seen yet).
    line: Vec<u8>,
    /// The event being read.
    name: String,
    data: String,
    /// The last chunk ended with CR: a LF starting the next one ends no line.
    after_cr: bool,
    /// The first line has ended (a byte-order mark before it is skipped).
    past_first_line: bool,
    ready: VecDeque<Event>,
}

impl Parser {
    /// Reads `bytes`; events they complete are then given by [`Parser::next_event`].
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<(), SseError> {
        if self.after_cr {
            self.after_cr = false;
            bytes = bytes.strip_prefix(b"\n").unwrap_or(bytes);
        }
        while let Some(at) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.take(&bytes[..at])?;
            self.end_line()?;
            let crlf = bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n');
            if bytes[at] == b'\r' && at + 1 == bytes.len() {
                self.after_cr = true;
            }
            bytes = &bytes[at + if crlf { 2 } else { 1 }..];
        }
        self.take(bytes)
    }

    pub fn next_event(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }

    fn take(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.name.len() + self.data.len() + self.line.len() + bytes.len() > MAX_EVENT_BYTES {
            return Err(SseError::TooLarge);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), SseError> {
        let mut line = std::mem::take(&mut self.line);
        if !self.past_first_line {
            self.past_first_line = true;
            if line.starts_with("\u{feff}".as_bytes()) {
                line.drain(..3);
            }
        }
        if line.is_empty() {
            self.dispatch();
            return Ok(());
        }
        let line = std::str::from_utf8(&line).map_err(|_| SseError::NotUtf8)?;
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => value.clone_into(&mut self.name),
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self) {
        let mut data = std::mem::take(&mut self.data);
        let name = std::mem::take(&mut self.name);
        if data.is_empty() {
            return;
        }
        data.pop();
        let event = if name.is_empty() { "message".to_owned() } else { name };
        self.ready.push_back(Event { event, data });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event of `text` fed in pieces of `size` bytes.
    fn parse(text: &[u8], size: usize) -> Result<Vec<Event>, SseError> {
        let mut parser = Parser::default();
        let mut events = Vec::new();
        for piece in text.chunks(size) {
            parser.push(piece)?;
            events.extend(std::iter::from_fn(|| parser.next_event()));
        }
        Ok(events)
    }

    fn event(name: &str, data: &str) -> Event {
        Event { event: name.into(), data: data.into() }
    }

    #[test]
    fn given_every_line_ending_split_anywhere_then_the_events_are_the_same() {
        let text = "\u{feff}: a comment\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\n\
                    data:first\rdata: second\r\rid: 7\nretry: 10\ndata\n\n\
                    event: ping\ndata: é日本🦀\n\nevent: lost\n\ndata: unfinished";
        let expected = vec![
            event("message_start", "{\"a\":1}"),
            event("message", "first\nsecond"),
            event("message", ""),
            event("ping", "é日本🦀"),
        ];
        for size in [1, 2, 3, 5, 7, 64, text.len()] {
            assert_eq!(parse(text.as_bytes(), size).unwrap(), expected, "pieces of {size}");
        }
    }

    #[test]
    fn given_an_event_without_data_then_nothing_is_dispatched_and_its_name_is_forgotten() {
        assert_eq!(parse(b"event: a\n\ndata: x\n\n", 4).unwrap(), vec![event("message", "x")]);
    }

    #[test]
    fn given_a_line_that_never_ends_then_it_is_refused_at_the_bound_without_growing_past_it() {
        let mut parser = Parser::default();
        parser.push(b"data: ").unwrap();
        let piece = vec![b'x'; 1 << 20];
        let mut refused = None;
        for i in 0..64 {
            if let Err(error) = parser.push(&piece) {
                refused = Some((i, error));
                break;
            }
        }
        assert_eq!(refused, Some((31, SseError::TooLarge)));
        assert!(parser.line.len() <= MAX_EVENT_BYTES);
    }

    #[test]
    fn given_many_short_data_lines_then_the_event_is_bounded_too() {
        let mut parser = Parser::default();
        let line = format!("data: {}\n", "y".repeat(1000));
        let refused = (0..40_000).map(|_| parser.push(line.as_bytes())).find_map(Result::err);
        assert_eq!(refused, Some(SseError::TooLarge));
    }

    #[test]
    fn given_a_line_that_is_not_utf8_then_it_is_refused() {
        assert_eq!(parse(b"data: \xff\xfe\n\n", 3), Err(SseError::NotUtf8));
    }
}
