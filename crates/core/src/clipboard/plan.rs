//! The pure decisions of the clipboard: which targets we answer and with what, Latin-1 for
//! `STRING`, how a large text is cut for INCR, and how a received transfer is checked against
//! the size limit and turned into text. No X here.

use std::ops::Range;

/// Default `maxBytes`: the most UTF-8 bytes written or read.
pub const DEFAULT_MAX_BYTES: usize = 1 << 20;
/// The highest `maxBytes` accepted.
pub const LIMIT_MAX_BYTES: usize = 16 << 20;
/// The largest property we write in one `ChangeProperty`: bigger texts go by INCR in chunks of
/// this size. A requestor that does not use BIG-REQUESTS can still take it, and the server
/// never holds more than one chunk of ours at a time (GTK sends INCR from a similar size).
pub const INCR_CHUNK: usize = 256 << 10;

/// `maxBytes` checked: 1..=16 MiB.
pub fn check_max_bytes(v: f64) -> Result<usize, String> {
    if v.fract() == 0.0 && (1.0..=LIMIT_MAX_BYTES as f64).contains(&v) {
        Ok(v as usize)
    } else {
        Err(format!(
            "maxBytes must be an integer 1..={LIMIT_MAX_BYTES} (16 MiB), got {}",
            crate::settings::js_number(v)
        ))
    }
}

/// A conversion target asked of us, by what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Targets,
    Timestamp,
    Utf8,
    /// `STRING`: ISO Latin-1.
    Latin1,
    /// `TEXT`: the owner picks the encoding; we answer UTF8_STRING.
    Text,
    Other,
}

/// The targets we offer, in the order `TARGETS` lists them.
pub const OFFERED: [Target; 5] = [
    Target::Targets,
    Target::Timestamp,
    Target::Utf8,
    Target::Latin1,
    Target::Text,
];

/// What to put in the requestor's property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The list of [`OFFERED`] targets (type ATOM, format 32).
    Targets,
    /// When we became the owner (type INTEGER, format 32).
    Timestamp,
    /// Text bytes of type UTF8_STRING.
    Utf8(Vec<u8>),
    /// Text bytes of type STRING.
    Latin1(Vec<u8>),
    /// A target we do not convert to: the notification carries property None.
    Refuse,
}

/// The answer to a request for `target` while we own `text`.
pub fn answer(target: Target, text: &str) -> Answer {
    match target {
        Target::Targets => Answer::Targets,
        Target::Timestamp => Answer::Timestamp,
        Target::Utf8 | Target::Text => Answer::Utf8(text.as_bytes().to_vec()),
        Target::Latin1 => Answer::Latin1(to_latin1_lossy(text)),
        Target::Other => Answer::Refuse,
    }
}

/// `text` in ISO Latin-1 (what `STRING` means in ICCCM), each character beyond U+00FF as '?'.
pub fn to_latin1_lossy(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// ISO Latin-1 bytes as text: every byte is the code point of the same number.
pub fn from_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// How a property's bytes of the given kind become text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Latin1,
}

/// The text in `bytes`; invalid UTF-8 is replaced rather than refused (a sloppy owner should
/// not make the clipboard unreadable).
pub fn decode(bytes: &[u8], encoding: Encoding) -> String {
    match encoding {
        Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        Encoding::Latin1 => from_latin1(bytes),
    }
}

/// The size above which a text goes by INCR: [`INCR_CHUNK`], or less when the server's request
/// limit (`max_request_bytes`, what x11rb reports) cannot carry that in one `ChangeProperty`
/// (24 bytes of header).
pub fn incr_chunk(max_request_bytes: usize) -> usize {
    INCR_CHUNK.min(max_request_bytes.saturating_sub(24)).max(4)
}

/// How `len` bytes are sent: `None` in one property; `Some(chunks)` by INCR, each range one
/// property, followed by an empty one that ends the transfer.
pub fn incr_plan(len: usize, chunk: usize) -> Option<Vec<Range<usize>>> {
    if len <= chunk {
        return None;
    }
    Some(
        (0..len)
            .step_by(chunk)
            .map(|start| start..(start + chunk).min(len))
            .collect(),
    )
}

/// How many 32-bit units to ask `GetProperty` for so that more than `room` bytes shows as
/// `bytes_after > 0` or a longer value: one unit beyond `room`.
pub fn words_for(room: usize) -> u32 {
    (room / 4 + 1).min(u32::MAX as usize) as u32
}

/// The text read so far of a transfer, held to the limit.
#[derive(Debug)]
pub struct Received {
    pub bytes: Vec<u8>,
    pub limit: usize,
}

/// More came than `maxBytes` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// Bytes known to be there (at least).
    pub at_least: usize,
    pub limit: usize,
}

impl Received {
    pub fn new(limit: usize) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
        }
    }

    /// Room left, in bytes.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.bytes.len())
    }

    /// Takes one property's value (`after`: the bytes `GetProperty` left behind).
    pub fn push(&mut self, value: &[u8], after: usize) -> Result<(), TooLarge> {
        let total = self.bytes.len() + value.len() + after;
        if total > self.limit {
            return Err(TooLarge {
                at_least: total,
                limit: self.limit,
            });
        }
        self.bytes.extend_from_slice(value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_answered_and_others_refused() {
        let text = "héllo € 😀";
        assert_eq!(answer(Target::Targets, text), Answer::Targets);
        assert_eq!(answer(Target::Timestamp, text), Answer::Timestamp);
        assert_eq!(
            answer(Target::Utf8, text),
            Answer::Utf8(text.as_bytes().to_vec())
        );
        assert_eq!(
            answer(Target::Text, text),
            Answer::Utf8(text.as_bytes().to_vec())
        );
        assert_eq!(
            answer(Target::Latin1, text),
            Answer::Latin1(b"h\xe9llo ? ?".to_vec())
        );
        assert_eq!(answer(Target::Other, text), Answer::Refuse);
        assert!(!OFFERED.contains(&Target::Other));
    }

    #[test]
    fn latin1_round_trips_what_it_can_hold() {
        let all: String = (0u8..=255).map(char::from).collect();
        assert_eq!(to_latin1_lossy(&all), (0u8..=255).collect::<Vec<_>>());
        assert_eq!(from_latin1(&to_latin1_lossy(&all)), all);
        assert_eq!(to_latin1_lossy("Ā€x"), b"??x");
        assert_eq!(decode(b"W\xf6rld", Encoding::Latin1), "Wörld");
        assert_eq!(decode("Wörld".as_bytes(), Encoding::Utf8), "Wörld");
        assert_eq!(decode(b"a\xffb", Encoding::Utf8), "a\u{fffd}b");
    }

    #[test]
    fn incr_plan_cuts_large_texts_into_chunks() {
        assert_eq!(incr_plan(0, 10), None);
        assert_eq!(incr_plan(10, 10), None);
        assert_eq!(incr_plan(11, 10), Some(vec![0..10, 10..11]));
        assert_eq!(incr_plan(30, 10), Some(vec![0..10, 10..20, 20..30]));
        let plan = incr_plan(600_000, INCR_CHUNK).unwrap();
        assert_eq!(plan.len(), 3);
        assert_eq!(plan.iter().map(|r| r.len()).sum::<usize>(), 600_000);
        assert!(plan.iter().all(|r| r.len() <= INCR_CHUNK));
    }

    #[test]
    fn chunk_fits_the_server_request_limit() {
        // Without BIG-REQUESTS a server takes 256 KiB requests: the header must fit too.
        assert_eq!(incr_chunk(262_140), 262_140 - 24);
        assert_eq!(incr_chunk(16 << 20), INCR_CHUNK);
        assert!(incr_chunk(0) > 0);
    }

    #[test]
    fn max_bytes_is_checked() {
        assert_eq!(check_max_bytes(1.0), Ok(1));
        assert_eq!(check_max_bytes(16.0 * 1024.0 * 1024.0), Ok(LIMIT_MAX_BYTES));
        for bad in [0.0, -1.0, 1.5, 16.0 * 1024.0 * 1024.0 + 1.0, f64::NAN] {
            let e = check_max_bytes(bad).unwrap_err();
            assert!(e.starts_with("maxBytes must be"), "{e}");
        }
    }

    #[test]
    fn received_enforces_the_limit() {
        let mut r = Received::new(10);
        assert_eq!(words_for(r.room()), 3);
        r.push(b"12345", 0).unwrap();
        assert_eq!(r.room(), 5);
        r.push(b"12345", 0).unwrap();
        assert_eq!(
            r.push(b"1", 0),
            Err(TooLarge {
                at_least: 11,
                limit: 10
            })
        );
        let mut r = Received::new(10);
        assert_eq!(
            r.push(b"12", 9),
            Err(TooLarge {
                at_least: 11,
                limit: 10
            })
        );
        assert_eq!(r.bytes, b"");
    }
}
