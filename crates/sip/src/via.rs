//! Via header values (several per header line are allowed, separated by commas).

use crate::params::Params;
use crate::text::{CommaSplit, is_lws, load_word, lower_word, parse_u16, trim, trim_start};

/// One Via value: `SIP/2.0/UDP host:port;branch=...;received=...;rport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'b> {
    /// Protocol name and version, normally `SIP` and `2.0`.
    pub protocol: (&'b [u8], &'b [u8]),
    /// Transport token as written (`UDP`, `TCP`, `TLS`, `WS`, ...).
    pub transport: &'b [u8],
    /// sent-by host (IPv6 brackets removed).
    pub host: &'b [u8],
    /// sent-by port, when written.
    pub port: Option<u16>,
    /// The parameters.
    pub params: Params<'b>,
}

/// Splits `s` at the first `/` with optional whitespace around it.
fn slash_part(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let s = trim_start(s);
    let slash = crate::text::find_byte(b'/', s)?;
    Some((trim(&s[..slash]), trim_start(&s[slash + 1..])))
}

impl<'b> Via<'b> {
    /// Parses a single Via value; `None` when malformed.
    pub fn parse(value: &'b [u8]) -> Option<Self> {
        // Nearly always `SIP/2.0/` with no blanks: split it off with one compare.
        let ((name, version), rest) = if value.len() >= 8
            && lower_word(load_word(value, 0, 8)) == u64::from_le_bytes(*b"sip/2.0/")
        {
            ((&value[..3], &value[4..7]), trim_start(&value[8..]))
        } else {
            let (name, rest) = slash_part(value)?;
            let (version, rest) = slash_part(rest)?;
            ((name, version), rest)
        };
        let t_end = rest
            .iter()
            .position(|&b| is_lws(b) || b == b';')
            .unwrap_or(rest.len());
        let transport = &rest[..t_end];
        let sent_by = trim_start(&rest[t_end..]);
        if name.is_empty() || version.is_empty() || transport.is_empty() || sent_by.is_empty() {
            return None;
        }
        let (host, after) = if sent_by.first() == Some(&b'[') {
            let close = crate::text::find_byte(b']', sent_by)?;
            (&sent_by[1..close], &sent_by[close + 1..])
        } else {
            let end = sent_by
                .iter()
                .position(|&b| b == b':' || b == b';' || is_lws(b))
                .unwrap_or(sent_by.len());
            (&sent_by[..end], &sent_by[end..])
        };
        if host.is_empty() {
            return None;
        }
        let after = trim_start(after);
        let (port, after) = match after.strip_prefix(b":") {
            Some(p) => {
                let p = trim_start(p);
                let end = p
                    .iter()
                    .position(|&b| b == b';' || is_lws(b))
                    .unwrap_or(p.len());
                (parse_u16(&p[..end]), trim_start(&p[end..]))
            }
            None => (None, after),
        };
        let params = Params::new(after.strip_prefix(b";").unwrap_or(b""));
        Some(Self {
            protocol: (name, version),
            transport,
            host,
            port,
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'b [u8]> {
        self.params.get("branch")
    }

    /// The `received` parameter (address seen by the next hop).
    pub fn received(&self) -> Option<&'b [u8]> {
        self.params.get("received")
    }

    /// Whether an `rport` parameter is present (with or without a value).
    pub fn has_rport(&self) -> bool {
        self.params.contains("rport")
    }

    /// The `rport` value, when filled in.
    pub fn rport(&self) -> Option<u16> {
        self.params.get("rport").and_then(parse_u16)
    }
}

/// Iterator over all Via values of a message, in order, from
/// [`crate::Message::vias`]. Malformed values are skipped.
#[derive(Debug, Clone)]
pub struct ViaIter<'h, 'b> {
    pub(crate) headers: crate::header::HeaderIter<'h, 'b>,
    pub(crate) current: CommaSplit<'b>,
}

impl<'b> Iterator for ViaIter<'_, 'b> {
    type Item = Via<'b>;

    fn next(&mut self) -> Option<Via<'b>> {
        loop {
            for item in self.current.by_ref() {
                if let Some(v) = Via::parse(item) {
                    return Some(v);
                }
            }
            let v = self.headers.next_of(crate::HeaderKind::Via)?;
            self.current = CommaSplit::new(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let v = Via::parse(b"SIP/2.0/UDP pc33.atlanta.example.com:5066;branch=z9hG4bK776asdhds;rport=5066;received=192.0.2.4")
            .expect("via");
        assert_eq!(v.protocol, (&b"SIP"[..], &b"2.0"[..]));
        assert_eq!(v.transport, b"UDP");
        assert_eq!(v.host, b"pc33.atlanta.example.com");
        assert_eq!(v.port, Some(5066));
        assert_eq!(v.branch(), Some(&b"z9hG4bK776asdhds"[..]));
        assert_eq!(v.received(), Some(&b"192.0.2.4"[..]));
        assert_eq!(v.rport(), Some(5066));

        let v = Via::parse(b"SIP / 2.0 / TCP [2001:db8::9] : 5060 ; branch = z9hG4bKx ; rport")
            .expect("via");
        assert_eq!(v.transport, b"TCP");
        assert_eq!(v.host, b"2001:db8::9");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch(), Some(&b"z9hG4bKx"[..]));
        assert!(v.has_rport());
        assert_eq!(v.rport(), None);

        let v = Via::parse(b"SIP/2.0/TLS host").expect("via");
        assert_eq!(v.port, None);
        assert_eq!(v.branch(), None);

        assert!(Via::parse(b"SIP/2.0/UDP").is_none());
        assert!(Via::parse(b"garbage").is_none());
        assert!(Via::parse(b"SIP/2.0/UDP [::1").is_none());
    }
}
