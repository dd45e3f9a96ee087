//! End-to-end tests of manager API encryption with the embedded SQLite key store (spec §2,
//! §7; issue 3): the real `voipsensor run` generating and storing its key, `nc` being refused,
//! the Rust client (`send-manager-cmd -a`, `-s ID`) and the independent Python client
//! (`tests/independent-client/vpmanager.py`) getting through, the key tools, key rotation
//! while the sensor runs, and the key never reaching a log.
//!
//! The database is read behind the product's back with Python's `sqlite3` module, so a test
//! does not trust the code it checks to report what it stored.

mod common;

use common::{
    B64Key, GENERATED, PYTHON, RELOAD_WINDOW, Sensor, VERSION, WRONG_KEY, assert_no_key_material,
    base64_decode, decrypt_reply, encrypted_exchange_from, free_port, listcalls_empty,
    listcalls_summary, nc_unix, parse_key_json, parse_printed_key, run, tempdir, text,
    voipsensor_env, voipsensor_fails, voipsensor_ok, vpmanager_py, vpmanager_py_ok, wait_for,
};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

/// Encryption on: the harness would otherwise let plaintext through.
const ENCRYPTED: &str = "manager_enable_unencrypted = no\n";

/// The sensor's database (the harness's `--sqlitedb {dir}/voipsensor.db`).
fn db_of(sensor: &Sensor) -> PathBuf {
    sensor.dir().join("voipsensor.db")
}

/// Writes `{dir}/client.conf` naming the SQLite database `db`; returns its path as text.
fn client_conf(dir: &Path, db: &Path) -> String {
    let path = dir.join("client.conf");
    std::fs::write(&path, format!("sqlitedb = {}\n", db.display())).expect("write client.conf");
    path.display().to_string()
}

/// Rows of `sql` on the SQLite file `db`, read independently of the product (Python's sqlite3,
/// read-only: a missing file is an error, never created). Columns are tab-separated text.
#[track_caller]
fn sqlite_rows(db: &Path, sql: &str) -> Vec<Vec<String>> {
    let script = "import sqlite3, sys\n\
                  c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\n\
                  for r in c.execute(sys.argv[2]):\n    \
                  print('\\t'.join('' if v is None else str(v) for v in r))\n";
    let mut cmd = Command::new(PYTHON);
    cmd.arg("-c").arg(script).arg(db).arg(sql);
    let out = run(cmd, b"");
    assert!(
        out.status.success(),
        "sqlite3 query {sql:?} on {} failed:\n{}",
        db.display(),
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// Every `manager_key` row of `db`, in id order.
#[track_caller]
fn stored_keys(db: &Path) -> Vec<B64Key> {
    sqlite_rows(
        db,
        "SELECT content FROM system WHERE type = 'manager_key' ORDER BY id",
    )
    .iter()
    .map(|row| parse_key_json(&row[0]))
    .collect()
}

/// The one key stored in `db`.
#[track_caller]
fn the_stored_key(db: &Path) -> B64Key {
    let keys = stored_keys(db);
    assert_eq!(keys.len(), 1, "exactly one manager_key row expected");
    keys[0].clone()
}

/// `voipsensor send-manager-cmd ARGS` (no key in the environment).
fn send(args: &[&str]) -> Output {
    send_env(args, &[])
}

/// `voipsensor send-manager-cmd ARGS` with `env`.
fn send_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["send-manager-cmd"];
    all.extend_from_slice(args);
    voipsensor_env(&all, env)
}

/// `send-manager-cmd ARGS`, which must succeed; the reply.
#[track_caller]
fn send_ok(args: &[&str]) -> String {
    send_env_ok(args, &[])
}

#[track_caller]
fn send_env_ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = send_env(args, env);
    assert!(
        out.status.success(),
        "send-manager-cmd {args:?} failed with {}:\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `send-manager-cmd ARGS`, which must fail with status 1; its stderr.
#[track_caller]
fn send_fails(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["send-manager-cmd"];
    all.extend_from_slice(args);
    voipsensor_fails(&all, env)
}

/// Waits until at least [`RELOAD_WINDOW`] has passed since `since` (the sensor's last key
/// reload), so the next decryption failure re-reads the database.
fn after_reload_window(since: Instant) {
    if let Some(rest) = RELOAD_WINDOW.checked_sub(since.elapsed()) {
        thread::sleep(rest);
    }
}

/// Issue 3 "nothing to configure": a fresh sensor creates exactly one key, stores it, and uses
/// it; restarted on the same database it reuses it instead of generating another.
#[test]
fn fresh_start_generates_stores_and_reuses_one_key() {
    let db_dir = tempdir();
    let db = db_dir.path().join("keys.db");
    let db_arg = db.display().to_string();
    let conf = client_conf(db_dir.path(), &db);

    let mut sensor = Sensor::start(&["--sqlitedb", &db_arg], ENCRYPTED);
    let log = sensor.stderr();
    assert_eq!(
        log.matches(GENERATED).count(),
        1,
        "one key generated:\n{log}"
    );
    let key = the_stored_key(&db);
    key.assert_generated_shape();
    let mode = std::fs::metadata(&db)
        .expect("the database file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key store must be private");

    let port = sensor.port().to_string();
    assert_eq!(
        send_ok(&["-a", "-p", &port, "--config", &conf, "-c", "listcalls"]),
        listcalls_empty(),
        "the client with the key from the database"
    );
    // The independent client, with the key read from the file by Python.
    assert_eq!(
        text(&vpmanager_py_ok(
            sensor.port(),
            Some((&key, "aes-128-cbc")),
            "listcalls"
        )),
        listcalls_empty()
    );
    assert!(sensor.stop(Duration::from_secs(5)).success());

    let sensor = Sensor::start(&["--sqlitedb", &db_arg], ENCRYPTED);
    let log = sensor.stderr();
    assert!(
        !log.contains(GENERATED),
        "the stored key must be reused, not replaced:\n{log}"
    );
    assert_eq!(
        the_stored_key(&db),
        key,
        "the key must survive the restart unchanged"
    );
    let port = sensor.port().to_string();
    assert_eq!(
        send_ok(&["-a", "-p", &port, "--config", &conf, "-c", "listcalls"]),
        listcalls_empty()
    );
    assert_eq!(sensor.nc("listcalls"), b"need aes!\n");
}

/// Spec §2.6: plaintext over TCP is refused for protected commands, served for the exempt
/// ones, and always served over the Unix socket.
#[test]
fn plaintext_tcp_needs_aes_but_exempt_commands_and_the_unix_socket_are_served() {
    let sensor = Sensor::start(
        &[],
        "manager_enable_unencrypted = no\nmanagersocket = {dir}/manager.sock\n",
    );
    for protected in [
        "listcalls",
        "listcalls {}",
        "help",
        "listregisters",
        "totalregisters",
        "sipports",
    ] {
        assert_eq!(
            text(&sensor.nc(protected)),
            "need aes!\n",
            "echo {protected} | nc over TCP"
        );
    }
    for (exempt, reply) in [
        ("getversion", VERSION),
        ("totalcalls", "0"),
        ("support_aes", "yes"),
        ("exists_aes_key", "yes"),
        ("need_aes", "need aes!\n"),
        ("failed_aes_decrypt", "failed aes decrypt!\n"),
        ("nosuchcommand", "command not found\n"),
    ] {
        assert_eq!(
            text(&sensor.nc(exempt)),
            reply,
            "echo {exempt} | nc over TCP"
        );
    }
    let sock = sensor.dir().join("manager.sock");
    assert_eq!(text(&nc_unix(&sock, "listcalls")), listcalls_empty());
    assert!(text(&nc_unix(&sock, "help")).starts_with("List of commands:\n\n"));
}

/// Issue 3 §6: `-a` takes the key from the database the configuration names, gunzips a zipped
/// reply, and `-s ID` finds the sensor through the `sensors` row it wrote itself.
#[test]
fn client_uses_the_database_key_and_finds_the_sensor_by_id() {
    let sensor = Sensor::start(&[], "manager_enable_unencrypted = no\nid_sensor = 42\n");
    let db = db_of(&sensor);
    let conf = client_conf(sensor.dir(), &db);
    let port = sensor.port().to_string();
    let a = |cmd: &str| send_ok(&["-a", "-p", &port, "--config", &conf, "-c", cmd]);

    assert_eq!(a("listcalls"), listcalls_empty());
    let summary = a("listcalls {}");
    assert_eq!(summary, listcalls_summary(42));
    assert_eq!(
        a(r#"listcalls {"zip":"yes"}"#),
        summary,
        "a zipped reply, decrypted and gunzipped, equals the plain one"
    );

    let expected_row = vec!["42".to_owned(), "127.0.0.1".to_owned(), port.clone()];
    wait_for(
        Duration::from_secs(10),
        "the sensor's row in the sensors table",
        || {
            sqlite_rows(&db, "SELECT id_sensor, host, port FROM sensors")
                .contains(&expected_row)
                .then_some(())
        },
    );
    assert_eq!(
        send_ok(&["-s", "42", "--config", &conf, "-c", "listcalls"]),
        listcalls_empty()
    );
    assert_eq!(
        send_ok(&["-s", "42", "--config", &conf, "-c", "listcalls {}"]),
        listcalls_summary(42)
    );
    let err = send_fails(&["-s", "999", "--config", &conf, "-c", "listcalls"], &[]);
    assert!(
        err.contains("sensor 999") && err.contains("not in the sensors table"),
        "{err}"
    );
}

/// Spec §2.2 and issue 3 §2, §6, §8: a key in the configuration wins over the stored one; the
/// client takes it from flags or from VPMANAGER_AES_*; every cipher works; the independent
/// Python client agrees with the server byte for byte.
#[test]
fn configured_key_works_with_flags_env_all_ciphers_and_the_independent_client() {
    let dir = tempdir();
    let db = dir.path().join("voipsensor.db");
    let conf = client_conf(dir.path(), &db);
    // A different key in the database: the configured one must win.
    let db_key = parse_printed_key(&voipsensor_ok(&["store-aes-key", "--config", &conf]));
    let spec = B64Key::spec();
    let sensor = Sensor::start_in(
        dir,
        &[],
        &format!(
            "manager_enable_unencrypted = no\nmanagersocket = {{dir}}/manager.sock\n\
             manager_aes_key = {}\nmanager_aes_iv = {}\nsipport = {}\n",
            spec.key,
            spec.iv,
            many_sip_ports()
        ),
    );
    assert!(!sensor.stderr().contains(GENERATED));
    assert_eq!(
        the_stored_key(&db),
        db_key,
        "a configured key leaves the database alone"
    );
    let port = sensor.port().to_string();
    let flags = spec.flags();
    let mut with_flags = vec!["-a", "-p", &port];
    with_flags.extend_from_slice(&flags);

    // Spec §9 vectors on the wire: request C1, reply C4.
    let c1 = hex("7421d5039333a0685eb2bc67779da147");
    let mut request = b"aes-128-cbc:".to_vec();
    request.extend_from_slice(&c1);
    request.extend_from_slice(b":sea");
    let mut expected = b"aes:".to_vec();
    expected.extend_from_slice(&hex("4bd6064c0dc3704beca02fd79c18c1eb"));
    assert_eq!(sensor.exchange(&request), expected);

    let mut args = with_flags.clone();
    args.extend_from_slice(&["-c", "listcalls"]);
    assert_eq!(send_ok(&args), listcalls_empty(), "--aes-key/--aes-iv");

    let env = [
        ("VPMANAGER_AES_KEY", spec.key.as_str()),
        ("VPMANAGER_AES_IV", spec.iv.as_str()),
    ];
    let plain_a = ["-a", "-p", &port, "-c", "listcalls {}"];
    assert_eq!(
        send_env_ok(&plain_a, &env),
        listcalls_summary(-1),
        "VPMANAGER_AES_KEY/IV"
    );
    for cipher in [
        "aes-128-cbc",
        "aes-192-cbc",
        "aes-256-cbc",
        "AES-256-CBC",
        "aes256",
    ] {
        let mut env = env.to_vec();
        env.push(("VPMANAGER_AES_CIPHER", cipher));
        assert_eq!(
            send_env_ok(&plain_a, &env),
            listcalls_summary(-1),
            "VPMANAGER_AES_CIPHER={cipher}"
        );
        let mut args = with_flags.clone();
        args.extend_from_slice(&["--aes-cipher", cipher, "-c", "getversion"]);
        assert_eq!(send_ok(&args), VERSION, "--aes-cipher {cipher}");
    }
    // The stored key is not the sensor's key.
    let err = send_fails(
        &["-a", "-p", &port, "--config", &conf, "-c", "listcalls"],
        &[],
    );
    assert!(err.contains(WRONG_KEY), "{err}");

    let sock = sensor.dir().join("manager.sock");
    let help = text(&nc_unix(&sock, "help"));
    assert!(help.starts_with("List of commands:\n\n"), "{help}");
    // This sensor's only long reply: the SIP port list (help is short here).
    let sipports = text(&nc_unix(&sock, "sipports"));
    assert!(sipports.len() > 4096, "sipports must be a long reply");
    for cipher in ["aes-128-cbc", "aes-256-cbc"] {
        let py = |cmd: &str| text(&vpmanager_py_ok(sensor.port(), Some((&spec, cipher)), cmd));
        assert_eq!(py("getversion"), VERSION, "python {cipher}");
        assert_eq!(py("listcalls {}"), listcalls_summary(-1), "python {cipher}");
        assert_eq!(
            py(r#"listcalls {"zip":"yes"}"#),
            listcalls_summary(-1),
            "python {cipher}, zip"
        );
        assert_eq!(py("help"), help, "python {cipher}");
        assert_eq!(
            py("sipports"),
            sipports,
            "python {cipher}, a reply > 4096 bytes"
        );
    }
    assert_eq!(
        text(&vpmanager_py_ok(sensor.port(), None, "listcalls")),
        "need aes!\n",
        "python in plaintext"
    );
    assert_eq!(
        text(&vpmanager_py_ok(sensor.port(), None, "getversion")),
        VERSION
    );
}

/// Issue 3 §6: a wrong key gets a clear client error (and never a wrong answer); the server
/// still answers in its own key, and the right key keeps working.
#[test]
fn wrong_key_is_reported_clearly() {
    let sensor = Sensor::start(&[], ENCRYPTED);
    let key = the_stored_key(&db_of(&sensor));
    let other = parse_printed_key(&voipsensor_ok(&["generate-aes-key"]));
    let port = sensor.port().to_string();

    let mut args = vec!["-a", "-p", &port];
    let other_flags = other.flags();
    args.extend_from_slice(&other_flags);
    args.extend_from_slice(&["-c", "listcalls"]);
    let err = send_fails(&args, &[]);
    assert!(err.contains(WRONG_KEY), "{err}");
    assert_no_key_material(&err, &other, "the client's error");

    let env = [
        ("VPMANAGER_AES_KEY", other.key.as_str()),
        ("VPMANAGER_AES_IV", other.iv.as_str()),
    ];
    let err = send_fails(&["-a", "-p", &port, "-c", "getversion"], &env);
    assert!(err.contains(WRONG_KEY), "{err}");

    // The independent client cannot read the reply (or, with a 1/256 chance of valid
    // padding, reads garbage: never the real reply).
    let out = vpmanager_py(sensor.port(), Some((&other, "aes-128-cbc")), "getversion");
    assert!(
        out.status.code() == Some(3) || (out.status.success() && out.stdout != VERSION.as_bytes()),
        "python with a wrong key: {} {:?} {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );

    // On the wire: the failure is reported in the sensor's key (spec §2.4).
    let (reply, _) = encrypted_exchange_from(21, sensor.addr(), &other, "listcalls");
    assert_eq!(
        decrypt_reply(&key, &reply).map(|r| text(&r)),
        Some("failed aes decrypt!\n".to_owned()),
        "raw reply {reply:02x?}"
    );

    // A key too short for the cipher is refused up front, without echoing it.
    let short = B64Key {
        key: "c2hvcnRrZXk=".to_owned(),
        iv: other.iv.clone(),
    };
    let mut args = vec!["-a", "-p", &port];
    let short_flags = short.flags();
    args.extend_from_slice(&short_flags);
    args.extend_from_slice(&["-c", "getversion"]);
    let err = send_fails(&args, &[]);
    assert!(err.contains("unusable"), "{err}");
    assert!(
        !err.contains("c2hvcnRrZXk") && !err.contains("shortkey"),
        "{err}"
    );

    // The right key still works, from the same source address as the failures.
    let mut args = vec!["-a", "-p", &port];
    let flags = key.flags();
    args.extend_from_slice(&flags);
    args.extend_from_slice(&["-c", "listcalls"]);
    assert_eq!(send_ok(&args), listcalls_empty());
    assert_eq!(
        text(&vpmanager_py_ok(
            sensor.port(),
            Some((&key, "aes-128-cbc")),
            "getversion"
        )),
        VERSION
    );
}

/// Issue 3 §2: `store-aes-key` while the sensor runs: the new key works from the first
/// request, the old one fails.
#[test]
fn store_aes_key_while_running_replaces_the_key_at_once() {
    let dir = tempdir();
    let db = dir.path().join("voipsensor.db");
    let conf = client_conf(dir.path(), &db);
    let out = voipsensor_env(&["store-aes-key", "--config", &conf], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let k1 = parse_printed_key(&text(&out.stdout));
    assert!(
        text(&out.stderr).contains(&format!("stored in sqlite {}", db.display())),
        "{}",
        text(&out.stderr)
    );

    let sensor = Sensor::start_in(dir, &[], ENCRYPTED);
    let started = Instant::now();
    assert!(
        !sensor.stderr().contains(GENERATED),
        "the stored key is used"
    );
    let port = sensor.port().to_string();
    let ask = |key: &B64Key, cmd: &str| {
        let flags = key.flags();
        let mut args = vec!["-a", "-p", &port];
        args.extend_from_slice(&flags);
        args.extend_from_slice(&["-c", cmd]);
        send(&args)
    };
    let out = ask(&k1, "listcalls");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), listcalls_empty());

    // Reloads are rate-limited to one a second; the last one was at start-up.
    after_reload_window(started);
    let k2 = parse_printed_key(&voipsensor_ok(&["store-aes-key", "--config", &conf]));
    assert_ne!(k1, k2);
    assert_eq!(the_stored_key(&db), k2, "the new key replaces the old row");

    let out = ask(&k2, "listcalls");
    assert!(
        out.status.success(),
        "the new key must work on the first request: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), listcalls_empty());
    assert_eq!(
        send_ok(&["-a", "-p", &port, "--config", &conf, "-c", "listcalls {}"]),
        listcalls_summary(-1),
        "the client reading the new key from the database"
    );
    // The old key gets nothing readable.
    common::assert_unreadable_reply(&ask(&k1, "listcalls"));
    assert_eq!(sensor.nc("listcalls"), b"need aes!\n");
}

/// Issue 3 §5: `manager_enable_unencrypted = yes` lets plaintext through over TCP; encrypted
/// requests still work.
#[test]
fn manager_enable_unencrypted_lets_nc_through() {
    let sensor = Sensor::start(&[], "manager_enable_unencrypted = yes\n");
    assert_eq!(text(&sensor.nc("listcalls")), listcalls_empty());
    assert_eq!(
        text(&vpmanager_py_ok(sensor.port(), None, "listcalls {}")),
        listcalls_summary(-1)
    );
    let conf = client_conf(sensor.dir(), &db_of(&sensor));
    let port = sensor.port().to_string();
    assert_eq!(
        send_ok(&["-a", "-p", &port, "--config", &conf, "-c", "listcalls"]),
        listcalls_empty()
    );
    assert!(
        sensor.stderr().contains("manager_enable_unencrypted = yes"),
        "the sensor must warn that plaintext is served:\n{}",
        sensor.stderr()
    );
}

/// Issue 3 §7: the key tools.
#[test]
fn key_tools_generate_store_and_delete() {
    let k1 = parse_printed_key(&voipsensor_ok(&["generate-aes-key"]));
    let k2 = parse_printed_key(&voipsensor_ok(&["generate-aes-key"]));
    k1.assert_generated_shape();
    k2.assert_generated_shape();
    assert_ne!(k1, k2, "two generated keys must differ");

    let dir = tempdir();
    let db = dir.path().join("voipsensor.db");
    let conf = client_conf(dir.path(), &db);
    let none = format!("no manager key was stored in sqlite {}\n", db.display());
    let deleted = format!("deleted the manager key from sqlite {}\n", db.display());
    assert_eq!(
        voipsensor_ok(&["delete-aes-key", "--config", &conf]),
        none,
        "generate-aes-key stores nothing"
    );

    let out = voipsensor_env(&["store-aes-key", "--config", &conf], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stored = parse_printed_key(&text(&out.stdout));
    stored.assert_generated_shape();
    assert!(text(&out.stderr).contains(&format!("stored in sqlite {}", db.display())));
    assert_no_key_material(&text(&out.stderr), &stored, "store-aes-key's stderr");
    assert_eq!(stored_keys(&db), vec![stored.clone()]);
    let mode = std::fs::metadata(&db)
        .expect("the database file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key store must be private");

    let replaced = parse_printed_key(&voipsensor_ok(&["store-aes-key", "--config", &conf]));
    assert_ne!(replaced, stored);
    assert_eq!(
        stored_keys(&db),
        vec![replaced],
        "store replaces, never adds"
    );

    assert_eq!(
        voipsensor_ok(&["delete-aes-key", "--config", &conf]),
        deleted
    );
    assert_eq!(stored_keys(&db), vec![]);
    assert_eq!(voipsensor_ok(&["delete-aes-key", "--config", &conf]), none);
}

/// Issue 3 §5: the key never appears in logs or error messages, even at trace level, for a
/// configured key and for a stored one (rotated while running).
#[test]
fn key_material_never_reaches_the_logs() {
    let spec = B64Key::spec();
    let mut sensor = Sensor::start(
        &["--log-level", "trace"],
        &format!(
            "manager_enable_unencrypted = no\nmanagersocket = {{dir}}/manager.sock\n\
             manager_aes_key = {}\nmanager_aes_iv = {}\n",
            spec.key, spec.iv
        ),
    );
    let wrong = parse_printed_key(&voipsensor_ok(&["generate-aes-key"]));
    let port = sensor.port().to_string();
    let mut client_logs = String::new();
    for (key, cmd) in [
        (&spec, "listcalls"),
        (&spec, "help"),
        (&spec, r#"listcalls {"zip":"yes"}"#),
        (&wrong, "listcalls"),
    ] {
        let flags = key.flags();
        let mut args = vec![
            "--log-level",
            "trace",
            "send-manager-cmd",
            "-a",
            "-p",
            &port,
        ];
        args.extend_from_slice(&flags);
        args.extend_from_slice(&["-c", cmd]);
        client_logs.push_str(&text(&voipsensor_env(&args, &[]).stderr));
    }
    for (i, key) in [&wrong, &spec, &wrong].into_iter().enumerate() {
        let n = 30 + u8::try_from(i).expect("few");
        encrypted_exchange_from(n, sensor.addr(), key, "getversion");
    }
    assert_eq!(
        text(&vpmanager_py_ok(
            sensor.port(),
            Some((&spec, "aes-256-cbc")),
            "getversion"
        )),
        VERSION
    );
    assert_eq!(sensor.nc("listcalls"), b"need aes!\n");
    assert_eq!(text(&sensor.nc("exists_aes_key")), "yes");
    nc_unix(&sensor.dir().join("manager.sock"), "listcalls");
    assert!(sensor.stop(Duration::from_secs(5)).success());
    let log = sensor.stderr();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "trace logging must be on:\n{log}"
    );
    assert_no_key_material(&log, &spec, "the sensor's trace log");
    assert_no_key_material(&client_logs, &spec, "the client's trace log");
    assert_no_key_material(&client_logs, &wrong, "the client's trace log");

    // A stored key, replaced while the sensor runs.
    let mut sensor = Sensor::start(&["--log-level", "trace"], ENCRYPTED);
    let started = Instant::now();
    let db = db_of(&sensor);
    let conf = client_conf(sensor.dir(), &db);
    let old = the_stored_key(&db);
    let port = sensor.port().to_string();
    assert_eq!(
        send_ok(&["-a", "-p", &port, "--config", &conf, "-c", "listcalls"]),
        listcalls_empty()
    );
    after_reload_window(started);
    let new = parse_printed_key(&voipsensor_ok(&["store-aes-key", "--config", &conf]));
    encrypted_exchange_from(40, sensor.addr(), &old, "listcalls");
    let (reply, _) = encrypted_exchange_from(41, sensor.addr(), &new, "getversion");
    assert_eq!(
        decrypt_reply(&new, &reply),
        Some(VERSION.as_bytes().to_vec())
    );
    assert!(sensor.stop(Duration::from_secs(5)).success());
    let log = sensor.stderr();
    assert_no_key_material(&log, &old, "the sensor's trace log (first key)");
    assert_no_key_material(&log, &new, "the sensor's trace log (replacement)");
}

/// A database that cannot be opened stops the sensor and the tools with an error naming it.
#[test]
fn unusable_database_path_is_a_clear_error() {
    let dir = tempdir();
    let bad = "/proc/forbidden/x.db";
    let conf = dir.path().join("voipsensor.conf");
    std::fs::write(
        &conf,
        format!(
            "manager_enable_unencrypted = no\nsqlitedb = {bad}\nmanagerport = {}\n",
            free_port()
        ),
    )
    .expect("write the configuration");
    let conf = conf.display().to_string();
    let err = voipsensor_fails(&["run", "--config", &conf], &[]);
    assert!(err.contains(bad), "run must name the database:\n{err}");
    for tool in ["store-aes-key", "delete-aes-key"] {
        let err = voipsensor_fails(&[tool, "--config", &conf], &[]);
        assert!(err.contains(bad), "{tool} must name the database:\n{err}");
    }
    let err = send_fails(&["-a", "--config", &conf, "-c", "listcalls"], &[]);
    assert!(
        err.contains(bad),
        "the client must name the database:\n{err}"
    );
    assert!(
        !Path::new(bad).exists(),
        "nothing may be created at the bad path"
    );
}

/// A `sipport` list of 1200 separate ports: `sipports` then replies with over 7 kB.
fn many_sip_ports() -> String {
    (0..1200)
        .map(|i| (20000 + 2 * i).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The base64 helper the tests rely on agrees with known values.
#[test]
fn base64_helper_decodes_the_spec_key() {
    assert_eq!(
        base64_decode(common::SPEC_KEY).as_deref(),
        Some(&b"0123456789abcdefghijklmnopqrstuv"[..])
    );
    assert_eq!(
        base64_decode(common::SPEC_IV).as_deref(),
        Some(&b"ABCDEFGHIJKLMNOP"[..])
    );
    assert_eq!(
        base64_decode("c2hvcnRrZXk=").as_deref(),
        Some(&b"shortkey"[..])
    );
    assert_eq!(base64_decode("not base64"), None);
}
