//! IPv4 and IPv6 fragment reassembly: a pure, bounded state machine.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use crate::decode::{L4, Packet, decode_ip};
use crate::error::DecodeError;
use crate::{ipv4, ipv6};

/// Limits of a [`Defragmenter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragConfig {
    /// Datagrams in progress at once; when full, the oldest is dropped to make room.
    pub max_datagrams: usize,
    /// Largest reassembled payload (bytes after the IP header).
    pub max_datagram_bytes: usize,
    /// Fragments per datagram.
    pub max_fragments: usize,
    /// Bytes held across all datagrams in progress.
    pub max_total_bytes: usize,
    /// A datagram not complete this long after its first fragment is dropped.
    pub timeout: Duration,
}

impl Default for DefragConfig {
    fn default() -> Self {
        Self {
            max_datagrams: 1024,
            max_datagram_bytes: 65_535,
            max_fragments: 64,
            max_total_bytes: 16 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// What a [`Defragmenter`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefragCounters {
    /// Fragments pushed.
    pub fragments: u64,
    /// Datagrams completed.
    pub reassembled: u64,
    /// Exact duplicates of a fragment already held (ignored).
    pub duplicates: u64,
    /// Datagrams dropped for overlapping or inconsistent fragments.
    pub dropped_overlap: u64,
    /// Datagrams dropped by a limit (size, fragment count, memory, table full).
    pub dropped_limits: u64,
    /// Datagrams dropped by the timeout.
    pub expired: u64,
}

/// A reassembled datagram: an IP header (rebuilt without options or extension headers, not
/// fragmented) followed by the whole payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// VLAN id of the first fragment.
    pub vlan: Option<u16>,
    bytes: Vec<u8>,
}

impl Reassembled {
    /// The bare IP packet.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bare IP packet, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Decodes the datagram (as [`decode_ip`]) with the first fragment's VLAN id.
    pub fn decode(&self) -> Result<Packet<'_>, DecodeError> {
        let mut p = decode_ip(&self.bytes)?;
        p.vlan = self.vlan;
        Ok(p)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ident: u32,
}

#[derive(Debug)]
struct Entry {
    serial: u64,
    buf: Vec<u8>,
    /// Byte ranges received, disjoint.
    ranges: Vec<(usize, usize)>,
    received: usize,
    /// Payload length, known once the last fragment (more = false) arrived.
    total: Option<usize>,
    vlan: Option<u16>,
    ttl: u8,
}

/// Reassembles IP fragments keyed by (source, destination, protocol, identification).
///
/// Time is packet time passed in by the caller; [`Defragmenter::expire`] drops stale datagrams
/// and is also run (cheaply: it only looks at the oldest entries) on every push.
#[derive(Debug)]
pub struct Defragmenter {
    config: DefragConfig,
    map: HashMap<Key, Entry>,
    /// Creation order: (key, serial, created). Entries of datagrams already gone are skipped.
    order: VecDeque<(Key, u64, Duration)>,
    next_serial: u64,
    total_bytes: usize,
    counters: DefragCounters,
}

impl Default for Defragmenter {
    fn default() -> Self {
        Self::new(DefragConfig::default())
    }
}

enum Verdict {
    Keep,
    Duplicate,
    Overlap,
    Limit,
}

impl Defragmenter {
    /// An empty reassembler with these limits.
    pub fn new(config: DefragConfig) -> Self {
        Self {
            config,
            map: HashMap::new(),
            order: VecDeque::new(),
            next_serial: 0,
            total_bytes: 0,
            counters: DefragCounters::default(),
        }
    }

    /// Counters so far.
    pub const fn counters(&self) -> DefragCounters {
        self.counters
    }

    /// Datagrams in progress.
    pub fn in_progress(&self) -> usize {
        self.map.len()
    }

    /// Feeds one packet. Packets that are not fragments (no [`crate::FragmentInfo`] or not
    /// [`L4::Fragment`]) are ignored. Returns the datagram this fragment completed.
    pub fn push(&mut self, now: Duration, packet: &Packet<'_>) -> Option<Reassembled> {
        let (Some(frag), L4::Fragment { payload }) = (packet.ip.fragment, packet.l4) else {
            return None;
        };
        self.counters.fragments += 1;
        self.expire(now);
        let key = Key {
            src: packet.ip.src,
            dst: packet.ip.dst,
            proto: packet.ip.proto,
            ident: frag.ident,
        };
        let start = usize::from(frag.offset);
        let end = start + payload.len();
        if end > self.config.max_datagram_bytes {
            self.remove(&key);
            self.counters.dropped_limits += 1;
            return None;
        }
        if frag.more && payload.len() % 8 != 0 {
            // Only the last fragment may end off an 8-byte boundary.
            self.remove(&key);
            self.counters.dropped_overlap += 1;
            return None;
        }
        if !self.map.contains_key(&key) {
            if self.map.len() >= self.config.max_datagrams && !self.evict_oldest() {
                self.counters.dropped_limits += 1;
                return None;
            }
            let serial = self.next_serial;
            self.next_serial += 1;
            self.map.insert(
                key,
                Entry {
                    serial,
                    buf: Vec::new(),
                    ranges: Vec::new(),
                    received: 0,
                    total: None,
                    vlan: packet.vlan,
                    ttl: packet.ip.ttl,
                },
            );
            self.order.push_back((key, serial, now));
            self.compact_order();
        }
        let room = self.config.max_total_bytes.saturating_sub(self.total_bytes);
        let entry = self.map.get_mut(&key)?;
        match check(entry, &self.config, start, end, frag.more, payload, room) {
            Verdict::Keep => {}
            Verdict::Duplicate => {
                self.counters.duplicates += 1;
                return None;
            }
            Verdict::Overlap => {
                self.remove(&key);
                self.counters.dropped_overlap += 1;
                return None;
            }
            Verdict::Limit => {
                self.remove(&key);
                self.counters.dropped_limits += 1;
                return None;
            }
        }
        if entry.buf.len() < end {
            self.total_bytes += end - entry.buf.len();
            entry.buf.resize(end, 0);
        }
        entry.buf[start..end].copy_from_slice(payload);
        entry.ranges.push((start, end));
        entry.received += payload.len();
        if !frag.more {
            entry.total = Some(end);
        }
        if start == 0 {
            entry.vlan = packet.vlan;
            entry.ttl = packet.ip.ttl;
        }
        if entry.total != Some(entry.received) {
            return None;
        }
        let entry = self.remove(&key)?;
        let mut bytes = Vec::with_capacity(entry.buf.len() + 40);
        match (key.src, key.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                if entry.buf.len() + 20 > usize::from(u16::MAX) {
                    self.counters.dropped_limits += 1;
                    return None;
                }
                // The identification is 16 bits for IPv4: the key came from a u16.
                let ident = u16::try_from(key.ident).unwrap_or_default();
                ipv4::emit_header(
                    &mut bytes,
                    s,
                    d,
                    key.proto,
                    entry.ttl,
                    ident,
                    entry.buf.len(),
                );
            }
            (s, d) => {
                let (IpAddr::V6(s), IpAddr::V6(d)) = (to_v6(s), to_v6(d)) else {
                    return None;
                };
                ipv6::emit_header(&mut bytes, s, d, key.proto, entry.ttl, entry.buf.len());
            }
        }
        bytes.extend_from_slice(&entry.buf);
        self.counters.reassembled += 1;
        Some(Reassembled {
            vlan: entry.vlan,
            bytes,
        })
    }

    /// Drops datagrams whose first fragment is at least `timeout` older than `now`; returns how
    /// many.
    pub fn expire(&mut self, now: Duration) -> usize {
        let mut n = 0;
        while let Some(&(key, serial, created)) = self.order.front() {
            if created.saturating_add(self.config.timeout) > now {
                break;
            }
            self.order.pop_front();
            if self.map.get(&key).is_some_and(|e| e.serial == serial) {
                self.remove(&key);
                self.counters.expired += 1;
                n += 1;
            }
        }
        n
    }

    fn evict_oldest(&mut self) -> bool {
        while let Some((key, serial, _)) = self.order.pop_front() {
            if self.map.get(&key).is_some_and(|e| e.serial == serial) {
                self.remove(&key);
                self.counters.dropped_limits += 1;
                return true;
            }
        }
        false
    }

    fn remove(&mut self, key: &Key) -> Option<Entry> {
        let e = self.map.remove(key)?;
        self.total_bytes -= e.buf.len();
        Some(e)
    }

    /// Completed and dropped datagrams leave their `order` entries behind; sweep them once they
    /// outnumber the live ones, so the queue stays proportional to the table.
    fn compact_order(&mut self) {
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(k, s, _)| map.get(k).is_some_and(|e| e.serial == *s));
        }
    }
}

fn check(
    entry: &Entry,
    config: &DefragConfig,
    start: usize,
    end: usize,
    more: bool,
    payload: &[u8],
    room: usize,
) -> Verdict {
    for &(s, e) in &entry.ranges {
        if start < e && s < end || (start == s && end == e) {
            let same = s == start && e == end && entry.buf[s..e] == *payload;
            return if same {
                Verdict::Duplicate
            } else {
                Verdict::Overlap
            };
        }
    }
    if entry.ranges.len() >= config.max_fragments {
        return Verdict::Limit;
    }
    let past_total = entry
        .total
        .is_some_and(|t| if more { end > t } else { end != t });
    let beyond_last = !more && entry.ranges.iter().any(|&(_, e)| e > end);
    if past_total || beyond_last {
        return Verdict::Overlap;
    }
    if end.saturating_sub(entry.buf.len()) > room {
        return Verdict::Limit;
    }
    Verdict::Keep
}

/// Keys mix families only if a caller builds packets by hand; map both to IPv6 so the header
/// writer has one family.
fn to_v6(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        v6 => v6,
    }
}

#[cfg(test)]
mod tests;
