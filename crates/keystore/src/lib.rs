//! voipsensor's database: where the manager key lives and where sensors find each other.
//!
//! Two backends behind one [`Store`] trait, sharing one test battery: SQLite, embedded (the
//! default: nothing to install or configure), and MySQL/MariaDB for several hosts. The tables
//! are the VoIPmonitor GUI's (`system`, `sensors`), created if missing, so a voipsensor can
//! share a database with a VoIPmonitor GUI:
//!
//! - `system(id, type, cdate, cdatetime, content)`: the row of type `manager_key` holds
//!   `{"key":"<base64>","iv":"<base64>"}`; the first row (lowest `id`) is the one in force;
//! - `sensors(id_sensor, name, host, port, …)`: how clients reach a sensor by its id.
//!
//! Calls block; async callers run them on a blocking thread. Every call has bounded waits
//! (connect, lock and query timeouts), so a dead database makes calls fail, never hang.

mod common;
mod key;
mod mysql_store;
mod sqlite_store;

pub use key::{ManagerKey, generate_manager_key};

use voipsensor_config::Database;

/// A sensor's row in `sensors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorRecord {
    /// `id_sensor`.
    pub id_sensor: u32,
    /// Display name.
    pub name: String,
    /// Host (IP or name) where its manager API listens.
    pub host: String,
    /// Its manager API port.
    pub port: u16,
}

/// Why a database call failed. Messages never contain key material or passwords.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("cannot open database {db}: {reason}")]
    Open {
        /// Which database (`sqlite /path` or `mysql user@host:port/db`), without the password.
        db: String,
        /// Why.
        reason: String,
    },
    /// A query failed.
    #[error("database {db}: {reason}")]
    Query {
        /// Which database.
        db: String,
        /// Why.
        reason: String,
    },
    /// The `manager_key` row is not `{"key":"…","iv":"…"}` with both members non-empty.
    #[error("database {db}: the manager_key row (system.id {id}) is malformed")]
    BadKeyRow {
        /// Which database.
        db: String,
        /// The row's id.
        id: i64,
    },
}

/// The operations voipsensor needs from its database.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// A description for messages: `sqlite /var/lib/voipsensor/voipsensor.db`,
    /// `mysql root@127.0.0.1:3306/voipmonitor` (never the password).
    fn describe(&self) -> String;

    /// The manager key in force: the first `manager_key` row, or `None` when there is none.
    fn manager_key(&self) -> Result<Option<ManagerKey>, StoreError>;

    /// Stores `key` unless a manager key already exists, and returns the key in force after
    /// the call (the existing one, or `key`). Two sensors racing on one database agree on the
    /// result.
    fn init_manager_key(&self, key: &ManagerKey) -> Result<ManagerKey, StoreError>;

    /// Replaces any manager key by `key`, atomically.
    fn replace_manager_key(&self, key: &ManagerKey) -> Result<(), StoreError>;

    /// Deletes every manager key row; `true` when there was one.
    fn delete_manager_key(&self) -> Result<bool, StoreError>;

    /// Records this sensor in `sensors`: inserts the row, or updates `host` and `port` of an
    /// existing one (its name, which a GUI may have set, is kept).
    fn upsert_sensor(&self, sensor: &SensorRecord) -> Result<(), StoreError>;

    /// A sensor's row by id.
    fn sensor(&self, id_sensor: u32) -> Result<Option<SensorRecord>, StoreError>;
}

/// Opens the configured database, creating the file (SQLite, mode 0600) or the database
/// (MySQL, when permitted) and the tables if missing.
///
/// A MySQL server that is down does not make this fail: the store connects on first use and
/// reconnects after errors, so a sensor can start (encrypted, serving) before its database.
///
/// Fails for SQLite when the file or its directory cannot be created or opened, and for MySQL
/// only when the configuration names no database.
pub fn open(db: &Database) -> Result<Box<dyn Store>, StoreError> {
    match db {
        Database::Sqlite { path } => Ok(Box::new(sqlite_store::SqliteStore::open(path)?)),
        Database::Mysql(cfg) => Ok(Box::new(mysql_store::MysqlStore::new(cfg)?)),
    }
}

/// How messages name `db` (what [`Store::describe`] returns for it): `sqlite <path>` or
/// `mysql <user>@<host>:<port>/<database>`, never the password.
pub fn describe(db: &Database) -> String {
    match db {
        Database::Sqlite { path } => sqlite_store::describe(path),
        Database::Mysql(cfg) => mysql_store::describe(cfg),
    }
}
