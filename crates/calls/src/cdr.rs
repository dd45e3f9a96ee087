//! What a closed call leaves for its CDR rows (behaviour spec §2.3, the §2.7 subset): plain
//! data, computed by the call table at close time; the CDR writer maps it to SQL columns.

use std::net::IpAddr;

/// Who sent the BYE (`cdr.whohanged`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhoHanged {
    /// `'caller'`.
    Caller,
    /// `'callee'`.
    Callee,
}

/// The call-level values of one CDR (`cdr`, `cdr_next`, codebooks, `cdr_proxy`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cdr {
    /// `cdr_next.fbasename`: the Call-ID as received.
    pub fbasename: Vec<u8>,
    /// `calldate`: the call's first packet, µs since the Unix epoch.
    pub calldate_us: u64,
    /// `callend`: first packet + duration, µs since the Unix epoch.
    pub callend_us: u64,
    /// `duration`, whole seconds (truncated).
    pub duration_s: u32,
    /// `connect_duration`: end − first 2xx to an INVITE; `None` if never answered.
    pub connect_duration_s: Option<u32>,
    /// `progress_time`: first 18x/2xx − first packet; `None` if none.
    pub progress_time_s: Option<u32>,
    /// `first_rtp_time`: first RTP − first packet; `None` without RTP.
    pub first_rtp_time_s: Option<u32>,
    /// `caller`.
    pub caller: String,
    /// `caller_domain`.
    pub caller_domain: String,
    /// `callername`.
    pub callername: String,
    /// `called`.
    pub called: String,
    /// `called_domain`.
    pub called_domain: String,
    /// `sipcallerip`.
    pub sipcallerip: IpAddr,
    /// `sipcallerport`.
    pub sipcallerport: u16,
    /// `sipcalledip`.
    pub sipcalledip: IpAddr,
    /// `sipcalledport`.
    pub sipcalledport: u16,
    /// `whohanged`: set only when a BYE was seen.
    pub whohanged: Option<WhoHanged>,
    /// `bye` code (§2.3 table).
    pub bye: u8,
    /// `lastSIPresponseNum` (0 when no response).
    pub last_sip_response_num: u16,
    /// Text for `cdr_sip_response` (e.g. `200 OK`; empty when no response).
    pub last_sip_response: String,
    /// `sighup`: closed by a forced flush (shutdown, end of a capture file).
    pub sighup: bool,
    /// `vlan` of the first INVITE.
    pub vlan: Option<u16>,
    /// `id_sensor` (`None` when unset).
    pub id_sensor: Option<u16>,
    /// `response_time_100`, ms.
    pub response_time_100_ms: Option<u16>,
    /// `response_time_xxx`, ms.
    pub response_time_xxx_ms: Option<u16>,
    /// First `User-Agent` sent by the caller (`a_ua_id` through `cdr_ua`).
    pub caller_ua: String,
    /// First `User-Agent` sent by the callee (`b_ua_id`).
    pub callee_ua: String,
    /// `cdr_next.digest_username`: from Authorization/Proxy-Authorization of an INVITE.
    pub digest_username: String,
    /// `cdr_proxy` rows: proxy addresses between the ends.
    pub proxies: Vec<IpAddr>,
    /// The stream sent by the caller (`a_*` columns), if any.
    pub a: Option<CdrStream>,
    /// The stream sent by the callee (`b_*` columns), if any.
    pub b: Option<CdrStream>,
    /// `cdr_rtp` rows, one per stream.
    pub streams: Vec<CdrRtp>,
    /// `flags` bits (§2.3): 24 SIP pcap saved, 25 RTP pcap saved, 32 UDP, 31 TCP …
    pub flags: u64,
}

/// The `a_*` / `b_*` columns of one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct CdrStream {
    /// `_index`: 0-based creation index of the stream in the call.
    pub index: u8,
    /// `_payload`: first payload type.
    pub payload: i32,
    /// `_saddr`.
    pub saddr: IpAddr,
    /// `_received`: counted + 2.
    pub received: u32,
    /// `_lost`.
    pub lost: u32,
    /// `_avgjitter_mult10`: ceil(average jitter ms × 10).
    pub avgjitter_mult10: u32,
    /// `_maxjitter`: ceil(max jitter ms).
    pub maxjitter: u32,
    /// `_sl1` … `_sl10`: loss events of 1…9 and ≥ 10 packets.
    pub sl: [u32; 10],
    /// `_d50` … `_d300`.
    pub d: [u32; 7],
    /// `_mos_f1_mult10` (truncated), `_mos_f2_mult10`, `_mos_adapt_mult10` (rounded).
    pub mos_f1_mult10: u8,
    /// See [`CdrStream::mos_f1_mult10`].
    pub mos_f2_mult10: u8,
    /// See [`CdrStream::mos_f1_mult10`].
    pub mos_adapt_mult10: u8,
    /// `_mos_min_mult10` (= f2 average with `mosmin_f2 = yes`, the default).
    pub mos_min_mult10: u8,
    /// `_packet_loss_perc_mult1000`.
    pub packet_loss_perc_mult1000: u32,
    /// The `_rtcp_*` columns, when RTCP reports about this stream were seen.
    pub rtcp: Option<CdrRtcp>,
}

/// The `a_rtcp_*` / `b_rtcp_*` columns: what the RTCP report blocks about a stream said
/// (behaviour spec §3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CdrRtcp {
    /// `_rtcp_loss`: the last cumulative number of packets lost (signed).
    pub loss: i32,
    /// `_rtcp_maxfr`: the largest fraction-lost byte.
    pub maxfr: u8,
    /// `_rtcp_avgfr_mult10`.
    pub avgfr_mult10: u32,
    /// `_rtcp_maxjitter` (ms).
    pub maxjitter: u32,
    /// `_rtcp_avgjitter_mult10`.
    pub avgjitter_mult10: u32,
    /// `_rtcp_avgrtd_mult10` (round-trip delay, ms × 10), when measurable.
    pub avgrtd_mult10: Option<u32>,
    /// `_rtcp_maxrtd_mult10`.
    pub maxrtd_mult10: Option<u32>,
    /// `_rtcp_fraclost_pktcount`: report blocks seen.
    pub fraclost_pktcount: u32,
}

/// One `cdr_rtp` row.
#[derive(Debug, Clone, PartialEq)]
pub struct CdrRtp {
    /// `saddr`.
    pub saddr: IpAddr,
    /// `sport`.
    pub sport: u16,
    /// `daddr`.
    pub daddr: IpAddr,
    /// `dport`.
    pub dport: u16,
    /// `ssrc`.
    pub ssrc: u32,
    /// `received`: counted + 2.
    pub received: u32,
    /// `loss`.
    pub loss: u32,
    /// `firsttime`: seconds from call start to the stream's first packet.
    pub firsttime_s: f64,
    /// `payload`: first payload type.
    pub payload: u16,
    /// `maxjitter_mult10`.
    pub maxjitter_mult10: u32,
    /// `index`: 1-based stream index.
    pub index: u8,
    /// `flags`: bit 1 A or B stream, 2 sent by caller, 3 sent by callee.
    pub flags: u64,
    /// `duration`: last − first packet of the stream, seconds.
    pub duration_s: f64,
    /// `sdp_ptime`: `a=ptime` of the SDP that announced where this stream arrives.
    pub sdp_ptime: Option<u8>,
    /// `rtp_ptime`: packetisation seen in the stream, ms (rounded).
    pub rtp_ptime: Option<u8>,
    /// `ttl_min`, `ttl_max` of the stream's IP packets.
    pub ttl_min: Option<u8>,
    /// See [`CdrRtp::ttl_min`].
    pub ttl_max: Option<u8>,
    /// `ttl_avg_mult10`.
    pub ttl_avg_mult10: Option<u16>,
}

/// One `register_state` (`failed == false`) or `register_failed` row (§4.4), written when a
/// REGISTER transaction ends.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterRow {
    /// `register_failed` instead of `register_state`.
    pub failed: bool,
    /// `created_at`: the transaction's first REGISTER, µs since the Unix epoch.
    pub created_us: u64,
    /// `id_sensor` (`None` when unset: written as 0).
    pub id_sensor: Option<u16>,
    /// `sipcallerip`.
    pub sipcallerip: IpAddr,
    /// `sipcallerport`.
    pub sipcallerport: u16,
    /// `sipcalledip`.
    pub sipcalledip: IpAddr,
    /// `sipcalledport`.
    pub sipcalledport: u16,
    /// `from_num`.
    pub from_num: String,
    /// `to_num`.
    pub to_num: String,
    /// `to_domain`.
    pub to_domain: String,
    /// `contact_num`.
    pub contact_num: String,
    /// `contact_domain`.
    pub contact_domain: String,
    /// `digestusername`.
    pub digest_username: String,
    /// `digestrealm`.
    pub digest_realm: String,
    /// `expires` (`register_state` only; 0 for an unregister).
    pub expires: i32,
    /// `state` (`register_state` only): 1 OK (also for Unregister, a reference quirk), 2 …
    pub state: u8,
    /// User agent (`ua_id` through `cdr_ua`).
    pub ua: String,
    /// `vlan`.
    pub vlan: Option<u16>,
    /// `counter` (`register_failed`: failed transactions merged into the row; 1 here).
    pub counter: u32,
    /// `fname`: the name (µs of the first REGISTER) of the transaction's REG pcap, when one
    /// was written (`save-sip-register`); 0 otherwise, as the reference.
    pub fname: u64,
}
