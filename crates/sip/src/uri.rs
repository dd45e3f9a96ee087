//! SIP/SIPS/TEL/URN URIs, with VoIPmonitor's rules for the user part and the host.

use crate::params::Params;
use crate::text::{eq_lower, find_byte, load_word, lower_word, parse_u16, trim};

/// What a byte means to the one-pass scan of a SIP URI's user@host part.
const PLAIN: u8 = 0;
/// Ends the user/host part: URI headers, the end of a name-addr, a list separator or
/// whitespace.
const END: u8 = 1;
/// `@`
const AT: u8 = 2;
/// `:` or `;`, which end the host.
const HOST_END: u8 = 3;

static SIP_BYTES: [u8; 256] = {
    let mut t = [PLAIN; 256];
    t[b'?' as usize] = END;
    t[b'>' as usize] = END;
    t[b',' as usize] = END;
    t[b' ' as usize] = END;
    t[b'\t' as usize] = END;
    t[b'@' as usize] = AT;
    t[b':' as usize] = HOST_END;
    t[b';' as usize] = HOST_END;
    t
};

/// URI scheme (case-insensitive on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme<'b> {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:`
    Tel,
    /// `urn:`
    Urn,
    /// Any other scheme, as written.
    Other(&'b [u8]),
}

/// A borrowed URI.
///
/// For `sip:`/`sips:` the user info is the text between the scheme and `@` (empty without `@`),
/// the host follows the `@` without port or parameters (IPv6 brackets removed). For `tel:`/`urn:`
/// the user info runs to the first `;` and there is no host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'b> {
    /// The scheme.
    pub scheme: Scheme<'b>,
    /// Everything between the scheme and `@` (may contain `;params` and `:password`).
    pub user_info: &'b [u8],
    /// Host name or address, without brackets, port or parameters.
    pub host: &'b [u8],
    /// The port, when written and valid.
    pub port: Option<u16>,
    /// URI parameters after the host (`;transport=tcp;lr`).
    pub params: Params<'b>,
    /// The whole URI as written.
    pub raw: &'b [u8],
}

impl<'b> Uri<'b> {
    /// Parses a URI; `None` without a `scheme:` prefix.
    pub fn parse(raw: &'b [u8]) -> Option<Self> {
        let raw = trim(raw);
        // Nearly every URI on the wire is `sip:`: recognise it with one compare.
        if raw.len() >= 4
            && lower_word(load_word(raw, 0, 4)) == u64::from_le_bytes(*b"sip:\0\0\0\0")
        {
            let mut uri = Self::empty(Scheme::Sip, raw);
            uri.parse_sip(&raw[4..]);
            return Some(uri);
        }
        let colon = find_byte(b':', raw)?;
        let scheme_b = &raw[..colon];
        if scheme_b.is_empty()
            || !scheme_b
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return None;
        }
        let scheme = match scheme_b {
            s if eq_lower(s, b"sip") => Scheme::Sip,
            s if eq_lower(s, b"sips") => Scheme::Sips,
            s if eq_lower(s, b"tel") => Scheme::Tel,
            s if eq_lower(s, b"urn") => Scheme::Urn,
            s => Scheme::Other(s),
        };
        let rest = &raw[colon + 1..];
        let mut uri = Self::empty(scheme, raw);
        match scheme {
            Scheme::Sip | Scheme::Sips => uri.parse_sip(rest),
            Scheme::Tel | Scheme::Urn => {
                let end = rest
                    .iter()
                    .position(|&b| b == b';' || b == b'>')
                    .unwrap_or(rest.len());
                uri.user_info = &rest[..end];
                if rest.get(end) == Some(&b';') {
                    uri.params = Params::new(&rest[end + 1..]);
                }
            }
            Scheme::Other(_) => {}
        }
        Some(uri)
    }

    /// A URI with only its scheme and raw text set.
    fn empty(scheme: Scheme<'b>, raw: &'b [u8]) -> Self {
        Self {
            scheme,
            user_info: b"",
            host: b"",
            port: None,
            params: Params::default(),
            raw,
        }
    }

    fn parse_sip(&mut self, rest: &'b [u8]) {
        // One pass up to the end of the user/host part (URI headers '?', the end of a
        // name-addr, ...): the first '@' before it, and the first ':' or ';' from the start
        // and from that '@' on, whichever turns out to end the host.
        let (mut at, mut delim, mut delim_after_at) = (None, None, None);
        let mut limit = rest.len();
        for (i, &b) in rest.iter().enumerate() {
            match SIP_BYTES[usize::from(b)] {
                PLAIN => {}
                END => {
                    limit = i;
                    break;
                }
                AT => {
                    if at.is_none() {
                        at = Some(i);
                    }
                }
                _ => {
                    if delim.is_none() {
                        delim = Some(i);
                    }
                    if at.is_some() && delim_after_at.is_none() {
                        delim_after_at = Some(i);
                    }
                }
            }
        }
        let (start, host_end) = match at {
            Some(at) => {
                self.user_info = &rest[..at];
                (at + 1, delim_after_at)
            }
            None => (0, delim),
        };
        let hostport = &rest[start..limit];
        let (host, after) = if hostport.first() == Some(&b'[') {
            match find_byte(b']', hostport) {
                Some(close) => (&hostport[1..close], &hostport[close + 1..]),
                None => (&hostport[1..], &b""[..]),
            }
        } else {
            let end = host_end.map_or(hostport.len(), |d| d - start);
            (&hostport[..end], &hostport[end..])
        };
        self.host = host;
        let after = match after.strip_prefix(b":") {
            Some(p) => {
                let end = p.iter().position(|&b| b == b';').unwrap_or(p.len());
                self.port = parse_u16(&p[..end]);
                &p[end..]
            }
            None => after,
        };
        if let Some(params) = after.strip_prefix(b";") {
            self.params = Params::new(params);
        }
    }

    /// The user part as VoIPmonitor reports it (caller/called number with
    /// `callernum_numberonly`): the user info cut at the first `;`
    /// (`sip:123;user=phone@h` → `123`); empty for a `sip:` URI without `@`.
    pub fn user(&self) -> &'b [u8] {
        let u = self.user_info;
        let end = find_byte(b';', u).unwrap_or(u.len());
        &u[..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &[u8]) -> Uri<'_> {
        Uri::parse(s).expect("valid uri")
    }

    #[test]
    fn sip_forms() {
        let u = uri(b"sip:alice@atlanta.example.com:5070;transport=tcp?subject=x");
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user(), b"alice");
        assert_eq!(u.host, b"atlanta.example.com");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params.get("transport"), Some(&b"tcp"[..]));

        let u = uri(b"sip:123;user=phone@h.example;lr");
        assert_eq!(u.user(), b"123");
        assert_eq!(u.user_info, b"123;user=phone");
        assert_eq!(u.host, b"h.example");
        assert_eq!(u.port, None);
        assert!(u.params.contains("lr"));

        let u = uri(b"SIPS:[2001:db8::10]:5061");
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.user(), b"");
        assert_eq!(u.host, b"2001:db8::10");
        assert_eq!(u.port, Some(5061));

        let u = uri(b"sip:bob@[2001:db8::1];maddr=x");
        assert_eq!(u.host, b"2001:db8::1");
        assert_eq!(u.params.get("maddr"), Some(&b"x"[..]));

        let u = uri(b"sip:10.0.0.1:99999");
        assert_eq!(u.host, b"10.0.0.1");
        assert_eq!(u.port, None);
    }

    #[test]
    fn tel_urn_other() {
        let u = uri(b"tel:+1-201-555-0123;phone-context=example.com");
        assert_eq!(u.scheme, Scheme::Tel);
        assert_eq!(u.user(), b"+1-201-555-0123");
        assert_eq!(u.host, b"");
        assert_eq!(u.params.get("phone-context"), Some(&b"example.com"[..]));
        let u = uri(b"urn:service:sos");
        assert_eq!(u.scheme, Scheme::Urn);
        assert_eq!(u.user(), b"service:sos");
        let u = uri(b"mailto:a@b");
        assert_eq!(u.scheme, Scheme::Other(b"mailto"));
        assert!(Uri::parse(b"no-scheme").is_none());
        assert!(Uri::parse(b":x").is_none());
    }
}
