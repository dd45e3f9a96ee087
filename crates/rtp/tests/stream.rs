//! Synthetic streams through parse + `StreamStats`: counting, loss, jitter, MOS.

use voipsensor_rtp::mos::{mos_from_loss, mult10};
use voipsensor_rtp::{MosModel, PayloadType, RtpPacket, StreamConfig, StreamStats};

const PCMA: u8 = 8;

/// One packet of a synthetic stream.
#[derive(Clone, Copy)]
struct Pkt {
    seq: u16,
    ts: u32,
    pt: u8,
    at_us: u64,
}

fn bytes(p: Pkt) -> Vec<u8> {
    let mut v = vec![0x80, p.pt];
    v.extend_from_slice(&p.seq.to_be_bytes());
    v.extend_from_slice(&p.ts.to_be_bytes());
    v.extend_from_slice(&0xcafe_f00du32.to_be_bytes());
    v.resize(12 + 160, 0xd5);
    v
}

/// 20 ms G.711 stream: packet i has seq start+i, ts 160·i, arrival 20 ms·i (+1 s offset).
fn stream(n: u32, start_seq: u16) -> Vec<Pkt> {
    (0..n)
        .map(|i| Pkt {
            seq: start_seq.wrapping_add(i as u16),
            ts: 1000 + i * 160,
            pt: PCMA,
            at_us: 1_000_000 + u64::from(i) * 20_000,
        })
        .collect()
}

fn run(pkts: &[Pkt], config: &StreamConfig) -> StreamStats {
    let mut s = StreamStats::new(config);
    for &p in pkts {
        let buf = bytes(p);
        let rtp = RtpPacket::parse(&buf).expect("synthetic packet is valid");
        s.handle_packet(&rtp, p.at_us);
    }
    s
}

fn mos_all(s: &StreamStats) -> Vec<[u8; 3]> {
    MosModel::ALL
        .iter()
        .map(|&m| s.mos(m).listcalls_mult10())
        .collect()
}

#[test]
fn clean_250_packets_shows_248() {
    let s = run(&stream(250, 4000), &StreamConfig::default());
    assert_eq!(s.packets(), 250);
    assert_eq!(s.received(), 248, "listcalls src_received = packets − 2");
    assert_eq!(s.lost(), 0);
    assert_eq!(s.loss_percent(), Some(0.0));
    assert_eq!(s.jitter().current_ms(), 0.0);
    assert_eq!(s.jitter().max_ms(), 0.0);
    assert_eq!(s.last_payload_type(), Some(PayloadType::PCMA));
    assert_eq!(s.ptime_ms(), Some(20.0));
    // 5 s of stream: no interval yet → last 45, avg 0, min 45.
    assert_eq!(mos_all(&s), vec![[45, 0, 45]; 3]);
}

#[test]
fn clean_stream_after_ten_seconds_is_45() {
    let s = run(&stream(1600, 1), &StreamConfig::default());
    assert_eq!(s.received(), 1598);
    for m in MosModel::ALL {
        assert_eq!(s.mos(m).intervals(), 3);
        assert_eq!(s.mos(m).listcalls_mult10(), [45, 45, 45]);
    }
}

#[test]
fn loss_in_the_middle() {
    let mut p = stream(250, 100);
    p.retain(|x| !(150..153).contains(&x.seq) && x.seq != 200);
    let s = run(&p, &StreamConfig::default());
    assert_eq!(s.received(), 244);
    assert_eq!(s.lost(), 4);
    assert_eq!(s.sequence().loss_events()[3], 1);
    assert_eq!(s.sequence().loss_events()[1], 1);
    let pct = s.loss_percent().expect("counted");
    assert!((pct - 400.0 / 248.0).abs() < 1e-9);
}

#[test]
fn reordering_and_duplicates() {
    let mut p = stream(250, 0);
    p.swap(50, 51);
    let dup = p[80];
    p.insert(81, dup);
    let s = run(&p, &StreamConfig::default());
    assert_eq!(s.received(), 248);
    assert_eq!(s.lost(), 0);
    assert_eq!(s.sequence().reordered(), 1);
    assert_eq!(
        s.sequence().loss_events()[1],
        1,
        "the swap is a transient loss event"
    );
    assert_eq!(s.sequence().duplicates(), 1);
}

#[test]
fn sequence_wrap() {
    let s = run(&stream(250, 65_400), &StreamConfig::default());
    assert_eq!((s.received(), s.lost()), (248, 0));
    assert_eq!(s.sequence().cycles(), 1);
    let mut p = stream(250, 65_400);
    p.retain(|x| x.seq != 0 && x.seq != 65_535);
    let s = run(&p, &StreamConfig::default());
    assert_eq!((s.received(), s.lost()), (246, 2));
}

#[test]
fn restart_without_new_ssrc() {
    // Sender restarts: sequence jumps by 30 000 and timestamps jump too.
    let mut p = stream(250, 10);
    for x in &mut p[125..] {
        x.seq = x.seq.wrapping_add(30_000);
        x.ts = x.ts.wrapping_add(12_345_678);
    }
    let s = run(&p, &StreamConfig::default());
    assert_eq!(s.lost(), 0);
    assert_eq!(
        s.received(),
        247,
        "the first packet after the jump awaits confirmation"
    );
}

#[test]
fn fast_jump_over_200_is_a_reset() {
    let mut p = stream(250, 10);
    for x in &mut p[125..] {
        x.seq += 500;
    }
    let s = run(&p, &StreamConfig::default());
    assert_eq!((s.received(), s.lost()), (248, 0));
}

#[test]
fn jitter_alternating_ten_ms() {
    let mut p = stream(300, 0);
    for x in p.iter_mut().skip(1).step_by(2) {
        x.at_us += 10_000;
    }
    let s = run(&p[..4], &StreamConfig::default());
    assert!((s.jitter().current_ms() - 1.760_253_906_25).abs() < 1e-9);
    assert!((s.jitter().max_ms() - 1.760_253_906_25).abs() < 1e-9);
    // avg: (0.625 + 1.2109375 + 1.76025390625) / 4 packets (first adds nothing).
    assert!((s.jitter().avg_ms() - 3.596_191_406_25 / 4.0).abs() < 1e-9);
    let s = run(&p, &StreamConfig::default());
    assert!(s.jitter().current_ms() > 9.99 && s.jitter().current_ms() < 10.0);
}

#[test]
fn telephone_events_are_not_voice() {
    let mut p = stream(250, 0);
    for x in &mut p[100..110] {
        x.pt = 101;
        x.ts = 1000 + 100 * 160; // an event keeps its start timestamp
        x.at_us += 7_000;
    }
    let config = StreamConfig {
        telephone_event: Some(PayloadType(101)),
        ..StreamConfig::default()
    };
    let s = run(&p, &config);
    assert_eq!(s.jitter().max_ms(), 0.0);
    assert_eq!(s.last_payload_type(), Some(PayloadType::PCMA));
    assert_eq!(
        s.received(),
        248,
        "events are counted by the sequence tracker"
    );
}

#[test]
fn dynamic_clock_rate() {
    let mut p = stream(100, 0);
    for (i, x) in p.iter_mut().enumerate() {
        x.pt = 96;
        x.ts = i as u32 * 320;
    }
    let mut config = StreamConfig::default();
    config.clock_rates.set(PayloadType(96), 16_000);
    let s = run(&p, &config);
    assert_eq!(s.jitter().max_ms(), 0.0);
    assert_eq!(s.ptime_ms(), Some(20.0));
}

#[test]
fn mos_two_percent_isolated_loss() {
    // Every 50th packet lost (2 %, no bursts). The first interval runs from packet 1
    // (20 ms after packet 0, when ptime is known) to packet 501 (10.02 s). Frames pulled by
    // then: F1 (50 ms) 498, F2 (200 ms) 491, adaptive (40 ms at steady state) 498; lost 10
    // in each (packets 25, 75 … 475). ppl 0.0201 / 0.0204, BurstR 1 → MOS 3.92 → 39.
    let mut p = stream(700, 0);
    p.retain(|x| x.seq % 50 != 25);
    let s = run(&p, &StreamConfig::default());
    let f1 = s.jitter_buffer(MosModel::F1).expect("enabled");
    assert_eq!(f1.burst_histogram()[1], 14, "25, 75 … 675");
    assert_eq!(mult10(mos_from_loss(10.0 / 498.0, 1.0)), 39);
    assert_eq!(mult10(mos_from_loss(10.0 / 491.0, 1.0)), 39);
    for m in MosModel::ALL {
        assert_eq!(s.mos(m).intervals(), 1, "{m:?}");
        assert_eq!(s.mos(m).listcalls_mult10(), [39, 39, 39], "{m:?}");
    }
}

#[test]
fn mos_sixty_percent_loss_is_one() {
    let mut p = stream(1200, 0);
    p.retain(|x| x.seq % 5 >= 3);
    let s = run(&p, &StreamConfig::default());
    for m in MosModel::ALL {
        assert!(s.mos(m).intervals() >= 1);
        assert_eq!(s.mos(m).listcalls_mult10(), [10, 10, 10], "{m:?}");
    }
}

#[test]
fn mos_late_packets_hurt_only_small_buffers() {
    // Every 5th packet 90 ms late: F1 (50 ms) conceals 20 %, F2 and adaptive play all.
    let mut p = stream(1200, 0);
    for x in p.iter_mut().filter(|x| x.seq % 5 == 2) {
        x.at_us += 90_000;
    }
    p.sort_by_key(|x| x.at_us);
    let s = run(&p, &StreamConfig::default());
    assert_eq!(s.lost(), 0);
    let f1 = s.mos(MosModel::F1).last();
    assert!(f1 < 3.1, "{f1}");
    assert_eq!(s.mos(MosModel::F2).listcalls_mult10(), [45, 45, 45]);
    assert!(s.mos(MosModel::Adaptive).average().expect("interval") > 4.4);
}

#[test]
fn final_partial_interval_on_request() {
    let mut s = run(&stream(250, 0), &StreamConfig::default());
    s.close_interval();
    assert_eq!(s.mos(MosModel::F1).listcalls_mult10(), [45, 45, 45]);
}

#[test]
fn disabled_models_stay_at_45() {
    let mut config = StreamConfig::default();
    config.mos.f1 = None;
    let mut p = stream(1200, 0);
    p.retain(|x| x.seq % 5 >= 3);
    let s = run(&p, &config);
    assert_eq!(s.mos(MosModel::F1).listcalls_mult10(), [45, 0, 45]);
    assert!(s.jitter_buffer(MosModel::F1).is_none());
}

#[test]
fn loss_in_the_last_ten_seconds() {
    // 30 s stream; 10 % loss during the first 10 s only.
    let mut p = stream(1500, 0);
    p.retain(|x| x.at_us > 11_000_000 || x.seq % 10 != 5);
    let s = run(&p, &StreamConfig::default());
    let end = p.last().expect("packets").at_us;
    assert_eq!(s.loss_last_10s_percent(end), Some(0.0));
    let early = s.loss_last_10s_percent(10_500_000);
    assert!(
        early.is_none(),
        "slots of that time were overwritten: {early:?}"
    );
    let mut q = stream(1500, 0);
    q.retain(|x| x.at_us < 21_000_000 || x.seq % 10 != 5);
    let s = run(&q, &StreamConfig::default());
    let end = q.last().expect("packets").at_us;
    let pct = s.loss_last_10s_percent(end).expect("packets in window");
    assert!((pct - 10.0).abs() < 0.5, "{pct}");
    assert_eq!(s.loss_last_10s_percent(end + 60_000_000), None);
}
