//! One test battery for every backend (style habit 12): each case in `cases` is a function of a
//! [`Fixture`] (a fresh store plus a raw connection to the same database) and runs once per
//! backend, through the `battery!` macro.
//!
//! SQLite runs in a temporary directory. MySQL/MariaDB runs against the server named by
//! `VOIPSENSOR_TEST_MYSQL=user:password@host:port`, each test in a database of its own
//! (`vs_test_<random>`, created through `open()`, dropped at the end). Without that variable
//! the MySQL tests are skipped with a note, unless `CI` is set: CI must run them, so they fail.

use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable as _;
use voipsensor_config::{Database, MysqlConfig, Secret};
use voipsensor_keystore::{
    ManagerKey, SensorRecord, Store, StoreError, describe, generate_manager_key, open,
};

const MYSQL_ENV: &str = "VOIPSENSOR_TEST_MYSQL";

/// A fresh database, a store on it, and a way around the store.
struct Fixture {
    config: Database,
    store: Box<dyn Store>,
    raw: Raw,
    _dir: Option<tempfile::TempDir>,
}

enum Raw {
    Sqlite(PathBuf),
    Mysql {
        server: MysqlServer,
        database: String,
    },
}

/// The test server from `VOIPSENSOR_TEST_MYSQL`.
#[derive(Clone)]
struct MysqlServer {
    user: String,
    password: String,
    host: String,
    port: u16,
}

impl MysqlServer {
    /// The server to test against; `None` (skip) when not configured outside CI.
    fn from_env(test: &str) -> Option<Self> {
        let Ok(spec) = std::env::var(MYSQL_ENV) else {
            let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
            assert!(
                !ci,
                "{MYSQL_ENV}=user:password@host:port is not set, but CI must run {test}"
            );
            eprintln!("note: {test} skipped: set {MYSQL_ENV}=user:password@host:port to run it");
            return None;
        };
        let (creds, addr) = spec
            .rsplit_once('@')
            .expect("VOIPSENSOR_TEST_MYSQL: user:pw@host:port");
        let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
        let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "3306"));
        Some(Self {
            user: user.into(),
            password: password.into(),
            host: host.into(),
            port: port.parse().expect("VOIPSENSOR_TEST_MYSQL: numeric port"),
        })
    }

    fn config(&self, database: &str) -> MysqlConfig {
        MysqlConfig {
            host: self.host.clone(),
            port: self.port,
            username: self.user.clone(),
            password: Secret::new(self.password.clone()),
            database: database.into(),
        }
    }

    fn conn(&self, database: Option<&str>) -> mysql::Conn {
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(self.host.clone()))
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .db_name(database)
            .tcp_connect_timeout(Some(Duration::from_secs(3)));
        mysql::Conn::new(opts).expect("raw connection to the test server")
    }
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sqlite_fixture(_test: &str) -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("voipsensor.db");
    let config = Database::Sqlite { path: path.clone() };
    let store = open(&config).expect("open sqlite");
    Some(Fixture {
        config,
        store,
        raw: Raw::Sqlite(path),
        _dir: Some(dir),
    })
}

fn mysql_fixture(test: &str) -> Option<Fixture> {
    let server = MysqlServer::from_env(test)?;
    let database = format!("vs_test_{}", random_suffix());
    let config = Database::Mysql(server.config(&database));
    let store = open(&config).expect("open mysql");
    // The first call creates the database and the tables.
    assert_eq!(store.manager_key().expect("first use"), None);
    Some(Fixture {
        config,
        store,
        raw: Raw::Mysql { server, database },
        _dir: None,
    })
}

impl Fixture {
    fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Another store on the same database (as a second sensor process would open it).
    fn reopen(&self) -> Box<dyn Store> {
        open(&self.config).expect("reopen")
    }

    fn is_mysql(&self) -> bool {
        matches!(self.raw, Raw::Mysql { .. })
    }

    /// Runs `sql` directly on the database.
    fn exec(&self, sql: &str) {
        match &self.raw {
            Raw::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("raw sqlite");
                conn.execute_batch(sql).expect("raw sql");
            }
            Raw::Mysql { server, database } => {
                server
                    .conn(Some(database))
                    .query_drop(sql)
                    .expect("raw sql");
            }
        }
    }

    /// The single integer `sql` selects.
    fn count(&self, sql: &str) -> i64 {
        match &self.raw {
            Raw::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("raw sqlite");
                conn.query_row(sql, [], |r| r.get(0)).expect("raw count")
            }
            Raw::Mysql { server, database } => server
                .conn(Some(database))
                .query_first(sql)
                .expect("raw count")
                .expect("a row"),
        }
    }

    fn key_rows(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM `system` WHERE `type` = 'manager_key'")
    }

    /// Inserts a `manager_key` row with this content, as a GUI or an operator could.
    fn insert_key_row(&self, content: &str) {
        self.exec(&format!(
            "INSERT INTO `system` (`type`, `content`) VALUES ('manager_key', '{content}')"
        ));
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Raw::Mysql { server, database } = &self.raw {
            let mut conn = server.conn(None);
            if let Err(e) = conn.query_drop(format!("DROP DATABASE IF EXISTS `{database}`")) {
                eprintln!("cannot drop test database {database}: {e}");
            }
        }
    }
}

fn sensor(id_sensor: u32, name: &str, host: &str, port: u16) -> SensorRecord {
    SensorRecord {
        id_sensor,
        name: name.into(),
        host: host.into(),
        port,
    }
}

/// The cases, each run on every backend.
mod cases {
    use super::*;

    pub(super) fn fresh_store_has_no_key(f: &Fixture) {
        let s = f.store();
        assert_eq!(s.manager_key().expect("read"), None);
        assert!(!s.delete_manager_key().expect("delete"));
        assert_eq!(s.sensor(1).expect("read"), None);
        assert_eq!(f.key_rows(), 0);
    }

    pub(super) fn init_stores_the_key_and_returns_it(f: &Fixture) {
        let key = generate_manager_key();
        assert_eq!(f.store().init_manager_key(&key).expect("init"), key);
        assert_eq!(f.store().manager_key().expect("read"), Some(key.clone()));
        assert_eq!(f.key_rows(), 1);
        let content = if f.is_mysql() {
            "SELECT COUNT(*) FROM `system` WHERE `type` = 'manager_key' \
             AND `cdate` = CURRENT_DATE() AND `cdatetime` IS NOT NULL"
        } else {
            "SELECT COUNT(*) FROM `system` WHERE `type` = 'manager_key' \
             AND `cdate` = date('now') AND `cdatetime` IS NOT NULL"
        };
        assert_eq!(f.count(content), 1, "cdate and cdatetime are set");
        assert_eq!(
            f.reopen().manager_key().expect("read"),
            Some(key),
            "stored as JSON"
        );
    }

    pub(super) fn second_init_returns_the_first_key(f: &Fixture) {
        let (first, second) = (generate_manager_key(), generate_manager_key());
        assert_eq!(f.store().init_manager_key(&first).expect("init"), first);
        assert_eq!(
            f.store().init_manager_key(&second).expect("init again"),
            first
        );
        assert_eq!(f.store().manager_key().expect("read"), Some(first));
        assert_eq!(f.key_rows(), 1);
    }

    pub(super) fn replace_then_read(f: &Fixture) {
        let (old, new) = (generate_manager_key(), generate_manager_key());
        f.store()
            .replace_manager_key(&old)
            .expect("replace on an empty table");
        assert_eq!(f.store().manager_key().expect("read"), Some(old));
        f.store().replace_manager_key(&new).expect("replace");
        assert_eq!(f.store().manager_key().expect("read"), Some(new.clone()));
        assert_eq!(f.key_rows(), 1);
        assert_eq!(
            f.store()
                .init_manager_key(&generate_manager_key())
                .expect("init"),
            new
        );
    }

    pub(super) fn delete_is_true_then_false(f: &Fixture) {
        f.store()
            .init_manager_key(&generate_manager_key())
            .expect("init");
        assert!(f.store().delete_manager_key().expect("delete"));
        assert!(!f.store().delete_manager_key().expect("delete again"));
        assert_eq!(f.store().manager_key().expect("read"), None);
        assert_eq!(f.key_rows(), 0);
    }

    pub(super) fn malformed_row_is_bad_key_row(f: &Fixture) {
        f.insert_key_row(r#"{"key":"x"}"#);
        let id = f.count("SELECT MIN(`id`) FROM `system`");
        fn check<T: std::fmt::Debug>(f: &Fixture, id: i64, result: Result<T, StoreError>) {
            match result {
                Err(StoreError::BadKeyRow { db, id: got }) => {
                    assert_eq!((db, got), (f.store().describe(), id));
                }
                other => panic!("expected BadKeyRow, got {other:?}"),
            }
        }
        check(f, id, f.store().manager_key());
        check(f, id, f.store().init_manager_key(&generate_manager_key()));
        assert_eq!(f.key_rows(), 1, "init inserts nothing over a malformed row");
        // The store stays usable, and replacing repairs it.
        let key = generate_manager_key();
        f.store().replace_manager_key(&key).expect("replace");
        assert_eq!(f.store().manager_key().expect("read"), Some(key));
    }

    pub(super) fn first_row_wins(f: &Fixture) {
        let (first, second) = (generate_manager_key(), generate_manager_key());
        f.insert_key_row(&first.to_json());
        f.insert_key_row(&second.to_json());
        assert_eq!(f.store().manager_key().expect("read"), Some(first.clone()));
        assert_eq!(
            f.store()
                .init_manager_key(&generate_manager_key())
                .expect("init"),
            first
        );
        assert_eq!(f.key_rows(), 2);
        assert!(f.store().delete_manager_key().expect("delete"));
        assert_eq!(f.key_rows(), 0, "every manager_key row is deleted");
    }

    pub(super) fn racing_inits_agree(f: &Fixture) {
        const RACERS: usize = 20;
        let stores = [f.reopen(), f.reopen(), f.reopen()];
        let mut all: Vec<&dyn Store> = vec![f.store()];
        all.extend(stores.iter().map(|s| &**s));
        let barrier = Barrier::new(RACERS);
        let results: Vec<ManagerKey> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..RACERS)
                .map(|i| {
                    let (store, barrier) = (all[i % all.len()], &barrier);
                    scope.spawn(move || {
                        let key = generate_manager_key();
                        // Connected before the start: the racers then collide on the key.
                        assert_eq!(store.manager_key().expect("warm-up"), None);
                        barrier.wait();
                        store.init_manager_key(&key).expect("init while racing")
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("racer panicked"))
                .collect()
        });
        assert!(
            results.iter().all(|k| *k == results[0]),
            "all racers get the same key"
        );
        assert_eq!(f.key_rows(), 1, "exactly one row");
        assert_eq!(
            f.store().manager_key().expect("read"),
            Some(results[0].clone())
        );
    }

    pub(super) fn sensors_upsert_keeps_the_name(f: &Fixture) {
        let s = f.store();
        assert_eq!(s.sensor(7).expect("read"), None);
        s.upsert_sensor(&sensor(7, "first", "10.0.0.7", 5029))
            .expect("insert");
        assert_eq!(
            s.sensor(7).expect("read"),
            Some(sensor(7, "first", "10.0.0.7", 5029))
        );
        // Same values again: matched but unchanged, must not insert a second row.
        s.upsert_sensor(&sensor(7, "first", "10.0.0.7", 5029))
            .expect("same again");
        f.exec("UPDATE `sensors` SET `name` = 'set by the GUI' WHERE `id_sensor` = 7");
        s.upsert_sensor(&sensor(7, "ignored", "sensor7.example", 6029))
            .expect("update");
        assert_eq!(
            s.sensor(7).expect("read"),
            Some(sensor(7, "set by the GUI", "sensor7.example", 6029))
        );
        assert_eq!(
            f.count("SELECT COUNT(*) FROM `sensors` WHERE `id_sensor` = 7"),
            1
        );
        s.upsert_sensor(&sensor(u32::MAX, "max", "::1", u16::MAX))
            .expect("extremes");
        assert_eq!(
            s.sensor(u32::MAX).expect("read"),
            Some(sensor(u32::MAX, "max", "::1", 65535))
        );
        assert_eq!(s.sensor(8).expect("read"), None);
        f.exec("INSERT INTO `sensors` (`id_sensor`) VALUES (9)");
        assert_eq!(s.sensor(9).expect("NULLs read"), Some(sensor(9, "", "", 0)));
    }

    pub(super) fn gui_tables_with_extra_columns(f: &Fixture) {
        // A GUI-made schema: an `id` primary key, `id_sensor` without a unique key, extra
        // columns. The store names its columns, so it works on it.
        let sql = if f.is_mysql() {
            "DROP TABLE `system`; DROP TABLE `sensors`;
             CREATE TABLE `system` (`id` INT AUTO_INCREMENT PRIMARY KEY, `type` TEXT,
                 `cdate` DATE, `cdatetime` DATETIME, `content` TEXT, `extra` INT DEFAULT 3);
             CREATE TABLE `sensors` (`id` INT AUTO_INCREMENT PRIMARY KEY,
                 `id_sensor` INT UNSIGNED, `name` VARCHAR(256), `host` VARCHAR(255),
                 `port` INT, `cloud_router` TINYINT DEFAULT 0);"
        } else {
            "DROP TABLE `system`; DROP TABLE `sensors`;
             CREATE TABLE `system` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `type` TEXT,
                 `cdate` DATE, `cdatetime` DATETIME, `content` TEXT, `extra` INT DEFAULT 3);
             CREATE TABLE `sensors` (`id` INTEGER PRIMARY KEY AUTOINCREMENT,
                 `id_sensor` INTEGER, `name` VARCHAR(256), `host` VARCHAR(255),
                 `port` INTEGER, `cloud_router` INTEGER DEFAULT 0);"
        };
        f.exec(sql);
        let s = f.reopen();
        let key = generate_manager_key();
        assert_eq!(s.init_manager_key(&key).expect("init"), key);
        s.upsert_sensor(&sensor(3, "three", "h3", 5029))
            .expect("insert");
        s.upsert_sensor(&sensor(3, "three", "h3", 5029))
            .expect("unchanged");
        s.upsert_sensor(&sensor(3, "three", "h3b", 5030))
            .expect("update");
        assert_eq!(
            s.sensor(3).expect("read"),
            Some(sensor(3, "three", "h3b", 5030))
        );
        assert_eq!(
            f.count("SELECT COUNT(*) FROM `sensors`"),
            1,
            "no duplicate row"
        );
    }

    pub(super) fn reopening_keeps_the_data(f: &Fixture) {
        let key = generate_manager_key();
        f.store().init_manager_key(&key).expect("init");
        f.store()
            .upsert_sensor(&sensor(1, "one", "h1", 5029))
            .expect("upsert");
        let again = f.reopen();
        assert_eq!(again.describe(), f.store().describe());
        assert_eq!(again.manager_key().expect("read"), Some(key));
        assert_eq!(
            again.sensor(1).expect("read"),
            Some(sensor(1, "one", "h1", 5029))
        );
    }

    pub(super) fn describe_names_the_database(f: &Fixture) {
        let text = f.store().describe();
        assert_eq!(text, describe(&f.config));
        match &f.config {
            Database::Sqlite { path } => assert_eq!(text, format!("sqlite {}", path.display())),
            Database::Mysql(c) => {
                assert_eq!(
                    text,
                    format!("mysql {}@{}:{}/{}", c.username, c.host, c.port, c.database)
                );
                // Exactly as often as the user, host or database name spell it (the test
                // server's user may be its password).
                let pw = c.password.expose();
                if !pw.is_empty() {
                    let debug = format!("{:?}", f.store());
                    assert_eq!(
                        debug.matches(pw).count(),
                        text.matches(pw).count(),
                        "{debug}"
                    );
                }
            }
        }
    }
}

/// Instantiates every case for one backend, as `#[test]`s in a module named after it.
macro_rules! battery {
    ($backend:ident, $fixture:path, [$($case:ident),+ $(,)?]) => {
        mod $backend {
            $(
                #[test]
                fn $case() {
                    let test = concat!(stringify!($backend), "::", stringify!($case));
                    if let Some(fixture) = $fixture(test) {
                        super::cases::$case(&fixture);
                    }
                }
            )+
        }
    };
}

macro_rules! all_backends {
    ($($case:ident),+ $(,)?) => {
        battery!(on_sqlite, super::sqlite_fixture, [$($case),+]);
        battery!(on_mysql, super::mysql_fixture, [$($case),+]);
    };
}

all_backends!(
    fresh_store_has_no_key,
    init_stores_the_key_and_returns_it,
    second_init_returns_the_first_key,
    replace_then_read,
    delete_is_true_then_false,
    malformed_row_is_bad_key_row,
    first_row_wins,
    racing_inits_agree,
    sensors_upsert_keeps_the_name,
    gui_tables_with_extra_columns,
    reopening_keeps_the_data,
    describe_names_the_database,
);

// ---- Backend-specific cases ----

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn sqlite_creates_a_private_file_and_its_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let parent = dir.path().join("a").join("b");
    let path = parent.join("voipsensor.db");
    let store = open(&Database::Sqlite { path: path.clone() }).expect("open");
    store
        .init_manager_key(&generate_manager_key())
        .expect("write");
    assert_eq!(mode(&path), 0o600, "database file");
    assert_eq!(mode(&parent), 0o700, "created directory");
    assert_eq!(mode(&dir.path().join("a")), 0o700, "created directory");
}

#[test]
fn sqlite_keeps_the_mode_of_an_existing_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.db");
    std::fs::write(&path, b"").expect("create");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let store = open(&Database::Sqlite { path: path.clone() }).expect("open");
    store
        .upsert_sensor(&sensor(1, "one", "h", 1))
        .expect("write");
    assert_eq!(
        mode(&path),
        0o640,
        "an existing file is the administrator's: only warned about"
    );
}

#[test]
fn sqlite_in_an_impossible_location_is_an_open_error() {
    // Beneath a regular file: impossible even for root, unlike a merely unwritable directory.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"x").expect("create");
    let path = file.join("sub").join("voipsensor.db");
    match open(&Database::Sqlite { path: path.clone() }) {
        Err(StoreError::Open { db, reason }) => {
            assert_eq!(db, format!("sqlite {}", path.display()));
            assert!(reason.contains("cannot create directory"), "{reason}");
            assert!(reason.contains("ot a directory"), "{reason}");
        }
        other => panic!("expected an Open error, got {other:?}"),
    }
}

#[test]
fn mysql_on_a_closed_port_opens_and_then_fails_fast() {
    // No server needed: a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let password = "pw-closed-port-5f1c9a";
    let config = Database::Mysql(MysqlConfig {
        host: "127.0.0.1".into(),
        port,
        username: "vs".into(),
        password: Secret::new(password),
        database: "voipmonitor".into(),
    });
    let store = open(&config).expect("open does not connect");
    type Call<'a> = Box<dyn Fn() -> Result<(), StoreError> + 'a>;
    let calls: [(&str, Call<'_>); 4] = [
        ("manager_key", Box::new(|| store.manager_key().map(drop))),
        (
            "init",
            Box::new(|| store.init_manager_key(&generate_manager_key()).map(drop)),
        ),
        ("delete", Box::new(|| store.delete_manager_key().map(drop))),
        ("sensor", Box::new(|| store.sensor(1).map(drop))),
    ];
    for (name, call) in calls {
        let started = Instant::now();
        let err = call().expect_err("no server");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{name} took {:?}",
            started.elapsed()
        );
        let text = err.to_string();
        assert!(matches!(err, StoreError::Open { .. }), "{name}: {text}");
        assert!(
            text.contains(&format!("127.0.0.1:{port}")),
            "{name} names the server: {text}"
        );
        assert!(
            !text.contains(password),
            "{name} leaks the password: {text}"
        );
        assert!(
            !format!("{err:?}").contains(password),
            "{name} leaks the password: {err:?}"
        );
    }
}

#[test]
fn mysql_wrong_password_does_not_leak_it() {
    let Some(server) = MysqlServer::from_env("mysql_wrong_password_does_not_leak_it") else {
        return;
    };
    let password = "wrong-pw-7d2e41";
    let mut config = server.config(&format!("vs_test_{}", random_suffix()));
    config.password = Secret::new(password);
    let store = open(&Database::Mysql(config)).expect("open does not connect");
    let started = Instant::now();
    let err = store.manager_key().expect_err("access denied");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (text, debug) = (err.to_string(), format!("{err:?}"));
    assert!(text.contains(&server.host), "names the server: {text}");
    assert!(text.contains("Access denied"), "says why: {text}");
    assert!(
        !text.contains(password) && !debug.contains(password),
        "leaks the password: {text}"
    );
}

#[test]
fn mysql_reconnects_after_losing_its_connections() {
    let Some(f) = mysql_fixture("mysql_reconnects_after_losing_its_connections") else {
        return;
    };
    let key = generate_manager_key();
    f.store().init_manager_key(&key).expect("init");
    let Raw::Mysql { server, database } = &f.raw else {
        unreachable!("mysql fixture")
    };
    let mut admin = server.conn(None);
    let ids: Vec<u64> = admin
        .exec(
            "SELECT `ID` FROM information_schema.PROCESSLIST WHERE `DB` = ?",
            (database,),
        )
        .expect("list connections");
    assert!(!ids.is_empty(), "the store keeps an idle connection");
    for id in ids {
        admin.query_drop(format!("KILL {id}")).expect("kill");
    }
    assert_eq!(f.store().manager_key().expect("reconnected"), Some(key));
}
