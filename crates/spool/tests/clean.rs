//! Spool cleaning deletes the oldest minute folders first and nothing else.

use std::collections::HashSet;
use std::path::Path;

use voipsensor_spool::{CleanLimits, clean};

/// 2026-04-14 12:00:00 UTC.
const NOW: i64 = 1_776_168_000;

fn file(root: &Path, rel: &str, bytes: usize) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, vec![0u8; bytes]).expect("write");
}

/// Three days of minutes, 1000 bytes of SIP and 10 000 of RTP per minute, plus things
/// that are not spool data.
fn spool(root: &Path) {
    for (day, hour, minute) in [
        ("2026-04-12", "10", "00"),
        ("2026-04-12", "10", "01"),
        ("2026-04-13", "23", "59"),
        ("2026-04-14", "11", "30"),
        ("2026-04-14", "11", "59"),
    ] {
        file(root, &format!("{day}/{hour}/{minute}/SIP/a.pcap"), 1000);
        file(root, &format!("{day}/{hour}/{minute}/RTP/a.pcap"), 10_000);
    }
    file(root, "filesindex/sipsize/2026041210", 5);
    file(root, "2026-04-12/notes.txt", 5);
}

fn exists(root: &Path, rel: &str) -> bool {
    root.join(rel).exists()
}

#[test]
fn max_days_deletes_older_minutes_and_empty_parents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    spool(root);
    let limits = CleanLimits {
        max_days: Some(1),
        ..CleanLimits::default()
    };
    let r = clean(root, &limits, NOW, &HashSet::new()).expect("clean");
    assert_eq!(r.deleted, 4, "SIP and RTP of the two minutes of 2026-04-12");
    assert_eq!(r.freed_bytes, 22_000);
    assert!(
        !exists(root, "2026-04-12/10"),
        "emptied hour folder removed"
    );
    assert!(exists(root, "2026-04-12/notes.txt"), "not spool data: kept");
    assert!(
        exists(root, "2026-04-13/23/59/SIP/a.pcap"),
        "younger than a day"
    );
    assert!(exists(root, "filesindex/sipsize/2026041210"));
}

#[test]
fn max_size_deletes_oldest_first_but_never_an_active_minute() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    spool(root);
    let limits = CleanLimits {
        max_bytes: Some(25_000),
        ..CleanLimits::default()
    };
    // The oldest minute still has a call writing into it.
    let active: HashSet<String> = ["2026-04-12/10/00".to_owned()].into();
    let r = clean(root, &limits, NOW, &active).expect("clean");
    // 55 000 bytes: 10:00 is active, so 10:01, 23:59 and 11:30 go (33 000) → 22 000.
    assert_eq!(r.freed_bytes, 33_000);
    assert_eq!(r.remaining_bytes, 22_000);
    assert!(exists(root, "2026-04-12/10/00/RTP/a.pcap"));
    assert!(!exists(root, "2026-04-12/10/01"));
    assert!(!exists(root, "2026-04-13"), "emptied day folder removed");
    assert!(!exists(root, "2026-04-14/11/30"));
    assert!(exists(root, "2026-04-14/11/59/SIP/a.pcap"));
}

#[test]
fn per_type_limits_touch_their_type_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    spool(root);
    let limits = CleanLimits {
        max_rtp_bytes: Some(20_000),
        ..CleanLimits::default()
    };
    let r = clean(root, &limits, NOW, &HashSet::new()).expect("clean");
    assert_eq!(r.deleted, 3);
    assert!(!exists(root, "2026-04-12/10/00/RTP"));
    assert!(exists(root, "2026-04-12/10/00/SIP/a.pcap"));
    assert!(exists(root, "2026-04-14/11/59/RTP/a.pcap"));
    assert!(exists(root, "2026-04-14/11/30/RTP/a.pcap"));
}

#[test]
fn symlinks_are_not_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    file(outside.path(), "precious/data.bin", 50_000);
    std::fs::create_dir_all(root.join("2026-04-12/10/00")).expect("mkdir");
    std::os::unix::fs::symlink(
        outside.path().join("precious"),
        root.join("2026-04-12/10/00/SIP"),
    )
    .expect("symlink");
    file(root, "2026-04-14/11/59/SIP/a.pcap", 100);
    let limits = CleanLimits {
        max_bytes: Some(0),
        max_days: Some(0),
        ..CleanLimits::default()
    };
    clean(root, &limits, NOW, &HashSet::new()).expect("clean");
    assert!(outside.path().join("precious/data.bin").exists());
    assert!(!exists(root, "2026-04-14/11/59/SIP/a.pcap"));
}
