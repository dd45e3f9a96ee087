//! The message parser: start line, header index, body framing by Content-Length.

use crate::error::{InvalidReason, ParseError};
use crate::header::{HeaderIter, HeaderKind, HeaderPos};
use crate::method::Method;
use crate::text::{eq_lower, find_blank, is_token, parse_u32};
use crate::{MAX_HEADERS, MAX_LINE_LEN, MAX_MESSAGE_LEN};

/// How the bytes were carried, which decides what a missing or short body means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// UDP: the datagram is complete. No Content-Length means the body is the rest of the
    /// datagram; a Content-Length beyond the datagram end keeps what is there and sets
    /// [`Message::body_truncated`]; a header section without its blank line ends at the
    /// datagram end.
    Datagram,
    /// TCP: bytes buffered so far. Incomplete data gives [`Parsed::Partial`]; no Content-Length
    /// means an empty body.
    Stream,
}

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'b> {
    /// `METHOD Request-URI SIP/2.0`
    Request {
        /// The method.
        method: Method<'b>,
        /// The Request-URI as written; parse it with [`crate::Uri::parse`].
        uri: &'b [u8],
    },
    /// `SIP/2.0 code reason`
    Response {
        /// The status code (100–699 in practice; any three digits are accepted).
        code: u16,
        /// The reason phrase (may be empty).
        reason: &'b [u8],
    },
}

/// A parsed SIP message: borrowed start line, header index and body.
/// `'h` is the caller's header index, `'b` the message bytes.
#[derive(Debug, Clone, Copy)]
pub struct Message<'h, 'b> {
    pub(crate) start: StartLine<'b>,
    /// The message from its start line on; header positions are relative to it.
    pub(crate) base: &'b [u8],
    pub(crate) index: &'h [HeaderPos],
    /// Per [`HeaderKind`], the index entry of its first header ([`NO_HEADER`] if none), so the
    /// typed accessors find a header without scanning the index.
    pub(crate) first: [u8; HeaderKind::COUNT],
    pub(crate) body: &'b [u8],
    pub(crate) content_length: Option<usize>,
    pub(crate) body_truncated: bool,
}

/// Outcome of a successful parse step.
#[derive(Debug, Clone, Copy)]
pub enum Parsed<'h, 'b> {
    /// A whole message and the number of bytes it used (leading line ends included).
    Complete(Message<'h, 'b>, usize),
    /// More bytes are needed (only with [`Framing::Stream`]).
    Partial,
}

impl<'h, 'b> Message<'h, 'b> {
    /// Parses one message from the start of `buf`, recording its headers in `index`
    /// (at most `min(index.len(), MAX_HEADERS)` of them; the index can be reused for the next
    /// message). Leading CR/LF (keep-alives) are skipped. Never allocates.
    pub fn parse(
        buf: &'b [u8],
        index: &'h mut [HeaderPos],
        framing: Framing,
    ) -> Result<Parsed<'h, 'b>, ParseError> {
        let cap = index.len().min(MAX_HEADERS);
        let mut n = 0;
        let mut first = [NO_HEADER; HeaderKind::COUNT];
        let head = scan(buf, framing, |h| {
            let slot = if n < cap { index.get_mut(n) } else { None };
            let slot = slot.ok_or(ParseError::TooManyHeaders)?;
            *slot = h;
            let f = &mut first[h.kind() as usize];
            if *f == NO_HEADER {
                // n < MAX_HEADERS < NO_HEADER
                *f = n as u8;
            }
            n += 1;
            Ok(())
        })?;
        let Some(head) = head else {
            return Ok(Parsed::Partial);
        };
        let message = Self {
            start: head.start,
            base: &buf[head.begin..],
            index: &index[..n],
            first,
            body: &buf[head.body.0..head.body.1],
            content_length: head.content_length,
            body_truncated: head.body_truncated,
        };
        Ok(Parsed::Complete(message, head.consumed))
    }

    /// The start line.
    pub fn start(&self) -> StartLine<'b> {
        self.start
    }

    /// All headers in order of appearance.
    pub fn headers(&self) -> HeaderIter<'h, 'b> {
        HeaderIter {
            index: self.index.iter(),
            base: self.base,
        }
    }

    /// Number of headers.
    pub fn header_count(&self) -> usize {
        self.index.len()
    }

    /// The body (possibly empty).
    pub fn body(&self) -> &'b [u8] {
        self.body
    }

    /// The Content-Length value, when present.
    pub fn content_length(&self) -> Option<usize> {
        self.content_length
    }

    /// True when a datagram ended before the announced Content-Length.
    pub fn body_truncated(&self) -> bool {
        self.body_truncated
    }
}

/// [`Message::first`] entry of a kind without headers.
pub(crate) const NO_HEADER: u8 = u8::MAX;
const _: () = assert!(MAX_HEADERS < NO_HEADER as usize);

/// What [`scan`] found: everything but the header index.
#[derive(Debug)]
pub(crate) struct Head<'b> {
    pub(crate) start: StartLine<'b>,
    pub(crate) begin: usize,
    pub(crate) body: (usize, usize),
    pub(crate) content_length: Option<usize>,
    pub(crate) body_truncated: bool,
    pub(crate) consumed: usize,
}

/// The next line starting at `pos`: (end of content without CR, start of the next line), or
/// `None` when no LF follows.
fn next_line(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let rel = crate::text::find_byte(b'\n', &buf[pos..])?;
    let lf = pos + rel;
    let end = if lf > pos && buf[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    Some((end, lf + 1))
}

/// The line at `pos` as (end of content without CR, start of the next line); `Ok(None)` when an
/// unterminated line needs more bytes (stream); an unterminated datagram line ends at its end.
#[inline]
fn line_at(buf: &[u8], pos: usize, stream: bool) -> Result<Option<(usize, usize)>, ParseError> {
    match next_line(buf, pos) {
        Some((end, _)) if end - pos > MAX_LINE_LEN => Err(ParseError::TooLarge),
        Some(l) => Ok(Some(l)),
        None if buf.len() - pos > MAX_LINE_LEN => Err(ParseError::TooLarge),
        None if stream => Ok(None),
        None => Ok(Some((buf.len(), buf.len()))),
    }
}

/// Shared core of the parser and the framers: walks the start line and header lines, hands each
/// (unfolded) header to `on_header`, and frames the body. `Ok(None)` = need more bytes.
pub(crate) fn scan<'b>(
    buf: &'b [u8],
    framing: Framing,
    mut on_header: impl FnMut(HeaderPos) -> Result<(), ParseError>,
) -> Result<Option<Head<'b>>, ParseError> {
    let stream = framing == Framing::Stream;
    let begin = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if begin == buf.len() {
        return if stream {
            Ok(None)
        } else {
            Err(ParseError::Invalid(InvalidReason::Empty))
        };
    }
    let Some((end, mut pos)) = line_at(buf, begin, stream)? else {
        return Ok(None);
    };
    let start = parse_start_line(&buf[begin..end])?;

    let mut content_length: Option<usize> = None;
    // Records a complete header (after its continuation lines, if any).
    let mut emit = |h: &PendingHeader| -> Result<(), ParseError> {
        if h.kind == HeaderKind::ContentLength {
            let n = parse_u32(&buf[h.value.0..h.value.1])
                .and_then(|v| usize::try_from(v).ok())
                .ok_or(ParseError::Invalid(InvalidReason::ContentLength))?;
            if content_length.is_some_and(|old| old != n) {
                return Err(ParseError::Invalid(InvalidReason::ContentLength));
            }
            content_length = Some(n);
        }
        let pos = HeaderPos::new(
            (h.name.0 - begin, h.name.1),
            (h.value.0 - begin, h.value.1 - h.value.0),
            h.kind,
        );
        on_header(pos.ok_or(ParseError::TooLarge)?)
    };
    // The header being collected; it is recorded once the next line shows it is complete.
    let mut pending: Option<PendingHeader> = None;
    let body_start = loop {
        if pos - begin > MAX_MESSAGE_LEN {
            return Err(ParseError::TooLarge);
        }
        // The line at `pos`; an empty one (a blank line, or the end of a datagram) ends the
        // header section, and its `next` is where the body starts.
        let (end, next) = if pos == buf.len() && !stream {
            (pos, pos)
        } else {
            let Some(line) = line_at(buf, pos, stream)? else {
                return Ok(None);
            };
            line
        };
        if end > pos && matches!(buf[pos], b' ' | b'\t') {
            let Some(p) = pending.as_mut() else {
                return Err(ParseError::Invalid(InvalidReason::Fold));
            };
            let line = &buf[pos..end];
            let trimmed = line.iter().rev().take_while(|&&b| b == b' ' || b == b'\t');
            let content_end = end - trimmed.count();
            if content_end > pos {
                p.value.1 = content_end;
            }
            pos = next;
            continue;
        }
        // Not a continuation: the previous header is complete.
        if let Some(p) = &pending {
            emit(p)?;
        }
        if end == pos {
            break next;
        }
        pending = Some(parse_header_line(buf, pos, end)?);
        pos = next;
    };

    let available = buf.len() - body_start;
    let (body_end, truncated) = match (framing, content_length) {
        (_, Some(n)) if (body_start - begin).saturating_add(n) > MAX_MESSAGE_LEN => {
            return Err(ParseError::TooLarge);
        }
        (Framing::Datagram, None) => (buf.len(), false),
        (Framing::Datagram, Some(n)) if n > available => (buf.len(), true),
        (Framing::Stream, None) => (body_start, false),
        (Framing::Stream, Some(n)) if n > available => return Ok(None),
        (_, Some(n)) => (body_start + n, false),
    };
    // Without Content-Length a datagram's body is the rest of it: the limit applies too.
    if body_end - begin > MAX_MESSAGE_LEN {
        return Err(ParseError::TooLarge);
    }
    Ok(Some(Head {
        start,
        begin,
        body: (body_start, body_end),
        content_length,
        body_truncated: truncated,
        consumed: body_end,
    }))
}

fn is_sp(b: &u8) -> bool {
    *b == b' ' || *b == b'\t'
}

/// Splits off the first run of non-blank bytes; returns (token, rest after the blanks).
fn token(s: &[u8]) -> (&[u8], &[u8]) {
    let n = find_blank(s).unwrap_or(s.len());
    let (t, rest) = s.split_at(n);
    let blanks = rest.iter().take_while(|b| is_sp(b)).count();
    (t, &rest[blanks..])
}

fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    let invalid = |r| Err(ParseError::Invalid(r));
    let lead = line.iter().take_while(|b| is_sp(b)).count();
    let trail = line.iter().rev().take_while(|b| is_sp(b)).count();
    let line = &line[lead..line.len().saturating_sub(trail).max(lead)];
    let (first, rest) = token(line);
    if first.len() >= 4 && eq_lower(&first[..4], b"sip/") {
        if !eq_lower(first, b"sip/2.0") {
            return invalid(InvalidReason::Version);
        }
        let (code, reason) = token(rest);
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
            return invalid(InvalidReason::StatusCode);
        }
        let code = code
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        return Ok(StartLine::Response { code, reason });
    }
    if first.is_empty() || !first.iter().all(|&b| is_token(b)) {
        return invalid(InvalidReason::Method);
    }
    let (uri, rest) = token(rest);
    if uri.is_empty() {
        return invalid(InvalidReason::RequestUri);
    }
    let (version, extra) = token(rest);
    if version.is_empty() {
        return invalid(InvalidReason::StartLine);
    }
    if !eq_lower(version, b"sip/2.0") || !extra.is_empty() {
        return invalid(InvalidReason::Version);
    }
    Ok(StartLine::Request {
        method: Method::from_bytes(first),
        uri,
    })
}

/// A header being collected: absolute (start, length) of its name, (start, end) of its value
/// (continuation lines move the end) and its kind.
#[derive(Debug)]
struct PendingHeader {
    name: (usize, usize),
    value: (usize, usize),
    kind: HeaderKind,
}

/// One header line `buf[pos..end]`: the name is validated and recognised in one go (a word at
/// a time; it cannot run past `end`, where CR, LF or the end of `buf` is), which also finds
/// the colon without a second search.
#[inline(always)]
fn parse_header_line(buf: &[u8], pos: usize, end: usize) -> Result<PendingHeader, ParseError> {
    let line = &buf[pos..end];
    let (name_len, kind) = HeaderKind::scan_name(&buf[pos..]);
    let name_len = name_len.min(line.len());
    let mut colon = name_len;
    while line.get(colon).is_some_and(is_sp) {
        colon += 1;
    }
    if name_len == 0 || line.get(colon) != Some(&b':') {
        return Err(ParseError::Invalid(InvalidReason::HeaderLine));
    }
    let mut vs = colon + 1;
    while line.get(vs).is_some_and(is_sp) {
        vs += 1;
    }
    let mut ve = line.len();
    while ve > vs && is_sp(&line[ve - 1]) {
        ve -= 1;
    }
    Ok(PendingHeader {
        name: (pos, name_len),
        value: (pos + vs, pos + ve.max(vs)),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
        parse_start_line(line)
    }

    #[test]
    fn start_lines() {
        assert_eq!(
            start(b"INVITE sip:a@b SIP/2.0"),
            Ok(StartLine::Request {
                method: Method::Invite,
                uri: b"sip:a@b"
            })
        );
        assert_eq!(
            start(b"SIP/2.0 200 OK"),
            Ok(StartLine::Response {
                code: 200,
                reason: b"OK"
            })
        );
        assert_eq!(
            start(b"SIP/2.0 180"),
            Ok(StartLine::Response {
                code: 180,
                reason: b""
            })
        );
        assert_eq!(
            start(b"FOO  sip:x \t SIP/2.0 "),
            Ok(StartLine::Request {
                method: Method::Other(b"FOO"),
                uri: b"sip:x"
            })
        );
        let bad = |r| Err(ParseError::Invalid(r));
        assert_eq!(start(b"SIP/3.0 200 OK"), bad(InvalidReason::Version));
        assert_eq!(start(b"SIP/2.0 20 OK"), bad(InvalidReason::StatusCode));
        assert_eq!(start(b"SIP/2.0 2x0 OK"), bad(InvalidReason::StatusCode));
        assert_eq!(start(b"INVITE sip:x HTTP/1.1"), bad(InvalidReason::Version));
        assert_eq!(
            start(b"INVITE sip:x SIP/2.0 x"),
            bad(InvalidReason::Version)
        );
        assert_eq!(start(b"INVITE sip:x"), bad(InvalidReason::StartLine));
        assert_eq!(start(b"INVITE"), bad(InvalidReason::RequestUri));
        assert_eq!(start(b"IN<VITE sip:x SIP/2.0"), bad(InvalidReason::Method));
        assert_eq!(start(b""), bad(InvalidReason::Method));
    }

    #[test]
    fn datagram_without_blank_line() {
        let mut h = [HeaderPos::EMPTY; 4];
        let Ok(Parsed::Complete(m, n)) = Message::parse(
            b"OPTIONS sip:x SIP/2.0\r\nCall-ID: a",
            &mut h,
            Framing::Datagram,
        ) else {
            panic!("expected complete");
        };
        assert_eq!(n, 33);
        assert_eq!(m.headers().next().map(|h| h.value), Some(&b"a"[..]));
        assert_eq!(m.body(), b"");
    }

    #[test]
    fn header_limit() {
        let mut h = [HeaderPos::EMPTY; 2];
        let r = Message::parse(
            b"BYE sip:x SIP/2.0\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n",
            &mut h,
            Framing::Stream,
        );
        assert_eq!(r.err(), Some(ParseError::TooManyHeaders));
    }
}
