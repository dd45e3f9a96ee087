//! Any bytes as a UDP datagram and as a TCP stream buffer: split into messages, parse each and
//! call every accessor the sensor uses. Checks: no panic, and the framing/slice invariants below.

#![no_main]

use libfuzzer_sys::fuzz_target;
use voipsensor_sip::{
    Contact, Frame, Framing, HeaderPos, MAX_HEADERS, MAX_MESSAGE_LEN, Message, NameAddr,
    ParseError, Parsed, Sdp, Uri, find_sdp_part, frame_stream, split_datagram,
};

/// `inner` lies inside `outer` (zero-copy slices of the input).
fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

fn uri(u: &Uri<'_>) {
    let _ = (u.scheme, u.user(), u.user_info, u.host, u.port, u.raw);
    for (n, v) in u.params.iter() {
        let _ = (n, v);
    }
    let _ = (u.params.get("transport"), u.params.contains("lr"));
}

fn name_addr(a: &NameAddr<'_>) {
    uri(&a.uri);
    let _ = (a.display_name(), a.display_name_unescaped(), a.tag());
    let _ = (a.params.get("expires"), a.params.iter().count());
}

fn sdp(body: &[u8]) {
    let Ok(sdp) = Sdp::parse(body) else {
        return;
    };
    let _ = (sdp.connection.and_then(|c| c.ip()), sdp.direction);
    for m in sdp.media() {
        let _ = (m.is_audio(), m.is_image(), m.port, m.port_count, m.proto);
        let _ = (m.formats().count(), m.payload_types().count());
        for r in m.rtpmaps() {
            let _ = (r.encoding, r.clock_rate, r.channels);
            assert_eq!(
                m.rtpmap(r.payload_type).map(|x| x.payload_type),
                Some(r.payload_type)
            );
        }
        let _ = m.connection.and_then(|c| c.ip());
        let _ = m.rtcp.and_then(|r| r.connection).and_then(|c| c.ip());
    }
}

fn message(m: &Message<'_, '_>, bytes: &[u8]) {
    let _ = (m.start(), m.method(), m.status_code(), m.is_request());
    if let Some(u) = m.request_uri() {
        uri(&u);
    }
    for h in m.headers() {
        assert!(within(bytes, h.name) && within(bytes, h.value));
        let _ = h.is_named(b"x-custom");
    }
    assert_eq!(m.headers().count(), m.header_count());
    let _ = (
        m.header("call-id"),
        m.header("X-Whatever"),
        m.headers_named("v").count(),
    );
    let _ = m.call_id();
    for a in [m.from(), m.to()].iter().flatten() {
        name_addr(a);
    }
    if let Some(c) = m.cseq() {
        let _ = (c.seq, c.method.as_bytes());
    }
    for v in m.vias() {
        let _ = (v.protocol, v.transport, v.host, v.port);
        let _ = (v.branch(), v.received(), v.rport(), v.has_rport());
    }
    let _ = m.top_via();
    for c in m.contacts() {
        let _ = c.expires();
        match c {
            Contact::Star => assert!(c.addr().is_none()),
            Contact::Addr(a) => name_addr(&a),
        }
    }
    let _ = (m.expires(), m.user_agent(), m.server());
    for auth in [m.authorization(), m.challenge()].iter().flatten() {
        let _ = auth.scheme;
        for p in ["username", "realm", "nonce", "uri", "response", "algorithm"] {
            if let Some(q) = auth.param(p) {
                let _ = (q.raw(), q.has_escapes(), q.unescape());
            }
        }
        let _ = (auth.username(), auth.realm());
    }
    let _ = (m.content_type(), m.content_length(), m.body_truncated());
    let body = m.body();
    assert!(within(bytes, body));
    if let Some(ct) = m.content_type()
        && let Some(part) = find_sdp_part(body, ct)
    {
        assert!(within(body, part));
    }
    if let Some(s) = m.sdp_body() {
        assert!(within(body, s));
        sdp(s);
    }
}

/// Parses and exercises one message; `Ok(Some(used))` when complete, `Ok(None)` when partial.
/// `TooManyHeaders` is the one error the framers cannot see (they keep no index).
fn parse(bytes: &[u8], framing: Framing) -> Result<Option<usize>, ParseError> {
    let mut index = [HeaderPos::EMPTY; MAX_HEADERS];
    match Message::parse(bytes, &mut index, framing)? {
        Parsed::Complete(m, used) => {
            assert!(used > 0 && used <= bytes.len());
            // The size limit covers the message from its start line (keep-alive CR/LF before it
            // are skipped and not counted).
            let lead = bytes
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            assert!(
                used - lead <= MAX_MESSAGE_LEN,
                "message over MAX_MESSAGE_LEN accepted"
            );
            message(&m, bytes);
            Ok(Some(used))
        }
        Parsed::Partial => {
            assert_eq!(
                framing,
                Framing::Stream,
                "datagram framing never asks for more"
            );
            Ok(None)
        }
    }
}

/// A message the framer delimited parses whole (or only fails for the header index limit).
fn parses_whole(bytes: &[u8], framing: Framing) {
    match parse(bytes, framing) {
        Ok(used) => assert_eq!(used, Some(bytes.len()), "a framed message parses whole"),
        Err(e) => assert_eq!(e, ParseError::TooManyHeaders, "a framed message parses"),
    }
}

fuzz_target!(|data: &[u8]| {
    // UDP: every message of the datagram.
    for msg in split_datagram(data).take(64) {
        let Ok(msg) = msg else { break };
        assert!(!msg.is_empty() && within(data, msg));
        parses_whole(msg, Framing::Datagram);
    }
    let _ = parse(data, Framing::Datagram);

    // TCP: frame the buffer as the sensor does, always making progress.
    let mut rest = data;
    for _ in 0..64 {
        let n = match frame_stream(rest) {
            Ok(Frame::Complete(n)) => {
                parses_whole(&rest[..n], Framing::Stream);
                n
            }
            Ok(Frame::Keepalive(n)) => n,
            Ok(Frame::Partial) => {
                assert!(matches!(
                    parse(rest, Framing::Stream),
                    Ok(None) | Err(ParseError::TooManyHeaders)
                ));
                break;
            }
            Err(e) => e.resync,
        };
        assert!(n > 0 && n <= rest.len());
        rest = &rest[n..];
    }
});
