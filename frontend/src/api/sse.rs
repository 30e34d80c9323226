//! A Server-Sent Events parser (the WHATWG event-stream format) fed with the body's bytes as they
//! arrive. Lines are split on bytes, before decoding: CR and LF never occur inside a multi-byte
//! UTF-8 sequence, so a character split across two chunks is joined again before it is decoded.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `event:`, or `message` when the event named none.
    pub name: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The stream's last event id as of this event (`id:` persists across events): where a
    /// reconnection resumes.
    pub id: Option<String>,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes of the line not finished yet.
    line: Vec<u8>,
    /// The last chunk ended in CR: an LF opening the next one ends no second line.
    after_cr: bool,
    /// The start of the stream is still to come (a UTF-8 BOM there is dropped).
    started: bool,
    name: String,
    data: String,
    has_data: bool,
    /// The `id:` read in the event being parsed; it counts only once that event ends (as in
    /// EventSource), so an event cut off mid-way is sent again after a resume.
    id_buffer: Option<String>,
    last_id: Option<String>,
}

impl Parser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk of the body; returns the events it completed.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Vec<Event> {
        if !self.started && !chunk.is_empty() {
            let bom = [0xEF, 0xBB, 0xBF];
            let held = self.line.len();
            let want = bom.len().saturating_sub(held).min(chunk.len());
            // The BOM may itself be split: hold its bytes until it is complete or ruled out.
            if bom[..held] == self.line[..] && bom[held..held + want] == chunk[..want] {
                if held + want < bom.len() {
                    self.line.extend_from_slice(chunk);
                    return Vec::new();
                }
                self.line.clear();
                chunk = &chunk[want..];
            }
            self.started = true;
        }
        let mut events = Vec::new();
        for &byte in chunk {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_ended(&line) {
                        events.push(event);
                    }
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(byte);
                }
            }
        }
        events
    }

    fn line_ended(&mut self, line: &[u8]) -> Option<Event> {
        if line.is_empty() {
            return self.dispatch();
        }
        let line = String::from_utf8_lossy(line);
        if line.starts_with(':') {
            // A comment: keep-alives.
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.name = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id_buffer = Some(value.to_owned()),
            // `retry` is for EventSource's own reconnection; this client has its own backoff.
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        if self.id_buffer.is_some() {
            self.last_id = self.id_buffer.take();
        }
        let name = std::mem::take(&mut self.name);
        let data = std::mem::take(&mut self.data);
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(Event {
            name: if name.is_empty() {
                "message".to_owned()
            } else {
                name
            },
            data,
            id: self.last_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str, id: Option<&str>) -> Event {
        Event {
            name: name.to_owned(),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        }
    }

    /// Feeds `body` cut at every `cut` bytes and collects the events.
    fn parse_in_pieces(body: &[u8], cut: usize) -> Vec<Event> {
        let mut parser = Parser::new();
        body.chunks(cut).flat_map(|c| parser.feed(c)).collect()
    }

    #[test]
    fn events_come_out_the_same_however_the_body_is_cut() {
        let body = "id: 7\nevent: log\ndata: {\"message\":\"Mwanza – ✓ 🦟\"}\n\n\
                    : keep-alive\n\n\
                    event: state\ndata: {\"state\":\"RUNNING\"}\n\n\
                    event: end\ndata: {}\n\n"
            .as_bytes();
        let expected = vec![
            event("log", "{\"message\":\"Mwanza – ✓ 🦟\"}", Some("7")),
            event("state", "{\"state\":\"RUNNING\"}", Some("7")),
            event("end", "{}", Some("7")),
        ];
        for cut in 1..=body.len() {
            assert_eq!(
                parse_in_pieces(body, cut),
                expected,
                "cut every {cut} bytes"
            );
        }
    }

    #[test]
    fn crlf_cr_and_lf_all_end_lines_even_when_a_crlf_is_split() {
        let body = b"event: log\r\ndata: a\r\n\r\nevent: log\rdata: b\r\rdata: c\n\n";
        let expected = vec![
            event("log", "a", None),
            event("log", "b", None),
            event("message", "c", None),
        ];
        for cut in 1..=body.len() {
            assert_eq!(
                parse_in_pieces(body, cut),
                expected,
                "cut every {cut} bytes"
            );
        }
    }

    #[test]
    fn data_lines_join_with_newlines_and_an_event_without_data_is_not_dispatched() {
        let mut parser = Parser::new();
        let events =
            parser.feed(b"data: one\ndata:two\ndata\n\nevent: empty\n\nid: 3\n\ndata: z\n\n");
        // An id alone still moves the resume point.
        assert_eq!(
            events,
            vec![
                event("message", "one\ntwo\n", None),
                event("message", "z", Some("3"))
            ]
        );
    }

    #[test]
    fn an_unfinished_event_at_the_end_of_the_stream_is_not_dispatched_nor_its_id_kept() {
        let mut parser = Parser::new();
        let first = parser.feed(b"id: 1\nevent: log\ndata: x\n\nid: 2\nevent: log\ndata: y\n");
        assert_eq!(first, vec![event("log", "x", Some("1"))]);
        // The stream was cut here; a resumed stream (a new parser) starts after id 1 and sends 2 again.
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_dropped_even_when_split() {
        let body = "\u{feff}data: x\n\n".as_bytes();
        for cut in 1..=body.len() {
            assert_eq!(
                parse_in_pieces(body, cut),
                vec![event("message", "x", None)],
                "cut every {cut} bytes"
            );
        }
    }

    #[test]
    fn an_id_with_a_nul_is_ignored() {
        let mut parser = Parser::new();
        let events = parser.feed(b"id: 5\n\nid: 6\0\ndata: x\n\n");
        assert_eq!(events, vec![event("message", "x", Some("5"))]);
    }
}
