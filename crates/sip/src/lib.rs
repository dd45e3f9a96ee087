//! Zero-copy SIP and SDP parsing for voipsensor.
//!
//! Sans-IO and allocation-free on the hot path: [`Message::parse`] records headers into a
//! caller-provided index (`[HeaderPos::EMPTY; MAX_HEADERS]`, 2 KiB, reusable for every message)
//! and every value is a slice of the input. Typed accessors ([`Message::call_id`], [`Message::from`],
//! [`Message::cseq`], [`Message::vias`], [`Message::contacts`], [`Message::authorization`], ...)
//! parse on demand what the call and registration tables need; header names are recognised
//! while parsing, so finding a known header is a table lookup, not a scan. "Need more bytes" is
//! [`Parsed::Partial`], never an error; malformed input is a typed [`ParseError`] and never a
//! panic.
//!
//! Framing: [`split_datagram`] yields every message of a UDP datagram (split by
//! Content-Length); [`frame_stream`] frames a TCP byte stream and says where to resynchronise
//! after garbage. [`Sdp::parse`] reads the media description ([`Message::sdp_body`] also finds
//! it inside multipart bodies).
//!
//! ```
//! use voipsensor_sip::{Framing, HeaderPos, MAX_HEADERS, Message, Parsed};
//!
//! let bytes = b"BYE sip:bob@192.0.2.4 SIP/2.0\r\nCall-ID: a84b4c76e66710\r\nCSeq: 2 BYE\r\n\r\n";
//! let mut index = [HeaderPos::EMPTY; MAX_HEADERS];
//! let Ok(Parsed::Complete(msg, used)) = Message::parse(bytes, &mut index, Framing::Datagram)
//! else {
//!     panic!("not a complete message");
//! };
//! assert_eq!(used, bytes.len());
//! assert_eq!(msg.call_id(), Some(&b"a84b4c76e66710"[..]));
//! assert_eq!(msg.cseq().map(|c| c.seq), Some(2));
//! ```

mod accessors;
mod error;
mod framing;
mod header;
mod message;
mod method;
mod multipart;
mod name_addr;
mod params;
mod sdp;
mod text;
mod uri;
mod values;
mod via;

pub use accessors::HeaderValues;
pub use error::{InvalidReason, ParseError};
pub use framing::{Frame, FrameError, SplitDatagram, frame_stream, split_datagram};
pub use header::{Header, HeaderIter, HeaderKind, HeaderPos};
pub use message::{Framing, Message, Parsed, StartLine};
pub use method::Method;
pub use multipart::find_sdp_part;
pub use name_addr::NameAddr;
pub use params::{ParamIter, Params};
pub use sdp::{
    AddrType, Connection, Direction, MAX_MEDIA, MAX_RTPMAPS, Media, Rtcp, RtpMap, Sdp, SdpError,
};
pub use text::QuotedStr;
pub use uri::{Scheme, Uri};
pub use values::{AuthParams, CSeq, Contact, ContactIter};
pub use via::{Via, ViaIter};

/// Most headers one message may have (the index size callers should provide).
pub const MAX_HEADERS: usize = 128;
/// Largest message (header section plus body) accepted, in bytes.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;
/// Longest single line (start line or one physical header line) accepted, in bytes.
pub const MAX_LINE_LEN: usize = 8 * 1024;
