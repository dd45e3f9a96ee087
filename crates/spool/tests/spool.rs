//! The spool writes per-call pcaps in the reference layout that read back record for record.

use std::path::Path;

use voipsensor_spool::{CallFile, Record, SaveRtp, Spool, SpoolConfig};

const T0: u64 = 1_776_167_857_123_456;

fn frame(i: u32, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

fn rec(ts_us: u64, frame: &[u8]) -> Record<'_> {
    Record {
        ts_us,
        link: 1,
        frame,
        orig_len: u32::try_from(frame.len()).expect("small"),
    }
}

/// Every record of a pcap file: (µs timestamp, caplen, len, data).
fn read(path: &Path) -> (u32, Vec<(u64, u32, Vec<u8>)>) {
    let mut r = voipsensor_capture::open(path).expect("open pcap");
    let mut out = Vec::new();
    let mut link = 0;
    while let Some(p) = r.next_packet().expect("valid pcap") {
        link = p.link_type;
        let us = u64::try_from(p.ts.secs).expect("ts") * 1_000_000 + u64::from(p.ts.nanos / 1000);
        out.push((us, p.orig_len, p.data.to_vec()));
    }
    (link, out)
}

fn call(id: u64, name: &[u8]) -> CallFile<'_> {
    CallFile {
        call: id,
        start_us: T0,
        fbasename: name,
    }
}

#[test]
fn sip_and_rtp_files_in_the_start_minute_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spool = Spool::new(SpoolConfig::new(dir.path()));
    let c = call(1, b"abc/def xyz;1@host");
    let sip = frame(1, 700);
    let rtp = frame(2, 214);
    spool.write_sip(&c, &rec(T0, &sip));
    // Two hours later the call still writes into its start minute's folder.
    let later = T0 + 7_200_000_000;
    spool.write_rtp(&c, &rec(later, &rtp), 42);
    let paths = spool.close_call(1);
    let sip_path = dir
        .path()
        .join("2026-04-14/11/57/SIP/abc_def_xyz_1@host.pcap");
    let rtp_path = dir
        .path()
        .join("2026-04-14/11/57/RTP/abc_def_xyz_1@host.pcap");
    assert_eq!(paths, vec![sip_path.clone(), rtp_path.clone()]);
    assert_eq!(read(&sip_path), (1, vec![(T0, 700, sip)]));
    assert_eq!(read(&rtp_path), (1, vec![(later, 214, rtp)]));
    assert_eq!(spool.open_files(), 0);
    let header = std::fs::read(&sip_path).expect("read");
    assert_eq!(&header[16..20], &10_000u32.to_ne_bytes(), "snaplen field");
}

#[test]
fn an_active_call_file_is_valid_up_to_its_last_complete_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = SpoolConfig::new(dir.path());
    cfg.buffer_bytes = 1000;
    let mut spool = Spool::new(cfg);
    let c = call(7, b"active@x");
    let path = dir
        .path()
        .join(spool.relative_path(&c, voipsensor_spool::Kind::Sip));
    let frames: Vec<Vec<u8>> = (0..25).map(|i| frame(i, 150 + i as usize)).collect();
    for (i, f) in frames.iter().enumerate() {
        spool.write_sip(&c, &rec(T0 + i as u64 * 20_000, f));
        // At every moment the file on disk is a valid pcap holding a prefix of the records.
        let (_, got) = read(&path);
        assert!(got.len() <= i + 1);
        for (g, want) in got.iter().zip(&frames) {
            assert_eq!(&g.2, want);
        }
    }
    // Buffered records reach the disk once they are a second old (packet time).
    spool.flush_due(T0 + 24 * 20_000);
    assert!(
        read(&path).1.len() < 25,
        "younger than a second: still buffered"
    );
    spool.flush_due(T0 + 24 * 20_000 + 1_000_000);
    assert_eq!(read(&path).1.len(), 25);
}

#[test]
fn open_files_stay_under_the_limit_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = SpoolConfig::new(dir.path());
    cfg.max_open_files = 3;
    cfg.buffer_bytes = 512;
    let mut spool = Spool::new(cfg);
    let names: Vec<Vec<u8>> = (0..10).map(|i| format!("call-{i}").into_bytes()).collect();
    let mut expected: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 10];
    for round in 0..40u32 {
        for (i, name) in names.iter().enumerate() {
            let c = call(i as u64, name);
            let f = frame(round * 10 + i as u32, 60 + (round as usize % 7) * 30);
            spool.write_sip(&c, &rec(T0 + u64::from(round) * 1000, &f));
            expected[i].push(f);
            assert!(spool.open_files() <= 3);
        }
    }
    assert!(spool.stats().evictions > 0);
    spool.close_all();
    for (i, name) in names.iter().enumerate() {
        let c = call(i as u64, name);
        let path = dir
            .path()
            .join(spool.relative_path(&c, voipsensor_spool::Kind::Sip));
        let got: Vec<Vec<u8>> = read(&path).1.into_iter().map(|r| r.2).collect();
        assert_eq!(got, expected[i], "call {i}");
    }
    assert_eq!(spool.stats().errors, 0);
    assert_eq!(spool.stats().files_created, 10);
}

#[test]
fn rtp_header_mode_and_switches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = SpoolConfig::new(dir.path());
    cfg.save_rtp = SaveRtp::Header;
    cfg.save_sip = false;
    cfg.save_rtcp = false;
    let mut spool = Spool::new(cfg);
    let c = call(3, b"hdr");
    let rtp = frame(9, 214);
    spool.write_sip(&c, &rec(T0, &frame(1, 300)));
    spool.write_rtp(&c, &rec(T0, &rtp), 42);
    spool.write_rtcp(&c, &rec(T0, &frame(2, 80)));
    let paths = spool.close_call(3);
    assert_eq!(paths.len(), 1, "RTP only: {paths:?}");
    let (_, got) = read(&paths[0]);
    assert_eq!(got, vec![(T0, 214, rtp[..54].to_vec())]);
}

#[test]
fn a_packet_of_another_link_type_is_counted_not_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spool = Spool::new(SpoolConfig::new(dir.path()));
    let c = call(4, b"dlt");
    let a = frame(1, 100);
    spool.write_sip(&c, &rec(T0, &a));
    let b = frame(2, 100);
    spool.write_sip(
        &c,
        &Record {
            link: 113,
            ..rec(T0 + 1, &b)
        },
    );
    let paths = spool.close_call(4);
    assert_eq!(read(&paths[0]).1.len(), 1);
    assert_eq!(spool.stats().dlt_mismatch, 1);
}

#[test]
fn an_unwritable_spool_counts_errors_and_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").expect("write");
    // The spool root is a regular file: nothing can be created below it.
    let mut spool = Spool::new(SpoolConfig::new(&blocker));
    let c = call(5, b"x");
    spool.write_sip(&c, &rec(T0, &frame(1, 100)));
    spool.write_sip(&c, &rec(T0, &frame(2, 100)));
    assert_eq!(
        spool.stats().errors,
        1,
        "one error, then the file is given up"
    );
    assert!(spool.close_call(5).is_empty());
}

#[test]
fn active_minutes_are_those_of_open_calls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spool = Spool::new(SpoolConfig::new(dir.path()));
    let c = call(8, b"m");
    spool.write_sip(&c, &rec(T0, &frame(1, 100)));
    assert_eq!(
        spool.active_minutes().into_iter().collect::<Vec<_>>(),
        ["2026-04-14/11/57"]
    );
    spool.close_call(8);
    assert!(spool.active_minutes().is_empty());
}

#[test]
fn register_transactions_get_reg_pcaps_named_by_their_first_register() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = SpoolConfig::new(dir.path());
    cfg.save_register = true;
    let mut spool = Spool::new(cfg);
    let (a, b) = (frame(1, 300), frame(2, 200));
    spool.write_register(1, T0, &rec(T0, &a));
    // A call with the same numeric id has files of its own.
    spool.write_sip(&call(1, b"c"), &rec(T0, &frame(3, 100)));
    spool.write_register(1, T0, &rec(T0 + 5, &b));
    let path = spool.close_register(1).expect("REG file");
    assert_eq!(
        path,
        dir.path()
            .join("2026-04-14/11/57/REG/1776167857123456.pcap")
    );
    assert_eq!(read(&path).1, vec![(T0, 300, a), (T0 + 5, 200, b)]);
    assert_eq!(
        spool.close_call(1).len(),
        1,
        "the call's SIP file is separate"
    );
    // Off by default.
    let mut off = Spool::new(SpoolConfig::new(dir.path().join("off")));
    off.write_register(2, T0, &rec(T0, &frame(1, 100)));
    assert_eq!(off.close_register(2), None);
}
