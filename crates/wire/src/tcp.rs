//! TCP header view.

use std::fmt;

use crate::error::{DecodeError, Layer};
use crate::link::be16;

/// TCP control flags (the low 8 bits of the flags field).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: Self = Self(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: Self = Self(0x02);
    /// Reset the connection.
    pub const RST: Self = Self(0x04);
    /// Push function.
    pub const PSH: Self = Self(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: Self = Self(0x10);
    /// Urgent pointer field is significant.
    pub const URG: Self = Self(0x20);
    /// ECN echo.
    pub const ECE: Self = Self(0x40);
    /// Congestion window reduced.
    pub const CWR: Self = Self(0x80);

    /// True when every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        let mut first = true;
        for (i, name) in NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// A TCP segment whose data offset was checked against the IP payload.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    buf: &'a [u8],
    header_len: usize,
}

impl<'a> TcpSegment<'a> {
    /// Length of a header without options.
    pub const MIN_HEADER_LEN: usize = 20;

    /// Checks the fixed header and the data offset.
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < Self::MIN_HEADER_LEN {
            return Err(DecodeError::Truncated(Layer::Tcp));
        }
        let header_len = usize::from(buf[12] >> 4) * 4;
        if header_len < Self::MIN_HEADER_LEN {
            return Err(DecodeError::bad(Layer::Tcp, "data offset below 5"));
        }
        if header_len > buf.len() {
            return Err(DecodeError::Truncated(Layer::Tcp));
        }
        Ok(Self { buf, header_len })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf, 0)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf, 2)
    }

    /// Sequence number.
    pub fn seq(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    /// Acknowledgment number.
    pub fn ack(&self) -> u32 {
        u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
    }

    /// Header length in bytes (data offset × 4).
    pub const fn header_len(&self) -> usize {
        self.header_len
    }

    /// Control flags.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buf[13])
    }

    /// Receive window.
    pub fn window(&self) -> u16 {
        be16(self.buf, 14)
    }

    /// Option bytes.
    pub fn options(&self) -> &'a [u8] {
        &self.buf[Self::MIN_HEADER_LEN..self.header_len]
    }

    /// The payload.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_options() {
        let mut b = vec![0x13, 0xC4, 0xC3, 0x50, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF];
        b.extend_from_slice(&[0x80, 0x18, 0x01, 0x00, 0, 0, 0, 0]);
        b.extend_from_slice(&[2, 4, 0x05, 0xB4, 1, 1, 4, 2, 1, 1, 1, 0]); // MSS, NOPs, SACK-ok
        b.extend_from_slice(b"INV");
        let t = TcpSegment::new_checked(&b).expect("valid");
        assert_eq!(
            (t.src_port(), t.dst_port(), t.seq(), t.ack()),
            (5060, 50000, 1, u32::MAX)
        );
        assert_eq!(
            (t.header_len(), t.window(), t.options().len()),
            (32, 256, 12)
        );
        assert!(t.flags().contains(TcpFlags::ACK) && t.flags().contains(TcpFlags::PSH));
        assert!(!t.flags().contains(TcpFlags::SYN));
        assert_eq!(format!("{:?}", t.flags()), "PSH|ACK");
        assert_eq!(t.payload(), b"INV");
        assert_eq!(
            TcpSegment::new_checked(&b[..31]).err(),
            Some(DecodeError::Truncated(Layer::Tcp))
        );
        b[12] = 0x40;
        assert!(matches!(
            TcpSegment::new_checked(&b),
            Err(DecodeError::BadHeader { .. })
        ));
    }
}
