//! The two backends and the batch logic they share.
//!
//! A batch is one transaction: read this queue's `last_seq` (locking its row), insert every
//! record with a higher sequence number (each `cdr` row, then its children with the new ID),
//! store the batch's last sequence number, commit. Codebook ids found or created inside the
//! transaction enter the in-memory cache only after the commit.

use std::collections::HashMap;
use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable as _;
use mysql::{Conn, OptsBuilder, TxOpts};
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior};
use voipsensor_config::{Database, MysqlConfig, Secret};

use crate::mapping::{Record, Value};
use crate::schema::{self, Dialect, QUEUE_TABLE, q};

/// TCP connect timeout, per address (as the keystore).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Read and write timeout of every server round trip (as the keystore).
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a busy SQLite database or an InnoDB row lock.
const LOCK_WAIT: Duration = Duration::from_secs(4);

/// A failed database operation.
#[derive(Debug, Clone)]
pub(crate) struct DbError {
    /// The record's data was refused (constraint, type, range): retrying cannot help.
    pub(crate) permanent: bool,
    pub(crate) message: String,
}

impl DbError {
    fn transient(message: impl Into<String>) -> Self {
        Self {
            permanent: false,
            message: message.into(),
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let permanent = matches!(
            e.sqlite_error_code(),
            Some(C::ConstraintViolation | C::TypeMismatch | C::TooBig)
        );
        Self {
            permanent,
            message: e.to_string(),
        }
    }
}

impl From<mysql::Error> for DbError {
    fn from(e: mysql::Error) -> Self {
        // Data errors: NULL in NOT NULL, duplicate, out of range, truncated, bad datetime,
        // no default, bad string value, too long, foreign key.
        let permanent = matches!(&e, mysql::Error::MySqlError(m)
            if matches!(m.code, 1048 | 1062 | 1264 | 1265 | 1292 | 1364 | 1366 | 1406 | 1452));
        Self {
            permanent,
            message: e.to_string(),
        }
    }
}

/// The codebooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Book {
    SipResponse,
    Ua,
}

impl Book {
    fn table_col(self) -> (&'static str, &'static str) {
        match self {
            Self::SipResponse => ("cdr_sip_response", "lastSIPresponse"),
            Self::Ua => ("cdr_ua", "ua"),
        }
    }
}

/// Operations inside one transaction.
pub(crate) trait Tx {
    /// Inserts a row; returns the new auto-increment id (0 for a table without one).
    fn insert(&mut self, table: &str, cols: &[&str], vals: Vec<Value>) -> Result<u64, DbError>;
    /// The id of `text` in `book`, inserted when missing.
    fn lookup(&mut self, book: Book, text: &str) -> Result<u64, DbError>;
    /// This queue's `last_seq` (row locked until the end of the transaction).
    fn last_seq(&mut self, queue_id: &str) -> Result<Option<u64>, DbError>;
    /// Stores `last_seq`.
    fn set_last_seq(
        &mut self,
        queue_id: &str,
        id_sensor: Option<u16>,
        seq: u64,
        exists: bool,
    ) -> Result<(), DbError>;
}

/// A database: runs transactions.
pub(crate) trait Backend: Send {
    fn transaction(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DbError>,
    ) -> Result<(), DbError>;
}

/// What a committed batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchResult {
    pub(crate) cdrs: u64,
    pub(crate) registers: u64,
    /// Records already in the database (sequence number ≤ `last_seq`): not inserted again.
    pub(crate) skipped: u64,
}

/// Codebook ids known to be committed.
pub(crate) type Cache = HashMap<(Book, String), u64>;

fn resolve(
    tx: &mut dyn Tx,
    cache: &Cache,
    pending: &mut Cache,
    book: Book,
    text: Option<&str>,
) -> Result<Value, DbError> {
    let Some(text) = text else {
        return Ok(Value::Null);
    };
    let key = (book, text.to_owned());
    if let Some(id) = cache.get(&key).or_else(|| pending.get(&key)) {
        return Ok(Value::UInt(*id));
    }
    let id = tx.lookup(book, text)?;
    pending.insert(key, id);
    Ok(Value::UInt(id))
}

fn insert_row(
    tx: &mut dyn Tx,
    table: &str,
    head: &[(&str, Value)],
    row: &[(String, Value)],
) -> Result<u64, DbError> {
    let mut cols: Vec<&str> = head.iter().map(|(c, _)| *c).collect();
    cols.extend(row.iter().map(|(c, _)| c.as_str()));
    let mut vals: Vec<Value> = head.iter().map(|(_, v)| v.clone()).collect();
    vals.extend(row.iter().map(|(_, v)| v.clone()));
    tx.insert(table, &cols, vals)
}

fn write_record(
    tx: &mut dyn Tx,
    cache: &Cache,
    pending: &mut Cache,
    rec: &Record,
) -> Result<(), DbError> {
    match rec {
        Record::Cdr(c) => {
            let resp = resolve(
                tx,
                cache,
                pending,
                Book::SipResponse,
                Some(&c.last_sip_response),
            )?;
            let a = resolve(tx, cache, pending, Book::Ua, c.a_ua.as_deref())?;
            let b = resolve(tx, cache, pending, Book::Ua, c.b_ua.as_deref())?;
            let mut row = c.cdr.clone();
            row.push(("lastSIPresponse_id".into(), resp));
            row.push(("a_ua_id".into(), a));
            row.push(("b_ua_id".into(), b));
            let id = insert_row(tx, "cdr", &[], &row)?;
            if id == 0 {
                return Err(DbError::transient("the cdr insert returned no ID"));
            }
            let head = [("cdr_ID", Value::UInt(id))];
            insert_row(tx, "cdr_next", &head, &c.next)?;
            for r in &c.rtp {
                insert_row(tx, "cdr_rtp", &head, r)?;
            }
            for r in &c.proxies {
                insert_row(tx, "cdr_proxy", &head, r)?;
            }
        }
        Record::Register(r) => {
            let ua = resolve(tx, cache, pending, Book::Ua, r.ua.as_deref())?;
            let table = if r.failed {
                "register_failed"
            } else {
                "register_state"
            };
            insert_row(tx, table, &[("ua_id", ua)], &r.row)?;
        }
    }
    Ok(())
}

/// Writes `batch` (ascending sequence numbers) in one transaction, exactly once.
pub(crate) fn write_batch(
    db: &mut dyn Backend,
    cache: &mut Cache,
    queue_id: &str,
    id_sensor: Option<u16>,
    batch: &[(u64, Record)],
) -> Result<BatchResult, DbError> {
    let Some(top) = batch.last().map(|(s, _)| *s) else {
        return Ok(BatchResult::default());
    };
    let mut pending = Cache::new();
    let mut result = BatchResult::default();
    db.transaction(&mut |tx| {
        pending.clear();
        result = BatchResult::default();
        let last = tx.last_seq(queue_id)?;
        for (seq, rec) in batch {
            if last.is_some_and(|l| *seq <= l) {
                result.skipped += 1;
                continue;
            }
            write_record(tx, cache, &mut pending, rec)?;
            match rec {
                Record::Cdr(_) => result.cdrs += 1,
                Record::Register(_) => result.registers += 1,
            }
        }
        if last.is_none_or(|l| top > l) {
            tx.set_last_seq(queue_id, id_sensor, top, last.is_some())?;
        }
        Ok(())
    })?;
    cache.extend(pending);
    Ok(result)
}

/// Marks `seq` as done without inserting it (a record the database refuses).
pub(crate) fn skip_record(
    db: &mut dyn Backend,
    queue_id: &str,
    id_sensor: Option<u16>,
    seq: u64,
) -> Result<(), DbError> {
    db.transaction(&mut |tx| {
        let last = tx.last_seq(queue_id)?;
        if last.is_none_or(|l| seq > l) {
            tx.set_last_seq(queue_id, id_sensor, seq, last.is_some())?;
        }
        Ok(())
    })
}

fn now_datetime() -> String {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    crate::mapping::datetime(us)
}

fn insert_sql(table: &str, cols: &[&str], placeholder: impl Fn(usize) -> String) -> String {
    let names: Vec<String> = cols.iter().map(|c| q(c)).collect();
    let marks: Vec<String> = (1..=cols.len()).map(placeholder).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        q(table),
        names.join(", "),
        marks.join(", ")
    )
}

/// Opens the backend for `db` (nothing is connected yet).
pub(crate) fn open(db: &Database) -> Result<Box<dyn Backend>, String> {
    match db {
        Database::Sqlite { path } => Ok(Box::new(Sqlite {
            path: path.clone(),
            conn: None,
        })),
        Database::Mysql(cfg) => {
            if cfg.database.is_empty() {
                return Err("no database name (mysqldb)".into());
            }
            Ok(Box::new(Mysql {
                cfg: cfg.clone(),
                conn: None,
            }))
        }
    }
}

/// `sqlite <path>` / `mysql user@host:port/db`, never the password.
pub(crate) fn describe(db: &Database) -> String {
    match db {
        Database::Sqlite { path } => format!("sqlite {}", path.display()),
        Database::Mysql(cfg) => {
            let host = if cfg.host.contains(':') {
                format!("[{}]", cfg.host)
            } else {
                cfg.host.clone()
            };
            format!(
                "mysql {}@{host}:{}/{}",
                cfg.username, cfg.port, cfg.database
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite

struct Sqlite {
    path: PathBuf,
    conn: Option<Connection>,
}

/// Creates the parent directory (0700) and the file (0600) when missing, as the keystore
/// does: the file also holds the manager key.
fn prepare_file(path: &Path) -> Result<(), String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| format!("cannot create directory {}: {e}", parent.display()))?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file
            .set_permissions(Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot set the mode of {}: {e}", path.display())),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

impl Sqlite {
    fn connect(&mut self) -> Result<&mut Connection, DbError> {
        if self.conn.is_none() {
            prepare_file(&self.path).map_err(DbError::transient)?;
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(&self.path, flags)
                .map_err(|e| DbError::transient(e.to_string()))?;
            conn.busy_timeout(LOCK_WAIT)
                .map_err(|e| DbError::transient(e.to_string()))?;
            let ddl = schema::ddl(Dialect::Sqlite).join(";\n");
            conn.execute_batch(&ddl)
                .map_err(|e| DbError::transient(e.to_string()))?;
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| DbError::transient("no connection"))
    }
}

struct SqliteTx<'a>(&'a rusqlite::Transaction<'a>);

fn sqlite_value(v: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Null => V::Null,
        Value::Int(i) => V::Integer(i),
        // SQLite has no unsigned type: the bits are kept.
        Value::UInt(u) => V::Integer(i64::from_ne_bytes(u.to_ne_bytes())),
        Value::Float(f) => V::Real(f),
        Value::Text(t) => V::Text(t),
    }
}

fn u64_of(i: i64) -> u64 {
    u64::from_ne_bytes(i.to_ne_bytes())
}

impl Tx for SqliteTx<'_> {
    fn insert(&mut self, table: &str, cols: &[&str], vals: Vec<Value>) -> Result<u64, DbError> {
        let sql = insert_sql(table, cols, |i| format!("?{i}"));
        let mut stmt = self.0.prepare_cached(&sql)?;
        let vals: Vec<rusqlite::types::Value> = vals.into_iter().map(sqlite_value).collect();
        stmt.execute(rusqlite::params_from_iter(vals))?;
        Ok(u64_of(self.0.last_insert_rowid()))
    }

    fn lookup(&mut self, book: Book, text: &str) -> Result<u64, DbError> {
        let (table, col) = book.table_col();
        let found: Option<i64> = self
            .0
            .prepare_cached(&format!(
                "SELECT `id` FROM {} WHERE {} = ?1 ORDER BY `id` LIMIT 1",
                q(table),
                q(col)
            ))?
            .query_row([text], |r| r.get(0))
            .optional()?;
        if let Some(id) = found {
            return Ok(u64_of(id));
        }
        self.insert(table, &[col], vec![Value::Text(text.to_owned())])
    }

    fn last_seq(&mut self, queue_id: &str) -> Result<Option<u64>, DbError> {
        let v: Option<i64> = self
            .0
            .prepare_cached(&format!(
                "SELECT `last_seq` FROM {} WHERE `queue_id` = ?1",
                q(QUEUE_TABLE)
            ))?
            .query_row([queue_id], |r| r.get(0))
            .optional()?;
        Ok(v.map(u64_of))
    }

    fn set_last_seq(
        &mut self,
        queue_id: &str,
        id_sensor: Option<u16>,
        seq: u64,
        exists: bool,
    ) -> Result<(), DbError> {
        let seq = i64::from_ne_bytes(seq.to_ne_bytes());
        let sql = if exists {
            format!(
                "UPDATE {} SET `last_seq` = ?1, `id_sensor` = ?2, `updated_at` = ?3 \
                 WHERE `queue_id` = ?4",
                q(QUEUE_TABLE)
            )
        } else {
            format!(
                "INSERT INTO {} (`last_seq`, `id_sensor`, `updated_at`, `queue_id`) \
                 VALUES (?1, ?2, ?3, ?4)",
                q(QUEUE_TABLE)
            )
        };
        self.0.prepare_cached(&sql)?.execute(rusqlite::params![
            seq,
            id_sensor,
            now_datetime(),
            queue_id
        ])?;
        Ok(())
    }
}

impl Backend for Sqlite {
    fn transaction(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let result: Result<(), DbError> = (|| {
            let conn = self.connect()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            f(&mut SqliteTx(&tx))?;
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = &result
            && !e.permanent
        {
            // Reopen next time: the file may have moved, been replaced or become writable.
            self.conn = None;
        }
        result
    }
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB

struct Mysql {
    cfg: MysqlConfig,
    conn: Option<Conn>,
}

fn opts(addr: SocketAddr, user: &str, password: &Secret) -> OptsBuilder {
    let host = match addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let password = password.expose();
    OptsBuilder::new()
        .ip_or_hostname(Some(host))
        .tcp_port(addr.port())
        .user(Some(user))
        .pass((!password.is_empty()).then_some(password))
        .db_name(None::<String>)
        .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
        .read_timeout(Some(IO_TIMEOUT))
        .write_timeout(Some(IO_TIMEOUT))
}

fn scrub(msg: String, password: &Secret) -> String {
    let p = password.expose();
    if p.is_empty() {
        msg
    } else {
        msg.replace(p, "<redacted>")
    }
}

impl Mysql {
    fn connect(&mut self) -> Result<&mut Conn, DbError> {
        if self.conn.is_none() {
            let conn = self.new_conn()?;
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| DbError::transient("no connection"))
    }

    fn new_conn(&self) -> Result<Conn, DbError> {
        let cfg = &self.cfg;
        let err = |m: String| DbError::transient(scrub(m, &cfg.password));
        let addrs: Vec<SocketAddr> = (cfg.host.as_str(), cfg.port)
            .to_socket_addrs()
            .map_err(|e| err(format!("cannot resolve {}: {e}", cfg.host)))?
            .collect();
        let started = Instant::now();
        let mut last = None;
        let mut conn = None;
        for addr in addrs {
            if last.is_some() && started.elapsed() >= CONNECT_TIMEOUT {
                break;
            }
            match Conn::new(opts(addr, &cfg.username, &cfg.password)) {
                Ok(c) => {
                    conn = Some(c);
                    break;
                }
                Err(e) => last = Some(e.to_string()),
            }
        }
        let Some(mut conn) = conn else {
            return Err(err(
                last.unwrap_or_else(|| format!("{} has no address", cfg.host))
            ));
        };
        // Bounded lock waits; no strict mode (an existing latin1 schema gets `?` for what it
        // cannot hold instead of refusing the row, as the reference's inserts).
        for set in [
            format!(
                "SET SESSION innodb_lock_wait_timeout = {}",
                LOCK_WAIT.as_secs()
            ),
            "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'".to_owned(),
        ] {
            if let Err(e) = conn.query_drop(&set) {
                tracing::debug!(error = %e, "{set} failed");
            }
        }
        let db = q(&cfg.database);
        let created = conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {db}"));
        if let Err(e) = conn.select_db(&cfg.database) {
            let e = created.err().unwrap_or(e);
            return Err(err(e.to_string()));
        }
        for ddl in schema::ddl(Dialect::Mysql) {
            if let Err(e) = conn.query_drop(&ddl) {
                // Without the CREATE privilege, an existing table is fine.
                let table = ddl.split('`').nth(1).unwrap_or_default();
                if conn
                    .query_drop(format!("SELECT 1 FROM {} LIMIT 0", q(table)))
                    .is_err()
                {
                    return Err(err(e.to_string()));
                }
            }
        }
        Ok(conn)
    }
}

struct MysqlTx<'a, 'c>(&'a mut mysql::Transaction<'c>);

fn mysql_value(v: Value) -> mysql::Value {
    match v {
        Value::Null => mysql::Value::NULL,
        Value::Int(i) => mysql::Value::Int(i),
        Value::UInt(u) => mysql::Value::UInt(u),
        Value::Float(f) => mysql::Value::Double(f),
        Value::Text(t) => mysql::Value::Bytes(t.into_bytes()),
    }
}

impl Tx for MysqlTx<'_, '_> {
    fn insert(&mut self, table: &str, cols: &[&str], vals: Vec<Value>) -> Result<u64, DbError> {
        let sql = insert_sql(table, cols, |_| "?".to_owned());
        let vals: Vec<mysql::Value> = vals.into_iter().map(mysql_value).collect();
        self.0.exec_drop(sql, mysql::Params::Positional(vals))?;
        Ok(self.0.last_insert_id().unwrap_or(0))
    }

    fn lookup(&mut self, book: Book, text: &str) -> Result<u64, DbError> {
        let (table, col) = book.table_col();
        // Returns the existing row's id on a duplicate (the reference's UNIQUE key).
        let sql = format!(
            "INSERT INTO {} ({}) VALUES (?) ON DUPLICATE KEY UPDATE `id` = LAST_INSERT_ID(`id`)",
            q(table),
            q(col)
        );
        self.0.exec_drop(sql, (text,))?;
        self.0
            .last_insert_id()
            .ok_or_else(|| DbError::transient(format!("no insert id from {table}")))
    }

    fn last_seq(&mut self, queue_id: &str) -> Result<Option<u64>, DbError> {
        let sql = format!(
            "SELECT `last_seq` FROM {} WHERE `queue_id` = ? FOR UPDATE",
            q(QUEUE_TABLE)
        );
        Ok(self.0.exec_first::<u64, _, _>(sql, (queue_id,))?)
    }

    fn set_last_seq(
        &mut self,
        queue_id: &str,
        id_sensor: Option<u16>,
        seq: u64,
        exists: bool,
    ) -> Result<(), DbError> {
        let sql = if exists {
            format!(
                "UPDATE {} SET `last_seq` = ?, `id_sensor` = ?, `updated_at` = ? \
                 WHERE `queue_id` = ?",
                q(QUEUE_TABLE)
            )
        } else {
            format!(
                "INSERT INTO {} (`last_seq`, `id_sensor`, `updated_at`, `queue_id`) \
                 VALUES (?, ?, ?, ?)",
                q(QUEUE_TABLE)
            )
        };
        self.0
            .exec_drop(sql, (seq, id_sensor, now_datetime(), queue_id))?;
        Ok(())
    }
}

impl Backend for Mysql {
    fn transaction(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let password = self.cfg.password.clone();
        let result: Result<(), DbError> = (|| {
            let conn = self.connect()?;
            let mut tx = conn.start_transaction(TxOpts::default())?;
            f(&mut MysqlTx(&mut tx))?;
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = &result
            && !e.permanent
        {
            // A fresh connection next time (the server may have restarted).
            self.conn = None;
        }
        result.map_err(|mut e: DbError| {
            e.message = scrub(e.message, &password);
            e
        })
    }
}
