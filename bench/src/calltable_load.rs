//! Synthetic answered calls and registrations fed straight into a [`CallTable`], the way the
//! daemon's packet path hands them over: each SIP message is rendered as UDP payload bytes,
//! parsed with `voipsensor_sip::Message::parse` and given to [`CallTable::handle_sip`]; each
//! RTP packet is given as UDP payload bytes to [`CallTable::handle_udp`]. No pcap and no
//! Ethernet/IP decoding are involved.
//!
//! Shared by `benches/calltable.rs` and the `call-memory` bin (each includes this file with
//! `#[path]`).
//!
//! Call `i` starts at `T0 + i × CALL_SPACING_US`: INVITE with SDP (caller → callee), 100
//! Trying (+10 ms), 180 Ringing (+1 s), 200 OK with SDP (+2 s), ACK (+2.01 s), then
//! `rtp_per_stream` PCMA packets (172-byte payloads, 20 ms apart) in each direction from
//! +2.02 s. Every call has its own Call-ID, tags, numbers, display name and caller address;
//! the callee side is a PBX-like set of addresses with a distinct RTP port per call, so no two
//! calls share a media address. No BYE: every call stays active.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use voipsensor_bench::traffic::SplitMix64;
use voipsensor_calls::{CallTable, CallsConfig, Endpoint};
use voipsensor_sip::{Framing, HeaderPos, MAX_HEADERS, Message, Parsed};

/// 2026-12-05 00:00:00 UTC in µs: the packet time of the first call's INVITE.
pub(crate) const T0: u64 = 1_796_428_800 * 1_000_000;
/// Gap between two calls' INVITEs (and two registrations' first REGISTERs), µs.
pub(crate) const CALL_SPACING_US: u64 = 1_000;
/// RTP packets per direction fed by default: enough for both streams to exist and have
/// jitter/MOS state.
pub(crate) const RTP_PER_STREAM: u32 = 5;

const SIP_PORT: u16 = 5060;
/// Calls per callee (PBX) address; each gets its own even RTP port on that address.
const CALLS_PER_PBX_IP: u32 = 16_000;
const RTP_PAYLOAD_LEN: usize = 160;
pub(crate) const CALLER_DOMAIN: &str = "pbx-a.example.net";
pub(crate) const CALLEE_DOMAIN: &str = "voice.example.org";
pub(crate) const CALLER_UA: &str = "Yealink SIP-T46S 66.86.0.15";
pub(crate) const CALLEE_UA: &str = "Asterisk PBX 20.5.2";
const PHONE_UA: &str = "Grandstream GXP2170 1.0.11.23";
const ALLOW: &str = "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n";

/// A table sized for `calls` calls and `registrations` registration records (the default
/// limits when those are smaller).
pub(crate) fn table_for(calls: usize, registrations: usize) -> CallTable {
    let d = CallsConfig::default();
    CallTable::new(CallsConfig {
        max_calls: d.max_calls.max(calls),
        max_registers: d.max_registers.max(registrations),
        ..d
    })
}

/// The packet time at which the table is listed: about 10 s after the last call's RTP.
pub(crate) fn list_time_us(calls: u32) -> u64 {
    T0 + u64::from(calls) * CALL_SPACING_US + 12_000_000
}

/// Renders messages into a reused buffer, parses them and hands them to a table.
#[derive(Debug)]
pub(crate) struct Feeder {
    index: Vec<HeaderPos>,
    msg: String,
    body: String,
    rtp: [u8; 12 + RTP_PAYLOAD_LEN],
    /// Packets that failed to parse as SIP (must stay 0).
    pub(crate) unparsed: u64,
    /// RTP packets the table did not take (must stay 0).
    pub(crate) rtp_refused: u64,
}

impl Default for Feeder {
    fn default() -> Self {
        Self {
            index: vec![HeaderPos::EMPTY; MAX_HEADERS],
            msg: String::with_capacity(2048),
            body: String::with_capacity(512),
            rtp: [0; 12 + RTP_PAYLOAD_LEN],
            unparsed: 0,
            rtp_refused: 0,
        }
    }
}

/// Fixed per-call facts.
struct CallPlan {
    caller_sip: Endpoint,
    callee_sip: Endpoint,
    caller_rtp: Endpoint,
    callee_rtp: Endpoint,
    caller: u64,
    called: u64,
    call_id: String,
    from_tag: u64,
    to_tag: u64,
    branch: u64,
    ack_branch: u64,
    session: u32,
    ssrc: [u32; 2],
}

fn v4(ip: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(ip))
}

fn plan(i: u32) -> CallPlan {
    let mut rng = SplitMix64::new(0x00ca_11ab_1e00_0000 ^ u64::from(i));
    let caller_ip = v4(u32::from(Ipv4Addr::new(10, 1, 0, 1)) + i);
    let callee_ip = v4(u32::from(Ipv4Addr::new(10, 200, 0, 1)) + i / CALLS_PER_PBX_IP);
    let callee_port = 16_384 + 2 * (i % CALLS_PER_PBX_IP) as u16;
    let call_id = format!("{:016x}{:016x}@{caller_ip}", rng.next_u64(), rng.next_u64());
    CallPlan {
        caller_sip: Endpoint {
            ip: caller_ip,
            port: SIP_PORT,
        },
        callee_sip: Endpoint {
            ip: callee_ip,
            port: SIP_PORT,
        },
        caller_rtp: Endpoint {
            ip: caller_ip,
            port: 11_780,
        },
        callee_rtp: Endpoint {
            ip: callee_ip,
            port: callee_port,
        },
        caller: 42_000_000_000 + u64::from(i),
        called: 43_000_000_000 + u64::from(i),
        call_id,
        from_tag: rng.next_u64(),
        to_tag: rng.next_u64(),
        branch: rng.next_u64(),
        ack_branch: rng.next_u64(),
        session: rng.next_u32(),
        ssrc: [rng.next_u32() | 1, rng.next_u32() | 1],
    }
}

impl Feeder {
    /// Parses `self.msg` (a complete datagram) and hands it to the table.
    fn sip(&mut self, t: &mut CallTable, now: u64, src: Endpoint, dst: Endpoint) {
        match Message::parse(self.msg.as_bytes(), &mut self.index, Framing::Datagram) {
            Ok(Parsed::Complete(msg, _)) => {
                // The call it went to (None for registrations): `check_calls` checks the counts.
                let _ = t.handle_sip(now, src, dst, None, &msg);
            }
            _ => self.unparsed += 1,
        }
    }

    /// Sets `self.body` to an SDP offer/answer for `ep`.
    fn sdp(&mut self, ep: Endpoint, session: u32, offer: bool) {
        self.body.clear();
        let ip = ep.ip;
        let formats = if offer { "8 0 9 101" } else { "8 101" };
        let _ = write!(
            self.body,
            "v=0\r\no=- {session} {session} IN IP4 {ip}\r\ns=SIP Call\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {} RTP/AVP {formats}\r\na=rtpmap:8 PCMA/8000\r\n",
            ep.port
        );
        if offer {
            self.body
                .push_str("a=rtpmap:0 PCMU/8000\r\na=rtpmap:9 G722/8000\r\n");
        }
        self.body.push_str(
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
        );
    }

    /// Appends the headers shared by the dialog's messages after the start line.
    fn dialog_headers(&mut self, p: &CallPlan, branch: u64, to_tag: bool, cseq: &str) {
        let _ = write!(
            self.msg,
            "Via: SIP/2.0/UDP {}:{SIP_PORT};branch=z9hG4bK{branch:016x};rport\r\n",
            p.caller_sip.ip
        );
        let _ = write!(
            self.msg,
            "From: \"Caller {}\" <sip:{}@{CALLER_DOMAIN}>;tag={:016x}\r\n",
            p.caller % 100_000,
            p.caller,
            p.from_tag
        );
        let _ = write!(self.msg, "To: <sip:{}@{CALLEE_DOMAIN}>", p.called);
        if to_tag {
            let _ = write!(self.msg, ";tag={:016x}", p.to_tag);
        }
        let _ = write!(self.msg, "\r\nCall-ID: {}\r\nCSeq: {cseq}\r\n", p.call_id);
    }

    /// Appends `Content-*` and the body (`self.body` when `with_body`).
    fn finish(&mut self, with_body: bool) {
        if with_body {
            let _ = write!(
                self.msg,
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{}",
                self.body.len(),
                self.body
            );
        } else {
            self.msg.push_str("Content-Length: 0\r\n\r\n");
        }
    }

    /// INVITE, 100, 180, 200 and ACK of call `i`.
    pub(crate) fn call_sip(&mut self, t: &mut CallTable, i: u32) {
        let p = plan(i);
        let t0 = T0 + u64::from(i) * CALL_SPACING_US;
        let ruri = format!("sip:{}@{CALLEE_DOMAIN}", p.called);

        self.msg.clear();
        let _ = write!(self.msg, "INVITE {ruri} SIP/2.0\r\n");
        self.dialog_headers(&p, p.branch, false, "1 INVITE");
        let _ = write!(
            self.msg,
            "Max-Forwards: 70\r\nContact: <sip:{}@{}:{SIP_PORT}>\r\n{ALLOW}\
             Supported: replaces, timer\r\nUser-Agent: {CALLER_UA}\r\n",
            p.caller, p.caller_sip.ip
        );
        self.sdp(p.caller_rtp, p.session, true);
        self.finish(true);
        self.sip(t, t0, p.caller_sip, p.callee_sip);

        self.msg.clear();
        self.msg.push_str("SIP/2.0 100 Trying\r\n");
        self.dialog_headers(&p, p.branch, false, "1 INVITE");
        let _ = write!(self.msg, "Server: {CALLEE_UA}\r\n");
        self.finish(false);
        self.sip(t, t0 + 10_000, p.callee_sip, p.caller_sip);

        for (status, at, body) in [
            ("180 Ringing", 1_000_000, false),
            ("200 OK", 2_000_000, true),
        ] {
            self.msg.clear();
            let _ = write!(self.msg, "SIP/2.0 {status}\r\n");
            self.dialog_headers(&p, p.branch, true, "1 INVITE");
            let _ = write!(
                self.msg,
                "Contact: <sip:{}@{}:{SIP_PORT}>\r\n{ALLOW}User-Agent: {CALLEE_UA}\r\n",
                p.called, p.callee_sip.ip
            );
            if body {
                self.sdp(p.callee_rtp, p.session ^ 0x5555, false);
            }
            self.finish(body);
            self.sip(t, t0 + at, p.callee_sip, p.caller_sip);
        }

        self.msg.clear();
        let _ = write!(self.msg, "ACK {ruri} SIP/2.0\r\n");
        self.dialog_headers(&p, p.ack_branch, true, "1 ACK");
        let _ = write!(
            self.msg,
            "Max-Forwards: 70\r\nContact: <sip:{}@{}:{SIP_PORT}>\r\nUser-Agent: {CALLER_UA}\r\n",
            p.caller, p.caller_sip.ip
        );
        self.finish(false);
        self.sip(t, t0 + 2_010_000, p.caller_sip, p.callee_sip);
    }

    /// `per_stream` RTP packets in each direction of call `i` (after its ACK).
    pub(crate) fn call_rtp(&mut self, t: &mut CallTable, i: u32, per_stream: u32) {
        let p = plan(i);
        let media0 = T0 + u64::from(i) * CALL_SPACING_US + 2_020_000;
        for k in 0..per_stream {
            let now = media0 + u64::from(k) * 20_000;
            for (dir, (src, dst)) in [(p.caller_rtp, p.callee_rtp), (p.callee_rtp, p.caller_rtp)]
                .into_iter()
                .enumerate()
            {
                let b = &mut self.rtp;
                b[0] = 0x80;
                b[1] = if k == 0 { 0x80 | 8 } else { 8 };
                b[2..4].copy_from_slice(&(1000 + k as u16).to_be_bytes());
                b[4..8].copy_from_slice(&(k * RTP_PAYLOAD_LEN as u32).to_be_bytes());
                b[8..12].copy_from_slice(&p.ssrc[dir].to_be_bytes());
                b[12..].fill(0xd5);
                if !t.handle_udp(now, src, dst, &self.rtp) {
                    self.rtp_refused += 1;
                }
            }
        }
    }

    /// REGISTER → 401 → REGISTER with Authorization → 200 OK (`expires=3600`) of user `j`.
    pub(crate) fn registration(&mut self, t: &mut CallTable, j: u32) {
        let mut rng = SplitMix64::new(0x0000_4e61_5700_0000 ^ u64::from(j));
        let client = Endpoint {
            ip: v4(u32::from(Ipv4Addr::new(10, 64, 0, 1)) + j),
            port: SIP_PORT,
        };
        let registrar = Endpoint {
            ip: v4(u32::from(Ipv4Addr::new(10, 200, 255, 1))),
            port: SIP_PORT,
        };
        let user = 44_000_000_000 + u64::from(j);
        let call_id = format!("{:016x}@{}", rng.next_u64(), client.ip);
        let (from_tag, to_tag, nonce) = (rng.next_u64(), rng.next_u64(), rng.next_u64());
        let t0 = T0 + u64::from(j) * CALL_SPACING_US;
        for (cseq, at) in [(1u32, 0u64), (2, 10_000)] {
            self.msg.clear();
            let _ = write!(
                self.msg,
                "REGISTER sip:{CALLEE_DOMAIN} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {}:{SIP_PORT};branch=z9hG4bK{:016x};rport\r\n\
                 Max-Forwards: 70\r\n\
                 From: \"Phone {}\" <sip:{user}@{CALLEE_DOMAIN}>;tag={from_tag:016x}\r\n\
                 To: <sip:{user}@{CALLEE_DOMAIN}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
                 Contact: <sip:{user}@{}:{SIP_PORT}>\r\nExpires: 3600\r\nUser-Agent: {PHONE_UA}\r\n",
                client.ip,
                rng.next_u64(),
                j,
                client.ip
            );
            if cseq == 2 {
                let _ = write!(
                    self.msg,
                    "Authorization: Digest username=\"{user}\", realm=\"{CALLEE_DOMAIN}\", \
                     nonce=\"{nonce:016x}\", uri=\"sip:{CALLEE_DOMAIN}\", \
                     response=\"{:016x}{:016x}\", algorithm=MD5\r\n",
                    rng.next_u64(),
                    rng.next_u64()
                );
            }
            self.finish(false);
            self.sip(t, t0 + at, client, registrar);

            self.msg.clear();
            let status = if cseq == 1 {
                "401 Unauthorized"
            } else {
                "200 OK"
            };
            let _ = write!(
                self.msg,
                "SIP/2.0 {status}\r\n\
                 Via: SIP/2.0/UDP {}:{SIP_PORT};branch=z9hG4bK0;rport\r\n\
                 From: \"Phone {}\" <sip:{user}@{CALLEE_DOMAIN}>;tag={from_tag:016x}\r\n\
                 To: <sip:{user}@{CALLEE_DOMAIN}>;tag={to_tag:016x}\r\nCall-ID: {call_id}\r\n\
                 CSeq: {cseq} REGISTER\r\n",
                client.ip, j
            );
            if cseq == 1 {
                let _ = write!(
                    self.msg,
                    "WWW-Authenticate: Digest realm=\"{CALLEE_DOMAIN}\", nonce=\"{nonce:016x}\", \
                     algorithm=MD5\r\n"
                );
            } else {
                let _ = write!(
                    self.msg,
                    "Contact: <sip:{user}@{}:{SIP_PORT}>;expires=3600\r\n",
                    client.ip
                );
            }
            let _ = write!(self.msg, "Server: {CALLEE_UA}\r\n");
            self.finish(false);
            self.sip(t, t0 + at + 5_000, registrar, client);
        }
    }
}

/// Panics unless the table holds exactly `calls` listed calls with all their RTP taken.
pub(crate) fn check_calls(t: &CallTable, f: &Feeder, calls: u32, rtp_per_stream: u32) {
    let c = t.counters();
    assert_eq!(f.unparsed, 0, "every SIP message parses");
    assert_eq!(f.rtp_refused, 0, "every RTP packet is taken");
    assert_eq!(c.calls_created, u64::from(calls), "calls created");
    assert_eq!(c.calls_refused + c.evictions + c.sip_ignored, 0, "{c:?}");
    assert_eq!(
        c.rtp_packets,
        u64::from(calls) * 2 * u64::from(rtp_per_stream),
        "RTP packets counted"
    );
    assert_eq!(t.total_calls(), u64::from(calls));
}
