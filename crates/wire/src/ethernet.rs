//! Ethernet II with 802.1Q / 802.1ad (QinQ) tags.

use crate::error::{DecodeError, Layer};
use crate::link::be16;

/// Ethertype of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// 802.1Q customer VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service VLAN tag (QinQ outer tag).
pub const ETHERTYPE_QINQ: u16 = 0x88A8;
/// Pre-standard QinQ tag used by some switches.
pub const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

/// More stacked tags than this is not a real network; refusing keeps the walk short.
pub const MAX_VLAN_TAGS: usize = 4;

/// An Ethernet II frame whose VLAN tags have been walked by the constructor.
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<'a> {
    buf: &'a [u8],
    vlan: Option<u16>,
    ethertype: u16,
    payload_off: usize,
}

impl<'a> EthernetFrame<'a> {
    /// Length of the untagged header.
    pub const HEADER_LEN: usize = 14;

    /// Checks the header and every VLAN tag, keeping the innermost VLAN id.
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < Self::HEADER_LEN {
            return Err(DecodeError::Truncated(Layer::Ethernet));
        }
        let (vlan, ethertype, off) = skip_vlan_tags(be16(buf, 12), &buf[Self::HEADER_LEN..])?;
        Ok(Self {
            buf,
            vlan,
            ethertype,
            payload_off: Self::HEADER_LEN + off,
        })
    }

    /// Destination MAC address.
    pub fn dst(&self) -> [u8; 6] {
        [
            self.buf[0],
            self.buf[1],
            self.buf[2],
            self.buf[3],
            self.buf[4],
            self.buf[5],
        ]
    }

    /// Source MAC address.
    pub fn src(&self) -> [u8; 6] {
        [
            self.buf[6],
            self.buf[7],
            self.buf[8],
            self.buf[9],
            self.buf[10],
            self.buf[11],
        ]
    }

    /// The innermost VLAN id (12 bits), if the frame was tagged.
    pub const fn vlan(&self) -> Option<u16> {
        self.vlan
    }

    /// The ethertype after the last VLAN tag.
    pub const fn ethertype(&self) -> u16 {
        self.ethertype
    }

    /// The bytes after the last VLAN tag.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.payload_off..]
    }
}

/// Walks VLAN tags starting at `rest` (the bytes after an ethertype field holding `ethertype`).
/// Returns the innermost VLAN id, the final ethertype and how many bytes of `rest` the tags took.
#[inline]
pub(crate) fn skip_vlan_tags(
    mut ethertype: u16,
    rest: &[u8],
) -> Result<(Option<u16>, u16, usize), DecodeError> {
    let mut vlan = None;
    let mut off = 0;
    let mut tags = 0;
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        tags += 1;
        if tags > MAX_VLAN_TAGS {
            return Err(DecodeError::bad(Layer::Vlan, "too many VLAN tags"));
        }
        let Some(tag) = rest.get(off..off + 4) else {
            return Err(DecodeError::Truncated(Layer::Vlan));
        };
        vlan = Some(be16(tag, 0) & 0x0FFF);
        ethertype = be16(tag, 2);
        off += 4;
    }
    Ok((vlan, ethertype, off))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged() {
        let mut f = vec![0u8; 14];
        f[..6].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        f[6..12].copy_from_slice(&[7, 8, 9, 10, 11, 12]);
        f[12] = 0x08;
        f.push(0x45);
        let e = EthernetFrame::new_checked(&f).expect("valid");
        assert_eq!(e.dst(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(e.src(), [7, 8, 9, 10, 11, 12]);
        assert_eq!(
            (e.vlan(), e.ethertype(), e.payload()),
            (None, 0x0800, &[0x45][..])
        );
    }

    #[test]
    fn qinq_keeps_inner_id() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[
            0x88, 0xA8, 0x00, 0x64, 0x81, 0x00, 0xE0, 0x2A, 0x86, 0xDD, 0x60,
        ]);
        let e = EthernetFrame::new_checked(&f).expect("valid");
        assert_eq!(
            (e.vlan(), e.ethertype(), e.payload()),
            (Some(42), 0x86DD, &[0x60][..])
        );
    }

    #[test]
    fn tag_limits() {
        let mut f = vec![0u8; 12];
        for _ in 0..=MAX_VLAN_TAGS {
            f.extend_from_slice(&[0x91, 0x00, 0x00, 0x01]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        assert!(matches!(
            EthernetFrame::new_checked(&f),
            Err(DecodeError::BadHeader { .. })
        ));
        assert_eq!(
            EthernetFrame::new_checked(&f[..16]).err(),
            Some(DecodeError::Truncated(Layer::Vlan))
        );
    }
}
