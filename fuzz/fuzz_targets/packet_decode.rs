//! Captured frames through the link/IP/UDP/TCP decoders and the IP defragmenter.
//!
//! Input: byte 0 selects the link type; the rest is one or more frames separated by `FRG|`.
//! Every frame is decoded; fragments go into a [`Defragmenter`] with small limits, and every
//! reassembled datagram is decoded again. Checks: no panic, every decoded slice lies inside its
//! frame, fragment flags agree, reassembled datagrams are never fragments, limits hold.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use voipsensor_wire::{DefragConfig, Defragmenter, L4, LinkType, Packet, decode, decode_ip};

const SEP: &[u8] = b"FRG|";
const MAX_FRAMES: usize = 32;

const CONFIG: DefragConfig = DefragConfig {
    max_datagrams: 4,
    max_datagram_bytes: 65_535,
    max_fragments: 16,
    max_total_bytes: 128 << 10,
    timeout: Duration::from_secs(30),
};

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

fn link(selector: u8) -> LinkType {
    match selector % 8 {
        0 => LinkType::Null,
        1 => LinkType::Ethernet,
        2 | 6 => LinkType::Raw,
        3 => LinkType::Loop,
        4 => LinkType::LinuxSll,
        5 => LinkType::LinuxSll2,
        _ => LinkType::from(u32::from(selector)),
    }
}

/// Frames separated by [`SEP`].
fn frames(mut rest: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (frame, next) = match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => (&rest[..i], &rest[i + SEP.len()..]),
            None => (rest, &b""[..]),
        };
        rest = next;
        Some(frame)
    })
}

fn check(frame: &[u8], p: &Packet<'_>) {
    match p.l4 {
        L4::Fragment { payload } => {
            assert!(p.ip.fragment.is_some());
            assert!(within(frame, payload));
            assert_eq!(p.ports(), None);
        }
        L4::Udp(u) => {
            assert!(p.ip.fragment.is_none());
            assert!(within(frame, u.payload));
            assert_eq!(p.ports(), Some((u.src_port, u.dst_port)));
        }
        L4::Tcp(t) => {
            assert!(p.ip.fragment.is_none());
            assert!(within(frame, t.payload));
            assert_eq!(p.ports(), Some((t.src_port, t.dst_port)));
        }
        L4::Other { payload, .. } => {
            assert!(p.ip.fragment.is_none());
            assert!(within(frame, payload));
        }
    }
    assert_eq!(p.ip.src.is_ipv4(), p.ip.dst.is_ipv4());
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let link = link(selector);
    let mut defrag = Defragmenter::new(CONFIG);
    let mut now = Duration::ZERO;
    for frame in frames(rest).take(MAX_FRAMES) {
        now += Duration::from_secs(2);
        let decoded = decode(link, frame);
        if link == LinkType::Raw {
            assert_eq!(decoded, decode_ip(frame));
        }
        let Ok(p) = decoded else {
            continue;
        };
        check(frame, &p);
        let before = defrag.counters().reassembled;
        if let Some(whole) = defrag.push(now, &p) {
            assert_eq!(defrag.counters().reassembled, before + 1);
            let bytes = whole.bytes();
            assert!(bytes.len() <= CONFIG.max_datagram_bytes + 40);
            if let Ok(q) = whole.decode() {
                assert_eq!(q.ip.fragment, None, "a reassembled datagram is whole");
                assert_eq!(q.vlan, whole.vlan);
                assert_eq!((q.ip.src, q.ip.dst), (p.ip.src, p.ip.dst));
                check(bytes, &q);
            }
        }
        assert!(defrag.in_progress() <= CONFIG.max_datagrams);
    }
    defrag.expire(now + CONFIG.timeout);
    assert_eq!(defrag.in_progress(), 0);
});
