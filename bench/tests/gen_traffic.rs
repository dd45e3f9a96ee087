//! `gen-traffic` output checked with the sensor's own decoders: capture reader, wire decoder,
//! SIP/SDP parser and RTP parser.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use voipsensor_bench::traffic::{self, Config, Summary};
use voipsensor_capture::{Reader, linktype};
use voipsensor_rtp::RtpPacket;
use voipsensor_sip::{Framing, HeaderPos, MAX_HEADERS, Message, Method, Parsed, Sdp};
use voipsensor_wire::{L4, LinkType, decode};

fn generate(cfg: &Config) -> (Vec<u8>, Summary) {
    let mut out = Vec::new();
    let summary = traffic::generate(cfg, &mut out).expect("generation into a Vec");
    (out, summary)
}

/// Everything learned from reading a capture back.
#[derive(Debug, Default)]
struct Seen {
    packets: u64,
    sip: u64,
    rtp: u64,
    requests: BTreeMap<String, u64>,
    responses: BTreeMap<u16, u64>,
    call_ids: BTreeSet<String>,
    /// RTP packets per SSRC: (count, sequence numbers, marker count).
    streams: HashMap<u32, (u64, Vec<u16>, u64)>,
    /// Per Call-ID: time of the INVITE and of the last message (microseconds).
    call_spans: HashMap<String, (u64, u64)>,
    sdp_ports: BTreeSet<u16>,
    authorizations: u64,
    challenges: u64,
    expires_contacts: u64,
}

fn read_back(bytes: &[u8]) -> Seen {
    let mut reader = Reader::new(bytes).expect("pcap header");
    let mut seen = Seen::default();
    let mut last_ts = None;
    let mut index = [HeaderPos::EMPTY; MAX_HEADERS];
    while let Some(p) = reader.next_packet().expect("well-formed record") {
        seen.packets += 1;
        assert_eq!(p.link_type, linktype::ETHERNET);
        assert_eq!(p.orig_len as usize, p.data.len());
        if let Some(prev) = last_ts {
            assert!(p.ts >= prev, "timestamps must not decrease");
        }
        last_ts = Some(p.ts);
        assert_eq!(p.ts.nanos % 1000, 0, "microsecond pcap");
        let ts_us =
            u64::try_from(p.ts.secs).expect("positive") * 1_000_000 + u64::from(p.ts.nanos / 1000);

        // IPv4 header: checksum over the header verifies to zero, lengths consistent.
        let ip = &p.data[14..34];
        assert_eq!(voipsensor_wire::checksum(ip), 0, "IPv4 header checksum");
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        assert_eq!(total, p.data.len() - 14);

        let packet = decode(LinkType::Ethernet, p.data).expect("frame decodes");
        assert!(matches!(packet.ip.src, IpAddr::V4(_)));
        let L4::Udp(udp) = packet.l4 else {
            panic!("not UDP: {:?}", packet.l4);
        };
        assert_eq!(udp.payload.len() + 8 + 20, total);
        if udp.src_port == 5060 && udp.dst_port == 5060 {
            seen.sip += 1;
            let Ok(Parsed::Complete(msg, used)) =
                Message::parse(udp.payload, &mut index, Framing::Datagram)
            else {
                panic!(
                    "SIP does not parse: {}",
                    String::from_utf8_lossy(udp.payload)
                );
            };
            assert_eq!(used, udp.payload.len());
            assert!(!msg.body_truncated());
            assert_eq!(msg.content_length(), Some(msg.body().len()));
            let call_id =
                String::from_utf8(msg.call_id().expect("Call-ID").to_vec()).expect("ASCII Call-ID");
            let span = seen
                .call_spans
                .entry(call_id.clone())
                .or_insert((ts_us, ts_us));
            span.1 = ts_us;
            seen.call_ids.insert(call_id);
            assert!(msg.cseq().is_some(), "CSeq");
            assert!(msg.top_via().is_some(), "Via");
            let via = msg.header("Via").expect("Via");
            assert!(via.windows(7).any(|w| w == b"z9hG4bK"), "branch");
            assert!(msg.from().and_then(|f| f.tag()).is_some(), "From tag");
            let to = msg.to().expect("To");
            assert_eq!(msg.user_agent(), Some(&b"gen-traffic"[..]));
            for user in [msg.from().expect("From").uri.user(), to.uri.user()] {
                assert_eq!(user.len(), 11, "11-digit users");
                assert!(user.iter().all(u8::is_ascii_digit));
            }
            if msg.is_request() {
                assert!(msg.header("Max-Forwards").is_some());
                assert!(msg.contacts().next().is_some(), "requests carry Contact");
                let method = match msg.method().expect("method") {
                    Method::Invite => "INVITE",
                    Method::Ack => "ACK",
                    Method::Bye => "BYE",
                    Method::Register => "REGISTER",
                    other => panic!("unexpected method {other:?}"),
                };
                *seen.requests.entry(method.to_owned()).or_default() += 1;
                if msg.authorization().is_some() {
                    let auth = msg.authorization().expect("checked");
                    for name in ["username", "realm", "nonce", "uri", "response"] {
                        assert!(auth.param(name).is_some(), "Authorization {name}");
                    }
                    seen.authorizations += 1;
                }
            } else {
                let code = msg.status_code().expect("status");
                *seen.responses.entry(code).or_default() += 1;
                if code > 100 {
                    assert!(to.tag().is_some(), "To tag on {code}");
                }
                if msg.challenge().is_some() {
                    seen.challenges += 1;
                }
                if msg
                    .header("Contact")
                    .is_some_and(|c| c.ends_with(b";expires=3600"))
                {
                    seen.expires_contacts += 1;
                }
            }
            if let Some(body) = msg.sdp_body() {
                assert_eq!(msg.content_type(), Some(&b"application/sdp"[..]));
                let sdp = Sdp::parse(body).expect("SDP parses");
                let media = sdp.media().first().expect("one m= line");
                assert!(media.is_audio());
                assert_eq!(media.payload_types().collect::<Vec<_>>(), vec![8, 101]);
                let map = media.rtpmap(8).expect("rtpmap 8");
                assert_eq!(map.encoding, b"PCMA");
                assert_eq!(map.clock_rate, 8000);
                assert!(media.rtpmap(101).is_some());
                let conn = sdp.connection.expect("c=").ip().expect("c= address");
                assert_eq!(conn, packet.ip.src, "c= is the sender's address");
                seen.sdp_ports.insert(media.port);
            }
        } else {
            seen.rtp += 1;
            let rtp = RtpPacket::parse(udp.payload).expect("RTP parses");
            assert_eq!(rtp.version(), 2);
            assert_eq!(rtp.payload_type().0, 8);
            assert_eq!(rtp.payload().len(), 160);
            assert!(seen.sdp_ports.contains(&udp.dst_port), "RTP to an SDP port");
            let entry = seen.streams.entry(rtp.ssrc().0).or_default();
            entry.0 += 1;
            entry.1.push(rtp.sequence());
            entry.2 += u64::from(rtp.marker());
        }
    }
    assert!(!reader.truncated());
    seen
}

fn max_concurrent(spans: &HashMap<String, (u64, u64)>) -> usize {
    let mut edges: Vec<(u64, i32)> = spans
        .iter()
        .filter(|(id, _)| !id.starts_with("reg-"))
        .flat_map(|(_, &(a, b))| [(a, 1), (b + 1, -1)])
        .collect();
    edges.sort_unstable();
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, d) in edges {
        cur += d;
        max = max.max(cur);
    }
    usize::try_from(max).expect("non-negative")
}

#[test]
fn same_arguments_same_bytes() {
    let cfg = Config {
        calls: 4,
        concurrency: 2,
        duration_secs: 2,
        loss_pct: 5.0,
        jitter_ms: 15,
        registrations: 3,
        ..Config::default()
    };
    let (a, sa) = generate(&cfg);
    let (b, sb) = generate(&cfg);
    assert_eq!(sa, sb);
    assert!(a == b, "two runs differ");
    let (c, _) = generate(&Config { seed: 2, ..cfg });
    assert!(a != c, "another seed gives another capture");
}

#[test]
fn clean_calls_are_complete_and_exact() {
    let cfg = Config {
        calls: 6,
        concurrency: 2,
        duration_secs: 3,
        registrations: 4,
        ..Config::default()
    };
    let (bytes, summary) = generate(&cfg);
    assert_eq!(summary.bytes as usize, bytes.len());
    let seen = read_back(&bytes);
    assert_eq!(seen.packets, summary.packets);
    assert_eq!(seen.sip, summary.sip_messages);
    assert_eq!(seen.rtp, summary.rtp_packets);
    assert_eq!(seen.sip, 7 * 6 + 4 * 4);

    let req = |m: &str| seen.requests.get(m).copied().unwrap_or(0);
    let resp = |c: u16| seen.responses.get(&c).copied().unwrap_or(0);
    assert_eq!(req("INVITE"), 6);
    assert_eq!(req("ACK"), 6);
    assert_eq!(req("BYE"), 6);
    assert_eq!(req("REGISTER"), 8);
    assert_eq!(resp(100), 6);
    assert_eq!(resp(180), 6);
    assert_eq!(resp(200), 6 + 6 + 4);
    assert_eq!(resp(401), 4);
    assert_eq!(seen.challenges, 4);
    assert_eq!(seen.authorizations, 4);
    assert_eq!(seen.expires_contacts, 4);
    assert_eq!(seen.call_ids.len(), 6 + 4);
    assert!(seen.call_ids.contains("0-1@10.1.0.1"));
    assert!(seen.call_ids.contains("5-1@10.1.0.6"));
    assert_eq!(seen.sdp_ports.len(), 12, "one RTP port per side and call");

    // Every stream: exactly 50 packets/s, consecutive sequence numbers, one marker.
    assert_eq!(seen.streams.len(), 12);
    for (count, seqs, markers) in seen.streams.values() {
        assert_eq!(*count, 150);
        assert_eq!(*markers, 1);
        for pair in seqs.windows(2) {
            assert_eq!(pair[1], pair[0].wrapping_add(1));
        }
    }
    let max = max_concurrent(&seen.call_spans);
    assert!(max <= 2, "at most 2 calls active, saw {max}");
    assert_eq!(max, 2, "calls do overlap");
}

#[test]
fn loss_and_jitter_shape_rtp() {
    let cfg = Config {
        calls: 4,
        concurrency: 4,
        duration_secs: 10,
        loss_pct: 10.0,
        jitter_ms: 30,
        seed: 42,
        ..Config::default()
    };
    let (bytes, summary) = generate(&cfg);
    let seen = read_back(&bytes);
    assert_eq!(seen.rtp, summary.rtp_packets);
    assert_eq!(seen.requests.get("INVITE").copied(), Some(4));
    // Per stream: 50 × 10 × 0.9 = 450 expected.
    assert_eq!(seen.streams.len(), 8);
    let total: u64 = seen.streams.values().map(|s| s.0).sum();
    assert_eq!(total, seen.rtp);
    for (count, seqs, _) in seen.streams.values() {
        assert!((400..=500).contains(count), "stream count {count}");
        // Jitter of ±30 ms over 20 ms spacing reorders some packets.
        let reordered = seqs
            .windows(2)
            .filter(|p| p[1].wrapping_sub(p[0]) > 0x8000)
            .count();
        assert!(reordered > 0, "jitter reorders packets");
    }
    let total_expected = 4.0 * 2.0 * 50.0 * 10.0 * 0.9;
    let ratio = seen.rtp as f64 / total_expected;
    assert!(
        (0.94..=1.06).contains(&ratio),
        "RTP {} vs {total_expected}",
        seen.rtp
    );
}

#[test]
fn addresses_follow_the_options() {
    let cfg = Config {
        calls: 2,
        duration_secs: 1,
        caller_net: Ipv4Addr::new(192, 168, 7, 0),
        callee: Ipv4Addr::new(172, 16, 0, 9),
        seed: 9,
        start_unix: 1_800_000_000,
        ..Config::default()
    };
    let (bytes, _) = generate(&cfg);
    let mut reader = Reader::new(&bytes[..]).expect("pcap");
    let first = reader.next_packet().expect("read").expect("a packet");
    assert_eq!(first.ts.secs, 1_800_000_000);
    let p = decode(LinkType::Ethernet, first.data).expect("decodes");
    assert_eq!(p.ip.src, IpAddr::V4(Ipv4Addr::new(192, 168, 7, 1)));
    assert_eq!(p.ip.dst, IpAddr::V4(Ipv4Addr::new(172, 16, 0, 9)));
    let seen = read_back(&bytes);
    assert!(seen.call_ids.contains("1-9@192.168.7.2"));
}

#[test]
fn binary_is_deterministic_and_reports() {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let paths = [
        dir.join(format!("gen-traffic-test-{pid}-a.pcap")),
        dir.join(format!("gen-traffic-test-{pid}-b.pcap")),
    ];
    let mut outputs = Vec::new();
    for path in &paths {
        let out = Command::new(env!("CARGO_BIN_EXE_gen-traffic"))
            .args(["--calls", "3", "--duration", "2", "--registrations", "2"])
            .args(["--loss", "3", "--jitter", "10", "--seed", "77", "--out"])
            .arg(path)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for key in [
            "calls=3",
            "registrations=2",
            "packets=",
            "bytes=",
            "sip_messages=29",
            "rtp_packets=",
        ] {
            assert!(stderr.contains(key), "summary lacks {key}: {stderr}");
        }
        outputs.push(std::fs::read(path).expect("output file"));
        let _ = std::fs::remove_file(path);
    }
    assert!(outputs[0] == outputs[1], "two runs differ");
    let seen = read_back(&outputs[0]);
    assert_eq!(seen.sip, 29);

    let bad = Command::new(env!("CARGO_BIN_EXE_gen-traffic"))
        .args(["--loss", "101", "--out"])
        .arg(dir.join(format!("gen-traffic-test-{pid}-bad.pcap")))
        .output()
        .expect("runs");
    assert!(!bad.status.success());
}
