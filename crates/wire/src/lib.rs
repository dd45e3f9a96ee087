//! Packet decoding for voipsensor: zero-copy L2–L4 views and the two reassembly state machines
//! that sit between capture and the SIP/RTP parsers.
//!
//! * [`decode`] turns a captured frame of a given [`LinkType`] (Ethernet with 802.1Q/QinQ, Linux
//!   SLL/SLL2, BSD Null/Loop, raw IP) into a [`Packet`]: innermost VLAN id, [`IpInfo`] and an
//!   [`L4`] (UDP, TCP, other, or an IP fragment). Nothing is allocated and every length is
//!   checked against the captured bytes; malformed input is a [`DecodeError`], never a panic.
//!   The per-header views ([`EthernetFrame`], [`Ipv4Packet`], [`Ipv6Packet`], [`UdpDatagram`],
//!   [`TcpSegment`], ...) each have one checked constructor after which no accessor panics.
//! * [`Defragmenter`] reassembles IPv4 and IPv6 fragments into an owned datagram that
//!   [`decode_ip`] (or [`Reassembled::decode`]) decodes again.
//! * [`TcpReassembler`] turns TCP segments into in-order byte streams per direction, which the
//!   caller (the SIP framer) consumes from.
//!
//! The crate is sans-IO: no clock (time is a [`std::time::Duration`] of packet time passed in),
//! no sockets, no files.

mod decode;
mod defrag;
mod error;
mod ethernet;
mod ipv4;
mod ipv6;
mod link;
mod tcp;
mod tcp_reassembly;
mod udp;

pub use decode::{
    FragmentInfo, IpInfo, L4, PROTO_TCP, PROTO_UDP, Packet, TcpInfo, UdpInfo, decode, decode_ip,
};
pub use defrag::{DefragConfig, DefragCounters, Defragmenter, Reassembled};
pub use error::{DecodeError, Layer};
pub use ethernet::{
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_QINQ_OLD, ETHERTYPE_VLAN,
    EthernetFrame, MAX_VLAN_TAGS,
};
pub use ipv4::{Ipv4Packet, checksum};
pub use ipv6::{
    Ipv6Fragment, Ipv6Packet, MAX_EXTENSION_HEADERS, NEXT_AUTH, NEXT_DEST_OPTS, NEXT_FRAGMENT,
    NEXT_HOP_BY_HOP, NEXT_ROUTING,
};
pub use link::{
    AF_INET, AF_INET6_BSD, AF_INET6_DARWIN, AF_INET6_FREEBSD, LinkType, LoopbackFrame, Sll2Frame,
    SllFrame,
};
pub use tcp::{TcpFlags, TcpSegment};
pub use tcp_reassembly::{Delivery, FlowKey, TcpCounters, TcpReassembler, TcpReassemblyConfig};
pub use udp::UdpDatagram;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;
