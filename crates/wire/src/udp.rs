//! UDP header view.

use crate::error::{DecodeError, Layer};
use crate::link::be16;

/// A UDP datagram whose length field was checked against the IP payload.
#[derive(Debug, Clone, Copy)]
pub struct UdpDatagram<'a> {
    buf: &'a [u8],
    len: usize,
}

impl<'a> UdpDatagram<'a> {
    /// Length of the header.
    pub const HEADER_LEN: usize = 8;

    /// Checks the header and the length field. A length of 0 (IPv6 jumbogram, offload) means "the
    /// whole IP payload"; a length beyond the IP payload is a truncation.
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < Self::HEADER_LEN {
            return Err(DecodeError::Truncated(Layer::Udp));
        }
        let len = match usize::from(be16(buf, 4)) {
            0 => buf.len(),
            n if n < Self::HEADER_LEN => {
                return Err(DecodeError::bad(Layer::Udp, "length below 8"));
            }
            n if n > buf.len() => return Err(DecodeError::Truncated(Layer::Udp)),
            n => n,
        };
        Ok(Self { buf, len })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf, 0)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf, 2)
    }

    /// Checksum as carried (not verified).
    pub fn checksum(&self) -> u16 {
        be16(self.buf, 6)
    }

    /// The payload (up to the UDP length).
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[Self::HEADER_LEN..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_errors() {
        let b = [0x13, 0xC4, 0x27, 0x10, 0, 10, 0xAB, 0xCD, 1, 2, 99];
        let u = UdpDatagram::new_checked(&b).expect("valid");
        assert_eq!(
            (u.src_port(), u.dst_port(), u.checksum()),
            (5060, 10000, 0xABCD)
        );
        assert_eq!(u.payload(), &[1, 2]);
        assert_eq!(
            UdpDatagram::new_checked(&b[..9]).err(),
            Some(DecodeError::Truncated(Layer::Udp))
        );
        let mut bad = b;
        bad[5] = 7;
        assert!(matches!(
            UdpDatagram::new_checked(&bad),
            Err(DecodeError::BadHeader { .. })
        ));
        bad[5] = 0;
        assert_eq!(
            UdpDatagram::new_checked(&bad)
                .expect("valid")
                .payload()
                .len(),
            3
        );
    }
}
