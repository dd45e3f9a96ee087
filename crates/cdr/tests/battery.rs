//! One battery for both backends: each case runs on SQLite (temporary directory) and on
//! MySQL/MariaDB when `VOIPSENSOR_TEST_MYSQL=user:password@host:port` is set (each test in a
//! database of its own, `vs_test_cdr_<random>`, dropped at the end). Without that variable the
//! MySQL cases are skipped with a note, unless `CI` is set: then they fail.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable as _;
use voipsensor_calls::cdr::{Cdr, CdrRtp, CdrStream, RegisterRow, WhoHanged};
use voipsensor_cdr::{CdrWriter, Options, Stats, cdr_column_names};
use voipsensor_config::{Database, MysqlConfig, Secret};

const MYSQL_ENV: &str = "VOIPSENSOR_TEST_MYSQL";
const FLUSH: Duration = Duration::from_secs(20);

#[derive(Clone)]
struct MysqlServer {
    user: String,
    password: String,
    host: String,
    port: u16,
}

impl MysqlServer {
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

enum Raw {
    Sqlite(PathBuf),
    Mysql {
        server: MysqlServer,
        database: String,
    },
}

struct Fixture {
    db: Database,
    raw: Raw,
    dir: tempfile::TempDir,
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sqlite_fixture(_test: &str) -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db").join("voipsensor.db");
    Some(Fixture {
        db: Database::Sqlite { path: path.clone() },
        raw: Raw::Sqlite(path),
        dir,
    })
}

fn mysql_fixture(test: &str) -> Option<Fixture> {
    let server = MysqlServer::from_env(test)?;
    let database = format!("vs_test_cdr_{}", random_suffix());
    Some(Fixture {
        db: Database::Mysql(server.config(&database)),
        raw: Raw::Mysql { server, database },
        dir: tempfile::tempdir().expect("tempdir"),
    })
}

impl Fixture {
    fn queue_dir(&self) -> PathBuf {
        self.dir.path().join("cdrqueue")
    }

    fn start(&self, options: Options) -> CdrWriter {
        CdrWriter::start(&self.db, self.queue_dir(), options).expect("start")
    }

    /// A database nobody listens on (MySQL) or cannot be created yet (SQLite: its parent
    /// directory's path is a regular file, which stops root too); `unblock` makes it usable.
    fn unreachable_db(&self) -> Database {
        match &self.raw {
            Raw::Sqlite(path) => {
                let parent = path.parent().expect("parent");
                std::fs::write(parent, b"not a directory").expect("blocker");
                self.db.clone()
            }
            Raw::Mysql { server, database } => {
                let port = {
                    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
                    l.local_addr().expect("addr").port()
                };
                let mut cfg = server.config(database);
                cfg.host = "127.0.0.1".into();
                cfg.port = port;
                Database::Mysql(cfg)
            }
        }
    }

    fn unblock(&self) {
        if let Raw::Sqlite(path) = &self.raw {
            std::fs::remove_file(path.parent().expect("parent")).expect("remove blocker");
        }
    }

    /// The first column of each row of `sql`, as text (NULL → "NULL").
    fn strings(&self, sql: &str) -> Vec<String> {
        match &self.raw {
            Raw::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("raw sqlite");
                let mut stmt = conn.prepare(sql).expect("prepare");
                stmt.query_map([], |r| {
                    Ok(match r.get_ref(0)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                        rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                        rusqlite::types::ValueRef::Real(f) => f.to_string(),
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                    })
                })
                .expect("query")
                .map(|r| r.expect("row"))
                .collect()
            }
            Raw::Mysql { server, database } => {
                let rows: Vec<mysql::Row> =
                    server.conn(Some(database)).query(sql).expect("raw query");
                rows.into_iter()
                    .map(|mut r| match r.take::<mysql::Value, usize>(0) {
                        Some(mysql::Value::NULL) | None => "NULL".to_owned(),
                        Some(mysql::Value::Bytes(b)) => String::from_utf8_lossy(&b).into_owned(),
                        Some(mysql::Value::Int(i)) => i.to_string(),
                        Some(mysql::Value::UInt(u)) => u.to_string(),
                        Some(v) => v.as_sql(true),
                    })
                    .collect()
            }
        }
    }

    /// Runs `sql` directly, creating the database first when missing.
    fn exec(&self, sql: &str) {
        match &self.raw {
            Raw::Sqlite(path) => {
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                let conn = rusqlite::Connection::open(path).expect("raw sqlite");
                conn.execute_batch(sql).expect("raw sql");
            }
            Raw::Mysql { server, database } => {
                let mut conn = server.conn(None);
                conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{database}`"))
                    .expect("create database");
                conn.select_db(database).expect("use");
                conn.query_drop(sql).expect("raw sql");
            }
        }
    }

    fn count(&self, sql: &str) -> i64 {
        self.strings(sql)[0].parse().expect("a number")
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

fn stream(index: u8, payload: i32, jitter: u32) -> CdrStream {
    CdrStream {
        index,
        payload,
        saddr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, index + 1)),
        received: 250,
        lost: u32::from(index) * 3,
        avgjitter_mult10: jitter,
        maxjitter: 4,
        sl: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        d: [0; 7],
        mos_f1_mult10: 44,
        mos_f2_mult10: 44,
        mos_adapt_mult10: 45,
        mos_min_mult10: 40 + index,
        packet_loss_perc_mult1000: 1190,
        rtcp: None,
    }
}

/// Call number `i`: caller `10<i>`, Call-ID `call-<i>`, two streams, two proxies.
fn call(i: u32, response: &str, ua: &str) -> Cdr {
    let start = 1_700_000_000_000_000 + u64::from(i) * 1_000_000;
    Cdr {
        fbasename: format!("call-{i}@host").into_bytes(),
        calldate_us: start,
        callend_us: start + 30_500_000,
        duration_s: 30,
        connect_duration_s: Some(28),
        progress_time_s: Some(1),
        first_rtp_time_s: Some(2),
        caller: format!("10{i}"),
        caller_domain: "a.example".into(),
        callername: "Alice Ü".into(),
        called: "2002".into(),
        called_domain: "b.example".into(),
        sipcallerip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)),
        sipcallerport: 5060,
        sipcalledip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20)),
        sipcalledport: 5060,
        whohanged: Some(WhoHanged::Caller),
        bye: 3,
        last_sip_response_num: response[..3].parse().expect("code"),
        last_sip_response: response.into(),
        sighup: false,
        vlan: None,
        id_sensor: Some(3),
        response_time_100_ms: Some(1),
        response_time_xxx_ms: Some(20),
        caller_ua: ua.into(),
        callee_ua: "Callee-UA".into(),
        digest_username: "alice".into(),
        proxies: vec![
            IpAddr::V4(Ipv4Addr::new(10, 9, 9, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 9, 9, 2)),
        ],
        a: Some(stream(0, 8, 12)),
        b: Some(stream(1, 8, 30)),
        streams: (1..=2)
            .map(|n| CdrRtp {
                saddr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
                sport: 4000 + u16::from(n),
                daddr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3 - n)),
                dport: 4003 - u16::from(n),
                ssrc: 1000 * i + u32::from(n),
                received: 250,
                loss: 0,
                firsttime_s: 2.0,
                payload: 8,
                maxjitter_mult10: 40,
                index: n,
                flags: 2,
                duration_s: 27.5,
                sdp_ptime: Some(20),
                rtp_ptime: Some(20),
                ttl_min: Some(60),
                ttl_max: Some(64),
                ttl_avg_mult10: Some(625),
            })
            .collect(),
        flags: 1 << 24,
    }
}

fn register(failed: bool, to_num: &str) -> RegisterRow {
    RegisterRow {
        failed,
        created_us: 1_700_000_100_000_000,
        id_sensor: Some(3),
        sipcallerip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
        sipcallerport: 5060,
        sipcalledip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 6)),
        sipcalledport: 5060,
        from_num: to_num.into(),
        to_num: to_num.into(),
        to_domain: "reg.example".into(),
        contact_num: to_num.into(),
        contact_domain: "10.0.0.5".into(),
        digest_username: to_num.into(),
        digest_realm: "realm".into(),
        expires: 120,
        state: if failed { 2 } else { 1 },
        ua: "Callee-UA".into(),
        vlan: Some(5),
        counter: 1,
        fname: 0,
    }
}

/// Waits until `cond(stats)` holds (at most 30 s).
fn wait_for(w: &CdrWriter, what: &str, cond: impl Fn(&Stats) -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let s = w.stats();
        if cond(&s) {
            return;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}: {s:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fast() -> Options {
    Options {
        id_sensor: Some(3),
        retry_min: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        ..Options::default()
    }
}

mod cases {
    use super::*;

    pub(super) fn rows_are_written_and_linked(f: &Fixture) {
        let w = f.start(fast());
        assert!(w.push_cdr(&call(1, "200 OK", "UA-1")));
        assert!(w.push_cdr(&call(2, "487 Request Terminated", "UA-1")));
        assert!(w.push_cdr(&call(3, "200 OK", "UA-2")));
        assert!(w.push_register(&register(false, "300")));
        assert!(w.push_register(&register(true, "301")));
        let s = w.shutdown(FLUSH);
        assert_eq!((s.written_cdrs, s.written_registers, s.queued), (3, 2, 0));
        assert!(s.last_write.is_some());

        assert_eq!(f.count("SELECT COUNT(*) FROM cdr"), 3);
        assert_eq!(
            f.strings("SELECT caller_reverse FROM cdr ORDER BY ID"),
            ["101", "201", "301"]
        );
        assert_eq!(
            f.strings("SELECT callername_reverse FROM cdr ORDER BY ID LIMIT 1"),
            ["\u{FFFD}\u{FFFD} ecilA"]
        );
        assert_eq!(
            f.strings(
                "SELECT CONCAT(calldate, '|', callend, '|', duration, '|', sipcallerip, '|', \
                 whohanged, '|', bye, '|', lastSIPresponseNum, '|', id_sensor, '|', \
                 jitter_mult10, '|', mos_min_mult10, '|', payload, '|', lost) \
                 FROM cdr ORDER BY ID LIMIT 1"
            )
            .first()
            .map(String::as_str)
            .unwrap_or_default()
            .replace(".0|", "|"),
            "2023-11-14 22:13:21|2023-11-14 22:13:51|30|3232235786|caller|3|200|3|30|40|8|3"
        );
        // Codebooks: deduplicated, and the ids lead to the right texts.
        assert_eq!(f.count("SELECT COUNT(*) FROM cdr_sip_response"), 2);
        assert_eq!(f.count("SELECT COUNT(*) FROM cdr_ua"), 3);
        assert_eq!(
            f.strings(
                "SELECT r.lastSIPresponse FROM cdr c JOIN cdr_sip_response r \
                 ON r.id = c.lastSIPresponse_id ORDER BY c.ID"
            ),
            ["200 OK", "487 Request Terminated", "200 OK"]
        );
        assert_eq!(
            f.strings("SELECT u.ua FROM cdr c JOIN cdr_ua u ON u.id = c.a_ua_id ORDER BY c.ID"),
            ["UA-1", "UA-1", "UA-2"]
        );
        assert_eq!(
            f.count("SELECT COUNT(DISTINCT b_ua_id) FROM cdr WHERE b_ua_id IS NOT NULL"),
            1
        );
        // Children carry their call's ID.
        assert_eq!(
            f.strings(
                "SELECT n.fbasename FROM cdr c JOIN cdr_next n ON n.cdr_ID = c.ID ORDER BY c.ID"
            ),
            ["call-1@host", "call-2@host", "call-3@host"]
        );
        assert_eq!(
            f.strings(
                "SELECT r.ssrc FROM cdr c JOIN cdr_rtp r ON r.cdr_ID = c.ID \
                 WHERE c.caller = '102' ORDER BY r.`index`"
            ),
            ["2001", "2002"]
        );
        assert_eq!(f.count("SELECT COUNT(*) FROM cdr_rtp"), 6);
        assert_eq!(
            f.count(
                "SELECT COUNT(*) FROM cdr c JOIN cdr_proxy p ON p.cdr_ID = c.ID \
                 AND p.calldate = c.calldate"
            ),
            6
        );
        // Registrations, with their UA through cdr_ua (shared with the calls).
        assert_eq!(
            f.strings(
                "SELECT CONCAT(s.to_num, '|', s.expires, '|', s.state, '|', u.ua, '|', s.vlan) \
                 FROM register_state s JOIN cdr_ua u ON u.id = s.ua_id"
            ),
            ["300|120|1|Callee-UA|5"]
        );
        assert_eq!(
            f.strings("SELECT CONCAT(to_num, '|', counter) FROM register_failed"),
            ["301|1"]
        );
    }

    pub(super) fn every_reference_column_is_selectable(f: &Fixture) {
        let w = f.start(fast());
        w.push_cdr(&call(1, "200 OK", "UA"));
        w.shutdown(FLUSH);
        let cols = cdr_column_names();
        assert!(cols.len() > 160, "{}", cols.len());
        let list: Vec<String> = cols.iter().map(|c| format!("`{c}`")).collect();
        let sql = format!("SELECT {} FROM cdr", list.join(", "));
        assert_eq!(f.strings(&sql).len(), 1);
        for table in [
            "SELECT cdr_ID, calldate, custom_header1, fbasename, digest_username, match_header, \
             GeoPosition, hold, spool_index FROM cdr_next",
            "SELECT cdr_ID, calldate, saddr, sport, daddr, dport, ssrc, received, loss, \
             firsttime, payload, maxjitter_mult10, `index`, sdp_ptime, rtp_ptime, flags, \
             duration, ttl_min, ttl_max, ttl_avg_mult10 FROM cdr_rtp",
            "SELECT ID, id_sensor, fname, counter, created_at, sipcallerip, sipcalledip, \
             sipcallerport, sipcalledport, from_num, to_num, contact_num, contact_domain, \
             digestusername, digestrealm, expires, state, ua_id, to_domain, flags, vlan, \
             spool_index FROM register_state",
            "SELECT ID, counter, ua_id FROM register_failed",
            "SELECT cdr_ID, calldate, dst FROM cdr_proxy",
            "SELECT queue_id, id_sensor, last_seq, updated_at FROM voipsensor_cdr_queue",
        ] {
            f.strings(table);
        }
        // A second start on the existing schema is fine (IF NOT EXISTS everywhere).
        let w = f.start(fast());
        w.push_cdr(&call(2, "200 OK", "UA"));
        assert_eq!(w.shutdown(FLUSH).written_cdrs, 1);
        assert_eq!(f.count("SELECT COUNT(*) FROM cdr"), 2);
        assert_eq!(
            f.count("SELECT COUNT(*) FROM cdr_ua"),
            2,
            "UA and Callee-UA"
        );
    }

    pub(super) fn crash_after_commit_inserts_nothing_twice(f: &Fixture) {
        // Queue everything while the database is unreachable, so that the first batch holds
        // all of it; then "crash" right after its commit.
        let n = 25;
        let blocked = f.unreachable_db();
        let w = CdrWriter::start(&blocked, f.queue_dir(), fast()).expect("start");
        for i in 0..n {
            assert!(w.push_cdr(&call(i, "200 OK", "UA")));
        }
        wait_for(&w, "a failed attempt", |s| s.failed_attempts > 0);
        assert_eq!(w.shutdown(Duration::ZERO).queued, u64::from(n));
        f.unblock();

        let crash = Options {
            crash_after_commit: true,
            ..fast()
        };
        let w = f.start(crash);
        wait_for(&w, "the first commit", |s| s.last_write.is_some());
        let s = w.shutdown(FLUSH);
        assert_eq!(s.written_cdrs, u64::from(n));
        assert_eq!(s.queued, u64::from(n), "the queue was not told");
        assert_eq!(f.count("SELECT COUNT(*) FROM cdr"), i64::from(n));

        // Restart: the queue is replayed, the database's last_seq filters everything.
        let w = f.start(fast());
        w.push_cdr(&call(n, "200 OK", "UA"));
        let s = w.shutdown(FLUSH);
        assert_eq!(s.skipped_duplicates, u64::from(n));
        assert_eq!(s.written_cdrs, 1);
        assert_eq!(s.queued, 0);
        assert_eq!(f.count("SELECT COUNT(*) FROM cdr"), i64::from(n) + 1);
        assert_eq!(
            f.count("SELECT COUNT(DISTINCT caller) FROM cdr"),
            i64::from(n) + 1
        );
        assert_eq!(f.count("SELECT COUNT(*) FROM cdr_next"), i64::from(n) + 1);
        assert_eq!(
            f.count("SELECT last_seq FROM voipsensor_cdr_queue"),
            i64::from(n) + 1
        );
    }

    pub(super) fn unreachable_database_queues_on_disk_then_delivers_in_order(f: &Fixture) {
        let blocked = f.unreachable_db();
        let w = CdrWriter::start(&blocked, f.queue_dir(), fast()).expect("start");
        let started = Instant::now();
        for i in 0..40 {
            assert!(w.push_cdr(&call(i, "200 OK", "UA")));
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "pushing does not wait for the database"
        );
        wait_for(&w, "two failed attempts", |s| s.failed_attempts >= 2);
        let s = w.stats();
        assert_eq!(s.queued, 40);
        assert!(s.queued_bytes > 0);
        assert!(s.last_error.is_some());
        assert_eq!(s.written_cdrs, 0);
        // Shut down with the database still away: everything stays on disk.
        assert_eq!(w.shutdown(Duration::from_millis(300)).queued, 40);

        // Next start, database still away, more calls; then it comes back while running
        // (SQLite) or on the following start (MySQL: the configuration changes).
        let w = CdrWriter::start(&blocked, f.queue_dir(), fast()).expect("restart");
        for i in 40..60 {
            assert!(w.push_cdr(&call(i, "200 OK", "UA")));
        }
        f.unblock();
        let w = if matches!(f.raw, Raw::Mysql { .. }) {
            wait_for(&w, "a failed attempt", |s| s.failed_attempts > 0);
            assert_eq!(w.shutdown(Duration::ZERO).queued, 60);
            f.start(fast())
        } else {
            w
        };
        wait_for(&w, "the queue drained", |s| s.queued == 0);
        for i in 60..70 {
            assert!(w.push_cdr(&call(i, "200 OK", "UA")));
        }
        let s = w.shutdown(FLUSH);
        assert_eq!(s.queued, 0);
        assert!(s.last_error.is_none());
        let callers = f.strings("SELECT caller FROM cdr ORDER BY ID");
        let expected: Vec<String> = (0..70).map(|i| format!("10{i}")).collect();
        assert_eq!(callers, expected, "each call once, in order");
        assert_eq!(f.count("SELECT COUNT(*) FROM cdr_rtp"), 140);
        assert_eq!(f.count("SELECT COUNT(*) FROM cdr_ua"), 2);
    }

    pub(super) fn a_refused_record_is_skipped_and_counted(f: &Fixture) {
        // An existing schema whose cdr_proxy.dst is NOT NULL refuses an IPv6 proxy (NULL).
        f.exec(
            "CREATE TABLE cdr_proxy (cdr_ID bigint unsigned NOT NULL, \
             calldate datetime NOT NULL, dst int unsigned NOT NULL)",
        );
        let w = f.start(fast());
        w.push_cdr(&call(1, "200 OK", "UA"));
        let mut bad = call(2, "200 OK", "UA");
        bad.proxies = vec!["2001:db8::1".parse().expect("ipv6")];
        w.push_cdr(&bad);
        w.push_cdr(&call(3, "200 OK", "UA"));
        let s = w.shutdown(FLUSH);
        assert_eq!((s.written_cdrs, s.rejected, s.queued), (2, 1, 0), "{s:?}");
        assert_eq!(
            f.strings("SELECT caller FROM cdr ORDER BY ID"),
            ["101", "103"]
        );
        assert_eq!(
            f.count("SELECT COUNT(*) FROM cdr_next"),
            2,
            "rolled back whole"
        );
        assert_eq!(f.count("SELECT last_seq FROM voipsensor_cdr_queue"), 3);
    }

    pub(super) fn full_queue_drops_and_counts(f: &Fixture) {
        let blocked = f.unreachable_db();
        let opts = Options {
            max_queue_bytes: 20_000,
            ..fast()
        };
        let w = CdrWriter::start(&blocked, f.queue_dir(), opts.clone()).expect("start");
        let kept = (0..50)
            .filter(|&i| w.push_cdr(&call(i, "200 OK", "UA")))
            .count() as u64;
        let s = w.shutdown(Duration::ZERO);
        assert!(kept > 0 && kept < 50, "{kept}");
        assert_eq!(s.dropped, 50 - kept);
        assert_eq!(s.queued, kept);
        f.unblock();
        let w = f.start(opts);
        let s = w.shutdown(FLUSH);
        assert_eq!(s.written_cdrs, kept);
        assert_eq!(f.count("SELECT COUNT(*) FROM cdr"), kept as i64);
    }
}

macro_rules! battery {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $case() {
                if let Some(f) = super::sqlite_fixture(stringify!($case)) {
                    super::cases::$case(&f);
                }
            })*
        }
        mod mariadb {
            $(#[test]
            fn $case() {
                if let Some(f) = super::mysql_fixture(stringify!($case)) {
                    super::cases::$case(&f);
                }
            })*
        }
    };
}

battery!(
    rows_are_written_and_linked,
    every_reference_column_is_selectable,
    crash_after_commit_inserts_nothing_twice,
    unreachable_database_queues_on_disk_then_delivers_in_order,
    full_queue_drops_and_counts,
    a_refused_record_is_skipped_and_counted,
);
