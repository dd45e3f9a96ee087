//! SDP byte vectors: connection override, media, rtpmaps, direction, RTCP, bounds.

use voipsensor_sip::{AddrType, Direction, MAX_MEDIA, MAX_RTPMAPS, Rtcp, Sdp, SdpError};

const OFFER: &[u8] = b"v=0\r\n\
o=- 20518 0 IN IP4 203.0.113.1\r\n\
s= \r\n\
c=IN IP4 203.0.113.1\r\n\
t=0 0\r\n\
a=sendonly\r\n\
m=audio 54400 RTP/SAVPF 0 96 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=rtcp:54401 IN IP4 203.0.113.9\r\n\
m=video 55400/2 RTP/AVP 97\r\n\
c=IN IP6 2001:db8::77\r\n\
a=rtpmap:97 H264/90000\r\n\
a=inactive\r\n\
a=rtcp-mux\r\n\
a=rtcp:9\r\n\
m=image 0 udptl t38\r\n\
c=IN IP4 224.2.1.1/127\r\n";

#[test]
fn offer() {
    let sdp = Sdp::parse(OFFER).expect("sdp");
    assert_eq!(sdp.connection.map(|c| c.address), Some(&b"203.0.113.1"[..]));
    assert_eq!(sdp.direction, Direction::SendOnly);
    assert!(!sdp.media_overflow && !sdp.rtpmap_overflow);
    let m = sdp.media();
    assert_eq!(m.len(), 3);

    let a = m[0];
    assert!(a.is_audio());
    assert_eq!(
        (a.port, a.port_count, a.proto),
        (54400, 1, &b"RTP/SAVPF"[..])
    );
    assert_eq!(a.payload_types().collect::<Vec<_>>(), vec![0, 96, 101]);
    assert_eq!(a.direction, Direction::SendOnly);
    assert_eq!(
        a.connection.map(|c| (c.addr_type, c.address)),
        Some((AddrType::Ip4, &b"203.0.113.1"[..]))
    );
    assert_eq!(a.ptime, Some(20));
    let rtcp = a.rtcp.expect("rtcp");
    assert_eq!(rtcp.port, 54401);
    assert_eq!(
        rtcp.connection.and_then(|c| c.ip()),
        Some("203.0.113.9".parse().expect("ip"))
    );
    assert!(!a.rtcp_mux);
    assert_eq!(a.rtpmaps().count(), 3);
    assert_eq!(a.rtpmaps().next().map(|r| r.encoding), Some(&b"PCMU"[..]));
    let opus = a.rtpmap(96).expect("opus");
    assert_eq!(
        (opus.encoding, opus.clock_rate, opus.channels),
        (&b"opus"[..], 48000, Some(2))
    );
    assert_eq!(a.rtpmap(101).map(|r| r.channels), Some(None));

    let v = m[1];
    assert_eq!((v.port, v.port_count), (55400, 2));
    assert_eq!(v.connection.map(|c| c.addr_type), Some(AddrType::Ip6));
    assert_eq!(
        v.connection.and_then(|c| c.ip()),
        Some("2001:db8::77".parse().expect("ip"))
    );
    assert_eq!(v.direction, Direction::Inactive);
    assert!(v.rtcp_mux);
    assert_eq!(
        v.rtcp,
        Some(Rtcp {
            port: 9,
            connection: None
        })
    );
    assert_eq!(v.rtpmaps().count(), 1);

    let t38 = m[2];
    assert!(t38.is_image());
    assert_eq!(t38.port, 0);
    assert_eq!(t38.formats().collect::<Vec<_>>(), vec![&b"t38"[..]]);
    assert_eq!(t38.connection.map(|c| c.address), Some(&b"224.2.1.1"[..]));
    assert!(t38.rtpmaps().next().is_none());
}

#[test]
fn lf_only_and_no_connection() {
    let sdp = Sdp::parse(b"v=0\nm=audio 4000 RTP/AVP 8\na=recvonly\n").expect("sdp");
    let a = sdp.media()[0];
    assert_eq!(a.connection, None);
    assert_eq!(a.direction, Direction::RecvOnly);
    assert_eq!(sdp.direction, Direction::SendRecv);
}

#[test]
fn hold_with_zero_address() {
    let sdp = Sdp::parse(b"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 8\r\n").expect("sdp");
    assert_eq!(
        sdp.media()[0].connection.and_then(|c| c.ip()),
        Some("0.0.0.0".parse().expect("ip"))
    );
}

#[test]
fn errors() {
    assert_eq!(Sdp::parse(b"").err(), Some(SdpError::NotSdp));
    assert_eq!(Sdp::parse(b"hello").err(), Some(SdpError::NotSdp));
    assert_eq!(
        Sdp::parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n").err(),
        Some(SdpError::Media)
    );
    assert_eq!(
        Sdp::parse(b"v=0\r\nm=audio 1\r\n").err(),
        Some(SdpError::Media)
    );
    assert_eq!(
        Sdp::parse(b"v=0\r\nc=IN\r\n").err(),
        Some(SdpError::Connection)
    );
    // Malformed attributes are ignored.
    let sdp = Sdp::parse(b"v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:x\r\na=rtpmap:300 a/1\r\na=rtcp:x\r\na=ptime:\r\nzzz\r\n")
        .expect("sdp");
    assert!(sdp.media()[0].rtpmaps().next().is_none());
    assert_eq!(sdp.media()[0].rtcp, None);
    assert_eq!(sdp.media()[0].ptime, None);
}

#[test]
fn bounds() {
    let mut body = b"v=0\r\n".to_vec();
    for i in 0..MAX_MEDIA + 3 {
        body.extend_from_slice(format!("m=audio {} RTP/AVP 0 8\r\n", 10000 + 2 * i).as_bytes());
        for pt in 0..5 {
            body.extend_from_slice(format!("a=rtpmap:{pt} X/8000\r\n").as_bytes());
        }
        body.extend_from_slice(b"a=sendonly\r\n");
    }
    let sdp = Sdp::parse(&body).expect("sdp");
    assert!(sdp.media_overflow);
    assert!(!sdp.rtpmap_overflow);
    assert_eq!(sdp.media().len(), MAX_MEDIA);
    for m in sdp.media() {
        assert_eq!(m.rtpmaps().count(), 5);
        assert_eq!(m.direction, Direction::SendOnly);
    }
    assert_eq!(
        sdp.media()[MAX_MEDIA - 1].port,
        10000 + 2 * (MAX_MEDIA as u16 - 1)
    );

    let mut body = b"v=0\r\nm=audio 1 RTP/AVP 0\r\n".to_vec();
    for pt in 0..MAX_RTPMAPS + 10 {
        body.extend_from_slice(format!("a=rtpmap:{} X/8000\r\n", pt % 128).as_bytes());
    }
    let sdp = Sdp::parse(&body).expect("sdp");
    assert!(sdp.rtpmap_overflow);
    assert_eq!(sdp.media()[0].rtpmaps().count(), MAX_RTPMAPS);
}
