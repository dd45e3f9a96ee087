//! IPv4 header view.

use std::net::Ipv4Addr;

use crate::error::{DecodeError, Layer};
use crate::link::be16;

/// An IPv4 packet whose header and total length were checked against the captured bytes.
///
/// The header checksum is not verified: captures taken on the sending host routinely carry
/// checksums left for the NIC to fill in.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<'a> {
    buf: &'a [u8],
    header_len: usize,
    total_len: usize,
}

impl<'a> Ipv4Packet<'a> {
    /// Length of a header without options.
    pub const MIN_HEADER_LEN: usize = 20;

    /// Checks version, IHL and total length. Bytes past the total length (Ethernet padding) are
    /// ignored; a total length of 0 (TCP segmentation offload on the capturing host) means "all
    /// captured bytes".
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < Self::MIN_HEADER_LEN {
            return Err(DecodeError::Truncated(Layer::Ipv4));
        }
        if buf[0] >> 4 != 4 {
            return Err(DecodeError::bad(Layer::Ipv4, "version is not 4"));
        }
        let header_len = usize::from(buf[0] & 0x0F) * 4;
        if header_len < Self::MIN_HEADER_LEN {
            return Err(DecodeError::bad(Layer::Ipv4, "IHL below 5"));
        }
        let mut total_len = usize::from(be16(buf, 2));
        if total_len == 0 {
            total_len = buf.len();
        }
        if total_len < header_len {
            return Err(DecodeError::bad(
                Layer::Ipv4,
                "total length below header length",
            ));
        }
        if total_len > buf.len() {
            return Err(DecodeError::Truncated(Layer::Ipv4));
        }
        Ok(Self {
            buf,
            header_len,
            total_len,
        })
    }

    /// Header length in bytes (IHL × 4).
    pub const fn header_len(&self) -> usize {
        self.header_len
    }

    /// Total length in bytes (as used: see [`Ipv4Packet::new_checked`]).
    pub const fn total_len(&self) -> usize {
        self.total_len
    }

    /// Differentiated services + ECN byte.
    pub fn tos(&self) -> u8 {
        self.buf[1]
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        be16(self.buf, 4)
    }

    /// Don't-fragment flag.
    pub fn dont_fragment(&self) -> bool {
        self.buf[6] & 0x40 != 0
    }

    /// More-fragments flag.
    pub fn more_fragments(&self) -> bool {
        self.buf[6] & 0x20 != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (be16(self.buf, 6) & 0x1FFF) << 3
    }

    /// True when this packet is a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        be16(self.buf, 6) & 0x3FFF != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buf[8]
    }

    /// Upper-layer protocol number.
    pub fn protocol(&self) -> u8 {
        self.buf[9]
    }

    /// Header checksum as carried (not verified).
    pub fn checksum(&self) -> u16 {
        be16(self.buf, 10)
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.buf[12], self.buf[13], self.buf[14], self.buf[15])
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.buf[16], self.buf[17], self.buf[18], self.buf[19])
    }

    /// Option bytes (between the fixed header and the payload).
    pub fn options(&self) -> &'a [u8] {
        &self.buf[Self::MIN_HEADER_LEN..self.header_len]
    }

    /// The payload: header end to total length.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..self.total_len]
    }
}

/// The RFC 1071 one's-complement checksum of `bytes` (used to write headers of reassembled
/// datagrams, and by tests).
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes a 20-byte IPv4 header (no options, not fragmented, checksum filled in).
pub(crate) fn emit_header(
    out: &mut Vec<u8>,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ttl: u8,
    ident: u16,
    payload_len: usize,
) {
    let start = out.len();
    let total = u16::try_from(payload_len + 20).unwrap_or(u16::MAX);
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&ident.to_be_bytes());
    out.extend_from_slice(&[0, 0, ttl, proto, 0, 0]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    let sum = checksum(&out[start..start + 20]);
    out[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<u8> {
        let mut h = vec![0u8; 0];
        emit_header(
            &mut h,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            17,
            64,
            7,
            4,
        );
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    #[test]
    fn fields() {
        let mut b = header();
        b[6] = 0x20 | 0x01; // MF, offset 0x100 units
        b[7] = 0x00;
        b.extend_from_slice(&[0, 0]); // Ethernet padding
        let p = Ipv4Packet::new_checked(&b).expect("valid");
        assert_eq!(
            (p.header_len(), p.total_len(), p.ident(), p.ttl()),
            (20, 24, 7, 64)
        );
        assert_eq!(
            (p.protocol(), p.src(), p.dst()),
            (17, [10, 0, 0, 1].into(), [10, 0, 0, 2].into())
        );
        assert!(p.more_fragments() && !p.dont_fragment() && p.is_fragment());
        assert_eq!(p.frag_offset(), 256 * 8);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        assert!(p.options().is_empty());
        assert_eq!(p.tos(), 0);
    }

    #[test]
    fn emitted_checksum_verifies() {
        let b = header();
        assert_eq!(checksum(&b[..20]), 0);
        assert_eq!(
            Ipv4Packet::new_checked(&b).expect("valid").checksum(),
            u16::from_be_bytes([b[10], b[11]])
        );
    }

    #[test]
    fn options_and_errors() {
        let mut b = header();
        b[0] = 0x46;
        b.splice(20..20, [1, 1, 1, 0]);
        b[3] = 28;
        let p = Ipv4Packet::new_checked(&b).expect("valid");
        assert_eq!(
            (p.options(), p.payload()),
            (&[1, 1, 1, 0][..], &[1, 2, 3, 4][..])
        );
        b[3] = 29;
        assert_eq!(
            Ipv4Packet::new_checked(&b).err(),
            Some(DecodeError::Truncated(Layer::Ipv4))
        );
        b[3] = 20;
        assert!(matches!(
            Ipv4Packet::new_checked(&b),
            Err(DecodeError::BadHeader { .. })
        ));
        b[0] = 0x44;
        assert!(matches!(
            Ipv4Packet::new_checked(&b),
            Err(DecodeError::BadHeader { .. })
        ));
        b[0] = 0x65;
        assert!(matches!(
            Ipv4Packet::new_checked(&b),
            Err(DecodeError::BadHeader { .. })
        ));
    }

    #[test]
    fn total_length_zero_means_captured() {
        let mut b = header();
        b[2] = 0;
        b[3] = 0;
        assert_eq!(
            Ipv4Packet::new_checked(&b).expect("valid").payload().len(),
            4
        );
    }
}
