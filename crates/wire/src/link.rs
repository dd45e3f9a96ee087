//! Link layers: the pcap `LINKTYPE_*` registry and the pseudo headers of loopback and Linux
//! "cooked" captures (SLL, SLL2). Ethernet lives in [`crate::ethernet`].

use std::fmt;

use crate::error::{DecodeError, Layer};
use crate::ethernet::{self, ETHERTYPE_IPV4, ETHERTYPE_IPV6};

/// A pcap/pcapng link type (`LINKTYPE_*` number). Open: unknown numbers are kept, not rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// `LINKTYPE_NULL` (0): BSD loopback, 4-byte address family in the capturing host's byte order.
    Null,
    /// `LINKTYPE_ETHERNET` (1): Ethernet II, possibly with 802.1Q/QinQ tags.
    Ethernet,
    /// `LINKTYPE_RAW` (101; also the `DLT_RAW` values 12 and 14): a bare IPv4 or IPv6 packet.
    Raw,
    /// `LINKTYPE_LOOP` (108): OpenBSD loopback, 4-byte address family, big-endian.
    Loop,
    /// `LINKTYPE_LINUX_SLL` (113): Linux cooked capture v1 (16-byte header).
    LinuxSll,
    /// `LINKTYPE_LINUX_SLL2` (276): Linux cooked capture v2 (20-byte header).
    LinuxSll2,
    /// Any other number.
    Unknown(u32),
}

impl LinkType {
    /// The canonical `LINKTYPE_*` number (101 for [`LinkType::Raw`]).
    pub const fn number(self) -> u32 {
        match self {
            Self::Null => 0,
            Self::Ethernet => 1,
            Self::Raw => 101,
            Self::Loop => 108,
            Self::LinuxSll => 113,
            Self::LinuxSll2 => 276,
            Self::Unknown(n) => n,
        }
    }
}

impl From<u32> for LinkType {
    fn from(n: u32) -> Self {
        match n {
            0 => Self::Null,
            1 => Self::Ethernet,
            101 | 12 | 14 => Self::Raw,
            108 => Self::Loop,
            113 => Self::LinuxSll,
            276 => Self::LinuxSll2,
            n => Self::Unknown(n),
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(n) => write!(f, "{n}"),
            other => write!(f, "{other:?} ({})", other.number()),
        }
    }
}

/// Which network protocol follows a link header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetProto {
    Ipv4,
    Ipv6,
    /// Decide from the IP version nibble (raw IP).
    ByVersion,
}

/// The result of peeling the link layer: innermost VLAN id, network protocol, IP bytes.
pub(crate) struct L2<'a> {
    pub(crate) vlan: Option<u16>,
    pub(crate) net: NetProto,
    pub(crate) payload: &'a [u8],
}

/// Peels the link layer of `frame`.
#[inline]
pub(crate) fn strip(link: LinkType, frame: &[u8]) -> Result<L2<'_>, DecodeError> {
    match link {
        LinkType::Ethernet => {
            let eth = ethernet::EthernetFrame::new_checked(frame)?;
            l2_from_ethertype(eth.vlan(), eth.ethertype(), eth.payload())
        }
        LinkType::Raw => Ok(L2 {
            vlan: None,
            net: NetProto::ByVersion,
            payload: frame,
        }),
        LinkType::Null | LinkType::Loop => {
            let lo = LoopbackFrame::new_checked(frame, link == LinkType::Loop)?;
            let net = match lo.family() {
                AF_INET => NetProto::Ipv4,
                AF_INET6_BSD | AF_INET6_FREEBSD | AF_INET6_DARWIN => NetProto::Ipv6,
                af => return Err(DecodeError::UnsupportedAddressFamily(af)),
            };
            Ok(L2 {
                vlan: None,
                net,
                payload: lo.payload(),
            })
        }
        LinkType::LinuxSll => {
            let sll = SllFrame::new_checked(frame)?;
            with_tags(sll.protocol(), sll.payload())
        }
        LinkType::LinuxSll2 => {
            let sll = Sll2Frame::new_checked(frame)?;
            with_tags(sll.protocol(), sll.payload())
        }
        LinkType::Unknown(_) => Err(DecodeError::UnsupportedLink(link)),
    }
}

/// Cooked captures may still carry VLAN tags when the kernel did not strip them.
fn with_tags(ethertype: u16, payload: &[u8]) -> Result<L2<'_>, DecodeError> {
    let (vlan, ethertype, off) = ethernet::skip_vlan_tags(ethertype, payload)?;
    l2_from_ethertype(vlan, ethertype, &payload[off..])
}

#[inline]
fn l2_from_ethertype(
    vlan: Option<u16>,
    ethertype: u16,
    payload: &[u8],
) -> Result<L2<'_>, DecodeError> {
    let net = match ethertype {
        ETHERTYPE_IPV4 => NetProto::Ipv4,
        ETHERTYPE_IPV6 => NetProto::Ipv6,
        other => return Err(DecodeError::UnsupportedEthertype(other)),
    };
    Ok(L2 { vlan, net, payload })
}

/// `AF_INET` on every BSD-derived system.
pub const AF_INET: u32 = 2;
/// `AF_INET6` on NetBSD, OpenBSD and BSD/OS.
pub const AF_INET6_BSD: u32 = 24;
/// `AF_INET6` on FreeBSD and DragonFly.
pub const AF_INET6_FREEBSD: u32 = 28;
/// `AF_INET6` on macOS/Darwin.
pub const AF_INET6_DARWIN: u32 = 30;

/// A BSD loopback frame (`LINKTYPE_NULL` or `LINKTYPE_LOOP`): a 4-byte address family word.
#[derive(Debug, Clone, Copy)]
pub struct LoopbackFrame<'a> {
    buf: &'a [u8],
    family: u32,
}

impl<'a> LoopbackFrame<'a> {
    /// Length of the address-family word.
    pub const HEADER_LEN: usize = 4;

    /// Checks the length and reads the family. For `LINKTYPE_NULL` (`big_endian == false`) the
    /// word is in the byte order of the host that captured, which the file does not record: the
    /// families are all below 256, so whichever reading is small is the right one.
    pub fn new_checked(buf: &'a [u8], big_endian: bool) -> Result<Self, DecodeError> {
        let Some(word) = buf.first_chunk::<4>() else {
            return Err(DecodeError::Truncated(Layer::Link));
        };
        let family = if big_endian {
            u32::from_be_bytes(*word)
        } else {
            let le = u32::from_le_bytes(*word);
            if le & 0xFFFF_0000 == 0 {
                le
            } else {
                le.swap_bytes()
            }
        };
        Ok(Self { buf, family })
    }

    /// The address family (`AF_*` value of the capturing system).
    pub const fn family(&self) -> u32 {
        self.family
    }

    /// The bytes after the family word.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[Self::HEADER_LEN..]
    }
}

/// A Linux cooked capture v1 frame (`LINKTYPE_LINUX_SLL`).
#[derive(Debug, Clone, Copy)]
pub struct SllFrame<'a> {
    buf: &'a [u8],
}

impl<'a> SllFrame<'a> {
    /// Length of the SLL header.
    pub const HEADER_LEN: usize = 16;

    /// Checks that the 16-byte header is present.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < Self::HEADER_LEN {
            return Err(DecodeError::Truncated(Layer::Link));
        }
        Ok(Self { buf })
    }

    /// Packet type (0 = to us, 4 = outgoing, ...).
    pub fn packet_type(&self) -> u16 {
        be16(self.buf, 0)
    }

    /// ARPHRD_* device type.
    pub fn arphrd(&self) -> u16 {
        be16(self.buf, 2)
    }

    /// Protocol (an ethertype for Ethernet-like devices).
    pub fn protocol(&self) -> u16 {
        be16(self.buf, 14)
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[Self::HEADER_LEN..]
    }
}

/// A Linux cooked capture v2 frame (`LINKTYPE_LINUX_SLL2`).
#[derive(Debug, Clone, Copy)]
pub struct Sll2Frame<'a> {
    buf: &'a [u8],
}

impl<'a> Sll2Frame<'a> {
    /// Length of the SLL2 header.
    pub const HEADER_LEN: usize = 20;

    /// Checks that the 20-byte header is present.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < Self::HEADER_LEN {
            return Err(DecodeError::Truncated(Layer::Link));
        }
        Ok(Self { buf })
    }

    /// Protocol (ethertype).
    pub fn protocol(&self) -> u16 {
        be16(self.buf, 0)
    }

    /// Interface index of the capturing interface.
    pub fn interface_index(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    /// ARPHRD_* device type.
    pub fn arphrd(&self) -> u16 {
        be16(self.buf, 8)
    }

    /// Packet type (0 = to us, 4 = outgoing, ...).
    pub fn packet_type(&self) -> u8 {
        self.buf[10]
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[Self::HEADER_LEN..]
    }
}

/// Big-endian u16 at `off`; callers have checked the length.
#[inline]
pub(crate) fn be16(buf: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([buf[off], buf[off + 1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for n in [0, 1, 101, 108, 113, 276, 9999] {
            assert_eq!(LinkType::from(n).number(), n);
        }
        assert_eq!(LinkType::from(12), LinkType::Raw);
        assert_eq!(LinkType::from(14), LinkType::Raw);
        assert_eq!(LinkType::from(147), LinkType::Unknown(147));
    }

    #[test]
    fn null_family_either_endian() {
        let le = LoopbackFrame::new_checked(&[2, 0, 0, 0], false).expect("4 bytes");
        let be = LoopbackFrame::new_checked(&[0, 0, 0, 2], false).expect("4 bytes");
        let lo = LoopbackFrame::new_checked(&[0, 0, 0, 30], true).expect("4 bytes");
        assert_eq!((le.family(), be.family(), lo.family()), (2, 2, 30));
        assert!(LoopbackFrame::new_checked(&[2, 0, 0], false).is_err());
    }

    #[test]
    fn sll_fields() {
        let mut h = [0u8; 16];
        h[1] = 4;
        h[3] = 1;
        h[14] = 0x08;
        let f = SllFrame::new_checked(&h).expect("16 bytes");
        assert_eq!((f.packet_type(), f.arphrd(), f.protocol()), (4, 1, 0x0800));
        assert!(f.payload().is_empty());
        let mut h2 = [0u8; 20];
        h2[0] = 0x86;
        h2[1] = 0xdd;
        h2[7] = 3;
        h2[9] = 1;
        h2[10] = 4;
        let f = Sll2Frame::new_checked(&h2).expect("20 bytes");
        assert_eq!(f.protocol(), 0x86dd);
        assert_eq!(
            (f.interface_index(), f.arphrd(), f.packet_type()),
            (3, 1, 4)
        );
        assert!(Sll2Frame::new_checked(&h2[..19]).is_err());
    }
}
