//! Malformed input never panics: truncations at every byte, random bytes and mutated valid
//! messages (deterministic xorshift, > 100 000 cases), through the parser, every accessor,
//! both framers and the SDP parser.

use voipsensor_sip::{
    Framing, HeaderPos, MAX_HEADERS, MAX_MESSAGE_LEN, Message, ParseError, Parsed, Sdp,
    frame_stream, split_datagram,
};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS: [&[u8]; 3] = [
    b"INVITE sip:+15551234567@203.0.113.10:5060;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1;rport, SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bK2\r\n\
From: \"Al \\\"x\\\"\" <sip:alice@example.com>;tag=9fxced76sl\r\n\
t: <sip:123;user=phone@203.0.113.10>\r\n\
i: 3848276298220188511@198.51.100.7\r\n\
CSeq: 1 INVITE\r\n\
m: <sip:alice@198.51.100.7>;expires=60, *\r\n\
Subject: folded\r\n  value\r\n\
Authorization: Digest username=\"bob\", realm=\"r\\\"x\", nonce=\"n,1\"\r\n\
Content-Type: multipart/mixed;boundary=b1\r\n\
Content-Length: 118\r\n\
\r\n\
--b1\r\n\
Content-Type: application/sdp\r\n\r\n\
v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 8000/2 RTP/AVP 0 96\r\na=rtpmap:96 opus/48000/2\r\na=rtcp:8001 IN IP4 1.2.3.4\r\n\
--b1--\r\n",
    b"SIP/2.0 200 OK\r\nVia: SIP / 2.0 / UDP h:1;received=1.1.1.1\r\nTo: <sip:b@h>;tag=x\r\n\
From: sip:a@h;tag=y\r\nCall-ID: c\r\nCSeq: 2 REGISTER\r\nContact: <sip:b@1.2.3.4>;expires=120\r\n\
Expires: 3600\r\nWWW-Authenticate: Digest realm=\"h\"\r\nc: application/sdp\r\nl: 60\r\n\r\n\
v=0\r\nc=IN IP6 ::1\r\nm=audio 1 RTP/AVP 8\r\na=sendonly\r\na=rtcp-mux\r\n",
    b"BYE sip:x SIP/2.0\nCall-ID: z\nContent-Length: 0\n\nSIP/2.0 100 Trying\nl: 3\n\nabc",
];

/// Runs every entry point over `bytes`; the checks are "no panic" and a few invariants.
fn exercise(bytes: &[u8]) {
    for framing in [Framing::Datagram, Framing::Stream] {
        let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
        if let Ok(Parsed::Complete(m, used)) = Message::parse(bytes, &mut h, framing) {
            assert!(used <= bytes.len());
            let _ = (
                m.call_id(),
                m.from(),
                m.to(),
                m.cseq(),
                m.expires(),
                m.request_uri(),
            );
            let _ = (
                m.user_agent(),
                m.server(),
                m.content_type(),
                m.header("subject"),
            );
            if let Some(a) = m.authorization() {
                let _ = (a.username().map(|u| u.unescape()), a.realm());
            }
            let _ = m.challenge().and_then(|c| c.realm());
            for v in m.vias() {
                let _ = (v.branch(), v.rport(), v.received());
            }
            for c in m.contacts() {
                let _ = (c.expires(), c.addr().map(|a| a.display_name_unescaped()));
            }
            if let Some(f) = m.from() {
                let _ = (f.uri.user(), f.tag(), f.display_name_unescaped());
            }
            if let Some(Ok(sdp)) = m.sdp_body().map(Sdp::parse) {
                for media in sdp.media() {
                    let _ = (media.rtpmaps().count(), media.payload_types().count());
                    let _ = media.connection.and_then(|c| c.ip());
                }
            }
        }
    }
    for f in split_datagram(bytes).flatten() {
        assert!(!f.is_empty());
    }
    match frame_stream(bytes) {
        Ok(voipsensor_sip::Frame::Complete(n) | voipsensor_sip::Frame::Keepalive(n)) => {
            assert!(n > 0 && n <= bytes.len());
        }
        Ok(voipsensor_sip::Frame::Partial) => {}
        Err(e) => assert!(e.resync > 0 && e.resync <= bytes.len().max(1)),
    }
    let _ = Sdp::parse(bytes);
}

#[test]
fn seeds_are_valid() {
    for seed in SEEDS {
        let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
        assert!(matches!(
            Message::parse(seed, &mut h, Framing::Datagram),
            Ok(Parsed::Complete(..))
        ));
    }
}

#[test]
fn truncations_at_every_byte() {
    let mut cases = 0;
    for seed in SEEDS {
        for cut in 0..=seed.len() {
            exercise(&seed[..cut]);
            exercise(&seed[cut..]);
            cases += 2;
        }
    }
    assert!(cases > 1000);
}

#[test]
fn random_and_mutated() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let alphabet = b"\r\n \t:;,<>\"\\@=/[]*0123456789SIPsip.vmcltfix-";
    let mut buf = Vec::with_capacity(2048);
    let mut cases = 0u32;
    for i in 0..120_000u32 {
        buf.clear();
        if i % 4 == 0 {
            let len = rng.below(300);
            for _ in 0..len {
                let r = rng.next();
                buf.push(if r & 1 == 0 {
                    (r >> 8) as u8
                } else {
                    alphabet[(r >> 8) as usize % alphabet.len()]
                });
            }
        } else {
            buf.extend_from_slice(SEEDS[rng.below(SEEDS.len())]);
            for _ in 0..1 + rng.below(8) {
                let pos = rng.below(buf.len().max(1));
                match rng.below(5) {
                    0 if !buf.is_empty() => buf[pos] = rng.next() as u8,
                    1 if !buf.is_empty() => buf[pos] = alphabet[rng.below(alphabet.len())],
                    2 if !buf.is_empty() => {
                        buf.remove(pos);
                    }
                    3 => buf.insert(pos, alphabet[rng.below(alphabet.len())]),
                    _ => {
                        let end = (pos + rng.below(40)).min(buf.len());
                        let chunk = buf[pos..end].to_vec();
                        let at = rng.below(buf.len().max(1));
                        buf.splice(at..at, chunk);
                    }
                }
            }
        }
        exercise(&buf);
        cases += 1;
    }
    assert!(cases >= 100_000);
}

/// Found by `cargo fuzz run sip_message` (fuzz/, docs/fuzzing.md): a datagram without
/// Content-Length had its body run to the datagram end with no size check, so messages over
/// `MAX_MESSAGE_LEN` were accepted (the original crasher: 68 632 bytes).
#[test]
fn fuzz_regression_datagram_body_over_limit() {
    let head: &[u8] = b"MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Type: text/plain\r\n\r\n";
    let mut msg = head.to_vec();
    msg.resize(MAX_MESSAGE_LEN, b'a');
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    assert!(matches!(
        Message::parse(&msg, &mut h, Framing::Datagram),
        Ok(Parsed::Complete(m, n)) if n == MAX_MESSAGE_LEN && m.body().len() == n - head.len()
    ));
    msg.push(b'a');
    assert_eq!(
        Message::parse(&msg, &mut h, Framing::Datagram).err(),
        Some(ParseError::TooLarge)
    );
    assert_eq!(
        split_datagram(&msg).collect::<Vec<_>>(),
        [Err(ParseError::TooLarge)]
    );
    // Leading keep-alive line ends do not count.
    let mut padded = b"\r\n\r\n".to_vec();
    padded.extend_from_slice(&msg[..MAX_MESSAGE_LEN]);
    assert!(matches!(
        Message::parse(&padded, &mut h, Framing::Datagram),
        Ok(Parsed::Complete(_, n)) if n == padded.len()
    ));
}

/// The header-section check runs before each line, so the blank line could take a header
/// section without Content-Length to `MAX_MESSAGE_LEN + 2` bytes (found with the case above).
#[test]
fn fuzz_regression_header_section_over_limit() {
    fn pad_line(msg: &mut Vec<u8>, total: usize) {
        msg.extend_from_slice(b"X-Pad: ");
        msg.resize(msg.len() + total - 9, b'p');
        msg.extend_from_slice(b"\r\n");
    }
    let mut msg = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    while MAX_MESSAGE_LEN - msg.len() > 8010 {
        pad_line(&mut msg, 8000);
    }
    let last = MAX_MESSAGE_LEN - msg.len();
    pad_line(&mut msg, last);
    // The blank line starts exactly at the limit.
    assert_eq!(msg.len(), MAX_MESSAGE_LEN);
    msg.extend_from_slice(b"\r\n");
    let mut h = [HeaderPos::EMPTY; MAX_HEADERS];
    for framing in [Framing::Datagram, Framing::Stream] {
        assert_eq!(
            Message::parse(&msg, &mut h, framing).err(),
            Some(ParseError::TooLarge),
            "{framing:?}"
        );
    }
    assert_eq!(
        frame_stream(&msg).map_err(|e| e.error),
        Err(ParseError::TooLarge)
    );
}
