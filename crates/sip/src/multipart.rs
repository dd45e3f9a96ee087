//! Finding the SDP part of a multipart body (RFC 2046), e.g. SIP-I/SIP-T INVITEs that carry
//! `application/sdp` and `application/isup` together.

use crate::text::{Lines, trim};
use crate::values::{boundary, media_type};

/// Offsets of delimiter lines `--boundary`: (start of the line, start of the next line,
/// closing delimiter?).
fn next_delimiter(body: &[u8], from: usize, b: &[u8]) -> Option<(usize, usize, bool)> {
    let mut pos = from;
    while pos < body.len() {
        let rel = memchr::memmem::find(&body[pos..], b)?;
        let at = pos + rel;
        pos = at + 1;
        if at < 2 || &body[at - 2..at] != b"--" {
            continue;
        }
        let line = at - 2;
        if line != 0 && body[line - 1] != b'\n' {
            continue;
        }
        let after = at + b.len();
        let closing = body[after..].starts_with(b"--");
        let next =
            crate::text::find_byte(b'\n', &body[after..]).map_or(body.len(), |i| after + i + 1);
        return Some((line, next, closing));
    }
    None
}

/// The content of the first `application/sdp` part of a multipart body whose Content-Type
/// (with its `boundary` parameter) is `content_type`.
pub fn find_sdp_part<'b>(body: &'b [u8], content_type: &[u8]) -> Option<&'b [u8]> {
    let b = boundary(content_type)?;
    let (_, mut part_start, mut closing) = next_delimiter(body, 0, b)?;
    while !closing {
        let (end_line, next_start, next_closing) =
            next_delimiter(body, part_start, b).unwrap_or((body.len(), body.len(), true));
        // The line break before a delimiter belongs to the delimiter.
        let mut end = end_line;
        if end > part_start && body[end - 1] == b'\n' {
            end -= 1;
            if end > part_start && body[end - 1] == b'\r' {
                end -= 1;
            }
        }
        let part = &body[part_start..end.max(part_start)];
        if let Some(content) = sdp_content(part) {
            return Some(content);
        }
        part_start = next_start;
        closing = next_closing;
    }
    None
}

/// The content of one part if its Content-Type is application/sdp.
fn sdp_content(part: &[u8]) -> Option<&[u8]> {
    let mut is_sdp = false;
    let mut consumed = 0;
    for line in Lines::new(part) {
        consumed += line.len() + 1;
        if part.get(consumed - 1) == Some(&b'\r') {
            consumed += 1;
        }
        if line.is_empty() {
            return is_sdp.then(|| &part[consumed.min(part.len())..]);
        }
        if let Some(colon) = crate::text::find_byte(b':', line) {
            let name = trim(&line[..colon]);
            if (name.eq_ignore_ascii_case(b"content-type") || name.eq_ignore_ascii_case(b"c"))
                && media_type(&line[colon + 1..]).eq_ignore_ascii_case(b"application/sdp")
            {
                is_sdp = true;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--unique-boundary-1\r\n\
Content-Type: application/isup;version=itu-t92+\r\n\
Content-Disposition: signal;handling=optional\r\n\
\r\n\
\x01\x00\x49\x00\r\n\
--unique-boundary-1\r\n\
content-type:  Application/SDP\r\n\
\r\n\
v=0\r\n\
o=- 1 1 IN IP4 192.0.2.1\r\n\
c=IN IP4 192.0.2.1\r\n\
m=audio 4000 RTP/AVP 0\r\n\
--unique-boundary-1--\r\n";

    #[test]
    fn finds_sdp() {
        let sdp =
            find_sdp_part(BODY, b"multipart/mixed;boundary=unique-boundary-1").expect("sdp part");
        assert!(sdp.starts_with(b"v=0\r\n"));
        assert!(sdp.ends_with(b"m=audio 4000 RTP/AVP 0"));
    }

    #[test]
    fn lf_only_and_preamble() {
        let body =
            b"preamble\n--xx\nContent-Type: application/sdp\n\nv=0\nm=audio 1 RTP/AVP 0\n--xx--\n";
        assert_eq!(
            find_sdp_part(body, b"multipart/mixed; boundary=\"xx\""),
            Some(&b"v=0\nm=audio 1 RTP/AVP 0"[..])
        );
    }

    #[test]
    fn absent() {
        assert_eq!(find_sdp_part(BODY, b"multipart/mixed"), None);
        assert_eq!(find_sdp_part(BODY, b"multipart/mixed;boundary=other"), None);
        let body = b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--";
        assert_eq!(find_sdp_part(body, b"multipart/mixed;boundary=b"), None);
        // Unterminated: the last part runs to the end.
        let body = b"--b\r\nc: application/sdp\r\n\r\nv=0\r\n";
        assert_eq!(
            find_sdp_part(body, b"multipart/mixed;boundary=b"),
            Some(&b"v=0"[..])
        );
        assert_eq!(find_sdp_part(b"--b", b"multipart/mixed;boundary=b"), None);
    }
}
