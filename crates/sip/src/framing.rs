//! Message boundaries: several messages in one UDP datagram, and framing of a TCP byte stream
//! with resynchronisation after garbage.

use crate::error::ParseError;
use crate::message::{Framing, scan};
use crate::method::KNOWN;

/// Iterator over the messages of one UDP datagram (split by Content-Length), from
/// [`split_datagram`]. Yields each message's bytes (parse them with
/// [`crate::Message::parse`] and [`Framing::Datagram`]); after an error it stops.
#[derive(Debug, Clone)]
pub struct SplitDatagram<'b> {
    rest: &'b [u8],
}

/// Splits a UDP datagram into its SIP messages. Padding (CR, LF, SP, HT, NUL) between and after
/// messages is skipped.
pub fn split_datagram(datagram: &[u8]) -> SplitDatagram<'_> {
    SplitDatagram { rest: datagram }
}

fn is_padding(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0)
}

impl<'b> Iterator for SplitDatagram<'b> {
    type Item = Result<&'b [u8], ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let skip = self.rest.iter().take_while(|&&b| is_padding(b)).count();
        let rest = &self.rest[skip..];
        if rest.is_empty() {
            self.rest = rest;
            return None;
        }
        match scan(rest, Framing::Datagram, |_| Ok(())) {
            Ok(Some(head)) => {
                self.rest = &rest[head.consumed..];
                Some(Ok(&rest[..head.consumed]))
            }
            // Datagram framing never asks for more bytes; treat it as the end regardless.
            Ok(None) => {
                self.rest = &[];
                None
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// What the start of a TCP stream buffer holds, from [`frame_stream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A whole message occupies `buf[..n]`.
    Complete(usize),
    /// `buf[..n]` is CR/LF keep-alive padding: drop it and call again.
    Keepalive(usize),
    /// The first message is not complete yet: keep the bytes and wait for more.
    Partial,
}

/// A framing error with resynchronisation guidance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{error} (resync at {resync})")]
pub struct FrameError {
    /// Why the bytes at the start do not form a message.
    pub error: ParseError,
    /// Drop `buf[..resync]` and call again: the offset of the next line that starts like a SIP
    /// message (`SIP/2.0 ` or a known method and a space) or could still become one, else
    /// `buf.len()`. Always > 0, so the caller makes progress.
    pub resync: usize,
}

/// Frames the first SIP message of a TCP stream buffer (Content-Length framing; a missing
/// Content-Length means an empty body). Limits ([`crate::MAX_LINE_LEN`],
/// [`crate::MAX_MESSAGE_LEN`]) bound what the caller must buffer.
pub fn frame_stream(buf: &[u8]) -> Result<Frame, FrameError> {
    let ka = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if ka > 0 {
        return Ok(Frame::Keepalive(ka));
    }
    if buf.is_empty() {
        return Ok(Frame::Partial);
    }
    match scan(buf, Framing::Stream, |_| Ok(())) {
        Ok(Some(head)) => Ok(Frame::Complete(head.consumed)),
        Ok(None) => Ok(Frame::Partial),
        Err(error) => Err(FrameError {
            error,
            resync: resync_offset(buf),
        }),
    }
}

/// Whether `line` starts like a SIP start line, or is a prefix that still could.
fn could_start_message(line: &[u8]) -> bool {
    // `zip` stops at the shorter side: a short line is checked as a prefix of the pattern.
    let matches =
        |pat: &[u8], tail: &[u8]| line.iter().zip(pat.iter().chain(tail)).all(|(a, b)| a == b);
    matches(b"SIP/2.0 ", b"") || KNOWN.iter().any(|(name, _)| matches(name, b" "))
}

/// The first line start after offset 0 that could begin a message, else `buf.len()`.
fn resync_offset(buf: &[u8]) -> usize {
    let mut pos = 0;
    while let Some(rel) = crate::text::find_byte(b'\n', &buf[pos..]) {
        pos += rel + 1;
        if pos < buf.len() && could_start_message(&buf[pos..]) {
            return pos;
        }
    }
    buf.len().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_candidates() {
        assert!(could_start_message(b"SIP/2.0 200 OK"));
        assert!(could_start_message(b"SIP/2"));
        assert!(could_start_message(b"INVITE sip:x SIP/2.0"));
        assert!(could_start_message(b"INV"));
        assert!(could_start_message(b"BYE "));
        assert!(!could_start_message(b"BYEX "));
        assert!(!could_start_message(b"HTTP/1.1 200 OK"));
        assert!(!could_start_message(b"v=0"));
    }

    #[test]
    fn resync() {
        assert_eq!(
            resync_offset(b"garbage\r\nmore\r\nBYE sip:x SIP/2.0\r\n"),
            15
        );
        assert_eq!(resync_offset(b"garbage\r\nmore\r\n"), 15);
        assert_eq!(resync_offset(b"garbage"), 7);
        assert_eq!(resync_offset(b"garbage\r\nSIP/"), 9);
    }

    #[test]
    fn keepalive_and_empty() {
        assert_eq!(frame_stream(b"\r\n\r\nINV"), Ok(Frame::Keepalive(4)));
        assert_eq!(frame_stream(b""), Ok(Frame::Partial));
        assert_eq!(split_datagram(b"\r\n\0 ").count(), 0);
    }
}
