//! Per-packet cost of the RTP path: parse + `StreamStats` update (sequence, jitter, the three
//! MOS jitter buffers), on a synthetic 20 ms G.711 stream with light jitter and 1 % loss.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use voipsensor_rtp::{MosConfig, RtpPacket, StreamConfig, StreamStats};

const PACKETS: usize = 10_000;

fn packets() -> Vec<(Vec<u8>, u64)> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(PACKETS);
    for i in 0..PACKETS as u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(100) {
            continue;
        }
        let mut p = vec![0x80, 8];
        p.extend_from_slice(&(i as u16).to_be_bytes());
        p.extend_from_slice(&(i * 160).to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        p.resize(12 + 160, 0xd5);
        out.push((p, u64::from(i) * 20_000 + x % 8_000));
    }
    out
}

fn bench(c: &mut Criterion) {
    let pkts = packets();
    let mut g = c.benchmark_group("rtp_stream");
    g.throughput(Throughput::Elements(pkts.len() as u64));
    let run = |config: StreamConfig| {
        let mut s = StreamStats::new(&config);
        for (buf, at) in &pkts {
            if let Ok(p) = RtpPacket::parse(black_box(buf)) {
                s.handle_packet(&p, *at);
            }
        }
        black_box(s.received())
    };
    g.bench_function("parse_stats_mos", |b| {
        b.iter(|| run(StreamConfig::default()))
    });
    let no_mos = StreamConfig {
        mos: MosConfig {
            f1: None,
            f2: None,
            adaptive: None,
        },
        ..StreamConfig::default()
    };
    g.bench_function("parse_stats_no_mos", |b| b.iter(|| run(no_mos)));
    g.bench_function("parse_only", |b| {
        b.iter(|| {
            let mut sum = 0u32;
            for (buf, _) in &pkts {
                if let Ok(p) = RtpPacket::parse(black_box(buf)) {
                    sum = sum.wrapping_add(u32::from(p.sequence()));
                }
            }
            black_box(sum)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
