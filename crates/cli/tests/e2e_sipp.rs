//! Real SIP traffic from sipp (Debian's sip-tester) on loopback while the sensor captures `lo`:
//! the calls sipp places appear in listcalls with the right caller, called, IPs and codec, and
//! leave it after hang-up. The same traffic captured by tcpdump replays to the same listing,
//! and tshark counts the same frames, SIP messages and RTP packets in that capture as the
//! sensor. Needs root (live capture), sipp, tcpdump and tshark; CI installs them and runs as
//! root, elsewhere the tests say what is missing and skip.

mod common;

use common::{Sensor, table_rows};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    place_calls_over(dir, port, calls, &[])
}

/// [`place_calls`] with extra sipp options for both ends (e.g. `-t t1` for TCP).
fn place_calls_over(dir: &Path, port: u16, calls: u32, extra: &[&str]) -> (Sipp, Sipp) {
    std::os::unix::fs::symlink(PCAP_DIR, dir.join("pcap")).expect("symlink pcap dir");
    let s = |v: &str| v.to_owned();
    let extra: Vec<String> = extra.iter().map(|v| s(v)).collect();
    let uas = sipp(
        dir,
        &[
            &extra[..],
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
        ]
        .concat(),
    );
    std::thread::sleep(Duration::from_millis(300));
    let uac = sipp(
        dir,
        &[
            &extra[..],
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
        ]
        .concat(),
    );
    (uas, uac)
}

fn listcalls(sensor: &Sensor) -> Vec<HashMap<String, serde_json::Value>> {
    let reply = sensor.exchange(b"listcalls {}\r\n\r\n");
    let json: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
    table_rows(&json, 2)
}

/// Polls `listcalls` until `done` accepts the listing; panics with the last one after `within`.
fn wait_calls(
    sensor: &Sensor,
    within: Duration,
    done: impl Fn(&[HashMap<String, serde_json::Value>]) -> bool,
) -> Vec<HashMap<String, serde_json::Value>> {
    let deadline = Instant::now() + within;
    loop {
        let calls = listcalls(sensor);
        if done(&calls) {
            return calls;
        }
        assert!(
            Instant::now() < deadline,
            "listcalls not as expected within {within:?}: {calls:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the calls hung up and left `listcalls`.
fn wait_hung_up(sensor: &Sensor, within: Duration) {
    wait_calls(sensor, within, <[_]>::is_empty);
}

fn sensor_for(port: u16) -> Sensor {
    Sensor::start(&[], &format!("interface = lo\nsipport = {port}\n"))
}

/// SIP ports `p` and `p + 1`, the UAS media port `p + 1000`, the UAC's `p + 2000 + 4k` for
/// its k-th call: each test takes its own `offset`, far enough from the others' (4 ports per
/// call it places, at least 5 apart), so the tests can run side by side.
fn unique_port(offset: u16) -> u16 {
    30_000 + u16::try_from(std::process::id() % 100).expect("small") * 150 + offset
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
    let calls = wait_calls(&sensor, Duration::from_secs(6), |calls| {
        answered_pcma(calls, 3)
    });
    for c in &calls {
        assert_eq!(c["caller"], "sipp");
        assert_eq!(c["called"], "service");
        assert_eq!(c["callerip"], 2_130_706_433u64, "127.0.0.1");
        assert_eq!(c["calledip"], 2_130_706_434u64, "127.0.0.2");
        assert_eq!(c["vlan"], 65534);
    }
    // uac_pcap hangs up after its media (about 9 s): the calls leave the list, totalcalls lags.
    wait_hung_up(&sensor, Duration::from_secs(20));
    let total = common::text(&sensor.exchange(b"totalcalls\r\n\r\n"));
    assert_eq!(total, "3", "ended calls stay counted for a while");
}

#[test]
fn a_sipp_call_counts_its_rtp() {
    if !can_run() {
        return;
    }
    let port = unique_port(20);
    let sensor = sensor_for(port);
    let dir = tempfile::tempdir().expect("tempdir");
    let (_uas, _uac) = place_calls(dir.path(), port, 1);
    // g711a.pcap plays for several seconds at 50 packets/s: the caller's stream grows.
    let calls = wait_calls(&sensor, Duration::from_secs(8), |calls| {
        received(calls) >= 100
    });
    let c = &calls[0];
    assert_eq!(c["callercodec"], 8, "PCMA");
    assert_eq!(c["src_loss_abs"], 0, "no loss on loopback: {c:?}");
    assert_eq!(c["rtp_src"], 2_130_706_433u64);
}

/// `src_received` of the first listed call (0 when none).
fn received(calls: &[HashMap<String, serde_json::Value>]) -> u64 {
    calls
        .first()
        .and_then(|c| c["src_received"].as_u64())
        .unwrap_or(0)
}

/// Whether `n` calls are listed, all answered, with PCMA from the caller.
fn answered_pcma(calls: &[HashMap<String, serde_json::Value>], n: usize) -> bool {
    calls.len() == n
        && calls
            .iter()
            .all(|c| c["lastSIPresponseNum"] == 200 && c["callercodec"] == 8)
}

#[test]
fn a_sipp_registration_with_a_challenge_is_listed() {
    if !(can_run() && can_capture()) {
        return;
    }
    let port = unique_port(40);
    let sensor = Sensor::start(
        &[],
        &format!("interface = lo\nsipport = {port}\nsave-sip-register = yes\n"),
    );
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
    // save-sip-register: the transaction's pcap, REG/<µs of its first REGISTER>.pcap, holds
    // REGISTER, 401, REGISTER with credentials, 200 (written out within a second).
    std::thread::sleep(Duration::from_millis(1500));
    // The minute of the REGISTER (just now, or the minute before).
    let now = i64::try_from(unix_us(SystemTime::now()) / 1_000_000).expect("seconds");
    let folders: std::collections::BTreeSet<String> =
        [now - 10, now].into_iter().map(minute_folder).collect();
    let reg_dirs: Vec<PathBuf> = folders
        .iter()
        .map(|f| sensor.dir().join("spool").join(f).join("REG"))
        .filter(|d| d.is_dir())
        .collect();
    let files: Vec<PathBuf> = reg_dirs
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(d)
                .expect("REG dir")
                .filter_map(Result::ok)
        })
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "one REG pcap: {files:?}");
    let decode = ["-d".to_owned(), format!("udp.port=={port},sip")];
    let codes = tshark_fields(&files[0], &decode, "sip", "sip.CSeq");
    assert_eq!(
        codes,
        ["1 REGISTER", "1 REGISTER", "2 REGISTER", "2 REGISTER"],
        "{}",
        files[0].display()
    );
    // And its register_state row, once the writer committed it.
    let db = sensor.dir().join("voipsensor.db");
    let row = wait_row(
        &db,
        "SELECT state, expires, from_num, digestusername, fname FROM register_state",
    );
    let fname = files[0]
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("REG file name");
    assert_eq!(
        row,
        ["1", "120", "1001", "1001", fname],
        "fname names the REG pcap"
    );
}

/// The first row of `sql` on the SQLite database `db`, as text, once there is one.
fn wait_row(db: &Path, sql: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let row =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .ok()
                .and_then(|conn| {
                    conn.query_row(sql, [], |r| {
                        (0..r.as_ref().column_count())
                            .map(|i| {
                                r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                                    rusqlite::types::Value::Integer(n) => n.to_string(),
                                    rusqlite::types::Value::Text(t) => t,
                                    other => format!("{other:?}"),
                                })
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .ok()
                });
        if let Some(row) = row {
            return row;
        }
        assert!(Instant::now() < deadline, "no row for {sql}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

const TCPDUMP: &str = "/usr/bin/tcpdump";
const TSHARK: &str = "/usr/bin/tshark";

/// Whether tcpdump and tshark are there too (CI installs them).
fn can_capture() -> bool {
    let tools = Path::new(TCPDUMP).exists() && Path::new(TSHARK).exists();
    if !tools {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the capture tests (tcpdump and tshark)"
        );
        eprintln!("skipped: needs tcpdump and tshark");
    }
    tools
}

/// tcpdump writing the test's SIP and media ports on `lo` to `file`; stopped (and its file
/// flushed) by [`Tcpdump::stop`], killed if dropped.
struct Tcpdump(Child);

impl Tcpdump {
    fn start(file: &Path, port: u16) -> Self {
        // The UAC's media ports are its -mp port plus 4 per call; the UAS receives every
        // call's RTP on its one media port. Exact ports: the other sipp tests run alongside.
        let filter = format!(
            "udp and (port {} or port {} or port {})",
            port,
            port + 1,
            port + 1000
        );
        let mut child = Command::new(TCPDUMP)
            .args(["-i", "lo", "-U", "-s", "0", "-w"])
            .arg(file)
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tcpdump");
        // It says "listening on lo" once its capture is open.
        let stderr = child.stderr.take().expect("tcpdump stderr");
        let mut lines = BufReader::new(stderr).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        assert!(first.contains("listening on"), "tcpdump: {first}");
        std::thread::spawn(move || lines.for_each(drop));
        Self(child)
    }

    fn stop(mut self) {
        common::signal(self.0.id(), "INT");
        let status = self.0.wait().expect("wait tcpdump");
        assert!(status.success(), "tcpdump ended with {status}");
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Frames of `file` tshark shows with `args` (a display filter, decode-as rules).
fn tshark_count(file: &Path, args: &[String]) -> u64 {
    let out = Command::new(TSHARK)
        .arg("-r")
        .arg(file)
        .args(args)
        .args(["-T", "fields", "-e", "frame.number"])
        .stderr(Stdio::null())
        .output()
        .expect("run tshark");
    assert!(out.status.success(), "tshark {args:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64
}

/// The packets of `src` up to and including `until_us` (packet time), written to `dst`.
fn cut_capture(src: &Path, dst: &Path, until_us: u64) -> u64 {
    use voipsensor_capture::{PcapWriter, Timestamp};
    let mut reader = voipsensor_capture::open(src).expect("open capture");
    let mut writer = None;
    let mut n = 0;
    while let Some(p) = reader.next_packet().expect("read capture") {
        let us = u64::try_from(p.ts.secs).expect("ts") * 1_000_000 + u64::from(p.ts.nanos / 1000);
        if us > until_us {
            break;
        }
        let w = writer.get_or_insert_with(|| {
            let file = std::io::BufWriter::new(std::fs::File::create(dst).expect("create"));
            PcapWriter::new(file, p.link_type, 262_144, false).expect("writer")
        });
        w.write_packet(Timestamp::new(p.ts.secs, p.ts.nanos), p.data, p.orig_len)
            .expect("write");
        n += 1;
    }
    if let Some(mut w) = writer {
        w.flush().expect("flush");
    }
    n
}

/// A sensor replaying `file` and serving afterwards; returns it once the replay finished.
fn replay(file: &Path, port: u16) -> Sensor {
    let sensor = Sensor::start(
        &[
            "--read",
            file.to_str().expect("utf8"),
            "--continue-after-read",
        ],
        &format!("sipport = {port}\n"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sensor.stderr().contains("replay finished") {
        assert!(Instant::now() < deadline, "replay: {}", sensor.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    sensor
}

/// A number `key=N` from the replay's summary log line.
fn logged(log: &str, key: &str) -> u64 {
    let line = log
        .lines()
        .rfind(|l| l.contains("replay finished"))
        .expect("summary line");
    let start = line.find(&format!("{key}=")).expect(key) + key.len() + 1;
    line[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .expect(key)
}

/// The fields a replay must reproduce exactly, per Call-ID.
fn identity(calls: &[HashMap<String, serde_json::Value>]) -> Vec<String> {
    let mut v: Vec<String> = calls
        .iter()
        .map(|c| {
            [
                "callid",
                "calldate_num",
                "caller",
                "called",
                "callerip",
                "calledip",
                "sipproxies",
                "lastSIPresponseNum",
                "callercodec",
                "rtp_src",
                "rtp_dst",
            ]
            .iter()
            .map(|k| format!("{k}={}", c[*k]))
            .collect::<Vec<_>>()
            .join(" ")
        })
        .collect();
    v.sort();
    v
}

fn unix_us(t: SystemTime) -> u64 {
    u64::try_from(
        t.duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_micros(),
    )
    .expect("µs")
}

#[test]
fn sipp_calls_captured_to_a_pcap_replay_to_the_same_results_and_tshark_agrees() {
    if !(can_run() && can_capture()) {
        return;
    }
    let port = unique_port(60);
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("sipp.pcap");
    let tcpdump = Tcpdump::start(&capture, port);
    let live = sensor_for(port);
    let (_uas, _uac) = place_calls(dir.path(), port, 3);

    // Live: the three calls answered and in their media phase.
    wait_calls(&live, Duration::from_secs(6), |calls| {
        answered_pcma(calls, 3)
    });
    std::thread::sleep(Duration::from_secs(1));
    // Packets up to `cut` are in the live sensor's tables once the capture ring delivered
    // them (within its 100 ms block timeout).
    let cut = unix_us(SystemTime::now());
    std::thread::sleep(Duration::from_millis(300));
    let live_mid = listcalls(&live);
    assert_eq!(live_mid.len(), 3);

    // After the hang-up: the list empties, totalcalls keeps them for a while.
    wait_hung_up(&live, Duration::from_secs(20));
    let live_total = common::text(&live.exchange(b"totalcalls\r\n\r\n"));
    std::thread::sleep(Duration::from_millis(300));
    tcpdump.stop();

    // Replaying the capture cut at `cut` lists the same calls with the same values.
    let cut_file = dir.path().join("cut.pcap");
    assert!(cut_capture(&capture, &cut_file, cut) > 0);
    let mid = replay(&cut_file, port);
    let replay_mid = listcalls(&mid);
    assert_eq!(identity(&replay_mid), identity(&live_mid));
    for (l, r) in live_mid.iter().zip(&replay_mid) {
        let (lr, rr) = (
            l["src_received"].as_i64().unwrap_or(0),
            r["src_received"].as_i64().unwrap_or(0),
        );
        // The live listing was taken up to 300 ms after `cut`: at most 15 packets later.
        assert!(
            (0..=15).contains(&(lr - rr)),
            "src_received live {lr}, replay {rr}"
        );
    }

    // Replaying the whole capture: the calls came and went as they did live.
    let full = replay(&capture, port);
    assert!(listcalls(&full).is_empty());
    assert_eq!(
        common::text(&full.exchange(b"totalcalls\r\n\r\n")),
        live_total
    );

    // tshark reads the same capture independently: same frames, SIP messages and RTP.
    let log = full.stderr();
    let sip_ports = [
        "-d".to_owned(),
        format!("udp.port=={port},sip"),
        "-d".to_owned(),
        format!("udp.port=={},sip", port + 1),
    ];
    let frames = tshark_count(&capture, &[]);
    let sip = tshark_count(
        &capture,
        &[&sip_ports[..], &["-Y".into(), "sip".into()]].concat(),
    );
    let rtp = tshark_count(
        &capture,
        &[
            &sip_ports[..],
            &[
                "-d".into(),
                format!("udp.port=={},rtp", port + 1000),
                "-Y".into(),
                "rtp".into(),
            ],
        ]
        .concat(),
    );
    assert!(
        sip >= 3 * 5,
        "INVITE, 100, 180, 200, ACK, BYE, 200 per call: {sip}"
    );
    assert!(rtp > 100, "sipp's g711a.pcap: {rtp}");
    assert_eq!(logged(&log, "packets"), frames, "{log}");
    assert_eq!(logged(&log, "sip_messages"), sip, "{log}");
    assert_eq!(logged(&log, "rtp_packets"), rtp, "{log}");
    assert_eq!(logged(&log, "undecodable"), 0);
    assert_eq!(logged(&log, "sip_malformed"), 0);
}

/// `fbasename_safe` of the behaviour spec §1.3, written out independently of the sensor.
fn safe_name(call_id: &str) -> String {
    call_id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b":-.@".contains(&b) {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect()
}

/// `YYYY-MM-DD/HH/MM` (UTC) of unix seconds, by `date`.
fn minute_folder(unix: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{unix}"), "+%Y-%m-%d/%H/%M"])
        .output()
        .expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The values of `field` in every frame tshark shows of `file` with display filter `filter`.
fn tshark_fields(file: &Path, decode_as: &[String], filter: &str, field: &str) -> Vec<String> {
    let out = Command::new(TSHARK)
        .arg("-r")
        .arg(file)
        .args(decode_as)
        .args(["-Y", filter, "-T", "fields", "-e", field])
        .stderr(Stdio::null())
        .output()
        .expect("run tshark");
    assert!(out.status.success(), "tshark on {}", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn sipp_calls_are_written_to_per_call_pcaps_that_tshark_reads() {
    if !(can_run() && can_capture()) {
        return;
    }
    let port = unique_port(80);
    let mut sensor = sensor_for(port);
    let spool = sensor.dir().join("spool");
    let dir = tempfile::tempdir().expect("tempdir");
    let (_uas, _uac) = place_calls(dir.path(), port, 2);
    let calls = wait_calls(&sensor, Duration::from_secs(6), |calls| {
        calls.len() == 2 && calls.iter().all(|c| c["lastSIPresponseNum"] == 200)
    });
    // An active call's files are valid pcaps already (flushed within a second).
    std::thread::sleep(Duration::from_millis(1500));
    let first = calls[0]["callid"].as_str().expect("callid").to_owned();
    let folder = minute_folder(calls[0]["calldate_num"].as_i64().expect("calldate_num"));
    let active_rtp = spool
        .join(&folder)
        .join("RTP")
        .join(format!("{}.pcap", safe_name(&first)));
    let decode_rtp = ["-d".to_owned(), format!("udp.port=={},rtp", port + 1000)];
    let partial = tshark_fields(&active_rtp, &decode_rtp, "rtp", "rtp.seq").len();
    assert!(partial > 10, "RTP of the active call on disk: {partial}");

    wait_hung_up(&sensor, Duration::from_secs(20));
    // SIGTERM: every file is flushed, synced and closed before the sensor exits.
    sensor.sigterm();
    let status = sensor
        .wait_exit(Duration::from_secs(10))
        .expect("sensor exits");
    assert!(status.success(), "{status}");

    let decode_sip = [
        "-d".to_owned(),
        format!("udp.port=={port},sip"),
        "-d".to_owned(),
        format!("udp.port=={},sip", port + 1),
    ];
    for c in &calls {
        let call_id = c["callid"].as_str().expect("callid");
        let folder = minute_folder(c["calldate_num"].as_i64().expect("calldate_num"));
        let name = format!("{}.pcap", safe_name(call_id));
        let sip = spool.join(&folder).join("SIP").join(&name);
        let rtp = spool.join(&folder).join("RTP").join(&name);
        // Exactly this call's SIP: INVITE, 180, 200, ACK, BYE, 200 of sipp's uac/uas.
        let ids = tshark_fields(&sip, &decode_sip, "sip", "sip.Call-ID");
        assert_eq!(ids.len(), 6, "{}: {ids:?}", sip.display());
        assert!(ids.iter().all(|i| i == call_id), "{ids:?}");
        let methods = tshark_fields(&sip, &decode_sip, "sip.Method", "sip.Method");
        assert_eq!(methods, ["INVITE", "ACK", "BYE"]);
        // Exactly this call's RTP: every packet of sipp's g711a.pcap (246, one SSRC change
        // inside), from this call's own media port, none of the other call's.
        let seqs = tshark_fields(&rtp, &decode_rtp, "rtp", "udp.srcport");
        assert_eq!(seqs.len(), 246, "{}", rtp.display());
        let ports: std::collections::BTreeSet<&String> = seqs.iter().collect();
        assert_eq!(ports.len(), 1, "one source port per call: {ports:?}");
    }
    let log = sensor.stderr();
    assert!(log.contains("spool closed files=4"), "{log}");
}

#[test]
fn sigterm_during_a_call_leaves_complete_valid_pcaps() {
    if !(can_run() && can_capture()) {
        return;
    }
    let port = unique_port(100);
    let mut sensor = sensor_for(port);
    let spool = sensor.dir().join("spool");
    let dir = tempfile::tempdir().expect("tempdir");
    let (_uas, _uac) = place_calls(dir.path(), port, 1);
    let call = wait_calls(&sensor, Duration::from_secs(8), |calls| {
        received(calls) >= 100
    })
    .remove(0);
    // Mid-call: the sensor had counted `received` (+ 2 probation packets) when asked.
    let counted = call["src_received"].as_u64().expect("src_received") + 2;
    sensor.sigterm();
    let status = sensor
        .wait_exit(Duration::from_secs(10))
        .expect("sensor exits");
    assert!(status.success(), "{status}");
    let call_id = call["callid"].as_str().expect("callid");
    let folder = minute_folder(call["calldate_num"].as_i64().expect("calldate_num"));
    let name = format!("{}.pcap", safe_name(call_id));
    // tshark reads both files to the end without complaint (it fails on a cut record), and
    // the RTP file holds at least every packet counted before the signal.
    let decode_rtp = ["-d".to_owned(), format!("udp.port=={},rtp", port + 1000)];
    let rtp = tshark_fields(
        &spool.join(&folder).join("RTP").join(&name),
        &decode_rtp,
        "rtp",
        "rtp.seq",
    );
    assert!(
        rtp.len() as u64 >= counted && rtp.len() < 246,
        "{} RTP packets written, {counted} counted before SIGTERM",
        rtp.len()
    );
    let decode_sip = ["-d".to_owned(), format!("udp.port=={port},sip")];
    let sip = tshark_fields(
        &spool.join(&folder).join("SIP").join(&name),
        &decode_sip,
        "sip",
        "sip.Call-ID",
    );
    assert!(sip.len() >= 4, "INVITE, 180, 200, ACK: {sip:?}");
    assert!(sip.iter().all(|i| i == call_id));
    // The call still in progress was closed by the shutdown and its CDR written.
    let cdrs = cdr_rows(&sensor.dir().join("voipsensor.db"));
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!(cdrs[0].fbasename, call_id);
    assert_eq!(cdrs[0].bye, 110, "force-terminated while capturing live");
}

#[test]
fn sipp_calls_leave_cdr_rows_in_sqlite() {
    if !(can_run() && can_capture()) {
        return;
    }
    let port = unique_port(110);
    let sensor = sensor_for(port);
    let db = sensor.dir().join("voipsensor.db");
    sipp_cdrs(port, sensor, &|| cdr_rows(&db));
}

#[test]
fn sipp_calls_leave_cdr_rows_in_mariadb() {
    if !(can_run() && can_capture()) {
        return;
    }
    let Ok(spec) = std::env::var("VOIPSENSOR_TEST_MYSQL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the MariaDB CDR test (VOIPSENSOR_TEST_MYSQL=user:pw@host:port)"
        );
        eprintln!("skipped: set VOIPSENSOR_TEST_MYSQL=user:pw@host:port");
        return;
    };
    let (creds, addr) = spec.rsplit_once('@').expect("user:pw@host:port");
    let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
    let (host, mport) = addr.rsplit_once(':').unwrap_or((addr, "3306"));
    let db = format!("vs_e2e_cdr_{}", std::process::id());
    let query = |sql: &str| -> Option<String> {
        let out = Command::new("mariadb")
            .args(["--no-defaults", "-N", "-B", "--connect-timeout=3"])
            .args(["-h", host, "-P", mport, "-u", user])
            .arg(format!("-p{password}"))
            .args(["-e", sql])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    query(&format!("DROP DATABASE IF EXISTS `{db}`")).expect("mariadb reachable");
    let port = unique_port(130);
    let sensor = Sensor::start(
        &[],
        &format!(
            "interface = lo\nsipport = {port}\nmysqlhost = {host}\nmysqlport = {mport}\nmysqlusername = {user}\nmysqlpassword = {password}\nmysqldb = {db}\n"
        ),
    );
    let sql = format!(
        "SELECT n.fbasename, c.caller, c.called, c.sipcallerip, c.sipcalledip, \
         c.lastSIPresponseNum, r.lastSIPresponse, c.bye, c.duration, c.connect_duration, \
         TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', c.calldate), c.payload, c.a_received, \
         (SELECT COUNT(*) FROM `{db}`.cdr_rtp WHERE cdr_rtp.cdr_ID = c.ID), \
         (SELECT MIN(ttl_min) FROM `{db}`.cdr_rtp WHERE cdr_rtp.cdr_ID = c.ID), \
         (SELECT MIN(rtp_ptime) FROM `{db}`.cdr_rtp WHERE cdr_rtp.cdr_ID = c.ID) \
         FROM `{db}`.cdr c JOIN `{db}`.cdr_next n ON n.cdr_ID = c.ID \
         LEFT JOIN `{db}`.cdr_sip_response r ON r.id = c.lastSIPresponse_id ORDER BY c.ID"
    );
    let fetch = || -> Vec<CdrRow> {
        query(&sql)
            .map(|out| out.lines().filter_map(CdrRow::from_tsv).collect())
            .unwrap_or_default()
    };
    sipp_cdrs(port, sensor, &fetch);
    let _ = query(&format!("DROP DATABASE IF EXISTS `{db}`"));
}

/// Two sipp calls captured live on `port`; their CDRs, as `fetch` reads them from the
/// sensor's database, match the calls and their SIP pcaps.
fn sipp_cdrs(port: u16, mut sensor: Sensor, fetch: &dyn Fn() -> Vec<CdrRow>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = i64::try_from(unix_us(SystemTime::now()) / 1_000_000).expect("seconds");
    let (_uas, _uac) = place_calls(dir.path(), port, 2);
    let calls = wait_calls(&sensor, Duration::from_secs(6), |calls| {
        calls.len() == 2 && calls.iter().all(|c| c["lastSIPresponseNum"] == 200)
    });
    // Hang-up, then the calls close 5 s after the 200 OK to BYE and their CDRs are written.
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows = loop {
        let rows = fetch();
        if rows.len() == 2 {
            break rows;
        }
        assert!(Instant::now() < deadline, "CDRs not written: {rows:?}");
        std::thread::sleep(Duration::from_millis(250));
    };
    for c in &calls {
        let call_id = c["callid"].as_str().expect("callid");
        let r = rows
            .iter()
            .find(|r| r.fbasename == call_id)
            .unwrap_or_else(|| panic!("no CDR for {call_id}: {rows:?}"));
        assert_eq!(r.caller, "sipp");
        assert_eq!(r.called, "service");
        assert_eq!(r.sipcallerip, 2_130_706_433, "127.0.0.1");
        assert_eq!(r.sipcalledip, 2_130_706_434, "127.0.0.2");
        assert_eq!(r.last_response, 200);
        assert_eq!(r.response_text, "200 OK");
        assert_eq!(r.bye, 3, "answered, BYE confirmed");
        // Durations against the call's own SIP pcap, read by tshark: INVITE → 200 OK of the
        // BYE, and 200 OK of the INVITE → 200 OK of the BYE (whole seconds, truncated).
        let folder = minute_folder(c["calldate_num"].as_i64().expect("calldate_num"));
        let sip = sensor
            .dir()
            .join("spool")
            .join(&folder)
            .join("SIP")
            .join(format!("{}.pcap", safe_name(call_id)));
        let decode = ["-d".to_owned(), format!("udp.port=={port},sip")];
        let time_of = |filter: &str| -> f64 {
            tshark_fields(&sip, &decode, filter, "frame.time_epoch")
                .first()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("{filter} in {}", sip.display()))
        };
        let invite = time_of("sip.Method == \"INVITE\"");
        let answer = time_of("sip.Status-Code == 200 && sip.CSeq.method == \"INVITE\"");
        let bye_ok = time_of("sip.Status-Code == 200 && sip.CSeq.method == \"BYE\"");
        let expect = |from: f64| (bye_ok - from).floor() as i64;
        assert!(
            (r.duration - expect(invite)).abs() <= 1,
            "duration {} vs pcap {}",
            r.duration,
            expect(invite)
        );
        assert!(
            (r.connect_duration - expect(answer)).abs() <= 1,
            "connect_duration {} vs pcap {}",
            r.connect_duration,
            expect(answer)
        );
        assert!(
            (4..=12).contains(&r.duration),
            "uac_pcap talks ~5 s: {}",
            r.duration
        );
        assert!(
            r.calldate >= started - 1,
            "calldate {} vs start {started}",
            r.calldate
        );
        assert_eq!(r.payload, 8, "PCMA");
        assert!(
            r.a_received >= 200,
            "caller's RTP counted: {}",
            r.a_received
        );
        assert_eq!(r.rtp_rows, 1, "one stream (the UAS sends none)");
        assert_eq!(r.rtp_ttl_min, 64, "loopback: the sender's TTL");
        assert_eq!(r.rtp_ptime, 30, "sipp's g711a.pcap: 240 samples per packet");
    }
    sensor.sigterm();
    assert!(sensor.wait_exit(Duration::from_secs(10)).is_some());
    assert_eq!(fetch().len(), 2, "nothing written twice at shutdown");
}

#[derive(Debug)]
struct CdrRow {
    fbasename: String,
    caller: String,
    called: String,
    sipcallerip: i64,
    sipcalledip: i64,
    last_response: i64,
    response_text: String,
    bye: i64,
    duration: i64,
    connect_duration: i64,
    calldate: i64,
    payload: i64,
    a_received: i64,
    rtp_rows: i64,
    rtp_ttl_min: i64,
    rtp_ptime: i64,
}

impl CdrRow {
    /// A row of the `mariadb -N -B` output of the CDR query.
    fn from_tsv(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split('\t').collect();
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<i64>().ok());
        Some(Self {
            fbasename: (*f.first()?).to_owned(),
            caller: (*f.get(1)?).to_owned(),
            called: (*f.get(2)?).to_owned(),
            sipcallerip: n(3)?,
            sipcalledip: n(4)?,
            last_response: n(5)?,
            response_text: (*f.get(6)?).to_owned(),
            bye: n(7)?,
            duration: n(8)?,
            connect_duration: n(9)?,
            calldate: n(10)?,
            payload: n(11)?,
            a_received: n(12)?,
            rtp_rows: n(13)?,
            rtp_ttl_min: n(14)?,
            rtp_ptime: n(15)?,
        })
    }
}

/// The CDRs in the sensor's SQLite database (empty while the table does not exist).
fn cdr_rows(db: &Path) -> Vec<CdrRow> {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let Ok(mut stmt) = conn.prepare(
        "SELECT n.fbasename, c.caller, c.called, c.sipcallerip, c.sipcalledip, \
         c.lastSIPresponseNum, r.lastSIPresponse, c.bye, c.duration, c.connect_duration, \
         CAST(strftime('%s', c.calldate) AS INTEGER), c.payload, c.a_received, \
         (SELECT COUNT(*) FROM cdr_rtp WHERE cdr_rtp.cdr_ID = c.ID), \
         (SELECT MIN(ttl_min) FROM cdr_rtp WHERE cdr_rtp.cdr_ID = c.ID), \
         (SELECT MIN(rtp_ptime) FROM cdr_rtp WHERE cdr_rtp.cdr_ID = c.ID) \
         FROM cdr c JOIN cdr_next n ON n.cdr_ID = c.ID \
         LEFT JOIN cdr_sip_response r ON r.id = c.lastSIPresponse_id ORDER BY c.ID",
    ) else {
        return Vec::new();
    };
    let rows = stmt.query_map([], |r| {
        Ok(CdrRow {
            fbasename: r.get(0)?,
            caller: r.get(1)?,
            called: r.get(2)?,
            sipcallerip: r.get(3)?,
            sipcalledip: r.get(4)?,
            last_response: r.get(5)?,
            response_text: r.get(6)?,
            bye: r.get(7)?,
            duration: r.get(8)?,
            connect_duration: r.get(9)?,
            calldate: r.get(10)?,
            payload: r.get(11)?,
            a_received: r.get(12)?,
            rtp_rows: r.get(13)?,
            rtp_ttl_min: r.get(14)?,
            rtp_ptime: r.get(15)?,
        })
    });
    match rows {
        Ok(rows) => rows.filter_map(Result::ok).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_sipp_call_over_tcp_is_listed_and_written() {
    if !(can_run() && can_capture()) {
        return;
    }
    let port = unique_port(100) + 5;
    let mut sensor = sensor_for(port);
    let dir = tempfile::tempdir().expect("tempdir");
    let (_uas, _uac) = place_calls_over(dir.path(), port, 1, &["-t", "t1"]);
    let call = wait_calls(&sensor, Duration::from_secs(8), |calls| {
        answered_pcma(calls, 1)
    })
    .remove(0);
    assert_eq!(call["caller"], "sipp");
    assert_eq!(call["called"], "service");
    assert_eq!(call["callerip"], 2_130_706_433u64);
    assert_eq!(call["calledip"], 2_130_706_434u64);
    wait_hung_up(&sensor, Duration::from_secs(20));
    sensor.sigterm();
    assert!(sensor.wait_exit(Duration::from_secs(10)).is_some());
    let call_id = call["callid"].as_str().expect("callid");
    let folder = minute_folder(call["calldate_num"].as_i64().expect("calldate_num"));
    let sip = sensor
        .dir()
        .join("spool")
        .join(folder)
        .join("SIP")
        .join(format!("{}.pcap", safe_name(call_id)));
    let decode = ["-d".to_owned(), format!("tcp.port=={port},sip")];
    let ids = tshark_fields(&sip, &decode, "sip", "sip.Call-ID");
    assert_eq!(
        ids.len(),
        6,
        "INVITE, 180, 200, ACK, BYE, 200 over TCP: {ids:?}"
    );
    assert!(ids.iter().all(|i| i == call_id));
}
