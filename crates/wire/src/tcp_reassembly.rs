//! TCP stream reassembly: in-order bytes per direction for stream-framed protocols (SIP over
//! TCP). Pure and bounded; the caller frames messages and says how many bytes it consumed.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use crate::decode::{IpInfo, TcpInfo};
use crate::tcp::TcpFlags;

/// One direction of a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Sender address.
    pub src: IpAddr,
    /// Receiver address.
    pub dst: IpAddr,
    /// Sender port.
    pub src_port: u16,
    /// Receiver port.
    pub dst_port: u16,
}

impl FlowKey {
    /// The direction `tcp` travels in.
    pub const fn new(ip: &IpInfo, tcp: &TcpInfo<'_>) -> Self {
        Self {
            src: ip.src,
            dst: ip.dst,
            src_port: tcp.src_port,
            dst_port: tcp.dst_port,
        }
    }

    /// The opposite direction.
    pub const fn reversed(self) -> Self {
        Self {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
        }
    }
}

/// Limits of a [`TcpReassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpReassemblyConfig {
    /// Streams (directions) tracked at once; the least recently used one is evicted for a new one.
    pub max_streams: usize,
    /// Out-of-order segments held per stream.
    pub max_held_segments: usize,
    /// Out-of-order bytes held per stream.
    pub max_held_bytes: usize,
    /// In-order bytes not yet consumed by the caller, per stream.
    pub max_buffered: usize,
    /// A stream without segments this long is dropped.
    pub idle_timeout: Duration,
}

impl Default for TcpReassemblyConfig {
    fn default() -> Self {
        Self {
            max_streams: 4096,
            max_held_segments: 16,
            max_held_bytes: 256 << 10,
            max_buffered: 256 << 10,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// What a [`TcpReassembler`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// Segments pushed.
    pub segments: u64,
    /// Segments whose bytes had all been delivered already.
    pub retransmissions: u64,
    /// Segments held because they arrived ahead of a gap.
    pub out_of_order: u64,
    /// Gaps given up on because the out-of-order limits were reached.
    pub gaps_skipped: u64,
    /// Times the caller left more than `max_buffered` bytes unconsumed (buffer discarded).
    pub overflows: u64,
    /// Streams ended by FIN (reached in order) or RST.
    pub ended: u64,
    /// Streams evicted to make room.
    pub evicted: u64,
    /// Streams dropped for idleness.
    pub expired: u64,
}

/// The effect of one segment on its stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct Delivery {
    /// In-order bytes appended to the stream's buffer (see [`TcpReassembler::data`]).
    pub appended: usize,
    /// Bytes were lost before the appended ones (a gap given up on, a buffer overflow, a new
    /// connection on the same ports): the buffer was emptied first, so a framer must resync.
    pub gap: bool,
    /// The stream ended (FIN reached in order, or RST). Its unconsumed bytes stay readable.
    pub ended: bool,
}

#[derive(Debug)]
struct Stream {
    serial: u64,
    next_seq: u32,
    last_seen: Duration,
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed by the caller.
    start: usize,
    held: Vec<(u32, Vec<u8>)>,
    held_bytes: usize,
    fin_seq: Option<u32>,
    ended: bool,
}

/// Reassembles TCP byte streams, one per direction ([`FlowKey`]).
///
/// Per stream: retransmitted and overlapping bytes are delivered once; segments ahead of a gap
/// are held (bounded) until it fills or the limits force the gap to be skipped; SYN starts a
/// stream, FIN (in order) and RST end it. An ended stream is kept (ignoring late
/// retransmissions) until it idles out or is evicted. Time is packet time passed in.
#[derive(Debug)]
pub struct TcpReassembler {
    config: TcpReassemblyConfig,
    streams: HashMap<FlowKey, Stream>,
    /// Roughly least-recently-used order: (key, serial, last_seen when queued). Checked lazily:
    /// an entry whose stream was seen since is requeued instead of evicted or expired.
    order: VecDeque<(FlowKey, u64, Duration)>,
    next_serial: u64,
    counters: TcpCounters,
}

impl Default for TcpReassembler {
    fn default() -> Self {
        Self::new(TcpReassemblyConfig::default())
    }
}

impl TcpReassembler {
    /// An empty reassembler with these limits.
    pub fn new(config: TcpReassemblyConfig) -> Self {
        Self {
            config,
            streams: HashMap::new(),
            order: VecDeque::new(),
            next_serial: 0,
            counters: TcpCounters::default(),
        }
    }

    /// Counters so far.
    pub const fn counters(&self) -> TcpCounters {
        self.counters
    }

    /// Streams tracked (including ended ones not yet dropped).
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// True when no stream is tracked.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Feeds one segment of direction `key`.
    pub fn push(&mut self, now: Duration, key: FlowKey, tcp: &TcpInfo<'_>) -> Delivery {
        self.counters.segments += 1;
        self.expire(now);
        let syn = tcp.flags.contains(TcpFlags::SYN);
        let mut out = Delivery::default();
        if tcp.flags.contains(TcpFlags::RST) {
            if let Some(s) = self.streams.get_mut(&key).filter(|s| !s.ended) {
                s.end();
                s.last_seen = now;
                self.counters.ended += 1;
                out.ended = true;
            }
            return out;
        }
        let data_seq = if syn {
            tcp.seq.wrapping_add(1)
        } else {
            tcp.seq
        };
        if !self.streams.contains_key(&key) {
            if !syn && tcp.payload.is_empty() {
                return out;
            }
            if self.streams.len() >= self.config.max_streams {
                self.evict_one();
            }
            let serial = self.next_serial;
            self.next_serial += 1;
            self.streams.insert(key, Stream::new(serial, data_seq, now));
            self.order.push_back((key, serial, now));
            self.compact_order();
        }
        let config = self.config;
        let Some(s) = self.streams.get_mut(&key) else {
            return out;
        };
        s.last_seen = now;
        let syn_rel = data_seq.wrapping_sub(s.next_seq) as i32;
        if syn && !(-(1 << 20)..=0).contains(&syn_rel) {
            // A new connection reusing the ports; a retransmitted SYN (at or a little behind
            // the stream) is ignored like any retransmission.
            let serial = s.serial;
            *s = Stream::new(serial, data_seq, now);
            out.gap = true;
        }
        if s.ended {
            return out;
        }
        if tcp.flags.contains(TcpFlags::FIN) && s.fin_seq.is_none() {
            s.fin_seq = Some(data_seq.wrapping_add(tcp.payload.len() as u32));
        }
        let rel = data_seq.wrapping_sub(s.next_seq) as i32;
        if rel <= 0 {
            let skip = rel.unsigned_abs() as usize;
            if skip >= tcp.payload.len() {
                if !tcp.payload.is_empty() {
                    self.counters.retransmissions += 1;
                }
            } else {
                s.append(&tcp.payload[skip..], &config, &mut out, &mut self.counters);
            }
        } else if !tcp.payload.is_empty() {
            self.counters.out_of_order += 1;
            s.held.push((data_seq, tcp.payload.to_vec()));
            s.held_bytes += tcp.payload.len();
            if s.held.len() > config.max_held_segments || s.held_bytes > config.max_held_bytes {
                // Give up on the gap: continue from the earliest held segment.
                let first = s
                    .held
                    .iter()
                    .map(|h| h.0)
                    .min_by_key(|q| q.wrapping_sub(s.next_seq));
                if let Some(first) = first {
                    s.next_seq = first;
                    s.start = s.buf.len();
                    out.gap = true;
                    self.counters.gaps_skipped += 1;
                }
            }
        }
        s.drain_held(&config, &mut out, &mut self.counters);
        if s.fin_seq == Some(s.next_seq) {
            s.end();
            self.counters.ended += 1;
            out.ended = true;
        }
        out
    }

    /// In-order bytes of stream `key` not yet consumed (empty for an unknown stream).
    pub fn data(&self, key: &FlowKey) -> &[u8] {
        self.streams.get(key).map_or(&[], |s| &s.buf[s.start..])
    }

    /// Marks the first `n` bytes of [`TcpReassembler::data`] consumed (clamped to what there is).
    pub fn consume(&mut self, key: &FlowKey, n: usize) {
        if let Some(s) = self.streams.get_mut(key) {
            s.start = (s.start + n).min(s.buf.len());
            if s.start == s.buf.len() {
                s.buf.clear();
                s.start = 0;
            }
        }
    }

    /// True when stream `key` is tracked and has ended.
    pub fn is_ended(&self, key: &FlowKey) -> bool {
        self.streams.get(key).is_some_and(|s| s.ended)
    }

    /// Forgets stream `key`.
    pub fn remove(&mut self, key: &FlowKey) {
        self.streams.remove(key);
    }

    /// Drops streams idle for at least the idle timeout; returns how many.
    pub fn expire(&mut self, now: Duration) -> usize {
        let mut n = 0;
        while let Some(&(key, serial, queued)) = self.order.front() {
            if queued.saturating_add(self.config.idle_timeout) > now {
                break;
            }
            self.order.pop_front();
            let Some(s) = self.streams.get(&key).filter(|s| s.serial == serial) else {
                continue;
            };
            if s.last_seen.saturating_add(self.config.idle_timeout) <= now {
                self.streams.remove(&key);
                self.counters.expired += 1;
                n += 1;
            } else {
                self.order.push_back((key, serial, s.last_seen));
            }
        }
        n
    }

    /// Evicts the least recently used stream (second chance for streams seen since queued).
    fn evict_one(&mut self) {
        while let Some((key, serial, queued)) = self.order.pop_front() {
            let Some(s) = self.streams.get(&key).filter(|s| s.serial == serial) else {
                continue;
            };
            if s.last_seen > queued {
                self.order.push_back((key, serial, s.last_seen));
                continue;
            }
            self.streams.remove(&key);
            self.counters.evicted += 1;
            return;
        }
    }

    fn compact_order(&mut self) {
        if self.order.len() > 2 * self.streams.len() + 64 {
            let streams = &self.streams;
            self.order
                .retain(|(k, s, _)| streams.get(k).is_some_and(|st| st.serial == *s));
        }
    }
}

impl Stream {
    const fn new(serial: u64, next_seq: u32, now: Duration) -> Self {
        Self {
            serial,
            next_seq,
            last_seen: now,
            buf: Vec::new(),
            start: 0,
            held: Vec::new(),
            held_bytes: 0,
            fin_seq: None,
            ended: false,
        }
    }

    fn end(&mut self) {
        self.ended = true;
        self.held = Vec::new();
        self.held_bytes = 0;
    }

    fn append(
        &mut self,
        bytes: &[u8],
        config: &TcpReassemblyConfig,
        out: &mut Delivery,
        counters: &mut TcpCounters,
    ) {
        self.next_seq = self.next_seq.wrapping_add(bytes.len() as u32);
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.len() - self.start + bytes.len() > config.max_buffered {
            counters.overflows += 1;
            self.buf.clear();
            self.start = 0;
            out.gap = true;
            if bytes.len() > config.max_buffered {
                return;
            }
        }
        self.buf.extend_from_slice(bytes);
        out.appended += bytes.len();
    }

    /// Appends held segments the stream has caught up with, dropping the parts already delivered.
    fn drain_held(
        &mut self,
        config: &TcpReassemblyConfig,
        out: &mut Delivery,
        counters: &mut TcpCounters,
    ) {
        while let Some(i) = self
            .held
            .iter()
            .position(|(seq, _)| seq.wrapping_sub(self.next_seq) as i32 <= 0)
        {
            let (seq, data) = self.held.swap_remove(i);
            self.held_bytes -= data.len();
            let skip = self.next_seq.wrapping_sub(seq) as usize;
            if skip < data.len() {
                self.append(&data[skip..], config, out, counters);
            }
        }
    }
}

#[cfg(test)]
mod tests;
