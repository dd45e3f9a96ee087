//! Reading speed: 200 000 RTP-sized (214-byte) Ethernet frames from an in-memory pcap, plain
//! and gzip-compressed. Run with `cargo bench -p voipsensor-capture --bench read`.
//!
//! Both groups measure the same work; `packets` reports packets/s, `bytes` reports the rate in
//! uncompressed pcap bytes (also for the gzip input, so the two are comparable).

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use voipsensor_capture::{PcapWriter, Reader, Timestamp, linktype};

const PACKETS: u64 = 200_000;
const FRAME: usize = 214;

/// A pcap of RTP-like frames: fixed Ethernet/IPv4/UDP/RTP headers, noisy G.711-like payload
/// (audio compresses poorly, so gzip is not flattered by a constant payload).
fn capture() -> Vec<u8> {
    let mut writer = PcapWriter::new(
        Vec::with_capacity(50 << 20),
        linktype::ETHERNET,
        10_000,
        false,
    )
    .expect("Vec never fails");
    let mut frame = [0u8; FRAME];
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14] = 0x45;
    frame[23] = 17;
    frame[42] = 0x80;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..PACKETS {
        frame[44..46].copy_from_slice(&(i as u16).to_be_bytes());
        for byte in &mut frame[54..] {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = 0xd5 ^ (state as u8 & 0x1f);
        }
        let ts = Timestamp::new(
            1_776_167_857 + (i / 50) as i64,
            (i % 50) as u32 * 20_000_000,
        );
        writer
            .write_packet(ts, &frame, FRAME as u32)
            .expect("Vec never fails");
    }
    writer.into_inner()
}

fn read_all(file: &[u8]) -> u64 {
    let mut reader = Reader::new(file).expect("valid capture");
    let mut bytes = 0u64;
    while let Some(packet) = reader.next_packet().expect("valid capture") {
        bytes += packet.data.len() as u64 + u64::from(packet.data[FRAME - 1]);
    }
    assert_eq!(reader.packets(), PACKETS);
    bytes
}

fn bench(c: &mut Criterion) {
    let plain = capture();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&plain).expect("Vec never fails");
    let gzipped = encoder.finish().expect("Vec never fails");
    eprintln!(
        "capture: {} packets, {} bytes plain, {} bytes gzip",
        PACKETS,
        plain.len(),
        gzipped.len()
    );

    let throughputs = [
        ("packets", Throughput::Elements(PACKETS)),
        ("bytes", Throughput::Bytes(plain.len() as u64)),
    ];
    for (name, throughput) in throughputs {
        let mut group = c.benchmark_group(format!("read_{name}"));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(3))
            .throughput(throughput);
        group.bench_function("pcap", |b| b.iter(|| read_all(black_box(&plain))));
        group.bench_function("pcap_gzip", |b| b.iter(|| read_all(black_box(&gzipped))));
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
