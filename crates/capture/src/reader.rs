//! [`Reader`]: format detection and the packet loop shared by pcap and pcapng.

use std::fs::File;
use std::io::{self, Chain, Cursor, Read, Take};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::input::Input;
use crate::pcap::{self, Pcap};
use crate::pcapng::{self, Pcapng};
use crate::{Error, Interface, PacketRef, Result, Timestamp};

/// Default size of the reader's buffer: large reads, few system calls.
pub const DEFAULT_BUFFER_SIZE: usize = 1 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Container format of a stream, as detected from its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap.
    Pcap {
        /// Timestamps are nanoseconds (magic `a1b23c4d`), not microseconds (`a1b2c3d4`).
        nanos: bool,
        /// The file was written big-endian.
        big_endian: bool,
    },
    /// pcapng (byte order may change per section).
    Pcapng,
}

/// Opens a capture file; gzip compression is recognised by its magic, not by the file name.
pub fn open(path: impl AsRef<Path>) -> Result<Reader<File>> {
    Reader::new(File::open(path)?)
}

/// Streaming reader of pcap, pcapng and gzip-compressed pcap/pcapng.
///
/// Once it has returned `Ok(None)` or an error, a reader is finished and keeps returning
/// `Ok(None)`, so no loop over it can spin on a broken file.
#[derive(Debug)]
pub struct Reader<R> {
    input: Input<Source<R>>,
    format: FormatState,
    gzip: bool,
    /// The packet `advance` found, sliced out of `input` by `current`.
    current: Option<Packet>,
    truncated: bool,
    done: bool,
    packets: u64,
}

impl<R: Read> Reader<R> {
    /// Detects the format and reads the file header, with a 1 MiB buffer.
    pub fn new(read: R) -> Result<Self> {
        Self::with_buffer_size(read, DEFAULT_BUFFER_SIZE)
    }

    /// Like [`Reader::new`] with a chosen initial buffer size (it still grows for larger
    /// records).
    pub fn with_buffer_size(mut read: R, buffer_size: usize) -> Result<Self> {
        let mut head = [0u8; 4];
        let got = read_head(&mut read, &mut head)?;
        let (mut input, gzip) = if got >= 2 && head[..2] == GZIP_MAGIC {
            let replay = Cursor::new(head).take(got as u64);
            let decoder = MultiGzDecoder::new(replay.chain(read));
            (
                Input::new(Source::Gzip(Box::new(decoder)), buffer_size, &[]),
                true,
            )
        } else {
            (
                Input::new(Source::Plain(read), buffer_size, &head[..got]),
                false,
            )
        };
        if gzip && !input.fill(4)? {
            // A gzip stream that decompresses to almost nothing.
            return Err(Error::TruncatedHeader {
                need: 4,
                got: input.available() as u32,
            });
        }
        let magic: [u8; 4] = match input.bytes().get(..4) {
            Some(m) => [m[0], m[1], m[2], m[3]],
            None => {
                return Err(Error::TruncatedHeader {
                    need: 4,
                    got: got as u32,
                });
            }
        };
        let format = match magic {
            pcap::MAGIC_MICROS_LE
            | pcap::MAGIC_MICROS_BE
            | pcap::MAGIC_NANOS_LE
            | pcap::MAGIC_NANOS_BE => FormatState::Pcap(Pcap::start(&mut input, magic)?),
            pcapng::SHB_MAGIC => FormatState::Pcapng(Pcapng::start(&mut input)?),
            _ => {
                return Err(Error::NotACaptureFile {
                    magic: magic.to_vec(),
                });
            }
        };
        Ok(Self {
            input,
            format,
            gzip,
            current: None,
            truncated: false,
            done: false,
            packets: 0,
        })
    }

    /// The next packet, `Ok(None)` at the end of the stream (check [`Reader::truncated`]).
    ///
    /// The packet borrows the reader's buffer; nothing is allocated per packet.
    #[inline]
    pub fn next_packet(&mut self) -> Result<Option<PacketRef<'_>>> {
        self.advance()?;
        Ok(self.current())
    }

    /// Moves to the next packet; `Ok(false)` at the end. Split from [`Self::current`] so that
    /// [`crate::MultiReader`] can switch files without fighting the borrow checker.
    #[inline]
    pub(crate) fn advance(&mut self) -> Result<bool> {
        self.current = None;
        if self.done {
            return Ok(false);
        }
        let next = match &mut self.format {
            FormatState::Pcap(p) => p.next(&mut self.input),
            FormatState::Pcapng(p) => p.next(&mut self.input),
        };
        match next {
            Ok(Next::Packet(packet)) => {
                self.packets += 1;
                self.current = Some(packet);
                Ok(true)
            }
            Ok(Next::End) => {
                self.done = true;
                self.truncated = self.input.source_truncated();
                Ok(false)
            }
            Ok(Next::Truncated) => {
                self.done = true;
                self.truncated = true;
                Ok(false)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    /// The packet found by the last successful [`Self::advance`].
    #[inline]
    pub(crate) fn current(&self) -> Option<PacketRef<'_>> {
        let p = self.current.as_ref()?;
        Some(PacketRef {
            ts: p.ts,
            link_type: p.link_type,
            data: self.input.slice(p.data_at, p.caplen),
            orig_len: p.orig_len,
            interface: p.interface,
        })
    }
}

impl<R> Reader<R> {
    /// The detected container format.
    pub fn format(&self) -> Format {
        match &self.format {
            FormatState::Pcap(p) => Format::Pcap {
                nanos: p.nanos,
                big_endian: p.big_endian,
            },
            FormatState::Pcapng(_) => Format::Pcapng,
        }
    }

    /// The stream was gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Interfaces known so far: the one of a classic pcap, or the IDBs of the current pcapng
    /// section (the list restarts with each section).
    pub fn interfaces(&self) -> &[Interface] {
        match &self.format {
            FormatState::Pcap(p) => std::slice::from_ref(&p.interface),
            FormatState::Pcapng(p) => p.interfaces(),
        }
    }

    /// The stream ended inside a record (or a gzip stream was cut): the packets before the cut
    /// were all returned. Meaningful once `next_packet` returned `Ok(None)`.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Packets returned so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Offset of the next unread byte in the (decompressed) stream.
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// The underlying reader (for a file: to query its metadata).
    pub fn get_ref(&self) -> &R {
        match self.input.get_ref() {
            Source::Plain(r) => r,
            Source::Gzip(d) => d.get_ref().get_ref().1,
        }
    }
}

/// What a format parser found; `data_at` indexes the input buffer.
#[derive(Debug)]
pub(crate) struct Packet {
    pub(crate) ts: Timestamp,
    pub(crate) link_type: u32,
    pub(crate) data_at: usize,
    pub(crate) caplen: usize,
    pub(crate) orig_len: u32,
    pub(crate) interface: u32,
}

/// Outcome of one parser step.
#[derive(Debug)]
pub(crate) enum Next {
    Packet(Packet),
    /// Clean end of stream at a record boundary.
    End,
    /// The stream ended inside a record.
    Truncated,
}

impl Next {
    /// End of stream with `left` bytes of an incomplete record left over.
    pub(crate) fn end(left: usize) -> Self {
        if left == 0 {
            Self::End
        } else {
            Self::Truncated
        }
    }
}

#[derive(Debug)]
enum FormatState {
    Pcap(Pcap),
    Pcapng(Pcapng),
}

type Replayed<R> = Chain<Take<Cursor<[u8; 4]>>, R>;

/// The byte source: the caller's reader, or a gzip decoder over it (the magic bytes consumed by
/// detection are replayed in front).
enum Source<R> {
    Plain(R),
    Gzip(Box<MultiGzDecoder<Replayed<R>>>),
}

impl<R> std::fmt::Debug for Source<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain(_) => "Plain",
            Self::Gzip(_) => "Gzip",
        })
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(r) => r.read(buf),
            Self::Gzip(d) => d.read(buf),
        }
    }
}

/// Reads up to `head.len()` bytes, fewer only at end of stream.
fn read_head(read: &mut impl Read, head: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < head.len() {
        match read.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
