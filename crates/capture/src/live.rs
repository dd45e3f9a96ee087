//! Live capture from one Linux interface through an `AF_PACKET` socket with a `TPACKET_V3`
//! receive ring, in pure Rust on top of the `libc` crate (no libpcap).
//!
//! The kernel writes packets into a ring of blocks shared with us through `mmap`; a block whose
//! status has `TP_STATUS_USER` belongs to user space until we hand it back with
//! `TP_STATUS_KERNEL`. [`LiveCapture::next_packet`] walks the ready blocks in place and lends
//! each packet straight out of the ring, so nothing is copied except for cooked (`any`) captures,
//! whose Linux SLL header is built in a small per-capture buffer, and for Ethernet frames whose
//! VLAN tag the kernel stripped (it is put back, as libpcap does).
//!
//! # Why this module may use `unsafe`
//!
//! The workspace denies `unsafe_code`; this module alone allows it because talking to the kernel
//! needs it: `socket`/`setsockopt`/`getsockopt`/`ioctl`/`bind`/`poll` through `libc`, `mmap` and
//! `munmap` of the ring, and reading the kernel-written block and packet headers through raw
//! pointers into that mapping. Every `unsafe` block carries a `// SAFETY:` comment; every offset
//! read from the ring is bounds-checked against the block before it is dereferenced, so a
//! misbehaving kernel costs a block of packets, never memory safety.
//!
//! On loopback interfaces (`lo`, and loopback traffic seen through `any`) the kernel shows each
//! packet twice, once as outgoing and once as received; the outgoing copy is skipped, as libpcap
//! does, so every datagram is delivered once.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::{Error, PacketRef, Result, Timestamp, linktype};

/// Frame size announced to the kernel (`TPACKET_V3` packs packets tightly regardless).
const FRAME_SIZE: u32 = 2048;
/// `TPACKET_V3` from `enum tpacket_versions`.
const TPACKET_V3: libc::c_int = 2;
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_MR_PROMISC: u16 = 1;
const PACKET_OUTGOING: u8 = 4;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const ETH_P_ALL: u16 = 0x0003;
const ETH_P_8021Q: u16 = 0x8100;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const IFNAMSIZ: usize = 16;
/// Length of a Linux cooked-capture (SLL v1) header.
const SLL_HDR_LEN: usize = 16;

// Offsets inside `struct tpacket_block_desc` (version, offset_to_priv, then `tpacket_hdr_v1`).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;
/// Size of `struct tpacket3_hdr`, which is also `TPACKET_ALIGN(sizeof(tpacket3_hdr))`: the
/// `sockaddr_ll` of the packet follows at this offset.
const TPACKET3_HDR_LEN: usize = 48;
/// Size of `struct sockaddr_ll`.
const SOCKADDR_LL_LEN: usize = 20;

/// Options of a live capture; [`Default`] gives the values documented on each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    /// Bytes kept of each packet (65535); the rest is cut off, `orig_len` keeps the real length.
    pub snaplen: u32,
    /// Size of one ring block in bytes (1 MiB); rounded up to a multiple of the page size.
    pub block_size: u32,
    /// Number of ring blocks (32).
    pub block_count: u32,
    /// Milliseconds after which the kernel hands over a block that is not full (100).
    pub block_timeout_ms: u32,
    /// Put the interface into promiscuous mode while the capture is open (false). Ignored for
    /// `any`, which has no single interface to switch.
    pub promiscuous: bool,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            snaplen: 65_535,
            block_size: 1 << 20,
            block_count: 32,
            block_timeout_ms: 100,
            promiscuous: false,
        }
    }
}

/// Kernel counters of a live capture, cumulative since [`LiveCapture::open`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Packets the kernel handled for this socket, including the dropped ones.
    pub packets: u64,
    /// Packets dropped because the ring was full.
    pub drops: u64,
    /// Times the ring was frozen because no block was free (`tp_freeze_q_cnt`).
    pub freeze_queue: u64,
}

/// A live capture on one interface (or `any`) through an `AF_PACKET` `TPACKET_V3` ring.
#[derive(Debug)]
pub struct LiveCapture {
    /// Declared before `fd`: the ring is unmapped before the socket is closed.
    ring: Ring,
    fd: OwnedFd,
    block_size: usize,
    block_count: usize,
    /// Block we read from (or wait for).
    block: usize,
    /// Whether `block` is ours (status had `TP_STATUS_USER`) and is being walked.
    block_open: bool,
    /// Packets of the open block not handed out yet.
    pkts_left: u32,
    /// Offset of the next packet header within the open block.
    pkt_offset: usize,
    snaplen: usize,
    cooked: bool,
    interface: String,
    link_type: u32,
    stats: LiveStats,
    /// Where cooked headers and re-tagged VLAN frames are assembled.
    scratch: Vec<u8>,
}

/// The mmap'd ring; unmapped on drop.
#[derive(Debug)]
struct Ring {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned exclusively by its `Ring` (nothing else holds the pointer) and
// the kernel side synchronises through the block status words, so moving it to another thread
// is sound. `LiveCapture` hands out borrows only through `&mut self`.
unsafe impl Send for Ring {}

impl Ring {
    /// `len` bytes at `offset`.
    fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len),
            "ring access out of bounds (offsets are checked before use)"
        );
        // SAFETY: the range lies inside the mapping (asserted above), which stays mapped while
        // `self` lives. The bytes belong to a block the kernel handed to user space
        // (TP_STATUS_USER), so the kernel does not write them until the block is released,
        // which needs `&mut LiveCapture` and therefore ends this borrow first.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(offset), len) }
    }

    /// The 32-bit word at `offset`, which the kernel updates concurrently.
    fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|end| end <= self.len),
            "ring status word out of bounds or unaligned"
        );
        // SAFETY: in bounds and 4-aligned (asserted; the mapping is page-aligned); it lives as
        // long as `self`; the kernel writes it concurrently, hence the atomic access.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU32>() }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly the mapping created in `LiveCapture::open`, and no borrow
        // of it can outlive `self`.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast::<libc::c_void>(), self.len);
        }
    }
}

/// Where the next packet lies, found before any borrow of `self` is handed out.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Offset of the captured bytes within the ring.
    data: usize,
    caplen: usize,
    orig_len: u32,
    ts: Timestamp,
    status: u32,
    vlan_tci: u16,
    vlan_tpid: u16,
    pkttype: u8,
    hatype: u16,
    halen: u8,
    addr: [u8; 8],
    protocol: [u8; 2],
}

impl LiveCapture {
    /// Opens an `AF_PACKET` socket with a `TPACKET_V3` RX ring on `interface` (`"any"` = all
    /// interfaces).
    ///
    /// Ethernet and loopback interfaces give [`linktype::ETHERNET`] frames; `any` and every other
    /// hardware type give [`linktype::LINUX_SLL`] (cooked) frames. Without root or
    /// `CAP_NET_RAW` the error is an [`Error::Io`] of kind [`io::ErrorKind::PermissionDenied`];
    /// an unknown interface is kind [`io::ErrorKind::NotFound`] naming it.
    pub fn open(interface: &str, options: &LiveOptions) -> Result<Self> {
        let ifindex = interface_index(interface)?;
        let (fd, hatype) = open_socket(interface, ifindex)?;
        let cooked = !matches!(hatype, Some(ARPHRD_ETHER | ARPHRD_LOOPBACK));
        let fd = if cooked && hatype.is_some() {
            // A named interface of another hardware type: reopen in cooked mode.
            drop(fd);
            raw_socket(interface, libc::SOCK_DGRAM)?
        } else {
            fd
        };

        set_int_option(&fd, PACKET_VERSION, TPACKET_V3)
            .map_err(|e| context(e, interface, "PACKET_VERSION TPACKET_V3"))?;

        let page = page_size();
        let block_size = round_up(options.block_size.max(FRAME_SIZE) as usize, page);
        let block_count = options.block_count.max(1) as usize;
        let block_size_u32 =
            u32::try_from(block_size).map_err(|_| invalid(interface, "block_size too large"))?;
        let req = TpacketReq3 {
            tp_block_size: block_size_u32,
            tp_block_nr: block_count as u32,
            tp_frame_size: FRAME_SIZE,
            tp_frame_nr: (block_size_u32 / FRAME_SIZE)
                .checked_mul(block_count as u32)
                .ok_or_else(|| invalid(interface, "ring too large"))?,
            tp_retire_blk_tov: options.block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_option(&fd, PACKET_RX_RING, &req)
            .map_err(|e| context(e, interface, "PACKET_RX_RING"))?;

        let ring_len = block_size
            .checked_mul(block_count)
            .ok_or_else(|| invalid(interface, "ring too large"))?;
        // SAFETY: a fresh shared mapping of the socket's ring, whose length is exactly the size
        // requested with PACKET_RX_RING; the kernel validates fd and length.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(context(
                io::Error::last_os_error(),
                interface,
                "mmap of the ring",
            ));
        }
        let ring = Ring {
            ptr: NonNull::new(ring.cast::<u8>())
                .ok_or_else(|| invalid(interface, "mmap returned a null ring"))?,
            len: ring_len,
        };
        // From here on dropping `capture` unmaps the ring and closes the socket on every error
        // path.
        let mut capture = Self {
            ring,
            fd,
            block_size,
            block_count,
            block: 0,
            block_open: false,
            pkts_left: 0,
            pkt_offset: 0,
            snaplen: options.snaplen.max(1) as usize,
            cooked,
            interface: interface.to_owned(),
            link_type: if cooked {
                linktype::LINUX_SLL
            } else {
                linktype::ETHERNET
            },
            stats: LiveStats::default(),
            scratch: Vec::with_capacity(
                (options.snaplen as usize).min(block_size) + SLL_HDR_LEN + 4,
            ),
        };

        // Binding with ETH_P_ALL starts the flow of packets (the socket was opened with protocol
        // 0 so nothing arrived before the ring existed).
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = ETH_P_ALL.to_be();
        addr.sll_ifindex = ifindex;
        // SAFETY: addr is a valid sockaddr_ll and the length passed is its size.
        let rc = unsafe {
            libc::bind(
                capture.fd.as_raw_fd(),
                (&raw const addr).cast::<libc::sockaddr>(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(context(io::Error::last_os_error(), interface, "bind"));
        }

        if options.promiscuous && ifindex != 0 {
            let mreq = PacketMreq {
                mr_ifindex: ifindex,
                mr_type: PACKET_MR_PROMISC,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            set_option(&capture.fd, PACKET_ADD_MEMBERSHIP, &mreq)
                .map_err(|e| context(e, interface, "promiscuous mode"))?;
        }
        // Counters start at open: read (and thereby reset) whatever the kernel has so far.
        capture.stats()?;
        capture.stats = LiveStats::default();
        Ok(capture)
    }

    /// The next packet, waiting up to `timeout` (poll on the socket); `Ok(None)` on timeout.
    ///
    /// The packet borrows the ring until the next call.
    pub fn next_packet(&mut self, timeout: Duration) -> Result<Option<PacketRef<'_>>> {
        let deadline = Instant::now().checked_add(timeout);
        let Some(frame) = self.next_frame(deadline)? else {
            return Ok(None);
        };
        let ring = self.ring.bytes(frame.data, frame.caplen);
        let data: &[u8] = if self.cooked {
            self.scratch.clear();
            self.scratch
                .extend_from_slice(&u16::from(frame.pkttype).to_be_bytes());
            self.scratch.extend_from_slice(&frame.hatype.to_be_bytes());
            self.scratch
                .extend_from_slice(&u16::from(frame.halen).to_be_bytes());
            let mut addr = [0u8; 8];
            let halen = usize::from(frame.halen).min(8);
            addr[..halen].copy_from_slice(&frame.addr[..halen]);
            self.scratch.extend_from_slice(&addr);
            self.scratch.extend_from_slice(&frame.protocol);
            self.scratch.extend_from_slice(ring);
            &self.scratch
        } else if frame.status & TP_STATUS_VLAN_VALID != 0 && ring.len() >= 12 {
            // The kernel moved the 802.1Q tag out of the frame; put it back.
            let tpid = if frame.status & TP_STATUS_VLAN_TPID_VALID != 0 {
                frame.vlan_tpid
            } else {
                ETH_P_8021Q
            };
            self.scratch.clear();
            self.scratch.extend_from_slice(&ring[..12]);
            self.scratch.extend_from_slice(&tpid.to_be_bytes());
            self.scratch
                .extend_from_slice(&frame.vlan_tci.to_be_bytes());
            self.scratch.extend_from_slice(&ring[12..]);
            &self.scratch
        } else {
            ring
        };
        let extra = (data.len() - ring.len()) as u32;
        let data = &data[..data.len().min(self.snaplen)];
        Ok(Some(PacketRef {
            ts: frame.ts,
            link_type: self.link_type,
            data,
            orig_len: frame.orig_len.saturating_add(extra),
            interface: 0,
        }))
    }

    /// Kernel counters since open (`PACKET_STATISTICS`), cumulative.
    pub fn stats(&mut self) -> Result<LiveStats> {
        let mut raw = TpacketStatsV3::default();
        let mut len = size_of::<TpacketStatsV3>() as libc::socklen_t;
        // SAFETY: raw is a writable tpacket_stats_v3 and len its size; the kernel writes at most
        // len bytes and updates len.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                (&raw mut raw).cast::<libc::c_void>(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(context(
                io::Error::last_os_error(),
                &self.interface,
                "PACKET_STATISTICS",
            ));
        }
        // The kernel resets its counters on every read; keep the running sums here.
        self.stats.packets += u64::from(raw.tp_packets);
        self.stats.drops += u64::from(raw.tp_drops);
        self.stats.freeze_queue += u64::from(raw.tp_freeze_q_cnt);
        Ok(self.stats)
    }

    /// The interface name given to [`open`](Self::open).
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// pcap link type of the packets: [`linktype::ETHERNET`] or [`linktype::LINUX_SLL`].
    pub fn link_type(&self) -> u32 {
        self.link_type
    }

    /// Finds the next packet to deliver, releasing exhausted blocks and waiting for ready ones.
    fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Option<Frame>> {
        loop {
            if self.block_open && self.pkts_left == 0 {
                self.release_block();
            }
            if !self.block_open {
                if self.block_status().load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                    if !self.wait(deadline)? {
                        return Ok(None);
                    }
                    continue;
                }
                self.block_open = true;
                self.pkts_left = self.block_read_u32(BLOCK_NUM_PKTS);
                self.pkt_offset = self.block_read_u32(BLOCK_FIRST_PKT) as usize;
                continue;
            }
            self.pkts_left -= 1;
            let Some(frame) = self.parse_frame() else {
                // Inconsistent header: give up on the rest of this block.
                self.pkts_left = 0;
                continue;
            };
            if frame.pkttype == PACKET_OUTGOING && frame.hatype == ARPHRD_LOOPBACK {
                continue;
            }
            return Ok(Some(frame));
        }
    }

    /// Reads the packet header at `pkt_offset` of the open block and advances to the next one.
    fn parse_frame(&mut self) -> Option<Frame> {
        let offset = self.pkt_offset;
        if !offset.is_multiple_of(4)
            || offset.checked_add(TPACKET3_HDR_LEN + SOCKADDR_LL_LEN)? > self.block_size
        {
            return None;
        }
        let next = self.block_read_u32(offset) as usize;
        self.pkt_offset = if next == 0 {
            self.block_size
        } else {
            offset + next
        };
        let caplen = self.block_read_u32(offset + 12) as usize;
        let mac = usize::from(self.block_read_u16(offset + 24));
        let start = offset.checked_add(mac)?;
        if start.checked_add(caplen)? > self.block_size {
            return None;
        }
        let sll = offset + TPACKET3_HDR_LEN;
        let mut addr = [0u8; 8];
        addr.copy_from_slice(self.block_bytes(sll + 12, 8));
        let mut protocol = [0u8; 2];
        protocol.copy_from_slice(self.block_bytes(sll + 2, 2));
        let snap = self.snaplen.min(caplen);
        Some(Frame {
            data: self.block * self.block_size + start,
            caplen: snap,
            orig_len: self.block_read_u32(offset + 16),
            ts: Timestamp::new(
                i64::from(self.block_read_u32(offset + 4)),
                self.block_read_u32(offset + 8),
            ),
            status: self.block_read_u32(offset + 20),
            vlan_tci: self.block_read_u32(offset + 32) as u16,
            vlan_tpid: self.block_read_u16(offset + 36),
            pkttype: self.block_bytes(sll + 10, 1)[0],
            hatype: self.block_read_u16(sll + 8),
            halen: self.block_bytes(sll + 11, 1)[0],
            addr,
            protocol,
        })
    }

    /// Hands the open block back to the kernel and moves on to the next one.
    fn release_block(&mut self) {
        self.block_status()
            .store(TP_STATUS_KERNEL, Ordering::Release);
        self.block_open = false;
        self.block = (self.block + 1) % self.block_count;
    }

    /// Polls the socket until readable or `deadline`; `false` on timeout.
    fn wait(&mut self, deadline: Option<Instant>) -> Result<bool> {
        // No deadline (a timeout too large for `Instant`) waits without limit.
        let millis = deadline.map_or(-1, |deadline| {
            deadline
                .saturating_duration_since(Instant::now())
                .as_micros()
                .div_ceil(1000)
                .min(i32::MAX as u128) as libc::c_int
        });
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is one valid pollfd and the count passed is 1.
        let rc = unsafe { libc::poll(&mut pfd, 1, millis) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(true);
            }
            return Err(context(err, &self.interface, "poll"));
        }
        if rc == 0 {
            return Ok(false);
        }
        if pfd.revents & libc::POLLERR != 0 {
            let err = self.socket_error();
            if let Some(err) = err {
                return Err(context(err, &self.interface, "capture"));
            }
        }
        if pfd.revents & libc::POLLNVAL != 0 {
            return Err(invalid(&self.interface, "poll: socket not open"));
        }
        // Readable: the caller re-checks the block; the deadline still bounds further waits.
        Ok(true)
    }

    /// The pending socket error (e.g. the interface went down), clearing it.
    fn socket_error(&self) -> Option<io::Error> {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: value is a writable c_int and len its size.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&raw mut value).cast::<libc::c_void>(),
                &mut len,
            )
        };
        (rc == 0 && value != 0).then(|| io::Error::from_raw_os_error(value))
    }

    /// The status word of the current block.
    fn block_status(&self) -> &AtomicU32 {
        self.ring
            .atomic_u32(self.block * self.block_size + BLOCK_STATUS)
    }

    /// `len` bytes at `offset` within the current block; the caller checked the bounds.
    fn block_bytes(&self, offset: usize, len: usize) -> &[u8] {
        self.ring.bytes(self.block * self.block_size + offset, len)
    }

    fn block_read_u32(&self, offset: usize) -> u32 {
        let b = self.block_bytes(offset, 4);
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    }

    fn block_read_u16(&self, offset: usize) -> u16 {
        let b = self.block_bytes(offset, 2);
        u16::from_ne_bytes([b[0], b[1]])
    }
}

/// `struct tpacket_req3`.
#[repr(C)]
struct TpacketReq3 {
    tp_block_size: u32,
    tp_block_nr: u32,
    tp_frame_size: u32,
    tp_frame_nr: u32,
    tp_retire_blk_tov: u32,
    tp_sizeof_priv: u32,
    tp_feature_req_word: u32,
}

/// `struct tpacket_stats_v3`.
#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    tp_packets: u32,
    tp_drops: u32,
    tp_freeze_q_cnt: u32,
}

/// `struct packet_mreq`.
#[repr(C)]
struct PacketMreq {
    mr_ifindex: libc::c_int,
    mr_type: u16,
    mr_alen: u16,
    mr_address: [u8; 8],
}

/// `struct ifreq` as used by `SIOCGIFHWADDR`: the name, then a `sockaddr` whose family is the
/// ARPHRD type; padded to the kernel's 40 bytes.
#[repr(C)]
struct IfreqHwaddr {
    name: [libc::c_char; IFNAMSIZ],
    family: u16,
    rest: [u8; 22],
}

/// Interface index of `interface`, 0 for `any`.
fn interface_index(interface: &str) -> Result<libc::c_int> {
    if interface == "any" {
        return Ok(0);
    }
    let no_such = || {
        Error::Io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no such interface {interface:?}"),
        ))
    };
    if interface.is_empty() || interface.len() >= IFNAMSIZ {
        return Err(no_such());
    }
    let name = CString::new(interface).map_err(|_| no_such())?;
    // SAFETY: name is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(no_such());
    }
    libc::c_int::try_from(index).map_err(|_| no_such())
}

/// Opens the packet socket (`SOCK_RAW` for a named interface, `SOCK_DGRAM` for `any`) and reads
/// the interface's ARPHRD type (`None` for `any`).
fn open_socket(interface: &str, ifindex: libc::c_int) -> Result<(OwnedFd, Option<u16>)> {
    if ifindex == 0 {
        return Ok((raw_socket(interface, libc::SOCK_DGRAM)?, None));
    }
    let fd = raw_socket(interface, libc::SOCK_RAW)?;
    let mut req = IfreqHwaddr {
        name: [0; IFNAMSIZ],
        family: 0,
        rest: [0; 22],
    };
    for (dst, src) in req.name.iter_mut().zip(interface.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: req is a writable ifreq-sized buffer with a NUL-terminated name (checked shorter
    // than IFNAMSIZ by `interface_index`); SIOCGIFHWADDR writes only within it.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &raw mut req) };
    if rc != 0 {
        return Err(context(
            io::Error::last_os_error(),
            interface,
            "SIOCGIFHWADDR",
        ));
    }
    Ok((fd, Some(req.family)))
}

/// `socket(AF_PACKET, kind, 0)`: protocol 0 so no packet is queued before `bind`.
fn raw_socket(interface: &str, kind: libc::c_int) -> Result<OwnedFd> {
    // SAFETY: plain system call with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_PACKET, kind | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        let err = io::Error::last_os_error();
        if matches!(err.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "live capture on {interface:?} needs root or CAP_NET_RAW \
                     (AF_PACKET socket: {err})"
                ),
            )));
        }
        return Err(context(err, interface, "AF_PACKET socket"));
    }
    // SAFETY: fd is a freshly created descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int_option(fd: &OwnedFd, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    set_option(fd, name, &value)
}

/// `setsockopt(fd, SOL_PACKET, name, value)`.
fn set_option<T>(fd: &OwnedFd, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: value points to a live T of the size passed; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            name,
            (value as *const T).cast::<libc::c_void>(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page)
        .ok()
        .filter(|&p| p > 0)
        .unwrap_or(4096)
}

fn round_up(value: usize, multiple: usize) -> usize {
    value.div_ceil(multiple) * multiple
}

/// An I/O error with the interface and the step that failed, keeping its kind.
fn context(err: io::Error, interface: &str, what: &str) -> Error {
    Error::Io(io::Error::new(
        err.kind(),
        format!("live capture on {interface:?}: {what}: {err}"),
    ))
}

fn invalid(interface: &str, what: &str) -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("live capture on {interface:?}: {what}"),
    ))
}
