//! Call and registration state machines of the sensor (behaviour spec §3, §4): sans-IO.
//!
//! [`CallTable`] takes parsed SIP messages ([`CallTable::handle_sip`]), non-SIP UDP datagrams
//! that may be RTP/RTCP ([`CallTable::handle_udp`]) and timer ticks
//! ([`CallTable::handle_timeout`]), all stamped with packet time in µs since the Unix epoch,
//! and renders the manager's `listcalls` / `listregisters` rows. Nothing here reads a clock or
//! does I/O.
//!
//! # Calls
//!
//! * An INVITE with an unknown Call-ID (≤ 1023 bytes) creates a call, unless
//!   [`CallsConfig::max_calls`] objects exist (refused, counted). Any later message with that
//!   Call-ID is attached to it.
//! * Caller/called per §3.3: From/To user part (cut at `;`), caller name = From display name,
//!   domains = URI host without port; `callerip`/`calledip` from the first INVITE's
//!   source/destination. Later INVITEs without To-tag from the caller IP update the called
//!   number (`sipoverlap`). `calleragent` = User-Agent of the first INVITE, `calledagent` =
//!   User-Agent of responses sent by the callee (never `Server:`).
//! * `lastSIPresponseNum` per §3.5 rules 1–6 (with `keep_final_last_sip_response = yes`).
//! * Destroy timers per §3.4: BYE → 60 s, 200 to BYE → 5 s (the call leaves `listcalls` at
//!   once), CANCEL → 487 at once and 10 s, 3xx–6xx to an initial INVITE → 5 s (300 → 300 s,
//!   481 → 180 s, 491 none, 401/407/501 → 60 s only if nothing pending; none for re-INVITE
//!   CSeqs), 18x clears the timer; every later packet extends a pending timer to now + 5 s
//!   (15 s when the last response is 487, 60 s after an unconfirmed BYE).
//! * Close conditions per §3.7: destroy time, BYE hard limits (1200 s / 600 s confirmed),
//!   `rtptimeout`, `sipwithoutrtptimeout`, `absolute_timeout`, 300 s without 18x/2xx/RTP,
//!   20000 SIP / 10000 INVITE packets. A closing call leaves `listcalls`, stops taking packets
//!   and is freed [`CLOSE_LINGER_S`] later (the reference's cleanup period plus safe cleanup),
//!   so `totalcalls` lags `listcalls` as observed (§3.13).
//! * SDP of any message (except MESSAGE) binds `(c= ip, m= port)` of audio/image media, and
//!   the RTCP port (`a=rtcp` or port + 1 unless `a=rtcp-mux`), to the call in a global map
//!   tagged with the stream direction: SDP sent by the caller announces where the callee's
//!   stream arrives (§3.9). At most 3 calls share one ip:port (the newest wins beyond that,
//!   counted as an eviction). RTP is matched by destination, else by source with the
//!   direction inverted.
//! * Proxies and forking (§3.8), see the `hops` module: every INVITE without To-tag is a hop
//!   (top Via branch, source, destination); a later INVITE carrying a hop's branch below its
//!   top Via shows that hop's destination forwarded it (a proxy). `sipcalledip` is the
//!   destination of the answered leaf hop (else the latest confirmed, else the latest);
//!   `sipproxies` lists the forwarding addresses. A 3xx–6xx on one fork ends that fork only
//!   (and unbinds the early-media addresses only its responses announced); the destroy timer
//!   starts when no fork is pending and none answered. A new hop of the same CSeq (serial
//!   hunting) clears a pending destroy timer; a CANCEL after a 2xx arms no timer.
//! * RTP: one [`voipsensor_rtp::StreamStats`] per (direction, SSRC), at most 4 per
//!   direction; listcalls shows, per direction, the stream with the most received + lost.
//!   Codecs are the payload type of the last voice packet of each direction (−1 before).
//!   A re-INVITE carrying SDP marks a reset point on all streams. RTCP (on a bound RTCP port
//!   or recognised by packet type on an RTP port) only refreshes the RTP timeout.
//!
//! # Registrations
//!
//! REGISTER transactions (per Call-ID, §4.2) end as OK (1), Failed (2), UnknownMessageOK (3),
//! ManyRegMessages (4) or Unregister (6) and are merged into registration records keyed by
//! `to_num` (case-insensitive), `to_domain` and the digest username (empty matches any)
//! (§4.3). IDs come from one counter that also advances for merged transactions. A
//! maintenance pass every ≥ 30 s of packet time turns OK states whose `state_to + expires +
//! 30 s` has passed into Expired (5) and drops failed-only records 60 s and any record 2 h
//! after its last state.
//!
//! # Encodings
//!
//! `calldate` / `expires_at` are `YYYY-MM-DD HH:MM:SS` in **UTC** (the reference prints local
//! time; a UTC sensor matches). `duration` = `now` − first INVITE packet time, whole seconds.
//! `callreference` is `0x` + hex of a per-call counter offset into a pointer-like range.
//!
//! # Not implemented
//!
//! Alternative identity headers (PAI/PPI/RPID), `call_id_alternative`/`callidmerge_header`,
//! MESSAGE records, alone BYE / premature responses, one-way detection, `call_branches`
//! (per-tag branch records), natalias / `rtp_check_both_sides_by_sdp`,
//! RTCP-XR, the "unanswered call with < 100 packets → MOS 4.5" rule, country columns,
//! encapsulation (always 0 / 255), `sip-register` option variants (the engine is always on),
//! the REGISTER "kept 5 s while more REGISTERs are unanswered" and "403 closed in 1 s" nuances,
//! and the 401 nonce options.

mod call;
pub mod cdr;
mod hops;
mod register;
mod util;

use std::collections::HashMap;
use std::net::IpAddr;

use voipsensor_manager_proto::json::Row;
use voipsensor_rtp::RtpPacket;
use voipsensor_sip::{Message, Method};

use crate::call::{Call, Side};
use crate::register::Registrations;
use crate::util::SEC;

/// Seconds between a call's close (destroy time reached, timeout) and freeing its object.
pub const CLOSE_LINGER_S: u64 = 15;
/// Longest Call-ID accepted, in bytes (longer headers are ignored, §3.2).
pub const MAX_CALL_ID_LEN: usize = 1023;
/// Calls that may share one media ip:port (`sdp_multiplication`).
pub const SDP_MULTIPLICATION: usize = 3;

/// Limits and timeouts of the call table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallsConfig {
    /// Sensor id shown in `listcalls` / `listregisters` (−1 when unset).
    pub id_sensor: i64,
    /// Most call objects in memory; further INVITEs are refused.
    pub max_calls: usize,
    /// Most registration records (and most open REGISTER transactions).
    pub max_registers: usize,
    /// `rtptimeout`: close a call with RTP after this long without any packet.
    pub rtp_timeout_s: u64,
    /// `sipwithoutrtptimeout`: close a call that never had RTP this long after its start.
    pub sip_without_rtp_timeout_s: u64,
    /// `absolute_timeout`: close any call this long after its start.
    pub absolute_timeout_s: u64,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            id_sensor: -1,
            max_calls: 100_000,
            max_registers: 100_000,
            rtp_timeout_s: 300,
            sip_without_rtp_timeout_s: 3600,
            absolute_timeout_s: 14_400,
        }
    }
}

/// An IP address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Address.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
}

/// A call a packet was attributed to: what a per-call file writer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRef {
    /// The call's id, unique while the call exists ([`CallTable::call_id`] gives its Call-ID).
    pub id: u64,
    /// Packet time of the call's first packet (µs since the Unix epoch).
    pub start_us: u64,
}

/// A REGISTER transaction a message belongs to (for its REG pcap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegRef {
    /// Unique among the table's transactions.
    pub id: u64,
    /// Packet time of the transaction's first REGISTER (µs): the file's name and folder.
    pub start_us: u64,
}

/// What a SIP message belonged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipOwner {
    /// An INVITE call.
    Call(CallRef),
    /// A REGISTER transaction.
    Register(RegRef),
}

impl SipOwner {
    /// The call, if the message belonged to one.
    pub fn call(self) -> Option<CallRef> {
        match self {
            Self::Call(c) => Some(c),
            Self::Register(_) => None,
        }
    }
}

/// A call the table closed, with its CDR.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    /// The call (its files can be closed).
    pub call: CallRef,
    /// Its CDR values.
    pub cdr: cdr::Cdr,
}

/// An RTP/RTCP datagram taken by a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaRef {
    /// The call.
    pub call: CallRef,
    /// RTCP (bound RTCP port or an RTCP packet type), not RTP.
    pub rtcp: bool,
}

/// Event counters of the table (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls created by an INVITE.
    pub calls_created: u64,
    /// Call objects freed.
    pub calls_destroyed: u64,
    /// INVITEs refused because `max_calls` objects existed.
    pub calls_refused: u64,
    /// SIP messages handed in.
    pub sip_messages: u64,
    /// SIP messages ignored (no/oversized Call-ID, unknown dialog, closing call).
    pub sip_ignored: u64,
    /// RTP packets taken (fed to a stream).
    pub rtp_packets: u64,
    /// RTCP packets taken.
    pub rtcp_packets: u64,
    /// REGISTER transactions finished and merged into records.
    pub registrations: u64,
    /// REGISTER transactions opened.
    pub register_transactions_opened: u64,
    /// REGISTER transactions closed (finished, or dropped after their timeout).
    pub register_transactions_closed: u64,
    /// REGISTER requests and responses handed in.
    pub sip_register: u64,
    /// `register_state`/`register_failed` rows dropped because nobody took them.
    pub register_rows_dropped: u64,
    /// MESSAGE requests and responses handed in.
    pub sip_message: u64,
    /// REGISTER transactions or records refused because of `max_registers`.
    pub registers_refused: u64,
    /// Media bindings displaced because more than [`SDP_MULTIPLICATION`] calls shared an
    /// ip:port.
    pub evictions: u64,
}

/// One media address binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Binding {
    pub(crate) call: u64,
    /// The stream (by sender) that arrives at this address.
    pub(crate) side: Side,
    pub(crate) rtcp: bool,
}

/// Global (ip, port) → calls map.
#[derive(Debug, Default)]
pub(crate) struct MediaMap {
    map: HashMap<(IpAddr, u16), Vec<Binding>>,
}

impl MediaMap {
    /// Binds; returns true when another call's binding was displaced.
    pub(crate) fn bind(&mut self, key: (IpAddr, u16), b: Binding) -> bool {
        let v = self.map.entry(key).or_default();
        if let Some(pos) = v.iter().position(|x| x.call == b.call) {
            v.remove(pos);
            v.push(b);
            return false;
        }
        let evicted = v.len() >= SDP_MULTIPLICATION;
        if evicted {
            v.remove(0);
        }
        // Almost every address has one call: allocate for what is used (`push` reserves 4).
        v.reserve_exact(1);
        v.push(b);
        evicted
    }

    pub(crate) fn unbind(&mut self, call: u64, keys: impl IntoIterator<Item = (IpAddr, u16)>) {
        for key in keys {
            if let Some(v) = self.map.get_mut(&key) {
                v.retain(|b| b.call != call);
                if v.is_empty() {
                    self.map.remove(&key);
                }
            }
        }
    }

    /// The calls bound to `key`, oldest first.
    fn lookup(&self, key: &(IpAddr, u16)) -> &[Binding] {
        self.map.get(key).map_or(&[], Vec::as_slice)
    }

    /// The binding a datagram from `src` to `dst` belongs to, and the direction of its
    /// stream: by destination, else by source (symmetric RTP, direction inverted). When
    /// several calls share the address, the call that also announced the other end wins (a
    /// media server answering every call on one port), else the newest.
    fn resolve(&self, src: &(IpAddr, u16), dst: &(IpAddr, u16)) -> Option<(Binding, Side)> {
        let by_dst = self.lookup(dst);
        let by_src = self.lookup(src);
        let paired = |list: &[Binding], other: &[Binding]| {
            if list.len() < 2 {
                return None;
            }
            list.iter()
                .rev()
                .find(|b| other.iter().any(|o| o.call == b.call))
                .copied()
        };
        if let Some(b) = paired(by_dst, by_src).or_else(|| by_dst.last().copied()) {
            return Some((b, b.side));
        }
        let b = paired(by_src, by_dst).or_else(|| by_src.last().copied())?;
        Some((b, b.side.other()))
    }
}

/// The call and registration table.
#[derive(Debug)]
pub struct CallTable {
    config: CallsConfig,
    /// Boxed: the table's slots stay small (a `Call` is ~600 bytes and the map keeps ~25 %
    /// of its slots free).
    calls: HashMap<u64, Box<Call>>,
    by_call_id: HashMap<Box<[u8]>, u64>,
    media: MediaMap,
    next_call: u64,
    registrations: Registrations,
    counters: Counters,
}

impl CallTable {
    /// An empty table.
    pub fn new(config: CallsConfig) -> Self {
        Self {
            config,
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            media: MediaMap::default(),
            next_call: 0,
            registrations: Registrations::new(config.max_registers),
            counters: Counters::default(),
        }
    }

    /// One parsed SIP message seen from src to dst; the call or REGISTER transaction it
    /// belongs to, if any.
    pub fn handle_sip(
        &mut self,
        now: u64,
        src: Endpoint,
        dst: Endpoint,
        vlan: Option<u16>,
        msg: &Message<'_, '_>,
    ) -> Option<SipOwner> {
        self.counters.sip_messages += 1;
        match msg.method().or_else(|| msg.cseq().map(|c| c.method)) {
            Some(Method::Register) => self.counters.sip_register += 1,
            Some(Method::Message) => self.counters.sip_message += 1,
            _ => {}
        }
        let Some(cid) = msg
            .call_id()
            .filter(|c| !c.is_empty() && c.len() <= MAX_CALL_ID_LEN)
        else {
            self.counters.sip_ignored += 1;
            return None;
        };
        if let Some(&id) = self.by_call_id.get(cid) {
            return match self.calls.get_mut(&id) {
                Some(call) if call.closing_at.is_none() => {
                    call.on_sip(now, src, dst, msg, &mut self.media, &mut self.counters);
                    Some(SipOwner::Call(call.call_ref()))
                }
                _ => {
                    self.counters.sip_ignored += 1;
                    None
                }
            };
        }
        let method = msg.method();
        let cseq_method = msg.cseq().map(|c| c.method);
        if method == Some(Method::Register)
            || (!msg.is_request() && cseq_method == Some(Method::Register))
        {
            return self
                .registrations
                .handle_sip(now, src, dst, vlan, cid, msg, &mut self.counters)
                .map(SipOwner::Register);
        }
        if method != Some(Method::Invite) {
            self.counters.sip_ignored += 1;
            return None;
        }
        if self.calls.len() >= self.config.max_calls {
            self.counters.calls_refused += 1;
            return None;
        }
        self.next_call += 1;
        let id = self.next_call;
        let mut call = Call::new(id, now, src, dst, vlan, cid, msg);
        call.on_sip(now, src, dst, msg, &mut self.media, &mut self.counters);
        let r = call.call_ref();
        self.calls.insert(id, Box::new(call));
        self.by_call_id.insert(cid.into(), id);
        self.counters.calls_created += 1;
        Some(SipOwner::Call(r))
    }

    /// A UDP datagram that is not SIP: RTP/RTCP if its destination (or, failing that, source)
    /// ip:port was announced by SDP of a call; returns true if it was taken.
    pub fn handle_udp(&mut self, now: u64, src: Endpoint, dst: Endpoint, payload: &[u8]) -> bool {
        self.handle_media(now, src, dst, None, payload).is_some()
    }

    /// [`CallTable::handle_udp`] with the packet's IP TTL (for the CDR), saying which call
    /// took the datagram and as what.
    pub fn handle_media(
        &mut self,
        now: u64,
        src: Endpoint,
        dst: Endpoint,
        ttl: Option<u8>,
        payload: &[u8],
    ) -> Option<MediaRef> {
        let (binding, side) = self
            .media
            .resolve(&(src.ip, src.port), &(dst.ip, dst.port))?;
        let call = self.calls.get_mut(&binding.call)?;
        if call.closing_at.is_some() {
            return None;
        }
        call.touch(now);
        call.last_rtp_us = Some(now);
        let r = call.call_ref();
        if binding.rtcp || is_rtcp(payload) {
            self.counters.rtcp_packets += 1;
            call.on_rtcp(now, payload);
            return Some(MediaRef {
                call: r,
                rtcp: true,
            });
        }
        if let Ok(pkt) = RtpPacket::parse(payload)
            && call.on_rtp(now, side, src, dst, ttl, &pkt)
        {
            self.counters.rtp_packets += 1;
        }
        Some(MediaRef {
            call: r,
            rtcp: false,
        })
    }

    /// The Call-ID of a call in memory (its files' base name).
    pub fn call_id(&self, id: u64) -> Option<&[u8]> {
        self.calls.get(&id).map(|c| &c.call_id[..])
    }

    /// Closes every open call now (shutdown, or the end of a capture file: `sighup`; `live`
    /// gives them `bye` 110 as the reference does when capturing live).
    pub fn close_all(&mut self, now: u64, live: bool) -> Vec<Closed> {
        let id_sensor = self.config.id_sensor;
        let mut closed = Vec::new();
        for (&id, call) in &mut self.calls {
            if call.closing_at.is_none() {
                call.closing_at = Some(now);
                self.media.unbind(id, call.media_keys.iter().map(|m| m.key));
                call.media_keys.clear();
                closed.push(Closed {
                    call: call.call_ref(),
                    cdr: call.cdr(id_sensor, true, live),
                });
            }
        }
        closed.sort_by_key(|c| c.call.id);
        closed
    }

    /// Timers (destroy after BYE/final responses, rtptimeout, absolute timeout, registration
    /// expiry). Call at least every second of packet time. Returns the calls closed now, with
    /// their CDRs: they take no more packets (their files can be closed).
    pub fn handle_timeout(&mut self, now: u64) -> Vec<Closed> {
        let cfg = self.config;
        let mut close = Vec::new();
        let mut free = Vec::new();
        for (&id, call) in &self.calls {
            match call.closing_at {
                Some(at) => {
                    if now >= at.saturating_add(CLOSE_LINGER_S * SEC) {
                        free.push(id);
                    }
                }
                None => {
                    if let Some((at, code)) = call.close_due(now, &cfg) {
                        close.push((id, at, code));
                    }
                }
            }
        }
        let mut closed = Vec::with_capacity(close.len());
        for (id, at, code) in close {
            if let Some(call) = self.calls.get_mut(&id) {
                call.closing_at = Some(at);
                call.close_code = code;
                self.media.unbind(id, call.media_keys.iter().map(|m| m.key));
                call.media_keys.clear();
                closed.push(Closed {
                    call: call.call_ref(),
                    cdr: call.cdr(cfg.id_sensor, false, false),
                });
            }
        }
        closed.sort_by_key(|c| c.call.id);
        for id in free {
            if let Some(call) = self.calls.remove(&id) {
                self.by_call_id.remove(&call.call_id[..]);
                self.counters.calls_destroyed += 1;
            }
        }
        self.registrations.handle_timeout(now, &mut self.counters);
        closed
    }

    /// Rows of the calls `listcalls` shows, in the 68-column order of manager-proto's
    /// `listcalls::COLUMNS`.
    pub fn listcalls_rows(&self, now: u64) -> Vec<Row> {
        let mut calls: Vec<&Call> = self
            .calls
            .values()
            .map(|c| &**c)
            .filter(|c| c.listed(now))
            .collect();
        calls.sort_by_key(|c| c.id);
        calls
            .into_iter()
            .map(|c| c.row(now, self.config.id_sensor))
            .collect()
    }

    /// Number of calls `listcalls` shows now (without building their rows).
    pub fn listed_calls(&self, now: u64) -> u64 {
        self.calls.values().filter(|c| c.listed(now)).count() as u64
    }

    /// Call objects in memory (`totalcalls`, spec §4.5: includes calls that left listcalls but
    /// are not destroyed yet).
    pub fn total_calls(&self) -> u64 {
        self.calls.len() as u64
    }

    /// Rows of `listregisters` (33 columns), ascending ID.
    pub fn register_rows(&self, now: u64) -> Vec<Row> {
        self.registrations.rows(now, self.config.id_sensor)
    }

    /// The `register_state` / `register_failed` rows of registration states started since the
    /// last call, oldest first (§4.4).
    pub fn take_register_rows(&mut self) -> Vec<cdr::RegisterRow> {
        let id_sensor = u16::try_from(self.config.id_sensor).ok();
        let mut rows = self.registrations.take_rows();
        for r in &mut rows {
            r.id_sensor = id_sensor;
        }
        rows
    }

    /// REGISTER transactions ended since the last call (their REG pcaps can be closed).
    pub fn take_closed_registrations(&mut self) -> Vec<u64> {
        self.registrations.take_closed()
    }

    /// Open REGISTER transactions (the `r:` of the status line's `calls[...]`).
    pub fn open_register_transactions(&self) -> u64 {
        self.registrations.open_transactions() as u64
    }

    /// Registration records in memory (`totalregisters`).
    pub fn total_registers(&self) -> u64 {
        self.registrations.len() as u64
    }

    /// Event counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }
}

/// RTCP packet types 200–206 in the second byte of a version-2 packet (rtcp-mux).
fn is_rtcp(payload: &[u8]) -> bool {
    payload.len() >= 8 && payload[0] >> 6 == 2 && (200..=206).contains(&payload[1])
}
