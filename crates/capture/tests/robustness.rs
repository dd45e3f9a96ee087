//! Cut and mangled files: never a panic, never a loop, truncation reported.

mod common;

use common::*;
use voipsensor_capture::{Error, Reader};

/// Offsets at which a record or block ends, i.e. where a cut leaves a clean file.
fn boundaries(file: &[u8]) -> Vec<usize> {
    let u32_at = |at: usize, be: bool| {
        let raw = [file[at], file[at + 1], file[at + 2], file[at + 3]];
        if be {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        }
    };
    let mut out = Vec::new();
    if file[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        let (mut at, mut be) = (0, false);
        while at < file.len() {
            if file[at..at + 4] == [0x0a, 0x0d, 0x0d, 0x0a] {
                be = file[at + 8] == 0x1a;
            }
            at += u32_at(at + 4, be) as usize;
            out.push(at);
        }
    } else {
        let be = file[0] == 0xa1;
        let mut at = 24;
        out.push(at);
        while at < file.len() {
            at += 16 + u32_at(at + 8, be) as usize;
            out.push(at);
        }
    }
    out
}

#[test]
fn every_cut_of_every_vector() {
    for file in all_vectors() {
        let (all, _) = read_all(file).expect("valid file");
        let clean = boundaries(file);
        assert_eq!(clean.last(), Some(&file.len()));
        for cut in 0..=file.len() {
            match read_all_with(&file[..cut], 16) {
                Ok((packets, truncated)) => {
                    assert!(cut >= clean[0], "cut {cut}: header accepted");
                    assert_eq!(packets[..], all[..packets.len()], "cut {cut}");
                    assert_eq!(
                        truncated,
                        !clean.contains(&cut),
                        "cut {cut} of {}",
                        file.len()
                    );
                    if cut == file.len() {
                        assert_eq!(packets.len(), all.len());
                    }
                }
                Err(Error::TruncatedHeader { .. }) => assert!(cut < clean[0], "cut {cut}"),
                Err(other) => panic!("cut {cut}: {other:?}"),
            }
        }
    }
}

#[test]
fn every_cut_of_every_gzipped_vector() {
    for file in all_vectors() {
        let (all, _) = read_all(file).expect("valid file");
        let compressed = gzip(file);
        for cut in 0..compressed.len() {
            match read_all_with(&compressed[..cut], 64) {
                Ok((packets, truncated)) => {
                    assert!(
                        truncated,
                        "a cut gzip stream is always truncated (cut {cut})"
                    );
                    assert_eq!(packets[..], all[..packets.len()]);
                }
                Err(Error::TruncatedHeader { .. } | Error::Io(_)) => {}
                Err(other) => panic!("cut {cut}: {other:?}"),
            }
        }
    }
}

/// Deterministic xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A position in a file of `len` bytes, usually past the file header so that mutations reach
/// the records.
fn pos(rng: &mut Rng, len: usize) -> usize {
    if len > 40 && rng.below(5) != 0 {
        40 + rng.below(len - 40)
    } else {
        rng.below(len)
    }
}

fn mutate(rng: &mut Rng, file: &mut Vec<u8>) {
    const INTERESTING: [u32; 10] = [
        0,
        1,
        3,
        4,
        12,
        16,
        28,
        0x7fff_ffff,
        0xffff_ffff,
        0x1000_0000,
    ];
    for _ in 0..=rng.below(4) {
        let len = file.len();
        match rng.below(7) {
            0 if len > 0 => {
                let at = pos(rng, len);
                file[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = pos(rng, len);
                file[at] = rng.next() as u8;
            }
            2 if len >= 4 => {
                let at = pos(rng, len - 3);
                let mut v = INTERESTING[rng.below(INTERESTING.len())];
                if rng.below(2) == 0 {
                    v = v.swap_bytes();
                }
                file[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            3 => file.truncate(pos(rng, len + 1)),
            4 if len > 0 => {
                // Duplicate a slice somewhere else (repeated blocks, sections, headers).
                let from = rng.below(len);
                let to = from + rng.below(len - from) + 1;
                let piece = file[from..to].to_vec();
                let at = pos(rng, len + 1);
                file.splice(at..at, piece);
            }
            5 => {
                let at = pos(rng, len + 1);
                let junk: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                file.splice(at..at, junk);
            }
            _ if len > 8 => {
                let from = pos(rng, len);
                let to = (from + rng.below(16)).min(len);
                file.drain(from..to);
            }
            _ => {}
        }
    }
}

/// What happened to one mangled file.
#[derive(Debug, Default)]
struct Tally {
    rejected: u32,
    packets: u64,
    clean_end: u32,
    truncated: u32,
    corrupt: u32,
    other_error: u32,
}

/// Reads a file to the end or the first error with a bound on the number of calls.
fn drain(file: &[u8], buffer: usize, tally: &mut Tally) {
    let Ok(mut reader) = Reader::with_buffer_size(file, buffer) else {
        tally.rejected += 1;
        return;
    };
    // Every packet consumes at least 12 bytes of the (possibly decompressed) stream; a gzip
    // stream of n bytes cannot decompress to more than ~1032 n.
    let limit = file.len() * 1100 / 12 + 2;
    for _ in 0..limit {
        match reader.next_packet() {
            Ok(Some(p)) => {
                assert!(p.data.len() <= voipsensor_capture::MAX_CAPLEN as usize);
                tally.packets += 1;
            }
            end => {
                match end.map(|_| ()) {
                    Ok(()) if reader.truncated() => tally.truncated += 1,
                    Ok(()) => tally.clean_end += 1,
                    Err(Error::Corrupt { .. }) => tally.corrupt += 1,
                    Err(_) => tally.other_error += 1,
                }
                assert!(
                    matches!(reader.next_packet(), Ok(None)),
                    "finished reader restarted"
                );
                return;
            }
        }
    }
    panic!("reader did not finish within {limit} calls");
}

#[test]
fn hundred_thousand_mangled_files() {
    let plain: Vec<Vec<u8>> = all_vectors().into_iter().map(<[u8]>::to_vec).collect();
    let gzipped: Vec<Vec<u8>> = plain.iter().map(|v| gzip(v)).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut tally = Tally::default();
    for round in 0..110_000u32 {
        let mut file = match round % 11 {
            // Pure noise behind a valid magic.
            0 => {
                let magic = &plain[rng.below(plain.len())][..4];
                let mut f = magic.to_vec();
                f.extend((0..rng.below(200)).map(|_| rng.next() as u8));
                f
            }
            1 => gzipped[rng.below(gzipped.len())].clone(),
            _ => plain[rng.below(plain.len())].clone(),
        };
        mutate(&mut rng, &mut file);
        let buffer = [1, 16, 64, 4096][rng.below(4)];
        drain(&file, buffer, &mut tally);
    }
    eprintln!("{tally:?}");
    // The mutations must reach past the magic check, into every outcome.
    assert!(tally.rejected < 40_000, "{tally:?}");
    assert!(tally.packets > 50_000, "{tally:?}");
    for outcome in [
        tally.clean_end,
        tally.truncated,
        tally.corrupt,
        tally.other_error,
    ] {
        assert!(outcome > 1_000, "{tally:?}");
    }
}

#[test]
fn reader_finishes_on_a_huge_claimed_record_without_allocating_it() {
    // A 40-byte file whose only record claims 200 MiB: truncated, not a 200 MiB allocation.
    let mut file = PCAP_LE_MICROS[..40].to_vec();
    file[32..36].copy_from_slice(&(200u32 << 20).to_le_bytes());
    let (packets, truncated) = read_all_with(&file, 64).expect("header is fine");
    assert!(packets.is_empty());
    assert!(truncated);
}
