//! Live capture through the real binary: the sensor captures `lo` (AF_PACKET, TPACKET_V3)
//! while the test sends a SIP call with RTP over loopback on an unusual SIP port, and the
//! manager API shows the call. Needs root or CAP_NET_RAW (CI runs as root); elsewhere the test
//! says so and skips.

mod common;

use common::{Sensor, text};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(str::to_owned))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
}

fn sip(from: &UdpSocket, to: &str, text: &str) {
    let wire = text.replace('\n', "\r\n");
    from.send_to(wire.as_bytes(), to).expect("send SIP");
}

fn with_body(head: &str, body: &str) -> String {
    format!(
        "{head}Content-Length: {}\n\n{body}",
        body.replace('\n', "\r\n").len()
    )
}

#[test]
fn a_call_on_loopback_is_captured_live() {
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the live capture test as root"
        );
        eprintln!("skipped: live capture needs root or CAP_NET_RAW");
        return;
    }
    let sip_port = 25060 + u16::try_from(std::process::id() % 1000).expect("small");
    let sensor = Sensor::start(&[], &format!("interface = lo\nsipport = {sip_port}\n"));
    let caller = UdpSocket::bind(("127.0.0.1", sip_port)).expect("bind caller");
    let callee = UdpSocket::bind(("127.0.0.2", sip_port)).expect("bind callee");
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind rtp");
    let rtp_port = rtp.local_addr().expect("addr").port();
    let call_id = format!("live-{}@127.0.0.1", std::process::id());
    let sdp = |ip: &str, port: u16| {
        format!(
            "v=0\no=x 1 1 IN IP4 {ip}\ns=-\nc=IN IP4 {ip}\nt=0 0\nm=audio {port} RTP/AVP 8\na=rtpmap:8 PCMA/8000\n"
        )
    };
    let head = |to_tag: &str| {
        format!(
            "Via: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKlive\nFrom: \"Alice\" <sip:1001@example.com>;tag=a1\n\
             To: <sip:1002@example.com>{to_tag}\nCall-ID: {call_id}\nCSeq: 1 INVITE\n\
             Contact: <sip:1001@127.0.0.1:{sip_port}>\nUser-Agent: e2e-live\nContent-Type: application/sdp\n"
        )
    };
    let callee_addr = format!("127.0.0.2:{sip_port}");
    let caller_addr = format!("127.0.0.1:{sip_port}");
    sip(
        &caller,
        &callee_addr,
        &with_body(
            &format!("INVITE sip:1002@example.com SIP/2.0\n{}", head("")),
            &sdp("127.0.0.1", rtp_port),
        ),
    );
    sip(
        &callee,
        &caller_addr,
        &with_body(
            &format!("SIP/2.0 200 OK\n{}", head(";tag=b1")),
            &sdp("127.0.0.2", 40_002),
        ),
    );
    // 150 RTP packets from the caller's announced port to the callee's.
    for i in 0..150u16 {
        let mut pkt = vec![0x80, 8];
        pkt.extend_from_slice(&i.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(i) * 160).to_be_bytes());
        pkt.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        pkt.extend_from_slice(&[0xd5; 160]);
        rtp.send_to(&pkt, "127.0.0.2:40002").expect("send RTP");
        std::thread::sleep(Duration::from_millis(1));
    }
    // The capture thread catches up within a block timeout (100 ms).
    let deadline = Instant::now() + Duration::from_secs(5);
    let row = loop {
        let reply = sensor.exchange(b"listcalls {}\r\n\r\n");
        let json: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
        let header = json[0].as_array().expect("header").clone();
        let col = |r: &serde_json::Value, name: &str| {
            let i = header.iter().position(|h| h == name).expect("column");
            r[i].clone()
        };
        let found = json.as_array().expect("array")[2..]
            .iter()
            .find(|r| col(r, "callid") == call_id.as_str())
            .map(|r| {
                [
                    "caller",
                    "called",
                    "callername",
                    "callerip",
                    "calledip",
                    "lastSIPresponseNum",
                    "callercodec",
                    "src_received",
                    "calleragent",
                ]
                .iter()
                .map(|k| ((*k).to_owned(), col(r, k)))
                .collect::<std::collections::HashMap<_, _>>()
            });
        match found {
            Some(r) if r["src_received"] == 148 => break r,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "call not seen complete: {other:?}\n{}",
                    text(&reply)
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(row["caller"], "1001");
    assert_eq!(row["called"], "1002");
    assert_eq!(row["callername"], "Alice");
    assert_eq!(row["callerip"], 2_130_706_433u64, "127.0.0.1 as an integer");
    assert_eq!(row["calledip"], 2_130_706_434u64);
    assert_eq!(row["lastSIPresponseNum"], 200);
    assert_eq!(row["callercodec"], 8);
    assert_eq!(row["calleragent"], "e2e-live");
    assert_eq!(
        text(&sensor.exchange(b"pcapstat\r\n\r\n")),
        "lo : pdropsCount [0] pcapdrop [0] ifdrop [0]"
    );
}
