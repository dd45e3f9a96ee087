//! Classic libpcap format: a 24-byte file header, then 16-byte record headers each followed by
//! the captured bytes. Byte order and timestamp unit come from the magic number.

use std::io::Read;

use crate::input::Input;
use crate::reader::{Next, Packet};
use crate::{Error, Interface, MAX_CAPLEN, Result, Timestamp, TsResolution};

/// Microsecond magic as it appears in a file written little-endian.
pub(crate) const MAGIC_MICROS_LE: [u8; 4] = [0xd4, 0xc3, 0xb2, 0xa1];
/// Microsecond magic written big-endian.
pub(crate) const MAGIC_MICROS_BE: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];
/// Nanosecond magic written little-endian.
pub(crate) const MAGIC_NANOS_LE: [u8; 4] = [0x4d, 0x3c, 0xb2, 0xa1];
/// Nanosecond magic written big-endian.
pub(crate) const MAGIC_NANOS_BE: [u8; 4] = [0xa1, 0xb2, 0x3c, 0x4d];

pub(crate) const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

/// State of a classic pcap stream after its file header.
#[derive(Debug)]
pub(crate) struct Pcap {
    pub(crate) big_endian: bool,
    pub(crate) nanos: bool,
    pub(crate) interface: Interface,
}

impl Pcap {
    /// Parses the file header; `magic` is one of the four magics above (already checked).
    pub(crate) fn start<R: Read>(input: &mut Input<R>, magic: [u8; 4]) -> Result<Self> {
        let big_endian = magic == MAGIC_MICROS_BE || magic == MAGIC_NANOS_BE;
        let nanos = magic == MAGIC_NANOS_LE || magic == MAGIC_NANOS_BE;
        if !input.fill(FILE_HEADER_LEN)? {
            return Err(Error::TruncatedHeader {
                need: FILE_HEADER_LEN as u32,
                got: input.available() as u32,
            });
        }
        let h = input.bytes();
        let major = u16_at(h, 4, big_endian);
        if major != 2 {
            let minor = u16_at(h, 6, big_endian);
            return Err(Error::corrupt(
                0,
                format!("unsupported pcap version {major}.{minor}"),
            ));
        }
        let snaplen = u32_at(h, 16, big_endian);
        // The upper 16 bits carry FCS information (pcap draft §4); libpcap masks them too.
        let link_type = u32_at(h, 20, big_endian) & 0xffff;
        let resolution = TsResolution::Decimal(if nanos { 9 } else { 6 });
        let interface = Interface::new(link_type, snaplen, resolution, 0)
            .ok_or_else(|| Error::corrupt(0, "impossible timestamp resolution"))?;
        input.consume(FILE_HEADER_LEN);
        Ok(Self {
            big_endian,
            nanos,
            interface,
        })
    }

    /// Parses the next record in place.
    #[inline]
    pub(crate) fn next<R: Read>(&self, input: &mut Input<R>) -> Result<Next> {
        if !input.fill(RECORD_HEADER_LEN)? {
            return Ok(Next::end(input.available()));
        }
        let h = input.bytes();
        let be = self.big_endian;
        let secs = u32_at(h, 0, be);
        let frac = u32_at(h, 4, be);
        let caplen = u32_at(h, 8, be);
        let orig_len = u32_at(h, 12, be);
        if caplen > MAX_CAPLEN {
            return Err(Error::corrupt(
                input.offset(),
                format!("record caplen {caplen} exceeds the 256 MiB limit"),
            ));
        }
        let total = RECORD_HEADER_LEN + caplen as usize;
        if !input.fill(total)? {
            return Ok(Next::Truncated);
        }
        // A fraction of a second >= 1 s (broken writers) carries over instead of being dropped.
        let nanos = if self.nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1_000
        };
        let ts = Timestamp {
            secs: i64::from(secs) + (nanos / 1_000_000_000) as i64,
            nanos: (nanos % 1_000_000_000) as u32,
        };
        let data_at = input.pos() + RECORD_HEADER_LEN;
        input.consume(total);
        Ok(Next::Packet(Packet {
            ts,
            link_type: self.interface.link_type(),
            data_at,
            caplen: caplen as usize,
            orig_len,
            interface: 0,
        }))
    }
}

#[inline]
pub(crate) fn u16_at(b: &[u8], at: usize, big_endian: bool) -> u16 {
    let raw = [b[at], b[at + 1]];
    if big_endian {
        u16::from_be_bytes(raw)
    } else {
        u16::from_le_bytes(raw)
    }
}

#[inline]
pub(crate) fn u32_at(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let raw = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big_endian {
        u32::from_be_bytes(raw)
    } else {
        u32::from_le_bytes(raw)
    }
}
