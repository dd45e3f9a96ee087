//! RTCP compound packets (RFC 3550 §6) as zero-copy views: SR and RR with their report
//! blocks; SDES, BYE, APP, feedback and XR are walked over without being interpreted.

use crate::rtp::Ssrc;

/// Length of one report block.
pub const REPORT_BLOCK_LEN: usize = 24;
const SENDER_INFO_LEN: usize = 20;

/// RTCP packet types (open: unknown values are kept, not rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RtcpPacketType {
    /// 200, sender report.
    SenderReport,
    /// 201, receiver report.
    ReceiverReport,
    /// 202, source description.
    SourceDescription,
    /// 203, goodbye.
    Bye,
    /// 204, application-defined.
    App,
    /// 205, transport-layer feedback (RFC 4585).
    TransportFeedback,
    /// 206, payload-specific feedback (RFC 4585).
    PayloadFeedback,
    /// 207, extended reports (RFC 3611).
    ExtendedReport,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for RtcpPacketType {
    fn from(v: u8) -> Self {
        match v {
            200 => Self::SenderReport,
            201 => Self::ReceiverReport,
            202 => Self::SourceDescription,
            203 => Self::Bye,
            204 => Self::App,
            205 => Self::TransportFeedback,
            206 => Self::PayloadFeedback,
            207 => Self::ExtendedReport,
            other => Self::Unknown(other),
        }
    }
}

/// Why a compound RTCP packet could not be walked further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// Fewer than 4 bytes left for a header, or the length field points past the buffer.
    #[error("RTCP packet truncated")]
    Truncated,
    /// The version field is not 2.
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    /// The padding count is zero or covers the header.
    #[error("invalid RTCP padding")]
    BadPadding,
    /// The report count does not fit into the packet.
    #[error("report blocks exceed the RTCP packet")]
    ReportsTruncated,
}

/// One RTCP packet of a compound packet.
#[derive(Debug, Clone, Copy)]
pub struct RtcpPacket<'a> {
    header: [u8; 4],
    body: &'a [u8],
}

impl<'a> RtcpPacket<'a> {
    /// The packet type.
    pub fn packet_type(&self) -> RtcpPacketType {
        RtcpPacketType::from(self.header[1])
    }

    /// The 5-bit count field (report count, source count or APP subtype).
    pub fn count(&self) -> u8 {
        self.header[0] & 0x1f
    }

    /// The bytes after the 4-byte header, without padding.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The packet as a sender report, if it is one (checked when the packet was read).
    pub fn sender_report(&self) -> Option<SenderReport<'a>> {
        (self.packet_type() == RtcpPacketType::SenderReport).then_some(SenderReport {
            body: self.body,
            count: self.count(),
        })
    }

    /// The packet as a receiver report, if it is one (checked when the packet was read).
    pub fn receiver_report(&self) -> Option<ReceiverReport<'a>> {
        (self.packet_type() == RtcpPacketType::ReceiverReport).then_some(ReceiverReport {
            body: self.body,
            count: self.count(),
        })
    }
}

/// Iterator over the packets of a compound RTCP packet; see [`parse_compound`].
///
/// Yields at most one error, then stops: after a bad length nothing behind it can be trusted.
#[derive(Debug, Clone)]
pub struct RtcpCompound<'a> {
    rest: &'a [u8],
}

/// Walks the compound RTCP packet in `buf`.
pub fn parse_compound(buf: &[u8]) -> RtcpCompound<'_> {
    RtcpCompound { rest: buf }
}

impl<'a> Iterator for RtcpCompound<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = read_packet(self.rest);
        match result {
            Ok((pkt, len)) => {
                self.rest = &self.rest[len..];
                Some(Ok(pkt))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

fn read_packet(buf: &[u8]) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    if buf.len() < 4 {
        return Err(RtcpError::Truncated);
    }
    let header = [buf[0], buf[1], buf[2], buf[3]];
    let version = header[0] >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion(version));
    }
    let len = (usize::from(u16::from_be_bytes([header[2], header[3]])) + 1) * 4;
    if len > buf.len() {
        return Err(RtcpError::Truncated);
    }
    let mut end = len;
    if header[0] & 0x20 != 0 {
        let pad = usize::from(buf[len - 1]);
        if pad == 0 || pad > len - 4 {
            return Err(RtcpError::BadPadding);
        }
        end -= pad;
    }
    let pkt = RtcpPacket {
        header,
        body: &buf[4..end],
    };
    let fixed = match pkt.packet_type() {
        RtcpPacketType::SenderReport => Some(4 + SENDER_INFO_LEN),
        RtcpPacketType::ReceiverReport => Some(4),
        _ => None,
    };
    if let Some(fixed) = fixed
        && fixed + REPORT_BLOCK_LEN * usize::from(pkt.count()) > pkt.body.len()
    {
        return Err(RtcpError::ReportsTruncated);
    }
    Ok((pkt, len))
}

/// True when `buf` is a well-formed compound RTCP packet that starts with SR, RR or another
/// registered RTCP type (200–207) and whose packet lengths add up to the datagram exactly.
pub fn looks_like_rtcp(buf: &[u8]) -> bool {
    if buf.len() < 8 || !(200..=207).contains(&buf[1]) {
        return false;
    }
    parse_compound(buf).all(|p| p.is_ok())
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A sender report (PT 200): sender info and report blocks.
#[derive(Debug, Clone, Copy)]
pub struct SenderReport<'a> {
    body: &'a [u8],
    count: u8,
}

impl<'a> SenderReport<'a> {
    /// SSRC of the sender.
    pub fn ssrc(&self) -> Ssrc {
        Ssrc(be32(self.body, 0))
    }

    /// 64-bit NTP timestamp of the report.
    pub fn ntp_timestamp(&self) -> u64 {
        (u64::from(be32(self.body, 4)) << 32) | u64::from(be32(self.body, 8))
    }

    /// The middle 32 bits of the NTP timestamp, echoed by receivers as LSR.
    pub fn ntp_middle32(&self) -> u32 {
        (self.ntp_timestamp() >> 16) as u32
    }

    /// RTP timestamp corresponding to the NTP timestamp.
    pub fn rtp_timestamp(&self) -> u32 {
        be32(self.body, 12)
    }

    /// Packets sent so far.
    pub fn packet_count(&self) -> u32 {
        be32(self.body, 16)
    }

    /// Payload octets sent so far.
    pub fn octet_count(&self) -> u32 {
        be32(self.body, 20)
    }

    /// The report blocks.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks::new(&self.body[4 + SENDER_INFO_LEN..], self.count)
    }
}

/// A receiver report (PT 201): report blocks only.
#[derive(Debug, Clone, Copy)]
pub struct ReceiverReport<'a> {
    body: &'a [u8],
    count: u8,
}

impl<'a> ReceiverReport<'a> {
    /// SSRC of the reporter.
    pub fn ssrc(&self) -> Ssrc {
        Ssrc(be32(self.body, 0))
    }

    /// The report blocks.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks::new(&self.body[4..], self.count)
    }
}

/// Iterator over report blocks (length checked when the packet was read).
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a> {
    chunks: std::slice::ChunksExact<'a, u8>,
}

impl<'a> ReportBlocks<'a> {
    fn new(blocks: &'a [u8], count: u8) -> Self {
        let n = (REPORT_BLOCK_LEN * usize::from(count)).min(blocks.len());
        Self {
            chunks: blocks[..n].chunks_exact(REPORT_BLOCK_LEN),
        }
    }
}

impl<'a> Iterator for ReportBlocks<'a> {
    type Item = ReportBlock<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        self.chunks.next().map(|b| ReportBlock { b })
    }
}

/// One reception report block (24 bytes).
#[derive(Debug, Clone, Copy)]
pub struct ReportBlock<'a> {
    b: &'a [u8],
}

impl ReportBlock<'_> {
    /// The source this block reports on.
    pub fn ssrc(&self) -> Ssrc {
        Ssrc(be32(self.b, 0))
    }

    /// Fraction lost since the previous report, as a fixed-point byte (fraction × 256).
    pub fn fraction_lost(&self) -> u8 {
        self.b[4]
    }

    /// Cumulative packets lost: a signed 24-bit value (negative with duplicates).
    pub fn cumulative_lost(&self) -> i32 {
        let raw = i32::from_be_bytes([self.b[5], self.b[6], self.b[7], 0]);
        raw >> 8
    }

    /// Extended highest sequence number received.
    pub fn extended_highest_seq(&self) -> u32 {
        be32(self.b, 8)
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        be32(self.b, 12)
    }

    /// Last SR timestamp (middle 32 bits of its NTP time), 0 if none received.
    pub fn lsr(&self) -> u32 {
        be32(self.b, 16)
    }

    /// Delay since that SR in units of 1/65536 s.
    pub fn dlsr(&self) -> u32 {
        be32(self.b, 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SR from 0x11111111 with one block about 0x22222222, then an SDES, then an RR with
    /// two blocks (the second with cumulative lost −3), then a padded BYE.
    fn sample() -> Vec<u8> {
        let mut v = vec![0x81, 200, 0, 12];
        v.extend_from_slice(&0x1111_1111u32.to_be_bytes());
        v.extend_from_slice(&0x83aa_7e80_8000_0000u64.to_be_bytes()); // NTP
        v.extend_from_slice(&160_000u32.to_be_bytes());
        v.extend_from_slice(&1000u32.to_be_bytes());
        v.extend_from_slice(&160_000u32.to_be_bytes());
        v.extend_from_slice(&block(
            0x2222_2222,
            26,
            [0, 0, 5],
            70_000,
            80,
            0x7e80_8000,
            0x0001_0000,
        ));
        v.extend_from_slice(&[0x81, 202, 0, 2, 0x11, 0x11, 0x11, 0x11, 1, 2, b'a', b'b']);
        v.extend_from_slice(&[0x82, 201, 0, 13]);
        v.extend_from_slice(&0x3333_3333u32.to_be_bytes());
        v.extend_from_slice(&block(0x1111_1111, 0, [0, 0, 0], 1, 2, 0, 0));
        v.extend_from_slice(&block(0x4444_4444, 255, [0xff, 0xff, 0xfd], 9, 10, 11, 12));
        v.extend_from_slice(&[0xa1, 203, 0, 2, 0x11, 0x11, 0x11, 0x11, 0, 0, 0, 4]);
        v
    }

    fn block(ssrc: u32, fl: u8, cum: [u8; 3], seq: u32, jit: u32, lsr: u32, dlsr: u32) -> Vec<u8> {
        let mut v = ssrc.to_be_bytes().to_vec();
        v.push(fl);
        v.extend_from_slice(&cum);
        for x in [seq, jit, lsr, dlsr] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v
    }

    #[test]
    fn compound_sr_sdes_rr_bye() {
        let buf = sample();
        assert!(looks_like_rtcp(&buf));
        let pkts: Vec<_> = parse_compound(&buf)
            .collect::<Result<_, _>>()
            .expect("valid");
        assert_eq!(pkts.len(), 4);
        let sr = pkts[0].sender_report().expect("SR");
        assert_eq!(sr.ssrc(), Ssrc(0x1111_1111));
        assert_eq!(sr.ntp_timestamp(), 0x83aa_7e80_8000_0000);
        assert_eq!(sr.ntp_middle32(), 0x7e80_8000);
        assert_eq!(
            (sr.rtp_timestamp(), sr.packet_count(), sr.octet_count()),
            (160_000, 1000, 160_000)
        );
        let b: Vec<_> = sr.report_blocks().collect();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].ssrc(), Ssrc(0x2222_2222));
        assert_eq!(b[0].fraction_lost(), 26);
        assert_eq!(b[0].cumulative_lost(), 5);
        assert_eq!(b[0].extended_highest_seq(), 70_000);
        assert_eq!(
            (b[0].jitter(), b[0].lsr(), b[0].dlsr()),
            (80, 0x7e80_8000, 0x0001_0000)
        );
        assert_eq!(pkts[1].packet_type(), RtcpPacketType::SourceDescription);
        assert!(pkts[1].sender_report().is_none() && pkts[1].receiver_report().is_none());
        let rr = pkts[2].receiver_report().expect("RR");
        assert_eq!(rr.ssrc(), Ssrc(0x3333_3333));
        let b: Vec<_> = rr.report_blocks().collect();
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].cumulative_lost(), -3);
        assert_eq!(b[1].fraction_lost(), 255);
        assert_eq!(pkts[3].packet_type(), RtcpPacketType::Bye);
        assert_eq!(pkts[3].body(), &[0x11; 4], "4 bytes of padding removed");
        assert_eq!(RtcpPacketType::from(99), RtcpPacketType::Unknown(99));
    }

    #[test]
    fn errors_stop_iteration() {
        let mut buf = sample();
        buf.truncate(buf.len() - 1);
        let r: Vec<_> = parse_compound(&buf).collect();
        assert_eq!(r.len(), 4);
        assert_eq!(r[3].as_ref().err(), Some(&RtcpError::Truncated));
        assert!(!looks_like_rtcp(&buf));

        let bad_count = [0x85, 201, 0, 1, 0, 0, 0, 1];
        let r: Vec<_> = parse_compound(&bad_count).collect();
        assert_eq!(r[0].as_ref().err(), Some(&RtcpError::ReportsTruncated));
        let bad_version = [0x41, 201, 0, 1, 0, 0, 0, 1];
        assert_eq!(
            parse_compound(&bad_version).next().and_then(Result::err),
            Some(RtcpError::BadVersion(1))
        );
        let bad_pad = [0xa0, 201, 0, 1, 0, 0, 0, 9];
        assert_eq!(
            parse_compound(&bad_pad).next().and_then(Result::err),
            Some(RtcpError::BadPadding)
        );
        assert_eq!(
            parse_compound(&[0x80, 201]).next().and_then(Result::err),
            Some(RtcpError::Truncated)
        );
        assert!(parse_compound(&[]).next().is_none());
    }
}
