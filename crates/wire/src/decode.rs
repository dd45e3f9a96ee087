//! One-call decoding of a captured frame into a [`Packet`].

use std::net::IpAddr;

use crate::error::{DecodeError, Layer};
use crate::ipv4::Ipv4Packet;
use crate::ipv6::Ipv6Packet;
use crate::link::{self, LinkType, NetProto};
use crate::tcp::{TcpFlags, TcpSegment};
use crate::udp::UdpDatagram;

/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// A decoded packet: borrowed from the frame, nothing allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Innermost 802.1Q VLAN id, `None` when untagged.
    pub vlan: Option<u16>,
    /// Network-layer facts.
    pub ip: IpInfo,
    /// Transport layer.
    pub l4: L4<'a>,
}

/// Network-layer facts of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol (for IPv6: after the extension headers).
    pub proto: u8,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Set when the packet is a fragment of a larger datagram.
    pub fragment: Option<FragmentInfo>,
}

/// Where a fragment sits in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentInfo {
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub ident: u32,
    /// Offset of the fragment's data in the datagram payload, in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
}

/// The transport layer of a [`Packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4<'a> {
    /// A UDP datagram.
    Udp(UdpInfo<'a>),
    /// A TCP segment.
    Tcp(TcpInfo<'a>),
    /// Another protocol; `payload` is the IP payload.
    Other {
        /// IP protocol number.
        proto: u8,
        /// The IP payload.
        payload: &'a [u8],
    },
    /// An IP fragment (first or later): no transport header is parsed, even in the first one.
    /// Feed the packet to a [`crate::Defragmenter`].
    Fragment {
        /// The fragment's share of the datagram payload.
        payload: &'a [u8],
    },
}

/// UDP ports and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpInfo<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload (up to the UDP length).
    pub payload: &'a [u8],
}

/// The TCP header fields stream reassembly needs, and the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Control flags.
    pub flags: TcpFlags,
    /// Receive window.
    pub window: u16,
    /// Payload.
    pub payload: &'a [u8],
}

impl Packet<'_> {
    /// Source and destination ports of a UDP or TCP packet.
    pub const fn ports(&self) -> Option<(u16, u16)> {
        match self.l4 {
            L4::Udp(u) => Some((u.src_port, u.dst_port)),
            L4::Tcp(t) => Some((t.src_port, t.dst_port)),
            L4::Other { .. } | L4::Fragment { .. } => None,
        }
    }
}

/// Decodes a captured frame of link type `link` down to the transport layer.
#[inline]
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let l2 = link::strip(link, frame)?;
    let mut p = match l2.net {
        NetProto::Ipv4 => decode_ipv4(l2.payload)?,
        NetProto::Ipv6 => decode_ipv6(l2.payload)?,
        NetProto::ByVersion => decode_ip(l2.payload)?,
    };
    p.vlan = l2.vlan;
    Ok(p)
}

/// Decodes a bare IPv4 or IPv6 packet (chosen by the version nibble), e.g. a datagram handed
/// back by the [`crate::Defragmenter`]. `vlan` is `None`.
pub fn decode_ip(bytes: &[u8]) -> Result<Packet<'_>, DecodeError> {
    match bytes.first().map(|b| b >> 4) {
        Some(4) => decode_ipv4(bytes),
        Some(6) => decode_ipv6(bytes),
        Some(_) => Err(DecodeError::bad(Layer::Ipv4, "version is neither 4 nor 6")),
        None => Err(DecodeError::Truncated(Layer::Ipv4)),
    }
}

#[inline]
fn decode_ipv4(bytes: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let ip = Ipv4Packet::new_checked(bytes)?;
    let fragment = ip.is_fragment().then(|| FragmentInfo {
        ident: u32::from(ip.ident()),
        offset: ip.frag_offset(),
        more: ip.more_fragments(),
    });
    let info = IpInfo {
        src: IpAddr::V4(ip.src()),
        dst: IpAddr::V4(ip.dst()),
        proto: ip.protocol(),
        ttl: ip.ttl(),
        fragment,
    };
    finish(info, ip.payload())
}

fn decode_ipv6(bytes: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let ip = Ipv6Packet::new_checked(bytes)?;
    let fragment = match ip.fragment() {
        Some(f) if ip.is_fragment() => Some(FragmentInfo {
            ident: f.ident,
            offset: f.offset,
            more: f.more,
        }),
        _ => None,
    };
    let info = IpInfo {
        src: IpAddr::V6(ip.src()),
        dst: IpAddr::V6(ip.dst()),
        proto: ip.upper_protocol(),
        ttl: ip.hop_limit(),
        fragment,
    };
    finish(info, ip.upper_payload())
}

#[inline]
fn finish(ip: IpInfo, payload: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let l4 = if ip.fragment.is_some() {
        L4::Fragment { payload }
    } else {
        match ip.proto {
            PROTO_UDP => {
                let u = UdpDatagram::new_checked(payload)?;
                L4::Udp(UdpInfo {
                    src_port: u.src_port(),
                    dst_port: u.dst_port(),
                    payload: u.payload(),
                })
            }
            PROTO_TCP => {
                let t = TcpSegment::new_checked(payload)?;
                L4::Tcp(TcpInfo {
                    src_port: t.src_port(),
                    dst_port: t.dst_port(),
                    seq: t.seq(),
                    ack: t.ack(),
                    flags: t.flags(),
                    window: t.window(),
                    payload: t.payload(),
                })
            }
            proto => L4::Other { proto, payload },
        }
    };
    Ok(Packet { vlan: None, ip, l4 })
}
