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

/// The first byte of `hay` matching `hit`, eight at a time: `mask` gives a word's matches as
/// high bits whose lowest set one is exact (later ones may be false positives, but only above
/// a true match). Hay shorter than a word is searched byte by byte.
#[inline(always)]
fn swar_find(hay: &[u8], mask: impl Fn(u64) -> u64, hit: impl Fn(u8) -> bool) -> Option<usize> {
    let len = hay.len();
    if len < 8 {
        return hay.iter().position(|&b| hit(b));
    }
    let mut chunks = hay.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let t = mask(u64::from_le_bytes(w));
        if t != 0 {
            return Some(at + (t.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    if chunks.remainder().is_empty() {
        return None;
    }
    // The last word again, overlapping bytes already searched: they hold no match, so the
    // lowest set bit is still exact.
    let t = mask(word_at(hay, len - 8)?);
    (t != 0).then(|| len - 8 + (t.trailing_zeros() / 8) as usize)
}

const LO: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte of a word.
pub(crate) const HI: u64 = 0x8080_8080_8080_8080;
/// 0x20 in every byte: OR-ing it lower-cases letters (and leaves digits and '-' alone).
pub(crate) const SPACES: u64 = 0x2020_2020_2020_2020;

/// The next 8 bytes of `s` from `at` as a little-endian word, or `None` near the end.
#[inline]
pub(crate) fn word_at(s: &[u8], at: usize) -> Option<u64> {
    let chunk = s.get(at..at + 8)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    Some(u64::from_le_bytes(w))
}

/// High bit set in each byte of `w` that equals the byte repeated in `pattern`; only the lowest
/// set bit is exact (later ones may be false positives).
#[inline]
fn zero_bytes(w: u64, pattern: u64) -> u64 {
    let v = w ^ pattern;
    v.wrapping_sub(LO) & !v & HI
}

/// Position of the first `a` or `b` in `hay` (SWAR, for short values such as a start line).
pub(crate) fn find_byte2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    let (pa, pb) = (LO * u64::from(a), LO * u64::from(b));
    // The lowest set bit of either mask is exact, so their OR's lowest bit is too.
    swar_find(
        hay,
        |w| zero_bytes(w, pa) | zero_bytes(w, pb),
        |c| c == a || c == b,
    )
}

/// Position of the first `a`, `b` or `c` in `hay` (SWAR; header values are short, where
/// `memchr3`'s dispatch costs more than it saves).
pub(crate) fn find_byte3(a: u8, b: u8, c: u8, hay: &[u8]) -> Option<usize> {
    let (pa, pb, pc) = (LO * u64::from(a), LO * u64::from(b), LO * u64::from(c));
    swar_find(
        hay,
        |w| zero_bytes(w, pa) | zero_bytes(w, pb) | zero_bytes(w, pc),
        |x| x == a || x == b || x == c,
    )
}

/// Position of the first blank (SP or HT) in `s`.
pub(crate) fn find_blank(s: &[u8]) -> Option<usize> {
    find_byte2(b' ', b'\t', s)
}

/// The high bit set in each byte of `w` that is an ASCII letter, digit or `-` (the characters
/// of common header names), exactly.
#[inline]
pub(crate) fn simple_token_bytes(w: u64) -> u64 {
    // On the low seven bits of each byte the additions below cannot carry into the next byte.
    let low7 = w & !HI;
    let lower = low7 | SPACES;
    let in_range = |x: u64, lo: u8, hi: u8| {
        x.wrapping_add(LO * u64::from(0x80 - lo)) & !x.wrapping_add(LO * u64::from(0x7f - hi))
    };
    let alpha = in_range(lower, b'a', b'z');
    let digit = in_range(low7, b'0', b'9');
    let dash = !(low7 ^ (LO * u64::from(b'-'))).wrapping_add(!HI);
    (alpha | digit | dash) & !w & HI
}

/// `w` with its ASCII upper-case letters lower-cased (exact, like [`u8::to_ascii_lowercase`]
/// on each byte).
#[inline]
pub(crate) fn lower_word(w: u64) -> u64 {
    let low7 = w & !HI;
    // High bit of each byte: >= 'A' and > 'Z' (on the low seven bits; bytes >= 0x80 excluded).
    let ge_a = low7.wrapping_add(LO * u64::from(0x80 - b'A'));
    let gt_z = low7.wrapping_add(LO * u64::from(0x7f - b'Z'));
    let upper = ge_a & !gt_z & !w & HI;
    w | (upper >> 2)
}

/// Bytes `at..at + n` of `s` (n <= 8, `at + n <= s.len()`) as a word, zero-padded.
#[inline]
pub(crate) fn load_word(s: &[u8], at: usize, n: usize) -> u64 {
    if let Some(w) = word_at(s, at) {
        return if n >= 8 {
            w
        } else {
            w & ((1u64 << (8 * n)) - 1)
        };
    }
    let mut w = [0u8; 8];
    if let Some(src) = s.get(at..at + n) {
        w[..n].copy_from_slice(src);
    }
    u64::from_le_bytes(w)
}

/// ASCII case-insensitive equality with `lower`, which must be lower case already. A word at a
/// time: cheaper than [`<[u8]>::eq_ignore_ascii_case`] for the short names compared here.
#[inline]
pub(crate) fn eq_lower(s: &[u8], lower: &[u8]) -> bool {
    if s.len() != lower.len() {
        return false;
    }
    let mut at = 0;
    while at < s.len() {
        let n = (s.len() - at).min(8);
        if lower_word(load_word(s, at, n)) != load_word(lower, at, n) {
            return false;
        }
        at += 8;
    }
    true
}

/// ASCII case-insensitive equality (like [`<[u8]>::eq_ignore_ascii_case`]), a word at a time.
#[inline]
pub(crate) fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut at = 0;
    while at < a.len() {
        let n = (a.len() - at).min(8);
        if lower_word(load_word(a, at, n)) != lower_word(load_word(b, at, n)) {
            return false;
        }
        at += 8;
    }
    true
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
        // Jump to the next quote or backslash.
        let Some(rel) = find_byte2(b'"', b'\\', &s[i..]) else {
            return s.len();
        };
        i += rel;
        if s[i] == b'"' {
            return i + 1;
        }
        i += 2;
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

    /// The quoted string `v[..end]`, where `v` starts with its opening quote and
    /// `end == skip_quoted(v, 0)`: the same as `from_value(&v[..end])` for a trimmed `v`,
    /// without scanning the string a second time.
    pub(crate) fn from_quoted(v: &'b [u8], end: usize) -> Self {
        let inner_end = if end > 1 && v.get(end - 1) == Some(&b'"') {
            end - 1
        } else {
            end
        };
        Self::new(v.get(1..inner_end.max(1)).unwrap_or_default())
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
                let Some(rel) = find_byte3(b'"', b'<', b',', &s[i..]) else {
                    i = s.len();
                    break;
                };
                i += rel;
                match s[i] {
                    b'"' => i = skip_quoted(s, i),
                    b'<' => i = find_byte(b'>', &s[i..]).map_or(s.len(), |gt| i + gt + 1),
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
    fn word_helpers_match_bytewise() {
        for b in 0..=255u8 {
            let w = u64::from_le_bytes([b, b'A', b, b'z', 0x80 | b, b'@', b'[', b]);
            let lowered: Vec<u8> = w.to_le_bytes().iter().map(u8::to_ascii_lowercase).collect();
            assert_eq!(lower_word(w).to_le_bytes().to_vec(), lowered, "byte {b:#x}");
            let simple = simple_token_bytes(u64::from(b));
            assert_eq!(
                simple & 0x80 != 0,
                b.is_ascii_alphanumeric() || b == b'-',
                "byte {b:#x}"
            );
            assert_eq!(simple >> 8, 0, "byte {b:#x}");
        }
        assert!(eq_lower(b"Application/SDP", b"application/sdp"));
        assert!(!eq_lower(b"application/sdq", b"application/sdp"));
        assert!(!eq_lower(b"sip", b"sips"));
        assert!(eq_ignore_case(b"TaG", b"tAg"));
        assert!(!eq_ignore_case(b"ta\x0d", b"ta-"));
        assert_eq!(
            load_word(b"abc", 0, 3),
            u64::from_le_bytes(*b"abc\0\0\0\0\0")
        );
        assert_eq!(
            load_word(b"abcdefghij", 8, 2),
            u64::from(b'i') | u64::from(b'j') << 8
        );
    }

    #[test]
    fn find_byte2_matches_bytewise() {
        let hay: Vec<u8> = (0..80u32).map(|i| (i * 13 % 61) as u8 + 32).collect();
        for len in 0..hay.len() {
            for (a, b) in [(b' ', b'\t'), (b'"', b'\\'), (40, 90), (0, 255)] {
                let h = &hay[..len];
                assert_eq!(
                    find_byte2(a, b, h),
                    h.iter().position(|&c| c == a || c == b)
                );
            }
        }
        assert_eq!(skip_quoted(br#""a\"b" x"#, 0), 6);
        assert_eq!(skip_quoted(br#""abc\"#, 0), 5);
        assert_eq!(skip_quoted(br#""0123456789abcdef\"" x"#, 0), 20);
        assert_eq!(skip_quoted(br#""0123456789abcdef\" x"#, 0), 21);
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
