//! The SIP hot path on a typical ~800-byte INVITE with SDP (and the 200 OK answering it).
//! `cargo bench -p voipsensor-sip --bench parse`
//!
//! - `invite_parse_only`, `sdp_parse`: the two parsers alone.
//! - `invite_parse_extract_sdp`: parse + Call-ID/From/To/CSeq/Via/Contact + SDP (a fixed
//!   "everything a sniffer might want" set, kept for comparison with earlier numbers).
//! - `invite_call_path` / `ok_call_path`: exactly the accessors `voipsensor-calls` calls (as of
//!   2026-12-05) for the INVITE that creates a call (`CallTable::handle_sip`, `Call::new`,
//!   `Call::on_sip` with the Via branches for the hop table, `take_sdp`) and for the 200 OK with
//!   SDP answering it, duplicate calls included, without the call table's own work (hash
//!   lookups, `String`s, media bindings). Keep them in step with that crate.
//!
//! Two modes without criterion, for a shared machine where wall time is noisy:
//! - `SIP_BENCH_LOOP=<name>:<n>` runs one workload `n` times, for instruction counts:
//!   `SIP_BENCH_LOOP=invite_call_path:2000 valgrind --tool=callgrind target/release/deps/parse-*`;
//!   (Ir at n = 2000 − Ir at n = 0) / 2000 is the cost of one message.
//! - `SIP_BENCH_MIN=<n>` prints each workload's fastest of 50 rounds of `n` iterations.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use voipsensor_sip::{Framing, HeaderPos, MAX_HEADERS, Message, Method, Parsed, Sdp};

const INVITE: &[u8] = b"INVITE sip:+15551234567@203.0.113.10:5060;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---77ba2f4ab8d9e1c3;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:alice@198.51.100.7:5060;transport=udp>\r\n\
To: <sip:+15551234567@203.0.113.10;user=phone>\r\n\
From: \"Alice Example\" <sip:alice@example.com>;tag=9fxced76sl\r\n\
Call-ID: 3848276298220188511@198.51.100.7\r\n\
CSeq: 1 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
Content-Type: application/sdp\r\n\
Supported: replaces, norefersub, extended-refer, timer, outbound, path, X-cisco-serviceuri\r\n\
User-Agent: Z 5.5.12 v2.10.19.9\r\n\
Allow-Events: presence, kpml, talk\r\n\
Content-Length: 253\r\n\
\r\n\
v=0\r\n\
o=Z 1700000000 1 IN IP4 198.51.100.7\r\n\
s=Z\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 8000 RTP/AVP 106 9 98 101 0 8 3\r\n\
a=rtpmap:106 opus/48000/2\r\n\
a=rtpmap:98 telephone-event/48000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n";

const OK: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---77ba2f4ab8d9e1c3;rport=5060\r\n\
Record-Route: <sip:203.0.113.10;lr>\r\n\
Contact: <sip:+15551234567@203.0.113.20:5060>\r\n\
To: <sip:+15551234567@203.0.113.10;user=phone>;tag=as5b2c6f1e\r\n\
From: \"Alice Example\" <sip:alice@example.com>;tag=9fxced76sl\r\n\
Call-ID: 3848276298220188511@198.51.100.7\r\n\
CSeq: 1 INVITE\r\n\
Server: Asterisk PBX 18.20.0\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE\r\n\
Supported: replaces, timer\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 230\r\n\
\r\n\
v=0\r\n\
o=- 1700000001 1700000002 IN IP4 203.0.113.20\r\n\
s=Asterisk\r\n\
c=IN IP4 203.0.113.20\r\n\
t=0 0\r\n\
m=audio 17412 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=sendrecv\r\n";

/// Parse + a fixed set of fields + SDP. The index is the caller's and reused for every message,
/// as the sniffer does.
fn parse_and_extract(bytes: &[u8], index: &mut [HeaderPos]) -> usize {
    let Ok(Parsed::Complete(msg, _)) = Message::parse(bytes, index, Framing::Datagram) else {
        return 0;
    };
    let mut acc = msg.call_id().map_or(0, <[u8]>::len);
    if let Some(from) = msg.from() {
        acc +=
            from.uri.user().len() + from.display_name().len() + from.tag().map_or(0, <[u8]>::len);
    }
    if let Some(to) = msg.to() {
        acc += to.uri.user().len() + to.uri.host.len();
    }
    acc += msg.cseq().map_or(0, |c| c.seq as usize);
    acc += msg
        .vias()
        .map(|v| v.branch().map_or(0, <[u8]>::len))
        .sum::<usize>();
    acc += msg
        .contacts()
        .filter_map(|c| c.addr().map(|a| a.uri.host.len()))
        .sum::<usize>();
    if let Some(sdp) = msg.sdp_body().and_then(|b| Sdp::parse(b).ok()) {
        for m in sdp.media() {
            acc += usize::from(m.port) + m.rtpmaps().count();
            acc += m.connection.map_or(0, |c| c.address.len());
        }
    }
    acc
}

/// `Call::take_sdp`: media bindings (address, RTP and RTCP port) and rtpmaps.
fn take_sdp(msg: &Message<'_, '_>) -> usize {
    let mut acc = 0;
    let Some(body) = msg.sdp_body() else {
        return 0;
    };
    let Ok(sdp) = Sdp::parse(body) else {
        return 0;
    };
    for m in sdp.media() {
        if !(m.is_audio() || m.is_image()) || m.port == 0 {
            continue;
        }
        let Some(ip) = m
            .connection
            .and_then(|c| c.ip())
            .filter(|ip| !ip.is_unspecified())
        else {
            continue;
        };
        acc += usize::from(ip.is_ipv4()) + usize::from(m.port);
        if !m.rtcp_mux {
            acc += m.rtcp.map_or(usize::from(m.port) + 1, |r| {
                usize::from(r.port) + usize::from(r.connection.and_then(|c| c.ip()).is_some())
            });
        }
        for rm in m.rtpmaps() {
            acc += usize::from(rm.encoding.eq_ignore_ascii_case(b"telephone-event"));
            acc += usize::from(rm.payload_type) + rm.clock_rate as usize;
        }
    }
    acc
}

/// What `voipsensor-calls` asks of the INVITE that creates a call: `CallTable::handle_sip`
/// (method, Call-ID, then method, CSeq and request/response again), `Call::new` (From, To,
/// User-Agent), `Call::on_sip` (From tag again, CSeq again, To tag, the Via branches for the
/// hop table) and `take_sdp`.
fn invite_call_path(bytes: &[u8], index: &mut [HeaderPos]) -> usize {
    let Ok(Parsed::Complete(msg, _)) = Message::parse(bytes, index, Framing::Datagram) else {
        return 0;
    };
    // CallTable::handle_sip
    let mut acc = usize::from(
        msg.method().or_else(|| msg.cseq().map(|c| c.method)) == Some(Method::Register),
    );
    let Some(cid) = msg.call_id().filter(|c| !c.is_empty() && c.len() <= 1024) else {
        return 0;
    };
    acc += cid.len();
    let method = msg.method();
    let cseq_method = msg.cseq().map(|c| c.method);
    if method == Some(Method::Register)
        || (!msg.is_request() && cseq_method == Some(Method::Register))
        || method != Some(Method::Invite)
    {
        return acc;
    }
    // Call::new
    let from = msg.from();
    let to = msg.to();
    if let Some(f) = from {
        acc += f.uri.user().len() + f.display_name_unescaped().len() + f.uri.host.len();
        acc += f.tag().map_or(0, <[u8]>::len);
    }
    if let Some(t) = to {
        acc += t.uri.user().len() + t.uri.host.len();
    }
    acc += msg.user_agent().map_or(0, <[u8]>::len);
    // Call::on_sip: sent_by_caller, CSeq, the INVITE branch (a new call: not in a dialog)
    acc += msg.from().and_then(|f| f.tag()).map_or(0, <[u8]>::len);
    acc += usize::from(msg.is_request());
    let cseq = msg.cseq();
    if let (Some(Method::Invite), None) = (msg.method(), msg.status_code()) {
        acc += usize::from(msg.to().and_then(|t| t.tag()).is_some());
        acc += msg
            .vias()
            .map(|v| v.branch().map_or(0, <[u8]>::len))
            .sum::<usize>();
        acc += cseq.map_or(0, |c| c.seq as usize);
    }
    if msg.method() != Some(Method::Message) {
        acc += take_sdp(&msg);
    }
    acc
}

/// What `voipsensor-calls` asks of a 200 OK with SDP answering the INVITE of an existing call:
/// `CallTable::handle_sip` (method else CSeq method, Call-ID), `Call::on_sip` (From tag, CSeq
/// again, method/status), `on_response` (User-Agent, top Via branch) and `take_sdp`.
fn ok_call_path(bytes: &[u8], index: &mut [HeaderPos]) -> usize {
    let Ok(Parsed::Complete(msg, _)) = Message::parse(bytes, index, Framing::Datagram) else {
        return 0;
    };
    let mut acc = usize::from(
        msg.method().or_else(|| msg.cseq().map(|c| c.method)) == Some(Method::Register),
    );
    let Some(cid) = msg.call_id().filter(|c| !c.is_empty() && c.len() <= 1024) else {
        return 0;
    };
    acc += cid.len();
    acc += msg.from().and_then(|f| f.tag()).map_or(0, <[u8]>::len);
    acc += usize::from(msg.is_request());
    let cseq = msg.cseq();
    if let (None, Some(code)) = (msg.method(), msg.status_code()) {
        acc += usize::from(code) + msg.user_agent().map_or(0, <[u8]>::len);
        if cseq.is_some_and(|c| c.method == Method::Invite) {
            acc += msg
                .top_via()
                .and_then(|v| v.branch())
                .map_or(0, <[u8]>::len);
        }
    }
    if msg.method() != Some(Method::Message) {
        acc += take_sdp(&msg);
    }
    acc
}

fn parse_only(bytes: &[u8], index: &mut [HeaderPos]) -> usize {
    match Message::parse(bytes, index, Framing::Datagram) {
        Ok(Parsed::Complete(m, _)) => m.header_count(),
        _ => 0,
    }
}

/// The SDP body of [`INVITE`].
fn invite_sdp() -> &'static [u8] {
    &INVITE[INVITE.len() - 253..]
}

fn sdp_only(body: &[u8], _: &mut [HeaderPos]) -> usize {
    Sdp::parse(body).map_or(0, |s| s.media().len())
}

type Workload = fn(&[u8], &mut [HeaderPos]) -> usize;

/// Every workload with its input, by bench name.
fn workloads() -> [(&'static str, Workload, &'static [u8]); 5] {
    [
        ("invite_parse_only", parse_only, INVITE),
        ("sdp_parse", sdp_only, invite_sdp()),
        ("invite_parse_extract_sdp", parse_and_extract, INVITE),
        ("invite_call_path", invite_call_path, INVITE),
        ("ok_call_path", ok_call_path, OK),
    ]
}

fn bench(c: &mut Criterion) {
    let mut index = [HeaderPos::EMPTY; MAX_HEADERS];
    let mut g = c.benchmark_group("sip");
    for (name, f, input) in workloads() {
        assert!(f(input, &mut index) > 0, "{name} does no work");
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(name, |b| b.iter(|| f(black_box(input), &mut index)));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = bench
}

/// `SIP_BENCH_MIN=<n>`: for each workload, the fastest of 50 rounds of `n` iterations, in ns per
/// iteration (the minimum is what survives other load on a shared machine).
fn min_times(n: u32) {
    let mut index = [HeaderPos::EMPTY; MAX_HEADERS];
    for (name, f, input) in workloads() {
        let mut best = f64::MAX;
        let mut acc = 0usize;
        for _ in 0..50 {
            let t = std::time::Instant::now();
            for _ in 0..n {
                acc = acc.wrapping_add(f(black_box(input), &mut index));
            }
            best = best.min(t.elapsed().as_secs_f64() * 1e9 / f64::from(n));
        }
        println!("{name:<26} {best:8.1} ns  ({acc})");
    }
}

/// `SIP_BENCH_LOOP=<name>:<n>`: run one workload `n` times (for callgrind); `SIP_BENCH_MIN=<n>`:
/// minimum times; else criterion.
fn main() {
    if let Some(n) = std::env::var("SIP_BENCH_MIN")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        min_times(n);
        return;
    }
    if let Ok(spec) = std::env::var("SIP_BENCH_LOOP") {
        let (name, n) = spec.split_once(':').expect("SIP_BENCH_LOOP=<name>:<n>");
        let n: u32 = n.parse().expect("iteration count");
        let (_, f, input) = workloads()
            .into_iter()
            .find(|(w, ..)| *w == name)
            .expect("unknown workload");
        let mut index = [HeaderPos::EMPTY; MAX_HEADERS];
        let mut acc = 0usize;
        for _ in 0..n {
            acc = acc.wrapping_add(f(black_box(input), &mut index));
        }
        println!("{name} x{n}: {acc}");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
