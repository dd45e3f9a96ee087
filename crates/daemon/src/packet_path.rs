//! The packet path, without I/O: a captured frame is decoded, reassembled when fragmented,
//! and handed to the call table as SIP (UDP or reassembled TCP on a SIP port) or as a
//! candidate RTP/RTCP datagram. Malformed packets are counted and dropped.
//!
//! With a [`Spool`], the frames the call table attributes to a call are written to the call's
//! SIP or RTP pcap, and the files of calls the timers close are closed. For SIP over TCP the
//! segment that completes a message is written (earlier segments of a message split across
//! several are not kept); a datagram reassembled from IP fragments is written as one frame
//! holding the whole datagram (the fragments are gone by the time its call is known).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use voipsensor_calls::cdr::{Cdr, RegisterRow};
use voipsensor_calls::{CallRef, CallTable, Closed, Endpoint, SipOwner};
use voipsensor_config::PortSet;
use voipsensor_sip::{Frame, Framing, HeaderPos, MAX_HEADERS, Message, Parsed};
use voipsensor_spool::{CallFile, Record, Spool};
use voipsensor_wire::{
    DefragConfig, Defragmenter, FlowKey, L4, LinkType, Packet, TcpReassembler, TcpReassemblyConfig,
    decode,
};

/// The captured frame being handled, for the spool.
#[derive(Debug, Clone, Copy)]
struct Raw<'a> {
    ts_us: u64,
    link: u32,
    frame: &'a [u8],
    orig_len: u32,
}

impl Raw<'_> {
    fn record(&self) -> Record<'_> {
        Record {
            ts_us: self.ts_us,
            link: self.link,
            frame: self.frame,
            orig_len: self.orig_len,
        }
    }

    /// Where `part` (a slice of the frame) starts in the frame.
    fn offset_of(&self, part: &[u8]) -> usize {
        let start = self.frame.as_ptr() as usize;
        let at = part.as_ptr() as usize;
        if at >= start && at <= start + self.frame.len() {
            at - start
        } else {
            self.frame.len()
        }
    }
}

/// Counters of the packet path, readable while it runs.
#[derive(Debug, Default)]
pub struct PathStats {
    /// Frames seen.
    pub packets: AtomicU64,
    /// Bytes of the frames seen.
    pub bytes: AtomicU64,
    /// Frames that did not decode (truncated, unsupported link or ethertype …).
    pub undecodable: AtomicU64,
    /// IP fragments seen, and datagrams reassembled from them.
    pub fragments: AtomicU64,
    /// Datagrams reassembled from fragments.
    pub reassembled: AtomicU64,
    /// SIP messages parsed and handed to the call table.
    pub sip_messages: AtomicU64,
    /// SIP payloads (or parts) that did not parse.
    pub sip_malformed: AtomicU64,
    /// UDP datagrams the call table took as RTP/RTCP.
    pub rtp_taken: AtomicU64,
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Timers of the call table and the reassemblers run at most this often, in packet time.
const TICK_US: u64 = 1_000_000;

/// Decoding state that lives across packets.
#[derive(Debug)]
pub struct PacketPath {
    sip_ports: PortSet,
    defrag: Defragmenter,
    tcp: TcpReassembler,
    index: Box<[HeaderPos; MAX_HEADERS]>,
    last_tick_us: u64,
    spool: Option<Arc<Mutex<Spool>>>,
    cdr_sink: Option<Sink>,
}

/// A [`CdrSink`] that `PacketPath`'s `Debug` can show.
struct Sink(CdrSink);

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CdrSink")
    }
}

/// A row for the database: a closed call's CDR or a registration state.
#[derive(Debug, Clone, PartialEq)]
pub enum DbRecord {
    /// `cdr` and its child rows.
    Cdr(Box<Cdr>),
    /// `register_state` / `register_failed`.
    Register(Box<RegisterRow>),
}

/// Where the CDRs of closed calls and the registration rows go.
pub type CdrSink = Arc<dyn Fn(DbRecord) + Send + Sync>;

/// `cdr.flags` bits for the files written (§2.3): 23 save flags valid, 24 SIP pcap saved,
/// 25 RTP pcap saved.
/// 26 RTP payload saved (`savertp = yes`), 27 RTCP saved (`savertcp`).
fn spool_flags(paths: &[std::path::PathBuf], spool: &Spool) -> u64 {
    let mut flags = 1 << 23;
    for p in paths {
        match p
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|n| n.to_str())
        {
            Some("SIP") => flags |= 1 << 24,
            Some("RTP") => {
                flags |= 1 << 25;
                let cfg = spool.config();
                if cfg.save_rtp == voipsensor_spool::SaveRtp::Yes {
                    flags |= 1 << 26;
                }
                if cfg.save_rtcp {
                    flags |= 1 << 27;
                }
            }
            _ => {}
        }
    }
    flags
}

impl PacketPath {
    /// A packet path treating `sip_ports` as SIP.
    pub fn new(sip_ports: PortSet) -> Self {
        Self {
            sip_ports,
            defrag: Defragmenter::new(DefragConfig::default()),
            tcp: TcpReassembler::new(TcpReassemblyConfig::default()),
            index: Box::new([HeaderPos::EMPTY; MAX_HEADERS]),
            last_tick_us: 0,
            spool: None,
            cdr_sink: None,
        }
    }

    /// Hands the CDRs of closed calls to `sink`.
    #[must_use]
    pub fn with_cdr_sink(mut self, sink: CdrSink) -> Self {
        self.cdr_sink = Some(Sink(sink));
        self
    }

    /// Writes the calls' packets to `spool` (shared by the packet paths of all interfaces).
    #[must_use]
    pub fn with_spool(mut self, spool: Arc<Mutex<Spool>>) -> Self {
        self.spool = Some(spool);
        self
    }

    /// Handles one captured frame at packet time `now_us` (µs since the Unix epoch).
    pub fn handle(
        &mut self,
        table: &mut CallTable,
        stats: &PathStats,
        now_us: u64,
        link: u32,
        frame: &[u8],
    ) {
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        self.handle_frame(table, stats, now_us, link, frame, orig_len);
    }

    /// [`PacketPath::handle`] with the frame's original length on the wire (for the spool).
    pub fn handle_frame(
        &mut self,
        table: &mut CallTable,
        stats: &PathStats,
        now_us: u64,
        link: u32,
        frame: &[u8],
        orig_len: u32,
    ) {
        bump(&stats.packets, 1);
        bump(&stats.bytes, frame.len() as u64);
        if now_us >= self.last_tick_us.saturating_add(TICK_US) {
            self.tick(table, now_us);
        }
        let Ok(packet) = decode(LinkType::from(link), frame) else {
            bump(&stats.undecodable, 1);
            return;
        };
        if packet.ip.fragment.is_some() {
            bump(&stats.fragments, 1);
            let now = Duration::from_micros(now_us);
            if let Some(whole) = self.defrag.push(now, &packet) {
                bump(&stats.reassembled, 1);
                match whole.decode() {
                    Ok(p) => {
                        // The spool gets the whole datagram in one frame of the capture's
                        // link type (its fragments are gone).
                        let rebuilt = reassembled_frame(link, frame, whole.bytes());
                        let raw = rebuilt.as_deref().map(|f| Raw {
                            ts_us: now_us,
                            link,
                            frame: f,
                            orig_len: u32::try_from(f.len()).unwrap_or(u32::MAX),
                        });
                        self.handle_l4(table, stats, now_us, &p, raw);
                    }
                    Err(_) => bump(&stats.undecodable, 1),
                }
            }
            return;
        }
        let raw = Raw {
            ts_us: now_us,
            link,
            frame,
            orig_len,
        };
        self.handle_l4(table, stats, now_us, &packet, Some(raw));
    }

    /// Runs the timers if a second of (packet or wall) time has passed since they last ran: for
    /// a live capture on an idle network.
    pub fn tick_if_due(&mut self, table: &mut CallTable, now_us: u64) {
        if now_us >= self.last_tick_us.saturating_add(TICK_US) {
            self.tick(table, now_us);
        }
    }

    /// Runs the timers (also called when a replay ends, so the last calls age as time passes).
    pub fn tick(&mut self, table: &mut CallTable, now_us: u64) {
        self.last_tick_us = now_us;
        let now = Duration::from_micros(now_us);
        self.defrag.expire(now);
        self.tcp.expire(now);
        let closed = table.handle_timeout(now_us);
        self.finish_calls(closed);
        let ended = table.take_closed_registrations();
        if let Some(spool) = &self.spool
            && !ended.is_empty()
        {
            let mut spool = spool.lock().unwrap_or_else(PoisonError::into_inner);
            for id in ended {
                spool.close_register(id);
            }
        }
        let saves_register = self.spool.as_ref().is_some_and(|s| {
            s.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .config()
                .save_register
        });
        for mut row in table.take_register_rows() {
            if saves_register {
                // The REG pcap is named by the transaction's first REGISTER.
                row.fname = row.created_us;
            }
            if let Some(Sink(sink)) = &self.cdr_sink {
                sink(DbRecord::Register(Box::new(row)));
            }
        }
        if let Some(spool) = &self.spool {
            spool
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .flush_due(now_us);
        }
    }

    /// Closes the files of calls the table closed and hands their CDRs (with the spool's
    /// `flags` bits) to the CDR sink.
    pub fn finish_calls(&self, closed: Vec<Closed>) {
        for mut c in closed {
            if let Some(spool) = &self.spool {
                let mut spool = spool.lock().unwrap_or_else(PoisonError::into_inner);
                let paths = spool.close_call(c.call.id);
                c.cdr.flags |= spool_flags(&paths, &spool);
            }
            if let Some(Sink(sink)) = &self.cdr_sink {
                sink(DbRecord::Cdr(Box::new(c.cdr)));
            }
        }
    }

    /// Writes out and fsyncs every call file of the spool, keeping them open (end of a
    /// capture file: complete on disk while the calls stay listed).
    pub fn flush_files(&self) {
        if let Some(spool) = &self.spool {
            spool
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .flush_all();
        }
    }

    /// Writes the frame of a SIP message into its call's SIP file (once per frame, however
    /// many of the call's messages it carries) or its REGISTER transaction's file.
    fn spool_sip(
        &self,
        table: &CallTable,
        owner: Option<SipOwner>,
        raw: Option<&Raw<'_>>,
        written: &mut Option<u64>,
    ) {
        let Some(raw) = raw else {
            return;
        };
        match owner {
            Some(SipOwner::Call(call)) if *written != Some(call.id) => {
                *written = Some(call.id);
                self.spool_write(table, call, raw, Spooled::Sip);
            }
            Some(SipOwner::Register(reg)) => {
                if let Some(spool) = &self.spool {
                    spool
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .write_register(reg.id, reg.start_us, &raw.record());
                }
            }
            _ => {}
        }
    }

    /// Writes `raw` into the file of `call` (SIP or RTP) if a spool is configured.
    fn spool_write(&self, table: &CallTable, call: CallRef, raw: &Raw<'_>, what: Spooled) {
        let (Some(spool), Some(name)) = (&self.spool, table.call_id(call.id)) else {
            return;
        };
        let file = CallFile {
            call: call.id,
            start_us: call.start_us,
            fbasename: name,
        };
        let rec = raw.record();
        let mut spool = spool.lock().unwrap_or_else(PoisonError::into_inner);
        match what {
            Spooled::Sip => spool.write_sip(&file, &rec),
            Spooled::Rtp(offset) => spool.write_rtp(&file, &rec, offset),
            Spooled::Rtcp => spool.write_rtcp(&file, &rec),
        }
    }

    fn is_sip(&self, src_port: u16, dst_port: u16) -> bool {
        self.sip_ports.contains(src_port) || self.sip_ports.contains(dst_port)
    }

    fn handle_l4(
        &mut self,
        table: &mut CallTable,
        stats: &PathStats,
        now_us: u64,
        packet: &Packet<'_>,
        raw: Option<Raw<'_>>,
    ) {
        let (src_ip, dst_ip) = (packet.ip.src, packet.ip.dst);
        match &packet.l4 {
            L4::Udp(udp) => {
                let src = endpoint(src_ip, udp.src_port);
                let dst = endpoint(dst_ip, udp.dst_port);
                if self.is_sip(udp.src_port, udp.dst_port) {
                    let d = Datagram {
                        src,
                        dst,
                        vlan: packet.vlan,
                        raw,
                    };
                    self.sip_datagram(table, stats, now_us, &d, udp.payload);
                } else if let Some(m) =
                    table.handle_media(now_us, src, dst, Some(packet.ip.ttl), udp.payload)
                {
                    bump(&stats.rtp_taken, 1);
                    if let Some(raw) = &raw {
                        let what = if m.rtcp {
                            Spooled::Rtcp
                        } else {
                            Spooled::Rtp(raw.offset_of(udp.payload))
                        };
                        self.spool_write(table, m.call, raw, what);
                    }
                }
            }
            L4::Tcp(tcp) if self.is_sip(tcp.src_port, tcp.dst_port) => {
                let key = FlowKey::new(&packet.ip, tcp);
                let delivery = self.tcp.push(Duration::from_micros(now_us), key, tcp);
                if delivery.appended > 0 {
                    let d = Datagram {
                        src: endpoint(src_ip, tcp.src_port),
                        dst: endpoint(dst_ip, tcp.dst_port),
                        vlan: packet.vlan,
                        raw,
                    };
                    self.sip_stream(table, stats, now_us, key, &d);
                }
            }
            _ => {}
        }
    }

    /// Every SIP message of a UDP datagram; the frame goes once into each call's SIP file.
    fn sip_datagram(
        &mut self,
        table: &mut CallTable,
        stats: &PathStats,
        now_us: u64,
        d: &Datagram<'_>,
        mut payload: &[u8],
    ) {
        let mut written: Option<u64> = None;
        loop {
            payload = trim_padding(payload);
            if payload.is_empty() {
                return;
            }
            match Message::parse(payload, &mut self.index[..], Framing::Datagram) {
                Ok(Parsed::Complete(msg, used)) => {
                    bump(&stats.sip_messages, 1);
                    let owner = table.handle_sip(now_us, d.src, d.dst, d.vlan, &msg);
                    self.spool_sip(table, owner, d.raw.as_ref(), &mut written);
                    payload = payload.get(used.max(1)..).unwrap_or_default();
                }
                Ok(Parsed::Partial) | Err(_) => {
                    bump(&stats.sip_malformed, 1);
                    return;
                }
            }
        }
    }

    /// Every complete SIP message buffered for a TCP direction.
    #[allow(clippy::too_many_arguments)]
    fn sip_stream(
        &mut self,
        table: &mut CallTable,
        stats: &PathStats,
        now_us: u64,
        key: FlowKey,
        d: &Datagram<'_>,
    ) {
        let mut written: Option<u64> = None;
        loop {
            let data = self.tcp.data(&key);
            let used = match voipsensor_sip::frame_stream(data) {
                Ok(Frame::Partial) => return,
                Ok(Frame::Keepalive(n)) => n,
                Ok(Frame::Complete(n)) => {
                    match Message::parse(&data[..n], &mut self.index[..], Framing::Stream) {
                        Ok(Parsed::Complete(msg, _)) => {
                            bump(&stats.sip_messages, 1);
                            let owner = table.handle_sip(now_us, d.src, d.dst, d.vlan, &msg);
                            // The segment completing the message goes to the call's file
                            // (earlier segments of a message split across several are not
                            // kept).
                            self.spool_sip(table, owner, d.raw.as_ref(), &mut written);
                        }
                        _ => bump(&stats.sip_malformed, 1),
                    }
                    n
                }
                Err(e) => {
                    bump(&stats.sip_malformed, 1);
                    e.resync
                }
            };
            self.tcp.consume(&key, used.max(1));
        }
    }
}

/// A frame of link type `link` carrying the reassembled IP packet `ip`, built from the link
/// header of `last` (the fragment that completed it): Ethernet (VLAN tags dropped), Linux
/// cooked v1/v2, raw IP and BSD loopback; `None` for other link types.
fn reassembled_frame(link: u32, last: &[u8], ip: &[u8]) -> Option<Vec<u8>> {
    let v6 = ip.first().is_some_and(|b| b >> 4 == 6);
    let ethertype: [u8; 2] = if v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
    let mut out = Vec::with_capacity(ip.len() + 20);
    match LinkType::from(link) {
        LinkType::Ethernet => {
            out.extend_from_slice(last.get(..12)?);
            out.extend_from_slice(&ethertype);
        }
        LinkType::LinuxSll => {
            out.extend_from_slice(last.get(..14)?);
            out.extend_from_slice(&ethertype);
        }
        LinkType::LinuxSll2 => {
            out.extend_from_slice(&ethertype);
            out.extend_from_slice(last.get(2..20)?);
        }
        LinkType::Null | LinkType::Loop => out.extend_from_slice(last.get(..4)?),
        LinkType::Raw => {}
        LinkType::Unknown(_) => return None,
    }
    out.extend_from_slice(ip);
    Some(out)
}

/// A UDP datagram on a SIP port.
#[derive(Debug)]
struct Datagram<'a> {
    src: Endpoint,
    dst: Endpoint,
    vlan: Option<u16>,
    raw: Option<Raw<'a>>,
}

/// Which file of a call a frame goes to.
#[derive(Debug, Clone, Copy)]
enum Spooled {
    Sip,
    /// RTP, with the offset of the RTP header in the frame.
    Rtp(usize),
    Rtcp,
}

fn endpoint(ip: IpAddr, port: u16) -> Endpoint {
    Endpoint { ip, port }
}

/// Skips what may pad SIP messages in a datagram (keep-alive line ends, NULs).
fn trim_padding(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .take_while(|&&c| matches!(c, b'\r' | b'\n' | b' ' | b'\t' | 0))
        .count();
    &b[n..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use voipsensor_calls::CallsConfig;
    use voipsensor_spool::SpoolConfig;

    const MACS: [u8; 12] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];

    /// An Ethernet/IPv4 fragment of datagram `id`: `data` at byte `offset` of the IP payload.
    fn fragment(id: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
        let mut f = MACS.to_vec();
        f.extend_from_slice(&[0x08, 0x00]);
        let total = u16::try_from(20 + data.len()).expect("small");
        let frag = u16::try_from(offset / 8).expect("small") | if more { 0x2000 } else { 0 };
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&frag.to_be_bytes());
        f.extend_from_slice(&[64, 17, 0, 0]);
        f.extend_from_slice(&Ipv4Addr::new(10, 0, 0, 1).octets());
        f.extend_from_slice(&Ipv4Addr::new(10, 0, 0, 2).octets());
        f.extend_from_slice(data);
        f
    }

    #[test]
    fn a_fragmented_invite_lands_whole_in_the_calls_sip_pcap() {
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=x-pad:{}\r\n",
            "p".repeat(1500)
        );
        let invite = format!(
            "INVITE sip:2@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:1@10.0.0.1>;tag=a\r\nTo: <sip:2@10.0.0.2>\r\nCall-ID: frag-1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        let mut udp = Vec::new();
        udp.extend_from_slice(&5060u16.to_be_bytes());
        udp.extend_from_slice(&5060u16.to_be_bytes());
        udp.extend_from_slice(
            &u16::try_from(8 + invite.len())
                .expect("small")
                .to_be_bytes(),
        );
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(invite.as_bytes());
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Arc::new(Mutex::new(Spool::new(SpoolConfig::new(dir.path()))));
        let mut path = PacketPath::new(PortSet::single(5060)).with_spool(spool.clone());
        let mut table = CallTable::new(CallsConfig::default());
        let stats = PathStats::default();
        let t0 = 1_776_167_857_000_000;
        path.handle(
            &mut table,
            &stats,
            t0,
            1,
            &fragment(7, 0, true, &udp[..1480]),
        );
        path.handle(
            &mut table,
            &stats,
            t0 + 10,
            1,
            &fragment(7, 1480, false, &udp[1480..]),
        );
        assert_eq!(stats.reassembled.load(Ordering::Relaxed), 1);
        assert_eq!(table.total_calls(), 1, "the reassembled INVITE made a call");
        spool.lock().expect("spool").close_all();
        let file = dir.path().join("2026-04-14/11/57/SIP/frag-1.pcap");
        let mut reader = voipsensor_capture::open(&file).expect("SIP pcap");
        let rec = reader.next_packet().expect("valid").expect("one record");
        assert_eq!(rec.link_type, 1);
        assert_eq!(
            rec.data.len(),
            14 + 20 + udp.len(),
            "one frame, the whole datagram"
        );
        let decoded = decode(LinkType::Ethernet, rec.data).expect("decodes");
        let L4::Udp(u) = decoded.l4 else {
            panic!("UDP");
        };
        assert_eq!(u.payload, invite.as_bytes());
        assert!(reader.next_packet().expect("valid").is_none());
    }

    #[test]
    fn reassembled_frames_per_link_type() {
        let ip4 = [0x45u8, 0, 0, 20];
        let eth = [MACS.as_slice(), &[0x81, 0, 0, 5, 0x08, 0], &[0x45]].concat();
        assert_eq!(
            reassembled_frame(1, &eth, &ip4),
            Some([MACS.as_slice(), &[0x08, 0], &ip4].concat()),
            "VLAN tag dropped, IPv4 ethertype"
        );
        let sll = [[7u8; 14].as_slice(), &[0x86, 0xdd]].concat();
        let ip6 = [0x60u8, 0, 0, 0];
        assert_eq!(
            reassembled_frame(113, &sll, &ip6),
            Some([[7u8; 14].as_slice(), &[0x86, 0xdd], &ip6].concat())
        );
        assert_eq!(reassembled_frame(101, &[], &ip4), Some(ip4.to_vec()));
        assert_eq!(reassembled_frame(147, &eth, &ip4), None);
        assert_eq!(
            reassembled_frame(1, &[0; 5], &ip4),
            None,
            "short link header"
        );
    }
}
