//! Live capture through the real binary: the sensor captures `lo` (AF_PACKET, TPACKET_V3)
//! while the test sends a SIP call with RTP over loopback on an unusual SIP port, and the
//! manager API shows the call. A second test feeds VLAN-tagged (802.1Q and QinQ) SIP through a
//! VXLAN interface, whose receive path moves the outer tag into the ring's `tp_vlan_tci`, and
//! checks that the capture puts it back and `listcalls` shows the VLAN. Needs root or
//! CAP_NET_RAW, and iproute2 for the VLAN test (CI has both); elsewhere the tests say so and
//! skip.

mod common;

use common::{Sensor, table_rows, text};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use voipsensor_capture::{LiveCapture, LiveOptions};

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
                .collect::<HashMap<_, _>>()
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

/// `ip` from iproute2, wherever the distribution put it.
fn ip_tool() -> Option<&'static Path> {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
}

/// Runs `ip ARGS`, panicking with its stderr when it fails.
fn ip(tool: &Path, args: &[&str]) {
    let out = Command::new(tool).args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        text(&out.stderr)
    );
}

/// A VXLAN interface decapsulating the datagrams sent to 127.0.0.1:`port`; deleted when dropped,
/// also when the test fails.
struct Vxlan {
    tool: &'static Path,
    name: String,
}

impl Vxlan {
    fn create(tool: &'static Path, name: String, vni: u32, port: u16) -> Self {
        // A leftover of an earlier run killed before its cleanup (same pid) would hold the name.
        let _ = Command::new(tool).args(["link", "del", &name]).output();
        let vxlan = Self { tool, name };
        ip(
            tool,
            &[
                "link",
                "add",
                &vxlan.name,
                "type",
                "vxlan",
                "id",
                &vni.to_string(),
                "dstport",
                &port.to_string(),
                "local",
                "127.0.0.1",
                "nolearning",
            ],
        );
        ip(tool, &["link", "set", &vxlan.name, "up"]);
        vxlan
    }
}

impl Drop for Vxlan {
    fn drop(&mut self) {
        let _ = Command::new(self.tool)
            .args(["link", "del", &self.name])
            .output();
    }
}

const TPID_8021Q: u16 = 0x8100;
const TPID_8021AD: u16 = 0x88a8;

/// A VLAN tag: (TPID, VLAN id).
type Tag = (u16, u16);

/// An Ethernet frame with the VLAN `tags` (outermost first) carrying a UDP
/// datagram from `src` to `dst` (UDP checksum 0: none, as IPv4 allows).
fn tagged_frame(tags: &[Tag], src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
    for (tpid, id) in tags {
        frame.extend_from_slice(&tpid.to_be_bytes());
        frame.extend_from_slice(&id.to_be_bytes());
    }
    frame.extend_from_slice(&[0x08, 0x00]);
    let udp_len = u16::try_from(8 + payload.len()).expect("a small datagram");
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(20 + udp_len).to_be_bytes());
    // Identification 1, no fragmentation, TTL 64, UDP, checksum filled in below.
    ip.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src.ip().octets());
    ip.extend_from_slice(&dst.ip().octets());
    let sum: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let folded = u16::try_from((sum & 0xffff) + (sum >> 16)).expect("20 header bytes fold once");
    ip[10..12].copy_from_slice(&(!folded).to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&src.port().to_be_bytes());
    frame.extend_from_slice(&dst.port().to_be_bytes());
    frame.extend_from_slice(&udp_len.to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn sip_over_a_vlan_and_qinq_is_listed_with_its_vlan_id() {
    let root = is_root();
    let tool = ip_tool();
    let Some(tool) = tool.filter(|_| root) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the VLAN live capture test as root with iproute2 (root: {root}, ip: {})",
            tool.is_some()
        );
        eprintln!(
            "skipped: needs root and iproute2 (root: {root}, ip: {})",
            tool.is_some()
        );
        return;
    };
    // The kernel moves the outer VLAN tag of every received frame into the ring's tp_vlan_tci
    // before any packet socket sees it, whatever the interface. VXLAN lets the test inject
    // tagged frames with a plain UDP socket, where a VLAN sub-interface would need the 8021q
    // module (absent from minimal VM kernels) and a raw socket would need unsafe code.
    let pid = std::process::id();
    let port = UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let vni = 4242;
    let vxlan = Vxlan::create(tool, format!("vsvlan{pid}"), vni, port);
    let sensor = Sensor::start(
        &[],
        &format!("interface = {}\nsipport = 5060\n", vxlan.name),
    );
    let mut capture =
        LiveCapture::open(&vxlan.name, &LiveOptions::default()).expect("open the VXLAN interface");

    // (label, tags outermost first, third octet of the addresses, VLAN listcalls shows): the
    // wire crate reports the innermost VLAN id, 65534 stands for none.
    let cases: [(&str, &[Tag], u8, u64); 3] = [
        ("untagged", &[], 7, 65534),
        ("dot1q", &[(TPID_8021Q, 42)], 42, 42),
        ("qinq", &[(TPID_8021AD, 100), (TPID_8021Q, 42)], 100, 42),
    ];
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    let mut frames = Vec::new();
    for (label, tags, net, _) in cases {
        let caller = SocketAddrV4::new(Ipv4Addr::new(10, 213, net, 1), 5060);
        let callee = SocketAddrV4::new(Ipv4Addr::new(10, 213, net, 2), 5060);
        let invite = with_body(
            &format!(
                "INVITE sip:1002@example.com SIP/2.0\nVia: SIP/2.0/UDP {caller};branch=z9hG4bK{label}\n\
                 From: \"Alice\" <sip:1001@example.com>;tag=a1\nTo: <sip:1002@example.com>\n\
                 Call-ID: {label}-{pid}@{caller}\nCSeq: 1 INVITE\nContact: <sip:1001@{caller}>\n\
                 Content-Type: application/sdp\n"
            ),
            &format!(
                "v=0\no=x 1 1 IN IP4 {ip}\ns=-\nc=IN IP4 {ip}\nt=0 0\nm=audio 40000 RTP/AVP 8\n",
                ip = caller.ip()
            ),
        )
        .replace('\n', "\r\n");
        let frame = tagged_frame(tags, caller, callee, invite.as_bytes());
        let mut vxlan_packet = vec![0x08, 0, 0, 0];
        vxlan_packet.extend_from_slice(&(vni << 8).to_be_bytes());
        vxlan_packet.extend_from_slice(&frame);
        sender
            .send_to(&vxlan_packet, ("127.0.0.1", port))
            .expect("send VXLAN");
        frames.push(frame);
    }

    // The capture hands out each frame exactly as sent: the tag the kernel took out is back, with
    // its TPID (802.1ad for the QinQ outer tag), and counted in the original length.
    let mut seen = vec![false; frames.len()];
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.contains(&false) && Instant::now() < deadline {
        let Some(packet) = capture
            .next_packet(Duration::from_millis(100))
            .expect("capture")
        else {
            continue;
        };
        if let Some(i) = frames.iter().position(|f| f.as_slice() == packet.data) {
            assert_eq!(packet.orig_len as usize, frames[i].len(), "{}", cases[i].0);
            seen[i] = true;
        }
    }
    for (i, (label, ..)) in cases.iter().enumerate() {
        assert!(seen[i], "{label}: frame not captured as sent");
    }

    let deadline = Instant::now() + Duration::from_secs(5);
    let rows = loop {
        let reply = sensor.exchange(b"listcalls {}\r\n\r\n");
        let json: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
        let rows: HashMap<String, HashMap<String, serde_json::Value>> = table_rows(&json, 2)
            .into_iter()
            .filter_map(|r| Some((r.get("callid")?.as_str()?.to_owned(), r)))
            .collect();
        if cases.iter().all(|(label, _, net, _)| {
            rows.contains_key(&format!("{label}-{pid}@10.213.{net}.1:5060"))
        }) {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "calls not all listed:\n{}",
            text(&reply)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for (label, _, net, vlan) in cases {
        let row = &rows[&format!("{label}-{pid}@10.213.{net}.1:5060")];
        assert_eq!(row["vlan"], vlan, "{label}");
        assert_eq!(row["caller"], "1001", "{label}");
        assert_eq!(row["called"], "1002", "{label}");
        assert_eq!(row["callername"], "Alice", "{label}");
        assert_eq!(
            row["callerip"],
            u32::from(Ipv4Addr::new(10, 213, net, 1)),
            "{label}"
        );
        assert_eq!(
            row["calledip"],
            u32::from(Ipv4Addr::new(10, 213, net, 2)),
            "{label}"
        );
    }
}
