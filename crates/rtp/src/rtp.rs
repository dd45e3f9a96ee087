//! The RTP fixed header (RFC 3550 §5.1) as a zero-copy, bounds-checked view.

use crate::payload::PayloadType;

/// Length of the fixed RTP header.
pub const RTP_HEADER_LEN: usize = 12;

/// A synchronisation source identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ssrc(pub u32);

/// Why a buffer is not a well-formed RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Fewer than 12 bytes.
    #[error("shorter than the 12-byte RTP header")]
    TooShort,
    /// The version field is not 2.
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The CSRC list runs past the end of the buffer.
    #[error("CSRC list truncated")]
    CsrcTruncated,
    /// The header extension runs past the end of the buffer.
    #[error("header extension truncated")]
    ExtensionTruncated,
    /// The padding count is zero or larger than what follows the headers.
    #[error("invalid padding length")]
    BadPadding,
}

/// A validated RTP packet borrowed from a capture buffer.
///
/// [`RtpPacket::parse`] checks every length once; afterwards no accessor can panic.
#[derive(Debug, Clone, Copy)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    payload_start: usize,
    payload_end: usize,
}

impl<'a> RtpPacket<'a> {
    /// Checks `buf` and returns a view of it.
    ///
    /// # Errors
    /// Any [`RtpError`] when the version is not 2 or a length field points past the buffer.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        if buf.len() < RTP_HEADER_LEN {
            return Err(RtpError::TooShort);
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let csrc_count = usize::from(buf[0] & 0x0f);
        let mut start = RTP_HEADER_LEN + 4 * csrc_count;
        if start > buf.len() {
            return Err(RtpError::CsrcTruncated);
        }
        if buf[0] & 0x10 != 0 {
            if start + 4 > buf.len() {
                return Err(RtpError::ExtensionTruncated);
            }
            let words = usize::from(u16::from_be_bytes([buf[start + 2], buf[start + 3]]));
            start += 4 + 4 * words;
            if start > buf.len() {
                return Err(RtpError::ExtensionTruncated);
            }
        }
        let mut end = buf.len();
        if buf[0] & 0x20 != 0 {
            let pad = usize::from(buf[buf.len() - 1]);
            if pad == 0 || pad > end - start {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        Ok(Self {
            buf,
            payload_start: start,
            payload_end: end,
        })
    }

    /// Always 2 for a parsed packet.
    pub fn version(&self) -> u8 {
        self.buf[0] >> 6
    }

    /// The P bit: padding octets follow the payload.
    pub fn padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// Number of padding octets removed from the payload (0 without the P bit).
    pub fn padding_len(&self) -> usize {
        self.buf.len() - self.payload_end
    }

    /// The X bit: a header extension follows the CSRC list.
    pub fn extension(&self) -> bool {
        self.buf[0] & 0x10 != 0
    }

    /// Number of CSRC identifiers (0–15).
    pub fn csrc_count(&self) -> u8 {
        self.buf[0] & 0x0f
    }

    /// The M bit (start of a talkspurt for audio).
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// The 7-bit payload type.
    pub fn payload_type(&self) -> PayloadType {
        PayloadType(self.buf[1] & 0x7f)
    }

    /// The 16-bit sequence number.
    pub fn sequence(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// The 32-bit media timestamp.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    /// The synchronisation source.
    pub fn ssrc(&self) -> Ssrc {
        Ssrc(u32::from_be_bytes([
            self.buf[8],
            self.buf[9],
            self.buf[10],
            self.buf[11],
        ]))
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = Ssrc> + 'a {
        let n = usize::from(self.csrc_count());
        self.buf[RTP_HEADER_LEN..RTP_HEADER_LEN + 4 * n]
            .chunks_exact(4)
            .map(|c| Ssrc(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
    }

    /// The header extension as (profile-defined 16 bits, extension data), if present.
    pub fn extension_header(&self) -> Option<(u16, &'a [u8])> {
        if !self.extension() {
            return None;
        }
        let at = RTP_HEADER_LEN + 4 * usize::from(self.csrc_count());
        let profile = u16::from_be_bytes([self.buf[at], self.buf[at + 1]]);
        Some((profile, &self.buf[at + 4..self.payload_start]))
    }

    /// The payload, without headers, extension and padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.payload_start..self.payload_end]
    }

    /// The whole packet as given to [`RtpPacket::parse`].
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// A cheap guess whether a UDP payload not bound to a call by SDP is RTP.
///
/// True when it parses as RTP, is not RTCP (second byte 192–223 would be an RTCP packet type,
/// which RFC 5761 reserves so that RTP and RTCP can share a port), the SSRC is not zero and the
/// payload type is a static audio/video type or a dynamic one (35–71 and 77–95 are unassigned or
/// reserved and rejected).
pub fn looks_like_rtp(buf: &[u8]) -> bool {
    let Ok(pkt) = RtpPacket::parse(buf) else {
        return false;
    };
    if (192..=223).contains(&buf[1]) {
        return false;
    }
    let pt = pkt.payload_type().0;
    if (35..=95).contains(&pt) {
        return false;
    }
    pkt.ssrc().0 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pt: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut v = vec![0x80, pt];
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&ts.to_be_bytes());
        v.extend_from_slice(&ssrc.to_be_bytes());
        v
    }

    #[test]
    fn fixed_header_fields() {
        let mut b = header(0x80 | 8, 0x1234, 0xdead_beef, 0x0102_0304);
        b.extend_from_slice(&[1, 2, 3]);
        let p = RtpPacket::parse(&b).expect("valid");
        assert_eq!(p.version(), 2);
        assert!(p.marker());
        assert_eq!(p.payload_type(), PayloadType::PCMA);
        assert_eq!(p.sequence(), 0x1234);
        assert_eq!(p.timestamp(), 0xdead_beef);
        assert_eq!(p.ssrc(), Ssrc(0x0102_0304));
        assert_eq!(p.payload(), &[1, 2, 3]);
        assert!(!p.padding() && !p.extension());
        assert_eq!(p.csrcs().count(), 0);
        assert!(p.extension_header().is_none());
    }

    #[test]
    fn csrc_extension_and_padding() {
        let mut b = header(0, 1, 2, 3);
        b[0] = 0x80 | 0x20 | 0x10 | 2; // P, X, CC=2
        b.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 10]); // CSRCs
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd]); // extension, 1 word
        b.extend_from_slice(&[7, 7]); // payload
        b.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let p = RtpPacket::parse(&b).expect("valid");
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![Ssrc(9), Ssrc(10)]);
        assert_eq!(
            p.extension_header(),
            Some((0xbede, &[0xaa, 0xbb, 0xcc, 0xdd][..]))
        );
        assert_eq!(p.payload(), &[7, 7]);
        assert_eq!(p.padding_len(), 3);
    }

    #[test]
    fn malformed_headers() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 11]).err(),
            Some(RtpError::TooShort)
        );
        let mut b = header(0, 1, 2, 3);
        b[0] = 0x40;
        assert_eq!(RtpPacket::parse(&b).err(), Some(RtpError::BadVersion(1)));
        b[0] = 0x81;
        assert_eq!(RtpPacket::parse(&b).err(), Some(RtpError::CsrcTruncated));
        b[0] = 0x90;
        assert_eq!(
            RtpPacket::parse(&b).err(),
            Some(RtpError::ExtensionTruncated)
        );
        b.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0]);
        assert_eq!(
            RtpPacket::parse(&b).err(),
            Some(RtpError::ExtensionTruncated)
        );
        let mut b = header(0, 1, 2, 3);
        b[0] = 0xa0;
        assert_eq!(RtpPacket::parse(&b).err(), Some(RtpError::BadPadding));
        b.push(0);
        assert_eq!(RtpPacket::parse(&b).err(), Some(RtpError::BadPadding));
        *b.last_mut().expect("non-empty") = 1;
        assert_eq!(
            RtpPacket::parse(&b).expect("pad only").payload(),
            &[] as &[u8]
        );
    }

    #[test]
    fn heuristics() {
        let mut b = header(0, 1, 2, 3);
        b.extend_from_slice(&[0; 160]);
        assert!(looks_like_rtp(&b));
        b[1] = 200; // RTCP SR
        assert!(!looks_like_rtp(&b));
        b[1] = 50; // unassigned PT
        assert!(!looks_like_rtp(&b));
        b[1] = 101; // dynamic
        assert!(looks_like_rtp(&b));
        b[8..12].copy_from_slice(&[0; 4]);
        assert!(!looks_like_rtp(&b));
        assert!(!looks_like_rtp(b"INVITE sip:x SIP/2.0"));
    }
}
