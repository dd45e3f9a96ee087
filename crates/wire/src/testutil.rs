//! Frame builders and a deterministic PRNG for the tests.

use std::net::Ipv6Addr;

use crate::ipv4::checksum;

pub(crate) fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&src_port.to_be_bytes());
    b.extend_from_slice(&dst_port.to_be_bytes());
    b.extend_from_slice(
        &u16::try_from(payload.len() + 8)
            .expect("small")
            .to_be_bytes(),
    );
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(payload);
    b
}

pub(crate) fn tcp(
    ports: (u16, u16),
    seq: u32,
    flags: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0, "options are padded by the caller");
    let mut b = Vec::new();
    b.extend_from_slice(&ports.0.to_be_bytes());
    b.extend_from_slice(&ports.1.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&7u32.to_be_bytes());
    b.push(u8::try_from((20 + options.len()) / 4).expect("small") << 4);
    b.push(flags);
    b.extend_from_slice(&[0xFF, 0xFF, 0, 0, 0, 0]);
    b.extend_from_slice(options);
    b.extend_from_slice(payload);
    b
}

/// `frag` is the raw flags/fragment-offset field.
pub(crate) fn ipv4(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    ident: u16,
    frag: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = vec![0x45, 0];
    b.extend_from_slice(
        &u16::try_from(payload.len() + 20)
            .expect("small")
            .to_be_bytes(),
    );
    b.extend_from_slice(&ident.to_be_bytes());
    b.extend_from_slice(&frag.to_be_bytes());
    b.extend_from_slice(&[64, proto, 0, 0]);
    b.extend_from_slice(&src);
    b.extend_from_slice(&dst);
    let sum = checksum(&b);
    b[10..12].copy_from_slice(&sum.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

pub(crate) fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, ext: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0x60, 0, 0, 0];
    b.extend_from_slice(
        &u16::try_from(ext.len() + payload.len())
            .expect("small")
            .to_be_bytes(),
    );
    b.extend_from_slice(&[next, 64]);
    b.extend_from_slice(&src.octets());
    b.extend_from_slice(&dst.octets());
    b.extend_from_slice(ext);
    b.extend_from_slice(payload);
    b
}

/// IPv6 fragment extension header.
pub(crate) fn v6_frag_header(next: u8, offset: u16, more: bool, ident: u32) -> [u8; 8] {
    let fo = (offset & 0xFFF8 | u16::from(more)).to_be_bytes();
    let id = ident.to_be_bytes();
    [next, 0, fo[0], fo[1], id[0], id[1], id[2], id[3]]
}

pub(crate) fn ethernet(tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB,
    ];
    for &(tpid, tci) in tags {
        b.extend_from_slice(&tpid.to_be_bytes());
        b.extend_from_slice(&tci.to_be_bytes());
    }
    b.extend_from_slice(&ethertype.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

pub(crate) fn sll(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
    b.extend_from_slice(&protocol.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

pub(crate) fn sll2(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = protocol.to_be_bytes().to_vec();
    b.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
    b.extend_from_slice(payload);
    b
}

pub(crate) fn prefixed(prefix: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut b = prefix.to_vec();
    b.extend_from_slice(payload);
    b
}

/// The benchmark frame: Ethernet / IPv4 / UDP / RTP (12-byte header + 118 bytes), 172 bytes.
pub(crate) fn rtp_frame() -> Vec<u8> {
    let mut rtp = vec![
        0x80, 0x08, 0x12, 0x34, 0, 0, 0x10, 0, 0xDE, 0xAD, 0xBE, 0xEF,
    ];
    rtp.resize(130, 0xD5);
    let ip = ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        17,
        1,
        0x4000,
        &udp(40000, 40002, &rtp),
    );
    ethernet(&[], 0x0800, &ip)
}

/// xorshift64*: deterministic, good enough to mutate frames.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}
