//! CDR and registration rows in the database (behaviour spec §2, §4.4), through a durable
//! on-disk queue.
//!
//! # Use
//!
//! ```no_run
//! # fn demo(db: &voipsensor_config::Database, cdr: voipsensor_calls::cdr::Cdr)
//! #     -> Result<(), voipsensor_cdr::Error> {
//! use voipsensor_cdr::{CdrWriter, Options};
//! let writer = CdrWriter::start(db, "/var/spool/voipmonitor/.cdrqueue".into(), Options::default())?;
//! writer.push_cdr(&cdr);            // never waits for the database
//! let _stats = writer.stats();      // queued, written, failed attempts, dropped, last write
//! writer.shutdown(std::time::Duration::from_secs(5)); // what is left stays on disk
//! # Ok(()) }
//! ```
//!
//! # Path of a record
//!
//! [`CdrWriter::push_cdr`] / [`CdrWriter::push_register`] map the record to column values
//! ([`map_cdr`], [`map_register`]) and append it, with the next sequence number, to the queue
//! directory (format in the `queue` module: JSON lines with sequence number and checksum, in
//! segment files). A writer thread makes the new lines durable (one fsync per group of
//! records), reads up to [`Options::batch_max`] of them and writes them in **one transaction**:
//! each `cdr` row, then its `cdr_next`, `cdr_rtp` and `cdr_proxy` rows with the new `ID`;
//! registrations into `register_state` / `register_failed`. Codebook ids (`cdr_sip_response`,
//! `cdr_ua`) are found or inserted in the same transaction and cached in memory once committed.
//!
//! # Exactly once
//!
//! Each queue directory has a random `queue_id`. The table `voipsensor_cdr_queue(id,
//! queue_id UNIQUE, id_sensor, last_seq, updated_at)` holds, per queue, the sequence number of
//! the last committed record; it is read (row locked) and updated **in the same transaction**
//! as the rows. Records with a sequence number ≤ `last_seq` are skipped, so a crash between
//! the commit and the queue's truncation inserts nothing twice: on the next start the queue is
//! replayed and the database filters what it already has. A record the database refuses for
//! its data (constraint, range, type: retrying cannot help) is written alone, then skipped,
//! logged and counted in [`Stats::rejected`]; any other error (server down, file unwritable,
//! lock timeout, missing column) keeps the records queued and is retried with exponential
//! backoff ([`Options::retry_min`] … [`Options::retry_max`]).
//!
//! The queue is bounded by [`Options::max_queue_bytes`]; beyond it new records are dropped and
//! counted ([`Stats::dropped`], with an error log).
//!
//! # Schema
//!
//! Tables are created with `CREATE TABLE IF NOT EXISTS` (an existing VoIPmonitor schema is
//! used as it is, partitioned or not): `cdr` with the full column list of §2.2 (without the
//! optional encapsulation/split-IPv6 and custom columns), `cdr_next`, `cdr_rtp`, `cdr_proxy`,
//! `cdr_sip_response`, `cdr_ua`, `register_state`, `register_failed`, and
//! `voipsensor_cdr_queue`. Tables we create are not partitioned (child tables carry
//! `calldate` anyway and a foreign key to `cdr(ID)`). MySQL tables are InnoDB, utf8mb4; the
//! session runs without strict mode, so a value an existing latin1 schema cannot hold is
//! converted rather than refused. Datetimes are written as `YYYY-MM-DD HH:MM:SS` in UTC, whole
//! seconds.
//!
//! IP columns are `int unsigned` holding the IPv4 address as a host-order integer. An IPv6
//! address (other than IPv4-mapped) has no such form: it is written as `NULL` in `cdr`,
//! `cdr_rtp` and `cdr_proxy`, and as 0 in the `NOT NULL` columns of `register_state` /
//! `register_failed`. (The reference's `ipv6 = yes` schema with `varbinary(16)` columns is not
//! supported.)

mod db;
mod mapping;
mod queue;
mod schema;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

pub use mapping::{
    CdrRecord, Record, RegisterRecord, Row, Value, datetime, ip_value, map_cdr, map_register,
    reverse_bytes,
};
use voipsensor_calls::cdr::{Cdr, RegisterRow};
use voipsensor_config::Database;

/// Every `cdr` column name (§2.2) in table order, `ID` first.
pub fn cdr_column_names() -> Vec<String> {
    std::iter::once("ID".to_owned())
        .chain(schema::cdr_columns().into_iter().map(|(n, _)| n))
        .collect()
}

/// Why the writer could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database settings are unusable.
    #[error("CDR database {db}: {reason}")]
    Database {
        /// Which database (never the password).
        db: String,
        /// Why.
        reason: String,
    },
    /// The queue directory cannot be used.
    #[error("CDR queue {dir}: {source}")]
    Queue {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Tuning.
#[derive(Debug, Clone)]
pub struct Options {
    /// `id_sensor`, stored with the queue's `last_seq` row.
    pub id_sensor: Option<u16>,
    /// Most records per transaction.
    pub batch_max: usize,
    /// Most bytes the queue directory holds; beyond, new records are dropped and counted.
    pub max_queue_bytes: u64,
    /// Size at which a queue segment file is closed and a new one started.
    pub segment_bytes: u64,
    /// First wait after a failed write.
    pub retry_min: Duration,
    /// Longest wait between attempts.
    pub retry_max: Duration,
    /// Test hook: after the first committed batch, the writer thread stops as if the process
    /// died there (the queue is neither truncated nor told about the commit).
    #[doc(hidden)]
    pub crash_after_commit: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            id_sensor: None,
            batch_max: 500,
            max_queue_bytes: 1 << 30,
            segment_bytes: 4 << 20,
            retry_min: Duration::from_millis(200),
            retry_max: Duration::from_secs(10),
            crash_after_commit: false,
        }
    }
}

/// The writer's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records on disk not yet committed.
    pub queued: u64,
    /// Bytes in the queue directory's segments.
    pub queued_bytes: u64,
    /// `cdr` rows written.
    pub written_cdrs: u64,
    /// `register_state` / `register_failed` rows written.
    pub written_registers: u64,
    /// Records found already in the database on replay (not inserted again).
    pub skipped_duplicates: u64,
    /// Failed database attempts (each retried later).
    pub failed_attempts: u64,
    /// Records dropped because the queue was full or could not be written.
    pub dropped: u64,
    /// Records the database refused for their data (skipped after logging).
    pub rejected: u64,
    /// Corrupt queue lines skipped or cut off.
    pub corrupt: u64,
    /// Time of the last committed batch (`storingCdrLastWriteAt`).
    pub last_write: Option<SystemTime>,
    /// The last database error, if the last attempt failed.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    written_cdrs: AtomicU64,
    written_registers: AtomicU64,
    skipped: AtomicU64,
    failed_attempts: AtomicU64,
    push_failed: AtomicU64,
    rejected: AtomicU64,
    corrupt: AtomicU64,
    last_write: Mutex<Option<SystemTime>>,
    last_error: Mutex<Option<String>>,
    /// When set, the writer gives up at this instant.
    deadline: Mutex<Option<Instant>>,
}

/// Writes CDR and registration rows; see the crate documentation.
#[derive(Debug)]
pub struct CdrWriter {
    queue: Arc<queue::Queue>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    db_desc: String,
}

impl CdrWriter {
    /// Opens the queue in `queue_dir` (created if missing; one writer per directory) and
    /// starts the writer thread. The database is not contacted here: an unreachable database
    /// only delays the rows.
    pub fn start(db: &Database, queue_dir: PathBuf, options: Options) -> Result<Self, Error> {
        let db_desc = db::describe(db);
        let backend = db::open(db).map_err(|reason| Error::Database {
            db: db_desc.clone(),
            reason,
        })?;
        let (queue, cut) = queue::Queue::open(
            &queue_dir,
            options.max_queue_bytes,
            options.segment_bytes.max(1),
        )
        .map_err(|source| Error::Queue {
            dir: queue_dir.clone(),
            source,
        })?;
        let queue = Arc::new(queue);
        let shared = Arc::new(Shared::default());
        shared.corrupt.store(cut, Ordering::Relaxed);
        let thread = {
            let (queue, shared, desc) = (Arc::clone(&queue), Arc::clone(&shared), db_desc.clone());
            std::thread::Builder::new()
                .name("cdr-writer".into())
                .spawn(move || run(backend, &queue, &shared, &options, &desc))
                .map_err(|source| Error::Queue {
                    dir: queue_dir,
                    source,
                })?
        };
        Ok(Self {
            queue,
            shared,
            thread: Some(thread),
            db_desc,
        })
    }

    /// Queues a call's rows. Never waits for the database; `false` when the record was
    /// dropped (queue full or unwritable: counted in [`Stats::dropped`]).
    pub fn push_cdr(&self, cdr: &Cdr) -> bool {
        self.push(&Record::Cdr(Box::new(map_cdr(cdr))))
    }

    /// Queues a registration row (see [`CdrWriter::push_cdr`]).
    pub fn push_register(&self, row: &RegisterRow) -> bool {
        self.push(&Record::Register(map_register(row)))
    }

    fn push(&self, record: &Record) -> bool {
        match self.queue.push(record) {
            Ok(true) => true,
            Ok(false) => {
                tracing::error!(db = %self.db_desc, "CDR queue full: record dropped");
                false
            }
            Err(e) => {
                self.shared.push_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "cannot append to the CDR queue: record dropped");
                false
            }
        }
    }

    /// The current figures.
    pub fn stats(&self) -> Stats {
        let f = self.queue.figures();
        let s = &self.shared;
        Stats {
            queued: f.queued,
            queued_bytes: f.bytes,
            written_cdrs: s.written_cdrs.load(Ordering::Relaxed),
            written_registers: s.written_registers.load(Ordering::Relaxed),
            skipped_duplicates: s.skipped.load(Ordering::Relaxed),
            failed_attempts: s.failed_attempts.load(Ordering::Relaxed),
            dropped: f.dropped + s.push_failed.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            corrupt: s.corrupt.load(Ordering::Relaxed),
            last_write: *s.last_write.lock().unwrap_or_else(PoisonError::into_inner),
            last_error: s
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Writes what the database accepts within `timeout`, then stops the thread; records not
    /// written stay on disk for the next start. A database call in flight at the deadline is
    /// waited for (its waits are bounded: about 10 s at most). Returns the final figures.
    pub fn shutdown(mut self, timeout: Duration) -> Stats {
        self.stop(Some(timeout));
        self.stats()
    }

    fn stop(&mut self, timeout: Option<Duration>) {
        if let Err(e) = self.queue.sync() {
            tracing::error!(error = %e, "cannot fsync the CDR queue");
        }
        *self
            .shared
            .deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            Some(Instant::now() + timeout.unwrap_or_default());
        self.queue.set_stopping();
        let thread = self.thread.take();
        if let Some(t) = thread
            && timeout.is_some()
        {
            let _ = t.join();
        }
    }
}

impl Drop for CdrWriter {
    /// Stops without waiting (what is queued stays on disk).
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop(None);
        }
    }
}

fn set_error(shared: &Shared, e: Option<String>) {
    *shared
        .last_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = e;
}

/// The writer thread.
fn run(
    mut backend: Box<dyn db::Backend>,
    queue: &queue::Queue,
    shared: &Shared,
    options: &Options,
    desc: &str,
) {
    let mut cache = db::Cache::new();
    let mut pos = queue.start_pos();
    let mut after = queue.committed();
    let mut pending: Vec<(u64, Record)> = Vec::new();
    let mut backoff = Duration::ZERO;
    let mut retry_at: Option<Instant> = None;
    let queue_id = queue.queue_id().to_owned();
    let mut seen = 0;
    loop {
        let deadline = *shared
            .deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if let Some(at) = retry_at
            && now < at
        {
            let until = deadline.map_or(at, |d| d.min(at));
            queue.pause(until - now);
            continue;
        }
        retry_at = None;
        if pending.is_empty() {
            let last = queue.last_pushed();
            if let Err(e) = queue.sync() {
                tracing::error!(error = %e, "cannot fsync the CDR queue");
            }
            match queue.read(pos, after, options.batch_max.max(1)) {
                Ok((batch, next, corrupt)) => {
                    shared.corrupt.fetch_add(corrupt, Ordering::Relaxed);
                    if batch.is_empty() {
                        pos = next;
                        if queue.stopping() {
                            break;
                        }
                        seen = seen.max(last);
                        queue.wait(seen, Duration::from_secs(1));
                        continue;
                    }
                    pending = batch;
                    pos = next;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the CDR queue");
                    retry_at = Some(Instant::now() + options.retry_max);
                    continue;
                }
            }
        }
        match write(
            &mut *backend,
            &mut cache,
            &queue_id,
            options,
            shared,
            &pending,
        ) {
            Ok(top) => {
                backoff = Duration::ZERO;
                set_error(shared, None);
                *shared
                    .last_write
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(SystemTime::now());
                if options.crash_after_commit {
                    return;
                }
                after = top;
                pending.clear();
                if let Err(e) = queue.mark_committed(top) {
                    tracing::error!(error = %e, "cannot truncate the CDR queue");
                }
            }
            Err(e) => {
                shared.failed_attempts.fetch_add(1, Ordering::Relaxed);
                backoff = if backoff.is_zero() {
                    options.retry_min
                } else {
                    (backoff * 2).min(options.retry_max)
                };
                tracing::warn!(db = %desc, error = %e.message, retry_in = ?backoff,
                    queued = queue.figures().queued, "cannot write CDRs; will retry");
                set_error(shared, Some(e.message));
                retry_at = Some(Instant::now() + backoff);
            }
        }
    }
}

/// Writes `batch`; a permanent (data) error makes each record go alone, and a record refused
/// alone is skipped. Returns the batch's last sequence number.
fn write(
    backend: &mut dyn db::Backend,
    cache: &mut db::Cache,
    queue_id: &str,
    options: &Options,
    shared: &Shared,
    batch: &[(u64, Record)],
) -> Result<u64, db::DbError> {
    let top = batch.last().map_or(0, |(s, _)| *s);
    let count = |r: db::BatchResult| {
        shared.written_cdrs.fetch_add(r.cdrs, Ordering::Relaxed);
        shared
            .written_registers
            .fetch_add(r.registers, Ordering::Relaxed);
        shared.skipped.fetch_add(r.skipped, Ordering::Relaxed);
    };
    match db::write_batch(backend, cache, queue_id, options.id_sensor, batch) {
        Ok(r) => {
            count(r);
            return Ok(top);
        }
        Err(e) if !e.permanent => return Err(e),
        Err(e) if batch.len() == 1 => {
            tracing::error!(seq = top, error = %e.message, "the database refuses a CDR queue record; skipped");
            db::skip_record(backend, queue_id, options.id_sensor, top)?;
            shared.rejected.fetch_add(1, Ordering::Relaxed);
            return Ok(top);
        }
        Err(_) => {}
    }
    for one in batch.chunks(1) {
        write(backend, cache, queue_id, options, shared, one)?;
    }
    Ok(top)
}
