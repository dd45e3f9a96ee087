//! The MySQL/MariaDB backend (pure Rust client: no libmysqlclient, no OpenSSL).
//!
//! Nothing happens at construction: the first call connects, creates the database (when
//! permitted) and the tables. Idle connections are kept for reuse (at most [`MAX_IDLE`]); a
//! connection that saw an SQL or I/O error is dropped, so the next call reconnects. Every wait
//! is bounded: TCP connect [`CONNECT_TIMEOUT`], each read or write [`IO_TIMEOUT`], locks less
//! than that. A pooled connection that turns out dead (server restarted, idle timeout) is
//! replaced once, transparently; a timeout is not retried, so a dead server costs one wait.
//!
//! Two sensors sharing the database agree on the manager key: check-then-insert runs under the
//! server-wide named lock [`KEY_LOCK`] (`GET_LOCK`), which needs no particular table engine.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use mysql::consts::CapabilityFlags;
use mysql::prelude::{FromValue, Queryable as _};
use mysql::{Conn, Opts, OptsBuilder, Row, TxOpts};
use voipsensor_config::{MysqlConfig, Secret};
use zeroize::Zeroizing;

use crate::common::{parse_key_row, scrub, sensor_from_row};
use crate::{ManagerKey, SensorRecord, Store, StoreError};

/// TCP connect timeout, per address.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Read and write timeout of every server round trip.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept for reuse.
const MAX_IDLE: usize = 4;
/// The named lock serialising manager key writers on one server.
pub(crate) const KEY_LOCK: &str = "voipsensor_manager_key";
/// Seconds `GET_LOCK` waits: below [`IO_TIMEOUT`], so the server answers "timed out" before
/// the client gives up on the connection.
const KEY_LOCK_WAIT_SECS: u64 = IO_TIMEOUT.as_secs() - 1;
/// Seconds InnoDB waits for a row lock (its default is 50): below [`IO_TIMEOUT`] too.
const ROW_LOCK_WAIT_SECS: u64 = IO_TIMEOUT.as_secs() - 1;

const CREATE_SYSTEM: &str = "CREATE TABLE IF NOT EXISTS `system` (\
    `id` INT AUTO_INCREMENT PRIMARY KEY, \
    `type` TEXT, \
    `cdate` DATE, \
    `cdatetime` DATETIME, \
    `content` TEXT\
    ) ENGINE=InnoDB";
const CREATE_SENSORS: &str = "CREATE TABLE IF NOT EXISTS `sensors` (\
    `id_sensor` INT UNSIGNED NOT NULL PRIMARY KEY, \
    `name` VARCHAR(256), \
    `host` VARCHAR(255), \
    `port` INT, \
    `timezone_name` VARCHAR(64), \
    `timezone_offset` INT, \
    `timezone_save_at` DATETIME\
    ) ENGINE=InnoDB";

const SELECT_FIRST_KEY: &str =
    "SELECT `id`, `content` FROM `system` WHERE `type` = 'manager_key' ORDER BY `id` LIMIT 1";
const INSERT_KEY: &str = "INSERT INTO `system` (`type`, `cdate`, `cdatetime`, `content`) \
     VALUES ('manager_key', CURRENT_DATE(), NOW(), ?)";
const DELETE_KEYS: &str = "DELETE FROM `system` WHERE `type` = 'manager_key'";

/// MySQL's "duplicate entry" error.
const ER_DUP_ENTRY: u16 = 1062;

/// A database on a MySQL or MariaDB server.
pub(crate) struct MysqlStore {
    desc: String,
    host: String,
    port: u16,
    username: String,
    password: Secret,
    database: String,
    idle: Mutex<Vec<Conn>>,
    /// The database and tables were created (or found) by a connection of this store.
    schema_ready: AtomicBool,
}

impl std::fmt::Debug for MysqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlStore")
            .field("db", &self.desc)
            .finish_non_exhaustive()
    }
}

/// Why an operation on a connection failed.
enum Failure {
    /// The driver or the server said no.
    Sql(mysql::Error),
    /// The first `manager_key` row (this `system.id`) is malformed.
    BadKeyRow(i64),
    /// Something else, explained.
    Other(String),
}

impl From<mysql::Error> for Failure {
    fn from(e: mysql::Error) -> Self {
        Self::Sql(e)
    }
}

impl Failure {
    /// The connection may be broken: try once more on a fresh one (unless it timed out).
    fn is_retryable(&self) -> bool {
        let timed_out = |e: &std::io::Error| {
            matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            )
        };
        match self {
            // A read that timed out means a hung server, not a stale connection: a new
            // connection would only wait again (the driver reports such a timeout either as an
            // I/O error or, mid-packet, as a codec error wrapping one).
            Self::Sql(mysql::Error::IoError(e)) => !timed_out(e),
            Self::Sql(mysql::Error::CodecError(
                mysql::mysql_common::proto::codec::error::PacketCodecError::Io(e),
            )) => !timed_out(e),
            Self::Sql(e) => e.is_connectivity_error(),
            Self::BadKeyRow(_) | Self::Other(_) => false,
        }
    }
}

/// `mysql user@host:port/db` (an IPv6 host in brackets).
pub(crate) fn describe(cfg: &MysqlConfig) -> String {
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

/// `name` quoted as an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Column `index` of `row`, converted; a missing column or a bad value is an error.
fn column<T: FromValue>(row: &mut Row, index: usize) -> Result<T, Failure> {
    match row.take_opt::<T, usize>(index) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(Failure::Other(format!("column {index}: {e}"))),
        None => Err(Failure::Other(format!(
            "column {index} missing from the result"
        ))),
    }
}

/// The first `manager_key` row's key.
fn first_key(conn: &mut impl mysql::prelude::Queryable) -> Result<Option<ManagerKey>, Failure> {
    let Some(mut row) = conn.query_first::<Row, _>(SELECT_FIRST_KEY)? else {
        return Ok(None);
    };
    let id: i64 = column(&mut row, 0)?;
    let content: Option<Zeroizing<Vec<u8>>> = column::<Option<Vec<u8>>>(&mut row, 1)
        .ok()
        .flatten()
        .map(Zeroizing::new);
    // The database name is filled in by the caller; only the id matters here.
    parse_key_row("", id, content)
        .map(Some)
        .map_err(|_| Failure::BadKeyRow(id))
}

/// Runs `op` holding [`KEY_LOCK`], and releases it whatever `op` did.
fn with_key_lock<T>(
    conn: &mut Conn,
    op: impl FnOnce(&mut Conn) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let got: Option<Option<i64>> = conn
        .exec_first("SELECT GET_LOCK(?, ?)", (KEY_LOCK, KEY_LOCK_WAIT_SECS))?
        .map(|mut row: Row| row.take::<Option<i64>, usize>(0).flatten());
    if got.flatten() != Some(1) {
        return Err(Failure::Other(format!(
            "timed out after {KEY_LOCK_WAIT_SECS} s waiting for the lock {KEY_LOCK}"
        )));
    }
    let result = op(conn);
    // A failed release is reported; the caller then drops the connection, and the server
    // releases the lock with the session.
    let released = conn.exec_drop("DO RELEASE_LOCK(?)", (KEY_LOCK,));
    let value = result?;
    released?;
    Ok(value)
}

impl MysqlStore {
    /// A store for `cfg`; connects on first use.
    pub(crate) fn new(cfg: &MysqlConfig) -> Result<Self, StoreError> {
        let desc = describe(cfg);
        if cfg.database.is_empty() {
            return Err(StoreError::Open {
                db: desc,
                reason: "no database name (mysqldb)".into(),
            });
        }
        Ok(Self {
            desc,
            host: cfg.host.clone(),
            port: cfg.port,
            username: cfg.username.clone(),
            password: cfg.password.clone(),
            database: cfg.database.clone(),
            idle: Mutex::new(Vec::new()),
            schema_ready: AtomicBool::new(false),
        })
    }

    fn opts(&self, addr: SocketAddr) -> Opts {
        let host = match addr.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let password = self.password.expose();
        OptsBuilder::new()
            .ip_or_hostname(Some(host))
            .tcp_port(addr.port())
            .user(Some(self.username.as_str()))
            .pass((!password.is_empty()).then_some(password))
            .db_name(None::<String>)
            .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
            .read_timeout(Some(IO_TIMEOUT))
            .write_timeout(Some(IO_TIMEOUT))
            // UPDATE reports matched rows, not changed rows: `upsert_sensor` relies on it.
            .additional_capabilities(CapabilityFlags::CLIENT_FOUND_ROWS)
            .into()
    }

    fn open_err(&self, reason: String) -> StoreError {
        StoreError::Open {
            db: self.desc.clone(),
            reason: scrub(reason, &[self.password.expose()]),
        }
    }

    fn fail(&self, failure: Failure, secrets: &[&str]) -> StoreError {
        let reason = match failure {
            Failure::BadKeyRow(id) => {
                return StoreError::BadKeyRow {
                    db: self.desc.clone(),
                    id,
                };
            }
            Failure::Sql(e) => e.to_string(),
            Failure::Other(reason) => reason,
        };
        let mut all = vec![self.password.expose()];
        all.extend_from_slice(secrets);
        StoreError::Query {
            db: self.desc.clone(),
            reason: scrub(reason, &all),
        }
    }

    /// A new connection, using the database (created with the tables on first use).
    fn connect(&self) -> Result<Conn, StoreError> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| self.open_err(format!("cannot resolve {}: {e}", self.host)))?
            .collect();
        // The driver stops at the first address that refuses; `localhost` may resolve to
        // ::1 first while the server listens on 127.0.0.1 only, so try each in turn.
        let started = Instant::now();
        let mut last_err = None;
        let mut conn = None;
        for addr in addrs {
            if last_err.is_some() && started.elapsed() >= CONNECT_TIMEOUT {
                break;
            }
            match Conn::new(self.opts(addr)) {
                Ok(c) => {
                    conn = Some(c);
                    break;
                }
                Err(e) if e.is_connectivity_error() => last_err = Some(e.to_string()),
                Err(e) => return Err(self.open_err(e.to_string())),
            }
        }
        let Some(mut conn) = conn else {
            let reason = last_err.unwrap_or_else(|| format!("{} has no address", self.host));
            return Err(self.open_err(reason));
        };
        self.prepare(&mut conn)
            .map_err(|e| self.open_err(e.to_string()))?;
        tracing::debug!(db = %self.desc, "connected");
        Ok(conn)
    }

    /// Session settings, then the database and tables (first connection only).
    fn prepare(&self, conn: &mut Conn) -> Result<(), mysql::Error> {
        if let Err(e) = conn.query_drop(format!(
            "SET SESSION innodb_lock_wait_timeout = {ROW_LOCK_WAIT_SECS}"
        )) {
            tracing::debug!(db = %self.desc, error = %e, "cannot shorten the row lock wait");
        }
        if self.schema_ready.load(Ordering::Acquire) {
            return conn.select_db(&self.database);
        }
        let created = conn.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            quote_ident(&self.database)
        ));
        match (created, conn.select_db(&self.database)) {
            (_, Ok(())) => {}
            // The database is missing and could not be created: that is the error to report.
            (Err(e), Err(_)) | (Ok(()), Err(e)) => return Err(e),
        }
        for (table, create) in [("system", CREATE_SYSTEM), ("sensors", CREATE_SENSORS)] {
            if let Err(e) = conn.query_drop(create) {
                // Without the CREATE privilege, an existing table is fine.
                let probe = format!("SELECT 1 FROM {} LIMIT 0", quote_ident(table));
                if conn.query_drop(probe).is_err() {
                    return Err(e);
                }
                tracing::debug!(db = %self.desc, table, error = %e, "cannot create; it exists");
            }
        }
        self.schema_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Runs `op` on an idle connection or a new one; see the module doc for the retry rule.
    fn with_conn<T>(
        &self,
        secrets: &[&str],
        mut op: impl FnMut(&mut Conn) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let reused = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(mut conn) = reused {
            match op(&mut conn) {
                Ok(v) => {
                    self.put_back(conn);
                    return Ok(v);
                }
                Err(f) if f.is_retryable() => {
                    tracing::debug!(db = %self.desc, "idle connection lost; reconnecting");
                }
                Err(f) => return Err(self.finish_failed(conn, f, secrets)),
            }
        }
        let mut conn = self.connect()?;
        match op(&mut conn) {
            Ok(v) => {
                self.put_back(conn);
                Ok(v)
            }
            Err(f) => Err(self.finish_failed(conn, f, secrets)),
        }
    }

    /// Keeps a connection that is still good after a failed operation (a malformed row is not
    /// the connection's fault), drops it otherwise.
    fn finish_failed(&self, conn: Conn, failure: Failure, secrets: &[&str]) -> StoreError {
        if matches!(failure, Failure::BadKeyRow(_)) {
            self.put_back(conn);
        }
        self.fail(failure, secrets)
    }

    fn put_back(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

impl Store for MysqlStore {
    fn describe(&self) -> String {
        self.desc.clone()
    }

    fn manager_key(&self) -> Result<Option<ManagerKey>, StoreError> {
        self.with_conn(&[], first_key)
    }

    fn init_manager_key(&self, key: &ManagerKey) -> Result<ManagerKey, StoreError> {
        let content = key.to_json();
        self.with_conn(&[key.key(), key.iv()], |conn| {
            with_key_lock(conn, |conn| {
                if let Some(existing) = first_key(conn)? {
                    return Ok(existing);
                }
                conn.exec_drop(INSERT_KEY, (content.as_str(),))?;
                first_key(conn)?.ok_or_else(|| {
                    Failure::Other("the manager_key row vanished right after its insertion".into())
                })
            })
        })
    }

    fn replace_manager_key(&self, key: &ManagerKey) -> Result<(), StoreError> {
        let content = key.to_json();
        self.with_conn(&[key.key(), key.iv()], |conn| {
            with_key_lock(conn, |conn| {
                let mut tx = conn.start_transaction(TxOpts::default())?;
                tx.query_drop(DELETE_KEYS)?;
                tx.exec_drop(INSERT_KEY, (content.as_str(),))?;
                Ok(tx.commit()?)
            })
        })
    }

    fn delete_manager_key(&self) -> Result<bool, StoreError> {
        self.with_conn(&[], |conn| {
            conn.query_drop(DELETE_KEYS)?;
            Ok(conn.affected_rows() > 0)
        })
    }

    fn upsert_sensor(&self, sensor: &SensorRecord) -> Result<(), StoreError> {
        const UPDATE: &str = "UPDATE `sensors` SET `host` = ?, `port` = ? WHERE `id_sensor` = ?";
        const INSERT: &str =
            "INSERT INTO `sensors` (`id_sensor`, `name`, `host`, `port`) VALUES (?, ?, ?, ?)";
        let update = (sensor.host.as_str(), sensor.port, sensor.id_sensor);
        self.with_conn(&[], |conn| {
            // Update, then insert when no row matched (CLIENT_FOUND_ROWS: a matched row counts
            // even when unchanged). Unlike `ON DUPLICATE KEY`, this works on a GUI-made table
            // whose `id_sensor` carries no unique key.
            conn.exec_drop(UPDATE, update)?;
            if conn.affected_rows() > 0 {
                return Ok(());
            }
            let insert = (
                sensor.id_sensor,
                sensor.name.as_str(),
                sensor.host.as_str(),
                sensor.port,
            );
            match conn.exec_drop(INSERT, insert) {
                // Another writer inserted it meanwhile.
                Err(mysql::Error::MySqlError(e)) if e.code == ER_DUP_ENTRY => {
                    Ok(conn.exec_drop(UPDATE, update)?)
                }
                other => Ok(other?),
            }
        })
    }

    fn sensor(&self, id_sensor: u32) -> Result<Option<SensorRecord>, StoreError> {
        let row = self.with_conn(&[], |conn| {
            let Some(mut row) = conn.exec_first::<Row, _, _>(
                "SELECT `name`, `host`, `port` FROM `sensors` WHERE `id_sensor` = ? LIMIT 1",
                (id_sensor,),
            )?
            else {
                return Ok(None);
            };
            let name: Option<String> = column(&mut row, 0)?;
            let host: Option<String> = column(&mut row, 1)?;
            let port: Option<i64> = column(&mut row, 2)?;
            Ok(Some((name, host, port)))
        })?;
        row.map(|(name, host, port)| sensor_from_row(&self.desc, id_sensor, name, host, port))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(host: &str) -> MysqlConfig {
        MysqlConfig {
            host: host.into(),
            port: 3307,
            username: "vs".into(),
            password: Secret::new("pw-unit-x9"),
            database: "voipmonitor".into(),
        }
    }

    #[test]
    fn describe_has_no_password() {
        assert_eq!(
            describe(&cfg("db.example")),
            "mysql vs@db.example:3307/voipmonitor"
        );
        assert_eq!(describe(&cfg("::1")), "mysql vs@[::1]:3307/voipmonitor");
        let store = MysqlStore::new(&cfg("db.example")).expect("no connection needed");
        assert!(!format!("{store:?}").contains("pw-unit-x9"));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("voip`monitor"), "`voip``monitor`");
    }

    #[test]
    fn empty_database_name_is_refused() {
        let mut c = cfg("h");
        c.database.clear();
        let err = MysqlStore::new(&c).expect_err("no database");
        assert!(matches!(err, StoreError::Open { .. }), "{err}");
    }

    #[test]
    fn lock_waits_are_below_the_io_timeout() {
        assert!(Duration::from_secs(KEY_LOCK_WAIT_SECS) < IO_TIMEOUT);
        assert!(Duration::from_secs(ROW_LOCK_WAIT_SECS) < IO_TIMEOUT);
        assert!(IO_TIMEOUT <= crate::common::LOCK_WAIT);
    }
}
