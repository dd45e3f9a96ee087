//! [`PcapWriter`]: classic libpcap files as the spool stores them (sensor spec §1.5).

use std::io::{self, Write};

use crate::{MAX_CAPLEN, Timestamp};

/// Writes a classic pcap stream: the 24-byte file header at creation, then one 16-byte record
/// header plus the captured bytes per packet.
///
/// Byte order: the format says "host byte order"; we always write **little-endian**, which is
/// the host order of every platform voipsensor targets (x86-64, aarch64) and lets files written
/// anywhere be byte-identical. Readers detect the order from the magic, so the choice is
/// invisible to them. Header fields: magic `a1b2c3d4` (or `a1b23c4d` for nanoseconds), version
/// 2.4, thiszone 0, sigfigs 0, the given snaplen (the spool passes 10000) and link type.
///
/// Packets longer than `snaplen` are written whole, as the spool does; the writer does no
/// buffering of its own, so give it a `BufWriter` for files.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    write: W,
    nanos: bool,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header. `nanos` selects nanosecond timestamps; the spool uses
    /// microseconds (`false`).
    pub fn new(mut write: W, link_type: u32, snaplen: u32, nanos: bool) -> io::Result<Self> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&magic.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone (8..12) and sigfigs (12..16) stay 0.
        header[16..20].copy_from_slice(&snaplen.to_le_bytes());
        header[20..24].copy_from_slice(&link_type.to_le_bytes());
        write.write_all(&header)?;
        Ok(Self { write, nanos })
    }

    /// Appends one packet. `ts.secs` must fit the format's unsigned 32-bit seconds and `data`
    /// must not exceed [`MAX_CAPLEN`] (so that every file written here can be read back);
    /// otherwise nothing is written and the error kind is `InvalidInput`. `orig_len` is stored
    /// as given.
    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        let secs = u32::try_from(ts.secs).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "timestamp outside the pcap range",
            )
        })?;
        let caplen = u32::try_from(data.len())
            .ok()
            .filter(|&n| n <= MAX_CAPLEN)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "packet larger than 256 MiB")
            })?;
        let frac = if self.nanos { ts.nanos } else { ts.micros() };
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&frac.to_le_bytes());
        header[8..12].copy_from_slice(&caplen.to_le_bytes());
        header[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.write.write_all(&header)?;
        self.write.write_all(data)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.write.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.write
    }

    /// Gives back the underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_are_byte_exact() {
        let mut w = PcapWriter::new(Vec::new(), 1, 10_000, false).expect("Vec never fails");
        w.write_packet(Timestamp::new(0x0102_0304, 5_006_007), &[0xaa, 0xbb], 60)
            .expect("Vec never fails");
        #[rustfmt::skip]
        let expected = [
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0x10, 0x27, 0, 0, 1, 0, 0, 0,
            4, 3, 2, 1, 0x8e, 0x13, 0, 0, 2, 0, 0, 0, 60, 0, 0, 0, 0xaa, 0xbb,
        ];
        assert_eq!(w.get_ref().as_slice(), expected.as_slice());
    }

    #[test]
    fn nanos_magic_and_fraction() {
        let mut w = PcapWriter::new(Vec::new(), 276, 65_535, true).expect("Vec never fails");
        w.write_packet(Timestamp::new(1, 999_999_999), &[], 0)
            .expect("Vec never fails");
        let out = w.into_inner();
        assert_eq!(&out[0..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(&out[20..24], &[0x14, 1, 0, 0]);
        assert_eq!(&out[28..32], &999_999_999u32.to_le_bytes());
    }

    #[test]
    fn rejects_what_the_format_cannot_hold() {
        let mut w = PcapWriter::new(Vec::new(), 1, 10_000, false).expect("Vec never fails");
        let err = w
            .write_packet(Timestamp::new(-1, 0), &[1], 1)
            .expect_err("negative secs");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = w
            .write_packet(Timestamp::new(1 << 32, 0), &[1], 1)
            .expect_err("too late");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(w.get_ref().len(), 24, "nothing written on error");
    }
}
