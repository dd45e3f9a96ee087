//! Proxies and forking inside one Call-ID (behaviour spec §3.8), driven through parsed SIP.
//!
//! Addresses: A = 10.0.0.1 (caller), P = 10.0.0.5 (proxy), B1 = 10.0.0.2, B2 = 10.0.0.3.

use std::net::{IpAddr, Ipv4Addr};

use voipsensor_calls::{CallTable, CallsConfig, Endpoint};
use voipsensor_manager_proto::json::Value;
use voipsensor_manager_proto::listcalls;
use voipsensor_sip::{Framing, HeaderPos, MAX_HEADERS, Message, Parsed};

const T0: u64 = 1_776_167_857_000_000;
const S: u64 = 1_000_000;

fn ep(last: u8) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port: 5060,
    }
}
const A: u8 = 1;
const P: u8 = 5;
const B1: u8 = 2;
const B2: u8 = 3;

fn ip_int(last: u8) -> Value {
    Value::Int(i64::from(u32::from(Ipv4Addr::new(10, 0, 0, last))))
}

/// One SIP message from `src` to `dst` (LF turned into CRLF); panics if it does not parse.
fn feed(t: &mut CallTable, now: u64, src: u8, dst: u8, text: &str) {
    let bytes = text.replace('\n', "\r\n");
    let mut index = [HeaderPos::EMPTY; MAX_HEADERS];
    match Message::parse(bytes.as_bytes(), &mut index, Framing::Datagram) {
        Ok(Parsed::Complete(msg, _)) => {
            t.handle_sip(now, ep(src), ep(dst), None, &msg);
        }
        other => panic!("test message does not parse: {other:?}"),
    }
}

fn sdp(last: u8, port: u16) -> String {
    format!(
        "v=0\no=- 1 1 IN IP4 10.0.0.{last}\ns=-\nc=IN IP4 10.0.0.{last}\nt=0 0\nm=audio {port} RTP/AVP 8\na=rtpmap:8 PCMA/8000\n"
    )
}

fn vias(branches: &[&str]) -> String {
    branches
        .iter()
        .map(|b| format!("Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK{b}\n"))
        .collect()
}

fn body_headers(body: &str) -> String {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\n"
    };
    format!(
        "{ct}Content-Length: {}\n\n{body}",
        body.len() + body.matches('\n').count()
    )
}

/// An INVITE (CSeq 1, no To-tag) with the given Via branches, top first.
fn invite(branches: &[&str], body: &str) -> String {
    format!(
        "INVITE sip:1002@example.org SIP/2.0\n{}From: <sip:1001@example.com>;tag=aaa\nTo: <sip:1002@example.org>\nCall-ID: fork-1\nCSeq: 1 INVITE\n{}",
        vias(branches),
        body_headers(body)
    )
}

/// A request other than the initial INVITE, CSeq `cseq`.
fn request(method: &str, cseq: u32, to_tag: &str, branches: &[&str]) -> String {
    format!(
        "{method} sip:1002@example.org SIP/2.0\n{}From: <sip:1001@example.com>;tag=aaa\nTo: <sip:1002@example.org>{to_tag}\nCall-ID: fork-1\nCSeq: {cseq} {method}\n{}",
        vias(branches),
        body_headers("")
    )
}

/// A response to CSeq `cseq` `method`, with the request's Via branches and To-tag `tag`.
fn response(
    code: u16,
    method: &str,
    cseq: u32,
    tag: &str,
    branches: &[&str],
    body: &str,
) -> String {
    format!(
        "SIP/2.0 {code} Reason\n{}From: <sip:1001@example.com>;tag=aaa\nTo: <sip:1002@example.org>;tag={tag}\nCall-ID: fork-1\nCSeq: {cseq} {method}\n{}",
        vias(branches),
        body_headers(body)
    )
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

fn media(last: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: ep(last).ip,
        port,
    }
}

fn col(row: &[Value], name: &str) -> Value {
    let i = listcalls::COLUMNS
        .iter()
        .position(|c| *c == name)
        .unwrap_or_else(|| panic!("column {name}"));
    row[i].clone()
}

fn only_row(t: &CallTable, now: u64) -> Vec<Value> {
    let rows = t.listcalls_rows(now);
    assert_eq!(rows.len(), 1, "one listed call");
    rows.into_iter().next().unwrap_or_default()
}

#[test]
fn call_through_a_proxy_lists_the_proxy_and_the_real_callee() {
    let mut t = CallTable::new(CallsConfig::default());
    feed(&mut t, T0, A, P, &invite(&["a1"], &sdp(A, 10000)));
    feed(
        &mut t,
        T0 + 1000,
        P,
        A,
        &response(100, "INVITE", 1, "", &["a1"], ""),
    );
    // Before the proxy forwards, the proxy is the callee as far as anyone can tell.
    let r = only_row(&t, T0 + 2000);
    assert_eq!(col(&r, "calledip"), ip_int(P));
    assert_eq!(col(&r, "sipproxies"), Value::Null);

    feed(
        &mut t,
        T0 + 5000,
        P,
        B1,
        &invite(&["p1", "a1"], &sdp(A, 10000)),
    );
    feed(
        &mut t,
        T0 + S,
        B1,
        P,
        &response(180, "INVITE", 1, "b1", &["p1", "a1"], ""),
    );
    feed(
        &mut t,
        T0 + S + 500,
        P,
        A,
        &response(180, "INVITE", 1, "b1", &["a1"], ""),
    );
    let answer = sdp(B1, 20000);
    feed(
        &mut t,
        T0 + 2 * S,
        B1,
        P,
        &response(200, "INVITE", 1, "b1", &["p1", "a1"], &answer),
    );
    feed(
        &mut t,
        T0 + 2 * S + 500,
        P,
        A,
        &response(200, "INVITE", 1, "b1", &["a1"], &answer),
    );
    for i in 0..10u16 {
        let now = T0 + 3 * S + u64::from(i) * 20_000;
        assert!(t.handle_udp(now, media(A, 10000), media(B1, 20000), &rtp(i, 0x11)));
        assert!(t.handle_udp(now, media(B1, 20000), media(A, 10000), &rtp(i, 0x22)));
    }
    let r = only_row(&t, T0 + 4 * S);
    assert_eq!(col(&r, "callerip"), ip_int(A));
    assert_eq!(
        col(&r, "calledip"),
        ip_int(B1),
        "the destination of the last hop"
    );
    assert_eq!(col(&r, "sipproxies"), Value::Str("10.0.0.5".into()));
    assert_eq!(col(&r, "lastSIPresponseNum"), Value::Int(200));
    assert_eq!(col(&r, "src_received"), Value::Int(8));
    assert_eq!(col(&r, "dst_received"), Value::Int(8));
}

#[test]
fn two_proxies_in_a_row_are_both_listed() {
    let mut t = CallTable::new(CallsConfig::default());
    let p2 = 6;
    feed(&mut t, T0, A, P, &invite(&["a1"], ""));
    feed(&mut t, T0 + 1000, P, p2, &invite(&["p1", "a1"], ""));
    feed(&mut t, T0 + 2000, p2, B1, &invite(&["q1", "p1", "a1"], ""));
    let r = only_row(&t, T0 + 3000);
    assert_eq!(col(&r, "calledip"), ip_int(B1));
    assert_eq!(
        col(&r, "sipproxies"),
        Value::Str("10.0.0.5,10.0.0.6".into())
    );
}

/// A → P, P forks to B1 and B2; both ring (B1 with early media), B2 answers, P cancels B1.
fn parallel_fork(t: &mut CallTable) {
    feed(t, T0, A, P, &invite(&["a1"], &sdp(A, 10000)));
    feed(t, T0 + 1000, P, B1, &invite(&["p1", "a1"], &sdp(A, 10000)));
    feed(t, T0 + 1500, P, B2, &invite(&["p2", "a1"], &sdp(A, 10000)));
    let early = sdp(B1, 30000);
    feed(
        t,
        T0 + S,
        B1,
        P,
        &response(183, "INVITE", 1, "b1", &["p1", "a1"], &early),
    );
    feed(
        t,
        T0 + S + 500,
        P,
        A,
        &response(183, "INVITE", 1, "b1", &["a1"], &early),
    );
    feed(
        t,
        T0 + S + 900,
        B2,
        P,
        &response(180, "INVITE", 1, "b2", &["p2", "a1"], ""),
    );
    let answer = sdp(B2, 20000);
    feed(
        t,
        T0 + 3 * S,
        B2,
        P,
        &response(200, "INVITE", 1, "b2", &["p2", "a1"], &answer),
    );
    feed(
        t,
        T0 + 3 * S + 500,
        P,
        A,
        &response(200, "INVITE", 1, "b2", &["a1"], &answer),
    );
    feed(
        t,
        T0 + 3 * S + 900,
        P,
        B1,
        &request("CANCEL", 1, "", &["p1"]),
    );
    feed(
        t,
        T0 + 3 * S + 1900,
        B1,
        P,
        &response(200, "CANCEL", 1, "b1", &["p1"], ""),
    );
    feed(
        t,
        T0 + 3 * S + 2000,
        B1,
        P,
        &response(487, "INVITE", 1, "b1", &["p1", "a1"], ""),
    );
    feed(
        t,
        T0 + 3 * S + 2500,
        P,
        B1,
        &request("ACK", 1, ";tag=b1", &["p1"]),
    );
}

#[test]
fn parallel_fork_keeps_the_answered_branch_alive() {
    let mut t = CallTable::new(CallsConfig::default());
    parallel_fork(&mut t);
    let now = T0 + 20 * S;
    // The answered call keeps going although the other fork ended with 487.
    t.handle_timeout(now);
    let r = only_row(&t, now);
    assert_eq!(col(&r, "calledip"), ip_int(B2), "the answered fork");
    assert_eq!(col(&r, "sipproxies"), Value::Str("10.0.0.5".into()));
    assert_eq!(col(&r, "lastSIPresponseNum"), Value::Int(200));
    assert_eq!(t.total_calls(), 1);
}

#[test]
fn a_failed_fork_releases_its_early_media_address() {
    let mut t = CallTable::new(CallsConfig::default());
    parallel_fork(&mut t);
    let now = T0 + 4 * S;
    // B1's early-media address was announced by B1's 183 only: no longer the call's.
    assert!(!t.handle_udp(now, media(B1, 30000), media(A, 10000 + 2), &rtp(1, 0x33)));
    assert!(!t.handle_udp(now, media(A, 10002), media(B1, 30000), &rtp(1, 0x34)));
    // The answered fork's and the caller's addresses still are.
    assert!(t.handle_udp(now, media(B2, 20000), media(A, 10000), &rtp(1, 0x44)));
    assert!(t.handle_udp(now, media(A, 10000), media(B2, 20000), &rtp(1, 0x55)));
}

#[test]
fn serial_hunting_after_busy_keeps_the_call() {
    let mut t = CallTable::new(CallsConfig::default());
    feed(&mut t, T0, A, P, &invite(&["a1"], &sdp(A, 10000)));
    feed(
        &mut t,
        T0 + 1000,
        P,
        B1,
        &invite(&["p1", "a1"], &sdp(A, 10000)),
    );
    feed(
        &mut t,
        T0 + S,
        B1,
        P,
        &response(486, "INVITE", 1, "b1", &["p1", "a1"], ""),
    );
    feed(
        &mut t,
        T0 + S + 100,
        P,
        B1,
        &request("ACK", 1, ";tag=b1", &["p1"]),
    );
    // The proxy hunts on to B2 (same CSeq, new branch) 3 s later: the 486 timer must not
    // end the call.
    feed(
        &mut t,
        T0 + 4 * S,
        P,
        B2,
        &invite(&["p2", "a1"], &sdp(A, 10000)),
    );
    feed(
        &mut t,
        T0 + 5 * S,
        B2,
        P,
        &response(180, "INVITE", 1, "b2", &["p2", "a1"], ""),
    );
    t.handle_timeout(T0 + 7 * S);
    let r = only_row(&t, T0 + 7 * S);
    assert_eq!(col(&r, "calledip"), ip_int(B2));
    let answer = sdp(B2, 20000);
    feed(
        &mut t,
        T0 + 8 * S,
        B2,
        P,
        &response(200, "INVITE", 1, "b2", &["p2", "a1"], &answer),
    );
    feed(
        &mut t,
        T0 + 8 * S + 500,
        P,
        A,
        &response(200, "INVITE", 1, "b2", &["a1"], &answer),
    );
    t.handle_timeout(T0 + 30 * S);
    let r = only_row(&t, T0 + 30 * S);
    assert_eq!(col(&r, "lastSIPresponseNum"), Value::Int(200));
    assert_eq!(col(&r, "calledip"), ip_int(B2));
    assert_eq!(col(&r, "sipproxies"), Value::Str("10.0.0.5".into()));
}

#[test]
fn every_fork_busy_ends_the_call() {
    let mut t = CallTable::new(CallsConfig::default());
    feed(&mut t, T0, A, P, &invite(&["a1"], ""));
    feed(&mut t, T0 + 1000, P, B1, &invite(&["p1", "a1"], ""));
    feed(&mut t, T0 + 1500, P, B2, &invite(&["p2", "a1"], ""));
    feed(
        &mut t,
        T0 + S,
        B1,
        P,
        &response(486, "INVITE", 1, "b1", &["p1", "a1"], ""),
    );
    t.handle_timeout(T0 + 10 * S);
    assert_eq!(t.listcalls_rows(T0 + 10 * S).len(), 1, "B2 still rings");
    let t486 = T0 + 11 * S;
    feed(
        &mut t,
        t486,
        B2,
        P,
        &response(486, "INVITE", 1, "b2", &["p2", "a1"], ""),
    );
    feed(
        &mut t,
        t486 + 500,
        P,
        A,
        &response(486, "INVITE", 1, "b2", &["a1"], ""),
    );
    assert_eq!(t.listcalls_rows(t486 + 4 * S).len(), 1);
    t.handle_timeout(t486 + 6 * S);
    assert!(
        t.listcalls_rows(t486 + 6 * S).is_empty(),
        "all forks busy: gone after 5 s"
    );
}
