//! Replaying captures through the real binary: `voipsensor run --read FILE
//! --continue-after-read`, then the manager API shows what the capture held. Expected values
//! are derived from the capture itself (the deterministic generator's output, read back with
//! our capture reader), not hard-coded.

mod common;

use common::{Sensor, table_rows, text};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};
use voipsensor_bench::traffic::{self, Config as TrafficConfig};
use voipsensor_capture::{PcapWriter, Timestamp};
use voipsensor_wire::{L4, LinkType, decode};

/// Generates `cfg` into `path`, keeping only the packets `keep` accepts (in order).
fn write_capture(path: &Path, cfg: &TrafficConfig, keep: impl Fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
    let mut full = Vec::new();
    traffic::generate(cfg, &mut full).expect("generate");
    let mut reader = voipsensor_capture::Reader::new(&full[..]).expect("reader");
    let file = std::fs::File::create(path).expect("create");
    let mut writer =
        PcapWriter::new(std::io::BufWriter::new(file), 1, 65535, false).expect("writer");
    let mut kept = Vec::new();
    let mut stop = false;
    while let Some(p) = reader.next_packet().expect("read") {
        if stop || !keep(p.data) {
            stop = true;
            continue;
        }
        writer
            .write_packet(Timestamp::new(p.ts.secs, p.ts.nanos), p.data, p.orig_len)
            .expect("write");
        kept.push(p.data.to_vec());
    }
    writer.flush().expect("flush");
    kept
}

/// UDP payload of an Ethernet frame, with its addresses.
fn udp(frame: &[u8]) -> Option<(IpAddr, u16, IpAddr, u16, Vec<u8>)> {
    let p = decode(LinkType::Ethernet, frame).ok()?;
    match p.l4 {
        L4::Udp(u) => Some((
            p.ip.src,
            u.src_port,
            p.ip.dst,
            u.dst_port,
            u.payload.to_vec(),
        )),
        _ => None,
    }
}

/// Waits until the sensor logged the end of its replay.
fn wait_replayed(sensor: &Sensor) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sensor.stderr().contains("replay finished") {
        assert!(
            Instant::now() < deadline,
            "replay did not finish:\n{}",
            sensor.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ask_json(sensor: &Sensor, line: &str) -> serde_json::Value {
    let reply = sensor.exchange(format!("{line}\r\n\r\n").as_bytes());
    serde_json::from_slice(&reply).unwrap_or_else(|e| panic!("{line}: {e}: {}", text(&reply)))
}

fn ipv4_int(ip: Ipv4Addr) -> u64 {
    u64::from(u32::from(ip))
}

#[test]
fn calls_cut_before_their_bye_are_listed_with_exact_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("calls.pcap");
    let cfg = TrafficConfig {
        calls: 3,
        concurrency: 3,
        duration_secs: 20,
        seed: 11,
        ..TrafficConfig::default()
    };
    // Keep everything up to the first BYE: all three calls are answered and sending RTP.
    let kept = write_capture(&pcap, &cfg, |f| {
        udp(f).is_none_or(|(.., payload)| !payload.starts_with(b"BYE "))
    });
    // RTP per (src ip, src port): what the sensor must count, minus the 2 of probation.
    let mut rtp_sent: HashMap<(IpAddr, u16), u64> = HashMap::new();
    for f in &kept {
        if let Some((src, sport, _, dport, payload)) = udp(f)
            && sport != 5060
            && dport != 5060
            && !payload.is_empty()
        {
            *rtp_sent.entry((src, sport)).or_default() += 1;
        }
    }
    let sensor = Sensor::start(
        &[
            "--read",
            pcap.to_str().expect("utf8"),
            "--continue-after-read",
        ],
        "id_sensor = 4\n",
    );
    wait_replayed(&sensor);
    let reply = ask_json(&sensor, "listcalls {}");
    assert_eq!(reply[1][0]["total"], 3, "{reply}");
    let calls = table_rows(&reply, 2);
    assert_eq!(calls.len(), 3);
    for i in 0..3u32 {
        let caller = traffic::caller_number(i).to_string();
        let row = calls
            .iter()
            .find(|r| r["caller"] == caller.as_str())
            .unwrap_or_else(|| panic!("call {i} ({caller}) not listed: {reply}"));
        assert_eq!(
            row["called"],
            traffic::callee_number(i).to_string().as_str()
        );
        let caller_ip = traffic::caller_addr(cfg.caller_net, i);
        assert_eq!(row["callerip"], ipv4_int(caller_ip));
        assert_eq!(row["calledip"], ipv4_int(cfg.callee));
        assert_eq!(row["lastSIPresponseNum"], 200);
        assert_eq!(row["callercodec"], 8);
        assert_eq!(row["calledcodec"], 8);
        assert_eq!(row["id_sensor"], 4);
        assert_eq!(row["vlan"], 65534);
        assert_eq!(row["calleragent"], "gen-traffic");
        // Received = packets of the stream in the file − 2 (RFC 3550 probation), no loss.
        let from_caller: u64 = rtp_sent
            .iter()
            .filter(|((ip, _), _)| *ip == IpAddr::V4(caller_ip))
            .map(|(_, n)| *n)
            .sum();
        assert!(from_caller > 100, "the call had RTP from its caller");
        assert_eq!(row["src_received"], from_caller - 2, "{row:?}");
        assert_eq!(row["src_loss_abs"], 0);
        assert_eq!(row["rtp_src"], ipv4_int(caller_ip));
    }
    // The GUI's filters: a caller pattern, a caller IP block, both ANDed.
    let one = traffic::caller_number(1).to_string();
    let by_caller = ask_json(
        &sensor,
        &format!(r#"listcalls {{"filter":[{{"caller":"%{}"}}]}}"#, &one[4..]),
    );
    assert_eq!(by_caller[1][0]["total"], 1, "{by_caller}");
    assert_eq!(table_rows(&by_caller, 2)[0]["caller"], one.as_str());
    let net = cfg.caller_net;
    let by_ip = ask_json(
        &sensor,
        &format!(r#"listcalls {{"filter":{{"sipcallerip":"{net}/24"}}}}"#),
    );
    assert_eq!(by_ip[1][0]["total"], 3, "{by_ip}");
    let none = ask_json(
        &sensor,
        &format!(r#"listcalls {{"filter":[{{"sipcallerip":"{net}/24"}},{{"called":"0%"}}]}}"#),
    );
    assert_eq!(none[1][0]["total"], 0, "{none}");
    let totalcalls = text(&sensor.exchange(b"totalcalls\r\n\r\n"));
    assert_eq!(totalcalls, "3");
    // Without a sensor map of other ids, the summary counts this sensor's calls.
    let summary = ask_json(&sensor, r#"listcalls {"limit":0,"sensor_map":"yes"}"#);
    assert_eq!(summary["sensors"]["4"], 3, "{summary}");
}

#[test]
fn finished_calls_leave_the_list_and_registrations_are_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("all.pcap");
    let cfg = TrafficConfig {
        calls: 4,
        concurrency: 2,
        duration_secs: 3,
        registrations: 3,
        seed: 5,
        ..TrafficConfig::default()
    };
    write_capture(&pcap, &cfg, |_| true);
    let sensor = Sensor::start(
        &[
            "--read",
            pcap.to_str().expect("utf8"),
            "--continue-after-read",
        ],
        "",
    );
    wait_replayed(&sensor);
    assert_eq!(
        ask_json(&sensor, r#"listcalls {"limit":0}"#)["total"],
        0,
        "every call ended"
    );
    let regs = ask_json(&sensor, "listregisters");
    let rows = table_rows(&regs, 2);
    assert_eq!(rows.len(), 3, "{regs}");
    for j in 0..3u32 {
        let user = traffic::registration_user(j).to_string();
        let row = rows
            .iter()
            .find(|r| r["from_num"] == user.as_str())
            .unwrap_or_else(|| panic!("registration {user} missing: {regs}"));
        assert_eq!(row["state"], 1, "OK after 401 + 200: {row:?}");
        assert_eq!(row["expires"], 3600);
        assert_eq!(row["digestusername"], user.as_str());
    }
    assert_eq!(text(&sensor.exchange(b"totalregisters\r\n\r\n")), "3");
    let log = sensor.stderr();
    assert!(
        log.contains("undecodable=0") && log.contains("sip_malformed=0"),
        "{log}"
    );
}

#[test]
fn malformed_frames_are_counted_and_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("mixed.pcap");
    let cfg = TrafficConfig {
        calls: 1,
        duration_secs: 2,
        seed: 3,
        ..TrafficConfig::default()
    };
    let mut full = Vec::new();
    traffic::generate(&cfg, &mut full).expect("generate");
    let mut reader = voipsensor_capture::Reader::new(&full[..]).expect("reader");
    let file = std::fs::File::create(&pcap).expect("create");
    let mut writer =
        PcapWriter::new(std::io::BufWriter::new(file), 1, 65535, false).expect("writer");
    let mut n = 0u32;
    while let Some(p) = reader.next_packet().expect("read") {
        let ts = Timestamp::new(p.ts.secs, p.ts.nanos);
        writer.write_packet(ts, p.data, p.orig_len).expect("write");
        // After every packet: a truncated copy, garbage, and SIP-port garbage.
        let cut = &p.data[..p.data.len() / 3];
        writer.write_packet(ts, cut, p.orig_len).expect("write");
        let garbage: Vec<u8> = (0..60u32)
            .map(|i| (i.wrapping_mul(n + 7) % 251) as u8)
            .collect();
        writer.write_packet(ts, &garbage, 60).expect("write");
        if let Some((..)) = udp(p.data)
            && p.data.len() > 60
        {
            let mut bad_sip = p.data.to_vec();
            for b in &mut bad_sip[42..] {
                *b = b'\xff';
            }
            writer
                .write_packet(ts, &bad_sip, p.orig_len)
                .expect("write");
        }
        n += 1;
    }
    writer.flush().expect("flush");
    let sensor = Sensor::start(
        &[
            "--read",
            pcap.to_str().expect("utf8"),
            "--continue-after-read",
        ],
        "",
    );
    wait_replayed(&sensor);
    let log = sensor.stderr();
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        !log.contains("undecodable=0"),
        "garbage frames are counted: {log}"
    );
    // sniffer_stat reports the same counts the log does.
    let logged = |key: &str| -> u64 {
        let start = log.rfind(&format!("{key}=")).expect(key) + key.len() + 1;
        log[start..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .expect(key)
    };
    let plain = text(&sensor.exchange(b"sniffer_stat plain\r\n\r\n"));
    let expected = format!(
        "\nmalformed=frames:{},sip:{}\n",
        logged("undecodable"),
        logged("sip_malformed")
    );
    assert!(plain.contains(&expected), "{expected} in {plain}");
    assert!(
        plain.contains("\nlimits=calls_refused:0,registers_refused:0,media_evicted:0\n"),
        "{plain}"
    );
    // The real call still went through every state: it ended and left the list.
    assert_eq!(ask_json(&sensor, r#"listcalls {"limit":0}"#)["total"], 0);
    assert_eq!(
        text(&sensor.exchange(b"getversion\r\n\r\n")),
        common::VERSION
    );
}
