//! pcapng: a sequence of blocks `{type u32, total length u32, body, total length u32}`.
//!
//! Packets come from Enhanced (EPB), Simple (SPB) and obsolete Packet (OPB) blocks; Section
//! Header Blocks set the byte order and reset the interface list; Interface Description Blocks
//! add interfaces. Every other block (name resolution, statistics, decryption secrets, custom,
//! unknown) is skipped by its length.

use std::io::Read;

use crate::input::Input;
use crate::pcap::{u16_at, u32_at};
use crate::reader::{Next, Packet};
use crate::{Error, Interface, MAX_CAPLEN, Result, Timestamp, TsResolution};

/// Section Header Block type; a palindrome, so it reads the same in both byte orders.
pub(crate) const SHB_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 0x0000_0001;
const OPB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

/// Largest block accepted: the largest packet plus generous room for options.
const MAX_BLOCK_LEN: u32 = MAX_CAPLEN + (1 << 20);
/// type + length + trailing length.
const BLOCK_OVERHEAD: usize = 12;

const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// State of a pcapng stream: byte order and interfaces of the current section.
#[derive(Debug)]
pub(crate) struct Pcapng {
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// Timestamp given to SPB packets, which carry none: the last one seen.
    last_ts: Timestamp,
}

impl Pcapng {
    /// Reads the first Section Header Block (the reader has checked its magic).
    pub(crate) fn start<R: Read>(input: &mut Input<R>) -> Result<Self> {
        let mut state = Self {
            big_endian: false,
            interfaces: Vec::new(),
            last_ts: Timestamp::default(),
        };
        match state.step(input)? {
            Step::Section => Ok(state),
            Step::Packet(_) | Step::Skipped => Err(Error::corrupt(0, "no section header first")),
            Step::End | Step::Truncated => Err(Error::TruncatedHeader {
                need: 28,
                got: input.available().min(28) as u32,
            }),
        }
    }

    pub(crate) fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// Parses blocks until a packet, the end of the stream, or an error.
    #[inline]
    pub(crate) fn next<R: Read>(&mut self, input: &mut Input<R>) -> Result<Next> {
        loop {
            match self.step(input)? {
                Step::Packet(packet) => return Ok(Next::Packet(packet)),
                Step::End => return Ok(Next::End),
                Step::Truncated => return Ok(Next::Truncated),
                Step::Section | Step::Skipped => {}
            }
        }
    }

    /// Parses one block.
    fn step<R: Read>(&mut self, input: &mut Input<R>) -> Result<Step> {
        let offset = input.offset();
        if !input.fill(8)? {
            return Ok(if input.available() == 0 {
                Step::End
            } else {
                Step::Truncated
            });
        }
        let block_type = u32_at(input.bytes(), 0, self.big_endian);
        if block_type == SHB {
            if !input.fill(12)? {
                return Ok(Step::Truncated);
            }
            self.big_endian = match u32_at(input.bytes(), 8, false) {
                BYTE_ORDER_MAGIC => false,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
                m => {
                    return Err(Error::corrupt(
                        offset,
                        format!("bad byte-order magic {m:08x}"),
                    ));
                }
            };
        }
        let len = u32_at(input.bytes(), 4, self.big_endian);
        let min = match block_type {
            SHB => 28,
            IDB => 20,
            EPB | OPB => 32,
            SPB => 16,
            _ => BLOCK_OVERHEAD as u32,
        };
        if len < min || !len.is_multiple_of(4) || len > MAX_BLOCK_LEN {
            return Err(Error::corrupt(
                offset,
                format!("block type {block_type:#010x} has bad length {len}"),
            ));
        }
        let len = len as usize;
        if !input.fill(len)? {
            return Ok(Step::Truncated);
        }
        let block = &input.bytes()[..len];
        if u32_at(block, len - 4, self.big_endian) as usize != len {
            return Err(Error::corrupt(
                offset,
                "block trailing length differs from its header",
            ));
        }
        let body = &block[8..len - 4];
        let step = match block_type {
            SHB => {
                self.section(body, offset)?;
                Step::Section
            }
            IDB => {
                self.interface(body, offset)?;
                Step::Skipped
            }
            EPB | OPB | SPB => {
                let mut packet = match block_type {
                    EPB => self.epb(body, offset)?,
                    OPB => self.opb(body, offset)?,
                    _ => self.spb(body, offset)?,
                };
                packet.data_at += input.pos() + 8;
                Step::Packet(packet)
            }
            _ => Step::Skipped,
        };
        input.consume(len);
        Ok(step)
    }

    fn section(&mut self, body: &[u8], offset: u64) -> Result<()> {
        let major = u16_at(body, 4, self.big_endian);
        if major != 1 {
            let minor = u16_at(body, 6, self.big_endian);
            return Err(Error::corrupt(
                offset,
                format!("unsupported pcapng version {major}.{minor}"),
            ));
        }
        self.interfaces.clear();
        Ok(())
    }

    fn interface(&mut self, body: &[u8], offset: u64) -> Result<()> {
        let be = self.big_endian;
        let link_type = u32::from(u16_at(body, 0, be));
        let snaplen = u32_at(body, 4, be);
        let mut resolution = TsResolution::Decimal(6);
        let mut ts_offset = 0i64;
        let mut options = &body[8..];
        while options.len() >= 4 {
            let code = u16_at(options, 0, be);
            let len = usize::from(u16_at(options, 2, be));
            if code == OPT_END {
                break;
            }
            let padded = (len + 3) & !3;
            let Some(value) = options
                .get(4..4 + len)
                .filter(|_| 4 + padded <= options.len())
            else {
                return Err(Error::corrupt(
                    offset,
                    format!("IDB option {code} overruns the block"),
                ));
            };
            match (code, value) {
                (OPT_IF_TSRESOL, &[r, ..]) => {
                    let n = r & 0x7f;
                    resolution = if r & 0x80 == 0 {
                        TsResolution::Decimal(n)
                    } else {
                        TsResolution::Binary(n)
                    };
                }
                (OPT_IF_TSOFFSET, &[a, b, c, d, e, f, g, h]) => {
                    let raw = [a, b, c, d, e, f, g, h];
                    ts_offset = if be {
                        i64::from_be_bytes(raw)
                    } else {
                        i64::from_le_bytes(raw)
                    };
                }
                _ => {}
            }
            options = &options[4 + padded..];
        }
        let interface =
            Interface::new(link_type, snaplen, resolution, ts_offset).ok_or_else(|| {
                Error::corrupt(
                    offset,
                    format!("unsupported timestamp resolution {resolution:?}"),
                )
            })?;
        self.interfaces.push(interface);
        Ok(())
    }

    fn epb(&mut self, body: &[u8], offset: u64) -> Result<Packet> {
        let be = self.big_endian;
        let id = u32_at(body, 0, be);
        let units = u64::from(u32_at(body, 4, be)) << 32 | u64::from(u32_at(body, 8, be));
        let caplen = u32_at(body, 12, be);
        let orig_len = u32_at(body, 16, be);
        self.packet(body.len() - 20, id, units, caplen, orig_len, 20, offset)
    }

    fn opb(&mut self, body: &[u8], offset: u64) -> Result<Packet> {
        let be = self.big_endian;
        let id = u32::from(u16_at(body, 0, be));
        let units = u64::from(u32_at(body, 4, be)) << 32 | u64::from(u32_at(body, 8, be));
        let caplen = u32_at(body, 12, be);
        let orig_len = u32_at(body, 16, be);
        self.packet(body.len() - 20, id, units, caplen, orig_len, 20, offset)
    }

    fn spb(&mut self, body: &[u8], offset: u64) -> Result<Packet> {
        let Some(interface) = self.interfaces.first() else {
            return Err(Error::corrupt(
                offset,
                "simple packet block before any interface",
            ));
        };
        let orig_len = u32_at(body, 0, self.big_endian);
        let room = body.len() - 4;
        // The captured length is implied: the original length cut to the snaplen and the block.
        let mut caplen = orig_len as usize;
        if interface.snaplen() != 0 {
            caplen = caplen.min(interface.snaplen() as usize);
        }
        let caplen = caplen.min(room).min(MAX_CAPLEN as usize);
        Ok(Packet {
            ts: self.last_ts,
            link_type: interface.link_type(),
            data_at: 4,
            caplen,
            orig_len,
            interface: 0,
        })
    }

    /// Common EPB/OPB checks; `data_at` is relative to the body for now.
    #[allow(clippy::too_many_arguments)]
    fn packet(
        &mut self,
        room: usize,
        id: u32,
        units: u64,
        caplen: u32,
        orig_len: u32,
        data_at: usize,
        offset: u64,
    ) -> Result<Packet> {
        if caplen > MAX_CAPLEN || caplen as usize > room {
            return Err(Error::corrupt(
                offset,
                format!("packet caplen {caplen} exceeds its block ({room} bytes of room)"),
            ));
        }
        let Some(interface) = self.interfaces.get(id as usize) else {
            return Err(Error::corrupt(
                offset,
                format!("packet on undeclared interface {id}"),
            ));
        };
        let ts = interface.timestamp(units);
        self.last_ts = ts;
        Ok(Packet {
            ts,
            link_type: interface.link_type(),
            data_at,
            caplen: caplen as usize,
            orig_len,
            interface: id,
        })
    }
}

/// Outcome of parsing one block.
#[derive(Debug)]
enum Step {
    Packet(Packet),
    Section,
    Skipped,
    End,
    Truncated,
}
