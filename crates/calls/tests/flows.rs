//! Call and registration flows driven through parsed SIP messages and built RTP packets.

use std::net::{IpAddr, Ipv4Addr};

use voipsensor_calls::{CallTable, CallsConfig, Endpoint};
use voipsensor_manager_proto::json::Value;
use voipsensor_manager_proto::{listcalls, listregisters};
use voipsensor_sip::{Framing, HeaderPos, MAX_HEADERS, Message, Parsed};

const T0: u64 = 1_776_167_857_000_000;
const S: u64 = 1_000_000;

fn ep(last: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port,
    }
}

fn a() -> Endpoint {
    ep(1, 5060)
}
fn b() -> Endpoint {
    ep(2, 5060)
}

fn ip_int(last: u8) -> Value {
    Value::Int(i64::from(u32::from(Ipv4Addr::new(10, 0, 0, last))))
}

/// Feeds `text` (LF line ends are turned into CRLF) as one datagram, if it parses.
fn feed(t: &mut CallTable, now: u64, src: Endpoint, dst: Endpoint, text: &str) -> bool {
    let bytes = text.replace('\n', "\r\n");
    feed_bytes(t, now, src, dst, bytes.as_bytes())
}

fn feed_bytes(t: &mut CallTable, now: u64, src: Endpoint, dst: Endpoint, bytes: &[u8]) -> bool {
    let mut index = [HeaderPos::EMPTY; MAX_HEADERS];
    match Message::parse(bytes, &mut index, Framing::Datagram) {
        Ok(Parsed::Complete(msg, _)) => {
            t.handle_sip(now, src, dst, None, &msg);
            true
        }
        _ => false,
    }
}

fn sdp(ip: &str, port: u16) -> String {
    format!(
        "v=0\no=- 1 1 IN IP4 {ip}\ns=-\nc=IN IP4 {ip}\nt=0 0\nm=audio {port} RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\n"
    )
}

fn request(method: &str, cseq: u32, to_tag: bool, extra: &str, body: &str) -> String {
    let tt = if to_tag { ";tag=bbb" } else { "" };
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\n".to_owned()
    };
    format!(
        "{method} sip:1002@example.com SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{cseq}\nFrom: \"Alice\" <sip:1001@example.com:5060>;tag=aaa\nTo: <sip:1002@example.org>{tt}\nCall-ID: call-1@10.0.0.1\nCSeq: {cseq} {method}\nUser-Agent: Caller UA\n{extra}{ct}Content-Length: {}\n\n{body}",
        body.len() + body.matches('\n').count()
    )
}

fn response(code: u16, reason: &str, cseq: u32, method: &str, extra: &str, body: &str) -> String {
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\n".to_owned()
    };
    format!(
        "SIP/2.0 {code} {reason}\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{cseq}\nFrom: \"Alice\" <sip:1001@example.com:5060>;tag=aaa\nTo: <sip:1002@example.org>;tag=bbb\nCall-ID: call-1@10.0.0.1\nCSeq: {cseq} {method}\n{extra}{ct}Content-Length: {}\n\n{body}",
        body.len() + body.matches('\n').count()
    )
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

fn only_row(t: &CallTable, now: u64) -> Vec<Value> {
    let rows = t.listcalls_rows(now);
    assert_eq!(rows.len(), 1, "one listed call");
    assert_eq!(rows[0].len(), listcalls::COLUMNS.len());
    rows.into_iter().next().unwrap_or_default()
}

fn col(row: &[Value], name: &str) -> Value {
    let i = listcalls::COLUMNS
        .iter()
        .position(|c| *c == name)
        .unwrap_or_else(|| panic!("column {name}"));
    row[i].clone()
}

fn rcol(row: &[Value], name: &str) -> Value {
    let i = listregisters::COLUMNS
        .iter()
        .position(|c| *c == name)
        .unwrap_or_else(|| panic!("column {name}"));
    row[i].clone()
}

fn int(row: &[Value], name: &str) -> i64 {
    match col(row, name) {
        Value::Int(i) => i,
        v => panic!("{name} is {v:?}"),
    }
}

/// INVITE (SDP) → 100 → 180 → 200 (SDP) → ACK, returns the table.
fn answered_call() -> CallTable {
    let mut t = CallTable::new(CallsConfig::default());
    feed(
        &mut t,
        T0,
        a(),
        b(),
        &request("INVITE", 1, false, "", &sdp("10.0.0.1", 10000)),
    );
    feed(
        &mut t,
        T0 + S / 10,
        b(),
        a(),
        &response(100, "Trying", 1, "INVITE", "", ""),
    );
    feed(
        &mut t,
        T0 + S,
        b(),
        a(),
        &response(180, "Ringing", 1, "INVITE", "", ""),
    );
    feed(
        &mut t,
        T0 + 3 * S,
        b(),
        a(),
        &response(
            200,
            "OK",
            1,
            "INVITE",
            "User-Agent: Callee UA\n",
            &sdp("10.0.0.2", 20000),
        ),
    );
    feed(
        &mut t,
        T0 + 3 * S + 1000,
        a(),
        b(),
        &request("ACK", 1, true, "", ""),
    );
    t
}

#[test]
fn invite_row_before_responses() {
    let mut t = CallTable::new(CallsConfig::default());
    feed(
        &mut t,
        T0,
        a(),
        b(),
        &request("INVITE", 1, false, "", &sdp("10.0.0.1", 10000)),
    );
    let r = only_row(&t, T0 + 500_000);
    assert_eq!(col(&r, "callid"), Value::Str("call-1@10.0.0.1".into()));
    assert_eq!(
        col(&r, "calldate"),
        Value::Str("2026-04-14 11:57:37".into())
    );
    assert_eq!(int(&r, "calldate_num"), 1_776_167_857);
    assert_eq!(int(&r, "duration"), 0);
    assert_eq!(int(&r, "lastSIPresponseNum"), 0);
    assert_eq!(col(&r, "caller"), Value::Str("1001".into()));
    assert_eq!(col(&r, "called"), Value::Str("1002".into()));
    assert_eq!(col(&r, "callername"), Value::Str("Alice".into()));
    assert_eq!(col(&r, "callerdomain"), Value::Str("example.com".into()));
    assert_eq!(col(&r, "calleddomain"), Value::Str("example.org".into()));
    assert_eq!(col(&r, "calleragent"), Value::Str("Caller UA".into()));
    assert_eq!(col(&r, "calledagent"), Value::Null);
    assert_eq!(col(&r, "callerip"), ip_int(1));
    assert_eq!(col(&r, "calledip"), ip_int(2));
    assert_eq!(int(&r, "callercodec"), -1);
    assert_eq!(int(&r, "calledcodec"), -1);
    assert_eq!(col(&r, "src_mosf1"), Value::Int(45));
    assert_eq!(col(&r, "src_mosf1_avg"), Value::Null);
    assert_eq!(col(&r, "src_received"), Value::Null);
    assert_eq!(col(&r, "rtp_src"), Value::Null);
    assert_eq!(int(&r, "vlan"), 65534);
    assert_eq!(int(&r, "callerip_encaps_prot"), 255);
    assert_eq!(int(&r, "id_sensor"), -1);
    assert!(matches!(col(&r, "callreference"), Value::Str(s) if s.starts_with("0x")));
    assert_eq!(t.total_calls(), 1);
    assert_eq!(t.counters().calls_created, 1);
}

#[test]
fn answered_call_with_rtp_then_bye() {
    let mut t = CallTable::new(CallsConfig::default());
    let inv = request("INVITE", 1, false, "", &sdp("10.0.0.1", 10000));
    feed(&mut t, T0, a(), b(), &inv);
    let mut seen = vec![int(&only_row(&t, T0), "lastSIPresponseNum")];
    feed(
        &mut t,
        T0 + S / 10,
        b(),
        a(),
        &response(100, "Trying", 1, "INVITE", "", ""),
    );
    seen.push(int(&only_row(&t, T0 + S / 10), "lastSIPresponseNum"));
    feed(
        &mut t,
        T0 + S,
        b(),
        a(),
        &response(180, "Ringing", 1, "INVITE", "", ""),
    );
    seen.push(int(&only_row(&t, T0 + S), "lastSIPresponseNum"));
    let ok = response(
        200,
        "OK",
        1,
        "INVITE",
        "User-Agent: Callee UA\n",
        &sdp("10.0.0.2", 20000),
    );
    feed(&mut t, T0 + 3 * S, b(), a(), &ok);
    seen.push(int(&only_row(&t, T0 + 3 * S), "lastSIPresponseNum"));
    assert_eq!(seen, [0, 100, 180, 200]);
    feed(
        &mut t,
        T0 + 3 * S + 1000,
        a(),
        b(),
        &request("ACK", 1, true, "", ""),
    );

    // 50 packets each way, 20 ms apart.
    let (ra, rb) = (ep(1, 10000), ep(2, 20000));
    for i in 0..50u16 {
        let now = T0 + 4 * S + u64::from(i) * 20_000;
        assert!(t.handle_udp(now, ra, rb, &rtp(8, 100 + i, u32::from(i) * 160, 0x1111)));
        assert!(t.handle_udp(
            now + 5000,
            rb,
            ra,
            &rtp(8, 7000 + i, u32::from(i) * 160, 0x2222)
        ));
    }
    assert!(!t.handle_udp(T0 + 6 * S, ep(9, 1), ep(9, 2), &rtp(8, 1, 1, 1)));
    let now = T0 + 13 * S + S / 2;
    let r = only_row(&t, now);
    assert_eq!(int(&r, "duration"), 13);
    assert_eq!(int(&r, "connect_duration"), 10);
    assert_eq!(col(&r, "calledagent"), Value::Str("Callee UA".into()));
    assert_eq!(int(&r, "callercodec"), 8);
    assert_eq!(int(&r, "calledcodec"), 8);
    assert_eq!(int(&r, "src_received"), 48);
    assert_eq!(int(&r, "dst_received"), 48);
    assert_eq!(int(&r, "src_loss_abs"), 0);
    assert_eq!(col(&r, "src_loss"), Value::Float(0.0));
    assert_eq!(col(&r, "rtp_src"), ip_int(1));
    assert_eq!(col(&r, "rtp_dst"), ip_int(2));
    assert_eq!(
        [
            int(&r, "src_mosf1"),
            int(&r, "src_mosf1_avg"),
            int(&r, "src_mosf1_min")
        ],
        [45, 0, 45]
    );
    assert!(matches!(col(&r, "dst_jitter"), Value::Float(_)));
    assert_eq!(t.counters().rtp_packets, 100);

    // RTCP on port + 1 is taken but not counted as RTP.
    let mut rr = vec![0x80, 201, 0, 1];
    rr.extend_from_slice(&0x1111u32.to_be_bytes());
    assert!(t.handle_udp(now, ep(1, 10001), ep(2, 20001), &rr));
    assert_eq!(t.counters().rtcp_packets, 1);

    // BYE keeps the call listed; its 200 removes it at once; the object lingers.
    let bye_t = T0 + 20 * S;
    feed(&mut t, bye_t, a(), b(), &request("BYE", 2, true, "", ""));
    assert_eq!(t.listcalls_rows(bye_t).len(), 1);
    feed(
        &mut t,
        bye_t + 2000,
        b(),
        a(),
        &response(200, "OK", 2, "BYE", "", ""),
    );
    assert!(t.listcalls_rows(bye_t + 3000).is_empty());
    assert_eq!(t.total_calls(), 1);
    t.handle_timeout(bye_t + 4 * S);
    assert_eq!(t.total_calls(), 1);
    t.handle_timeout(bye_t + 6 * S);
    assert_eq!(t.total_calls(), 1, "closed, not freed yet");
    assert!(!t.handle_udp(bye_t + 6 * S, ra, rb, &rtp(8, 200, 1, 0x1111)));
    t.handle_timeout(bye_t + 19 * S);
    assert_eq!(t.total_calls(), 1);
    t.handle_timeout(bye_t + 21 * S);
    assert_eq!(t.total_calls(), 0);
    assert_eq!(t.counters().calls_destroyed, 1);
}

#[test]
fn answered_call_ignores_later_responses() {
    let mut t = answered_call();
    feed(
        &mut t,
        T0 + 5 * S,
        a(),
        b(),
        &request("INVITE", 2, true, "", &sdp("10.0.0.1", 10002)),
    );
    feed(
        &mut t,
        T0 + 5 * S,
        b(),
        a(),
        &response(491, "Pending", 2, "INVITE", "", ""),
    );
    let r = only_row(&t, T0 + 6 * S);
    assert_eq!(int(&r, "lastSIPresponseNum"), 200);
    // No destroy timer for a re-INVITE error.
    t.handle_timeout(T0 + 60 * S);
    assert_eq!(t.listcalls_rows(T0 + 60 * S).len(), 1);
}

#[test]
fn busy_486_leaves_after_5s() {
    let mut t = CallTable::new(CallsConfig::default());
    feed(
        &mut t,
        T0,
        a(),
        b(),
        &request("INVITE", 1, false, "", &sdp("10.0.0.1", 10000)),
    );
    feed(
        &mut t,
        T0 + S / 10,
        b(),
        a(),
        &response(100, "Trying", 1, "INVITE", "", ""),
    );
    feed(
        &mut t,
        T0 + S,
        b(),
        a(),
        &response(180, "Ringing", 1, "INVITE", "", ""),
    );
    let t486 = T0 + 2 * S;
    feed(
        &mut t,
        t486,
        b(),
        a(),
        &response(486, "Busy Here", 1, "INVITE", "", ""),
    );
    feed(
        &mut t,
        t486 + 1000,
        a(),
        b(),
        &request("ACK", 1, true, "", ""),
    );
    assert_eq!(int(&only_row(&t, t486), "lastSIPresponseNum"), 486);
    t.handle_timeout(t486 + 4 * S);
    assert_eq!(t.listcalls_rows(t486 + 4 * S).len(), 1);
    assert!(t.listcalls_rows(t486 + 5 * S + 2000).is_empty());
    t.handle_timeout(t486 + 6 * S);
    assert!(t.listcalls_rows(t486 + 6 * S).is_empty());
    assert_eq!(t.total_calls(), 1);
    t.handle_timeout(t486 + 21 * S);
    assert_eq!(t.total_calls(), 0);
}

#[test]
fn cancel_shows_487_at_once() {
    let mut t = CallTable::new(CallsConfig::default());
    feed(
        &mut t,
        T0,
        a(),
        b(),
        &request("INVITE", 1, false, "", &sdp("10.0.0.1", 10000)),
    );
    feed(
        &mut t,
        T0 + S / 10,
        b(),
        a(),
        &response(100, "Trying", 1, "INVITE", "", ""),
    );
    feed(
        &mut t,
        T0 + S,
        b(),
        a(),
        &response(180, "Ringing", 1, "INVITE", "", ""),
    );
    feed(
        &mut t,
        T0 + 3 * S,
        a(),
        b(),
        &request("CANCEL", 1, false, "", ""),
    );
    assert_eq!(int(&only_row(&t, T0 + 3 * S), "lastSIPresponseNum"), 487);
    feed(
        &mut t,
        T0 + 5 * S,
        b(),
        a(),
        &response(200, "OK", 1, "CANCEL", "", ""),
    );
    assert_eq!(int(&only_row(&t, T0 + 5 * S), "lastSIPresponseNum"), 487);
    feed(
        &mut t,
        T0 + 5 * S,
        b(),
        a(),
        &response(487, "Request Terminated", 1, "INVITE", "", ""),
    );
    let ack = T0 + 5 * S + 1000;
    feed(&mut t, ack, a(), b(), &request("ACK", 1, true, "", ""));
    assert_eq!(int(&only_row(&t, ack), "lastSIPresponseNum"), 487);
    t.handle_timeout(ack + 14 * S);
    assert_eq!(t.listcalls_rows(ack + 14 * S).len(), 1);
    t.handle_timeout(ack + 15 * S + 100_000);
    assert!(t.listcalls_rows(ack + 15 * S + 100_000).is_empty());
    assert_eq!(t.total_calls(), 1);
    t.handle_timeout(ack + 31 * S);
    assert_eq!(t.total_calls(), 0);
}

#[test]
fn response_rules() {
    let mut t = CallTable::new(CallsConfig::default());
    feed(&mut t, T0, a(), b(), &request("INVITE", 1, false, "", ""));
    feed(
        &mut t,
        T0,
        b(),
        a(),
        &response(407, "Proxy Auth", 1, "INVITE", "", ""),
    );
    assert_eq!(int(&only_row(&t, T0), "lastSIPresponseNum"), 407);
    feed(
        &mut t,
        T0 + S,
        a(),
        b(),
        &request("INVITE", 2, false, "", ""),
    );
    feed(
        &mut t,
        T0 + S,
        b(),
        a(),
        &response(100, "Trying", 2, "INVITE", "", ""),
    );
    assert_eq!(
        int(&only_row(&t, T0 + S), "lastSIPresponseNum"),
        100,
        "1xx after 407"
    );
    feed(
        &mut t,
        T0 + S,
        b(),
        a(),
        &response(503, "Unavailable", 2, "INVITE", "", ""),
    );
    feed(
        &mut t,
        T0 + S,
        b(),
        a(),
        &response(500, "Error", 2, "INVITE", "", ""),
    );
    assert_eq!(
        int(&only_row(&t, T0 + S), "lastSIPresponseNum"),
        503,
        "first 5xx kept"
    );
    feed(
        &mut t,
        T0 + S,
        b(),
        a(),
        &response(180, "Ringing", 2, "INVITE", "", ""),
    );
    assert_eq!(
        int(&only_row(&t, T0 + S), "lastSIPresponseNum"),
        503,
        "final kept"
    );
}

#[test]
fn rtp_timeout_closes_call() {
    let cfg = CallsConfig {
        rtp_timeout_s: 30,
        ..CallsConfig::default()
    };
    let mut t = CallTable::new(cfg);
    feed(
        &mut t,
        T0,
        a(),
        b(),
        &request("INVITE", 1, false, "", &sdp("10.0.0.1", 10000)),
    );
    feed(
        &mut t,
        T0 + S,
        b(),
        a(),
        &response(200, "OK", 1, "INVITE", "", &sdp("10.0.0.2", 20000)),
    );
    // Symmetric RTP matched by source (destination unknown).
    assert!(t.handle_udp(T0 + 2 * S, ep(2, 20000), ep(7, 4000), &rtp(0, 1, 0, 9)));
    t.handle_timeout(T0 + 31 * S);
    assert_eq!(t.listcalls_rows(T0 + 31 * S).len(), 1);
    t.handle_timeout(T0 + 33 * S);
    assert!(t.listcalls_rows(T0 + 33 * S).is_empty());
    t.handle_timeout(T0 + 49 * S);
    assert_eq!(t.total_calls(), 0);
}

#[test]
fn sip_without_rtp_and_absolute_timeouts() {
    let cfg = CallsConfig {
        sip_without_rtp_timeout_s: 100,
        ..CallsConfig::default()
    };
    let mut t = answered_call();
    t.handle_timeout(T0 + 3599 * S);
    assert_eq!(t.listcalls_rows(T0 + 3599 * S).len(), 1);
    t.handle_timeout(T0 + 3600 * S);
    assert!(t.listcalls_rows(T0 + 3600 * S).is_empty());

    let mut t = CallTable::new(cfg);
    feed(&mut t, T0, a(), b(), &request("INVITE", 1, false, "", ""));
    feed(
        &mut t,
        T0,
        b(),
        a(),
        &response(180, "Ringing", 1, "INVITE", "", ""),
    );
    t.handle_timeout(T0 + 100 * S);
    assert!(t.listcalls_rows(T0 + 100 * S).is_empty());
}

#[test]
fn caps_and_long_call_ids() {
    let cfg = CallsConfig {
        max_calls: 2,
        ..CallsConfig::default()
    };
    let mut t = CallTable::new(cfg);
    for i in 0..3 {
        let inv = request("INVITE", 1, false, "", "").replace("call-1@", &format!("call-{i}x@"));
        feed(&mut t, T0, a(), b(), &inv);
    }
    assert_eq!(t.total_calls(), 2);
    assert_eq!(t.counters().calls_refused, 1);
    let long = "x".repeat(1024);
    let inv = request("INVITE", 1, false, "", "").replace("call-1@10.0.0.1", &long);
    feed(&mut t, T0, a(), b(), &inv);
    assert_eq!(t.total_calls(), 2);
    assert_eq!(t.counters().sip_ignored, 1);

    let cfg = CallsConfig {
        max_registers: 1,
        ..CallsConfig::default()
    };
    let mut t = CallTable::new(cfg);
    feed(&mut t, T0, a(), b(), &register(1, "r1", "", ""));
    feed(&mut t, T0, a(), b(), &register(1, "r2", "", ""));
    assert_eq!(t.counters().registers_refused, 1);
}

fn register(cseq: u32, call_id: &str, auth: &str, user: &str) -> String {
    let user = if user.is_empty() { "1001" } else { user };
    format!(
        "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKr{cseq}\nFrom: \"Alice\" <sip:{user}@example.com>;tag=r1\nTo: <sip:{user}@example.com>\nCall-ID: {call_id}\nCSeq: {cseq} REGISTER\nContact: <sip:{user}@10.0.0.1:5060>\nExpires: 3600\nUser-Agent: Phone 1\n{auth}Content-Length: 0\n\n"
    )
}

fn reg_response(code: u16, reason: &str, cseq: u32, call_id: &str, extra: &str) -> String {
    format!(
        "SIP/2.0 {code} {reason}\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKr{cseq}\nFrom: \"Alice\" <sip:1001@example.com>;tag=r1\nTo: <sip:1001@example.com>;tag=s1\nCall-ID: {call_id}\nCSeq: {cseq} REGISTER\n{extra}Content-Length: 0\n\n"
    )
}

const AUTH: &str = "Authorization: Digest username=\"alice\", realm=\"asterisk\", nonce=\"n\", uri=\"sip:example.com\", response=\"r\"\n";

#[test]
fn register_401_then_200_is_ok_and_expires() {
    let mut t = CallTable::new(CallsConfig::default());
    feed(&mut t, T0, a(), b(), &register(1, "reg-1", "", ""));
    feed(
        &mut t,
        T0 + 1000,
        b(),
        a(),
        &reg_response(401, "Unauthorized", 1, "reg-1", ""),
    );
    assert_eq!(t.total_registers(), 0);
    feed(&mut t, T0 + 2000, a(), b(), &register(2, "reg-1", AUTH, ""));
    let contact = "Contact: <sip:1001@10.0.0.1:5060>;expires=120\n";
    feed(
        &mut t,
        T0 + 3134,
        b(),
        a(),
        &reg_response(200, "OK", 2, "reg-1", contact),
    );
    assert_eq!(t.total_registers(), 1);
    assert_eq!(t.total_calls(), 0);
    assert!(t.listcalls_rows(T0).is_empty());
    let rows = t.register_rows(T0 + S);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.len(), listregisters::COLUMNS.len());
    assert_eq!(rcol(r, "state"), Value::Int(1));
    assert_eq!(rcol(r, "expires"), Value::Int(120));
    assert_eq!(
        rcol(r, "calldate"),
        Value::Str("2026-04-14 11:57:37".into())
    );
    assert_eq!(
        rcol(r, "expires_at"),
        Value::Str("2026-04-14 11:59:37".into())
    );
    assert_eq!(rcol(r, "from_num"), Value::Str("1001".into()));
    assert_eq!(rcol(r, "from_name"), Value::Str("Alice".into()));
    assert_eq!(rcol(r, "to_domain"), Value::Str("example.com".into()));
    assert_eq!(rcol(r, "contact_domain"), Value::Str("10.0.0.1".into()));
    assert_eq!(rcol(r, "digestusername"), Value::Str("alice".into()));
    assert_eq!(rcol(r, "digestrealm"), Value::Str("asterisk".into()));
    assert_eq!(rcol(r, "sipcallerip"), ip_int(1));
    assert_eq!(rcol(r, "sipcalledport"), Value::Int(5060));
    assert_eq!(rcol(r, "ua"), Value::Str("Phone 1".into()));
    assert_eq!(rcol(r, "rrd_avg"), Value::Float(1.134));
    assert_eq!(rcol(r, "vlan"), Value::Null);
    let Value::Int(id) = rcol(r, "ID") else {
        panic!("ID")
    };
    // One register_state row for the new OK state (§4.4), taken once.
    let db = t.take_register_rows();
    assert_eq!(db.len(), 1);
    assert!(!db[0].failed);
    assert_eq!((db[0].state, db[0].expires), (1, 120));
    assert_eq!(db[0].created_us, T0, "the transaction's first REGISTER");
    assert_eq!(db[0].digest_username, "alice");
    assert_eq!(db[0].ua, "Phone 1");
    assert!(t.take_register_rows().is_empty());

    // 120 s + 30 s grace later the next maintenance pass (every >= 30 s) marks it Expired.
    t.handle_timeout(T0 + 140 * S);
    assert_eq!(rcol(&t.register_rows(T0)[0], "state"), Value::Int(1));
    t.handle_timeout(T0 + 151 * S);
    assert_eq!(
        rcol(&t.register_rows(T0)[0], "state"),
        Value::Int(1),
        "no pass yet"
    );
    t.handle_timeout(T0 + 170 * S);
    let r = &t.register_rows(T0 + 170 * S)[0];
    assert_eq!(rcol(r, "state"), Value::Int(5));
    assert_eq!(rcol(r, "expires"), Value::Int(0));
    assert_eq!(
        rcol(r, "calldate"),
        Value::Str("2026-04-14 11:59:37".into())
    );

    // A new OK under the same ID.
    feed(
        &mut t,
        T0 + 200 * S,
        a(),
        b(),
        &register(3, "reg-2", AUTH, ""),
    );
    feed(
        &mut t,
        T0 + 200 * S,
        b(),
        a(),
        &reg_response(200, "OK", 3, "reg-2", ""),
    );
    let r = &t.register_rows(T0 + 200 * S)[0];
    assert_eq!(rcol(r, "state"), Value::Int(1));
    assert_eq!(rcol(r, "ID"), Value::Int(id));
    let db = t.take_register_rows();
    assert_eq!(
        db.len(),
        2,
        "the Expired state's row, then the new OK state's: {db:?}"
    );
    assert_eq!((db[0].state, db[0].expires), (5, 0));
    assert_eq!(
        db[0].created_us,
        T0 + 2000 + 120 * S,
        "Expired at state_to (the last REGISTER) + expires"
    );
    assert_eq!((db[1].state, db[1].created_us), (1, T0 + 200 * S));
    assert_eq!(rcol(r, "expires"), Value::Int(3600));
    assert_eq!(t.total_registers(), 1);
}

#[test]
fn register_401_then_403_fails_and_is_dropped() {
    let mut t = CallTable::new(CallsConfig::default());
    feed(&mut t, T0, a(), b(), &register(1, "reg-x", "", "2002"));
    feed(
        &mut t,
        T0,
        b(),
        a(),
        &reg_response(401, "Unauthorized", 1, "reg-x", ""),
    );
    feed(
        &mut t,
        T0 + 1000,
        a(),
        b(),
        &register(2, "reg-x", AUTH, "2002"),
    );
    feed(
        &mut t,
        T0 + 2000,
        b(),
        a(),
        &reg_response(403, "Forbidden", 2, "reg-x", ""),
    );
    let r = &t.register_rows(T0 + S)[0];
    assert_eq!(rcol(r, "state"), Value::Int(2));
    assert_eq!(rcol(r, "expires"), Value::Int(3600));
    assert_eq!(rcol(r, "rrd_avg"), Value::Null);
    assert!(matches!(rcol(r, "expires_at"), Value::Str(_)));
    t.handle_timeout(T0 + 30 * S);
    assert_eq!(t.total_registers(), 1);
    t.handle_timeout(T0 + 61 * S);
    assert_eq!(t.total_registers(), 0);
}

#[test]
fn register_two_challenges_fail_and_unregister() {
    let mut t = CallTable::new(CallsConfig::default());
    feed(&mut t, T0, a(), b(), &register(1, "r", "", ""));
    feed(
        &mut t,
        T0,
        b(),
        a(),
        &reg_response(401, "Unauthorized", 1, "r", ""),
    );
    feed(&mut t, T0, a(), b(), &register(2, "r", AUTH, ""));
    feed(
        &mut t,
        T0,
        b(),
        a(),
        &reg_response(401, "Unauthorized", 2, "r", ""),
    );
    assert_eq!(rcol(&t.register_rows(T0)[0], "state"), Value::Int(2));

    let unreg = register(3, "u", AUTH, "").replace("Expires: 3600", "Expires: 0");
    feed(&mut t, T0 + S, a(), b(), &unreg);
    feed(
        &mut t,
        T0 + S,
        b(),
        a(),
        &reg_response(200, "OK", 3, "u", ""),
    );
    let r = &t.register_rows(T0 + S)[0];
    assert_eq!(rcol(r, "state"), Value::Int(6));
    assert_eq!(t.total_registers(), 1);

    // A REGISTER never answered fails on timeout.
    feed(
        &mut t,
        T0 + 2 * S,
        a(),
        b(),
        &register(1, "lonely", "", "3003"),
    );
    t.handle_timeout(T0 + 8 * S);
    assert_eq!(t.total_registers(), 2);
}

/// Deterministic xorshift.
fn rng(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn garbage_never_panics() {
    let mut t = CallTable::new(CallsConfig {
        max_calls: 50,
        max_registers: 50,
        ..CallsConfig::default()
    });
    let seeds = [
        request("INVITE", 1, false, "", &sdp("10.0.0.1", 10000)),
        response(200, "OK", 1, "INVITE", "", &sdp("10.0.0.2", 20000)),
        request("BYE", 2, true, "", ""),
        request("CANCEL", 1, false, "", ""),
        register(1, "g", AUTH, ""),
        reg_response(200, "OK", 1, "g", "Contact: *;expires=x\n"),
        "INVITE sip:x SIP/2.0\r\nCall-ID: bare\r\n\r\n".to_owned(),
        "SIP/2.0 200 OK\r\nCall-ID: bare\r\n\r\n".to_owned(),
        "SIP/2.0 486 Busy\r\nCall-ID: bare\r\nCSeq: x\r\n\r\n".to_owned(),
        "REGISTER sip:x SIP/2.0\r\nCall-ID: r\r\nContact: ,,,\r\nExpires: 99999999999\r\n\r\n"
            .to_owned(),
        "SIP/2.0 200 OK\r\nCall-ID: r\r\nCSeq: 1 REGISTER\r\n\r\n".to_owned(),
        "INVITE sip:x SIP/2.0\r\nFrom: <>\r\nTo: garbage\r\nCall-ID: \r\n\r\n".to_owned(),
    ];
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut now = T0;
    for round in 0..3000 {
        let seed = seeds[round % seeds.len()]
            .replace('\n', "\r\n")
            .replace("\r\r", "\r");
        let mut bytes = seed.into_bytes();
        let flips = rng(&mut s) % 6;
        for _ in 0..flips {
            if bytes.is_empty() {
                break;
            }
            let i = (rng(&mut s) as usize) % bytes.len();
            bytes[i] = rng(&mut s) as u8;
        }
        if rng(&mut s).is_multiple_of(4) {
            let cut = (rng(&mut s) as usize) % (bytes.len() + 1);
            bytes.truncate(cut);
        }
        now += rng(&mut s) % 3_000_000;
        let src = ep((rng(&mut s) % 3) as u8, 5060);
        let dst = ep((rng(&mut s) % 3) as u8, 5060);
        feed_bytes(&mut t, now, src, dst, &bytes);
        let junk: Vec<u8> = (0..(rng(&mut s) % 40)).map(|_| rng(&mut s) as u8).collect();
        t.handle_udp(now, ep(1, 10000), ep(2, 20000), &junk);
        let mut p = rtp(
            (rng(&mut s) % 128) as u8,
            rng(&mut s) as u16,
            rng(&mut s) as u32,
            5,
        );
        p.truncate((rng(&mut s) as usize) % (p.len() + 1));
        t.handle_udp(now, ep(2, 20000), ep(1, 10000), &p);
        if round.is_multiple_of(10) {
            t.handle_timeout(now);
            for r in t.listcalls_rows(now) {
                assert_eq!(r.len(), listcalls::COLUMNS.len());
            }
            for r in t.register_rows(now) {
                assert_eq!(r.len(), listregisters::COLUMNS.len());
            }
        }
    }
    assert!(t.total_calls() <= 50);
    assert!(t.counters().sip_messages > 0);
}

#[test]
fn media_direction_sharing_and_vlan() {
    let mut t = CallTable::new(CallsConfig::default());
    let mut index = [HeaderPos::EMPTY; MAX_HEADERS];
    let inv = request("INVITE", 1, false, "", &sdp("10.0.0.1", 10000)).replace('\n', "\r\n");
    if let Ok(Parsed::Complete(msg, _)) =
        Message::parse(inv.as_bytes(), &mut index, Framing::Datagram)
    {
        t.handle_sip(T0, a(), b(), Some(42), &msg);
    }
    let r = only_row(&t, T0);
    assert_eq!(int(&r, "vlan"), 42);
    // Packets to the caller's announced address are the callee's stream (dst side).
    assert!(t.handle_udp(T0 + S, ep(5, 3000), ep(1, 10000), &rtp(0, 1, 0, 77)));
    let r = only_row(&t, T0 + S);
    assert_eq!(int(&r, "calledcodec"), 0);
    assert_eq!(int(&r, "callercodec"), -1);
    assert_eq!(col(&r, "rtp_src"), ip_int(5));
    assert_eq!(col(&r, "dst_received"), Value::Int(0));
    assert_eq!(col(&r, "dst_loss"), Value::Null);
    // SSRC 0 is not counted.
    assert!(t.handle_udp(T0 + S, ep(5, 3000), ep(1, 10000), &rtp(8, 2, 160, 0)));
    assert_eq!(t.counters().rtp_packets, 1);

    // A reverse-direction re-INVITE from the callee: its SDP is the callee's, so packets to it
    // are the caller's stream.
    let reinv = "INVITE sip:1001@10.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKrev\nFrom: <sip:1002@example.org>;tag=bbb\nTo: \"Alice\" <sip:1001@example.com>;tag=aaa\nCall-ID: call-1@10.0.0.1\nCSeq: 7 INVITE\nContent-Type: application/sdp\n\n"
        .to_owned()
        + &sdp("10.0.0.2", 30000);
    feed(&mut t, T0 + 2 * S, b(), a(), &reinv);
    assert!(t.handle_udp(T0 + 3 * S, ep(1, 10000), ep(2, 30000), &rtp(8, 1, 0, 88)));
    let r = only_row(&t, T0 + 3 * S);
    assert_eq!(int(&r, "callercodec"), 8);
    assert_eq!(
        col(&r, "caller"),
        Value::Str("1001".into()),
        "re-INVITE keeps caller"
    );
}

#[test]
fn shared_media_address_newest_wins() {
    let mut t = CallTable::new(CallsConfig::default());
    for i in 0..4 {
        let inv = request("INVITE", 1, false, "", &sdp("10.0.0.1", 10000))
            .replace("call-1@", &format!("c{i}@"));
        feed(&mut t, T0 + i * S, a(), b(), &inv);
    }
    assert_eq!(
        t.counters().evictions,
        2,
        "RTP and RTCP binding of the oldest call"
    );
    assert!(t.handle_udp(T0 + 5 * S, ep(2, 4000), ep(1, 10000), &rtp(0, 1, 0, 5)));
    let rows = t.listcalls_rows(T0 + 5 * S);
    let taken: Vec<Value> = rows
        .iter()
        .filter(|r| int(r, "calledcodec") == 0)
        .map(|r| col(r, "callid"))
        .collect();
    assert_eq!(taken, [Value::Str("c3@10.0.0.1".into())]);
}

/// A media server answering every call on one ip:port: each caller's stream is still
/// counted in its own call, told apart by the caller's own announced address.
#[test]
fn calls_sharing_the_answering_port_keep_their_own_streams() {
    let mut t = CallTable::new(CallsConfig::default());
    for i in 0..3u16 {
        let cid = format!("c{i}@");
        let inv = request("INVITE", 1, false, "", &sdp("10.0.0.1", 10000 + 4 * i))
            .replace("call-1@", &cid);
        feed(&mut t, T0 + u64::from(i) * S, a(), b(), &inv);
        let ok =
            response(200, "OK", 1, "INVITE", "", &sdp("10.0.0.2", 20000)).replace("call-1@", &cid);
        feed(&mut t, T0 + u64::from(i) * S + 1000, b(), a(), &ok);
    }
    // Call i sends 10 * (i + 1) packets from its own port to the shared one.
    for i in 0..3u16 {
        for n in 0..10 * (i + 1) {
            let now = T0 + 5 * S + u64::from(n) * 20_000;
            let p = rtp(8, n, u32::from(n) * 160, 0x100 + u32::from(i));
            assert!(t.handle_udp(now, ep(1, 10000 + 4 * i), ep(2, 20000), &p));
        }
    }
    let rows = t.listcalls_rows(T0 + 6 * S);
    let mut got: Vec<(Value, i64)> = rows
        .iter()
        .map(|r| (col(r, "callid"), int(r, "src_received")))
        .collect();
    got.sort_by_key(|(_, n)| *n);
    assert_eq!(
        got,
        [
            (Value::Str("c0@10.0.0.1".into()), 8),
            (Value::Str("c1@10.0.0.1".into()), 18),
            (Value::Str("c2@10.0.0.1".into()), 28),
        ]
    );
}

#[test]
fn ipv6_addresses_are_strings() {
    let mut t = CallTable::new(CallsConfig::default());
    let v6 = |s: &str| Endpoint {
        ip: s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        port: 5060,
    };
    feed(
        &mut t,
        T0,
        v6("2001:db8::1"),
        v6("2001:db8::2"),
        &request("INVITE", 1, false, "", ""),
    );
    let r = only_row(&t, T0);
    assert_eq!(col(&r, "callerip"), Value::Str("2001:db8::1".into()));
    assert_eq!(col(&r, "calledip"), Value::Str("2001:db8::2".into()));
}

/// What per-call file writers get: the call of each SIP message and media packet, and the
/// calls closed by the timers.
#[test]
fn packets_are_attributed_to_their_call() {
    let mut t = CallTable::new(CallsConfig::default());
    let bytes = request("INVITE", 1, false, "", &sdp("10.0.0.1", 10000)).replace('\n', "\r\n");
    let mut index = [HeaderPos::EMPTY; MAX_HEADERS];
    let Ok(Parsed::Complete(msg, _)) =
        Message::parse(bytes.as_bytes(), &mut index, Framing::Datagram)
    else {
        panic!("INVITE parses");
    };
    let r = t
        .handle_sip(T0, a(), b(), None, &msg)
        .and_then(voipsensor_calls::SipOwner::call)
        .expect("INVITE creates a call");
    assert_eq!(r.start_us, T0);
    assert_eq!(t.call_id(r.id), Some(&b"call-1@10.0.0.1"[..]));
    let ok = response(200, "OK", 1, "INVITE", "", &sdp("10.0.0.2", 20000)).replace('\n', "\r\n");
    let Ok(Parsed::Complete(msg, _)) = Message::parse(ok.as_bytes(), &mut index, Framing::Datagram)
    else {
        panic!("200 parses");
    };
    assert_eq!(
        t.handle_sip(T0 + S, b(), a(), None, &msg),
        Some(voipsensor_calls::SipOwner::Call(r))
    );
    let m = t
        .handle_media(
            T0 + 2 * S,
            ep(1, 10000),
            ep(2, 20000),
            Some(60),
            &rtp(8, 1, 0, 0x77),
        )
        .expect("RTP to the answer's address");
    assert_eq!((m.call, m.rtcp), (r, false));
    let rtcp = [0x80, 200, 0, 6, 0, 0, 0, 0x77];
    let m = t
        .handle_media(T0 + 2 * S, ep(1, 10001), ep(2, 20001), None, &rtcp)
        .expect("RTCP port");
    assert!(m.rtcp);
    assert_eq!(
        t.handle_media(T0 + 2 * S, ep(9, 1), ep(9, 2), None, &rtcp),
        None
    );
    let reg = register(1, "reg-1", "", "1001").replace('\n', "\r\n");
    let Ok(Parsed::Complete(msg, _)) =
        Message::parse(reg.as_bytes(), &mut index, Framing::Datagram)
    else {
        panic!("REGISTER parses");
    };
    let reg = t.handle_sip(T0, a(), b(), None, &msg);
    assert!(
        matches!(reg, Some(voipsensor_calls::SipOwner::Register(x)) if x.start_us == T0),
        "a REGISTER transaction, not a call: {reg:?}"
    );
    // rtptimeout (300 s without packets) closes the call: reported once.
    assert!(t.handle_timeout(T0 + 100 * S).is_empty());
    let closed = t.handle_timeout(T0 + 303 * S);
    assert_eq!(closed.iter().map(|c| c.call).collect::<Vec<_>>(), vec![r]);
    assert_eq!(closed[0].cdr.bye, 104, "rtptimeout");
    assert_eq!(closed[0].cdr.fbasename, b"call-1@10.0.0.1");
    assert!(t.handle_timeout(T0 + 304 * S).is_empty());
    assert_eq!(
        t.call_id(r.id),
        Some(&b"call-1@10.0.0.1"[..]),
        "still in memory"
    );
}

/// The CDR of an answered call with RTP both ways, hung up by the caller (§2.3).
#[test]
fn cdr_of_an_answered_call_hung_up_by_the_caller() {
    let mut t = answered_call();
    let (ra, rb) = (ep(1, 10000), ep(2, 20000));
    for i in 0..100u16 {
        let now = T0 + 4 * S + u64::from(i) * 20_000;
        if i != 50 {
            t.handle_udp(now, ra, rb, &rtp(8, 100 + i, u32::from(i) * 160, 0x1111));
        }
        t.handle_udp(
            now + 5000,
            rb,
            ra,
            &rtp(8, 7000 + i, u32::from(i) * 160, 0x2222),
        );
    }
    // The callee's receiver report about the caller's stream, to its RTCP port (10001).
    let mut rr = vec![0x81, 201, 0, 7, 0, 0, 0x22, 0x22];
    rr.extend_from_slice(&0x1111u32.to_be_bytes());
    rr.extend_from_slice(&[2, 0, 0, 1]); // fraction lost 2/256, cumulative 1
    rr.extend_from_slice(&150u32.to_be_bytes());
    rr.extend_from_slice(&80u32.to_be_bytes()); // jitter: 80 timestamp units = 10 ms
    rr.extend_from_slice(&[0; 8]);
    assert!(t.handle_udp(T0 + 7 * S, ep(2, 20001), ep(1, 10001), &rr));
    let bye_t = T0 + 10 * S;
    feed(&mut t, bye_t, a(), b(), &request("BYE", 2, true, "", ""));
    feed(
        &mut t,
        bye_t + 2000,
        b(),
        a(),
        &response(200, "OK", 2, "BYE", "", ""),
    );
    let closed = t.handle_timeout(bye_t + 6 * S);
    assert_eq!(closed.len(), 1);
    let c = &closed[0].cdr;
    assert_eq!(c.calldate_us, T0);
    assert_eq!(c.duration_s, 10, "to the 200 OK of the BYE");
    assert_eq!(c.connect_duration_s, Some(7));
    assert_eq!(c.progress_time_s, Some(1), "180 after 1 s");
    assert_eq!(c.first_rtp_time_s, Some(4));
    assert_eq!(c.bye, 3);
    assert_eq!(c.whohanged, Some(voipsensor_calls::cdr::WhoHanged::Caller));
    assert_eq!(c.last_sip_response_num, 200);
    assert_eq!(c.last_sip_response, "200 OK");
    assert_eq!(c.caller, "1001");
    assert_eq!(c.called, "1002");
    assert_eq!(c.callername, "Alice");
    assert_eq!(c.sipcallerport, 5060);
    assert_eq!(c.caller_ua, "Caller UA");
    assert_eq!(c.callee_ua, "Callee UA");
    assert_eq!(c.response_time_100_ms, Some(100));
    assert_eq!(c.response_time_xxx_ms, Some(1000));
    assert!(!c.sighup);
    let a_stream = c.a.as_ref().expect("caller's stream");
    assert_eq!(a_stream.payload, 8);
    assert_eq!(a_stream.received, 99, "98 counted + 2");
    assert_eq!(a_stream.lost, 1);
    assert_eq!(a_stream.sl[0], 1, "one single-packet gap");
    assert_eq!(
        a_stream.packet_loss_perc_mult1000, 1000,
        "1 of 100: 1 % x 1000"
    );
    let r = a_stream.rtcp.expect("RTCP about the caller's stream");
    assert_eq!(
        (r.loss, r.maxfr, r.maxjitter, r.fraclost_pktcount),
        (1, 2, 10, 1)
    );
    assert_eq!((r.avgfr_mult10, r.avgjitter_mult10), (20, 100));
    assert_eq!(r.avgrtd_mult10, None, "no LSR: no round trip");
    let b_stream = c.b.as_ref().expect("callee's stream");
    assert_eq!((b_stream.received, b_stream.lost), (100, 0));
    assert_eq!(b_stream.rtcp, None);
    assert_eq!(c.streams.len(), 2);
    assert_eq!(c.streams[0].index, 1);
    assert_eq!(c.streams[0].sport, 10000);
    assert_eq!(c.streams[0].dport, 20000);
    assert_eq!(c.streams[0].flags, 0b110, "A stream sent by the caller");
    assert_eq!(c.streams[0].rtp_ptime, Some(20), "160 samples at 8 kHz");
    assert_eq!(c.streams[0].sdp_ptime, None, "the SDPs have no a=ptime");
    assert_eq!(c.streams[0].ttl_min, None, "handle_udp passes no TTL");
    assert_eq!(c.flags, 1 << 32, "SIP over UDP (top Via of the INVITE)");
}
