//! The SQLite backend: one file, private to its owner, one connection behind a mutex.
//!
//! Two processes may share the file: writes run in `BEGIN IMMEDIATE` transactions (the write
//! lock is taken before the first read, so check-then-insert cannot interleave) and a busy
//! database is waited for at most [`LOCK_WAIT`].

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior};
use zeroize::Zeroizing;

use crate::common::{LOCK_WAIT, parse_key_row, scrub, sensor_from_row};
use crate::{ManagerKey, SensorRecord, Store, StoreError};

/// The tables, as VoIPmonitor's sniffer creates them, in SQLite's words.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS `system` (
        `id` INTEGER PRIMARY KEY AUTOINCREMENT,
        `type` TEXT,
        `cdate` DATE,
        `cdatetime` DATETIME,
        `content` TEXT
    );
    CREATE TABLE IF NOT EXISTS `sensors` (
        `id_sensor` INTEGER NOT NULL PRIMARY KEY,
        `name` VARCHAR(256),
        `host` VARCHAR(255),
        `port` INTEGER,
        `timezone_name` VARCHAR(64),
        `timezone_offset` INTEGER,
        `timezone_save_at` DATETIME
    );";

const SELECT_FIRST_KEY: &str =
    "SELECT `id`, `content` FROM `system` WHERE `type` = 'manager_key' ORDER BY `id` LIMIT 1";
const INSERT_KEY: &str = "INSERT INTO `system` (`type`, `cdate`, `cdatetime`, `content`) \
     VALUES ('manager_key', date('now'), datetime('now'), ?1)";
const DELETE_KEYS: &str = "DELETE FROM `system` WHERE `type` = 'manager_key'";

/// A SQLite database file.
pub(crate) struct SqliteStore {
    desc: String,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("db", &self.desc)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and its tables.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let desc = describe(path);
        let open_err = |reason: String| StoreError::Open {
            db: desc.clone(),
            reason,
        };
        prepare_file(path).map_err(open_err)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(LOCK_WAIT)
            .map_err(|e| open_err(e.to_string()))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Self {
            desc,
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held cannot leave a transaction open (dropping a
        // rusqlite `Transaction` rolls it back), so the connection is still usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn query_err(&self, e: &rusqlite::Error, secrets: &[&str]) -> StoreError {
        StoreError::Query {
            db: self.desc.clone(),
            reason: scrub(e.to_string(), secrets),
        }
    }

    /// The first `manager_key` row's key, read inside whatever transaction `conn` is in.
    fn first_key(&self, conn: &Connection) -> Result<Option<ManagerKey>, StoreError> {
        let row = conn
            .query_row(SELECT_FIRST_KEY, [], |row| {
                let content = match row.get_ref(1)? {
                    ValueRef::Text(b) | ValueRef::Blob(b) => Some(Zeroizing::new(b.to_vec())),
                    _ => None,
                };
                Ok((row.get::<_, i64>(0)?, content))
            })
            .optional()
            .map_err(|e| self.query_err(&e, &[]))?;
        row.map(|(id, content)| parse_key_row(&self.desc, id, content))
            .transpose()
    }
}

/// `sqlite <path>`.
pub(crate) fn describe(path: &Path) -> String {
    format!("sqlite {}", path.display())
}

/// Creates the parent directory (0700) and the file (0600) when missing, so the file is never
/// readable by others, not even between its creation and SQLite's first write. An existing
/// file keeps its mode (it is the administrator's), with a warning when others can read it.
fn prepare_file(path: &Path) -> Result<(), String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| format!("cannot create directory {}: {e}", parent.display()))?;
        tracing::info!(dir = %parent.display(), "created the database directory");
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => {
            // The umask may only have removed bits; set exactly 0600 on the file we created.
            file.set_permissions(Permissions::from_mode(0o600))
                .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "created the SQLite database");
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let meta = std::fs::metadata(path)
                .map_err(|e| format!("cannot read the attributes of {}: {e}", path.display()))?;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format_args!("{mode:04o}"),
                    "the database holds the manager key but other users can access it; \
                     consider chmod 600"
                );
            }
            Ok(())
        }
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        self.desc.clone()
    }

    fn manager_key(&self) -> Result<Option<ManagerKey>, StoreError> {
        self.first_key(&self.conn())
    }

    fn init_manager_key(&self, key: &ManagerKey) -> Result<ManagerKey, StoreError> {
        let secrets = [key.key(), key.iv()];
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.query_err(&e, &[]))?;
        if let Some(existing) = self.first_key(&tx)? {
            return Ok(existing);
        }
        tx.execute(INSERT_KEY, [key.to_json().as_str()])
            .map_err(|e| self.query_err(&e, &secrets))?;
        let in_force = self.first_key(&tx)?;
        tx.commit().map_err(|e| self.query_err(&e, &[]))?;
        in_force.ok_or_else(|| StoreError::Query {
            db: self.desc.clone(),
            reason: "the manager_key row vanished right after its insertion".into(),
        })
    }

    fn replace_manager_key(&self, key: &ManagerKey) -> Result<(), StoreError> {
        let secrets = [key.key(), key.iv()];
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.query_err(&e, &[]))?;
        tx.execute(DELETE_KEYS, [])
            .map_err(|e| self.query_err(&e, &[]))?;
        tx.execute(INSERT_KEY, [key.to_json().as_str()])
            .map_err(|e| self.query_err(&e, &secrets))?;
        tx.commit().map_err(|e| self.query_err(&e, &[]))
    }

    fn delete_manager_key(&self) -> Result<bool, StoreError> {
        let deleted = self
            .conn()
            .execute(DELETE_KEYS, [])
            .map_err(|e| self.query_err(&e, &[]))?;
        Ok(deleted > 0)
    }

    fn upsert_sensor(&self, sensor: &SensorRecord) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.query_err(&e, &[]))?;
        // Update, then insert when no row matched: unlike `ON CONFLICT`, this works on a
        // GUI-made table whose `id_sensor` carries no unique constraint.
        let updated = tx
            .execute(
                "UPDATE `sensors` SET `host` = ?1, `port` = ?2 WHERE `id_sensor` = ?3",
                rusqlite::params![sensor.host, sensor.port, sensor.id_sensor],
            )
            .map_err(|e| self.query_err(&e, &[]))?;
        if updated == 0 {
            tx.execute(
                "INSERT INTO `sensors` (`id_sensor`, `name`, `host`, `port`) \
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![sensor.id_sensor, sensor.name, sensor.host, sensor.port],
            )
            .map_err(|e| self.query_err(&e, &[]))?;
        }
        tx.commit().map_err(|e| self.query_err(&e, &[]))
    }

    fn sensor(&self, id_sensor: u32) -> Result<Option<SensorRecord>, StoreError> {
        let row = self
            .conn()
            .query_row(
                "SELECT `name`, `host`, `port` FROM `sensors` WHERE `id_sensor` = ?1 LIMIT 1",
                [id_sensor],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .map_err(|e| self.query_err(&e, &[]))?;
        row.map(|(name, host, port)| sensor_from_row(&self.desc, id_sensor, name, host, port))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_the_file() {
        assert_eq!(describe(Path::new("/var/lib/x.db")), "sqlite /var/lib/x.db");
    }

    #[test]
    fn prepare_file_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plain.db");
        prepare_file(&path).expect("created");
        prepare_file(&path).expect("exists");
    }
}
