//! Parse a typical INVITE with SDP, extract what the call table needs and parse its SDP.
//! `cargo bench -p voipsensor-sip --bench parse`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use voipsensor_sip::{Framing, HeaderPos, MAX_HEADERS, Message, Parsed, Sdp};

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

/// The index is the caller's and reused for every message, as the sniffer does.
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

fn bench(c: &mut Criterion) {
    let mut index = [HeaderPos::EMPTY; MAX_HEADERS];
    assert!(parse_and_extract(INVITE, &mut index) > 0);
    let mut g = c.benchmark_group("sip");
    g.throughput(Throughput::Bytes(INVITE.len() as u64));
    g.bench_function("invite_parse_extract_sdp", |b| {
        b.iter(|| parse_and_extract(black_box(INVITE), &mut index));
    });
    g.bench_function("invite_parse_only", |b| {
        b.iter(|| {
            matches!(
                Message::parse(black_box(INVITE), &mut index, Framing::Datagram),
                Ok(Parsed::Complete(..))
            )
        });
    });
    let body = &INVITE[INVITE.len() - 253..];
    g.bench_function("sdp_parse", |b| {
        b.iter(|| Sdp::parse(black_box(body)).map_or(0, |s| s.media().len()));
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
