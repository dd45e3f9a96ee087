//! Decode errors.

use std::fmt;

use crate::LinkType;

/// The protocol layer an error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// A link-layer pseudo header (Null/Loop AF word, Linux SLL/SLL2).
    Link,
    /// Ethernet II header.
    Ethernet,
    /// An 802.1Q / 802.1ad VLAN tag.
    Vlan,
    /// IPv4 header.
    Ipv4,
    /// IPv6 fixed header or one of its extension headers.
    Ipv6,
    /// UDP header.
    Udp,
    /// TCP header.
    Tcp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Link => "link header",
            Self::Ethernet => "Ethernet",
            Self::Vlan => "VLAN tag",
            Self::Ipv4 => "IPv4",
            Self::Ipv6 => "IPv6",
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
        })
    }
}

/// Why a frame could not be decoded. Every malformed input maps to one of these; decoding never
/// panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The captured bytes end before the header (or the length it announces) does.
    #[error("{0} truncated")]
    Truncated(Layer),
    /// The pcap link type is not one this crate decodes.
    #[error("unsupported link type {0}")]
    UnsupportedLink(LinkType),
    /// The Ethernet/SLL protocol field names something other than IPv4/IPv6/VLAN.
    #[error("unsupported ethertype {0:#06x}")]
    UnsupportedEthertype(u16),
    /// A Null/Loop address-family word names something other than IPv4/IPv6.
    #[error("unsupported address family {0}")]
    UnsupportedAddressFamily(u32),
    /// A header field holds a value that cannot be right (bad version, length below minimum,
    /// too many VLAN tags or IPv6 extension headers, ...).
    #[error("bad {layer} header: {reason}")]
    BadHeader {
        /// Which header.
        layer: Layer,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl DecodeError {
    pub(crate) const fn bad(layer: Layer, reason: &'static str) -> Self {
        Self::BadHeader { layer, reason }
    }
}
