//! `;name=value` parameter lists (header, URI and Via parameters).

use crate::text::{QuotedStr, eq_ignore_case, find_byte, find_byte2, is_lws, skip_quoted, trim};

/// A borrowed parameter list such as `;tag=a;lr;expires=60`. Names compare case-insensitively;
/// quoted values have their quotes stripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'b> {
    raw: &'b [u8],
}

impl<'b> Params<'b> {
    /// Wraps raw parameter text (a leading `;` is optional).
    pub fn new(raw: &'b [u8]) -> Self {
        Self { raw }
    }

    /// The raw text.
    pub fn raw(&self) -> &'b [u8] {
        self.raw
    }

    /// Iterates `(name, value)`; a flag parameter (`;lr`) has an empty value.
    pub fn iter(&self) -> ParamIter<'b> {
        ParamIter { rest: self.raw }
    }

    /// The value of the first parameter called `name` (empty for a flag).
    pub fn get(&self, name: &str) -> Option<&'b [u8]> {
        self.iter()
            .find(|(n, _)| eq_ignore_case(n, name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// Whether a parameter called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Iterator over `(name, value)` pairs of a [`Params`].
#[derive(Debug, Clone)]
pub struct ParamIter<'b> {
    rest: &'b [u8],
}

impl<'b> Iterator for ParamIter<'b> {
    type Item = (&'b [u8], &'b [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = self.rest;
            if s.is_empty() {
                return None;
            }
            let mut i = find_byte2(b';', b'"', s).unwrap_or(s.len());
            // Only a quoted value can hide a ';': rescan carefully when there is a quote.
            if s.get(i) == Some(&b'"') {
                i = 0;
                while i < s.len() && s[i] != b';' {
                    if s[i] == b'"' {
                        i = skip_quoted(s, i);
                    } else {
                        i += 1;
                    }
                }
            }
            let item = &s[..i];
            self.rest = if i < s.len() { &s[i + 1..] } else { &[] };
            let (name, value) = match find_byte(b'=', item) {
                Some(eq) => (
                    trim(&item[..eq]),
                    QuotedStr::from_value(&item[eq + 1..]).raw(),
                ),
                None => (trim(item), &b""[..]),
            };
            if !name.is_empty() && !name.iter().any(|&b| is_lws(b)) {
                return Some((name, value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup() {
        let p = Params::new(b";tag=abc ; LR;expires = 60;q=\"0;7\";;=x");
        assert_eq!(p.get("tag"), Some(&b"abc"[..]));
        assert_eq!(p.get("lr"), Some(&b""[..]));
        assert!(p.contains("Lr"));
        assert_eq!(p.get("EXPIRES"), Some(&b"60"[..]));
        assert_eq!(p.get("q"), Some(&b"0;7"[..]));
        assert_eq!(p.get("missing"), None);
        assert_eq!(p.iter().count(), 4);
    }
}
