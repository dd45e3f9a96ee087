//! Real SIP traffic from sipp (Debian's sip-tester) on loopback while the sensor captures `lo`:
//! the calls sipp places appear in listcalls with the right caller, called, IPs and codec, and
//! leave it after hang-up. Needs root (live capture) and sipp; CI installs sipp and runs as
//! root, elsewhere the tests say what is missing and skip.

mod common;

use common::{Sensor, table_rows};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SIPP: &str = "/usr/bin/sipp";
/// sip-tester ships the G.711 A-law RTP capture its `uac_pcap` scenario plays.
const PCAP_DIR: &str = "/usr/share/sip-tester";

fn can_run() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(str::to_owned))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"));
    let sipp = Path::new(SIPP).exists() && Path::new(PCAP_DIR).join("g711a.pcap").exists();
    if !(root && sipp) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the sipp tests (root: {root}, sipp: {sipp})"
        );
        eprintln!("skipped: needs root and sip-tester (root: {root}, sipp: {sipp})");
    }
    root && sipp
}

/// A sipp process, killed when dropped.
struct Sipp(Child);

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a sipp scenario in `dir` (where `pcap/` points at sip-tester's captures).
fn sipp(dir: &Path, args: &[String]) -> Sipp {
    let child = Command::new(SIPP)
        .args(args)
        .arg("-nostdin")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sipp");
    Sipp(child)
}

/// A UAS on 127.0.0.2 and a UAC on 127.0.0.1 placing `calls` calls with RTP.
fn place_calls(dir: &Path, port: u16, calls: u32) -> (Sipp, Sipp) {
    std::os::unix::fs::symlink(PCAP_DIR, dir.join("pcap")).expect("symlink pcap dir");
    let s = |v: &str| v.to_owned();
    let uas = sipp(
        dir,
        &[
            s("-sn"),
            s("uas"),
            s("-i"),
            s("127.0.0.2"),
            s("-p"),
            port.to_string(),
            s("-mp"),
            (port + 1000).to_string(),
            s("-m"),
            calls.to_string(),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let uac = sipp(
        dir,
        &[
            s("-sn"),
            s("uac_pcap"),
            format!("127.0.0.2:{port}"),
            s("-i"),
            s("127.0.0.1"),
            s("-p"),
            (port + 1).to_string(),
            s("-mp"),
            (port + 2000).to_string(),
            s("-m"),
            calls.to_string(),
            s("-l"),
            calls.to_string(),
            s("-r"),
            s("10"),
        ],
    );
    (uas, uac)
}

fn listcalls(sensor: &Sensor) -> Vec<HashMap<String, serde_json::Value>> {
    let reply = sensor.exchange(b"listcalls {}\r\n\r\n");
    let json: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
    table_rows(&json, 2)
}

fn sensor_for(port: u16) -> Sensor {
    Sensor::start(&[], &format!("interface = lo\nsipport = {port}\n"))
}

fn unique_port(offset: u16) -> u16 {
    30_000 + u16::try_from(std::process::id() % 400).expect("small") * 10 + offset
}

#[test]
fn concurrent_sipp_calls_are_listed_and_leave_after_hangup() {
    if !can_run() {
        return;
    }
    let port = unique_port(0);
    let sensor = sensor_for(port);
    let dir = tempfile::tempdir().expect("tempdir");
    let (_uas, _uac) = place_calls(dir.path(), port, 3);
    // All three are answered and in their media phase after about 1 s.
    let deadline = Instant::now() + Duration::from_secs(6);
    let calls = loop {
        let calls = listcalls(&sensor);
        if calls.len() == 3
            && calls
                .iter()
                .all(|c| c["lastSIPresponseNum"] == 200 && c["callercodec"] == 8)
        {
            break calls;
        }
        assert!(
            Instant::now() < deadline,
            "sipp calls not listed: {calls:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for c in &calls {
        assert_eq!(c["caller"], "sipp");
        assert_eq!(c["called"], "service");
        assert_eq!(c["callerip"], 2_130_706_433u64, "127.0.0.1");
        assert_eq!(c["calledip"], 2_130_706_434u64, "127.0.0.2");
        assert_eq!(c["vlan"], 65534);
    }
    // uac_pcap hangs up after its media (about 9 s): the calls leave the list, totalcalls lags.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !listcalls(&sensor).is_empty() {
        assert!(
            Instant::now() < deadline,
            "calls still listed after hang-up"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let total = common::text(&sensor.exchange(b"totalcalls\r\n\r\n"));
    assert_eq!(total, "3", "ended calls stay counted for a while");
}

#[test]
fn a_sipp_call_counts_its_rtp() {
    if !can_run() {
        return;
    }
    let port = unique_port(5);
    let sensor = sensor_for(port);
    let dir = tempfile::tempdir().expect("tempdir");
    let (_uas, _uac) = place_calls(dir.path(), port, 1);
    // g711a.pcap plays for several seconds at 50 packets/s: the caller's stream grows.
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let calls = listcalls(&sensor);
        let received = calls
            .first()
            .and_then(|c| c["src_received"].as_u64())
            .unwrap_or(0);
        if received >= 100 {
            let c = &calls[0];
            assert_eq!(c["callercodec"], 8, "PCMA");
            assert_eq!(c["src_loss_abs"], 0, "no loss on loopback: {c:?}");
            assert_eq!(c["rtp_src"], 2_130_706_433u64);
            break;
        }
        assert!(Instant::now() < deadline, "RTP not counted: {calls:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_sipp_registration_with_a_challenge_is_listed() {
    if !can_run() {
        return;
    }
    let port = unique_port(8);
    let sensor = sensor_for(port);
    let scenarios = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/sipp");
    let dir = tempfile::tempdir().expect("tempdir");
    let s = |v: &str| v.to_owned();
    let _uas = sipp(
        dir.path(),
        &[
            s("-sf"),
            format!("{scenarios}/register_uas.xml"),
            s("-i"),
            s("127.0.0.2"),
            s("-p"),
            port.to_string(),
            s("-m"),
            s("1"),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let _uac = sipp(
        dir.path(),
        &[
            s("-sf"),
            format!("{scenarios}/register_uac.xml"),
            format!("127.0.0.2:{port}"),
            s("-i"),
            s("127.0.0.1"),
            s("-p"),
            (port + 1).to_string(),
            s("-s"),
            s("1001"),
            s("-m"),
            s("1"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(6);
    let row = loop {
        let reply = sensor.exchange(b"listregisters\r\n\r\n");
        let json: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
        if let Some(row) = table_rows(&json, 2).into_iter().next()
            && row["state"] == 1
        {
            break row;
        }
        assert!(Instant::now() < deadline, "registration not listed: {json}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(row["from_num"], "1001");
    assert_eq!(row["from_domain"], "sip.test");
    assert_eq!(row["digestusername"], "1001");
    assert_eq!(row["digestrealm"], "sip.test");
    assert_eq!(
        row["expires"], 120,
        "the 200's Contact ;expires wins over the REGISTER's Expires"
    );
    assert_eq!(row["sipcallerip"], 2_130_706_433u64);
    assert_eq!(row["sipcalledip"], 2_130_706_434u64);
    assert_eq!(row["ua"], "sipp-register");
    assert_eq!(
        common::text(&sensor.exchange(b"totalregisters\r\n\r\n")),
        "1"
    );
}
