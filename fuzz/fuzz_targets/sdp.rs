//! Any bytes as an SDP body: parse and walk every media section and attribute. Checks: no
//! panic, the documented bounds, and that every value is a slice of the body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use voipsensor_sip::{Connection, MAX_MEDIA, MAX_RTPMAPS, Sdp};

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

fn connection(body: &[u8], c: &Connection<'_>) {
    assert!(within(body, c.address));
    let _ = (c.addr_type, c.ip());
}

fuzz_target!(|body: &[u8]| {
    let Ok(sdp) = Sdp::parse(body) else {
        return;
    };
    let _ = (sdp.direction, sdp.media_overflow, sdp.rtpmap_overflow);
    if let Some(c) = &sdp.connection {
        connection(body, c);
    }
    let media = sdp.media();
    assert!(media.len() <= MAX_MEDIA);
    for m in media {
        assert!(within(body, m.media) && !m.media.is_empty());
        assert!(within(body, m.proto) && !m.proto.is_empty());
        assert!(within(body, m.formats));
        let _ = (m.port, m.port_count, m.direction, m.rtcp_mux, m.ptime);
        let _ = (m.is_audio(), m.is_image());
        for f in m.formats() {
            assert!(!f.is_empty() && within(m.formats, f));
        }
        for pt in m.payload_types() {
            let _ = m.rtpmap(pt);
        }
        let mut n = 0;
        for r in m.rtpmaps() {
            n += 1;
            assert!(within(body, r.encoding) && !r.encoding.is_empty());
            let _ = (r.payload_type, r.clock_rate, r.channels);
        }
        assert!(n <= MAX_RTPMAPS);
        if let Some(c) = &m.connection {
            connection(body, c);
        }
        if let Some(r) = &m.rtcp {
            let _ = r.port;
            if let Some(c) = &r.connection {
                connection(body, c);
            }
        }
    }
});
