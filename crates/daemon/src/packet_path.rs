//! The packet path, without I/O: a captured frame is decoded, reassembled when fragmented,
//! and handed to the call table as SIP (UDP or reassembled TCP on a SIP port) or as a
//! candidate RTP/RTCP datagram. Malformed packets are counted and dropped.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use voipsensor_calls::{CallTable, Endpoint};
use voipsensor_config::PortSet;
use voipsensor_sip::{Frame, Framing, HeaderPos, MAX_HEADERS, Message, Parsed};
use voipsensor_wire::{
    DefragConfig, Defragmenter, FlowKey, L4, LinkType, Packet, TcpReassembler, TcpReassemblyConfig,
    decode,
};

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
        }
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
                    Ok(p) => self.handle_l4(table, stats, now_us, &p),
                    Err(_) => bump(&stats.undecodable, 1),
                }
            }
            return;
        }
        self.handle_l4(table, stats, now_us, &packet);
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
        table.handle_timeout(now_us);
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
    ) {
        let (src_ip, dst_ip) = (packet.ip.src, packet.ip.dst);
        match &packet.l4 {
            L4::Udp(udp) => {
                let src = endpoint(src_ip, udp.src_port);
                let dst = endpoint(dst_ip, udp.dst_port);
                if self.is_sip(udp.src_port, udp.dst_port) {
                    self.sip_datagram(table, stats, now_us, src, dst, packet.vlan, udp.payload);
                } else if table.handle_udp(now_us, src, dst, udp.payload) {
                    bump(&stats.rtp_taken, 1);
                }
            }
            L4::Tcp(tcp) if self.is_sip(tcp.src_port, tcp.dst_port) => {
                let key = FlowKey::new(&packet.ip, tcp);
                let delivery = self.tcp.push(Duration::from_micros(now_us), key, tcp);
                if delivery.appended > 0 {
                    let src = endpoint(src_ip, tcp.src_port);
                    let dst = endpoint(dst_ip, tcp.dst_port);
                    self.sip_stream(table, stats, now_us, key, src, dst, packet.vlan);
                }
            }
            _ => {}
        }
    }

    /// Every SIP message of a UDP datagram.
    #[allow(clippy::too_many_arguments)]
    fn sip_datagram(
        &mut self,
        table: &mut CallTable,
        stats: &PathStats,
        now_us: u64,
        src: Endpoint,
        dst: Endpoint,
        vlan: Option<u16>,
        mut payload: &[u8],
    ) {
        loop {
            payload = trim_padding(payload);
            if payload.is_empty() {
                return;
            }
            match Message::parse(payload, &mut self.index[..], Framing::Datagram) {
                Ok(Parsed::Complete(msg, used)) => {
                    bump(&stats.sip_messages, 1);
                    table.handle_sip(now_us, src, dst, vlan, &msg);
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
        src: Endpoint,
        dst: Endpoint,
        vlan: Option<u16>,
    ) {
        loop {
            let data = self.tcp.data(&key);
            let used = match voipsensor_sip::frame_stream(data) {
                Ok(Frame::Partial) => return,
                Ok(Frame::Keepalive(n)) => n,
                Ok(Frame::Complete(n)) => {
                    match Message::parse(&data[..n], &mut self.index[..], Framing::Stream) {
                        Ok(Parsed::Complete(msg, _)) => {
                            bump(&stats.sip_messages, 1);
                            table.handle_sip(now_us, src, dst, vlan, &msg);
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
