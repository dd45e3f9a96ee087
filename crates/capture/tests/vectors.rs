//! Byte-exact vectors for every format, gzip, the writer read back, and typed errors.

mod common;

use common::*;
use voipsensor_capture::{
    Error, Format, MultiReader, PcapWriter, Reader, Timestamp, TsResolution, linktype,
};

#[test]
fn pcap_le_micros() {
    let (packets, truncated) = read_all(PCAP_LE_MICROS).expect("valid file");
    assert_eq!(packets, pcap_le_micros_packets());
    assert!(!truncated);
    let reader = Reader::new(PCAP_LE_MICROS).expect("valid file");
    assert_eq!(
        reader.format(),
        Format::Pcap {
            nanos: false,
            big_endian: false
        }
    );
    assert!(!reader.is_gzip());
    assert_eq!(reader.interfaces().len(), 1);
    assert_eq!(reader.interfaces()[0].snaplen(), 65_535);
    assert_eq!(
        reader.interfaces()[0].resolution(),
        TsResolution::Decimal(6)
    );
}

#[test]
fn pcap_be_nanos() {
    let (packets, truncated) = read_all(PCAP_BE_NANOS).expect("valid file");
    assert_eq!(
        packets,
        vec![pkt(0x6000_0001, 999_999_999, 113, &[0xca, 0xfe], 64, 0)]
    );
    assert!(!truncated);
    let reader = Reader::new(PCAP_BE_NANOS).expect("valid file");
    assert_eq!(
        reader.format(),
        Format::Pcap {
            nanos: true,
            big_endian: true
        }
    );
    assert_eq!(reader.interfaces()[0].snaplen(), 262_144);
}

#[test]
fn pcap_le_nanos_masks_fcs_bits_of_link_type() {
    let (packets, _) = read_all(PCAP_LE_NANOS).expect("valid file");
    assert_eq!(packets, vec![pkt(5, 7, linktype::ETHERNET, &[0x99], 1, 0)]);
}

#[test]
fn pcap_be_micros_unknown_link_type_and_empty_packet() {
    let (packets, truncated) = read_all(PCAP_BE_MICROS).expect("valid file");
    assert_eq!(packets, vec![pkt(9, 10_000, 4711, &[], 1500, 0)]);
    assert!(!truncated);
}

#[test]
fn pcapng_little_endian_with_second_big_endian_section() {
    let (packets, truncated) = read_all(PCAPNG_LE).expect("valid file");
    assert_eq!(packets, pcapng_le_packets());
    assert!(!truncated);

    let mut reader = Reader::new(PCAPNG_LE).expect("valid file");
    assert_eq!(reader.format(), Format::Pcapng);
    assert!(
        reader.interfaces().is_empty(),
        "IDBs are read lazily, with the packets"
    );
    reader.next_packet().expect("valid").expect("first packet");
    let ifaces = reader.interfaces();
    assert_eq!(ifaces.len(), 3);
    assert_eq!(ifaces[1].link_type(), linktype::LINUX_SLL);
    assert_eq!(ifaces[1].resolution(), TsResolution::Decimal(9));
    assert_eq!(ifaces[1].ts_offset(), 100);
    assert_eq!(ifaces[2].resolution(), TsResolution::Binary(10));
    assert_eq!(ifaces[2].snaplen(), 8);
    while reader.next_packet().expect("valid").is_some() {}
    assert_eq!(
        reader.interfaces().len(),
        1,
        "second section has its own interfaces"
    );
    assert_eq!(reader.interfaces()[0].link_type(), linktype::IPV4);
    assert_eq!(reader.offset(), PCAPNG_LE.len() as u64);
}

#[test]
fn pcapng_big_endian() {
    let (packets, truncated) = read_all(PCAPNG_BE).expect("valid file");
    assert_eq!(packets, pcapng_be_packets());
    assert!(!truncated);
}

#[test]
fn small_buffers_give_the_same_packets() {
    for vector in all_vectors() {
        let expected = read_all(vector).expect("valid file");
        for size in [1, 7, 16, 33, 100] {
            assert_eq!(read_all_with(vector, size).expect("valid file"), expected);
        }
    }
}

#[test]
fn gzip_of_both_formats() {
    for vector in [PCAP_LE_MICROS, PCAPNG_LE, PCAPNG_BE] {
        let compressed = gzip(vector);
        assert_eq!(
            read_all(&compressed).expect("valid gzip"),
            read_all(vector).expect("valid")
        );
        assert!(Reader::new(&compressed[..]).expect("valid gzip").is_gzip());
    }
    // Concatenated gzip members (as `cat a.gz b.gz`) decompress as one stream.
    let half = PCAP_LE_MICROS.len() - 7;
    let mut two = gzip(&PCAP_LE_MICROS[..half]);
    two.extend(gzip(&PCAP_LE_MICROS[half..]));
    assert_eq!(
        read_all(&two).expect("valid gzip").0,
        pcap_le_micros_packets()
    );
}

#[test]
fn gzip_cut_short_reports_truncation() {
    let compressed = gzip(PCAPNG_LE);
    let (packets, truncated) = read_all(&compressed[..compressed.len() - 10]).expect("cut");
    assert!(truncated);
    assert!(packets.len() <= pcapng_le_packets().len());
    assert_eq!(packets[..], pcapng_le_packets()[..packets.len()]);
}

#[test]
fn writer_output_reads_back() {
    let frames: Vec<Vec<u8>> = (0u8..50).map(|i| vec![i; usize::from(i) * 7]).collect();
    for nanos in [false, true] {
        let mut writer =
            PcapWriter::new(Vec::new(), linktype::LINUX_SLL2, 10_000, nanos).expect("Vec");
        for (i, frame) in frames.iter().enumerate() {
            let ts = Timestamp::new(1_776_167_857 + i as i64, 123_456_789);
            writer
                .write_packet(ts, frame, frame.len() as u32 + 4)
                .expect("Vec never fails");
        }
        writer.flush().expect("Vec never fails");
        let file = writer.into_inner();
        let (packets, truncated) = read_all(&file).expect("writer output is valid");
        assert!(!truncated);
        assert_eq!(packets.len(), frames.len());
        for (i, (p, frame)) in packets.iter().zip(&frames).enumerate() {
            let nanos_expected = if nanos { 123_456_789 } else { 123_456_000 };
            assert_eq!(
                p.ts,
                Timestamp::new(1_776_167_857 + i as i64, nanos_expected)
            );
            assert_eq!(
                (p.link_type, &p.data, p.orig_len),
                (276, frame, frame.len() as u32 + 4)
            );
        }
        let reader = Reader::new(&file[..]).expect("valid");
        assert_eq!(
            reader.format(),
            Format::Pcap {
                nanos,
                big_endian: false
            }
        );
        assert_eq!(reader.interfaces()[0].snaplen(), 10_000);
    }
}

#[test]
fn not_a_capture_file() {
    for junk in [
        &b"GIF89a"[..],
        b"\x0a\x0d\x0d",
        b"",
        b"\xd4\xc3\xb2\xa1\x02\x00",
    ] {
        match Reader::new(junk) {
            Err(Error::NotACaptureFile { magic }) => assert_eq!(magic, junk[..4]),
            Err(Error::TruncatedHeader { got, .. }) => assert!(got as usize <= junk.len()),
            other => panic!("{junk:?}: {other:?}"),
        }
    }
}

#[test]
fn absurd_caplen_names_the_record_offset() {
    let mut file = PCAP_LE_MICROS.to_vec();
    // Second record starts at 24 + 16 + 4 = 44; its caplen at 52.
    file[52..56].copy_from_slice(&(300u32 << 20).to_le_bytes());
    let mut reader = Reader::new(&file[..]).expect("header is fine");
    assert!(
        reader
            .next_packet()
            .expect("first record is fine")
            .is_some()
    );
    match reader.next_packet() {
        Err(Error::Corrupt { offset: 44, reason }) => assert!(reason.contains("caplen")),
        other => panic!("{other:?}"),
    }
    assert!(reader.next_packet().expect("finished").is_none());
}

#[test]
fn pcapng_bad_lengths_name_the_block_offset() {
    // EPB 0 is at 28 + 32 + 44 + 40 = 144.
    let cases: [(usize, u32, &str); 4] = [
        (148, 13, "bad length"),          // not a multiple of 4
        (148, 8, "bad length"),           // below the EPB minimum
        (148, 0x2000_0000, "bad length"), // absurd
        (164, 17, "exceeds its block"),   // caplen 17 > 16 bytes of room
    ];
    for (at, value, reason) in cases {
        let mut file = PCAPNG_LE.to_vec();
        file[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let err = read_all(&file).expect_err("corrupt");
        match err {
            Error::Corrupt {
                offset: 144,
                reason: r,
            } => assert!(r.contains(reason), "{r}"),
            other => panic!("{other:?}"),
        }
    }
    // A trailing length that disagrees with the leading one.
    let mut file = PCAPNG_LE.to_vec();
    file[144 + 44] = 0x2c;
    assert!(matches!(
        read_all(&file),
        Err(Error::Corrupt { offset: 144, .. })
    ));
}

#[test]
fn pcapng_packet_on_undeclared_interface() {
    let mut file = PCAPNG_LE.to_vec();
    file[152] = 3; // EPB 0 claims interface 3
    match read_all(&file) {
        Err(Error::Corrupt {
            offset: 144,
            reason,
        }) => assert!(reason.contains("interface 3")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn pcapng_bad_byte_order_and_version() {
    let mut file = PCAPNG_BE.to_vec();
    file[8] = 0x77;
    assert!(matches!(
        Reader::new(&file[..]),
        Err(Error::Corrupt { offset: 0, .. })
    ));
    let mut file = PCAPNG_BE.to_vec();
    file[13] = 2; // major version 2
    assert!(matches!(
        Reader::new(&file[..]),
        Err(Error::Corrupt { offset: 0, .. })
    ));
}

#[test]
fn multi_reader_plays_files_in_order_and_names_bad_ones() {
    let dir = std::env::temp_dir().join(format!("voipsensor-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("temp file");
        path
    };
    let a = write("a.pcap", PCAP_LE_MICROS);
    let b = write("b.pcapng.gz", &gzip(PCAPNG_BE));
    let bad = write("bad.pcap", b"not a capture");
    let cut = write("cut.pcap", &PCAP_LE_MICROS[..PCAP_LE_MICROS.len() - 1]);
    let missing = dir.join("missing.pcap");
    let mut multi = MultiReader::new([&a, &bad, &b, &missing, &cut]);

    let mut got = Vec::new();
    let mut errors = Vec::new();
    loop {
        match multi.next_packet() {
            Ok(Some(p)) => got.push(pkt(
                p.ts.secs,
                p.ts.nanos,
                p.link_type,
                p.data,
                p.orig_len,
                0,
            )),
            Ok(None) => break,
            Err(Error::InFile { path, .. }) => errors.push(path),
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(errors, vec![bad, missing]);
    let mut expected = pcap_le_micros_packets();
    expected.extend(
        pcapng_be_packets()
            .into_iter()
            .map(|p| Pkt { interface: 0, ..p }),
    );
    expected.push(pcap_le_micros_packets()[0].clone());
    assert_eq!(got, expected);
    assert_eq!(multi.truncated_files(), &[cut]);
    assert_eq!(multi.files_opened(), 5);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn open_detects_gzip_by_magic_not_name() {
    let path = std::env::temp_dir().join(format!("vs-capture-open-{}.pcap", std::process::id()));
    std::fs::write(&path, gzip(PCAP_BE_NANOS)).expect("temp file");
    let mut reader = voipsensor_capture::open(&path).expect("gzip pcap");
    assert!(reader.is_gzip());
    assert_eq!(
        reader
            .next_packet()
            .expect("valid")
            .expect("one packet")
            .data,
        &[0xca, 0xfe]
    );
    std::fs::remove_file(&path).expect("clean up");
}

/// Optional cross-check against a file written by tcpdump; skipped when tcpdump is absent.
#[test]
fn tcpdump_file_if_available() {
    let Ok(out) = std::process::Command::new("tcpdump")
        .arg("--version")
        .output()
    else {
        eprintln!("tcpdump not installed: skipped");
        return;
    };
    if !out.status.success() {
        return;
    }
    let path = std::env::temp_dir().join(format!("vs-capture-td-{}.pcap", std::process::id()));
    let input = std::env::temp_dir().join(format!("vs-capture-in-{}.pcap", std::process::id()));
    // Reading a pcap and writing it again needs no capture privileges.
    std::fs::write(&input, PCAP_LE_MICROS).expect("temp file");
    let status = std::process::Command::new("tcpdump")
        .arg("-r")
        .arg(&input)
        .arg("-w")
        .arg(&path)
        .status();
    if status.map(|s| s.success()).unwrap_or(false) {
        let bytes = std::fs::read(&path).expect("tcpdump output");
        assert_eq!(
            read_all(&bytes).expect("tcpdump file").0,
            pcap_le_micros_packets()
        );
        std::fs::remove_file(&path).expect("clean up");
    }
    std::fs::remove_file(&input).expect("clean up");
}

#[test]
fn multi_reader_reports_progress_through_a_file() {
    let path =
        std::env::temp_dir().join(format!("vs-capture-progress-{}.pcap", std::process::id()));
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("temp file"));
        let mut writer = PcapWriter::new(file, linktype::ETHERNET, 65535, false).expect("writer");
        for i in 0..20_000u32 {
            let frame = vec![(i % 251) as u8; 100];
            writer
                .write_packet(Timestamp::new(i64::from(i), 0), &frame, 100)
                .expect("write");
        }
        writer.flush().expect("flush");
    }
    let size = std::fs::metadata(&path).expect("size").len();

    let mut multi = MultiReader::new([&path]);
    assert_eq!(multi.progress().file, 0);
    let mut seen = Vec::new();
    let mut n = 0;
    while multi.next_packet().expect("read").is_some() {
        n += 1;
        if n % 1000 == 0 {
            seen.push(multi.progress());
        }
    }
    assert_eq!(n, 20_000);
    assert!(
        seen.iter()
            .all(|p| p.file == 1 && p.files == 1 && p.file_size == Some(size))
    );
    assert!(seen.windows(2).all(|w| w[0].bytes_read <= w[1].bytes_read));
    assert!(
        seen[0].bytes_read < size / 2,
        "read as it goes: {:?}",
        seen[0]
    );
    assert_eq!(multi.progress().bytes_read, size);
    std::fs::remove_file(&path).expect("clean up");
}
