//! Decode cost of the hot path: one Ethernet/IPv4/UDP/RTP frame (172 bytes).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use voipsensor_wire::{L4, LinkType, checksum, decode};

fn rtp_frame() -> Vec<u8> {
    let mut f = vec![
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0x08, 0x00,
    ];
    let mut ip = vec![
        0x45, 0, 0, 158, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x9C, 0x40, 0x9C, 0x42, 0, 138, 0, 0]);
    f.extend_from_slice(&[
        0x80, 0x08, 0x12, 0x34, 0, 0, 0x10, 0, 0xDE, 0xAD, 0xBE, 0xEF,
    ]);
    f.resize(172, 0xD5);
    f
}

fn bench(c: &mut Criterion) {
    let frame = rtp_frame();
    assert!(matches!(
        decode(LinkType::Ethernet, &frame).map(|p| p.l4),
        Ok(L4::Udp(_))
    ));
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ethernet_ipv4_udp_rtp_172", |b| {
        b.iter(|| decode(black_box(LinkType::Ethernet), black_box(&frame)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
