//! The on-disk queue: records waiting for the database.
//!
//! A directory holding
//!
//! - `lock`: held (`flock`) by the one writer using the directory;
//! - `queue_id`: random id naming this queue in the database table `voipsensor_cdr_queue`;
//! - `committed`: the highest sequence number known committed (a hint: the database row is
//!   the authority; this file keeps sequence numbers increasing when every segment is gone);
//! - segments `<first seq, 20 digits>.seg`: one record a line,
//!   `<seq, 20 digits> <FNV-1a 64 of seq and JSON, 16 hex> <JSON>\n`.
//!   A torn or corrupt line (crash during a write) fails its checksum or lacks its newline; a
//!   torn tail of the last segment is cut off at open, a bad line elsewhere is skipped and
//!   counted.
//!
//! Records are durable on disk (fsynced, in groups) before the writer sends them to the
//! database; a segment is deleted only after `committed` covers all of it.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, ErrorKind, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::mapping::Record;

const SEG_EXT: &str = "seg";

/// FNV-1a, 64 bits.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The line of one record.
pub(crate) fn encode(seq: u64, json: &str) -> Vec<u8> {
    let seq_s = format!("{seq:020}");
    let sum = fnv(&[seq_s.as_bytes(), json.as_bytes()]);
    format!("{seq_s} {sum:016x} {json}\n").into_bytes()
}

/// What a line holds: `None` when it is torn or corrupt.
pub(crate) fn decode(line: &[u8]) -> Option<(u64, Record)> {
    let line = line.strip_suffix(b"\n")?;
    let (seq_s, rest) = (line.get(..20)?, line.get(20..)?);
    let rest = rest.strip_prefix(b" ")?;
    let (sum_s, json) = (rest.get(..16)?, rest.get(16..)?.strip_prefix(b" ")?);
    let sum = u64::from_str_radix(std::str::from_utf8(sum_s).ok()?, 16).ok()?;
    if fnv(&[seq_s, json]) != sum {
        return None;
    }
    let seq = std::str::from_utf8(seq_s).ok()?.parse().ok()?;
    Some((seq, serde_json::from_slice(json).ok()?))
}

fn seg_name(first: u64) -> String {
    format!("{first:020}.{SEG_EXT}")
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A segment: its first sequence number and size.
#[derive(Debug, Clone, Copy)]
struct Seg {
    first: u64,
    len: u64,
}

#[derive(Debug)]
struct Inner {
    next_seq: u64,
    /// Segments, oldest first; the last one is open for appending.
    segs: VecDeque<Seg>,
    file: Arc<File>,
    total_bytes: u64,
    durable_upto: u64,
    committed: u64,
    dropped: u64,
    /// Set when the writer must stop (shutdown).
    stopping: bool,
}

/// Records with their sequence numbers, ascending.
pub(crate) type Batch = Vec<(u64, Record)>;

/// Where the reader is: the next line to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadPos {
    seg: u64,
    offset: u64,
}

/// The queue directory, shared by producers and the writer thread.
#[derive(Debug)]
pub(crate) struct Queue {
    dir: PathBuf,
    queue_id: String,
    max_bytes: u64,
    segment_bytes: u64,
    inner: Mutex<Inner>,
    wake: Condvar,
    _lock: File,
}

/// Queue figures for statistics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueFigures {
    pub(crate) queued: u64,
    pub(crate) bytes: u64,
    pub(crate) dropped: u64,
}

impl Queue {
    /// Opens (creating) the queue in `dir`, recovering from a crash: a torn tail is cut off.
    /// Returns the queue and the number of corrupt lines cut off.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
        segment_bytes: u64,
    ) -> std::io::Result<(Self, u64)> {
        std::fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::other(format!(
                    "the CDR queue {} is in use by another writer",
                    dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        let queue_id = load_or_create_id(dir)?;
        let committed = read_committed(dir)?;
        let mut firsts: Vec<u64> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(&format!(".{SEG_EXT}"))?.parse().ok()
            })
            .collect();
        firsts.sort_unstable();
        let mut segs = VecDeque::new();
        let mut last_seq = committed;
        let mut cut = 0;
        let n = firsts.len();
        for (i, first) in firsts.into_iter().enumerate() {
            let path = dir.join(seg_name(first));
            let (len, max_seq, bad_tail) = scan(&path)?;
            last_seq = last_seq.max(max_seq);
            let mut len = len;
            if let Some((valid_len, bad)) = bad_tail
                && i + 1 == n
            {
                // The last segment ends with what a crash left half-written: cut it off.
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(valid_len)?;
                f.sync_all()?;
                tracing::warn!(segment = %path.display(), lines = bad, "cut a torn CDR queue tail");
                cut += bad;
                len = valid_len;
            }
            segs.push_back(Seg { first, len });
        }
        let next_seq = last_seq + 1;
        let file = match segs.back() {
            Some(seg) => {
                let f = OpenOptions::new()
                    .append(true)
                    .open(dir.join(seg_name(seg.first)))?;
                f.sync_all()?;
                f
            }
            None => {
                let f = create_segment(dir, next_seq)?;
                segs.push_back(Seg {
                    first: next_seq,
                    len: 0,
                });
                f
            }
        };
        let total_bytes = segs.iter().map(|s| s.len).sum();
        let inner = Inner {
            next_seq,
            segs,
            file: Arc::new(file),
            total_bytes,
            durable_upto: last_seq,
            committed,
            dropped: 0,
            stopping: false,
        };
        Ok((
            Self {
                dir: dir.to_owned(),
                queue_id,
                max_bytes,
                segment_bytes,
                inner: Mutex::new(inner),
                wake: Condvar::new(),
                _lock: lock,
            },
            cut,
        ))
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn queue_id(&self) -> &str {
        &self.queue_id
    }

    /// Appends a record (not yet fsynced). `Ok(false)`: dropped, the queue is full.
    pub(crate) fn push(&self, record: &Record) -> std::io::Result<bool> {
        let json = serde_json::to_string(record).map_err(std::io::Error::other)?;
        let mut inner = self.inner();
        let seq = inner.next_seq;
        let line = encode(seq, &json);
        let len = line.len() as u64;
        if inner.total_bytes + len > self.max_bytes {
            inner.dropped += 1;
            return Ok(false);
        }
        if let Err(e) = (&*inner.file).write_all(&line) {
            // A partial line is cut off at the next open (bad checksum or no newline);
            // seal this segment so that later lines do not follow the fragment.
            inner.dropped += 1;
            let _ = self.rotate(&mut inner);
            return Err(e);
        }
        inner.next_seq += 1;
        inner.total_bytes += len;
        if let Some(seg) = inner.segs.back_mut() {
            seg.len += len;
        }
        if inner
            .segs
            .back()
            .is_some_and(|s| s.len >= self.segment_bytes)
        {
            self.rotate(&mut inner)?;
        }
        drop(inner);
        self.wake.notify_all();
        Ok(true)
    }

    /// Seals the current segment (fsynced) and opens a new one at `next_seq`.
    fn rotate(&self, inner: &mut Inner) -> std::io::Result<()> {
        inner.file.sync_data()?;
        inner.durable_upto = inner.next_seq - 1;
        let f = create_segment(&self.dir, inner.next_seq)?;
        inner.file = Arc::new(f);
        inner.segs.push_back(Seg {
            first: inner.next_seq,
            len: 0,
        });
        Ok(())
    }

    /// Makes everything pushed so far durable; returns the highest durable sequence number.
    pub(crate) fn sync(&self) -> std::io::Result<u64> {
        let (file, upto) = {
            let inner = self.inner();
            if inner.durable_upto + 1 == inner.next_seq {
                return Ok(inner.durable_upto);
            }
            (Arc::clone(&inner.file), inner.next_seq - 1)
        };
        file.sync_data()?;
        let mut inner = self.inner();
        inner.durable_upto = inner.durable_upto.max(upto);
        Ok(inner.durable_upto)
    }

    /// Waits until something was pushed beyond `seen` or the queue is stopping, at most
    /// `timeout`.
    pub(crate) fn wait(&self, seen: u64, timeout: Duration) {
        let inner = self.inner();
        if inner.next_seq - 1 > seen || inner.stopping {
            return;
        }
        let _unused = self
            .wake
            .wait_timeout(inner, timeout)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Waits at most `timeout` (woken early by a push or a stop).
    pub(crate) fn pause(&self, timeout: Duration) {
        let inner = self.inner();
        let _unused = self
            .wake
            .wait_timeout(inner, timeout)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Tells the writer to stop (wakes it).
    pub(crate) fn set_stopping(&self) {
        self.inner().stopping = true;
        self.wake.notify_all();
    }

    pub(crate) fn stopping(&self) -> bool {
        self.inner().stopping
    }

    /// The highest sequence number pushed.
    pub(crate) fn last_pushed(&self) -> u64 {
        self.inner().next_seq - 1
    }

    pub(crate) fn figures(&self) -> QueueFigures {
        let inner = self.inner();
        QueueFigures {
            queued: inner.next_seq - 1 - inner.committed.min(inner.next_seq - 1),
            bytes: inner.total_bytes,
            dropped: inner.dropped,
        }
    }

    /// Where reading starts: the oldest segment.
    pub(crate) fn start_pos(&self) -> ReadPos {
        let inner = self.inner();
        ReadPos {
            seg: inner.segs.front().map_or(inner.next_seq, |s| s.first),
            offset: 0,
        }
    }

    /// The local `committed` hint.
    pub(crate) fn committed(&self) -> u64 {
        self.inner().committed
    }

    /// Up to `max` durable records after `pos` with a sequence number above `after`; the
    /// position after them; the number of corrupt lines skipped.
    pub(crate) fn read(
        &self,
        pos: ReadPos,
        after: u64,
        max: usize,
    ) -> std::io::Result<(Batch, ReadPos, u64)> {
        let (durable, segs): (u64, Vec<u64>) = {
            let inner = self.inner();
            (
                inner.durable_upto,
                inner.segs.iter().map(|s| s.first).collect(),
            )
        };
        let mut out = Vec::new();
        let mut corrupt = 0;
        let mut pos = pos;
        'segments: loop {
            if !segs.contains(&pos.seg) {
                match segs.iter().find(|&&f| f > pos.seg) {
                    Some(&f) => pos = ReadPos { seg: f, offset: 0 },
                    None => break,
                }
            }
            let path = self.dir.join(seg_name(pos.seg));
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    match segs.iter().find(|&&f| f > pos.seg) {
                        Some(&f) => {
                            pos = ReadPos { seg: f, offset: 0 };
                            continue;
                        }
                        None => break,
                    }
                }
                Err(e) => return Err(e),
            };
            file.seek(SeekFrom::Start(pos.offset))?;
            let mut reader = BufReader::new(file);
            let mut line = Vec::new();
            loop {
                if out.len() >= max {
                    break 'segments;
                }
                line.clear();
                let n = reader.read_until(b'\n', &mut line)?;
                if n == 0 || line.last() != Some(&b'\n') {
                    // End of this segment (or a line still being written).
                    break;
                }
                match decode(&line) {
                    Some((seq, _)) if seq > durable => break 'segments,
                    Some((seq, rec)) => {
                        if seq > after {
                            out.push((seq, rec));
                        }
                    }
                    None => {
                        corrupt += 1;
                        tracing::error!(segment = %path.display(), offset = pos.offset,
                            "skipped a corrupt CDR queue line");
                    }
                }
                pos.offset += n as u64;
            }
            match segs.iter().find(|&&f| f > pos.seg) {
                Some(&f) => pos = ReadPos { seg: f, offset: 0 },
                None => break,
            }
        }
        Ok((out, pos, corrupt))
    }

    /// Records up to `seq` are in the database: note it, delete the segments it covers, and
    /// start a fresh segment when the current one is entirely committed.
    pub(crate) fn mark_committed(&self, seq: u64) -> std::io::Result<()> {
        write_committed(&self.dir, seq)?;
        let mut inner = self.inner();
        inner.committed = inner.committed.max(seq);
        if inner.committed + 1 == inner.next_seq
            && inner.segs.back().is_some_and(|s| s.len > 0)
            && inner.durable_upto == inner.committed
        {
            self.rotate(&mut inner)?;
        }
        // A segment is covered when the next one starts at or below committed + 1.
        while inner.segs.len() > 1 && inner.segs[1].first <= inner.committed + 1 {
            let Some(seg) = inner.segs.pop_front() else {
                break;
            };
            match std::fs::remove_file(self.dir.join(seg_name(seg.first))) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    inner.segs.push_front(seg);
                    return Err(e);
                }
            }
            inner.total_bytes -= seg.len;
        }
        Ok(())
    }
}

/// Length of the valid prefix, its highest sequence number, and (when followed by bad
/// lines) `(valid length, bad lines)`.
type ScanResult = (u64, u64, Option<(u64, u64)>);

fn scan(path: &Path) -> std::io::Result<ScanResult> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let (mut valid_len, mut max_seq, mut bad) = (0u64, 0u64, 0u64);
    let mut offset = 0usize;
    while offset < data.len() {
        let end = data[offset..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |p| offset + p + 1);
        match decode(&data[offset..end]) {
            Some((seq, _)) => {
                max_seq = max_seq.max(seq);
                // A good line after bad ones: those are not a torn tail; keep them all
                // (the reader skips and counts them).
                valid_len = end as u64;
                bad = 0;
            }
            None => bad += 1,
        }
        offset = end;
    }
    let tail = (bad > 0).then_some((valid_len, bad));
    Ok((data.len() as u64, max_seq, tail))
}

fn create_segment(dir: &Path, first: u64) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(seg_name(first)))?;
    sync_dir(dir)?;
    Ok(f)
}

fn load_or_create_id(dir: &Path) -> std::io::Result<String> {
    let path = dir.join("queue_id");
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() == 32 => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_atomic(dir, "queue_id", &id)?;
    Ok(id)
}

fn read_committed(dir: &Path) -> std::io::Result<u64> {
    match std::fs::read_to_string(dir.join("committed")) {
        Ok(s) => Ok(s.trim().parse().unwrap_or(0)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

fn write_committed(dir: &Path, seq: u64) -> std::io::Result<()> {
    write_atomic(dir, "committed", &seq.to_string())
}

/// Writes `name` through a fsynced temporary file and a rename.
fn write_atomic(dir: &Path, name: &str, content: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{RegisterRecord, Value};

    fn rec(n: i64) -> Record {
        Record::Register(RegisterRecord {
            failed: false,
            row: vec![("expires".into(), Value::Int(n))],
            ua: None,
        })
    }

    fn n_of(r: &Record) -> i64 {
        match r {
            Record::Register(r) => match r.row[0].1 {
                Value::Int(n) => n,
                _ => -1,
            },
            Record::Cdr(_) => -1,
        }
    }

    #[test]
    fn lines_round_trip_and_detect_damage() {
        let line = encode(7, "{\"reg\":{\"failed\":true,\"row\":[],\"ua\":null}}");
        let (seq, _) = decode(&line).expect("valid");
        assert_eq!(seq, 7);
        assert!(decode(&line[..line.len() - 1]).is_none(), "no newline");
        let mut bad = line.clone();
        let i = bad.len() - 5;
        bad[i] ^= 1;
        assert!(decode(&bad).is_none(), "checksum");
    }

    #[test]
    fn push_read_commit_and_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let (q, _) = Queue::open(dir.path(), 1 << 20, 200).expect("open");
        for n in 1..=10 {
            assert!(q.push(&rec(n)).expect("push"));
        }
        assert_eq!(q.sync().expect("sync"), 10);
        let (batch, pos, corrupt) = q.read(q.start_pos(), 0, 4).expect("read");
        assert_eq!(corrupt, 0);
        assert_eq!(
            batch.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(n_of(&batch[3].1), 4);
        q.mark_committed(4).expect("commit");
        let (batch, _, _) = q.read(pos, 4, 100).expect("read");
        assert_eq!(batch.len(), 6);
        assert_eq!(q.figures().queued, 6);
        drop(q);
        // Reopen: the uncommitted records are still there; sequence numbers go on.
        let (q, _) = Queue::open(dir.path(), 1 << 20, 200).expect("reopen");
        assert_eq!(q.committed(), 4);
        let (batch, _, _) = q.read(q.start_pos(), q.committed(), 100).expect("read");
        assert_eq!(
            batch.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [5, 6, 7, 8, 9, 10]
        );
        assert!(q.push(&rec(11)).expect("push"));
        assert_eq!(q.last_pushed(), 11);
        q.sync().expect("sync");
        q.mark_committed(11).expect("commit");
        assert_eq!(q.figures().queued, 0);
        let segs = std::fs::read_dir(dir.path())
            .expect("ls")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            })
            .count();
        assert_eq!(segs, 1, "covered segments are deleted");
        drop(q);
        let (q, _) = Queue::open(dir.path(), 1 << 20, 200).expect("reopen");
        assert!(q.push(&rec(12)).expect("push"));
        assert_eq!(q.last_pushed(), 12, "sequence numbers never go back");
    }

    #[test]
    fn torn_tail_is_cut() {
        let dir = tempfile::tempdir().expect("tmp");
        let (q, _) = Queue::open(dir.path(), 1 << 20, 1 << 20).expect("open");
        for n in 1..=3 {
            q.push(&rec(n)).expect("push");
        }
        drop(q);
        let seg = dir.path().join(seg_name(1));
        let mut f = OpenOptions::new().append(true).open(&seg).expect("seg");
        f.write_all(b"00000000000000000004 0123").expect("torn");
        drop(f);
        let (q, cut) = Queue::open(dir.path(), 1 << 20, 1 << 20).expect("reopen");
        assert_eq!(cut, 1);
        let (batch, _, corrupt) = q.read(q.start_pos(), 0, 100).expect("read");
        assert_eq!((batch.len(), corrupt), (3, 0));
        q.push(&rec(4)).expect("push");
        q.sync().expect("sync");
        let (batch, _, _) = q.read(q.start_pos(), 0, 100).expect("read");
        assert_eq!(batch.len(), 4, "the new line follows the cut");
        assert_eq!(n_of(&batch[3].1), 4);
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let dir = tempfile::tempdir().expect("tmp");
        let (q, _) = Queue::open(dir.path(), 300, 1 << 20).expect("open");
        let mut kept = 0;
        for n in 1..=10 {
            if q.push(&rec(n)).expect("push") {
                kept += 1;
            }
        }
        assert!(kept > 0 && kept < 10, "{kept}");
        assert_eq!(q.figures().dropped, 10 - kept);
    }

    #[test]
    fn second_writer_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let (_q, _) = Queue::open(dir.path(), 1 << 20, 1 << 20).expect("open");
        let err = Queue::open(dir.path(), 1 << 20, 1 << 20).expect_err("locked");
        assert!(err.to_string().contains("in use"), "{err}");
    }
}
