//! `name-addr` / `addr-spec` values of From, To, Contact and the identity headers.

use std::borrow::Cow;

use crate::params::Params;
use crate::text::{QuotedStr, skip_quoted, trim, trim_start};
use crate::uri::Uri;

/// `"Display" <uri>;params` or `uri;params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'b> {
    display: QuotedStr<'b>,
    /// The address.
    pub uri: Uri<'b>,
    /// Header parameters after the address (`;tag=...;expires=...`).
    pub params: Params<'b>,
}

impl<'b> NameAddr<'b> {
    /// Parses one name-addr; `None` when no URI can be found.
    pub fn parse(value: &'b [u8]) -> Option<Self> {
        let v = trim(value);
        let (display, rest) = if v.first() == Some(&b'"') {
            let end = skip_quoted(v, 0);
            (QuotedStr::from_quoted(v, end), trim_start(&v[end..]))
        } else {
            match crate::text::find_byte(b'<', v) {
                Some(lt) => (QuotedStr::new(trim(&v[..lt])), &v[lt..]),
                None => (QuotedStr::default(), v),
            }
        };
        let (uri, params) = if let Some(inner) = rest.strip_prefix(b"<") {
            let gt = crate::text::find_byte(b'>', inner)?;
            (&inner[..gt], trim_start(&inner[gt + 1..]))
        } else {
            // addr-spec: per RFC 3261 §20, parameters after it belong to the header.
            let end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        let uri = Uri::parse(uri)?;
        let params = Params::new(params.strip_prefix(b";").unwrap_or(b""));
        Some(Self {
            display,
            uri,
            params,
        })
    }

    /// The display name with quotes and surrounding spaces removed; escapes kept
    /// (see [`Self::display_name_unescaped`]). Empty when absent.
    pub fn display_name(&self) -> &'b [u8] {
        self.display.raw()
    }

    /// The display name with `\"` escapes resolved (allocates only when escapes are present).
    pub fn display_name_unescaped(&self) -> Cow<'b, [u8]> {
        self.display.unescape()
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'b [u8]> {
        self.params.get("tag")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn na(s: &[u8]) -> NameAddr<'_> {
        NameAddr::parse(s).expect("valid name-addr")
    }

    #[test]
    fn forms() {
        let a = na(b"\"Alice Smith\" <sip:alice@atlanta.example.com>;tag=1928301774");
        assert_eq!(a.display_name(), b"Alice Smith");
        assert_eq!(a.uri.user(), b"alice");
        assert_eq!(a.uri.host, b"atlanta.example.com");
        assert_eq!(a.tag(), Some(&b"1928301774"[..]));

        let a = na(b"Bob <sips:bob@biloxi.example.com:5061>");
        assert_eq!(a.display_name(), b"Bob");
        assert_eq!(a.uri.port, Some(5061));
        assert_eq!(a.tag(), None);

        let a = na(b"<sip:123;user=phone@10.0.0.1;user=phone>;tag=x");
        assert_eq!(a.display_name(), b"");
        assert_eq!(a.uri.user(), b"123");
        assert_eq!(a.tag(), Some(&b"x"[..]));

        let a = na(b"sip:carol@chicago.example.com;tag=887s");
        assert_eq!(a.uri.host, b"chicago.example.com");
        assert_eq!(a.tag(), Some(&b"887s"[..]));

        let a = na(br#""J \"Bob\" D <x>" <sip:j@h>;tag=1"#);
        assert_eq!(a.display_name(), br#"J \"Bob\" D <x>"#);
        assert_eq!(&*a.display_name_unescaped(), br#"J "Bob" D <x>"#);
        assert_eq!(a.uri.user(), b"j");

        let a = na(b"  \"\"   <tel:+15551234>  ;  tag = t1 ");
        assert_eq!(a.display_name(), b"");
        assert_eq!(a.uri.user(), b"+15551234");
        assert_eq!(a.tag(), Some(&b"t1"[..]));

        assert!(NameAddr::parse(b"<sip:unterminated").is_none());
        assert!(NameAddr::parse(b"garbage").is_none());
        assert!(NameAddr::parse(b"").is_none());
    }
}
