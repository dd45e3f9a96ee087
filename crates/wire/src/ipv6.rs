//! IPv6 header view with the extension-header chain walked by the constructor.

use std::net::Ipv6Addr;

use crate::error::{DecodeError, Layer};
use crate::link::be16;

/// Hop-by-hop options header.
pub const NEXT_HOP_BY_HOP: u8 = 0;
/// Routing header.
pub const NEXT_ROUTING: u8 = 43;
/// Fragment header.
pub const NEXT_FRAGMENT: u8 = 44;
/// Authentication header (skipped like the others; its length unit is 4 bytes).
pub const NEXT_AUTH: u8 = 51;
/// Destination options header.
pub const NEXT_DEST_OPTS: u8 = 60;

/// Longer chains are refused; real traffic has one or two extension headers.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// The fragment header of an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Fragment {
    /// Identification.
    pub ident: u32,
    /// Offset of this fragment in bytes.
    pub offset: u16,
    /// M flag: more fragments follow.
    pub more: bool,
}

/// An IPv6 packet: fixed header, payload length and extension chain checked.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<'a> {
    buf: &'a [u8],
    end: usize,
    upper_off: usize,
    upper_proto: u8,
    fragment: Option<Ipv6Fragment>,
}

impl<'a> Ipv6Packet<'a> {
    /// Length of the fixed header.
    pub const HEADER_LEN: usize = 40;

    /// Checks the fixed header and the payload length against the captured bytes (a payload
    /// length of 0 — jumbogram or segmentation offload — means "all captured bytes"), then walks
    /// hop-by-hop, routing, destination-options, authentication and fragment headers. The walk
    /// stops at the first other header, or after the fragment header of a non-first fragment
    /// (what follows it is the middle of the datagram).
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < Self::HEADER_LEN {
            return Err(DecodeError::Truncated(Layer::Ipv6));
        }
        if buf[0] >> 4 != 6 {
            return Err(DecodeError::bad(Layer::Ipv6, "version is not 6"));
        }
        let payload_len = usize::from(be16(buf, 4));
        let end = if payload_len == 0 {
            buf.len()
        } else {
            Self::HEADER_LEN + payload_len
        };
        if end > buf.len() {
            return Err(DecodeError::Truncated(Layer::Ipv6));
        }
        let mut next = buf[6];
        let mut off = Self::HEADER_LEN;
        let mut fragment = None;
        let mut count = 0;
        while matches!(
            next,
            NEXT_HOP_BY_HOP | NEXT_ROUTING | NEXT_DEST_OPTS | NEXT_AUTH | NEXT_FRAGMENT
        ) {
            count += 1;
            if count > MAX_EXTENSION_HEADERS {
                return Err(DecodeError::bad(Layer::Ipv6, "too many extension headers"));
            }
            let Some(h) = buf[..end].get(off..off + 8) else {
                return Err(DecodeError::Truncated(Layer::Ipv6));
            };
            let len = match next {
                NEXT_FRAGMENT => {
                    if fragment.is_some() {
                        return Err(DecodeError::bad(Layer::Ipv6, "two fragment headers"));
                    }
                    let fo = be16(h, 2);
                    fragment = Some(Ipv6Fragment {
                        ident: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                        offset: fo & 0xFFF8,
                        more: fo & 1 != 0,
                    });
                    8
                }
                NEXT_AUTH => (usize::from(h[1]) + 2) * 4,
                _ => (usize::from(h[1]) + 1) * 8,
            };
            if off + len > end {
                return Err(DecodeError::Truncated(Layer::Ipv6));
            }
            next = h[0];
            off += len;
            if fragment.is_some_and(|f| f.offset != 0) {
                break;
            }
        }
        Ok(Self {
            buf,
            end,
            upper_off: off,
            upper_proto: next,
            fragment,
        })
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        (self.buf[0] << 4) | (self.buf[1] >> 4)
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        u32::from_be_bytes([0, self.buf[1] & 0x0F, self.buf[2], self.buf[3]])
    }

    /// Next-header field of the fixed header.
    pub fn next_header(&self) -> u8 {
        self.buf[6]
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buf[7]
    }

    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(addr(self.buf, 8))
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(addr(self.buf, 24))
    }

    /// The protocol after the extension headers (for a fragment: of the whole datagram).
    pub const fn upper_protocol(&self) -> u8 {
        self.upper_proto
    }

    /// The fragment header, when present.
    pub const fn fragment(&self) -> Option<Ipv6Fragment> {
        self.fragment
    }

    /// True when this is a real fragment (an "atomic fragment" with offset 0 and M clear is a
    /// whole datagram, RFC 6946).
    pub fn is_fragment(&self) -> bool {
        self.fragment.is_some_and(|f| f.offset != 0 || f.more)
    }

    /// The bytes after the extension headers, up to the payload length.
    pub fn upper_payload(&self) -> &'a [u8] {
        &self.buf[self.upper_off..self.end]
    }
}

fn addr(buf: &[u8], off: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&buf[off..off + 16]);
    a
}

/// Writes a 40-byte IPv6 header with no extension headers.
pub(crate) fn emit_header(
    out: &mut Vec<u8>,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    proto: u8,
    hop_limit: u8,
    payload_len: usize,
) {
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&u16::try_from(payload_len).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&[proto, hop_limit]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(first_next: u8, ext: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        emit_header(
            &mut b,
            Ipv6Addr::LOCALHOST,
            "2001:db8::1".parse().expect("addr"),
            first_next,
            9,
            ext.len() + payload.len(),
        );
        b.extend_from_slice(ext);
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn plain() {
        let b = packet(17, &[], &[1, 2, 3]);
        let p = Ipv6Packet::new_checked(&b).expect("valid");
        assert_eq!(
            (p.upper_protocol(), p.upper_payload(), p.hop_limit()),
            (17, &[1, 2, 3][..], 9)
        );
        assert_eq!(
            (p.next_header(), p.traffic_class(), p.flow_label()),
            (17, 0, 0)
        );
        assert_eq!(p.src(), Ipv6Addr::LOCALHOST);
        assert!(p.fragment().is_none() && !p.is_fragment());
    }

    #[test]
    fn chain_of_extension_headers() {
        let mut ext = vec![NEXT_ROUTING, 0, 0, 0, 0, 0, 0, 0]; // hop-by-hop, 8 bytes
        ext.extend_from_slice(&[NEXT_DEST_OPTS, 1]); // routing, 16 bytes
        ext.extend_from_slice(&[0; 14]);
        ext.extend_from_slice(&[NEXT_FRAGMENT, 0, 0, 0, 0, 0, 0, 0]); // dest opts
        ext.extend_from_slice(&[17, 0, 0x00, 0x01, 0xDE, 0xAD, 0xBE, 0xEF]); // fragment, M=1
        let b = packet(NEXT_HOP_BY_HOP, &ext, &[9; 8]);
        let p = Ipv6Packet::new_checked(&b).expect("valid");
        assert_eq!(p.upper_protocol(), 17);
        assert_eq!(p.upper_payload(), &[9; 8]);
        assert_eq!(
            p.fragment(),
            Some(Ipv6Fragment {
                ident: 0xDEADBEEF,
                offset: 0,
                more: true
            })
        );
        assert!(p.is_fragment());
    }

    #[test]
    fn later_fragment_stops_walk() {
        let ext = [NEXT_HOP_BY_HOP, 0, 0x00, 0x10, 0, 0, 0, 1]; // offset 16, M=0
        let b = packet(NEXT_FRAGMENT, &ext, &[0, 0, 0, 0, 0, 0, 0, 0]);
        let p = Ipv6Packet::new_checked(&b).expect("valid");
        assert_eq!(p.upper_protocol(), NEXT_HOP_BY_HOP);
        assert_eq!(p.upper_payload().len(), 8);
        assert_eq!(p.fragment().map(|f| (f.offset, f.more)), Some((16, false)));
    }

    #[test]
    fn errors() {
        let mut ext = Vec::new();
        for _ in 0..=MAX_EXTENSION_HEADERS {
            ext.extend_from_slice(&[NEXT_DEST_OPTS, 0, 0, 0, 0, 0, 0, 0]);
        }
        let b = packet(NEXT_DEST_OPTS, &ext, &[]);
        assert!(matches!(
            Ipv6Packet::new_checked(&b),
            Err(DecodeError::BadHeader { .. })
        ));
        let b = packet(NEXT_DEST_OPTS, &[17, 1, 0, 0, 0, 0, 0, 0], &[]);
        assert_eq!(
            Ipv6Packet::new_checked(&b).err(),
            Some(DecodeError::Truncated(Layer::Ipv6))
        );
        let mut b = packet(17, &[], &[1]);
        b[5] = 2;
        assert_eq!(
            Ipv6Packet::new_checked(&b).err(),
            Some(DecodeError::Truncated(Layer::Ipv6))
        );
        b[0] = 0x40;
        assert!(matches!(
            Ipv6Packet::new_checked(&b),
            Err(DecodeError::BadHeader { .. })
        ));
    }
}
