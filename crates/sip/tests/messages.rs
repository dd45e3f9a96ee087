//! Byte vectors of realistic SIP messages: every accessor, compact forms, folding, framing.

use voipsensor_sip::{
    Contact, Direction, Frame, Framing, HeaderKind, HeaderPos, InvalidReason, MAX_HEADERS, Message,
    Method, ParseError, Parsed, Scheme, Sdp, StartLine, frame_stream, split_datagram,
};

fn parse<'h, 'b>(bytes: &'b [u8], headers: &'h mut [HeaderPos]) -> (Message<'h, 'b>, usize) {
    match Message::parse(bytes, headers, Framing::Datagram) {
        Ok(Parsed::Complete(m, n)) => (m, n),
        other => panic!("expected a complete message, got {other:?}"),
    }
}

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101\r\n\
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK1, SIP/2.0/TCP [2001:db8::5]:5070;branch=z9hG4bK2;rport=5070\r\n\
Max-Forwards: 70\r\n\
From: \"Alice \\\"Al\\\" Smith\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
To: Bob <sip:bob@biloxi.example.com:5062>\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 2 INVITE\r\n\
Contact: <sip:alice@client.atlanta.example.com;transport=tcp>\r\n\
User-Agent: Acme SoftPhone/1.0\r\n\
X-Unknown-Header: anything: at all\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 151\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n\
s=-\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

#[test]
fn invite_with_sdp() {
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, used) = parse(INVITE, &mut h);
    assert_eq!(used, INVITE.len());
    assert_eq!(m.method(), Some(Method::Invite));
    assert!(m.is_request());
    assert_eq!(m.status_code(), None);
    let ruri = m.request_uri().expect("ruri");
    assert_eq!(
        (ruri.user(), ruri.host),
        (&b"bob"[..], &b"biloxi.example.com"[..])
    );
    assert_eq!(
        m.call_id(),
        Some(&b"3848276298220188511@atlanta.example.com"[..])
    );
    let from = m.from().expect("from");
    assert_eq!(from.display_name(), br#"Alice \"Al\" Smith"#);
    assert_eq!(&*from.display_name_unescaped(), br#"Alice "Al" Smith"#);
    assert_eq!(from.uri.scheme, Scheme::Sip);
    assert_eq!(from.uri.user(), b"alice");
    assert_eq!(from.uri.host, b"atlanta.example.com");
    assert_eq!(from.tag(), Some(&b"9fxced76sl"[..]));
    let to = m.to().expect("to");
    assert_eq!(to.display_name(), b"Bob");
    assert_eq!(
        (to.uri.host, to.uri.port),
        (&b"biloxi.example.com"[..], Some(5062))
    );
    assert_eq!(to.tag(), None);
    let cseq = m.cseq().expect("cseq");
    assert_eq!((cseq.seq, cseq.method), (2, Method::Invite));
    let vias: Vec<_> = m.vias().collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].host, b"client.atlanta.example.com");
    assert_eq!(vias[0].received(), Some(&b"192.0.2.101"[..]));
    assert_eq!(vias[1].branch(), Some(&b"z9hG4bK1"[..]));
    assert_eq!(vias[1].port, None);
    assert_eq!(
        (vias[2].transport, vias[2].host, vias[2].port),
        (&b"TCP"[..], &b"2001:db8::5"[..], Some(5070))
    );
    assert_eq!(vias[2].rport(), Some(5070));
    assert_eq!(
        m.top_via().map(|v| v.branch()),
        Some(Some(&b"z9hG4bK74bf9"[..]))
    );
    let contacts: Vec<_> = m.contacts().collect();
    assert_eq!(contacts.len(), 1);
    let c = contacts[0].addr().expect("addr");
    assert_eq!(c.uri.params.get("transport"), Some(&b"tcp"[..]));
    assert_eq!(m.user_agent(), Some(&b"Acme SoftPhone/1.0"[..]));
    assert_eq!(m.server(), None);
    assert_eq!(m.header("x-unknown-header"), Some(&b"anything: at all"[..]));
    assert_eq!(m.header("max-forwards"), Some(&b"70"[..]));
    assert_eq!(m.headers_named("via").count(), 2);
    assert_eq!(m.headers_named("v").count(), 2);
    assert_eq!(m.content_type(), Some(&b"application/sdp"[..]));
    assert_eq!(m.content_length(), Some(151));
    assert!(!m.body_truncated());
    let sdp = Sdp::parse(m.sdp_body().expect("sdp body")).expect("sdp");
    let media = sdp.media();
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].port, 49172);
    assert_eq!(
        media[0].connection.and_then(|c| c.ip()),
        Some("192.0.2.101".parse().expect("ip"))
    );
    assert_eq!(media[0].rtpmap(0).map(|r| r.encoding), Some(&b"PCMU"[..]));
}

#[test]
fn responses_180_200_ipv6() {
    let ringing = b"SIP/2.0 180 Ringing\r\n\
Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKnashds8;received=2001:db8::1\r\n\
To: Bob <sip:bob@[2001:db8::2]>;tag=8321234356\r\n\
From: Alice <sip:alice@[2001:db8::1]>;tag=9fxced76sl\r\n\
Call-ID: 3848276298220188511@[2001:db8::1]\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:bob@[2001:db8::2]:5080>\r\n\
Content-Length: 0\r\n\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, _) = parse(ringing, &mut h);
    assert_eq!(
        m.start(),
        StartLine::Response {
            code: 180,
            reason: b"Ringing"
        }
    );
    assert_eq!(m.status_code(), Some(180));
    assert_eq!(m.method(), None);
    assert_eq!(
        m.top_via().map(|v| (v.host, v.port)),
        Some((&b"2001:db8::1"[..], Some(5060)))
    );
    assert_eq!(
        m.to().map(|t| (t.uri.host, t.tag())),
        Some((&b"2001:db8::2"[..], Some(&b"8321234356"[..])))
    );
    assert_eq!(
        m.contacts()
            .next()
            .and_then(|c| c.addr().map(|a| a.uri.port)),
        Some(Some(5080))
    );
    assert_eq!(m.body(), b"");
    assert_eq!(m.sdp_body(), None);

    let ok = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKnashds8\r\n\
To: Bob <sip:bob@[2001:db8::2]>;tag=8321234356\r\n\
From: Alice <sip:alice@[2001:db8::1]>;tag=9fxced76sl\r\n\
Call-ID: 3848276298220188511@[2001:db8::1]\r\n\
CSeq: 1 INVITE\r\n\
Server: Acme PBX 2.0\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 146\r\n\r\n\
v=0\r\n\
o=bob 2890844527 2890844527 IN IP6 2001:db8::2\r\n\
s=-\r\n\
c=IN IP6 2001:db8::2\r\n\
t=0 0\r\n\
m=audio 3456 RTP/AVP 8\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=recvonly\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, used) = parse(ok, &mut h);
    assert_eq!(used, ok.len());
    assert_eq!(m.server(), Some(&b"Acme PBX 2.0"[..]));
    let sdp = Sdp::parse(m.sdp_body().expect("sdp")).expect("sdp");
    let a = sdp.media()[0];
    assert_eq!(
        a.connection.and_then(|c| c.ip()),
        Some("2001:db8::2".parse().expect("ip"))
    );
    assert_eq!(a.direction, Direction::RecvOnly);
    assert_eq!(a.rtpmaps().next().expect("rtpmap").clock_rate, 8000);
}

#[test]
fn bye_cancel_options() {
    let bye = b"BYE sip:alice@client.atlanta.example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bKnashds7\r\n\
Max-Forwards: 70\r\n\
From: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n\
To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 1 BYE\r\n\
Content-Length: 0\r\n\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, _) = parse(bye, &mut h);
    assert_eq!(m.method(), Some(Method::Bye));
    assert_eq!(m.cseq().map(|c| c.method), Some(Method::Bye));
    assert_eq!(m.top_via().map(|v| v.transport), Some(&b"TCP"[..]));

    let cancel = b"CANCEL sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
Call-ID: 2xTb9vxSit55XU7p8@atlanta.example.com\r\n\
CSeq: 1 CANCEL\r\n\
Content-Length: 0\r\n\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, _) = parse(cancel, &mut h);
    assert_eq!(m.method(), Some(Method::Cancel));
    assert_eq!(m.cseq().map(|c| c.seq), Some(1));

    let options = b"OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n\
To: <sip:carol@chicago.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 63104 OPTIONS\r\n\
Accept: application/sdp\r\n\
Content-Length: 0\r\n\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, _) = parse(options, &mut h);
    assert_eq!(m.method(), Some(Method::Options));
    assert_eq!(m.header("accept"), Some(&b"application/sdp"[..]));
}

#[test]
fn register_with_authorization_and_401() {
    let reg = b"REGISTER sip:registrar.biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Bob <sip:bob@biloxi.example.com>;tag=456248\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:bob@192.0.2.4>;expires=120, \"Second\" <sip:bob@192.0.2.5>;expires=7200\r\n\
Expires: 3600\r\n\
User-Agent: Grandstream GXP2170 1.0.11.3\r\n\
Authorization: Digest username=\"bob\", realm=\"biloxi.example.com\", nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", opaque=\"\", uri=\"sip:biloxi.example.com\", response=\"dfe56131d1958046689d83306477ecc\"\r\n\
Content-Length: 0\r\n\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, _) = parse(reg, &mut h);
    assert_eq!(m.method(), Some(Method::Register));
    assert_eq!(m.expires(), Some(3600));
    let contacts: Vec<_> = m.contacts().collect();
    assert_eq!(
        contacts.iter().map(Contact::expires).collect::<Vec<_>>(),
        vec![Some(120), Some(7200)]
    );
    assert_eq!(
        contacts[1].addr().map(|a| a.display_name()),
        Some(&b"Second"[..])
    );
    assert_eq!(m.to().map(|t| t.uri.user()), Some(&b"bob"[..]));
    assert_eq!(m.user_agent(), Some(&b"Grandstream GXP2170 1.0.11.3"[..]));
    let auth = m.authorization().expect("authorization");
    assert_eq!(auth.scheme, b"Digest");
    assert_eq!(auth.username().map(|u| u.raw()), Some(&b"bob"[..]));
    assert_eq!(
        auth.realm().map(|r| r.raw()),
        Some(&b"biloxi.example.com"[..])
    );
    assert_eq!(auth.param("opaque").map(|r| r.raw()), Some(&b""[..]));

    let proxy = b"REGISTER sip:r SIP/2.0\r\nProxy-Authorization: Digest realm=\"r\\\\x\",username=alice\r\n\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, _) = parse(proxy, &mut h);
    let auth = m.authorization().expect("proxy-authorization");
    assert_eq!(auth.username().map(|u| u.raw()), Some(&b"alice"[..]));
    assert_eq!(
        auth.realm().map(|r| r.unescape().into_owned()),
        Some(b"r\\x".to_vec())
    );

    let challenge = b"SIP/2.0 401 Unauthorized\r\n\
Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7;received=192.0.2.4\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag=2493k59kd\r\n\
From: Bob <sip:bob@biloxi.example.com>;tag=456248\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
WWW-Authenticate: Digest realm=\"biloxi.example.com\", qop=\"auth\", nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", opaque=\"\", stale=FALSE, algorithm=MD5\r\n\
Content-Length: 0\r\n\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, _) = parse(challenge, &mut h);
    assert_eq!(m.status_code(), Some(401));
    assert_eq!(m.cseq().map(|c| c.method), Some(Method::Register));
    let ch = m.challenge().expect("challenge");
    assert_eq!(
        ch.realm().map(|r| r.raw()),
        Some(&b"biloxi.example.com"[..])
    );
    assert_eq!(ch.param("stale").map(|r| r.raw()), Some(&b"FALSE"[..]));
    assert!(m.authorization().is_none());

    let unregister = b"REGISTER sip:r SIP/2.0\r\nContact: *\r\nExpires: 0\r\n\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, _) = parse(unregister, &mut h);
    assert_eq!(m.contacts().collect::<Vec<_>>(), vec![Contact::Star]);
    assert_eq!(m.expires(), Some(0));
}

#[test]
fn compact_forms() {
    let msg = b"INVITE sip:+4930123@gw.example.net;user=phone SIP/2.0\r\n\
v: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKc1\r\n\
f: \"Caller\" <sip:+4930999;user=phone@gw.example.net>;tag=a\r\n\
t: <tel:+4930123>\r\n\
i: compact-1@10.1.1.1\r\n\
m: <sip:caller@10.1.1.1:5060>;expires=60\r\n\
CSeq: 7 INVITE\r\n\
c: application/sdp\r\n\
e: identity\r\n\
k: timer\r\n\
s: urgent\r\n\
x: 1800;refresher=uac\r\n\
o: presence\r\n\
u: talk\r\n\
l: 29\r\n\r\n\
v=0\r\nc=IN IP4 10.1.1.1\r\nm=x\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, used) = parse(msg, &mut h);
    assert_eq!(used, msg.len());
    assert_eq!(m.call_id(), Some(&b"compact-1@10.1.1.1"[..]));
    let from = m.from().expect("from");
    assert_eq!(from.uri.user(), b"+4930999");
    assert_eq!(from.uri.host, b"gw.example.net");
    assert_eq!(from.display_name(), b"Caller");
    let to = m.to().expect("to");
    assert_eq!(
        (to.uri.scheme, to.uri.user()),
        (Scheme::Tel, &b"+4930123"[..])
    );
    assert_eq!(m.request_uri().map(|u| u.user()), Some(&b"+4930123"[..]));
    assert_eq!(m.contacts().next().and_then(|c| c.expires()), Some(60));
    assert_eq!(m.top_via().map(|v| v.host), Some(&b"10.1.1.1"[..]));
    assert_eq!(m.content_length(), Some(29));
    assert!(!m.body_truncated());
    for (long, val) in [
        ("Content-Encoding", &b"identity"[..]),
        ("Supported", b"timer"),
        ("Subject", b"urgent"),
        ("Session-Expires", b"1800;refresher=uac"),
        ("Event", b"presence"),
        ("Allow-Events", b"talk"),
        ("Content-Type", b"application/sdp"),
        ("CALL-ID", b"compact-1@10.1.1.1"),
    ] {
        assert_eq!(m.header(long), Some(val), "{long}");
    }
    assert_eq!(m.headers().next().map(|h| h.kind), Some(HeaderKind::Via));
    assert_eq!(m.header_count(), 14);
    // An SDP with a malformed m= line is an error, not a panic.
    assert!(Sdp::parse(m.sdp_body().expect("sdp")).is_err());
}

#[test]
fn folded_headers_and_odd_whitespace() {
    let msg = b"OPTIONS   sip:user@example.com    SIP/2.0  \r\n\
via  :\tSIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw\r\n\
Subject: I know you're there,\r\n  pick up the phone\r\n\t and talk to me!\r\n\
From   :    \"caller\"   <sip:caller@example.com>  ;   tag = 98asjd8\r\n\
TO :\r\n <sip:user@example.com>\r\n\
cAll-Id : folded-1\r\n\
Cseq:\r\n  8\r\n  OPTIONS\r\n\
X-Empty:\r\n\
\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, used) = parse(msg, &mut h);
    assert_eq!(used, msg.len());
    assert_eq!(m.method(), Some(Method::Options));
    assert_eq!(m.request_uri().map(|u| u.host), Some(&b"example.com"[..]));
    assert_eq!(
        m.header("subject"),
        Some(&b"I know you're there,\r\n  pick up the phone\r\n\t and talk to me!"[..])
    );
    assert_eq!(m.to().map(|t| t.uri.user()), Some(&b"user"[..]));
    assert_eq!(m.from().and_then(|f| f.tag()), Some(&b"98asjd8"[..]));
    assert_eq!(m.from().map(|f| f.display_name()), Some(&b"caller"[..]));
    assert_eq!(
        m.cseq().map(|c| (c.seq, c.method)),
        Some((8, Method::Options))
    );
    assert_eq!(m.call_id(), Some(&b"folded-1"[..]));
    assert_eq!(m.header("x-empty"), Some(&b""[..]));
    assert_eq!(m.top_via().map(|v| v.host), Some(&b"host1.example.com"[..]));
}

#[test]
fn bare_lf_and_missing_content_length_on_udp() {
    let msg = b"MESSAGE sip:bob@example.com SIP/2.0\nCall-ID: lf-1\nContent-Type: text/plain\n\nHello\nWorld\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, used) = parse(msg, &mut h);
    assert_eq!(used, msg.len());
    assert_eq!(m.method(), Some(Method::Message));
    assert_eq!(m.content_length(), None);
    assert_eq!(m.body(), b"Hello\nWorld\n");
    // On a stream, a missing Content-Length means an empty body.
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    match Message::parse(msg, &mut h, Framing::Stream) {
        Ok(Parsed::Complete(m, n)) => {
            assert_eq!(m.body(), b"");
            assert_eq!(n, msg.len() - 12);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_body_on_udp_is_flagged() {
    let msg = b"SIP/2.0 200 OK\r\nContent-Length: 500\r\n\r\nv=0\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, used) = parse(msg, &mut h);
    assert_eq!(used, msg.len());
    assert!(m.body_truncated());
    assert_eq!(m.body(), b"v=0\r\n");
}

#[test]
fn several_messages_in_one_datagram() {
    let one = b"SIP/2.0 100 Trying\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let two = b"SIP/2.0 180 Ringing\r\nCall-ID: a\r\nl: 4\r\n\r\nabcd";
    let three = b"BYE sip:x SIP/2.0\r\nCall-ID: b\r\n\r\n";
    let mut dgram = Vec::new();
    dgram.extend_from_slice(one);
    dgram.extend_from_slice(two);
    dgram.extend_from_slice(b"\r\n");
    dgram.extend_from_slice(three);
    dgram.extend_from_slice(b"\0\0");
    let frames: Vec<_> = split_datagram(&dgram)
        .collect::<Result<_, _>>()
        .expect("frames");
    assert_eq!(
        frames,
        vec![
            &one[..],
            &two[..],
            &b"BYE sip:x SIP/2.0\r\nCall-ID: b\r\n\r\n\0\0"[..]
        ]
    );
    // Parsing in a loop gives the same split without a second pass.
    let mut pos = 0;
    let mut codes = Vec::new();
    while pos < dgram.len() {
        let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
        let (m, used) = parse(&dgram[pos..], &mut h);
        codes.push(m.status_code().unwrap_or(0));
        pos += used;
    }
    assert_eq!(codes, vec![100, 180, 0]);
    // A broken second message is reported after the good first one.
    let mut bad = one.to_vec();
    bad.extend_from_slice(b"garbage line\r\n\r\n");
    let r: Vec<_> = split_datagram(&bad).collect();
    assert_eq!(r.len(), 2);
    assert!(r[0].is_ok());
    assert_eq!(r[1], Err(ParseError::Invalid(InvalidReason::StartLine)));
}

#[test]
fn tcp_stream_split_at_every_byte() {
    let mut stream = Vec::new();
    stream.extend_from_slice(b"\r\n\r\n");
    stream.extend_from_slice(INVITE);
    let second = b"SIP/2.0 100 Trying\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n";
    stream.extend_from_slice(second);
    let ka = 4;
    assert_eq!(frame_stream(&stream), Ok(Frame::Keepalive(ka)));
    let s = &stream[ka..];
    for cut in 0..INVITE.len() {
        assert_eq!(frame_stream(&s[..cut]), Ok(Frame::Partial), "cut {cut}");
        let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
        assert!(
            matches!(
                Message::parse(&s[..cut], &mut h, Framing::Stream),
                Ok(Parsed::Partial)
            ),
            "cut {cut}"
        );
    }
    for cut in INVITE.len()..s.len() {
        assert_eq!(
            frame_stream(&s[..cut]),
            Ok(Frame::Complete(INVITE.len())),
            "cut {cut}"
        );
    }
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    match Message::parse(s, &mut h, Framing::Stream) {
        Ok(Parsed::Complete(m, n)) => {
            assert_eq!(n, INVITE.len());
            assert_eq!(m.cseq().map(|c| c.seq), Some(2));
            assert_eq!(m.body().len(), 151);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        frame_stream(&s[INVITE.len()..]),
        Ok(Frame::Complete(second.len()))
    );
}

#[test]
fn tcp_resync_after_garbage() {
    let buf = b"\x16\x03\x01garbage that is not SIP\r\nmore junk\r\nBYE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    let err = frame_stream(buf).expect_err("garbage");
    assert_eq!(err.error, ParseError::Invalid(InvalidReason::Method));
    let rest = &buf[err.resync..];
    assert!(rest.starts_with(b"BYE "));
    assert_eq!(frame_stream(rest), Ok(Frame::Complete(rest.len())));
    // Without a candidate, everything may be dropped.
    let err = frame_stream(b"junk\r\nline\r\n\r\n").expect_err("junk");
    assert_eq!(err.resync, 14);
}

#[test]
fn limits() {
    let mut many = b"OPTIONS sip:x SIP/2.0\r\n".to_vec();
    for i in 0..=MAX_HEADERS {
        many.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    assert_eq!(
        Message::parse(&many, &mut h, Framing::Datagram).err(),
        Some(ParseError::TooManyHeaders)
    );

    let mut long = b"OPTIONS sip:x SIP/2.0\r\nX-Long: ".to_vec();
    long.resize(long.len() + voipsensor_sip::MAX_LINE_LEN, b'a');
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    assert_eq!(
        Message::parse(&long, &mut h, Framing::Stream).err(),
        Some(ParseError::TooLarge)
    );
    long.extend_from_slice(b"\r\n\r\n");
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    assert_eq!(
        Message::parse(&long, &mut h, Framing::Datagram).err(),
        Some(ParseError::TooLarge)
    );

    let huge = b"SIP/2.0 200 OK\r\nContent-Length: 70000\r\n\r\n";
    assert_eq!(
        frame_stream(huge).map_err(|e| e.error),
        Err(ParseError::TooLarge)
    );
    let conflict = b"SIP/2.0 200 OK\r\nContent-Length: 1\r\nl: 2\r\n\r\nab";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    assert_eq!(
        Message::parse(conflict, &mut h, Framing::Datagram).err(),
        Some(ParseError::Invalid(InvalidReason::ContentLength))
    );
    let fold_first = b"SIP/2.0 200 OK\r\n folded\r\n\r\n";
    assert_eq!(
        Message::parse(fold_first, &mut h, Framing::Datagram).err(),
        Some(ParseError::Invalid(InvalidReason::Fold))
    );
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    assert_eq!(
        Message::parse(b"\r\n\r\n", &mut h, Framing::Datagram).err(),
        Some(ParseError::Invalid(InvalidReason::Empty))
    );
}

#[test]
fn multipart_sdp() {
    let msg = b"INVITE sip:123@gw SIP/2.0\r\n\
Call-ID: mp-1\r\n\
Content-Type: multipart/mixed;boundary=unique-boundary-1\r\n\
MIME-Version: 1.0\r\n\r\n\
--unique-boundary-1\r\n\
Content-Type: application/sdp\r\n\r\n\
v=0\r\n\
c=IN IP4 192.0.2.7\r\n\
m=audio 20000 RTP/AVP 18\r\n\
a=rtpmap:18 G729/8000\r\n\r\n\
--unique-boundary-1\r\n\
Content-Type: application/isup;version=itu-t92+\r\n\r\n\
\x01\x02\x03\r\n\
--unique-boundary-1--\r\n";
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    let (m, _) = parse(msg, &mut h);
    let sdp = Sdp::parse(m.sdp_body().expect("sdp part")).expect("sdp");
    let a = sdp.media()[0];
    assert_eq!(
        (a.port, a.connection.map(|c| c.address)),
        (20000, Some(&b"192.0.2.7"[..]))
    );
    assert_eq!(a.rtpmap(18).map(|r| r.encoding), Some(&b"G729"[..]));
}
