//! Zero-copy SDP (RFC 4566) parser for RTP association: connection addresses, media sections,
//! rtpmaps, direction, RTCP port and mux, ptime. Bounded: at most [`MAX_MEDIA`] media sections
//! are kept and at most [`MAX_RTPMAPS`] rtpmaps per section are read; extra ones set a flag and
//! are ignored. Rtpmaps are read from the section on demand ([`Media::rtpmaps`]) so that the
//! parsed form stays small (about 2 KiB, no allocation).

use std::net::{IpAddr, Ipv4Addr};

use crate::text::{eq_lower, find_blank, find_byte, parse_u16, parse_u32, trim, trim_end};

/// Media sections kept per SDP.
pub const MAX_MEDIA: usize = 16;
/// `a=rtpmap` lines read per media section.
pub const MAX_RTPMAPS: usize = 64;

/// Why a body is not usable SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The first line is not `v=`.
    #[error("not SDP: missing v= line")]
    NotSdp,
    /// An `m=` line without media, port or proto.
    #[error("malformed m= line")]
    Media,
    /// A `c=` line without network type, address type and address.
    #[error("malformed c= line")]
    Connection,
}

/// Address type of a connection line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrType {
    /// `IP4`
    Ip4,
    /// `IP6`
    Ip6,
    /// Anything else.
    Other,
}

/// `c=IN IP4 192.0.2.1` (or the address part of `a=rtcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection<'b> {
    /// The address type.
    pub addr_type: AddrType,
    /// The address as written, without a multicast `/ttl` suffix.
    pub address: &'b [u8],
}

impl Connection<'_> {
    /// The address as an IP address, when it is a literal one.
    pub fn ip(&self) -> Option<IpAddr> {
        if let Some(v4) = parse_ipv4(self.address) {
            return Some(IpAddr::V4(v4));
        }
        std::str::from_utf8(self.address).ok()?.parse().ok()
    }

    /// Parses `IN IP4 addr[/ttl]`.
    fn parse(v: &[u8]) -> Option<Connection<'_>> {
        let (_net, rest) = next_token(v)?;
        let (addr_type, rest) = next_token(rest)?;
        let addr_type = if eq_lower(addr_type, b"ip4") {
            AddrType::Ip4
        } else if eq_lower(addr_type, b"ip6") {
            AddrType::Ip6
        } else {
            AddrType::Other
        };
        let (address, _) = next_token(rest)?;
        let address = match (addr_type, find_byte(b'/', address)) {
            (AddrType::Ip4, Some(slash)) => &address[..slash],
            _ => address,
        };
        Some(Connection { addr_type, address })
    }
}

/// The first run of non-blank bytes of `s` and what follows it; `None` if all blank.
fn next_token(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t')?;
    let s = &s[start..];
    let end = find_blank(s).unwrap_or(s.len());
    Some(s.split_at(end))
}

/// A dotted-quad IPv4 address in the strict form `Ipv4Addr::from_str` accepts (four decimal
/// parts of one to three digits, at most 255, no leading zeros); `None` for anything else,
/// which [`Connection::ip`] then hands to the standard parser. Skips its UTF-8 check and
/// generic parser for the common case.
fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut part = 0;
    let mut value: u32 = 0;
    let mut digits = 0;
    for &b in s {
        if b.is_ascii_digit() {
            if digits > 0 && value == 0 {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
            digits += 1;
            if value > 255 {
                return None;
            }
        } else if b == b'.' && digits > 0 && part < 3 {
            octets[part] = u8::try_from(value).ok()?;
            part += 1;
            value = 0;
            digits = 0;
        } else {
            return None;
        }
    }
    if part != 3 || digits == 0 {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// `a=sendrecv` (the default)
    #[default]
    SendRecv,
    /// `a=sendonly`
    SendOnly,
    /// `a=recvonly`
    RecvOnly,
    /// `a=inactive`
    Inactive,
}

/// `a=rtpmap:PT encoding/clock[/channels]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMap<'b> {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as written (`PCMU`, `opus`, `telephone-event`).
    pub encoding: &'b [u8],
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count, when written.
    pub channels: Option<u16>,
}

/// `a=rtcp:PORT [IN IP4 addr]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtcp<'b> {
    /// RTCP port.
    pub port: u16,
    /// RTCP address, when given.
    pub connection: Option<Connection<'b>>,
}

/// One `m=` section with its effective connection and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Media<'b> {
    /// Media type (`audio`, `video`, `image`, `application`).
    pub media: &'b [u8],
    /// Transport port (0 = disabled stream).
    pub port: u16,
    /// Number of ports (`m=audio 4000/2 ...` → 2; default 1).
    pub port_count: u16,
    /// Transport protocol (`RTP/AVP`, `RTP/SAVP`, `udptl`).
    pub proto: &'b [u8],
    /// The format list as written; see [`Self::formats`].
    pub formats: &'b [u8],
    /// Media-level `c=`, else the session-level one.
    pub connection: Option<Connection<'b>>,
    /// Media-level direction, else the session-level one.
    pub direction: Direction,
    /// `a=rtcp`, when present.
    pub rtcp: Option<Rtcp<'b>>,
    /// `a=rtcp-mux` present.
    pub rtcp_mux: bool,
    /// `a=ptime` in ms.
    pub ptime: Option<u32>,
    /// The section's `a=rtpmap` lines: from the start of the first to the end of the last
    /// (other lines in between are skipped when reading them).
    rtpmaps: &'b [u8],
}

impl<'b> Media<'b> {
    const EMPTY: Self = Media {
        media: b"",
        port: 0,
        port_count: 1,
        proto: b"",
        formats: b"",
        connection: None,
        direction: Direction::SendRecv,
        rtcp: None,
        rtcp_mux: false,
        ptime: None,
        rtpmaps: b"",
    };

    /// The format tokens (payload type numbers for RTP).
    pub fn formats(&self) -> impl Iterator<Item = &'b [u8]> + 'b {
        self.formats
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty())
    }

    /// The numeric payload types among the formats.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + 'b {
        self.formats()
            .filter_map(|f| parse_u16(f).and_then(|v| u8::try_from(v).ok()))
    }

    /// The `a=rtpmap` entries of this section (at most [`MAX_RTPMAPS`]; malformed ones skipped).
    pub fn rtpmaps(&self) -> impl Iterator<Item = RtpMap<'b>> + 'b {
        SdpLines::new(self.rtpmaps)
            .filter_map(|(_, l)| l.strip_prefix(b"a=rtpmap:"))
            .take(MAX_RTPMAPS)
            .filter_map(parse_rtpmap)
    }

    /// The rtpmap for payload type `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap<'b>> {
        self.rtpmaps().find(|r| r.payload_type == pt)
    }

    /// Whether this is a `m=audio` section.
    pub fn is_audio(&self) -> bool {
        eq_lower(self.media, b"audio")
    }

    /// Whether this is a `m=image` (T.38/UDPTL) section.
    pub fn is_image(&self) -> bool {
        eq_lower(self.media, b"image")
    }
}

/// A parsed SDP body. Everything borrows from the body.
#[derive(Debug, Clone)]
pub struct Sdp<'b> {
    /// Session-level `c=`.
    pub connection: Option<Connection<'b>>,
    /// Session-level direction (default sendrecv).
    pub direction: Direction,
    /// More than [`MAX_MEDIA`] media sections were present.
    pub media_overflow: bool,
    /// A media section had more than [`MAX_RTPMAPS`] rtpmaps.
    pub rtpmap_overflow: bool,
    media: [Media<'b>; MAX_MEDIA],
    media_len: usize,
}

/// Lines with their offsets, LF or CRLF terminated, trailing blanks removed.
struct SdpLines<'b> {
    body: &'b [u8],
    pos: usize,
}

impl<'b> SdpLines<'b> {
    fn new(body: &'b [u8]) -> Self {
        Self { body, pos: 0 }
    }
}

impl<'b> Iterator for SdpLines<'b> {
    type Item = (usize, &'b [u8]);

    fn next(&mut self) -> Option<(usize, &'b [u8])> {
        let rest = self.body.get(self.pos..).filter(|r| !r.is_empty())?;
        let start = self.pos;
        let len = find_byte(b'\n', rest).unwrap_or(rest.len());
        self.pos += len + 1;
        Some((start, trim_end(&rest[..len])))
    }
}

impl<'b> Sdp<'b> {
    /// Parses an SDP body (CRLF or LF line ends). Unknown lines and attributes are ignored.
    pub fn parse(body: &'b [u8]) -> Result<Self, SdpError> {
        let mut sdp = Self {
            connection: None,
            direction: Direction::SendRecv,
            media_overflow: false,
            rtpmap_overflow: false,
            media: const { [Media::EMPTY; MAX_MEDIA] },
            media_len: 0,
        };
        let mut lines = SdpLines::new(body).filter(|(_, l)| !l.is_empty());
        if !lines.next().is_some_and(|(_, l)| l.starts_with(b"v=")) {
            return Err(SdpError::NotSdp);
        }
        // Inside an m= section that did not fit: its attributes are ignored.
        let mut skipping = false;
        let mut rtpmaps = 0;
        // Where the current section's first `a=rtpmap` line starts.
        let mut rtpmap_start = None;
        for (offset, line) in lines {
            if line.len() < 2 || line[1] != b'=' {
                continue;
            }
            let (kind, value) = (line[0], &line[2..]);
            match kind {
                b'm' => {
                    let m = parse_m_line(value).ok_or(SdpError::Media)?;
                    rtpmaps = 0;
                    rtpmap_start = None;
                    if sdp.media_len == MAX_MEDIA {
                        sdp.media_overflow = true;
                        skipping = true;
                        continue;
                    }
                    skipping = false;
                    sdp.media[sdp.media_len] = Media {
                        connection: sdp.connection,
                        direction: sdp.direction,
                        ..m
                    };
                    sdp.media_len += 1;
                }
                _ if skipping => {}
                b'c' => {
                    let c = Connection::parse(value).ok_or(SdpError::Connection)?;
                    match sdp.current_media() {
                        Some(m) => m.connection = Some(c),
                        None => sdp.connection = Some(c),
                    }
                }
                b'a' => {
                    if value.starts_with(b"rtpmap:") {
                        rtpmaps += 1;
                        sdp.rtpmap_overflow |= rtpmaps > MAX_RTPMAPS;
                        // Parsed on demand: remember where this section's rtpmaps are.
                        if let Some(m) = sdp.current_media() {
                            let start = *rtpmap_start.get_or_insert(offset);
                            m.rtpmaps = body.get(start..offset + line.len()).unwrap_or_default();
                        }
                    } else {
                        sdp.attribute(value);
                    }
                }
                _ => {}
            }
        }
        Ok(sdp)
    }

    fn current_media(&mut self) -> Option<&mut Media<'b>> {
        self.media_len.checked_sub(1).map(|i| &mut self.media[i])
    }

    fn attribute(&mut self, a: &'b [u8]) {
        let (name, value) = match find_byte(b':', a) {
            Some(c) => (&a[..c], trim(&a[c + 1..])),
            None => (a, &b""[..]),
        };
        let direction = match name {
            b"sendrecv" => Some(Direction::SendRecv),
            b"sendonly" => Some(Direction::SendOnly),
            b"recvonly" => Some(Direction::RecvOnly),
            b"inactive" => Some(Direction::Inactive),
            _ => None,
        };
        if let Some(d) = direction {
            match self.current_media() {
                Some(m) => m.direction = d,
                None => self.direction = d,
            }
            return;
        }
        let Some(m) = self.current_media() else {
            return;
        };
        match name {
            b"rtcp-mux" => m.rtcp_mux = true,
            b"ptime" => m.ptime = parse_u32(value),
            b"rtcp" => {
                let end = value.iter().position(|&b| b == b' ').unwrap_or(value.len());
                if let Some(port) = parse_u16(&value[..end]) {
                    let connection = Connection::parse(&value[end..]);
                    m.rtcp = Some(Rtcp { port, connection });
                }
            }
            _ => {}
        }
    }

    /// The media sections kept (at most [`MAX_MEDIA`]).
    pub fn media(&self) -> &[Media<'b>] {
        &self.media[..self.media_len]
    }
}

/// `audio 49170[/2] RTP/AVP 0 8 97`
fn parse_m_line(v: &[u8]) -> Option<Media<'_>> {
    // Fields separated by single spaces; the fourth runs to the end.
    let sp = find_byte(b' ', v)?;
    let (media, rest) = (&v[..sp], &v[sp + 1..]);
    if media.is_empty() {
        return None;
    }
    let sp = find_byte(b' ', rest)?;
    let (port_s, rest) = (&rest[..sp], &rest[sp + 1..]);
    let (port, port_count) = match find_byte(b'/', port_s) {
        Some(s) => (parse_u16(&port_s[..s])?, parse_u16(&port_s[s + 1..])?),
        None => (parse_u16(port_s)?, 1),
    };
    let (proto, formats) = match find_byte(b' ', rest) {
        Some(sp) => (&rest[..sp], trim(&rest[sp + 1..])),
        None => (rest, &b""[..]),
    };
    if proto.is_empty() {
        return None;
    }
    Some(Media {
        media,
        port,
        port_count,
        proto,
        formats,
        ..Media::EMPTY
    })
}

/// `97 opus/48000/2`
fn parse_rtpmap(v: &[u8]) -> Option<RtpMap<'_>> {
    // The fields are a few bytes long: plain byte searches beat word-at-a-time ones here.
    let find = |b: u8, s: &[u8]| s.iter().position(|&c| c == b);
    let sp = find(b' ', v)?;
    let payload_type = parse_u32(&v[..sp]).and_then(|p| u8::try_from(p).ok())?;
    // encoding/clock[/channels[/ignored...]]
    let desc = trim(&v[sp + 1..]);
    let slash = find(b'/', desc)?;
    let (encoding, rest) = (&desc[..slash], &desc[slash + 1..]);
    if encoding.is_empty() {
        return None;
    }
    let (clock, channels) = match find(b'/', rest) {
        Some(s) => (&rest[..s], Some(&rest[s + 1..])),
        None => (rest, None),
    };
    let clock_rate = parse_u32(clock)?;
    let channels = match channels {
        Some(c) => Some(parse_u16(&c[..find(b'/', c).unwrap_or(c.len())])?),
        None => None,
    };
    Some(RtpMap {
        payload_type,
        encoding,
        clock_rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_fast_path_agrees_with_std() {
        for a in [
            "0.0.0.0",
            "1.2.3.4",
            "255.255.255.255",
            "198.51.100.7",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            "1.2.3.",
            ".1.2.3",
            "1.2.3.4 ",
            "1.2.3.04",
            "10.0.0.1a",
            "",
            "::1",
            "2001:db8::1",
            "1234.1.1.1",
            "00.0.0.0",
        ] {
            let c = Connection {
                addr_type: AddrType::Ip4,
                address: a.as_bytes(),
            };
            assert_eq!(c.ip(), a.parse().ok(), "{a}");
            if let Some(v4) = parse_ipv4(a.as_bytes()) {
                assert_eq!(Some(IpAddr::V4(v4)), a.parse().ok(), "{a}");
            }
        }
    }
}
