//! Per-stream accumulation of the RTCP report blocks that describe a stream (spec §3.12).

use crate::rtcp::ReportBlock;

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
pub const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;
/// Round trips longer than this are treated as garbage (clock or LSR confusion), in ms.
pub const MAX_RTD_MS: f64 = 30_000.0;

/// The middle 32 bits of the NTP time (16.16 fixed-point seconds) for a Unix time in µs:
/// the unit of LSR and of the arrival time needed for round-trip delay.
pub fn ntp_middle32_from_unix_us(unix_us: u64) -> u32 {
    let secs = unix_us / 1_000_000 + NTP_UNIX_OFFSET_S;
    let frac = ((unix_us % 1_000_000) << 16) / 1_000_000;
    ((secs << 16) | frac) as u32
}

/// RTCP-derived values of one RTP stream (the `rtcp_*` CDR columns).
#[derive(Debug, Clone, Default)]
pub struct RtcpStats {
    ignore_jitter_ms: u32,
    cumulative_lost: Option<i32>,
    blocks: u32,
    max_fraction: u8,
    fraction_sum: u64,
    jitter_count: u32,
    jitter_max_ms: f64,
    jitter_sum_ms: f64,
    rtd_count: u32,
    rtd_max_ms: f64,
    rtd_sum_ms: f64,
}

impl RtcpStats {
    /// `ignore_jitter_ms` is `ignorertcpjitter`: jitter values (ms) at or above it are skipped;
    /// 0 keeps all.
    pub fn new(ignore_jitter_ms: u32) -> Self {
        Self {
            ignore_jitter_ms,
            ..Self::default()
        }
    }

    /// Adds one report block about this stream. `clock_rate` converts its jitter to ms;
    /// `arrival_ntp_mid32` (see [`ntp_middle32_from_unix_us`]) enables the round-trip delay.
    pub fn handle_report_block(
        &mut self,
        block: &ReportBlock<'_>,
        clock_rate: u32,
        arrival_ntp_mid32: Option<u32>,
    ) {
        self.blocks += 1;
        self.cumulative_lost = Some(block.cumulative_lost());
        self.max_fraction = self.max_fraction.max(block.fraction_lost());
        self.fraction_sum += u64::from(block.fraction_lost());
        let jitter_ms = f64::from(block.jitter()) / (f64::from(clock_rate.max(1)) / 1000.0);
        if self.ignore_jitter_ms == 0 || jitter_ms < f64::from(self.ignore_jitter_ms) {
            self.jitter_count += 1;
            self.jitter_max_ms = self.jitter_max_ms.max(jitter_ms);
            self.jitter_sum_ms += jitter_ms;
        }
        if let Some(now) = arrival_ntp_mid32
            && block.lsr() != 0
        {
            let rtd = now.wrapping_sub(block.lsr()).wrapping_sub(block.dlsr()) as i32;
            let rtd_ms = f64::from(rtd) * 1000.0 / 65536.0;
            if (0.0..=MAX_RTD_MS).contains(&rtd_ms) {
                self.rtd_count += 1;
                self.rtd_max_ms = self.rtd_max_ms.max(rtd_ms);
                self.rtd_sum_ms += rtd_ms;
            }
        }
    }

    /// Report blocks seen (`rtcp_fraclost_pktcount`).
    pub fn blocks(&self) -> u32 {
        self.blocks
    }

    /// Last cumulative-lost value (`rtcp_loss`), `None` before the first block.
    pub fn loss(&self) -> Option<i32> {
        self.cumulative_lost
    }

    /// Largest fraction-lost byte (`rtcp_maxfr`, fraction × 256).
    pub fn max_fraction_lost(&self) -> u8 {
        self.max_fraction
    }

    /// round(average fraction-lost byte × 10) (`rtcp_avgfr_mult10`).
    pub fn avg_fraction_lost_mult10(&self) -> u32 {
        if self.blocks == 0 {
            return 0;
        }
        (self.fraction_sum as f64 * 10.0 / f64::from(self.blocks)).round() as u32
    }

    /// Largest reported jitter in ms, rounded (`rtcp_maxjitter`).
    pub fn max_jitter_ms(&self) -> u32 {
        self.jitter_max_ms.round() as u32
    }

    /// round(average reported jitter in ms × 10) (`rtcp_avgjitter_mult10`).
    pub fn avg_jitter_mult10(&self) -> u32 {
        mean_mult10(self.jitter_sum_ms, self.jitter_count)
    }

    /// Round trips computed from LSR/DLSR.
    pub fn rtd_samples(&self) -> u32 {
        self.rtd_count
    }

    /// round(largest round-trip delay in ms × 10) (`rtcp_maxrtd_mult10`).
    pub fn max_rtd_mult10(&self) -> u32 {
        (self.rtd_max_ms * 10.0).round() as u32
    }

    /// round(average round-trip delay in ms × 10) (`rtcp_avgrtd_mult10`).
    pub fn avg_rtd_mult10(&self) -> u32 {
        mean_mult10(self.rtd_sum_ms, self.rtd_count)
    }
}

fn mean_mult10(sum: f64, n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        (sum * 10.0 / f64::from(n)).round() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtcp::parse_compound;

    fn rr(blocks: &[(u8, u32, u32, u32)]) -> Vec<u8> {
        let words = 1 + 6 * blocks.len();
        let mut v = vec![0x80 | blocks.len() as u8, 201, 0, words as u8];
        v.extend_from_slice(&7u32.to_be_bytes());
        for &(fl, jitter, lsr, dlsr) in blocks {
            v.extend_from_slice(&0xabcdu32.to_be_bytes());
            v.extend_from_slice(&[fl, 0xff, 0xff, 0xfe]);
            v.extend_from_slice(&100u32.to_be_bytes());
            for x in [jitter, lsr, dlsr] {
                v.extend_from_slice(&x.to_be_bytes());
            }
        }
        v
    }

    fn feed(stats: &mut RtcpStats, buf: &[u8], now: Option<u32>) {
        for p in parse_compound(buf) {
            let rr = p.expect("valid").receiver_report().expect("RR");
            for b in rr.report_blocks() {
                stats.handle_report_block(&b, 8000, now);
            }
        }
    }

    #[test]
    fn spec_case_35() {
        let mut s = RtcpStats::new(0);
        feed(&mut s, &rr(&[(26, 80, 0, 0)]), None);
        assert_eq!(s.max_fraction_lost(), 26);
        assert_eq!(s.avg_fraction_lost_mult10(), 260);
        assert_eq!(s.max_jitter_ms(), 10);
        assert_eq!(s.avg_jitter_mult10(), 100);
        assert_eq!(s.loss(), Some(-2));
        assert_eq!(s.rtd_samples(), 0, "no LSR, no round trip");
    }

    #[test]
    fn averages_ignore_threshold_and_rtd() {
        let mut s = RtcpStats::new(100);
        let lsr = ntp_middle32_from_unix_us(1_000_000_000_000_000);
        let now = ntp_middle32_from_unix_us(1_000_000_001_500_000);
        // DLSR 1.25 s → RTD 250 ms; second block: DLSR 1.45 s → 50 ms.
        let buf = rr(&[(0, 160, lsr, 81_920), (51, 8000, lsr, 95_027)]);
        feed(&mut s, &buf, Some(now));
        assert_eq!(s.blocks(), 2);
        assert_eq!(s.avg_fraction_lost_mult10(), 255);
        assert_eq!(
            s.max_jitter_ms(),
            20,
            "1000 ms ≥ ignorertcpjitter 100 is skipped"
        );
        assert_eq!(s.avg_jitter_mult10(), 200);
        assert_eq!(s.rtd_samples(), 2);
        assert!(
            (2499..=2501).contains(&s.max_rtd_mult10()),
            "{}",
            s.max_rtd_mult10()
        );
        assert!(
            (1499..=1501).contains(&s.avg_rtd_mult10()),
            "{}",
            s.avg_rtd_mult10()
        );
        // An LSR from the future (negative round trip) is ignored.
        feed(
            &mut s,
            &rr(&[(0, 0, now.wrapping_add(65536), 0)]),
            Some(now),
        );
        assert_eq!(s.rtd_samples(), 2);
    }

    #[test]
    fn ntp_middle_bits() {
        assert_eq!(
            ntp_middle32_from_unix_us(0),
            ((NTP_UNIX_OFFSET_S << 16) & 0xffff_ffff) as u32
        );
        assert_eq!(ntp_middle32_from_unix_us(500_000) & 0xffff, 0x8000);
    }
}
