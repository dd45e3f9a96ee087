use std::net::Ipv6Addr;
use std::time::Duration;

use super::*;
use crate::testutil::{ipv4, ipv6, udp, v6_frag_header};
use crate::{FragmentInfo, L4, UdpInfo, decode_ip};

const A: [u8; 4] = [10, 1, 1, 1];
const B: [u8; 4] = [10, 1, 1, 2];

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn datagram() -> Vec<u8> {
    let body: Vec<u8> = (0..100u8).collect();
    udp(5060, 5060, &body)
}

/// IPv4 fragments of `datagram()` in `chunk`-byte pieces.
fn v4_frags(ident: u16, chunk: usize) -> Vec<Vec<u8>> {
    let d = datagram();
    let n = d.len().div_ceil(chunk);
    (0..n)
        .map(|i| {
            let start = i * chunk;
            let end = (start + chunk).min(d.len());
            let more = u16::from(end < d.len()) << 13;
            let off = u16::try_from(start / 8).expect("small");
            ipv4(A, B, 17, ident, more | off, &d[start..end])
        })
        .collect()
}

fn push(df: &mut Defragmenter, now: Duration, frag: &[u8]) -> Option<Reassembled> {
    df.push(now, &decode_ip(frag).expect("fragment decodes"))
}

fn assert_whole(r: &Reassembled) {
    let p = r.decode().expect("reassembled decodes");
    let body: Vec<u8> = (0..100u8).collect();
    assert_eq!(p.ip.src, IpAddr::from(A));
    assert_eq!(p.ip.fragment, None);
    assert_eq!(
        p.l4,
        L4::Udp(UdpInfo {
            src_port: 5060,
            dst_port: 5060,
            payload: &body
        })
    );
}

#[test]
fn in_order() {
    let mut df = Defragmenter::default();
    let frags = v4_frags(1, 24);
    assert_eq!(frags.len(), 5);
    for f in &frags[..4] {
        assert!(push(&mut df, secs(1), f).is_none());
    }
    let r = push(&mut df, secs(1), &frags[4]).expect("complete");
    assert_whole(&r);
    assert_eq!(
        crate::checksum(&r.bytes()[..20]),
        0,
        "rebuilt header checksum"
    );
    assert_eq!(
        (
            df.in_progress(),
            df.counters().reassembled,
            df.counters().fragments
        ),
        (0, 1, 5)
    );
    assert_eq!(r.into_bytes().len(), 20 + 108);
}

#[test]
fn reverse_order_keeps_first_fragment_vlan() {
    let mut df = Defragmenter::default();
    let frags = v4_frags(2, 16);
    let mut out = None;
    for (i, f) in frags.iter().enumerate().rev() {
        let mut p = decode_ip(f).expect("decodes");
        p.vlan = Some(u16::try_from(i).expect("small"));
        out = df.push(secs(1), &p);
    }
    let r = out.expect("complete");
    assert_whole(&r);
    assert_eq!(
        (r.vlan, r.decode().expect("decodes").vlan),
        (Some(0), Some(0))
    );
}

#[test]
fn duplicates_are_ignored() {
    let mut df = Defragmenter::default();
    let frags = v4_frags(3, 24);
    push(&mut df, secs(1), &frags[0]);
    push(&mut df, secs(1), &frags[0]);
    push(&mut df, secs(1), &frags[2]);
    push(&mut df, secs(1), &frags[2]);
    for f in &frags[1..4] {
        assert!(push(&mut df, secs(1), f).is_none());
    }
    assert_whole(&push(&mut df, secs(1), &frags[4]).expect("complete"));
    assert_eq!(df.counters().duplicates, 3);
}

#[test]
fn overlap_drops_datagram() {
    let mut df = Defragmenter::default();
    let frags = v4_frags(4, 24);
    let d = datagram();
    push(&mut df, secs(1), &frags[0]);
    // Bytes 16..40 overlap the first fragment (0..24).
    assert!(push(&mut df, secs(1), &ipv4(A, B, 17, 4, 0x2000 | 2, &d[16..40])).is_none());
    assert_eq!((df.counters().dropped_overlap, df.in_progress()), (1, 0));
    // Same range, different bytes: also an overlap.
    push(&mut df, secs(1), &frags[0]);
    let mut changed = d[..24].to_vec();
    changed[3] ^= 0xFF;
    push(&mut df, secs(1), &ipv4(A, B, 17, 4, 0x2000, &changed));
    assert_eq!(df.counters().dropped_overlap, 2);
}

#[test]
fn inconsistent_fragments_drop_datagram() {
    let mut df = Defragmenter::default();
    // A non-last fragment whose length is not a multiple of 8.
    push(&mut df, secs(1), &ipv4(A, B, 17, 5, 0x2000, &[0; 12]));
    // Two last fragments disagreeing on the total.
    push(&mut df, secs(1), &ipv4(A, B, 17, 6, 3, &[0; 8]));
    push(&mut df, secs(1), &ipv4(A, B, 17, 6, 5, &[0; 8]));
    // A "more" fragment past the known end.
    push(&mut df, secs(1), &ipv4(A, B, 17, 7, 1, &[0; 8]));
    push(&mut df, secs(1), &ipv4(A, B, 17, 7, 0x2000 | 2, &[0; 8]));
    assert_eq!((df.counters().dropped_overlap, df.in_progress()), (3, 0));
}

#[test]
fn missing_fragment_expires() {
    let mut df = Defragmenter::default();
    let frags = v4_frags(8, 24);
    for f in frags.iter().skip(1) {
        push(&mut df, secs(100), f);
    }
    assert_eq!(df.expire(secs(129)), 0);
    assert_eq!(df.expire(secs(130)), 1);
    assert_eq!((df.counters().expired, df.in_progress()), (1, 0));
    // The late first fragment starts a new datagram rather than completing the old one.
    assert!(push(&mut df, secs(131), &frags[0]).is_none());
    // Lazy expiry on push.
    push(&mut df, secs(200), &v4_frags(9, 24)[0]);
    assert_eq!((df.counters().expired, df.in_progress()), (2, 1));
}

#[test]
fn fragment_count_and_size_limits() {
    let mut df = Defragmenter::new(DefragConfig {
        max_fragments: 4,
        ..DefragConfig::default()
    });
    for f in v4_frags(10, 16).iter().take(5) {
        assert!(push(&mut df, secs(1), f).is_none());
    }
    assert_eq!((df.counters().dropped_limits, df.in_progress()), (1, 0));

    let mut df = Defragmenter::new(DefragConfig {
        max_datagram_bytes: 100,
        ..DefragConfig::default()
    });
    push(&mut df, secs(1), &ipv4(A, B, 17, 11, 0x2000, &[0; 64]));
    push(&mut df, secs(1), &ipv4(A, B, 17, 11, 8, &[0; 40]));
    assert_eq!((df.counters().dropped_limits, df.in_progress()), (1, 0));

    let mut df = Defragmenter::new(DefragConfig {
        max_total_bytes: 100,
        ..DefragConfig::default()
    });
    push(&mut df, secs(1), &ipv4(A, B, 17, 12, 0x2000, &[0; 64]));
    push(&mut df, secs(1), &ipv4(A, B, 17, 13, 0x2000, &[0; 64]));
    assert_eq!((df.counters().dropped_limits, df.in_progress()), (1, 1));
}

#[test]
fn full_table_evicts_oldest() {
    let mut df = Defragmenter::new(DefragConfig {
        max_datagrams: 2,
        ..DefragConfig::default()
    });
    let (a, b, c) = (v4_frags(20, 24), v4_frags(21, 24), v4_frags(22, 24));
    push(&mut df, secs(1), &a[0]);
    push(&mut df, secs(2), &b[0]);
    push(&mut df, secs(3), &c[0]);
    assert_eq!((df.counters().dropped_limits, df.in_progress()), (1, 2));
    let mut done = Vec::new();
    for frags in [&b, &c, &a] {
        for f in &frags[1..] {
            if let Some(r) = push(&mut df, secs(4), f) {
                done.push(r.decode().expect("decodes").ip.fragment);
            }
        }
    }
    assert_eq!(done.len(), 2, "b and c complete, a was evicted");
    assert_eq!(
        df.in_progress(),
        1,
        "the rest of a waits for a first fragment that is gone"
    );
}

#[test]
fn many_completed_datagrams_keep_queue_small() {
    let mut df = Defragmenter::default();
    for id in 0..5000u16 {
        for f in v4_frags(id, 56) {
            push(&mut df, secs(1), &f);
        }
    }
    assert_eq!((df.counters().reassembled, df.in_progress()), (5000, 0));
    assert!(df.order.len() <= 64 + 1);
}

#[test]
fn ipv6_fragments() {
    let s: Ipv6Addr = "fd00::1".parse().expect("addr");
    let d: Ipv6Addr = "fd00::2".parse().expect("addr");
    let dg = datagram();
    let f1 = ipv6(s, d, 44, &v6_frag_header(17, 0, true, 0xABCD), &dg[..56]);
    let f2 = ipv6(s, d, 44, &v6_frag_header(17, 56, false, 0xABCD), &dg[56..]);
    let mut df = Defragmenter::default();
    let p2 = decode_ip(&f2).expect("decodes");
    assert_eq!(
        p2.ip.fragment,
        Some(FragmentInfo {
            ident: 0xABCD,
            offset: 56,
            more: false
        })
    );
    assert!(df.push(secs(1), &p2).is_none());
    let r = push(&mut df, secs(1), &f1).expect("complete");
    let p = r.decode().expect("decodes");
    assert_eq!(p.ip.dst, IpAddr::V6(d));
    assert!(matches!(p.l4, L4::Udp(u) if u.payload.len() == 100));
}

#[test]
fn non_fragments_are_ignored() {
    let mut df = Defragmenter::default();
    assert!(push(&mut df, secs(1), &ipv4(A, B, 17, 1, 0, &datagram())).is_none());
    assert_eq!(df.counters(), DefragCounters::default());
}
