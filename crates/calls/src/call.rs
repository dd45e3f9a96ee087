//! One INVITE call: SIP state (§3.3–§3.5, §3.7), media bindings (§3.9), RTP streams.

use std::net::IpAddr;

use voipsensor_manager_proto::json::{Row, Value};
use voipsensor_rtp::rtcp_stats::{RtcpStats, ntp_middle32_from_unix_us};
use voipsensor_rtp::{MosModel, PayloadType, RtpPacket, StreamConfig, StreamStats};
use voipsensor_sip::{Message, Method, Sdp};

use crate::cdr::{Cdr, CdrRtcp, CdrRtp, CdrStream, WhoHanged};
use crate::hops::{Hops, branch_key};
use crate::util::{SEC, datetime, hex0x, secs, text};
use crate::{Binding, CallsConfig, Counters, Endpoint, MediaMap};

/// Most INVITE / BYE CSeqs remembered per call.
const MAX_CSEQS: usize = 32;
/// Most media bindings per call.
const MAX_MEDIA_KEYS: usize = 64;
/// Most RTP streams per direction.
const MAX_STREAMS_PER_SIDE: usize = 4;
/// Longest From tag kept.
const MAX_TAG: usize = 128;
/// `max_sip_packets_in_call` / `max_invite_packets_in_call`.
const MAX_SIP_PACKETS: u32 = 20_000;
const MAX_INVITE_PACKETS: u32 = 10_000;
/// Base of the pointer-like call references.
const CALLREF_BASE: u64 = 0x7f00_0000_0000;

/// Direction of a stream, by its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Sent by the caller (`src_*` columns).
    Caller,
    /// Sent by the callee (`dst_*` columns).
    Called,
}

impl Side {
    pub(crate) fn other(self) -> Self {
        match self {
            Self::Caller => Self::Called,
            Self::Called => Self::Caller,
        }
    }
}

#[derive(Debug)]
struct Stream {
    side: Side,
    ssrc: u32,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    first_us: u64,
    last_us: u64,
    stats: StreamStats,
    /// What RTCP report blocks said about this stream.
    rtcp: RtcpStats,
    /// IP TTLs seen: min, max, sum, count.
    ttl: Option<(u8, u8, u64, u32)>,
}

/// A media address the call bound, and the INVITE hop whose response SDP announced it (an
/// early-media address of one fork), if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MediaKey {
    pub(crate) key: (IpAddr, u16),
    hop: Option<u8>,
}

#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) id: u64,
    pub(crate) call_id: Box<[u8]>,
    created_us: u64,
    last_packet_us: u64,
    pub(crate) last_rtp_us: Option<u64>,
    pub(crate) closing_at: Option<u64>,
    caller: Box<str>,
    called: Box<str>,
    callername: Box<str>,
    callerdomain: Box<str>,
    calleddomain: Box<str>,
    calleragent: Box<str>,
    calledagent: Box<str>,
    caller_ep: Endpoint,
    /// Destination of the first INVITE (`sipcalledip` until hops say better).
    called_ep: Endpoint,
    /// Reason text of `last_response` for the CDR (`200 OK`).
    last_response_text: Box<str>,
    /// First 100 / first other response to an INVITE (CDR response times).
    first_100_us: Option<u64>,
    first_other_us: Option<u64>,
    /// Whether the first BYE came from the caller.
    bye_by_caller: Option<bool>,
    /// Digest username of an INVITE's Authorization / Proxy-Authorization.
    digest_username: Box<str>,
    first_rtp_us: Option<u64>,
    /// `cdr.flags` transport bits of the first INVITE's top Via: 31 TCP, 32 UDP, 33 TLS.
    transport_flags: u64,
    /// Why the timers closed the call: a `bye` code (§2.3), 0 for a normal end.
    pub(crate) close_code: u8,
    hops: Hops,
    caller_tag: Option<Box<[u8]>>,
    vlan: Option<u16>,
    last_response: u16,
    last_from_cancel: bool,
    invite_after_487: bool,
    answered: bool,
    connect_us: Option<u64>,
    progress_us: Option<u64>,
    invite_cseqs: Vec<u32>,
    reinvite_cseqs: Vec<u32>,
    bye_cseqs: Vec<u32>,
    bye_at: Option<u64>,
    bye_confirmed_at: Option<u64>,
    cancel_at: Option<u64>,
    destroy_at: Option<u64>,
    sip_packets: u32,
    invite_packets: u32,
    pub(crate) media_keys: Vec<MediaKey>,
    stream_config: StreamConfig,
    streams: Vec<Stream>,
    codec: [Option<PayloadType>; 2],
    /// `a=ptime` announced for the stream of each direction (by the other side's SDP).
    sdp_ptime: [Option<u8>; 2],
}

fn push_bounded(v: &mut Vec<u32>, x: u32) {
    if !v.contains(&x) {
        if v.len() >= MAX_CSEQS {
            v.remove(0);
        }
        v.push(x);
    }
}

impl Call {
    pub(crate) fn new(
        id: u64,
        now: u64,
        src: Endpoint,
        dst: Endpoint,
        vlan: Option<u16>,
        call_id: &[u8],
        msg: &Message<'_, '_>,
    ) -> Self {
        let from = msg.from();
        let to = msg.to();
        Self {
            id,
            call_id: call_id.into(),
            created_us: now,
            last_packet_us: now,
            last_rtp_us: None,
            closing_at: None,
            caller: from.map(|f| text(f.uri.user())).unwrap_or_default().into(),
            called: to.map(|t| text(t.uri.user())).unwrap_or_default().into(),
            callername: from
                .map(|f| text(&f.display_name_unescaped()))
                .unwrap_or_default()
                .into(),
            callerdomain: from.map(|f| text(f.uri.host)).unwrap_or_default().into(),
            calleddomain: to.map(|t| text(t.uri.host)).unwrap_or_default().into(),
            calleragent: msg.user_agent().map(text).unwrap_or_default().into(),
            calledagent: Box::default(),
            caller_ep: src,
            called_ep: dst,
            last_response_text: "".into(),
            first_100_us: None,
            first_other_us: None,
            bye_by_caller: None,
            digest_username: msg
                .authorization()
                .and_then(|a| a.username())
                .map(|u| text(&u.unescape()))
                .unwrap_or_default()
                .into(),
            first_rtp_us: None,
            transport_flags: msg.top_via().map_or(0, |v| {
                if v.transport.eq_ignore_ascii_case(b"TCP") {
                    1 << 31
                } else if v.transport.eq_ignore_ascii_case(b"TLS") {
                    1 << 33
                } else if v.transport.eq_ignore_ascii_case(b"UDP") {
                    1 << 32
                } else {
                    0
                }
            }),
            close_code: 0,
            hops: Hops::default(),
            caller_tag: from
                .and_then(|f| f.tag())
                .filter(|t| t.len() <= MAX_TAG)
                .map(Into::into),
            vlan,
            last_response: 0,
            last_from_cancel: false,
            invite_after_487: false,
            answered: false,
            connect_us: None,
            progress_us: None,
            invite_cseqs: Vec::new(),
            reinvite_cseqs: Vec::new(),
            bye_cseqs: Vec::new(),
            bye_at: None,
            bye_confirmed_at: None,
            cancel_at: None,
            destroy_at: None,
            sip_packets: 0,
            invite_packets: 0,
            media_keys: Vec::new(),
            stream_config: StreamConfig::default(),
            streams: Vec::new(),
            codec: [None, None],
            sdp_ptime: [None, None],
        }
    }

    pub(crate) fn call_ref(&self) -> crate::CallRef {
        crate::CallRef {
            id: self.id,
            start_us: self.created_us,
        }
    }

    /// Any packet of the call: last packet time, extension of a pending destroy time (§3.4).
    pub(crate) fn touch(&mut self, now: u64) {
        self.last_packet_us = self.last_packet_us.max(now);
        if let Some(d) = self.destroy_at {
            let ext = if self.bye_confirmed_at.is_some() {
                5
            } else if self.bye_at.is_some() {
                60
            } else if self.last_response == 487 {
                15
            } else {
                5
            };
            self.destroy_at = Some(d.max(now + ext * SEC));
        }
    }

    /// Whether the message was sent by the caller: by From tag when both are known, else by
    /// the caller's SIP endpoint.
    fn sent_by_caller(&self, src: Endpoint, msg: &Message<'_, '_>) -> bool {
        let from_tag = msg.from().and_then(|f| f.tag());
        match (self.caller_tag.as_deref(), from_tag) {
            (Some(ct), Some(ft)) => (ct == ft) == msg.is_request(),
            _ => src == self.caller_ep,
        }
    }

    pub(crate) fn on_sip(
        &mut self,
        now: u64,
        src: Endpoint,
        dst: Endpoint,
        msg: &Message<'_, '_>,
        media: &mut MediaMap,
        counters: &mut Counters,
    ) {
        self.sip_packets = self.sip_packets.saturating_add(1);
        self.touch(now);
        let by_caller = self.sent_by_caller(src, msg);
        let cseq = msg.cseq();
        let mut reinvite = false;
        let mut answer_hop = None;
        match (msg.method(), msg.status_code()) {
            (Some(Method::Invite), _) => {
                self.invite_packets = self.invite_packets.saturating_add(1);
                let to_tag = msg.to().and_then(|t| t.tag()).is_some();
                let in_dialog = to_tag && !self.invite_cseqs.is_empty();
                let new_hop = !in_dialog
                    && self
                        .hops
                        .invite(
                            src,
                            dst,
                            msg.vias().map(|v| v.branch().map_or(0, branch_key)),
                        )
                        .is_some();
                if let Some(c) = cseq {
                    let new = !self.invite_cseqs.contains(&c.seq);
                    if !new && new_hop {
                        // The INVITE forwarded to the next hop or fork (serial hunting).
                        self.destroy_at = None;
                    }
                    if new {
                        if in_dialog {
                            reinvite = true;
                            push_bounded(&mut self.reinvite_cseqs, c.seq);
                        } else if !self.invite_cseqs.is_empty() && src.ip == self.caller_ep.ip {
                            // sipoverlap / new attempt: update the called number.
                            if let Some(u) =
                                msg.to().map(|t| t.uri.user()).filter(|u| !u.is_empty())
                            {
                                self.called = text(u).into();
                            }
                        }
                        push_bounded(&mut self.invite_cseqs, c.seq);
                        if self.last_response == 487 {
                            self.invite_after_487 = true;
                        }
                        self.bye_at = None;
                        self.bye_confirmed_at = None;
                        self.bye_cseqs.clear();
                        self.cancel_at = None;
                        self.destroy_at = None;
                    }
                }
            }
            (Some(Method::Bye), _) => {
                if let Some(c) = cseq {
                    push_bounded(&mut self.bye_cseqs, c.seq);
                }
                if self.bye_at.is_none() {
                    self.bye_at = Some(now);
                    self.bye_by_caller = Some(by_caller);
                }
                self.destroy_at = Some(self.destroy_at.unwrap_or(0).max(now + 60 * SEC));
            }
            // After a 2xx a CANCEL only ends the other forks (RFC 3261 §9.1): no timer.
            (Some(Method::Cancel), _) if self.answered => {}
            (Some(Method::Cancel), _) => {
                if self.update_last_response(487, None, true) {
                    self.last_from_cancel = true;
                    self.last_response_text = "487 Request Terminated CANCEL".into();
                }
                self.cancel_at.get_or_insert(now);
                self.destroy_at = Some(now + 10 * SEC);
            }
            (Some(_), _) => {}
            (None, Some(code)) => {
                answer_hop = self.on_response(now, src, code, cseq, by_caller, msg, media);
            }
            (None, None) => {}
        }
        if msg.method() != Some(Method::Message) {
            self.take_sdp(msg, by_caller, reinvite, answer_hop, media, counters);
        }
    }

    /// A response; returns the INVITE hop it answers when it belongs to an initial INVITE.
    #[allow(clippy::too_many_arguments)]
    fn on_response(
        &mut self,
        now: u64,
        src: Endpoint,
        code: u16,
        cseq: Option<voipsensor_sip::CSeq<'_>>,
        by_caller: bool,
        msg: &Message<'_, '_>,
        media: &mut MediaMap,
    ) -> Option<usize> {
        if !by_caller && let Some(ua) = msg.user_agent().filter(|u| !u.is_empty()) {
            self.calledagent = text(ua).into();
        }
        let cm = cseq.map(|c| c.method);
        let seq = cseq.map(|c| c.seq);
        if self.update_last_response(code, cm, false) {
            let reason = match msg.start() {
                voipsensor_sip::StartLine::Response { reason, .. } => text(reason),
                voipsensor_sip::StartLine::Request { .. } => String::new(),
            };
            self.last_response_text = format!("{code} {reason}").trim_end().into();
        }
        if cm == Some(Method::Invite) {
            if code == 100 {
                self.first_100_us.get_or_insert(now);
            } else {
                self.first_other_us.get_or_insert(now);
            }
        }
        let invite_tx =
            cm == Some(Method::Invite) && seq.is_some_and(|s| self.invite_cseqs.contains(&s));
        let reinvite_tx = seq.is_some_and(|s| self.reinvite_cseqs.contains(&s));
        let hop = if invite_tx && !reinvite_tx {
            let branch = msg.top_via().and_then(|v| v.branch()).map(branch_key);
            self.hops.find(branch, src.ip)
        } else {
            None
        };
        if let Some(i) = hop {
            self.hops.respond(i, code, now);
        }
        match code {
            180..=189 => {
                self.progress_us.get_or_insert(now);
                self.destroy_at = None;
            }
            200..=299 if invite_tx => {
                if !self.answered {
                    self.answered = true;
                    self.connect_us = Some(now);
                }
                self.progress_us.get_or_insert(now);
                if self.bye_at.is_none() {
                    self.destroy_at = None;
                }
            }
            200..=299
                if cm == Some(Method::Bye) && seq.is_some_and(|s| self.bye_cseqs.contains(&s)) =>
            {
                self.bye_confirmed_at.get_or_insert(now);
                self.destroy_at = Some(now + 5 * SEC);
            }
            300..=699 if invite_tx && !reinvite_tx => {
                if let Some(i) = hop {
                    self.unbind_hop(i, media);
                }
                if self.answered || (hop.is_some() && self.hops.leaf_pending()) {
                    // Another fork was answered or still rings: this branch alone ended.
                    return hop;
                }
                let t = match code {
                    300 => Some(300),
                    481 => Some(180),
                    491 => None,
                    401 | 407 | 501 if self.destroy_at.is_some() => None,
                    401 | 407 | 501 => Some(60),
                    _ => Some(5),
                };
                if let Some(t) = t {
                    self.destroy_at = Some(now + t * SEC);
                }
            }
            _ => {}
        }
        hop
    }

    /// Forgets the media a failed fork announced in its responses (§3.8).
    fn unbind_hop(&mut self, hop: usize, media: &mut MediaMap) {
        let owner = u8::try_from(hop).ok();
        if owner.is_none() || !self.media_keys.iter().any(|m| m.hop == owner) {
            return;
        }
        media.unbind(
            self.id,
            self.media_keys
                .iter()
                .filter(|m| m.hop == owner)
                .map(|m| m.key),
        );
        self.media_keys.retain(|m| m.hop != owner);
    }

    /// §3.5 for a response, or for the CANCEL request itself (`is_cancel_request`, code 487).
    /// Returns whether the stored value changed.
    fn update_last_response(
        &mut self,
        code: u16,
        cseq_method: Option<Method<'_>>,
        is_cancel_request: bool,
    ) -> bool {
        let last = self.last_response;
        if self.answered {
            return false;
        }
        if !is_cancel_request {
            if cseq_method == Some(Method::Cancel) {
                return false;
            }
            if (200..300).contains(&code)
                && !matches!(cseq_method, Some(Method::Invite | Method::Message))
            {
                return false;
            }
        }
        if last == 487 {
            let ok = (self.invite_after_487 && code == 200)
                || (self.last_from_cancel && !is_cancel_request && (480..490).contains(&code));
            if !ok {
                return false;
            }
        }
        if (500..600).contains(&last) && (500..600).contains(&code) {
            return false;
        }
        if last >= 200 && code < 200 && last != 401 && last != 407 {
            return false;
        }
        self.last_response = code;
        self.last_from_cancel = false;
        self.invite_after_487 = false;
        true
    }

    fn take_sdp(
        &mut self,
        msg: &Message<'_, '_>,
        by_caller: bool,
        reinvite: bool,
        hop: Option<usize>,
        media: &mut MediaMap,
        counters: &mut Counters,
    ) {
        let Some(body) = msg.sdp_body() else {
            return;
        };
        let Ok(sdp) = &Sdp::parse(body) else {
            return;
        };
        // The stream arriving at an address announced by one side is sent by the other.
        let side = if by_caller {
            Side::Called
        } else {
            Side::Caller
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
            self.bind(media, counters, (ip, m.port), side, false, hop);
            if let Some(p) = m.ptime.and_then(|p| u8::try_from(p).ok()) {
                self.sdp_ptime[side_index(side)] = Some(p);
            }
            if !m.rtcp_mux {
                let (rip, rport) = match m.rtcp {
                    Some(r) => (
                        r.connection.and_then(|c| c.ip()).unwrap_or(ip),
                        Some(r.port),
                    ),
                    None => (ip, m.port.checked_add(1)),
                };
                if let Some(rport) = rport.filter(|&p| p != 0) {
                    self.bind(media, counters, (rip, rport), side, true, hop);
                }
            }
            for rm in m.rtpmaps() {
                let pt = PayloadType(rm.payload_type);
                if rm.encoding.eq_ignore_ascii_case(b"telephone-event") {
                    self.stream_config.telephone_event = Some(pt);
                }
                if pt.is_dynamic() {
                    self.stream_config.clock_rates.set(pt, rm.clock_rate);
                    for s in &mut self.streams {
                        s.stats.set_clock_rate(pt, rm.clock_rate);
                    }
                }
            }
        }
        if reinvite {
            for s in &mut self.streams {
                s.stats.mark_reset();
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn bind(
        &mut self,
        media: &mut MediaMap,
        counters: &mut Counters,
        key: (IpAddr, u16),
        side: Side,
        rtcp: bool,
        hop: Option<usize>,
    ) {
        // A response relayed by a proxy repeats the fork's SDP: the fork stays the owner.
        let relayed = hop.is_some_and(|h| self.hops.is_forwarded(h));
        let hop = hop.and_then(|h| u8::try_from(h).ok());
        match self.media_keys.iter_mut().find(|m| m.key == key) {
            // Announced by the offer or by two forks: shared, never unbound with one fork.
            Some(m) if m.hop != hop && !relayed => m.hop = None,
            Some(_) => {}
            None => {
                if self.media_keys.len() >= MAX_MEDIA_KEYS {
                    return;
                }
                self.media_keys.push(MediaKey { key, hop });
            }
        }
        let b = Binding {
            call: self.id,
            side,
            rtcp,
        };
        if media.bind(key, b) {
            counters.evictions += 1;
        }
    }

    /// One RTP packet of direction `side`; false when ignored.
    pub(crate) fn on_rtp(
        &mut self,
        now: u64,
        side: Side,
        src: Endpoint,
        dst: Endpoint,
        ttl: Option<u8>,
        pkt: &RtpPacket<'_>,
    ) -> bool {
        let ssrc = pkt.ssrc().0;
        if ssrc == 0 {
            return false;
        }
        let idx = match self
            .streams
            .iter()
            .position(|s| s.side == side && s.ssrc == ssrc)
        {
            Some(i) => i,
            None => {
                if self.streams.iter().filter(|s| s.side == side).count() >= MAX_STREAMS_PER_SIDE {
                    return false;
                }
                self.streams.push(Stream {
                    side,
                    ssrc,
                    src: src.ip,
                    dst: dst.ip,
                    sport: src.port,
                    dport: dst.port,
                    first_us: now,
                    last_us: now,
                    stats: StreamStats::new(&self.stream_config),
                    rtcp: RtcpStats::new(0),
                    ttl: None,
                });
                self.streams.len() - 1
            }
        };
        self.first_rtp_us.get_or_insert(now);
        let s = &mut self.streams[idx];
        s.src = src.ip;
        s.dst = dst.ip;
        s.sport = src.port;
        s.dport = dst.port;
        s.last_us = s.last_us.max(now);
        if let Some(t) = ttl {
            let (lo, hi, sum, n) = s.ttl.unwrap_or((t, t, 0, 0));
            s.ttl = Some((lo.min(t), hi.max(t), sum + u64::from(t), n + 1));
        }
        s.stats.handle_packet(pkt, now);
        if let Some(pt) = s.stats.last_payload_type() {
            self.codec[side_index(side)] = Some(pt);
        }
        true
    }

    /// An RTCP compound packet of the call: its report blocks are attached to the streams
    /// they describe, by SSRC (§3.12).
    pub(crate) fn on_rtcp(&mut self, now: u64, payload: &[u8]) {
        let arrival = ntp_middle32_from_unix_us(now);
        for packet in voipsensor_rtp::rtcp::parse_compound(payload).flatten() {
            let blocks = match (packet.sender_report(), packet.receiver_report()) {
                (Some(sr), _) => sr.report_blocks(),
                (None, Some(rr)) => rr.report_blocks(),
                (None, None) => continue,
            };
            for block in blocks {
                let ssrc = block.ssrc().0;
                if let Some(s) = self.streams.iter_mut().find(|s| s.ssrc == ssrc) {
                    let rate = s
                        .stats
                        .first_payload_type()
                        .map_or(8000, |pt| self.stream_config.clock_rates.rate(pt));
                    s.rtcp.handle_report_block(&block, rate, Some(arrival));
                }
            }
        }
    }

    /// When (and why) the call should be closed now, per §3.7; the close time.
    /// The close time and the `bye` code of the reason (0: the call ended normally).
    pub(crate) fn close_due(&self, now: u64, cfg: &CallsConfig) -> Option<(u64, u8)> {
        if let Some(d) = self.destroy_at
            && now >= d
        {
            return Some((d, 0));
        }
        let since = |t: u64, s: u64| now >= t.saturating_add(s * SEC);
        let hard = match (self.bye_confirmed_at, self.bye_at) {
            (Some(t), _) => since(t, 600),
            (None, Some(t)) => since(t, 1200),
            _ => false,
        };
        // In the order of the bye table (§2.3): the first matching reason is reported.
        let code = if since(self.created_us, cfg.absolute_timeout_s) {
            102
        } else if hard {
            103
        } else if self.last_rtp_us.is_some() && since(self.last_packet_us, cfg.rtp_timeout_s) {
            104
        } else if self.progress_us.is_none()
            && self.last_rtp_us.is_none()
            && since(self.created_us, 300)
        {
            107
        } else if self.last_rtp_us.is_none()
            && since(self.created_us, cfg.sip_without_rtp_timeout_s)
        {
            108
        } else if self.sip_packets > MAX_SIP_PACKETS || self.invite_packets > MAX_INVITE_PACKETS {
            109
        } else {
            return None;
        };
        Some((now, code))
    }

    /// The call's CDR values (§2.3) as it closes. `forced`: closed by a flush (shutdown, end
    /// of a capture file) rather than by its own timers; `live`: while capturing live.
    pub(crate) fn cdr(&self, id_sensor: i64, forced: bool, live: bool) -> Cdr {
        let created = self.created_us;
        let end = self
            .bye_confirmed_at
            .unwrap_or(self.last_packet_us)
            .max(created);
        let secs_since =
            |t: u64| u32::try_from(t.saturating_sub(created) / SEC).unwrap_or(u32::MAX);
        let duration_us = end - created;
        let bye = if forced && live {
            110
        } else if self.close_code != 0 {
            self.close_code
        } else if self.bye_at.is_some() && self.progress_us.is_none() && !self.answered {
            106
        } else if self.answered {
            match (self.bye_at, self.bye_confirmed_at) {
                (_, Some(_)) => 3,
                (Some(_), None) => 2,
                _ => 1,
            }
        } else {
            0
        };
        let called = self.hops.called().unwrap_or(self.called_ep);
        let a = self.best(Side::Caller);
        let b = self.best(Side::Called);
        let index_of = |s: &Stream| {
            self.streams
                .iter()
                .position(|x| std::ptr::eq(x, s))
                .map_or(0, |i| u8::try_from(i).unwrap_or(u8::MAX))
        };
        let side_cols = |s: &Stream| {
            let st = &s.stats;
            let counted = st.received();
            let known = st.first_payload_type().is_some();
            let received = if known {
                counted.saturating_add(2)
            } else {
                counted
            };
            let lost = st.lost();
            let events = st.sequence().loss_events();
            let mut sl = [0u32; 10];
            sl.copy_from_slice(&events[1..11]);
            let mos = |m: MosModel, truncate: bool| {
                st.mos(m).average().map_or(45, |v| {
                    let x = v * 10.0;
                    (if truncate { x.floor() } else { x.round() }).clamp(0.0, 255.0) as u8
                })
            };
            let f2 = mos(MosModel::F2, false);
            let denom = f64::from(counted) + 2.0 + f64::from(lost);
            CdrStream {
                index: index_of(s),
                payload: st.first_payload_type().map_or(-1, |p| i32::from(p.0)),
                saddr: s.src,
                received,
                lost,
                avgjitter_mult10: (st.jitter().avg_ms() * 10.0).ceil().max(0.0) as u32,
                maxjitter: st.jitter().max_ms().ceil().max(0.0) as u32,
                sl,
                d: *st.jitter().delay_buckets(),
                mos_f1_mult10: mos(MosModel::F1, true),
                mos_f2_mult10: f2,
                mos_adapt_mult10: mos(MosModel::Adaptive, false),
                mos_min_mult10: f2,
                packet_loss_perc_mult1000: (f64::from(lost) / denom * 100_000.0).round() as u32,
                rtcp: (s.rtcp.blocks() > 0).then(|| {
                    let r = &s.rtcp;
                    let rtd = r.rtd_samples() > 0;
                    CdrRtcp {
                        loss: r.loss().unwrap_or(0),
                        maxfr: r.max_fraction_lost(),
                        avgfr_mult10: r.avg_fraction_lost_mult10(),
                        maxjitter: r.max_jitter_ms(),
                        avgjitter_mult10: r.avg_jitter_mult10(),
                        avgrtd_mult10: rtd.then(|| r.avg_rtd_mult10()),
                        maxrtd_mult10: rtd.then(|| r.max_rtd_mult10()),
                        fraclost_pktcount: r.blocks(),
                    }
                }),
            }
        };
        let streams = self
            .streams
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let pt = s.stats.first_payload_type()?;
                let shown =
                    a.is_some_and(|x| std::ptr::eq(x, s)) || b.is_some_and(|x| std::ptr::eq(x, s));
                let flags = u64::from(shown) << 1
                    | match s.side {
                        Side::Caller => 1 << 2,
                        Side::Called => 1 << 3,
                    };
                Some(CdrRtp {
                    saddr: s.src,
                    sport: s.sport,
                    daddr: s.dst,
                    dport: s.dport,
                    ssrc: s.ssrc,
                    received: s.stats.received().saturating_add(2),
                    loss: s.stats.lost(),
                    firsttime_s: s.first_us.saturating_sub(created) as f64 / 1e6,
                    payload: u16::from(pt.0),
                    maxjitter_mult10: (s.stats.jitter().max_ms() * 10.0).max(0.0) as u32,
                    index: u8::try_from(i + 1).unwrap_or(u8::MAX),
                    flags,
                    duration_s: s.last_us.saturating_sub(s.first_us) as f64 / 1e6,
                    sdp_ptime: self.sdp_ptime[side_index(s.side)],
                    rtp_ptime: s
                        .stats
                        .ptime_ms()
                        .and_then(|p| u8::try_from(p.round() as u32).ok()),
                    ttl_min: s.ttl.map(|t| t.0),
                    ttl_max: s.ttl.map(|t| t.1),
                    ttl_avg_mult10: s.ttl.and_then(|(_, _, sum, n)| {
                        u16::try_from((sum * 10 + u64::from(n) / 2) / u64::from(n.max(1))).ok()
                    }),
                })
            })
            .collect();
        let ms = |t: Option<u64>| {
            t.map(|t| u16::try_from(t.saturating_sub(created) / 1000).unwrap_or(u16::MAX))
        };
        Cdr {
            fbasename: self.call_id.to_vec(),
            calldate_us: created,
            callend_us: created + duration_us,
            duration_s: u32::try_from(duration_us / SEC).unwrap_or(u32::MAX),
            connect_duration_s: self
                .connect_us
                .map(|c| u32::try_from(end.saturating_sub(c) / SEC).unwrap_or(u32::MAX)),
            progress_time_s: self.progress_us.map(secs_since),
            first_rtp_time_s: self.first_rtp_us.map(secs_since),
            caller: self.caller.to_string(),
            caller_domain: self.callerdomain.to_string(),
            callername: self.callername.to_string(),
            called: self.called.to_string(),
            called_domain: self.calleddomain.to_string(),
            sipcallerip: self.caller_ep.ip,
            sipcallerport: self.caller_ep.port,
            sipcalledip: called.ip,
            sipcalledport: called.port,
            whohanged: self.bye_by_caller.map(|c| {
                if c {
                    WhoHanged::Caller
                } else {
                    WhoHanged::Callee
                }
            }),
            bye,
            last_sip_response_num: self.last_response,
            last_sip_response: self.last_response_text.to_string(),
            sighup: forced,
            vlan: self.vlan,
            id_sensor: u16::try_from(id_sensor).ok(),
            response_time_100_ms: ms(self.first_100_us),
            response_time_xxx_ms: ms(self.first_other_us),
            caller_ua: self.calleragent.to_string(),
            callee_ua: self.calledagent.to_string(),
            digest_username: self.digest_username.to_string(),
            proxies: self.hops.proxies(self.caller_ep, Some(called.ip)),
            a: a.map(side_cols),
            b: b.map(side_cols),
            streams,
            flags: self.transport_flags,
        }
    }

    /// Whether `listcalls` shows the call.
    pub(crate) fn listed(&self, now: u64) -> bool {
        self.closing_at.is_none()
            && self.bye_confirmed_at.is_none()
            && self.destroy_at.is_none_or(|d| now < d)
    }

    /// The stream shown for a direction: most received + lost.
    fn best(&self, side: Side) -> Option<&Stream> {
        self.streams
            .iter()
            .filter(|s| s.side == side)
            .max_by_key(|s| u64::from(s.stats.received()) + u64::from(s.stats.lost()))
    }

    pub(crate) fn row(&self, now: u64, id_sensor: i64) -> Row {
        let duration_us = now.saturating_sub(self.created_us);
        let duration = duration_us / SEC;
        let connect = self.connect_us.map_or(0, |c| {
            duration_us.saturating_sub(c.saturating_sub(self.created_us)) / SEC
        });
        let src = self.best(Side::Caller);
        let dst = self.best(Side::Called);
        let shown = src.or(dst);
        let int = |v: u64| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
        let mut r: Row = Vec::with_capacity(68);
        r.push(Value::Str(hex0x(CALLREF_BASE + self.id * 0x100)));
        r.push(Value::str(match std::str::from_utf8(&self.call_id) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(&self.call_id).into_owned(),
        }));
        r.push(Value::Str(datetime(secs(self.created_us))));
        r.push(Value::Int(secs(self.created_us)));
        r.push(Value::Int(secs(self.last_packet_us)));
        r.push(int(duration));
        r.push(int(connect));
        r.push(Value::str(&*self.caller));
        r.push(Value::str(&*self.called));
        r.push(Value::Null);
        r.push(Value::Null);
        r.push(Value::Bool(true));
        r.push(Value::Bool(true));
        r.push(Value::str(&*self.callername));
        r.push(Value::str(&*self.callerdomain));
        r.push(Value::str(&*self.calleddomain));
        r.push(Value::str(&*self.calleragent));
        r.push(Value::str(&*self.calledagent));
        let called = self.hops.called().map_or(self.called_ep.ip, |e| e.ip);
        r.push(Value::ip(self.caller_ep.ip));
        r.push(Value::ip(called));
        r.push(Value::Null);
        r.push(Value::Null);
        r.push(Value::Int(0));
        r.push(Value::Int(0));
        r.push(Value::Int(255));
        r.push(Value::Int(255));
        let proxies = self.hops.proxies(self.caller_ep, Some(called));
        r.push(Value::str(
            proxies
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ));
        r.push(Value::Int(i64::from(self.last_response)));
        r.push(shown.map_or(Value::Null, |s| Value::ip(s.src)));
        r.push(shown.map_or(Value::Null, |s| Value::ip(s.dst)));
        r.push(Value::Null);
        r.push(Value::Null);
        for c in self.codec {
            r.push(Value::Int(c.map_or(-1, |pt| i64::from(pt.0))));
        }
        for s in [src, dst] {
            for model in MosModel::ALL {
                match s {
                    Some(s) => {
                        for v in s.stats.mos(model).listcalls_mult10() {
                            r.push(Value::Int(i64::from(v)));
                        }
                    }
                    None => r.extend([Value::Int(45), Value::Null, Value::Null]),
                }
            }
        }
        for s in [src, dst] {
            match s {
                Some(s) => {
                    let j = s.stats.jitter();
                    r.extend([
                        Value::Float(j.current_ms()),
                        Value::Float(j.avg_ms()),
                        Value::Float(j.max_ms()),
                    ]);
                }
                None => r.extend([Value::Null, Value::Null, Value::Null]),
            }
        }
        let per =
            |f: &dyn Fn(&Stream) -> Value| [src.map_or(Value::Null, f), dst.map_or(Value::Null, f)];
        r.extend(per(&|s| Value::Int(i64::from(s.stats.received()))));
        r.extend(per(&|s| Value::Int(i64::from(s.stats.lost()))));
        r.extend(per(&|s| {
            s.stats.loss_percent().map_or(Value::Null, Value::Float)
        }));
        r.extend(per(&|s| {
            Value::Float(s.stats.loss_last_10s_percent(now).unwrap_or(0.0) * 10.0)
        }));
        r.push(Value::Int(id_sensor));
        r.push(Value::Int(self.vlan.map_or(65534, i64::from)));
        debug_assert_eq!(r.len(), 68);
        r
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Caller => 0,
        Side::Called => 1,
    }
}
