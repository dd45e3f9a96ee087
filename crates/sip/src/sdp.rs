//! Zero-copy SDP (RFC 4566) parser for RTP association: connection addresses, media sections,
//! rtpmaps, direction, RTCP port and mux, ptime. Bounded: at most [`MAX_MEDIA`] media sections
//! are kept and at most [`MAX_RTPMAPS`] rtpmaps per section are read; extra ones set a flag and
//! are ignored. Rtpmaps are read from the section on demand ([`Media::rtpmaps`]) so that the
//! parsed form stays small (about 2 KiB, no allocation).

use std::net::IpAddr;

use crate::text::{parse_u16, parse_u32, trim, trim_end};

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
        std::str::from_utf8(self.address).ok()?.parse().ok()
    }

    /// Parses `IN IP4 addr[/ttl]`.
    fn parse(v: &[u8]) -> Option<Connection<'_>> {
        let mut t = v
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty());
        let _net = t.next()?;
        let addr_type = match t.next()? {
            a if a.eq_ignore_ascii_case(b"IP4") => AddrType::Ip4,
            a if a.eq_ignore_ascii_case(b"IP6") => AddrType::Ip6,
            _ => AddrType::Other,
        };
        let address = t.next()?;
        let address = match (addr_type, crate::text::find_byte(b'/', address)) {
            (AddrType::Ip4, Some(slash)) => &address[..slash],
            _ => address,
        };
        Some(Connection { addr_type, address })
    }
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
    /// The lines after the `m=` line up to the next `m=` line.
    section: &'b [u8],
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
        section: b"",
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
        SdpLines::new(self.section)
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
        self.media.eq_ignore_ascii_case(b"audio")
    }

    /// Whether this is a `m=image` (T.38/UDPTL) section.
    pub fn is_image(&self) -> bool {
        self.media.eq_ignore_ascii_case(b"image")
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

/// Lines with their offsets, LF or CRLF terminated, trailing blanks removed. SDP lines are short,
/// so a plain byte loop beats a vectorised search here.
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
        let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
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
            media: [Media::EMPTY; MAX_MEDIA],
            media_len: 0,
        };
        let mut lines = SdpLines::new(body).filter(|(_, l)| !l.is_empty());
        if !lines.next().is_some_and(|(_, l)| l.starts_with(b"v=")) {
            return Err(SdpError::NotSdp);
        }
        // Inside an m= section that did not fit: its attributes are ignored.
        let mut skipping = false;
        let mut rtpmaps = 0;
        for (offset, line) in lines {
            if line.len() < 2 || line[1] != b'=' {
                continue;
            }
            let (kind, value) = (line[0], &line[2..]);
            match kind {
                b'm' => {
                    let m = parse_m_line(value).ok_or(SdpError::Media)?;
                    if !skipping {
                        sdp.close_section(offset, body);
                    }
                    rtpmaps = 0;
                    if sdp.media_len == MAX_MEDIA {
                        sdp.media_overflow = true;
                        skipping = true;
                        continue;
                    }
                    skipping = false;
                    let start = (offset + line.len()).min(body.len());
                    sdp.media[sdp.media_len] = Media {
                        connection: sdp.connection,
                        direction: sdp.direction,
                        section: &body[start..],
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
                    }
                    sdp.attribute(value);
                }
                _ => {}
            }
        }
        Ok(sdp)
    }

    /// Ends the current media section where the next `m=` line starts.
    fn close_section(&mut self, next_m: usize, body: &'b [u8]) {
        if let Some(m) = self.current_media() {
            let start = body.len() - m.section.len();
            m.section = body.get(start..next_m.max(start)).unwrap_or_default();
        }
    }

    fn current_media(&mut self) -> Option<&mut Media<'b>> {
        self.media_len.checked_sub(1).map(|i| &mut self.media[i])
    }

    fn attribute(&mut self, a: &'b [u8]) {
        let (name, value) = match crate::text::find_byte(b':', a) {
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
    let mut it = v.splitn(4, |&b| b == b' ');
    let media = it.next().filter(|m| !m.is_empty())?;
    let port_s = it.next()?;
    let (port, port_count) = match crate::text::find_byte(b'/', port_s) {
        Some(s) => (parse_u16(&port_s[..s])?, parse_u16(&port_s[s + 1..])?),
        None => (parse_u16(port_s)?, 1),
    };
    let proto = it.next().filter(|p| !p.is_empty())?;
    let formats = it.next().map_or(&b""[..], trim);
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
    let sp = crate::text::find_byte(b' ', v)?;
    let payload_type = parse_u16(&v[..sp]).and_then(|p| u8::try_from(p).ok())?;
    let mut parts = trim(&v[sp + 1..]).split(|&b| b == b'/');
    let encoding = parts.next().filter(|e| !e.is_empty())?;
    let clock_rate = parse_u32(parts.next()?)?;
    let channels = match parts.next() {
        Some(c) => Some(parse_u16(c)?),
        None => None,
    };
    Some(RtpMap {
        payload_type,
        encoding,
        clock_rate,
        channels,
    })
}
