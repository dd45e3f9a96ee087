//! Live AF_PACKET capture on loopback. Needs root or CAP_NET_RAW: without it each test prints a
//! note and passes (CI runs as root, so there they really run).

use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use voipsensor_capture::{Error, LiveCapture, LiveOptions, linktype};

const COUNT: usize = 200;

/// Serialises the tests: they all share `lo`, and the timeout test needs it quiet.
static LOOPBACK: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    LOOPBACK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens `interface`, or `None` (with a note) when this process may not capture.
fn open(interface: &str) -> Option<LiveCapture> {
    match LiveCapture::open(interface, &LiveOptions::default()) {
        Ok(capture) => Some(capture),
        Err(Error::Io(e)) if e.kind() == ErrorKind::PermissionDenied => {
            eprintln!("skipping live capture test: {e}");
            None
        }
        Err(e) => panic!("open {interface}: {e}"),
    }
}

/// A UDP datagram parsed out of an IPv4 packet: (source port, destination port, payload).
fn udp_in_ipv4(ip: &[u8]) -> Option<(u16, u16, &[u8])> {
    if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let ip = ip.get(..total)?;
    let udp = ip.get(ihl..)?;
    if udp.len() < 8 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    Some((
        u16::from_be_bytes([udp[0], udp[1]]),
        u16::from_be_bytes([udp[2], udp[3]]),
        udp.get(8..len)?,
    ))
}

/// The IPv4 packet inside a frame of `link_type`, if it carries one.
fn ipv4_of(link_type: u32, frame: &[u8]) -> Option<&[u8]> {
    match link_type {
        linktype::ETHERNET => (frame.get(12..14)? == [0x08, 0x00]).then(|| &frame[14..]),
        linktype::LINUX_SLL => (frame.get(14..16)? == [0x08, 0x00]).then(|| &frame[16..]),
        other => panic!("unexpected link type {other}"),
    }
}

/// Sends `COUNT` datagrams `"<tag> <i>"` to a fresh loopback port and collects the indices seen
/// by `capture` within 5 s, checking ports and framing; returns how many matching packets came.
fn send_and_collect(capture: &mut LiveCapture, tag: &str) -> usize {
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind receiver");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    let dst = receiver.local_addr().expect("addr").port();
    let src = sender.local_addr().expect("addr").port();
    for i in 0..COUNT {
        sender
            .send_to(format!("{tag} {i}").as_bytes(), ("127.0.0.1", dst))
            .expect("send");
    }
    let link_type = capture.link_type();
    let mut seen = HashSet::new();
    let mut matching = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.len() < COUNT && Instant::now() < deadline {
        let Some(packet) = capture
            .next_packet(Duration::from_millis(200))
            .expect("next_packet")
        else {
            continue;
        };
        assert_eq!(packet.link_type, link_type);
        assert!(packet.orig_len as usize >= packet.data.len());
        assert!(packet.ts.secs > 1_600_000_000, "timestamp {:?}", packet.ts);
        let Some((sport, dport, payload)) = ipv4_of(link_type, packet.data).and_then(udp_in_ipv4)
        else {
            continue;
        };
        let Some(index) = std::str::from_utf8(payload)
            .ok()
            .and_then(|text| text.strip_prefix(tag))
            .and_then(|rest| rest.trim().parse::<usize>().ok())
        else {
            continue;
        };
        assert_eq!((sport, dport), (src, dst));
        assert!(index < COUNT);
        matching += 1;
        seen.insert(index);
    }
    assert_eq!(seen.len(), COUNT, "markers seen within 5 s");
    matching
}

fn unique_tag(name: &str) -> String {
    format!(
        "voipsensor-live-{name}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
    )
}

#[test]
fn loopback_sees_each_datagram_once_as_ethernet() {
    let _serial = serial();
    let Some(mut capture) = open("lo") else {
        return;
    };
    assert_eq!(capture.interface(), "lo");
    assert_eq!(capture.link_type(), linktype::ETHERNET);
    let matching = send_and_collect(&mut capture, &unique_tag("lo"));
    // The outgoing copy on loopback is skipped, so no datagram shows up twice.
    assert_eq!(matching, COUNT);
    let stats = capture.stats().expect("stats");
    assert!(stats.packets >= COUNT as u64, "{stats:?}");
    let again = capture.stats().expect("stats");
    assert!(
        again.packets >= stats.packets,
        "cumulative: {again:?} after {stats:?}"
    );
}

#[test]
fn any_gives_cooked_frames() {
    let _serial = serial();
    let Some(mut capture) = open("any") else {
        return;
    };
    assert_eq!(capture.link_type(), linktype::LINUX_SLL);
    let matching = send_and_collect(&mut capture, &unique_tag("any"));
    assert_eq!(matching, COUNT);
    assert!(capture.stats().expect("stats").packets >= COUNT as u64);
}

#[test]
fn cooked_header_names_loopback() {
    let _serial = serial();
    let Some(mut capture) = open("any") else {
        return;
    };
    let tag = unique_tag("sll");
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind receiver");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    sender
        .send_to(tag.as_bytes(), receiver.local_addr().expect("addr"))
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Some(packet) = capture
            .next_packet(Duration::from_millis(200))
            .expect("next_packet")
        else {
            continue;
        };
        let found = ipv4_of(linktype::LINUX_SLL, packet.data)
            .and_then(udp_in_ipv4)
            .is_some_and(|(_, _, payload)| payload == tag.as_bytes());
        if found {
            let sll = &packet.data[..16];
            assert_eq!(u16::from_be_bytes([sll[0], sll[1]]), 0, "PACKET_HOST");
            assert_eq!(u16::from_be_bytes([sll[2], sll[3]]), 772, "ARPHRD_LOOPBACK");
            assert_eq!(u16::from_be_bytes([sll[4], sll[5]]), 6, "address length");
            assert_eq!(packet.orig_len as usize, packet.data.len());
            return;
        }
    }
    panic!("datagram not seen on any");
}

#[test]
fn snaplen_cuts_packets() {
    let _serial = serial();
    let options = LiveOptions {
        snaplen: 50,
        ..LiveOptions::default()
    };
    let mut capture = match LiveCapture::open("lo", &options) {
        Ok(capture) => capture,
        Err(Error::Io(e)) if e.kind() == ErrorKind::PermissionDenied => {
            eprintln!("skipping live capture test: {e}");
            return;
        }
        Err(e) => panic!("open: {e}"),
    };
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind receiver");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    let dst = receiver.local_addr().expect("addr").port();
    sender
        .send_to(&[0x5a; 300], ("127.0.0.1", dst))
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Some(packet) = capture
            .next_packet(Duration::from_millis(200))
            .expect("next_packet")
        else {
            continue;
        };
        let data = packet.data;
        // Ethernet(14) + IPv4(20) + UDP dst port at bytes 36..38.
        if data.len() >= 38 && u16::from_be_bytes([data[36], data[37]]) == dst {
            assert_eq!(data.len(), 50);
            assert_eq!(packet.orig_len, 14 + 20 + 8 + 300);
            return;
        }
    }
    panic!("datagram not seen");
}

#[test]
fn unknown_interface_is_named() {
    let _serial = serial();
    let err = LiveCapture::open("no-such-if0", &LiveOptions::default())
        .expect_err("interface does not exist");
    assert!(err.to_string().contains("no-such-if0"), "{err}");
    match err {
        Error::Io(e) => assert_eq!(e.kind(), ErrorKind::NotFound),
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn timeout_without_traffic_returns_none() {
    let _serial = serial();
    // The other tests are held off by `serial`; unrelated loopback traffic of the machine may
    // still arrive, so drain it and retry until a quiet window ends in `None` on time.
    let Some(mut capture) = open("lo") else {
        return;
    };
    let timeout = Duration::from_millis(300);
    for _ in 0..20 {
        let start = Instant::now();
        match capture.next_packet(timeout).expect("next_packet") {
            None => {
                let waited = start.elapsed();
                assert!(waited >= timeout, "returned early after {waited:?}");
                assert!(
                    waited <= timeout + Duration::from_millis(200),
                    "waited {waited:?}"
                );
                return;
            }
            Some(_) => continue,
        }
    }
    panic!("loopback never quiet for {timeout:?}");
}

#[test]
fn zero_timeout_does_not_block() {
    let _serial = serial();
    let Some(mut capture) = open("lo") else {
        return;
    };
    let start = Instant::now();
    let _ = capture.next_packet(Duration::ZERO).expect("next_packet");
    assert!(start.elapsed() < Duration::from_millis(100));
}

/// Opens `lo` with a tiny ring (4 blocks of one page), or `None` without permission.
fn open_tiny_ring() -> Option<LiveCapture> {
    let options = LiveOptions {
        block_size: 4096,
        block_count: 4,
        block_timeout_ms: 10,
        ..LiveOptions::default()
    };
    match LiveCapture::open("lo", &options) {
        Ok(capture) => Some(capture),
        Err(Error::Io(e)) if e.kind() == ErrorKind::PermissionDenied => {
            eprintln!("skipping live capture test: {e}");
            None
        }
        Err(e) => panic!("open: {e}"),
    }
}

#[test]
fn ring_wraps_around_many_times() {
    let _serial = serial();
    let Some(mut capture) = open_tiny_ring() else {
        return;
    };
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind receiver");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    let dst = receiver.local_addr().expect("addr").port();
    let mut seen = HashSet::new();
    // 400 datagrams of ~300 bytes through a 16 KiB ring: dozens of laps, in batches small enough
    // that one batch always fits.
    for batch in 0..80u32 {
        for i in 0..5u32 {
            let mut payload = (batch * 5 + i).to_be_bytes().to_vec();
            payload.resize(256, 0xa5);
            sender.send_to(&payload, ("127.0.0.1", dst)).expect("send");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.len() < (batch as usize + 1) * 5 && Instant::now() < deadline {
            let Some(packet) = capture
                .next_packet(Duration::from_millis(100))
                .expect("next_packet")
            else {
                continue;
            };
            if let Some((_, port, payload)) =
                ipv4_of(linktype::ETHERNET, packet.data).and_then(udp_in_ipv4)
                && port == dst
                && payload.len() == 256
            {
                seen.insert(u32::from_be_bytes([
                    payload[0], payload[1], payload[2], payload[3],
                ]));
            }
        }
    }
    // Other traffic on `lo` (a busy machine) can overflow a 16 KiB ring between batches: a
    // datagram may then be missing, but only as a drop the kernel reported, never lost by
    // the ring walk itself.
    let missing = 400 - seen.len() as u64;
    let drops = capture.stats().expect("stats").drops;
    assert!(
        missing == 0 || drops >= missing,
        "{missing} datagrams missing, {drops} drops reported"
    );
    assert!(seen.len() >= 300, "most datagrams seen: {}", seen.len());
}

#[test]
fn full_ring_counts_drops() {
    let _serial = serial();
    let Some(mut capture) = open_tiny_ring() else {
        return;
    };
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind receiver");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    let dst = receiver.local_addr().expect("addr").port();
    // Far more than 16 KiB without reading: the ring fills and the kernel drops.
    for _ in 0..500 {
        sender.send_to(&[0; 512], ("127.0.0.1", dst)).expect("send");
    }
    std::thread::sleep(Duration::from_millis(50));
    let stats = capture.stats().expect("stats");
    assert!(stats.drops > 0, "{stats:?}");
    assert!(stats.packets >= 500, "{stats:?}");
    // Capture still works after the overflow.
    let mut got = 0;
    while capture
        .next_packet(Duration::from_millis(50))
        .expect("next_packet")
        .is_some()
    {
        got += 1;
    }
    assert!(got > 0);
}
