//! Deterministic synthetic VoIP traffic: SIP calls with RTP and REGISTER transactions, written
//! as a classic Ethernet pcap (microsecond timestamps).
//!
//! Everything derives from [`Config::seed`] through SplitMix64 — no clock, no OS randomness — so
//! the same configuration always gives the same bytes.
//!
//! # Timeline of call `i` (offsets from its start)
//!
//! | offset              | packet                                   |
//! |---------------------|------------------------------------------|
//! | 0                   | INVITE with SDP, caller → callee         |
//! | +10 ms              | 100 Trying                               |
//! | +1 s                | 180 Ringing                              |
//! | +2 s                | 200 OK with SDP                          |
//! | +2.010 s            | ACK                                      |
//! | +2.020 s … +D s     | RTP both ways, 50 packets/s per direction |
//! | +2.020 s + D s      | BYE from the caller                      |
//! | +2.030 s + D s      | 200 OK                                   |
//!
//! Calls start `ceil((L + 1 µs) / C)` apart (L = call length, C = concurrency), so at most C
//! calls are active at any instant. Registration `j` starts at `j × 20 ms`: REGISTER → 401 with
//! a digest challenge (+5 ms) → REGISTER with Authorization (+10 ms, a real MD5 digest for the
//! password `secret`) → 200 OK with `Contact: …;expires=3600` (+15 ms).
//!
//! Loss drops each RTP packet with probability `loss_pct / 100`; jitter moves each RTP packet's
//! arrival uniformly within ±`jitter_ms` (kept between the ACK and the BYE), and packets are
//! written in order of arrival. Packets are described by small records, sorted by
//! (arrival, generation order), then rendered one by one, so memory stays ~40 bytes per packet.

mod md5;

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::Ipv4Addr;

use voipsensor_capture::{PcapWriter, Timestamp, linktype};

/// SIP port of every endpoint.
pub const SIP_PORT: u16 = 5060;
/// RTP packets per second per direction.
pub const RTP_RATE: u32 = 50;
/// PCMA payload bytes per RTP packet (20 ms at 8 kHz).
pub const RTP_PAYLOAD_LEN: usize = 160;
/// Snaplen written into the pcap header.
pub const SNAPLEN: u32 = 65_535;

/// Offsets within a call, microseconds.
const TRYING_US: u64 = 10_000;
const RINGING_US: u64 = 1_000_000;
const OK_US: u64 = 2_000_000;
const ACK_US: u64 = 2_010_000;
const MEDIA_US: u64 = 2_020_000;
const RTP_INTERVAL_US: u64 = 1_000_000 / RTP_RATE as u64;
/// Gap between consecutive registrations, microseconds.
const REGISTRATION_SPACING_US: u64 = 20_000;
/// The password behind the generated digest responses.
const PASSWORD: &str = "secret";

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Number of calls.
    pub calls: u32,
    /// Most calls active at once (at least 1).
    pub concurrency: u32,
    /// Seconds of RTP per call.
    pub duration_secs: u32,
    /// Percentage of RTP packets dropped, `0.0..=100.0`.
    pub loss_pct: f64,
    /// Arrival jitter of RTP packets, ± milliseconds.
    pub jitter_ms: u32,
    /// Number of REGISTER transactions (each with its own user and address).
    pub registrations: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// Time of the first packet, Unix seconds.
    pub start_unix: u32,
    /// Network of the callers (and registering clients): call/registration `i` uses
    /// `caller_net + 1 + i`.
    pub caller_net: Ipv4Addr,
    /// Address of the callee (and registrar).
    pub callee: Ipv4Addr,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            calls: 10,
            concurrency: 10,
            duration_secs: 10,
            loss_pct: 0.0,
            jitter_ms: 0,
            registrations: 0,
            seed: 1,
            start_unix: 1_767_225_600,
            caller_net: Ipv4Addr::new(10, 1, 0, 0),
            callee: Ipv4Addr::new(10, 2, 0, 1),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Calls generated.
    pub calls: u64,
    /// REGISTER transactions generated.
    pub registrations: u64,
    /// Packets written.
    pub packets: u64,
    /// Bytes written (pcap file size).
    pub bytes: u64,
    /// SIP messages written.
    pub sip_messages: u64,
    /// RTP packets written.
    pub rtp_packets: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "calls={} registrations={} packets={} bytes={} sip_messages={} rtp_packets={}",
            self.calls,
            self.registrations,
            self.packets,
            self.bytes,
            self.sip_messages,
            self.rtp_packets
        )
    }
}

/// SplitMix64: small, fast, and good enough for traffic shaping.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[-bound, bound]`.
    pub fn symmetric(&mut self, bound: u64) -> i64 {
        if bound == 0 {
            return 0;
        }
        let span = bound.saturating_mul(2).saturating_add(1);
        (self.next_u64() % span) as i64 - bound as i64
    }

    /// `n` random bytes as lowercase hex.
    fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(2 * n);
        while s.len() < 2 * n {
            let _ = write!(s, "{:016x}", self.next_u64());
        }
        s.truncate(2 * n);
        s
    }
}

/// Per-entity generator, independent of generation order.
fn rng_for(seed: u64, domain: u64, index: u64) -> SplitMix64 {
    let mut base = SplitMix64::new(seed ^ domain.wrapping_mul(0xd6e8_feb8_6659_fd93));
    let mixed = base.next_u64() ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut rng = SplitMix64::new(mixed);
    rng.next_u64();
    rng
}

/// Length of one call from INVITE to the final 200 OK, microseconds.
pub fn call_length_us(duration_secs: u32) -> u64 {
    MEDIA_US + u64::from(duration_secs) * 1_000_000 + 10_000
}

/// Spacing between call starts that keeps at most `concurrency` calls active.
pub fn call_spacing_us(duration_secs: u32, concurrency: u32) -> u64 {
    (call_length_us(duration_secs) + 1).div_ceil(u64::from(concurrency.max(1)))
}

/// The 11-digit number of the caller of call `i`.
pub fn caller_number(i: u32) -> u64 {
    42_000_000_000 + u64::from(i)
}

/// The 11-digit number called by call `i`.
pub fn callee_number(i: u32) -> u64 {
    43_000_000_000 + u64::from(i)
}

/// The 11-digit user of registration `j`.
pub fn registration_user(j: u32) -> u64 {
    44_000_000_000 + u64::from(j)
}

/// Address of the caller of call `i` (and of the client of registration `i`).
pub fn caller_addr(net: Ipv4Addr, i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net).wrapping_add(1).wrapping_add(i))
}

/// One UDP endpoint.
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    ip: Ipv4Addr,
    port: u16,
}

/// Parameters of one RTP stream.
#[derive(Debug, Clone, Copy)]
struct Stream {
    src: Endpoint,
    dst: Endpoint,
    ssrc: u32,
    seq0: u16,
    ts0: u32,
}

/// A pre-rendered SIP message.
#[derive(Debug)]
struct SipMsg {
    src: Endpoint,
    dst: Endpoint,
    payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Index into the SIP message list.
    Sip(u32),
    /// Stream index (`2 × call + direction`) and packet number within the stream.
    Rtp { stream: u32, k: u32 },
}

#[derive(Debug, Clone, Copy)]
struct Event {
    ts_us: u64,
    order: u64,
    kind: Kind,
}

/// Collects events and SIP messages.
#[derive(Debug, Default)]
struct Plan {
    events: Vec<Event>,
    sip: Vec<SipMsg>,
    streams: Vec<Stream>,
}

impl Plan {
    fn push(&mut self, ts_us: u64, kind: Kind) {
        let order = self.events.len() as u64;
        self.events.push(Event { ts_us, order, kind });
    }

    fn sip(&mut self, ts_us: u64, src: Endpoint, dst: Endpoint, payload: String) {
        let idx = u32::try_from(self.sip.len()).unwrap_or(u32::MAX);
        self.sip.push(SipMsg {
            src,
            dst,
            payload: payload.into_bytes(),
        });
        self.push(ts_us, Kind::Sip(idx));
    }
}

/// Checks a configuration.
pub fn validate(cfg: &Config) -> Result<(), String> {
    if !(0.0..=100.0).contains(&cfg.loss_pct) {
        return Err(format!("--loss {} is outside 0..=100", cfg.loss_pct));
    }
    if cfg.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    if cfg.jitter_ms > 1000 {
        return Err("--jitter must be at most 1000 ms".into());
    }
    Ok(())
}

/// Generates the capture described by `cfg` into `out` (give it a `BufWriter` for files).
pub fn generate<W: Write>(cfg: &Config, out: W) -> io::Result<Summary> {
    validate(cfg).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut plan = Plan::default();
    let spacing = call_spacing_us(cfg.duration_secs, cfg.concurrency);
    for i in 0..cfg.calls {
        plan_call(cfg, i, u64::from(i) * spacing, &mut plan);
    }
    for j in 0..cfg.registrations {
        plan_registration(cfg, j, u64::from(j) * REGISTRATION_SPACING_US, &mut plan);
    }
    plan.events.sort_unstable_by_key(|e| (e.ts_us, e.order));

    let mut counting = CountingWriter { inner: out, n: 0 };
    let mut summary = Summary {
        calls: u64::from(cfg.calls),
        registrations: u64::from(cfg.registrations),
        ..Summary::default()
    };
    {
        let mut writer = PcapWriter::new(&mut counting, linktype::ETHERNET, SNAPLEN, false)?;
        let mut frame = Vec::with_capacity(2048);
        let mut ident: u16 = 0;
        for e in &plan.events {
            ident = ident.wrapping_add(1);
            frame.clear();
            match e.kind {
                Kind::Sip(idx) => {
                    let m = &plan.sip[idx as usize];
                    udp_frame(&mut frame, m.src, m.dst, ident, &m.payload);
                    summary.sip_messages += 1;
                }
                Kind::Rtp { stream, k } => {
                    let s = plan.streams[stream as usize];
                    let mut rtp = [0u8; 12 + RTP_PAYLOAD_LEN];
                    rtp_packet(&mut rtp, &s, k);
                    udp_frame(&mut frame, s.src, s.dst, ident, &rtp);
                    summary.rtp_packets += 1;
                }
            }
            let secs = i64::from(cfg.start_unix) + (e.ts_us / 1_000_000) as i64;
            let nanos = ((e.ts_us % 1_000_000) * 1000) as u32;
            let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
            writer.write_packet(Timestamp::new(secs, nanos), &frame, len)?;
            summary.packets += 1;
        }
        writer.flush()?;
    }
    summary.bytes = counting.n;
    Ok(summary)
}

/// Counts bytes passing through.
#[derive(Debug)]
struct CountingWriter<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x00, o[0], o[1], o[2], o[3]]
}

/// Internet checksum of an IPv4 header.
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Appends an Ethernet II / IPv4 / UDP frame carrying `payload` (UDP checksum 0).
fn udp_frame(frame: &mut Vec<u8>, src: Endpoint, dst: Endpoint, ident: u16, payload: &[u8]) {
    frame.extend_from_slice(&mac_of(dst.ip));
    frame.extend_from_slice(&mac_of(src.ip));
    frame.extend_from_slice(&0x0800u16.to_be_bytes());
    let udp_len = 8 + payload.len();
    let total = u16::try_from(20 + udp_len).unwrap_or(u16::MAX);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&ident.to_be_bytes());
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src.ip.octets());
    ip[16..20].copy_from_slice(&dst.ip.octets());
    let sum = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&src.port.to_be_bytes());
    frame.extend_from_slice(&dst.port.to_be_bytes());
    frame.extend_from_slice(&u16::try_from(udp_len).unwrap_or(u16::MAX).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(payload);
}

/// Fills RTP packet `k` of stream `s` (PCMA, pt 8, marker on the first).
fn rtp_packet(buf: &mut [u8; 12 + RTP_PAYLOAD_LEN], s: &Stream, k: u32) {
    buf[0] = 0x80;
    buf[1] = if k == 0 { 0x80 | 8 } else { 8 };
    let seq = s.seq0.wrapping_add(k as u16);
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    let ts = s.ts0.wrapping_add(k.wrapping_mul(RTP_PAYLOAD_LEN as u32));
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&s.ssrc.to_be_bytes());
    // A cheap deterministic "tone" around A-law silence (0xd5).
    for (n, b) in buf[12..].iter_mut().enumerate() {
        *b = 0xd5 ^ (((n as u32 + k) & 0x0f) as u8);
    }
}

fn sdp(ip: Ipv4Addr, port: u16, session: u64) -> String {
    format!(
        "v=0\r\no=- {session} {session} IN IP4 {ip}\r\ns=gen-traffic\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

/// Common headers of a dialog message, in the order Via, Max-Forwards (requests), From, To,
/// Call-ID, CSeq.
struct Dialog<'a> {
    via: &'a str,
    from: &'a str,
    to: &'a str,
    call_id: &'a str,
}

fn request(
    start: &str,
    d: &Dialog<'_>,
    cseq: &str,
    contact: Option<&str>,
    extra: &str,
    body: Option<(&str, &str)>,
) -> String {
    let mut s = String::with_capacity(1024);
    let _ = write!(
        s,
        "{start}\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq}\r\n",
        d.via, d.from, d.to, d.call_id
    );
    finish(&mut s, contact, extra, body);
    s
}

fn response(
    status: &str,
    d: &Dialog<'_>,
    cseq: &str,
    contact: Option<&str>,
    extra: &str,
    body: Option<(&str, &str)>,
) -> String {
    let mut s = String::with_capacity(1024);
    let _ = write!(
        s,
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq}\r\n",
        d.via, d.from, d.to, d.call_id
    );
    finish(&mut s, contact, extra, body);
    s
}

fn finish(s: &mut String, contact: Option<&str>, extra: &str, body: Option<(&str, &str)>) {
    if let Some(c) = contact {
        let _ = write!(s, "Contact: {c}\r\n");
    }
    s.push_str(extra);
    s.push_str("User-Agent: gen-traffic\r\n");
    match body {
        Some((ctype, b)) => {
            let _ = write!(
                s,
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            );
        }
        None => s.push_str("Content-Length: 0\r\n\r\n"),
    }
}

fn plan_call(cfg: &Config, i: u32, t0: u64, plan: &mut Plan) {
    let mut rng = rng_for(cfg.seed, 1, u64::from(i));
    let a_ip = caller_addr(cfg.caller_net, i);
    let b_ip = cfg.callee;
    let a_sip = Endpoint {
        ip: a_ip,
        port: SIP_PORT,
    };
    let b_sip = Endpoint {
        ip: b_ip,
        port: SIP_PORT,
    };
    let a_rtp = Endpoint {
        ip: a_ip,
        port: 10_000 + 2 * (i % 10_000) as u16,
    };
    let b_rtp = Endpoint {
        ip: b_ip,
        port: 30_000 + 2 * (i % 10_000) as u16,
    };
    let a_user = caller_number(i);
    let b_user = callee_number(i);
    let from_tag = rng.hex(4);
    let to_tag = rng.hex(4);
    let call_id = format!("{i}-{}@{a_ip}", cfg.seed);
    let from = format!("<sip:{a_user}@{a_ip}>;tag={from_tag}");
    let to_plain = format!("<sip:{b_user}@{b_ip}>");
    let to_tagged = format!("{to_plain};tag={to_tag}");
    let a_contact = format!("<sip:{a_user}@{a_ip}:{SIP_PORT}>");
    let b_contact = format!("<sip:{b_user}@{b_ip}:{SIP_PORT}>");
    let invite_via = format!(
        "SIP/2.0/UDP {a_ip}:{SIP_PORT};branch=z9hG4bK{};rport",
        rng.hex(8)
    );
    let ack_via = format!("SIP/2.0/UDP {a_ip}:{SIP_PORT};branch=z9hG4bK{}", rng.hex(8));
    let bye_via = format!("SIP/2.0/UDP {a_ip}:{SIP_PORT};branch=z9hG4bK{}", rng.hex(8));
    let a_session = u64::from(rng.next_u32());
    let b_session = u64::from(rng.next_u32());
    let allow = "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n";

    let inv = Dialog {
        via: &invite_via,
        from: &from,
        to: &to_plain,
        call_id: &call_id,
    };
    let inv_tagged = Dialog {
        to: &to_tagged,
        ..inv
    };
    let offer = sdp(a_ip, a_rtp.port, a_session);
    let answer = sdp(b_ip, b_rtp.port, b_session);
    let ruri = format!("sip:{b_user}@{b_ip}:{SIP_PORT}");
    let inv_msg = request(
        &format!("INVITE {ruri} SIP/2.0"),
        &inv,
        "1 INVITE",
        Some(&a_contact),
        allow,
        Some(("application/sdp", &offer)),
    );
    plan.sip(t0, a_sip, b_sip, inv_msg);
    let trying = response("100 Trying", &inv, "1 INVITE", None, "", None);
    plan.sip(t0 + TRYING_US, b_sip, a_sip, trying);
    let ringing = response(
        "180 Ringing",
        &inv_tagged,
        "1 INVITE",
        Some(&b_contact),
        "",
        None,
    );
    plan.sip(t0 + RINGING_US, b_sip, a_sip, ringing);
    let ok = response(
        "200 OK",
        &inv_tagged,
        "1 INVITE",
        Some(&b_contact),
        allow,
        Some(("application/sdp", &answer)),
    );
    plan.sip(t0 + OK_US, b_sip, a_sip, ok);
    let ack_d = Dialog {
        via: &ack_via,
        ..inv_tagged
    };
    let ack = request(
        &format!("ACK {ruri} SIP/2.0"),
        &ack_d,
        "1 ACK",
        Some(&a_contact),
        "",
        None,
    );
    plan.sip(t0 + ACK_US, a_sip, b_sip, ack);

    // RTP, both directions.
    let media_start = t0 + MEDIA_US;
    let media_end = media_start + u64::from(cfg.duration_secs) * 1_000_000;
    let n = cfg.duration_secs * RTP_RATE;
    let loss = cfg.loss_pct / 100.0;
    let jitter_us = u64::from(cfg.jitter_ms) * 1000;
    for (src, dst) in [(a_rtp, b_rtp), (b_rtp, a_rtp)] {
        let stream = Stream {
            src,
            dst,
            ssrc: rng.next_u32(),
            seq0: rng.next_u32() as u16,
            ts0: rng.next_u32(),
        };
        let idx = u32::try_from(plan.streams.len()).unwrap_or(u32::MAX);
        plan.streams.push(stream);
        for k in 0..n {
            let lost = loss > 0.0 && rng.next_f64() < loss;
            let offset = rng.symmetric(jitter_us);
            if lost {
                continue;
            }
            let nominal = media_start + u64::from(k) * RTP_INTERVAL_US;
            let arrival = nominal.saturating_add_signed(offset).clamp(
                t0 + ACK_US + 1,
                media_end.saturating_sub(1).max(t0 + ACK_US + 1),
            );
            plan.push(arrival, Kind::Rtp { stream: idx, k });
        }
    }

    // BYE from the caller and its 200 OK.
    let bye_d = Dialog {
        via: &bye_via,
        ..inv_tagged
    };
    let bye = request(
        &format!("BYE {ruri} SIP/2.0"),
        &bye_d,
        "2 BYE",
        Some(&a_contact),
        "",
        None,
    );
    plan.sip(media_end, a_sip, b_sip, bye);
    let bye_ok = response("200 OK", &bye_d, "2 BYE", Some(&b_contact), "", None);
    plan.sip(media_end + 10_000, b_sip, a_sip, bye_ok);
}

fn plan_registration(cfg: &Config, j: u32, t0: u64, plan: &mut Plan) {
    let mut rng = rng_for(cfg.seed, 2, u64::from(j));
    let c_ip = caller_addr(cfg.caller_net, j);
    let r_ip = cfg.callee;
    let client = Endpoint {
        ip: c_ip,
        port: SIP_PORT,
    };
    let registrar = Endpoint {
        ip: r_ip,
        port: SIP_PORT,
    };
    let user = registration_user(j);
    let realm = r_ip.to_string();
    let uri = format!("sip:{r_ip}");
    let call_id = format!("reg-{j}-{}@{c_ip}", cfg.seed);
    let from = format!("<sip:{user}@{r_ip}>;tag={}", rng.hex(4));
    let to = format!("<sip:{user}@{r_ip}>");
    let to_tagged = format!("{to};tag={}", rng.hex(4));
    let contact = format!("<sip:{user}@{c_ip}:{SIP_PORT}>");
    let via1 = format!(
        "SIP/2.0/UDP {c_ip}:{SIP_PORT};branch=z9hG4bK{};rport",
        rng.hex(8)
    );
    let via2 = format!(
        "SIP/2.0/UDP {c_ip}:{SIP_PORT};branch=z9hG4bK{};rport",
        rng.hex(8)
    );
    let nonce = rng.hex(16);
    let start = format!("REGISTER {uri} SIP/2.0");

    let d1 = Dialog {
        via: &via1,
        from: &from,
        to: &to,
        call_id: &call_id,
    };
    let reg1 = request(
        &start,
        &d1,
        "1 REGISTER",
        Some(&contact),
        "Expires: 3600\r\n",
        None,
    );
    plan.sip(t0, client, registrar, reg1);
    let challenge =
        format!("WWW-Authenticate: Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5\r\n");
    let d1t = Dialog {
        to: &to_tagged,
        ..d1
    };
    let unauth = response(
        "401 Unauthorized",
        &d1t,
        "1 REGISTER",
        None,
        &challenge,
        None,
    );
    plan.sip(t0 + 5_000, registrar, client, unauth);

    let ha1 = md5::md5_hex(format!("{user}:{realm}:{PASSWORD}").as_bytes());
    let ha2 = md5::md5_hex(format!("REGISTER:{uri}").as_bytes());
    let digest = md5::md5_hex(format!("{ha1}:{nonce}:{ha2}").as_bytes());
    let auth = format!(
        "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{digest}\", algorithm=MD5\r\nExpires: 3600\r\n"
    );
    let d2 = Dialog { via: &via2, ..d1 };
    let reg2 = request(&start, &d2, "2 REGISTER", Some(&contact), &auth, None);
    plan.sip(t0 + 10_000, client, registrar, reg2);
    let d2t = Dialog {
        to: &to_tagged,
        ..d2
    };
    let ok_contact = format!("{contact};expires=3600");
    let ok = response("200 OK", &d2t, "2 REGISTER", Some(&ok_contact), "", None);
    plan.sip(t0 + 15_000, registrar, client, ok);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_checksum_known_header() {
        // Example header from RFC 1071-style walkthroughs (wikipedia IPv4 checksum example).
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_checksum(&h), 0xb861);
    }

    #[test]
    fn spacing_bounds_concurrency() {
        let len = call_length_us(10);
        let s = call_spacing_us(10, 200);
        assert!(s * 200 > len);
    }

    #[test]
    fn symmetric_stays_in_bounds() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..10_000 {
            let v = rng.symmetric(5);
            assert!((-5..=5).contains(&v));
        }
        assert_eq!(rng.symmetric(0), 0);
    }
}
