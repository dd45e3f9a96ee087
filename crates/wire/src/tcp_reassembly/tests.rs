use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;

fn key(port: u16) -> FlowKey {
    FlowKey {
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        src_port: port,
        dst_port: 5060,
    }
}

fn seg(seq: u32, flags: u8, payload: &[u8]) -> TcpInfo<'_> {
    TcpInfo {
        src_port: 1,
        dst_port: 5060,
        seq,
        ack: 0,
        flags: TcpFlags(flags),
        window: 0,
        payload,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn push(r: &mut TcpReassembler, k: FlowKey, seq: u32, flags: u8, payload: &[u8]) -> Delivery {
    r.push(ms(0), k, &seg(seq, flags, payload))
}

#[test]
fn in_order_and_consume() {
    let mut r = TcpReassembler::default();
    let k = key(1);
    assert_eq!(push(&mut r, k, 1000, SYN, b""), Delivery::default());
    assert_eq!(push(&mut r, k, 1001, ACK, b"abc").appended, 3);
    assert_eq!(push(&mut r, k, 1004, ACK, b"def").appended, 3);
    assert_eq!(r.data(&k), b"abcdef");
    r.consume(&k, 4);
    assert_eq!(r.data(&k), b"ef");
    r.consume(&k, 100);
    assert_eq!(r.data(&k), b"");
    assert_eq!(r.data(&key(9)), b"");
    let flow = FlowKey::new(
        &IpInfo {
            src: k.src,
            dst: k.dst,
            proto: 6,
            ttl: 1,
            fragment: None,
        },
        &seg(0, 0, b""),
    );
    assert_eq!(flow.reversed().reversed(), flow);
}

#[test]
fn out_of_order_is_held() {
    let mut r = TcpReassembler::default();
    let k = key(2);
    let _ = push(&mut r, k, 1000, SYN, b"");
    assert_eq!(push(&mut r, k, 1007, ACK, b"ghi").appended, 0);
    assert_eq!(push(&mut r, k, 1004, ACK, b"def").appended, 0);
    assert_eq!(r.data(&k), b"");
    assert_eq!(push(&mut r, k, 1001, ACK, b"abc").appended, 9);
    assert_eq!(r.data(&k), b"abcdefghi");
    assert_eq!(r.counters().out_of_order, 2);
}

#[test]
fn retransmission_and_overlap_deliver_once() {
    let mut r = TcpReassembler::default();
    let k = key(3);
    let _ = push(&mut r, k, 1000, SYN, b"");
    let _ = push(&mut r, k, 1001, ACK, b"abcdef");
    assert_eq!(push(&mut r, k, 1001, ACK, b"abcdef").appended, 0);
    assert_eq!(push(&mut r, k, 1004, ACK, b"defghi").appended, 3);
    // A held segment overlapping both delivered bytes and a later held one.
    let _ = push(&mut r, k, 1013, ACK, b"mno");
    let _ = push(&mut r, k, 1009, ACK, b"ijklmn");
    assert_eq!(r.data(&k), b"abcdefghijklmno");
    assert_eq!(r.counters().retransmissions, 1);
    assert!(
        !push(&mut r, k, 1000, SYN, b"").gap,
        "retransmitted SYN is ignored"
    );
}

#[test]
fn gap_never_filled_expires() {
    let mut r = TcpReassembler::new(TcpReassemblyConfig {
        idle_timeout: Duration::from_secs(10),
        ..TcpReassemblyConfig::default()
    });
    let k = key(4);
    let _ = r.push(ms(0), k, &seg(1, ACK, b"abc"));
    let _ = r.push(ms(1000), k, &seg(10, ACK, b"xyz"));
    assert_eq!(r.data(&k), b"abc");
    assert_eq!(r.expire(ms(10_999)), 0);
    assert_eq!(r.expire(ms(11_000)), 1);
    assert!(r.is_empty());
    assert_eq!(r.counters().expired, 1);
}

#[test]
fn gap_is_skipped_when_held_limit_reached() {
    let mut r = TcpReassembler::new(TcpReassemblyConfig {
        max_held_segments: 2,
        ..TcpReassemblyConfig::default()
    });
    let k = key(5);
    let _ = push(&mut r, k, 100, ACK, b"ab");
    let _ = push(&mut r, k, 110, ACK, b"kl");
    let _ = push(&mut r, k, 108, ACK, b"ij");
    let d = push(&mut r, k, 114, ACK, b"op");
    assert_eq!((d.appended, d.gap), (4, true));
    assert_eq!(
        r.data(&k),
        b"ijkl",
        "unconsumed bytes before the gap are dropped"
    );
    assert_eq!(r.counters().gaps_skipped, 1);
    assert_eq!(push(&mut r, k, 112, ACK, b"mn").appended, 4);
    assert_eq!(r.data(&k), b"ijklmnop");
}

#[test]
fn sequence_number_wraps() {
    let mut r = TcpReassembler::default();
    let k = key(6);
    let _ = push(&mut r, k, u32::MAX - 2, SYN, b"");
    // Data starts at u32::MAX - 1 and crosses zero; the second half arrives first.
    assert_eq!(push(&mut r, k, 2, ACK, b"ef").appended, 0);
    assert_eq!(push(&mut r, k, u32::MAX - 1, ACK, b"abcd").appended, 6);
    assert_eq!(push(&mut r, k, u32::MAX, ACK, b"bcdef").appended, 0);
    assert_eq!(push(&mut r, k, 4, ACK, b"g").appended, 1);
    assert_eq!(r.data(&k), b"abcdefg");
}

#[test]
fn fin_and_rst_end_streams() {
    let mut r = TcpReassembler::default();
    let k = key(7);
    let _ = push(&mut r, k, 0, SYN, b"");
    let d = push(&mut r, k, 4, FIN | ACK, b"end");
    assert!(!d.ended, "FIN ahead of a gap");
    let d = push(&mut r, k, 1, ACK, b"abc");
    assert!(d.ended && d.appended == 6);
    assert!(r.is_ended(&k));
    assert_eq!(
        push(&mut r, k, 1, ACK, b"abc").appended,
        0,
        "late retransmission ignored"
    );
    assert_eq!(r.data(&k), b"abcend");
    // A new connection on the same ports starts afresh.
    let d = push(&mut r, k, 5000, SYN, b"");
    assert!(d.gap && !r.is_ended(&k) && r.data(&k).is_empty());
    let _ = push(&mut r, k, 5001, ACK, b"x");
    assert!(push(&mut r, k, 5002, RST, b"").ended);
    assert_eq!(r.counters().ended, 2);
    assert!(
        !push(&mut r, key(77), 1, RST, b"").ended,
        "RST of an unknown stream"
    );
    r.remove(&k);
    assert!(r.is_empty());
}

#[test]
fn mid_stream_start_and_pure_acks() {
    let mut r = TcpReassembler::default();
    let _ = push(&mut r, key(8), 5, ACK, b"");
    assert!(r.is_empty(), "a bare ACK does not open a stream");
    assert_eq!(push(&mut r, key(8), 5, ACK, b"hello").appended, 5);
}

#[test]
fn unconsumed_buffer_overflows() {
    let mut r = TcpReassembler::new(TcpReassemblyConfig {
        max_buffered: 8,
        ..TcpReassemblyConfig::default()
    });
    let k = key(9);
    let _ = push(&mut r, k, 0, ACK, b"12345");
    let d = push(&mut r, k, 5, ACK, b"6789");
    assert_eq!((d.appended, d.gap), (4, true));
    assert_eq!(r.data(&k), b"6789");
    let d = push(&mut r, k, 9, ACK, b"far too long");
    assert_eq!((d.appended, d.gap), (0, true));
    assert_eq!(r.counters().overflows, 2);
}

#[test]
fn least_recently_used_stream_is_evicted() {
    let mut r = TcpReassembler::new(TcpReassemblyConfig {
        max_streams: 2,
        ..TcpReassemblyConfig::default()
    });
    let _ = r.push(ms(1), key(10), &seg(0, ACK, b"a"));
    let _ = r.push(ms(2), key(11), &seg(0, ACK, b"b"));
    let _ = r.push(ms(3), key(10), &seg(1, ACK, b"c"));
    let _ = r.push(ms(4), key(12), &seg(0, ACK, b"d"));
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r.data(&key(10)), r.data(&key(11)), r.data(&key(12))),
        (&b"ac"[..], &b""[..], &b"d"[..])
    );
    assert_eq!(r.counters().evicted, 1);
    for p in 100..1100 {
        let _ = r.push(ms(u64::from(p)), key(p), &seg(0, ACK, b"z"));
        r.remove(&key(p));
    }
    assert!(r.order.len() <= 2 * r.len() + 65);
}
