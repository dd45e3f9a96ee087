//! TCP segments over a few flows through a [`TcpReassembler`] with small limits, the stream
//! data framed as SIP and consumed as the sensor does.
//!
//! Input: 3 header bytes (mode, buffer cap, hold limit), then 5-byte segment descriptors
//! `[key/flags/actions] [seq offset u16 LE] [payload length] [time step]`. In raw mode the
//! payload is the next input bytes (so SIP text can reach the framer); in oracle mode the
//! payload byte at sequence number `s` is `s as u8`, so a correct reassembler always holds a
//! run of consecutive byte values.
//!
//! Invariants: buffered data never exceeds `max_buffered`, streams never exceed `max_streams`,
//! `Delivery::appended` matches how the data grew (exactly without a gap, at most with one), an
//! ended stream takes no more bytes, framing consumes exactly what it says, oracle data is
//! in sequence, and everything idles out.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use voipsensor_sip::{Frame, frame_stream};
use voipsensor_wire::{FlowKey, TcpFlags, TcpInfo, TcpReassembler, TcpReassemblyConfig};

const V4A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const V4B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
const V6A: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
const V6B: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));

/// Four directions: both ways of one IPv4 connection, one IPv6 one, and one more IPv4 port
/// pair; three are more than `max_streams`, so eviction happens.
const KEYS: [FlowKey; 4] = [
    FlowKey {
        src: V4A,
        dst: V4B,
        src_port: 40000,
        dst_port: 5060,
    },
    FlowKey {
        src: V4B,
        dst: V4A,
        src_port: 5060,
        dst_port: 40000,
    },
    FlowKey {
        src: V6A,
        dst: V6B,
        src_port: 5061,
        dst_port: 5060,
    },
    FlowKey {
        src: V4A,
        dst: V4B,
        src_port: 40001,
        dst_port: 5060,
    },
];

/// Initial sequence numbers per key: one wraps around 2^32 within the offset range.
const ISN: [u32; 4] = [0, 0xFFFF_FF00, 0x7FFF_FFF0, 1_000_000];

const IDLE: Duration = Duration::from_secs(10);

fn check_all(r: &TcpReassembler, config: &TcpReassemblyConfig, oracle: bool) {
    assert!(r.len() <= config.max_streams);
    for k in &KEYS {
        let d = r.data(k);
        assert!(
            d.len() <= config.max_buffered,
            "{} bytes buffered, cap {}",
            d.len(),
            config.max_buffered
        );
        if oracle {
            assert!(
                d.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
                "stream bytes out of sequence: {d:?}"
            );
        }
    }
}

/// Frames and consumes the buffered SIP messages of `key`, as the sensor's TCP path does.
fn frame_and_consume(r: &mut TcpReassembler, key: &FlowKey) {
    for _ in 0..32 {
        let data = r.data(key);
        let len = data.len();
        let n = match frame_stream(data) {
            Ok(Frame::Complete(n) | Frame::Keepalive(n)) => n,
            Ok(Frame::Partial) => return,
            Err(e) => e.resync,
        };
        assert!(n > 0 && n <= len.max(1));
        r.consume(key, n);
        assert_eq!(r.data(key).len(), len.saturating_sub(n));
        if len == 0 {
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, cap, hold, rest @ ..] = data else {
        return;
    };
    let oracle = mode & 1 != 0;
    let config = TcpReassemblyConfig {
        max_streams: 3,
        max_held_segments: 1 + usize::from(hold & 7),
        max_held_bytes: 8 + usize::from(hold >> 3) * 16,
        max_buffered: 1 + usize::from(*cap) * 4,
        idle_timeout: IDLE,
    };
    let mut r = TcpReassembler::new(config);
    let mut now = Duration::ZERO;
    let mut rest = rest;
    let mut synth = Vec::new();
    while let [ctl, s0, s1, len, dt, tail @ ..] = rest {
        rest = tail;
        now += Duration::from_millis(u64::from(*dt) * 100);
        let k = usize::from(ctl & 3);
        let key = KEYS[k];
        let mut flags = 0;
        for (bit, flag) in [(4, TcpFlags::SYN), (8, TcpFlags::FIN), (16, TcpFlags::RST)] {
            if ctl & bit != 0 {
                flags |= flag.0;
            }
        }
        let seq = ISN[k].wrapping_add(u32::from(u16::from_le_bytes([*s0, *s1])));
        let syn = flags & TcpFlags::SYN.0 != 0;
        let data_seq = seq.wrapping_add(u32::from(syn));
        let payload: &[u8] = if oracle {
            synth.clear();
            synth.extend((0..u32::from(*len)).map(|i| data_seq.wrapping_add(i) as u8));
            &synth
        } else {
            let n = usize::from(*len).min(rest.len());
            let (p, tail) = rest.split_at(n);
            rest = tail;
            p
        };
        let tcp = TcpInfo {
            src_port: key.src_port,
            dst_port: key.dst_port,
            seq,
            ack: 0,
            flags: TcpFlags(flags | TcpFlags::ACK.0),
            window: 0xFFFF,
            payload,
        };

        // Expire first so that the push itself cannot drop this stream for idleness.
        r.expire(now);
        let before = r.data(&key).to_vec();
        let was_ended = r.is_ended(&key);
        let d = r.push(now, key, &tcp);
        let after = r.data(&key);
        assert!(d.appended <= payload.len() + config.max_held_bytes + config.max_buffered);
        if d.gap {
            assert!(after.len() <= d.appended, "gap: old bytes must be dropped");
        } else {
            assert_eq!(after.len(), before.len() + d.appended, "appended mismatch");
            assert!(after.starts_with(&before), "delivered bytes changed");
        }
        if was_ended && !d.gap {
            assert_eq!(d.appended, 0, "an ended stream takes no bytes");
        }
        if d.ended {
            assert!(r.is_ended(&key));
        }
        check_all(&r, &config, oracle);

        if ctl & 0x40 != 0 {
            frame_and_consume(&mut r, &key);
            check_all(&r, &config, oracle);
        }
        if ctl & 0x80 != 0 {
            r.consume(&key, usize::from(*len));
            check_all(&r, &config, oracle);
        }
    }
    r.expire(now + IDLE);
    assert!(r.is_empty(), "every stream idles out");
});
