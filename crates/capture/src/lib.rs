//! Packet sources for voipsensor: capture files in, capture files out.
//!
//! * [`Reader`] streams packets out of any [`std::io::Read`]. The format is detected from the
//!   first bytes, never from a file name: classic pcap (either byte order, microsecond or
//!   nanosecond timestamps), pcapng (either byte order, several sections, any number of
//!   interfaces with their own link type and timestamp resolution) and gzip-compressed files
//!   of either (decompressed transparently, concatenated gzip members included).
//! * [`open`] opens one file; [`MultiReader`] plays several files in order.
//! * [`PcapWriter`] writes classic pcap files as the spool stores them (sensor spec §1.5).
//! * [`LiveCapture`] captures live from one Linux interface (or `any`) through an `AF_PACKET`
//!   socket with a `TPACKET_V3` ring, lending packets straight out of the ring (module `live`,
//!   the only place in the crate with `unsafe` code; no libpcap).
//!
//! Reading allocates nothing per packet: records are parsed in place inside one large reusable
//! buffer (1 MiB by default) and each [`PacketRef`] borrows its bytes from that buffer until the
//! next call. A file that ends in the middle of a record (a capture still being written, a cut
//! copy) yields every complete packet, then `Ok(None)` with [`Reader::truncated`] set; corrupt
//! structure is an [`Error::Corrupt`] naming the byte offset. Nothing in here panics on input.
//!
//! ```
//! use voipsensor_capture::{PcapWriter, Reader, Timestamp, linktype};
//!
//! let mut file = Vec::new();
//! let mut writer = PcapWriter::new(&mut file, linktype::ETHERNET, 10_000, false)?;
//! writer.write_packet(Timestamp::new(1_776_167_857, 400_000_000), &[0xab; 60], 60)?;
//! writer.flush()?;
//!
//! let mut reader = Reader::new(&file[..])?;
//! while let Some(packet) = reader.next_packet()? {
//!     assert_eq!(packet.link_type, linktype::ETHERNET);
//!     assert_eq!(packet.data.len(), 60);
//!     assert_eq!(packet.ts.nanos, 400_000_000);
//! }
//! assert!(!reader.truncated());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod input;
mod live;
mod multi;
mod pcap;
mod pcapng;
mod reader;
mod writer;

pub use error::{Error, Result};
pub use live::{LiveCapture, LiveOptions, LiveStats};
pub use multi::{MultiReader, Progress, TrackedFile};
pub use reader::{DEFAULT_BUFFER_SIZE, Format, Reader, open};
pub use writer::PcapWriter;

/// Largest captured length accepted for one packet (256 MiB); anything larger is corrupt.
pub const MAX_CAPLEN: u32 = 256 << 20;

/// Packet time: seconds since the Unix epoch plus nanoseconds (always `< 1_000_000_000`).
///
/// Field order makes the derived ordering chronological.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01 00:00:00 UTC (negative only through a pcapng
    /// `if_tsoffset`).
    pub secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanos: u32,
}

impl Timestamp {
    /// A timestamp from seconds and nanoseconds; nanoseconds beyond one second carry over.
    pub const fn new(secs: i64, nanos: u32) -> Self {
        Self {
            secs: secs.saturating_add((nanos / 1_000_000_000) as i64),
            nanos: nanos % 1_000_000_000,
        }
    }

    /// Microseconds within the second (what a microsecond pcap stores).
    pub const fn micros(self) -> u32 {
        self.nanos / 1_000
    }
}

/// One packet, borrowed from the reader's buffer until the next call on the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRef<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// pcap `LINKTYPE_*` number of the packet's interface (see [`linktype`]); unknown values are
    /// passed through unchanged.
    pub link_type: u32,
    /// The captured bytes (possibly fewer than `orig_len`).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
    /// pcapng interface id within the current section; always 0 for classic pcap.
    pub interface: u32,
}

/// Timestamp resolution of an interface (pcapng `if_tsresol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsResolution {
    /// Units of 10^-n seconds (`6` = microseconds, the pcapng default; `9` = nanoseconds).
    Decimal(u8),
    /// Units of 2^-n seconds.
    Binary(u8),
}

/// One capture interface: the single implicit one of a classic pcap, or a pcapng IDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    link_type: u32,
    snaplen: u32,
    resolution: TsResolution,
    ts_offset: i64,
    /// Timestamp units per second, cached from `resolution` (at most 10^19 or 2^63).
    units_per_sec: u64,
}

impl Interface {
    /// Builds an interface; `None` when the resolution has no `u64` unit count (10^n with
    /// n > 19, 2^n with n > 63).
    pub(crate) fn new(
        link_type: u32,
        snaplen: u32,
        resolution: TsResolution,
        ts_offset: i64,
    ) -> Option<Self> {
        let units_per_sec = match resolution {
            TsResolution::Decimal(n) => 10u64.checked_pow(u32::from(n))?,
            TsResolution::Binary(n) => 1u64.checked_shl(u32::from(n))?,
        };
        Some(Self {
            link_type,
            snaplen,
            resolution,
            ts_offset,
            units_per_sec,
        })
    }

    /// pcap `LINKTYPE_*` number of this interface.
    pub fn link_type(&self) -> u32 {
        self.link_type
    }

    /// Snapshot length announced by the file (0 = unlimited in pcapng).
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// Timestamp resolution.
    pub fn resolution(&self) -> TsResolution {
        self.resolution
    }

    /// pcapng `if_tsoffset`: seconds added to every timestamp of this interface.
    pub fn ts_offset(&self) -> i64 {
        self.ts_offset
    }

    /// Converts a raw timestamp in this interface's units to a [`Timestamp`].
    pub(crate) fn timestamp(&self, units: u64) -> Timestamp {
        let per_sec = self.units_per_sec;
        let secs = units / per_sec;
        let frac = units % per_sec;
        let nanos = match per_sec {
            1_000_000 => frac * 1_000,
            1_000_000_000 => frac,
            // frac < per_sec, so the quotient is < 10^9 and fits.
            _ => (u128::from(frac) * 1_000_000_000 / u128::from(per_sec)) as u64,
        };
        Timestamp {
            secs: i64::try_from(secs)
                .unwrap_or(i64::MAX)
                .saturating_add(self.ts_offset),
            nanos: nanos as u32,
        }
    }
}

/// Common pcap `LINKTYPE_*` numbers (<https://www.tcpdump.org/linktypes.html>).
pub mod linktype {
    /// BSD loopback / null: 4-byte address family in host byte order.
    pub const NULL: u32 = 0;
    /// Ethernet II / 802.3.
    pub const ETHERNET: u32 = 1;
    /// Raw IPv4 or IPv6, version from the first nibble.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture v1 (`any` interface), 16-byte header.
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture v2, 20-byte header.
    pub const LINUX_SLL2: u32 = 276;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_carries_nanos() {
        assert_eq!(
            Timestamp::new(1, 2_500_000_000),
            Timestamp {
                secs: 3,
                nanos: 500_000_000
            }
        );
        assert_eq!(Timestamp::new(5, 123_456_789).micros(), 123_456);
    }

    #[test]
    fn interface_converts_all_resolutions() {
        let us = Interface::new(1, 0, TsResolution::Decimal(6), 0).expect("valid resolution");
        assert_eq!(us.timestamp(1_500_000), Timestamp::new(1, 500_000_000));
        let ms = Interface::new(1, 0, TsResolution::Decimal(3), 10).expect("valid resolution");
        assert_eq!(ms.timestamp(2_001), Timestamp::new(12, 1_000_000));
        let bin = Interface::new(1, 0, TsResolution::Binary(10), -1).expect("valid resolution");
        assert_eq!(
            bin.timestamp(3 * 1024 + 512),
            Timestamp::new(2, 500_000_000)
        );
        let ps = Interface::new(1, 0, TsResolution::Decimal(12), 0).expect("valid resolution");
        assert_eq!(ps.timestamp(1_000_000_001_999), Timestamp::new(1, 1));
        let top = Interface::new(1, 0, TsResolution::Decimal(19), 0).expect("valid resolution");
        assert_eq!(top.timestamp(u64::MAX).secs, 1);
        assert!(Interface::new(1, 0, TsResolution::Decimal(20), 0).is_none());
        assert!(Interface::new(1, 0, TsResolution::Binary(64), 0).is_none());
        let b63 = Interface::new(1, 0, TsResolution::Binary(63), 0).expect("valid resolution");
        assert_eq!(b63.timestamp(1 << 62), Timestamp::new(0, 500_000_000));
    }
}
