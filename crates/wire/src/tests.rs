//! Whole-frame decoding: every link type, truncation at every byte, random and mutated frames.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::testutil::{
    self, XorShift, ethernet, ipv4, ipv6, prefixed, sll, sll2, tcp, udp, v6_frag_header,
};
use crate::*;

const A: [u8; 4] = [192, 168, 1, 10];
const B: [u8; 4] = [192, 168, 1, 20];

fn v4_udp() -> Vec<u8> {
    ipv4(A, B, 17, 0x1234, 0, &udp(5060, 5080, b"OPTIONS"))
}

fn v6_addrs() -> (Ipv6Addr, Ipv6Addr) {
    (
        "2001:db8::a".parse().expect("addr"),
        "2001:db8::b".parse().expect("addr"),
    )
}

fn v6_udp() -> Vec<u8> {
    let (s, d) = v6_addrs();
    ipv6(s, d, 17, &[], &udp(5060, 5062, b"BYE"))
}

fn assert_v4_udp(p: &Packet<'_>, vlan: Option<u16>) {
    assert_eq!(p.vlan, vlan);
    assert_eq!(p.ip.src, IpAddr::V4(Ipv4Addr::from(A)));
    assert_eq!(p.ip.dst, IpAddr::V4(Ipv4Addr::from(B)));
    assert_eq!((p.ip.proto, p.ip.ttl, p.ip.fragment), (17, 64, None));
    assert_eq!(
        p.l4,
        L4::Udp(UdpInfo {
            src_port: 5060,
            dst_port: 5080,
            payload: b"OPTIONS"
        })
    );
    assert_eq!(p.ports(), Some((5060, 5080)));
}

/// Every frame of the link-type table, with what it must decode to.
fn all_frames() -> Vec<(LinkType, Vec<u8>)> {
    let (s, d) = v6_addrs();
    let mut ext = vec![60, 0, 0, 0, 0, 0, 0, 0];
    ext.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    vec![
        (LinkType::Ethernet, ethernet(&[], 0x0800, &v4_udp())),
        (
            LinkType::Ethernet,
            ethernet(&[(0x8100, 0x2064)], 0x0800, &v4_udp()),
        ),
        (
            LinkType::Ethernet,
            ethernet(&[(0x88A8, 7), (0x8100, 100)], 0x0800, &v4_udp()),
        ),
        (
            LinkType::Ethernet,
            ethernet(&[(0x9100, 7), (0x8100, 100)], 0x86DD, &v6_udp()),
        ),
        (LinkType::LinuxSll, sll(0x0800, &v4_udp())),
        (LinkType::LinuxSll2, sll2(0x86DD, &v6_udp())),
        (LinkType::Null, prefixed([2, 0, 0, 0], &v4_udp())),
        (LinkType::Null, prefixed([0, 0, 0, 2], &v4_udp())),
        (LinkType::Null, prefixed([30, 0, 0, 0], &v6_udp())),
        (LinkType::Loop, prefixed([0, 0, 0, 24], &v6_udp())),
        (LinkType::Raw, v4_udp()),
        (LinkType::Raw, v6_udp()),
        (
            LinkType::Ethernet,
            ethernet(&[], 0x86DD, &ipv6(s, d, 0, &ext, &udp(1, 2, b"x"))),
        ),
        (
            LinkType::Ethernet,
            ethernet(
                &[],
                0x0800,
                &ipv4(
                    A,
                    B,
                    6,
                    1,
                    0,
                    &tcp((5060, 9), 5, 0x18, &[1, 1, 8, 10], b"SIP"),
                ),
            ),
        ),
    ]
}

#[test]
fn ethernet_ipv4_udp() {
    let f = ethernet(&[], 0x0800, &v4_udp());
    assert_v4_udp(&decode(LinkType::Ethernet, &f).expect("valid"), None);
}

#[test]
fn vlan_and_qinq() {
    let f = ethernet(&[(0x8100, 0x2064)], 0x0800, &v4_udp());
    assert_v4_udp(&decode(LinkType::Ethernet, &f).expect("valid"), Some(100));
    let f = ethernet(&[(0x88A8, 7), (0x8100, 100)], 0x0800, &v4_udp());
    assert_v4_udp(&decode(LinkType::Ethernet, &f).expect("valid"), Some(100));
    let f = ethernet(&[(0x9100, 0xFFF), (0x8100, 0xFFE)], 0x0800, &v4_udp());
    assert_v4_udp(&decode(LinkType::Ethernet, &f).expect("valid"), Some(0xFFE));
}

#[test]
fn ethernet_padding_is_ignored() {
    let mut f = ethernet(&[], 0x0800, &v4_udp());
    f.extend_from_slice(&[0; 10]);
    assert_v4_udp(&decode(LinkType::Ethernet, &f).expect("valid"), None);
}

#[test]
fn cooked_and_loopback_links() {
    assert_v4_udp(
        &decode(LinkType::LinuxSll, &sll(0x0800, &v4_udp())).expect("valid"),
        None,
    );
    let tagged = sll(0x8100, &[&[0x00, 0x05, 0x08, 0x00][..], &v4_udp()].concat());
    assert_v4_udp(
        &decode(LinkType::LinuxSll, &tagged).expect("valid"),
        Some(5),
    );
    assert_v4_udp(
        &decode(LinkType::LinuxSll2, &sll2(0x0800, &v4_udp())).expect("valid"),
        None,
    );
    for prefix in [[2, 0, 0, 0], [0, 0, 0, 2]] {
        assert_v4_udp(
            &decode(LinkType::Null, &prefixed(prefix, &v4_udp())).expect("valid"),
            None,
        );
    }
    assert_v4_udp(
        &decode(LinkType::Loop, &prefixed([0, 0, 0, 2], &v4_udp())).expect("valid"),
        None,
    );
    for af in [24u8, 28, 30] {
        for f in [
            prefixed([af, 0, 0, 0], &v6_udp()),
            prefixed([0, 0, 0, af], &v6_udp()),
        ] {
            assert_eq!(
                decode(LinkType::Null, &f).expect("valid").ports(),
                Some((5060, 5062))
            );
        }
    }
    assert_eq!(
        decode(LinkType::Loop, &prefixed([2, 0, 0, 0], &v4_udp())).err(),
        Some(DecodeError::UnsupportedAddressFamily(0x0200_0000))
    );
    assert_eq!(
        decode(LinkType::Null, &prefixed([7, 0, 0, 0], &v4_udp())).err(),
        Some(DecodeError::UnsupportedAddressFamily(7))
    );
}

#[test]
fn raw_v4_and_v6() {
    assert_v4_udp(
        &decode(LinkType::from(101), &v4_udp()).expect("valid"),
        None,
    );
    assert_v4_udp(&decode(LinkType::from(12), &v4_udp()).expect("valid"), None);
    let raw6 = v6_udp();
    let p = decode(LinkType::from(14), &raw6).expect("valid");
    let (s, d) = v6_addrs();
    assert_eq!(
        (p.ip.src, p.ip.dst, p.ip.proto),
        (IpAddr::V6(s), IpAddr::V6(d), 17)
    );
    assert_eq!(
        p.l4,
        L4::Udp(UdpInfo {
            src_port: 5060,
            dst_port: 5062,
            payload: b"BYE"
        })
    );
    assert_eq!(decode_ip(&v6_udp()).expect("valid"), p);
    assert!(matches!(
        decode_ip(&[0x50; 40]),
        Err(DecodeError::BadHeader { .. })
    ));
    assert_eq!(
        decode_ip(&[]).err(),
        Some(DecodeError::Truncated(Layer::Ipv4))
    );
}

#[test]
fn ipv6_extension_chain_to_udp() {
    let (s, d) = v6_addrs();
    let mut ext = vec![43, 0, 0, 0, 0, 0, 0, 0]; // hop-by-hop → routing
    ext.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]); // routing → destination options
    ext.extend_from_slice(&[51, 0, 1, 4, 0, 0, 0, 0]); // destination options → AH
    ext.extend_from_slice(&[17, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // AH (12 bytes) → UDP
    let f = ethernet(
        &[],
        0x86DD,
        &ipv6(s, d, 0, &ext, &udp(5060, 5060, b"INVITE")),
    );
    let p = decode(LinkType::Ethernet, &f).expect("valid");
    assert_eq!(p.ip.proto, 17);
    assert_eq!(
        p.l4,
        L4::Udp(UdpInfo {
            src_port: 5060,
            dst_port: 5060,
            payload: b"INVITE"
        })
    );
}

#[test]
fn ipv4_tcp_with_options() {
    let opts = [2, 4, 5, 0xB4, 1, 3, 3, 7];
    let seg = tcp(
        (5060, 40000),
        0xFFFF_FFF0,
        0x18,
        &opts,
        b"SIP/2.0 200 OK\r\n",
    );
    let f = ethernet(&[], 0x0800, &ipv4(A, B, 6, 9, 0x4000, &seg));
    let p = decode(LinkType::Ethernet, &f).expect("valid");
    let L4::Tcp(t) = p.l4 else {
        panic!("not TCP: {:?}", p.l4)
    };
    assert_eq!(
        (t.src_port, t.dst_port, t.seq, t.ack, t.window),
        (5060, 40000, 0xFFFF_FFF0, 7, 0xFFFF)
    );
    assert_eq!(t.flags, TcpFlags(0x18));
    assert_eq!(t.payload, b"SIP/2.0 200 OK\r\n");
}

#[test]
fn other_protocol_and_fragments() {
    let icmp = ipv4(A, B, 1, 3, 0, &[8, 0, 0, 0]);
    let p = decode_ip(&icmp).expect("valid");
    assert_eq!(
        p.l4,
        L4::Other {
            proto: 1,
            payload: &[8, 0, 0, 0]
        }
    );
    let first = ipv4(A, B, 17, 77, 0x2000, &[1; 16]);
    let p = decode_ip(&first).expect("valid");
    assert_eq!(
        p.ip.fragment,
        Some(FragmentInfo {
            ident: 77,
            offset: 0,
            more: true
        })
    );
    assert_eq!(p.l4, L4::Fragment { payload: &[1; 16] });
    assert_eq!(p.ports(), None);
    let later = ipv4(A, B, 17, 77, 2, &[2; 3]);
    let p = decode_ip(&later).expect("valid");
    assert_eq!(
        p.ip.fragment,
        Some(FragmentInfo {
            ident: 77,
            offset: 16,
            more: false
        })
    );
    let (s, d) = v6_addrs();
    let p6 = ipv6(s, d, 44, &v6_frag_header(17, 1232, false, 9), &[3; 5]);
    let p = decode_ip(&p6).expect("valid");
    assert_eq!(
        (p.ip.proto, p.ip.fragment),
        (
            17,
            Some(FragmentInfo {
                ident: 9,
                offset: 1232,
                more: false
            })
        )
    );
    // An atomic fragment is a whole datagram.
    let atomic = ipv6(s, d, 44, &v6_frag_header(17, 0, false, 9), &udp(1, 2, b"z"));
    assert!(matches!(decode_ip(&atomic).expect("valid").l4, L4::Udp(_)));
}

#[test]
fn unsupported_link_and_ethertype() {
    assert_eq!(
        decode(LinkType::from(147), &v4_udp()).err(),
        Some(DecodeError::UnsupportedLink(LinkType::Unknown(147)))
    );
    let arp = ethernet(&[], 0x0806, &[0; 28]);
    assert_eq!(
        decode(LinkType::Ethernet, &arp).err(),
        Some(DecodeError::UnsupportedEthertype(0x0806))
    );
    let wrong = ethernet(&[], 0x0800, &v6_udp());
    assert!(matches!(
        decode(LinkType::Ethernet, &wrong),
        Err(DecodeError::BadHeader { .. })
    ));
    assert_eq!(
        DecodeError::Truncated(Layer::Udp).to_string(),
        "UDP truncated"
    );
    assert_eq!(LinkType::Unknown(147).to_string(), "147");
    assert_eq!(LinkType::LinuxSll2.to_string(), "LinuxSll2 (276)");
}

#[test]
fn every_table_frame_decodes() {
    for (link, f) in all_frames() {
        assert!(decode(link, &f).is_ok(), "{link}: {f:02x?}");
    }
}

#[test]
fn truncation_at_every_byte_is_an_error() {
    for (link, f) in all_frames() {
        for cut in 0..f.len() {
            assert!(
                decode(link, &f[..cut]).is_err(),
                "{link} cut at {cut}/{}",
                f.len()
            );
        }
    }
}

#[test]
fn random_and_mutated_frames_never_panic() {
    let seeds = all_frames();
    let links = [
        LinkType::Ethernet,
        LinkType::Raw,
        LinkType::Null,
        LinkType::Loop,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Unknown(9),
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut ok = 0usize;
    let mut defrag = Defragmenter::default();
    for i in 0..120_000u64 {
        let (link, mut f) = if i % 4 == 0 {
            let len = rng.below(160);
            let f = (0..len).map(|_| rng.next_u64() as u8).collect();
            (links[rng.below(links.len())], f)
        } else {
            let (link, f) = seeds[rng.below(seeds.len())].clone();
            (link, f)
        };
        for _ in 0..1 + rng.below(4) {
            if f.is_empty() {
                break;
            }
            let at = rng.below(f.len());
            match rng.below(4) {
                0 => f[at] = rng.next_u64() as u8,
                1 => f[at] ^= 1 << rng.below(8),
                2 => f.truncate(at),
                _ => f.insert(at, rng.next_u64() as u8),
            }
        }
        if let Ok(p) = decode(link, &f) {
            ok += 1;
            if let Some(d) = defrag.push(std::time::Duration::from_millis(i), &p) {
                let _ = d.decode();
            }
        }
    }
    assert!(
        ok > 10_000,
        "mutations should leave many frames valid, got {ok}"
    );
}

#[test]
fn bench_frame_is_172_bytes_of_rtp() {
    let f = testutil::rtp_frame();
    assert_eq!(f.len(), 172);
    let p = decode(LinkType::Ethernet, &f).expect("valid");
    let L4::Udp(u) = p.l4 else { panic!("not UDP") };
    assert_eq!(
        (u.dst_port, u.payload.len(), u.payload[0]),
        (40002, 130, 0x80)
    );
}
