//! Byte-level helpers shared by the SIP and SDP parsers: trimming, numbers, quoted strings and
//! comma-separated lists that respect quotes and angle brackets.

use std::borrow::Cow;

/// Linear whitespace as it can appear inside a (possibly folded) header value.
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(crate) fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_lws(b)).count();
    &s[n..]
}

pub(crate) fn trim_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|&&b| is_lws(b)).count();
    &s[..s.len() - n]
}

pub(crate) fn trim(s: &[u8]) -> &[u8] {
    trim_end(trim_start(s))
}

/// RFC 3261 `token` characters (header names, methods, parameter names), as a lookup table
/// because it sits in the per-byte loop of header names.
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

/// Position of the first `needle` in `hay`. SIP lines and values are short, where the call
/// and dispatch overhead of a vectorised search dominates; eight bytes at a time (SWAR) is
/// faster for the first few hundred bytes.
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    if hay.len() > 256 {
        // Most searches end early (a line in a large buffer): try the head first.
        return find_byte(needle, &hay[..256])
            .or_else(|| memchr::memchr(needle, &hay[256..]).map(|i| i + 256));
    }
    let pattern = LO * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word) ^ pattern;
        // Lowest set bit marks the first zero byte (later bits may be false positives).
        let t = v.wrapping_sub(LO) & !v & HI;
        if t != 0 {
            return Some(base + (t.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| base + i)
}

/// Decimal digits only, no sign, no overflow.
pub(crate) fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    let mut v: u32 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    Some(v)
}

pub(crate) fn parse_u16(s: &[u8]) -> Option<u16> {
    parse_u32(s).and_then(|v| u16::try_from(v).ok())
}

/// Index just after the closing quote of the quoted string starting at `s[start] == b'"'`,
/// honouring backslash escapes; `s.len()` when unterminated.
pub(crate) fn skip_quoted(s: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    s.len()
}

/// Content of a SIP `quoted-string` (or a plain token where one is allowed), without the quotes.
/// Escapes (`\"`, `\\`) are kept in [`QuotedStr::raw`]; [`QuotedStr::unescape`] removes them and
/// allocates only when an escape is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotedStr<'b> {
    raw: &'b [u8],
}

impl<'b> QuotedStr<'b> {
    /// Wraps the bytes between the quotes (or a bare token).
    pub fn new(raw: &'b [u8]) -> Self {
        Self { raw }
    }

    /// From a value that may or may not be quoted: quotes are stripped when present.
    pub(crate) fn from_value(v: &'b [u8]) -> Self {
        let v = trim(v);
        if v.first() == Some(&b'"') {
            let end = skip_quoted(v, 0);
            let inner_end = if end > 1 && v.get(end - 1) == Some(&b'"') {
                end - 1
            } else {
                end
            };
            Self::new(&v[1..inner_end.max(1)])
        } else {
            Self::new(v)
        }
    }

    /// The bytes between the quotes, escapes untouched.
    pub fn raw(&self) -> &'b [u8] {
        self.raw
    }

    /// Whether the raw text contains a backslash escape.
    pub fn has_escapes(&self) -> bool {
        find_byte(b'\\', self.raw).is_some()
    }

    /// The text with `\x` escapes resolved (borrowed when there are none).
    pub fn unescape(&self) -> Cow<'b, [u8]> {
        if !self.has_escapes() {
            return Cow::Borrowed(self.raw);
        }
        let mut out = Vec::with_capacity(self.raw.len());
        let mut it = self.raw.iter();
        while let Some(&b) = it.next() {
            if b == b'\\' {
                if let Some(&n) = it.next() {
                    out.push(n);
                }
            } else {
                out.push(b);
            }
        }
        Cow::Owned(out)
    }
}

/// Splits a header value at commas that are outside quoted strings and `<...>`; yields trimmed,
/// non-empty items.
#[derive(Debug, Clone)]
pub(crate) struct CommaSplit<'b> {
    rest: &'b [u8],
}

impl<'b> CommaSplit<'b> {
    pub(crate) fn new(s: &'b [u8]) -> Self {
        Self { rest: s }
    }
}

impl<'b> Iterator for CommaSplit<'b> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let s = self.rest;
            let mut i = 0;
            // Jump between the only bytes that matter: quotes, brackets and commas.
            while i < s.len() {
                let Some(rel) = memchr::memchr3(b'"', b'<', b',', &s[i..]) else {
                    i = s.len();
                    break;
                };
                i += rel;
                match s[i] {
                    b'"' => i = skip_quoted(s, i),
                    b'<' => i = memchr::memchr(b'>', &s[i..]).map_or(s.len(), |gt| i + gt + 1),
                    _ => break,
                }
            }
            let i = i.min(s.len());
            let item = trim(&s[..i]);
            self.rest = if i < s.len() { &s[i + 1..] } else { &[] };
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

/// Lines of a body separated by LF, with a trailing CR removed.
#[derive(Debug, Clone)]
pub(crate) struct Lines<'b> {
    rest: &'b [u8],
}

impl<'b> Lines<'b> {
    pub(crate) fn new(s: &'b [u8]) -> Self {
        Self { rest: s }
    }
}

impl<'b> Iterator for Lines<'b> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match find_byte(b'\n', self.rest) {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, &[][..]),
        };
        self.rest = rest;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_u32(b"0"), Some(0));
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u32(b"12a"), None);
        assert_eq!(parse_u32(b""), None);
        assert_eq!(parse_u16(b"65535"), Some(65535));
        assert_eq!(parse_u16(b"65536"), None);
    }

    #[test]
    fn quoted() {
        let q = QuotedStr::from_value(br#" "a \"b\" \\c" "#);
        assert_eq!(q.raw(), br#"a \"b\" \\c"#);
        assert_eq!(&*q.unescape(), br#"a "b" \c"#);
        assert_eq!(QuotedStr::from_value(b"tok").raw(), b"tok");
        assert_eq!(
            QuotedStr::from_value(b"\"unterminated").raw(),
            b"unterminated"
        );
        assert_eq!(QuotedStr::from_value(b"\"").raw(), b"");
    }

    #[test]
    fn comma_split() {
        let v: Vec<_> = CommaSplit::new(br#""a,b" <sip:x,y>;p=1 , ,<sip:z>"#).collect();
        assert_eq!(v, vec![&br#""a,b" <sip:x,y>;p=1"#[..], b"<sip:z>"]);
    }

    #[test]
    fn find_byte_matches_memchr() {
        let hay: Vec<u8> = (0..600u32).map(|i| (i * 7 % 251) as u8).collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 255, 256, 257, 600] {
            for needle in [0u8, 1, 7, 128, 250, 255] {
                assert_eq!(
                    find_byte(needle, &hay[..len]),
                    memchr::memchr(needle, &hay[..len])
                );
            }
        }
        assert_eq!(find_byte(b'\n', b"abc\x8a\ndef"), Some(4));
    }

    #[test]
    fn lines() {
        let v: Vec<_> = Lines::new(b"a\r\nb\nc").collect();
        assert_eq!(v, vec![&b"a"[..], b"b", b"c"]);
    }
}
