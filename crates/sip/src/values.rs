//! Typed values of single headers: CSeq, Contact, digest credentials/challenges.

use crate::header::HeaderKind;
use crate::method::Method;
use crate::name_addr::NameAddr;
use crate::text::{CommaSplit, QuotedStr, is_lws, parse_u32, skip_quoted, trim, trim_start};

/// `CSeq: 4711 INVITE`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'b> {
    /// The sequence number.
    pub seq: u32,
    /// The method.
    pub method: Method<'b>,
}

impl<'b> CSeq<'b> {
    /// Parses a CSeq value; `None` when malformed.
    pub fn parse(value: &'b [u8]) -> Option<Self> {
        let v = trim(value);
        // The number ends at the first non-digit, which must be whitespace.
        let n = v
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(v.len());
        if !v.get(n).is_some_and(|&b| is_lws(b)) {
            return None;
        }
        let seq = parse_u32(&v[..n])?;
        let method = trim_start(&v[n..]);
        if method.is_empty() || method.iter().any(|&b| is_lws(b)) {
            return None;
        }
        Some(Self {
            seq,
            method: Method::from_bytes(method),
        })
    }
}

/// One Contact value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'b> {
    /// `Contact: *` (remove all bindings, with `Expires: 0`).
    Star,
    /// An address with its parameters.
    Addr(NameAddr<'b>),
}

impl<'b> Contact<'b> {
    /// The `expires` parameter, when present and numeric.
    pub fn expires(&self) -> Option<u32> {
        match self {
            Self::Star => None,
            Self::Addr(a) => a.params.get("expires").and_then(parse_u32),
        }
    }

    /// The address, unless this is `*`.
    pub fn addr(&self) -> Option<&NameAddr<'b>> {
        match self {
            Self::Star => None,
            Self::Addr(a) => Some(a),
        }
    }
}

/// Iterator over all Contact values of a message ([`crate::Message::contacts`]).
/// Malformed values are skipped.
#[derive(Debug, Clone)]
pub struct ContactIter<'h, 'b> {
    pub(crate) headers: crate::header::HeaderIter<'h, 'b>,
    pub(crate) current: CommaSplit<'b>,
}

impl<'b> Iterator for ContactIter<'_, 'b> {
    type Item = Contact<'b>;

    fn next(&mut self) -> Option<Contact<'b>> {
        loop {
            for item in self.current.by_ref() {
                if item == b"*" {
                    return Some(Contact::Star);
                }
                if let Some(a) = NameAddr::parse(item) {
                    return Some(Contact::Addr(a));
                }
            }
            let v = self.headers.next_of(HeaderKind::Contact)?;
            self.current = CommaSplit::new(v);
        }
    }
}

/// An `Authorization`/`Proxy-Authorization` credential or a `WWW-Authenticate`/
/// `Proxy-Authenticate` challenge: scheme plus comma-separated `name=value` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthParams<'b> {
    /// The scheme (`Digest`).
    pub scheme: &'b [u8],
    params: &'b [u8],
}

impl<'b> AuthParams<'b> {
    /// Parses `Scheme name=value, name="quoted", ...`; `None` when empty.
    pub fn parse(value: &'b [u8]) -> Option<Self> {
        let v = trim(value);
        let n = v.iter().position(|&b| is_lws(b)).unwrap_or(v.len());
        if n == 0 {
            return None;
        }
        Some(Self {
            scheme: &v[..n],
            params: &v[n..],
        })
    }

    /// The value of parameter `name` (case-insensitive), quotes stripped, escapes kept.
    pub fn param(&self, name: &str) -> Option<QuotedStr<'b>> {
        CommaSplit::new(self.params).find_map(|item| {
            let eq = crate::text::find_byte(b'=', item)?;
            trim(&item[..eq])
                .eq_ignore_ascii_case(name.as_bytes())
                .then(|| QuotedStr::from_value(&item[eq + 1..]))
        })
    }

    /// The digest `username`.
    pub fn username(&self) -> Option<QuotedStr<'b>> {
        self.param("username")
    }

    /// The digest `realm`.
    pub fn realm(&self) -> Option<QuotedStr<'b>> {
        self.param("realm")
    }
}

/// The media type of a Content-Type value (`application/sdp`), without parameters.
pub(crate) fn media_type(content_type: &[u8]) -> &[u8] {
    let end = crate::text::find_byte(b';', content_type).unwrap_or(content_type.len());
    trim(&content_type[..end])
}

/// The `boundary` parameter of a Content-Type value, quotes stripped.
pub(crate) fn boundary(content_type: &[u8]) -> Option<&[u8]> {
    let mut rest = content_type;
    while let Some(semi) = crate::text::find_byte(b';', rest) {
        rest = &rest[semi + 1..];
        let item_end = {
            let mut i = 0;
            while i < rest.len() && rest[i] != b';' {
                i = if rest[i] == b'"' {
                    skip_quoted(rest, i)
                } else {
                    i + 1
                };
            }
            i
        };
        let item = &rest[..item_end];
        if let Some(eq) = crate::text::find_byte(b'=', item)
            && trim(&item[..eq]).eq_ignore_ascii_case(b"boundary")
        {
            let b = QuotedStr::from_value(&item[eq + 1..]).raw();
            return (!b.is_empty()).then_some(b);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq() {
        assert_eq!(
            CSeq::parse(b" 314159  INVITE "),
            Some(CSeq {
                seq: 314159,
                method: Method::Invite
            })
        );
        assert_eq!(
            CSeq::parse(b"1 FOO").map(|c| c.method),
            Some(Method::Other(b"FOO"))
        );
        assert_eq!(CSeq::parse(b"INVITE"), None);
        assert_eq!(CSeq::parse(b"x INVITE"), None);
        assert_eq!(CSeq::parse(b"1 INVITE extra"), None);
        assert_eq!(CSeq::parse(b"99999999999 BYE"), None);
    }

    #[test]
    fn auth() {
        let a = AuthParams::parse(
            br#"Digest username="bob\"x", realm="biloxi.example.com", nonce="dc3a,5ab2", uri="sip:biloxi.example.com", response="245f", algorithm=MD5"#,
        )
        .expect("auth");
        assert_eq!(a.scheme, b"Digest");
        assert_eq!(a.username().map(|u| u.raw()), Some(&br#"bob\"x"#[..]));
        assert_eq!(
            a.username().map(|u| u.unescape().into_owned()),
            Some(b"bob\"x".to_vec())
        );
        assert_eq!(a.realm().map(|r| r.raw()), Some(&b"biloxi.example.com"[..]));
        assert_eq!(a.param("NONCE").map(|r| r.raw()), Some(&b"dc3a,5ab2"[..]));
        assert_eq!(a.param("algorithm").map(|r| r.raw()), Some(&b"MD5"[..]));
        assert_eq!(a.param("opaque"), None);
        assert!(AuthParams::parse(b"  ").is_none());
    }

    #[test]
    fn content_type() {
        assert_eq!(
            media_type(b"application/sdp ; charset=x"),
            b"application/sdp"
        );
        assert_eq!(
            boundary(b"multipart/mixed;boundary=unique-boundary-1"),
            Some(&b"unique-boundary-1"[..])
        );
        assert_eq!(
            boundary(b"multipart/mixed; x=\"a;b\"; Boundary=\"b 1\""),
            Some(&b"b 1"[..])
        );
        assert_eq!(boundary(b"multipart/mixed"), None);
        assert_eq!(boundary(b"multipart/mixed;boundary="), None);
    }
}
