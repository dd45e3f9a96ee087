//! Per-call pcap files in the reference's spool layout (behaviour spec §1).
//!
//! ```text
//! <spooldir>/<YYYY-MM-DD>/<HH>/<MM>/SIP/<fbasename_safe>.pcap
//! <spooldir>/<YYYY-MM-DD>/<HH>/<MM>/RTP/<fbasename_safe>.pcap
//! ```
//!
//! * The folder is the call's **start minute** (UTC, like every time the sensor prints), so a
//!   call lasting hours stays in one file.
//! * Files are classic pcap (§1.5): magic `a1b2c3d4` in host order, µs timestamps, version 2.4,
//!   snaplen field 10000, the link type of the call's first packet; a packet of another link
//!   type is not written (counted).
//! * **Always valid on disk.** Each open file has a small buffer ([`SpoolConfig::buffer_bytes`])
//!   that is written out only in whole records, so a reader (a manager `getfile` of an active
//!   call, tshark) always finds a valid pcap up to its last complete record. Buffers are also
//!   written out when they have held data for [`SpoolConfig::flush_after_us`] of packet time.
//! * **Bounded memory and file descriptors.** At most [`SpoolConfig::max_open_files`] files
//!   are open; the least recently written one is flushed and closed when another must open,
//!   and reopened for appending when its call writes again. A closed file costs its path only.
//! * [`Spool::close_call`] flushes, fsyncs and forgets a call's files (the call ended);
//!   [`Spool::close_all`] does that for every call (shutdown: nothing accepted is lost).
//! * Write errors (disk full, permissions) are counted and the affected file is given up;
//!   they never stop the packet path.

mod clean;

pub use clean::{CleanLimits, CleanReport, clean};

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The snaplen field of every file header (§1.5: fixed 10000).
pub const SNAPLEN_FIELD: u32 = 10_000;
/// Bytes of the pcap file header.
const FILE_HEADER_LEN: usize = 24;
/// Bytes of a record header.
const RECORD_HEADER_LEN: usize = 16;
/// Bytes of an RTP fixed header, kept with `savertp = header`.
const RTP_HEADER_LEN: usize = 12;

/// Which file of a call a packet goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The call's SIP messages (`SIP/`).
    Sip,
    /// The call's RTP and RTCP (`RTP/`).
    Rtp,
    /// A REGISTER transaction's messages (`REG/<µs of its first REGISTER>.pcap`).
    Reg,
}

impl Kind {
    fn folder(self) -> &'static str {
        match self {
            Self::Sip => "SIP",
            Self::Rtp => "RTP",
            Self::Reg => "REG",
        }
    }
}

/// `savertp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveRtp {
    /// No RTP file.
    No,
    /// Whole RTP packets.
    Yes,
    /// Each RTP record cut after the headers plus the 12-byte RTP header (`caplen` < `len`).
    Header,
}

/// What to save and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    /// `spooldir`.
    pub root: PathBuf,
    /// `spooldir_rtp` (RTP files go under this root instead), if set.
    pub rtp_root: Option<PathBuf>,
    /// `savesip`.
    pub save_sip: bool,
    /// `savertp`.
    pub save_rtp: SaveRtp,
    /// `savertcp`: RTCP into the RTP file.
    pub save_rtcp: bool,
    /// `convertchar`: extra bytes mapped to `_` in file names.
    pub convert_chars: Vec<u8>,
    /// `save-sip-register`: a pcap per REGISTER transaction under `REG/`.
    pub save_register: bool,
    /// Most files open at once.
    pub max_open_files: usize,
    /// Write buffer per open file (`pcap_dump_bufflength`).
    pub buffer_bytes: usize,
    /// Buffered data is written out once it is this old (packet time, µs).
    pub flush_after_us: u64,
}

impl SpoolConfig {
    /// VoIPmonitor's sample configuration: save SIP, RTP and RTCP under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            rtp_root: None,
            save_sip: true,
            save_rtp: SaveRtp::Yes,
            save_rtcp: true,
            convert_chars: Vec::new(),
            save_register: false,
            max_open_files: 1024,
            buffer_bytes: 8192,
            flush_after_us: 1_000_000,
        }
    }
}

/// Counters of the spool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Files created.
    pub files_created: u64,
    /// Records written (accepted into a buffer).
    pub records: u64,
    /// Bytes written to disk.
    pub bytes: u64,
    /// Packets not written because their link type differed from the file's.
    pub dlt_mismatch: u64,
    /// Files closed to stay under the open-file limit (and reopened later).
    pub evictions: u64,
    /// I/O errors (the file concerned is given up).
    pub errors: u64,
}

/// The call a packet belongs to, as the spool needs it.
#[derive(Debug, Clone, Copy)]
pub struct CallFile<'a> {
    /// A key unique among the calls alive (the call table's id).
    pub call: u64,
    /// The call's first packet time (µs since the Unix epoch): the folder.
    pub start_us: u64,
    /// `fbasename`: the Call-ID as received.
    pub fbasename: &'a [u8],
}

/// One packet to store.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Packet time, µs since the Unix epoch.
    pub ts_us: u64,
    /// Link type of `frame` (pcap LINKTYPE).
    pub link: u32,
    /// The captured bytes.
    pub frame: &'a [u8],
    /// Original length on the wire.
    pub orig_len: u32,
}

#[derive(Debug)]
struct Entry {
    path: PathBuf,
    /// The call's start time: its minute folder.
    start_us: u64,
    link: u32,
    file: Option<File>,
    buf: Vec<u8>,
    /// Packet time of the oldest buffered record.
    buffered_since: Option<u64>,
    /// Write sequence of the last record, for least-recently-used eviction.
    last_write: u64,
    /// Given up after an I/O error.
    failed: bool,
}

/// The spool writer.
#[derive(Debug)]
pub struct Spool {
    config: SpoolConfig,
    files: HashMap<(u64, Kind), Entry>,
    /// Open files in order of opening, with the write sequence they had then (second chance).
    open_order: VecDeque<((u64, Kind), u64)>,
    open: usize,
    seq: u64,
    stats: SpoolStats,
    syncer: Syncer,
}

/// A file whose data must reach the disk: the open file, or the path of one closed earlier
/// to stay under the open-file limit.
#[derive(Debug)]
enum SyncJob {
    File(File),
    Path(PathBuf),
}

/// fsyncs closed call files on a thread of its own, so a call ending never stalls the
/// packet path on the disk; [`Syncer::wait`] returns once every file handed over is synced.
#[derive(Debug, Default)]
struct Syncer {
    tx: Option<std::sync::mpsc::Sender<SyncJob>>,
    thread: Option<std::thread::JoinHandle<()>>,
    errors: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Syncer {
    fn send(&mut self, job: SyncJob) {
        if self.tx.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<SyncJob>();
            let errors = self.errors.clone();
            let spawned = std::thread::Builder::new()
                .name("spool-sync".into())
                .spawn(move || {
                    for job in rx {
                        let r = match job {
                            SyncJob::File(f) => f.sync_data(),
                            SyncJob::Path(p) => File::open(p).and_then(|f| f.sync_data()),
                        };
                        if r.is_err() {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            match spawned {
                Ok(t) => {
                    self.tx = Some(tx);
                    self.thread = Some(t);
                }
                Err(_) => {
                    // No thread: sync here rather than not at all.
                    let _ = match job {
                        SyncJob::File(f) => f.sync_data(),
                        SyncJob::Path(p) => File::open(p).and_then(|f| f.sync_data()),
                    };
                    return;
                }
            }
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(job);
        }
    }

    /// Blocks until every file handed over is synced.
    fn wait(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.syncer.wait();
    }
}

/// `fbasename_safe` (§1.3): ASCII letters, digits and `: - . @` kept, every other byte (and
/// every byte of `convert`) replaced by `_`; at most 255 bytes of the name are used.
pub fn safe_name(fbasename: &[u8], convert: &[u8]) -> String {
    fbasename
        .iter()
        .take(255)
        .map(|&b| {
            let keep = (b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'.' | b'@'))
                && !convert.contains(&b);
            if keep { char::from(b) } else { '_' }
        })
        .collect()
}

/// `YYYY-MM-DD/HH/MM` of a µs timestamp, in UTC.
pub fn minute_folder(ts_us: u64) -> String {
    let unix = i64::try_from(ts_us / 1_000_000).unwrap_or(i64::MAX);
    let days = unix.div_euclid(86_400);
    let rem = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}/{:02}/{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The file header of a spool pcap.
fn file_header(link: u32) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_ne_bytes());
    h[4..6].copy_from_slice(&2u16.to_ne_bytes());
    h[6..8].copy_from_slice(&4u16.to_ne_bytes());
    h[16..20].copy_from_slice(&SNAPLEN_FIELD.to_ne_bytes());
    h[20..24].copy_from_slice(&link.to_ne_bytes());
    h
}

impl Spool {
    /// A spool writing as `config` says.
    pub fn new(config: SpoolConfig) -> Self {
        Self {
            config,
            files: HashMap::new(),
            open_order: VecDeque::new(),
            open: 0,
            seq: 0,
            stats: SpoolStats::default(),
            syncer: Syncer::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SpoolConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> SpoolStats {
        let mut s = self.stats;
        s.errors += self
            .syncer
            .errors
            .load(std::sync::atomic::Ordering::Relaxed);
        s
    }

    /// Files currently open.
    pub fn open_files(&self) -> usize {
        self.open
    }

    /// The `YYYY-MM-DD/HH/MM` minute folders holding files of calls not closed yet: the
    /// cleaner must not touch them.
    pub fn active_minutes(&self) -> HashSet<String> {
        self.files
            .values()
            .map(|e| minute_folder(e.start_us))
            .collect()
    }

    /// The path of a call's file of `kind` relative to its spool root (what `getfile` takes).
    pub fn relative_path(&self, call: &CallFile<'_>, kind: Kind) -> PathBuf {
        let name = match kind {
            // `fname`: the transaction's first REGISTER in µs since the epoch (§1.3).
            Kind::Reg => call.start_us.to_string(),
            Kind::Sip | Kind::Rtp => safe_name(call.fbasename, &self.config.convert_chars),
        };
        PathBuf::from(minute_folder(call.start_us))
            .join(kind.folder())
            .join(format!("{name}.pcap"))
    }

    /// A message of a REGISTER transaction (`id` unique among transactions), with
    /// `save-sip-register`.
    pub fn write_register(&mut self, id: u64, start_us: u64, rec: &Record<'_>) {
        if self.config.save_register {
            let file = CallFile {
                call: id,
                start_us,
                fbasename: b"",
            };
            self.write(&file, Kind::Reg, rec, rec.frame.len());
        }
    }

    /// The REGISTER transaction ended: its file is closed like a call's.
    pub fn close_register(&mut self, id: u64) -> Option<PathBuf> {
        self.close_kinds(id, &[Kind::Reg]).pop()
    }

    fn root(&self, kind: Kind) -> &Path {
        match (kind, &self.config.rtp_root) {
            (Kind::Rtp, Some(r)) => r,
            _ => &self.config.root,
        }
    }

    /// A SIP message of the call (the frame that carried it).
    pub fn write_sip(&mut self, call: &CallFile<'_>, rec: &Record<'_>) {
        if self.config.save_sip {
            self.write(call, Kind::Sip, rec, rec.frame.len());
        }
    }

    /// An RTP packet of the call; `rtp_offset` is where the RTP header starts in the frame
    /// (for `savertp = header`).
    pub fn write_rtp(&mut self, call: &CallFile<'_>, rec: &Record<'_>, rtp_offset: usize) {
        let keep = match self.config.save_rtp {
            SaveRtp::No => return,
            SaveRtp::Yes => rec.frame.len(),
            SaveRtp::Header => (rtp_offset + RTP_HEADER_LEN).min(rec.frame.len()),
        };
        self.write(call, Kind::Rtp, rec, keep);
    }

    /// An RTCP packet of the call (into the RTP file with `savertcp`).
    pub fn write_rtcp(&mut self, call: &CallFile<'_>, rec: &Record<'_>) {
        if self.config.save_rtcp && self.config.save_rtp != SaveRtp::No {
            self.write(call, Kind::Rtp, rec, rec.frame.len());
        }
    }

    fn write(&mut self, call: &CallFile<'_>, kind: Kind, rec: &Record<'_>, caplen: usize) {
        let key = (call.call, kind);
        if !self.files.contains_key(&key) {
            let path = self.root(kind).join(self.relative_path(call, kind));
            self.files.insert(
                key,
                Entry {
                    path,
                    start_us: call.start_us,
                    link: rec.link,
                    file: None,
                    buf: Vec::new(),
                    buffered_since: None,
                    last_write: 0,
                    failed: false,
                },
            );
            if let Err(()) = self.open_entry(key, true) {
                return;
            }
        }
        let Some(entry) = self.files.get(&key) else {
            return;
        };
        if entry.failed {
            return;
        }
        if entry.link != rec.link {
            self.stats.dlt_mismatch += 1;
            return;
        }
        if entry.file.is_none() && self.open_entry(key, false).is_err() {
            return;
        }
        self.seq += 1;
        let seq = self.seq;
        let cap = self.config.buffer_bytes;
        let Some(entry) = self.files.get_mut(&key) else {
            return;
        };
        entry.last_write = seq;
        let data = &rec.frame[..caplen.min(rec.frame.len())];
        let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let secs = u32::try_from(rec.ts_us / 1_000_000).unwrap_or(u32::MAX);
        let usecs = (rec.ts_us % 1_000_000) as u32;
        let orig = rec.orig_len.max(caplen);
        let needed = RECORD_HEADER_LEN + data.len();
        if !entry.buf.is_empty() && entry.buf.len() + needed > cap {
            let r = flush_entry(entry);
            self.account(key, r);
        }
        let Some(entry) = self.files.get_mut(&key) else {
            return;
        };
        entry.buf.extend_from_slice(&secs.to_ne_bytes());
        entry.buf.extend_from_slice(&usecs.to_ne_bytes());
        entry.buf.extend_from_slice(&caplen.to_ne_bytes());
        entry.buf.extend_from_slice(&orig.to_ne_bytes());
        entry.buf.extend_from_slice(data);
        entry.buffered_since.get_or_insert(rec.ts_us);
        self.stats.records += 1;
        if entry.buf.len() >= cap {
            let r = flush_entry(entry);
            self.account(key, r);
        }
    }

    /// Opens (creating with its header when `create`) the file of `key`, evicting the least
    /// recently written open file first if the limit is reached.
    fn open_entry(&mut self, key: (u64, Kind), create: bool) -> Result<(), ()> {
        while self.open >= self.config.max_open_files.max(1) {
            if !self.evict_one() {
                break;
            }
        }
        let Some(entry) = self.files.get_mut(&key) else {
            return Err(());
        };
        let opened = if create {
            create_file(&entry.path, entry.link)
        } else {
            OpenOptions::new().append(true).open(&entry.path)
        };
        match opened {
            Ok(file) => {
                entry.file = Some(file);
                self.open += 1;
                if create {
                    self.stats.files_created += 1;
                    self.stats.bytes += FILE_HEADER_LEN as u64;
                }
                self.open_order.push_back((key, entry.last_write));
                Ok(())
            }
            Err(_) => {
                entry.failed = true;
                self.stats.errors += 1;
                Err(())
            }
        }
    }

    /// Flushes and closes the least recently written open file; false when none is open.
    fn evict_one(&mut self) -> bool {
        while let Some((key, seen)) = self.open_order.pop_front() {
            let Some(entry) = self.files.get_mut(&key) else {
                continue; // closed with its call
            };
            if entry.file.is_none() {
                continue;
            }
            if entry.last_write != seen {
                // Written since it was queued: a second chance at the back.
                self.open_order.push_back((key, entry.last_write));
                continue;
            }
            let r = flush_entry(entry);
            entry.file = None;
            entry.buf = Vec::new();
            self.open -= 1;
            self.stats.evictions += 1;
            self.account(key, r);
            return true;
        }
        false
    }

    fn account(&mut self, key: (u64, Kind), written: io::Result<usize>) {
        match written {
            Ok(n) => self.stats.bytes += n as u64,
            Err(_) => {
                self.stats.errors += 1;
                if let Some(e) = self.files.get_mut(&key) {
                    e.failed = true;
                    e.buf = Vec::new();
                    if e.file.take().is_some() {
                        self.open -= 1;
                    }
                }
            }
        }
    }

    /// Writes out buffers holding data older than [`SpoolConfig::flush_after_us`]. Call about
    /// once a second of packet time.
    pub fn flush_due(&mut self, now_us: u64) {
        let after = self.config.flush_after_us;
        let due: Vec<(u64, Kind)> = self
            .files
            .iter()
            .filter(|(_, e)| {
                e.buffered_since
                    .is_some_and(|t| now_us >= t.saturating_add(after))
            })
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            if let Some(entry) = self.files.get_mut(&key) {
                let r = flush_entry(entry);
                self.account(key, r);
            }
        }
    }

    /// The call ended: its files are flushed and closed, and handed to a background thread
    /// that fsyncs them ([`Spool::close_all`] waits for it). Returns the paths written.
    pub fn close_call(&mut self, call: u64) -> Vec<PathBuf> {
        self.close_kinds(call, &[Kind::Sip, Kind::Rtp])
    }

    fn close_kinds(&mut self, call: u64, kinds: &[Kind]) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        for &kind in kinds {
            let key = (call, kind);
            let Some(mut entry) = self.files.remove(&key) else {
                continue;
            };
            match flush_entry(&mut entry) {
                Ok(n) => self.stats.bytes += n as u64,
                Err(_) => {
                    self.stats.errors += 1;
                    entry.failed = true;
                }
            }
            let file = entry.file.take();
            if file.is_some() {
                self.open -= 1;
            }
            if !entry.failed {
                // fsync off the packet path (see `Syncer`).
                self.syncer.send(match file {
                    Some(f) => SyncJob::File(f),
                    None => SyncJob::Path(entry.path.clone()),
                });
                paths.push(entry.path);
            }
        }
        paths
    }

    /// Writes out every buffer and syncs the open files, keeping them open (end of a replay
    /// that keeps serving: the files are complete on disk, the calls still own them).
    pub fn flush_all(&mut self) {
        let keys: Vec<(u64, Kind)> = self.files.keys().copied().collect();
        for key in keys {
            if let Some(entry) = self.files.get_mut(&key) {
                let r = flush_entry(entry).and_then(|n| {
                    if let Some(f) = &entry.file {
                        f.sync_data()?;
                    }
                    Ok(n)
                });
                self.account(key, r);
            }
        }
    }

    /// Closes every call's files and waits until all files closed so far are synced
    /// (shutdown).
    pub fn close_all(&mut self) {
        let keys: Vec<(u64, Kind)> = self.files.keys().copied().collect();
        for (id, kind) in keys {
            self.close_kinds(id, &[kind]);
        }
        self.open_order.clear();
        self.syncer.wait();
    }
}

fn create_file(path: &Path, link: u32) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = File::create(path)?;
    file.write_all(&file_header(link))?;
    Ok(file)
}

/// Writes the buffered records (whole records only) to the file; returns the bytes written.
fn flush_entry(entry: &mut Entry) -> io::Result<usize> {
    let n = entry.buf.len();
    if n == 0 {
        return Ok(0);
    }
    let Some(file) = entry.file.as_mut() else {
        return Ok(0);
    };
    file.write_all(&entry.buf)?;
    entry.buf.clear();
    entry.buffered_since = None;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_follow_the_reference_mapping() {
        assert_eq!(
            safe_name(b"a84b4c76e66710@pc33.example.com", b""),
            "a84b4c76e66710@pc33.example.com"
        );
        assert_eq!(safe_name(b"abc/def xyz;1", b""), "abc_def_xyz_1");
        assert_eq!(safe_name(b"../../etc/passwd", b""), ".._.._etc_passwd");
        assert_eq!(safe_name("ü%+".as_bytes(), b""), "____");
        assert_eq!(safe_name(b"a:b", b":"), "a_b");
        assert_eq!(safe_name(&[b'x'; 300], b"").len(), 255);
    }

    #[test]
    fn minute_folders_are_utc() {
        assert_eq!(minute_folder(1_776_167_857_000_000), "2026-04-14/11/57");
        assert_eq!(minute_folder(0), "1970-01-01/00/00");
        assert_eq!(minute_folder(951_782_399_999_999), "2000-02-28/23/59");
    }

    #[test]
    fn header_is_classic_pcap_with_snaplen_10000() {
        let h = file_header(113);
        assert_eq!(u32::from_ne_bytes([h[0], h[1], h[2], h[3]]), 0xa1b2_c3d4);
        assert_eq!(u32::from_ne_bytes([h[16], h[17], h[18], h[19]]), 10_000);
        assert_eq!(u32::from_ne_bytes([h[20], h[21], h[22], h[23]]), 113);
    }
}
