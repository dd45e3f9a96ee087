//! Request completion (spec §1.5) and command-line extraction (spec §1.6).
//!
//! The manager protocol has no length prefix: the server decides from the bytes received so
//! far whether a request is complete. The rules differ between the first chunk read from the
//! socket and the later ones, and clients (the GUI, `nc`) depend on them, so they are
//! reproduced exactly. The one deliberate addition is a size cap.

/// How many bytes the reference asks for per `recv`; one read of the server is one "chunk".
pub const READ_CHUNK: usize = 4095;

/// How long the server waits for more bytes after an incomplete chunk (spec §1.5 step 3).
pub const IDLE_COMPLETION: std::time::Duration = std::time::Duration::from_millis(500);

/// Result of feeding one chunk to a [`RequestAssembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The request is complete; stop reading.
    Complete,
    /// Keep reading (subject to the 500 ms idle rule, EOF and the deadline).
    NeedMore,
}

/// The request grew past the configured cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The cap in bytes.
    pub limit: usize,
}

/// Collects the chunks of one request and applies the completion rules of spec §1.5.
///
/// Each search only looks at the new bytes (plus an overlap of the pattern length), so a
/// client trickling a large request cannot make the server rescan the whole buffer per byte.
#[derive(Debug)]
pub struct RequestAssembler {
    buf: Vec<u8>,
    limit: usize,
    chunks: usize,
    /// Offset of the first NUL byte: a plain request is read as a C string, so nothing after it
    /// can complete the request.
    first_nul: Option<usize>,
}

impl RequestAssembler {
    /// A new, empty request with a cap of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            limit,
            chunks: 0,
            first_nul: None,
        }
    }

    /// Appends one chunk as returned by one read of the socket.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Progress, TooLarge> {
        if self.buf.len() + chunk.len() > self.limit {
            return Err(TooLarge { limit: self.limit });
        }
        let old_len = self.buf.len();
        self.buf.extend_from_slice(chunk);
        if self.first_nul.is_none() {
            self.first_nul = chunk.iter().position(|&b| b == 0).map(|p| old_len + p);
        }
        self.chunks += 1;
        let complete = if self.chunks == 1 {
            // First chunk: `aes` is matched case-sensitively here, and a plain request needs
            // the full blank line.
            if self.buf.starts_with(b"aes") {
                find(&self.buf, b":sea", 0).is_some()
            } else {
                find(self.c_string(), b"\r\n\r\n", 0).is_some()
            }
        } else if is_encrypted(&self.buf) {
            find(&self.buf, b":sea", old_len.saturating_sub(3)).is_some()
        } else {
            // Later chunks: a single CRLF anywhere completes a plain request.
            find(self.c_string(), b"\r\n", old_len.saturating_sub(1)).is_some()
        };
        Ok(if complete {
            Progress::Complete
        } else {
            Progress::NeedMore
        })
    }

    /// The bytes collected so far.
    pub fn request(&self) -> &[u8] {
        &self.buf
    }

    /// Number of bytes collected so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn c_string(&self) -> &[u8] {
        &self.buf[..self.first_nul.unwrap_or(self.buf.len())]
    }
}

/// Whether a request is in the encrypted frame: it starts with `aes`, any case (spec §1.6).
pub fn is_encrypted(request: &[u8]) -> bool {
    request.len() >= 3 && request[..3].eq_ignore_ascii_case(b"aes")
}

/// Turns the text of a request (a plain request, or the plaintext of an encrypted one) into the
/// command line the dispatcher sees (spec §1.6).
///
/// Returns `None` when the connection is to be closed without a reply: the text is empty once
/// cut at its first NUL byte and at `\r\n\r\n`. Otherwise the line is cut at its first `\r` or
/// `\n`, so it may be empty (e.g. a request that starts with a line break).
pub fn command_line(text: &[u8]) -> Option<&[u8]> {
    let text = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
    let text = &text[..find(text, b"\r\n\r\n", 0).unwrap_or(text.len())];
    if text.is_empty() {
        return None;
    }
    let end = text
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(text.len());
    Some(&text[..end])
}

/// Position of the first `needle` in `haystack` at or after `from`.
pub(crate) fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() || from > haystack.len() - needle.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&[u8]]) -> Vec<Progress> {
        let mut asm = RequestAssembler::new(1 << 20);
        chunks
            .iter()
            .map(|c| asm.push(c).expect("under the cap"))
            .collect()
    }

    #[test]
    fn first_chunk_needs_blank_line() {
        assert_eq!(feed(&[b"getversion\r\n\r\n"]), [Progress::Complete]);
        assert_eq!(feed(&[b"getversion\r\n"]), [Progress::NeedMore]);
        assert_eq!(feed(&[b"getversion\n"]), [Progress::NeedMore]);
        assert_eq!(feed(&[b"getversion"]), [Progress::NeedMore]);
    }

    #[test]
    fn later_chunks_need_only_crlf() {
        assert_eq!(
            feed(&[b"getver", b"sion\r\n"]),
            [Progress::NeedMore, Progress::Complete]
        );
        assert_eq!(
            feed(&[b"getver", b"sion\n"]),
            [Progress::NeedMore, Progress::NeedMore]
        );
        // CRLF split across two later chunks.
        assert_eq!(
            feed(&[b"get", b"version\r", b"\n"]),
            [Progress::NeedMore, Progress::NeedMore, Progress::Complete]
        );
        // CRLF whose CR sits in the first chunk.
        assert_eq!(
            feed(&[b"getversion\r", b"\n"]),
            [Progress::NeedMore, Progress::Complete]
        );
    }

    #[test]
    fn plain_request_is_a_c_string() {
        assert_eq!(feed(&[b"x\0\r\n\r\n"]), [Progress::NeedMore]);
        assert_eq!(
            feed(&[b"\0getversion", b"\r\n"]),
            [Progress::NeedMore, Progress::NeedMore]
        );
    }

    #[test]
    fn encrypted_frames() {
        assert_eq!(feed(&[b"aes-128-cbc:\x01\x02:sea"]), [Progress::Complete]);
        // Upper case is not recognised in the first chunk (reference quirk)...
        assert_eq!(feed(&[b"AES-128-CBC:\x01\x02:sea"]), [Progress::NeedMore]);
        // ...but is in later ones, and the marker may straddle chunks.
        assert_eq!(
            feed(&[b"AES-128-CBC:\x01", b"\x02:s", b"ea"]).last(),
            Some(&Progress::Complete)
        );
        assert_eq!(feed(&[b"aes-128-cbc:\x01\x02"]), [Progress::NeedMore]);
        // An encrypted request is never completed by CRLF.
        assert_eq!(
            feed(&[b"aes:abc", b"\r\n\r\n"]),
            [Progress::NeedMore, Progress::NeedMore]
        );
    }

    #[test]
    fn cap_is_enforced() {
        let mut asm = RequestAssembler::new(8);
        assert_eq!(asm.push(b"12345678"), Ok(Progress::NeedMore));
        assert_eq!(asm.push(b"9"), Err(TooLarge { limit: 8 }));
    }

    #[test]
    fn command_line_extraction() {
        assert_eq!(
            command_line(b"getversion\r\n\r\n"),
            Some(&b"getversion"[..])
        );
        assert_eq!(
            command_line(b"getversion\r\ngetverbuild\r\n\r\n"),
            Some(&b"getversion"[..])
        );
        assert_eq!(
            command_line(b"getverbuild\ngetversion"),
            Some(&b"getverbuild"[..])
        );
        assert_eq!(
            command_line(b"listcalls {}\r\n\r\nhelp"),
            Some(&b"listcalls {}"[..])
        );
        assert_eq!(command_line(b"\r\n\r\n"), None);
        assert_eq!(command_line(b""), None);
        assert_eq!(command_line(b"\0getversion\r\n\r\n"), None);
        assert_eq!(command_line(b"\nfoo"), Some(&b""[..]));
        assert_eq!(
            command_line(b"help listcalls \r\n"),
            Some(&b"help listcalls "[..])
        );
    }

    #[test]
    fn encrypted_detection_is_case_insensitive() {
        assert!(is_encrypted(b"aes:x"));
        assert!(is_encrypted(b"AeS-256-cbc:x"));
        assert!(!is_encrypted(b"ae"));
        assert!(!is_encrypted(b"listcalls"));
    }
}
