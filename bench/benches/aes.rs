//! Manager API encryption benches: the reply stream encryptor over a large body (the
//! throughput of large encrypted replies) and the decryption of one request frame.
//!
//! Run with `cargo bench -p voipsensor-bench --bench aes`. Times are short on purpose: compare
//! ratios within one run, not absolute times across runs.

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, black_box, criterion_group, criterion_main,
};
use std::time::Duration;
use voipsensor_manager_proto::aes::{self, Cipher, KeyMaterial, StreamEncryptor};

/// Spec §9's test key (32 bytes: serves every cipher) and IV.
const TEST_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=";
const TEST_IV: &str = "QUJDREVGR0hJSktMTU5PUA==";

/// Body size of the stream bench.
const BODY: usize = 16 << 20;
/// Piece size: the server encrypts and writes replies in 64 KiB pieces.
const PIECE: usize = 64 << 10;

fn key() -> KeyMaterial {
    KeyMaterial::from_base64(TEST_KEY, TEST_IV, Cipher::Aes256Cbc).expect("valid test key")
}

/// Encrypts `body` piece by piece as the server does with a reply; `out` is reused.
fn stream_encrypt(cipher: Cipher, key: &KeyMaterial, body: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut enc = StreamEncryptor::new(cipher, key).expect("the key serves the cipher");
    for piece in body.chunks(PIECE) {
        enc.update(piece, out);
    }
    enc.finish(out);
}

fn stream_benches(c: &mut Criterion) {
    let key = key();
    // Text-like bytes (the content does not change the cost of AES).
    let body: Vec<u8> = (0..BODY).map(|i| b' ' + (i % 95) as u8).collect();
    let mut out = Vec::with_capacity(BODY + 2 * aes::BLOCK);
    for cipher in [Cipher::Aes128Cbc, Cipher::Aes256Cbc] {
        stream_encrypt(cipher, &key, &body, &mut out);
        assert_eq!(
            out,
            aes::encrypt(cipher, &key, &body).expect("key fits"),
            "pieces give the same stream as one call"
        );
    }

    let mut g = c.benchmark_group("aes");
    g.sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20)
        .throughput(Throughput::Bytes(BODY as u64));
    for cipher in [Cipher::Aes128Cbc, Cipher::Aes256Cbc] {
        g.bench_function(
            BenchmarkId::new("stream_encrypt_16MiB", cipher.name()),
            |b| {
                b.iter(|| stream_encrypt(cipher, &key, black_box(&body), &mut out));
            },
        );
    }
    g.finish();
}

fn request_benches(c: &mut Criterion) {
    let key = key();
    let frame = aes::request_frame(Cipher::Aes128Cbc, &key, "getversion").expect("frame");
    assert_eq!(
        aes::decrypt_request(&frame, &key).expect("decrypts").text,
        b"getversion"
    );

    let mut g = c.benchmark_group("aes");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    g.bench_function("decrypt_request_getversion", |b| {
        b.iter(|| aes::decrypt_request(black_box(&frame), &key));
    });
    g.finish();
}

criterion_group!(benches, stream_benches, request_benches);
criterion_main!(benches);
