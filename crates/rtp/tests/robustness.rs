//! Malformed and mutated RTP/RTCP never panic: ≥ 100 000 deterministic cases per parser,
//! and the parsed results go through the statistics with adversarial arrival times.

use voipsensor_rtp::rtcp::{RtcpPacketType, looks_like_rtcp, parse_compound};
use voipsensor_rtp::rtcp_stats::RtcpStats;
use voipsensor_rtp::{RtpPacket, StreamConfig, StreamStats, looks_like_rtp};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn valid_rtp(rng: &mut XorShift) -> Vec<u8> {
    let cc = rng.below(3) as u8;
    let mut v = vec![
        0x80 | cc | if rng.below(2) == 0 { 0x10 } else { 0 },
        rng.next() as u8,
    ];
    v.extend_from_slice(&(rng.next() as u32).to_be_bytes()[..2]);
    v.extend_from_slice(&(rng.next() as u32).to_be_bytes());
    v.extend_from_slice(&(rng.next() as u32).to_be_bytes());
    for _ in 0..cc {
        v.extend_from_slice(&(rng.next() as u32).to_be_bytes());
    }
    if v[0] & 0x10 != 0 {
        v.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]);
    }
    v.resize(v.len() + rng.below(40) as usize, 0xd5);
    v
}

fn valid_rtcp(rng: &mut XorShift) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let rc = rng.below(3) as u8;
        let sr = rng.below(2) == 0;
        let words = if sr { 6 } else { 1 } + 6 * u16::from(rc);
        v.extend_from_slice(&[0x80 | rc, if sr { 200 } else { 201 }]);
        v.extend_from_slice(&words.to_be_bytes());
        for _ in 0..words {
            v.extend_from_slice(&(rng.next() as u32).to_be_bytes());
        }
    }
    v.extend_from_slice(&[0x81, 202, 0, 1, 1, 2, 3, 4]);
    v
}

fn mutate(rng: &mut XorShift, v: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        match rng.below(4) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len() as u64) as usize;
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len() as u64) as usize;
                v[i] = rng.next() as u8;
            }
            2 => v.truncate(rng.below(v.len() as u64 + 1) as usize),
            _ => v.push(rng.next() as u8),
        }
    }
}

fn touch_rtp(buf: &[u8], stats: &mut StreamStats, at: u64) -> u64 {
    let _ = looks_like_rtp(buf);
    let Ok(p) = RtpPacket::parse(buf) else {
        return 0;
    };
    let mut acc = u64::from(p.version()) + u64::from(p.csrc_count()) + p.padding_len() as u64;
    acc += u64::from(p.marker()) + u64::from(p.padding()) + u64::from(p.extension());
    acc += p.csrcs().count() as u64 + p.payload().len() as u64;
    acc += p
        .extension_header()
        .map_or(0, |(id, d)| u64::from(id) + d.len() as u64);
    stats.handle_packet(&p, at);
    acc
}

fn touch_rtcp(buf: &[u8], stats: &mut RtcpStats, now: u32) -> u64 {
    let _ = looks_like_rtcp(buf);
    let mut acc = 0u64;
    for pkt in parse_compound(buf) {
        let Ok(pkt) = pkt else { continue };
        acc += pkt.body().len() as u64 + u64::from(pkt.count());
        if let RtcpPacketType::Unknown(t) = pkt.packet_type() {
            acc += u64::from(t);
        }
        if let Some(sr) = pkt.sender_report() {
            acc ^= sr.ntp_timestamp() ^ u64::from(sr.rtp_timestamp() ^ sr.packet_count());
            acc ^= u64::from(sr.octet_count() ^ sr.ssrc().0 ^ sr.ntp_middle32());
            for b in sr.report_blocks() {
                stats.handle_report_block(&b, 8000, Some(now));
            }
        }
        if let Some(rr) = pkt.receiver_report() {
            acc ^= u64::from(rr.ssrc().0);
            for b in rr.report_blocks() {
                acc = acc
                    .wrapping_add(u64::from(b.extended_highest_seq()) ^ b.cumulative_lost() as u64);
                stats.handle_report_block(&b, 0, Some(now));
            }
        }
    }
    acc
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut stats = StreamStats::new(&StreamConfig::default());
    let mut rtcp = RtcpStats::new(0);
    let mut acc = 0u64;
    for i in 0..100_000u64 {
        let len = rng.below(120) as usize;
        let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if i % 2 == 0 && !buf.is_empty() {
            buf[0] = 0x80 | (buf[0] & 0x3f); // version 2 half the time
        }
        acc = acc.wrapping_add(touch_rtp(&buf, &mut stats, rng.next()));
        acc = acc.wrapping_add(touch_rtcp(&buf, &mut rtcp, rng.next() as u32));
    }
    assert!(acc > 0);
}

#[test]
fn mutated_packets_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut stats = StreamStats::new(&StreamConfig::default());
    let mut rtcp = RtcpStats::new(50);
    let mut at = 0u64;
    let mut parsed = 0u32;
    for _ in 0..100_000 {
        let mut rtp = valid_rtp(&mut rng);
        mutate(&mut rng, &mut rtp);
        // Mostly increasing arrival times with occasional jumps backwards and far forwards.
        at = match rng.below(50) {
            0 => at.saturating_sub(rng.below(10_000_000)),
            1 => at.wrapping_add(rng.next() >> rng.below(64)),
            _ => at.saturating_add(rng.below(40_000)),
        };
        if touch_rtp(&rtp, &mut stats, at) > 0 {
            parsed += 1;
        }
        let mut c = valid_rtcp(&mut rng);
        mutate(&mut rng, &mut c);
        touch_rtcp(&c, &mut rtcp, rng.next() as u32);
    }
    assert!(
        parsed > 10_000,
        "mutations keep many packets valid: {parsed}"
    );
    assert!(stats.packets() > 10_000);
}

#[test]
fn adversarial_stream_fields() {
    // Valid packets with hostile sequence/timestamp/payload-type patterns.
    let mut rng = XorShift(0xdead_beef_cafe_f00d);
    for round in 0..20u64 {
        let mut config = StreamConfig::default();
        config
            .clock_rates
            .set(voipsensor_rtp::PayloadType(96), 1 + rng.next() as u32);
        let mut s = StreamStats::new(&config);
        let (mut seq, mut ts, mut at) = (0u16, 0u32, 0u64);
        for _ in 0..5_000 {
            match rng.below(6) {
                0 => seq = rng.next() as u16,
                1 => ts = rng.next() as u32,
                2 => at = at.wrapping_add(rng.next() >> (round % 64)),
                _ => {
                    seq = seq.wrapping_add(1 + rng.below(3) as u16);
                    ts = ts.wrapping_add(160 * rng.below(400) as u32);
                    at = at.saturating_add(rng.below(100_000));
                }
            }
            let pt = [0u8, 8, 96, 101, 127][rng.below(5) as usize];
            s.update(seq, ts, voipsensor_rtp::PayloadType(pt), at);
        }
        s.close_interval();
        let _ = (s.lost(), s.loss_percent(), s.loss_last_10s_percent(at));
        assert!(s.jitter().current_ms().is_finite());
    }
}
