//! End-to-end tests of the `voipsensor` binary: the real process, driven the way operators and
//! the GUI drive it (`echo CMD | nc`, `nc -U`, `send-manager-cmd`, signals), checked against
//! the manager protocol (spec §1 transport and framing, §1.3 `manager_file`, §4.1–§4.9
//! commands) and the reference sniffer's recorded replies in `testdata/reference-replies`.

mod common;

use common::{
    BUILD, Sensor, VERBUILD, VERSION, assert_gone, assert_private_socket, connect, exchange_unix,
    free_port, half_close, nc, nc_unix, read_reply, run, send_manager_cmd, tempdir, text,
    timed_exchange, voipsensor,
};
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{IpAddr, Ipv6Addr, TcpListener};
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// "Answered at once": the server needs well under a millisecond; the margin is for a loaded
/// CI machine.
const AT_ONCE: Duration = Duration::from_millis(300);
/// Lower bound for a reply that must wait for the 500 ms idle rule (spec §1.5 step 3).
const IDLE_RULE_MIN: Duration = Duration::from_millis(400);
/// Upper bound for the same.
const IDLE_RULE_MAX: Duration = Duration::from_secs(3);

fn reference(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/reference-replies")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read reference reply {}: {e}", path.display()))
}

/// The header array (`["callreference",…]`) of a recorded reference reply `[[…],…]`.
fn reference_header(name: &str) -> String {
    let reply = reference(name);
    let end = reply
        .find(']')
        .expect("a recorded reply starts with its header array");
    reply[1..=end].to_owned()
}

/// The top-level keys of a `sniffer_stat` JSON reply, in order. Its values never contain
/// `": `, so every occurrence before `disk_io` ends a key.
fn sniffer_stat_keys(json: &str) -> Vec<String> {
    let end = json
        .find("\"disk_io\": ")
        .expect("sniffer_stat has a disk_io key");
    let mut keys: Vec<String> = json[..end]
        .match_indices("\": ")
        .map(|(i, _)| {
            let start = json[..i].rfind('"').expect("a key starts with a quote") + 1;
            json[start..i].to_owned()
        })
        .collect();
    keys.push("disk_io".to_owned());
    keys
}

/// Configuration of the sensor the reply table is checked against.
const TABLE_CONFIG: &str = "[general]\n\
     id_sensor = 7\n\
     sipport = 5060,5070-5080\n\
     managersocket = {dir}/manager.sock\n";

/// Command lines `check_reply` knows the reply to (for a sensor with `TABLE_CONFIG`).
const TABLE: &[&str] = &[
    "getversion",
    "getbuild",
    "getverbuild",
    "listcalls",
    "listcalls {}",
    r#"listcalls {"limit":0}"#,
    r#"listcalls {"zip":"yes"}"#,
    "listregisters",
    "listregisters {}",
    "totalcalls",
    "totalregisters",
    "sniffer_stat",
    "sniffer_stat plain",
    "help",
    "help listcalls ",
    "help listcalls",
    "help nosuch ",
    "support_aes",
    "exists_aes_key",
    "need_aes",
    "failed_aes_decrypt",
    "sipports",
    "nosuchcommand",
    "xgetversion",
    "GETVERSION",
];

const SUMMARY_7: &str = r#"{"total":0,"is_receiver":0,"is_server":0,"id_sensor":7}"#;
const GZIP_HEADER: &[u8] = &[0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03];

/// Checks the reply to one line of `TABLE`.
#[track_caller]
fn check_reply(line: &str, reply: &[u8]) {
    let r = text(reply);
    let exact = |want: &str| assert_eq!(r, want, "reply to {line:?}");
    let calls_header = reference_header("listcalls.txt");
    match line {
        "getversion" | "xgetversion" => exact(VERSION),
        "getbuild" => exact(BUILD),
        "getverbuild" => exact(VERBUILD),
        "listcalls" => exact(&format!("[{calls_header}]")),
        "listcalls {}" => exact(&format!("[{calls_header},[{SUMMARY_7}]]")),
        r#"listcalls {"limit":0}"# => exact(SUMMARY_7),
        r#"listcalls {"zip":"yes"}"# => assert!(
            reply.starts_with(GZIP_HEADER),
            "zip=yes must give gzip with the reference's header, got {reply:02x?}"
        ),
        "listregisters" | "listregisters {}" => {
            exact(&format!("[{}]", reference_header("listregisters.txt")));
        }
        "totalcalls" | "totalregisters" => exact("0"),
        "sniffer_stat" => check_sniffer_stat_json(&r),
        "sniffer_stat plain" => check_sniffer_stat_plain(&r),
        "help" => check_help_list(&r),
        "help listcalls " | "help listcalls" => exact("listcalls ... lists active calls.\n\n"),
        "help nosuch " => exact("Command nosuch not found.\n\n"),
        // Encryption is on by default: a key was generated and stored at the first start.
        "support_aes" | "exists_aes_key" => exact("yes"),
        "need_aes" => exact("need aes!\n"),
        "failed_aes_decrypt" => exact("failed aes decrypt!\n"),
        "sipports" => exact("5060,5070-5080,\n"),
        "nosuchcommand" | "GETVERSION" => exact("command not found\n"),
        other => panic!("no expectation for {other:?}"),
    }
}

#[track_caller]
fn check_sniffer_stat_json(r: &str) {
    assert!(
        r.starts_with(&format!(
            r#"{{"version": "{VERSION}","build": "{BUILD}","rrd_version": ""#
        )),
        "{r}"
    );
    assert!(r.ends_with(",\"disk_io\": null}\n"), "{r}");
    let keys = sniffer_stat_keys(r);
    assert_eq!(
        keys,
        sniffer_stat_keys(&reference("sniffer_stat.txt")),
        "same keys in the same order as the reference"
    );
    for key in &keys[..keys.len() - 1] {
        assert!(
            r.contains(&format!("\"{key}\": \"")),
            "{key} must be a string: {r}"
        );
    }
}

#[track_caller]
fn check_sniffer_stat_plain(r: &str) {
    assert!(r.ends_with('\n'), "{r:?}");
    let lines: Vec<&str> = r.lines().collect();
    assert_eq!(lines.first(), Some(&"version=2026.04.0"), "{r}");
    assert_eq!(lines.get(1), Some(&"build=voipsensor-0.1.0"), "{r}");
    for want in [
        "use_new_config=1",
        "calls_active=0,r:0",
        "terminating_error=",
    ] {
        assert!(lines.contains(&want), "{want} missing:\n{r}");
    }
    for line in &lines {
        assert!(line.contains('='), "not key=value: {line:?}");
        assert!(!line.starts_with("v2026"), "the version token is dropped");
    }
}

#[track_caller]
fn check_help_list(r: &str) {
    let body = r
        .strip_prefix("List of commands:\n\n")
        .unwrap_or_else(|| panic!("help must start with its title: {r:?}"));
    assert!(body.ends_with(".\n\n"), "{r:?}");
    let reference_help = reference("help.txt");
    let entries: Vec<&str> = body.split_terminator("\n\n").collect();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e.split(" ... ").next().unwrap_or_default())
        .collect();
    assert!(
        names.windows(2).all(|w| w[0] < w[1]),
        "byte order: {names:?}"
    );
    for entry in &entries {
        assert!(
            reference_help.contains(&format!("\n\n{entry}\n\n")),
            "{entry:?} is not the reference's text"
        );
    }
    for name in [
        "getversion",
        "help",
        "listcalls",
        "sniffer_stat",
        "totalcalls",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    for silent in ["manager_file", "need_aes", "support_aes"] {
        assert!(!names.contains(&silent), "{silent} has no help text");
    }
}

// --- the README command and every reply ------------------------------------------------------

#[test]
fn readme_command_works() {
    let sensor = Sensor::start(&[], "");
    let script = format!("echo getversion | nc 127.0.0.1 {}", sensor.port());
    assert_eq!(text(&nc(&script)), VERSION, "{script}");
}

#[test]
fn every_reply_over_tcp_with_nc() {
    let sensor = Sensor::start(&[], TABLE_CONFIG);
    let sensor = &sensor;
    thread::scope(|s| {
        for &line in TABLE {
            s.spawn(move || check_reply(line, &sensor.nc(line)));
        }
    });
}

#[test]
fn every_reply_over_the_unix_socket_with_nc() {
    let sensor = Sensor::start(&[], TABLE_CONFIG);
    let socket = sensor.dir().join("manager.sock");
    assert_private_socket(&socket);
    let socket = &socket;
    thread::scope(|s| {
        for &line in TABLE {
            s.spawn(move || check_reply(line, &nc_unix(socket, line)));
        }
    });
}

// --- framing (spec §1.4-§1.6) ------------------------------------------------------------------

#[test]
fn blank_line_is_answered_at_once() {
    let sensor = Sensor::start(&[], "");
    let (reply, took) = timed_exchange(sensor.addr(), b"getversion\r\n\r\n");
    assert_eq!(text(&reply), VERSION);
    assert!(took < AT_ONCE, "took {took:?}");
}

#[test]
fn single_line_break_is_answered_after_the_idle_rule() {
    let sensor = Sensor::start(&[], "");
    let sensor = &sensor;
    thread::scope(|s| {
        for request in [&b"getversion\n"[..], b"getversion\r\n", b"getversion"] {
            s.spawn(move || {
                let (reply, took) = timed_exchange(sensor.addr(), request);
                assert_eq!(text(&reply), VERSION, "{request:?}");
                assert!(
                    (IDLE_RULE_MIN..IDLE_RULE_MAX).contains(&took),
                    "{request:?} answered after {took:?}"
                );
            });
        }
    });
}

#[test]
fn half_close_is_answered_at_once() {
    let sensor = Sensor::start(&[], "");
    for request in [&b"getversion\n"[..], b"getversion"] {
        let mut stream = connect(sensor.addr());
        let started = Instant::now();
        stream.write_all(request).expect("write");
        half_close(&stream);
        let reply = read_reply(&mut stream);
        let took = started.elapsed();
        assert_eq!(text(&reply), VERSION, "{request:?}");
        assert!(took < AT_ONCE, "{request:?} took {took:?}");
    }
}

#[test]
fn crlf_in_a_later_chunk_completes_the_request() {
    let sensor = Sensor::start(&[], "");
    let mut stream = connect(sensor.addr());
    stream.write_all(b"getver").expect("write");
    thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    stream.write_all(b"sion\r\n").expect("write");
    let reply = read_reply(&mut stream);
    assert_eq!(text(&reply), VERSION);
    let took = started.elapsed();
    assert!(took < AT_ONCE, "took {took:?}");
}

#[test]
fn only_the_first_line_runs() {
    let sensor = Sensor::start(&[], "id_sensor = 7\n");
    let cases: [(&[u8], String); 3] = [
        (b"getverbuild\r\ngetversion\r\n\r\n", VERBUILD.to_owned()),
        (b"getversion\r\ngetverbuild\r\n\r\n", VERSION.to_owned()),
        (
            b"listcalls {\"limit\":0}\r\n\r\nhelp\r\n\r\n",
            SUMMARY_7.to_owned(),
        ),
    ];
    for (request, want) in cases {
        assert_eq!(text(&sensor.exchange(request)), want, "{request:?}");
    }
}

#[test]
fn requests_without_a_command_get_no_reply() {
    let sensor = Sensor::start(&[], "");
    // A request that starts with NUL is empty (spec §1.6).
    assert_eq!(sensor.exchange(b"\0getversion\r\n\r\n"), b"");
    // The blank line alone.
    assert_eq!(sensor.exchange(b"\r\n\r\n"), b"");
    // Connect and half-close without a byte: closed at once, nothing sent.
    let mut stream = connect(sensor.addr());
    let started = Instant::now();
    half_close(&stream);
    assert_eq!(read_reply(&mut stream), b"");
    assert!(started.elapsed() < AT_ONCE, "took {:?}", started.elapsed());
    // Connect and go away.
    drop(connect(sensor.addr()));
    sensor.assert_alive();
}

#[test]
fn one_command_per_connection_then_close() {
    let sensor = Sensor::start(&[], "");
    let mut stream = connect(sensor.addr());
    stream
        .write_all(b"getversion\r\n\r\n")
        .expect("write the first request");
    assert_eq!(text(&read_reply(&mut stream)), VERSION);
    // The server has closed its side: a second command on the connection gets nothing.
    let _ = stream.write_all(b"getbuild\r\n\r\n");
    let mut more = Vec::new();
    let _ = stream.read_to_end(&mut more);
    assert_eq!(more, b"", "a second command must not be answered");
}

// --- help and dispatch (spec §4.1, §4.3) -----------------------------------------------------

#[test]
fn help_variants() {
    let sensor = Sensor::start(&[], "");
    let ask = |line: &str| text(&sensor.exchange(format!("{line}\r\n\r\n").as_bytes()));
    check_help_list(&ask("help"));
    let listcalls = "listcalls ... lists active calls.\n\n";
    assert_eq!(ask("help listcalls "), listcalls);
    assert_eq!(ask("help listcalls\tx"), listcalls);
    // Documented deviation: the reference answers nothing without the trailing blank.
    assert_eq!(ask("help listcalls"), listcalls);
    assert_eq!(
        ask("help getversion "),
        "getversion ... return the version of the sniffer.\n\n"
    );
    assert_eq!(ask("help nosuch "), "Command nosuch not found.\n\n");
    // A known command without help text: empty reply.
    assert_eq!(ask("help manager_file "), "");
}

#[test]
fn dispatch_exact_substring_and_case() {
    let sensor = Sensor::start(&[], "");
    let ask = |line: &str| text(&sensor.exchange(format!("{line}\r\n\r\n").as_bytes()));
    assert_eq!(ask("nosuchcmd"), "command not found\n");
    assert_eq!(ask("zzz qqq"), "command not found\n");
    assert_eq!(ask("GETVERSION"), "command not found\n");
    assert_eq!(ask("xgetversion"), VERSION);
    assert_eq!(ask("  getversion"), VERSION);
    assert_eq!(ask("foogetverbuildbar"), VERBUILD);
    assert!(ask("xlistcalls").starts_with("[[\"callreference\",\"callid\","));
    assert!(
        sensor
            .stderr()
            .contains("command matched by substring, not by its exact name"),
        "a substring match is logged as a warning:\n{}",
        sensor.stderr()
    );
}

// --- manager_file (spec §1.3) ------------------------------------------------------------------

#[test]
fn manager_file_cycle_over_tcp_with_nc() {
    let mut sensor = Sensor::start(&[], "");
    let path = sensor.dir().join("runtime.sock");
    let p = path.display().to_string();
    assert_eq!(
        text(&sensor.nc(&format!("manager_file start {p}"))),
        format!("OK ({p})\n")
    );
    assert_private_socket(&path);
    assert!(text(&nc_unix(&path, "help")).starts_with("List of commands:\n\n"));

    let other = sensor.dir().join("other.sock");
    assert_eq!(
        text(&sensor.nc(&format!("manager_file start {}", other.display()))),
        format!("running ({p})\n")
    );
    assert_gone(&other);
    assert_eq!(text(&sensor.nc("manager_file stop")), "OK\n");
    assert_gone(&path);
    assert_eq!(text(&sensor.nc("manager_file stop")), "not running\n");

    // Without a path: a fresh name in the reference's style, /tmp/VM<pid>_<nanoseconds>.
    let reply = text(&sensor.exchange(b"manager_file start\r\n\r\n"));
    let temp = reply
        .strip_prefix("OK (")
        .and_then(|r| r.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("unexpected reply {reply:?}"));
    let nanos = temp
        .strip_prefix(&format!("/tmp/VM{}_", sensor.pid()))
        .unwrap_or_else(|| panic!("unexpected temp name {temp:?}"));
    assert!(
        !nanos.is_empty() && nanos.bytes().all(|b| b.is_ascii_digit()),
        "{temp:?}"
    );
    let temp = PathBuf::from(temp);
    assert_private_socket(&temp);
    assert_eq!(text(&exchange_unix(&temp, b"getversion\r\n\r\n")), VERSION);
    assert_eq!(
        text(&sensor.exchange(b"manager_file start\r\n\r\n")),
        format!("running ({})\n", temp.display())
    );
    assert_eq!(text(&sensor.exchange(b"manager_file stop\r\n\r\n")), "OK\n");
    assert_gone(&temp);

    // A socket started at run time is removed at shutdown.
    let last = sensor.dir().join("last.sock");
    assert_eq!(
        text(&sensor.exchange(format!("manager_file start {}\r\n\r\n", last.display()).as_bytes())),
        format!("OK ({})\n", last.display())
    );
    assert_private_socket(&last);
    let status = sensor.stop(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", sensor.stderr());
    assert_gone(&last);
}

#[test]
fn manager_file_refuses_to_replace_what_is_not_its_own() {
    let sensor = Sensor::start(&[], "");
    let dir = sensor.dir().to_owned();
    let mf =
        |args: String| text(&sensor.exchange(format!("manager_file {args}\r\n\r\n").as_bytes()));
    let refused = |reply: &str, why: &str| {
        assert!(
            reply.starts_with("error: ") && reply.contains(why) && reply.ends_with('\n'),
            "expected an error containing {why:?}, got {reply:?}"
        );
    };

    let file = dir.join("regular");
    std::fs::write(&file, b"keep me").expect("write a regular file");
    refused(&mf(format!("start {}", file.display())), "is not a socket");
    assert_eq!(std::fs::read(&file).expect("still there"), b"keep me");

    let subdir = dir.join("subdir");
    std::fs::create_dir(&subdir).expect("mkdir");
    std::fs::write(subdir.join("inside"), b"x").expect("write");
    refused(
        &mf(format!("start {}", subdir.display())),
        "is not a socket",
    );
    assert!(subdir.join("inside").exists(), "the directory is untouched");
    assert_eq!(mf("stop".into()), "not running\n");

    // Another process listens on this one: refused, and its socket keeps working.
    let live = dir.join("live.sock");
    let listener = UnixListener::bind(&live).expect("bind the other process's socket");
    refused(&mf(format!("start {}", live.display())), "in use");
    listener.set_nonblocking(false).expect("blocking listener");
    let _client = UnixStream::connect(&live).expect("the other socket still exists");
    listener.accept().expect("and still accepts");
    assert_eq!(mf("stop".into()), "not running\n");

    // A stale socket (nobody listening) is replaced.
    let stale = dir.join("stale.sock");
    drop(UnixListener::bind(&stale).expect("bind"));
    let stale_inode = std::fs::symlink_metadata(&stale).expect("stale").ino();
    assert_eq!(
        mf(format!("start {}", stale.display())),
        format!("OK ({})\n", stale.display())
    );
    assert_private_socket(&stale);
    assert_ne!(
        std::fs::symlink_metadata(&stale).expect("new").ino(),
        stale_inode
    );
    assert_eq!(text(&exchange_unix(&stale, b"getbuild\r\n\r\n")), BUILD);
    assert_eq!(mf("stop".into()), "OK\n");
    assert_gone(&stale);

    refused(
        &mf(format!("start {}", dir.join("x".repeat(120)).display())),
        "too long",
    );
    assert_eq!(mf("foo".into()), "", "neither start nor stop: no reply");
    sensor.assert_alive();
}

#[test]
fn manager_file_with_a_configured_managersocket() {
    let sensor = Sensor::start(&[], "managersocket = {dir}/configured.sock\n");
    let configured = sensor.dir().join("configured.sock");
    let other = sensor.dir().join("other.sock");
    let running = format!("running ({})\n", configured.display());
    assert_eq!(
        text(&sensor.nc(&format!("manager_file start {}", other.display()))),
        running
    );
    assert_gone(&other);
    assert_eq!(
        text(&sensor.exchange(b"manager_file start\r\n\r\n")),
        running
    );
    assert_eq!(
        text(&sensor.nc("manager_file stop")),
        "manager enabled via the managersocket option cannot be terminated\n"
    );
    assert_private_socket(&configured);
    assert_eq!(text(&nc_unix(&configured, "getversion")), VERSION);
}

#[test]
fn concurrent_manager_file_starts_create_exactly_one_socket() {
    let sensor = Sensor::start(&[], "");
    let sensor = &sensor;
    let replies: Vec<(PathBuf, String)> = thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let path = sensor.dir().join(format!("s{i}.sock"));
                s.spawn(move || {
                    let request = format!("manager_file start {}\r\n\r\n", path.display());
                    let reply = text(&sensor.exchange(request.as_bytes()));
                    (path, reply)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    let started: Vec<&PathBuf> = replies
        .iter()
        .filter(|(path, reply)| *reply == format!("OK ({})\n", path.display()))
        .map(|(path, _)| path)
        .collect();
    assert_eq!(started.len(), 1, "exactly one start wins: {replies:?}");
    let winner = started[0];
    assert_private_socket(winner);
    for (path, reply) in &replies {
        if path != winner {
            assert_eq!(reply, &format!("running ({})\n", winner.display()));
            assert_gone(path);
        }
    }
    assert_eq!(text(&sensor.exchange(b"manager_file stop\r\n\r\n")), "OK\n");
    assert_gone(winner);
}

// --- managersocket (spec §1.2) -----------------------------------------------------------------

#[test]
fn managersocket_replaces_a_stale_socket() {
    let dir = tempdir();
    let socket = dir.path().join("m.sock");
    drop(UnixListener::bind(&socket).expect("leave a stale socket"));
    let stale_inode = std::fs::symlink_metadata(&socket).expect("stale").ino();
    let sensor = Sensor::start_in(dir, &[], "managersocket = {dir}/m.sock\n");
    assert_private_socket(&socket);
    assert_ne!(
        std::fs::symlink_metadata(&socket).expect("new").ino(),
        stale_inode
    );
    assert_eq!(text(&nc_unix(&socket, "getverbuild")), VERBUILD);
    drop(sensor);
}

#[test]
fn managersocket_refuses_to_replace_a_regular_file() {
    let dir = tempdir();
    let file = dir.path().join("m.sock");
    std::fs::write(&file, b"not a socket").expect("write");
    let config = dir.path().join("voipsensor.conf");
    std::fs::write(&config, format!("managersocket = {}\n", file.display())).expect("write");
    let mut cmd = voipsensor();
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--managerport")
        .arg(free_port().to_string());
    let out = run(cmd, b"");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "managersocket: {} exists and is not a socket",
            file.display()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&file).expect("untouched"), b"not a socket");
}

#[test]
fn managersocket_of_a_running_sensor_is_not_taken_over() {
    let first = Sensor::start(&[], "managersocket = {dir}/m.sock\n");
    let socket = first.dir().join("m.sock");
    let mut cmd = voipsensor();
    cmd.arg("run")
        .arg("--managerport")
        .arg(free_port().to_string())
        .arg("--managersocket")
        .arg(&socket);
    let out = run(cmd, b"");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
    assert_private_socket(&socket);
    assert_eq!(text(&nc_unix(&socket, "getversion")), VERSION);
}

#[test]
fn sigterm_removes_the_managersocket_and_exits_0() {
    let mut sensor = Sensor::start(&[], "managersocket = {dir}/m.sock\n");
    let socket = sensor.dir().join("m.sock");
    assert_private_socket(&socket);
    let status = sensor.stop(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", sensor.stderr());
    assert_gone(&socket);
}

// --- shutdown ----------------------------------------------------------------------------------

#[test]
fn sigterm_lets_a_request_in_flight_finish() {
    let mut sensor = Sensor::start(&[], "");
    let addr = sensor.addr();
    let mut stream = connect(addr);
    // No blank line: the server waits 500 ms for more before it answers.
    stream.write_all(b"getversion\n").expect("write");
    let sent = Instant::now();
    thread::sleep(Duration::from_millis(100));
    sensor.sigterm();

    // New connections are refused while the request in flight is still being served.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match std::net::TcpStream::connect(addr) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
            // Other errors (a reset while the listener closes, a busy machine out of
            // ephemeral ports) prove nothing either way: try again until the deadline.
            Err(_) | Ok(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "still accepting 3 s after SIGTERM"
        );
        thread::sleep(Duration::from_millis(10));
    }

    let reply = read_reply(&mut stream);
    assert_eq!(text(&reply), VERSION, "{}", sensor.stderr());
    assert!(
        sent.elapsed() >= IDLE_RULE_MIN,
        "answered by the idle rule, after the signal"
    );
    drop(stream);
    let status = sensor
        .wait_exit(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no exit 5 s after the reply:\n{}", sensor.stderr()));
    assert_eq!(status.code(), Some(0), "{}", sensor.stderr());
}

#[test]
fn sigint_stops_as_cleanly_as_sigterm() {
    let mut sensor = Sensor::start(&[], "managersocket = {dir}/m.sock\n");
    let socket = sensor.dir().join("m.sock");
    common::signal(sensor.pid(), "INT");
    let status = sensor
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running after SIGINT:\n{}", sensor.stderr()));
    assert_eq!(status.code(), Some(0), "{}", sensor.stderr());
    assert_gone(&socket);
}

#[test]
fn sigterm_does_not_wait_for_a_silent_client() {
    let mut sensor = Sensor::start(&[], "manager_request_timeout = 60\n");
    let silent = connect(sensor.addr());
    // Make sure the server has accepted it.
    assert_eq!(text(&sensor.exchange(b"getversion\r\n\r\n")), VERSION);
    let started = Instant::now();
    let status = sensor.stop(Duration::from_secs(20));
    let took = started.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(
        took < Duration::from_secs(3),
        "a client with no request in flight held the shutdown for {took:?}:\n{}",
        sensor.stderr()
    );
    drop(silent);
}

#[test]
fn request_timeout_shorter_than_the_idle_rule_is_refused() {
    // `echo CMD | nc` requests complete only after 500 ms of silence, so a shorter deadline
    // would refuse every one of them: the option is rejected with a clear error instead.
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("voipsensor.conf");
    std::fs::write(&conf, "managerport = 0\nmanager_request_timeout = 0.3\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_voipsensor"))
        .args(["run", "--config"])
        .arg(&conf)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:2: manager_request_timeout: 0.3 s is too short",
            conf.display()
        )),
        "{err}"
    );
    // One second is enough for `echo | nc`.
    let sensor = Sensor::start(&[], "manager_request_timeout = 1\n");
    assert_eq!(text(&sensor.nc("getversion")), VERSION);
}

// --- send-manager-cmd ------------------------------------------------------------------------

#[test]
fn send_manager_cmd_over_tcp_unix_and_stdin() {
    let sensor = Sensor::start(&[], "managersocket = {dir}/m.sock\nid_sensor = 7\n");
    let port = sensor.port().to_string();
    let socket = sensor.dir().join("m.sock");
    let socket = socket.to_str().expect("UTF-8 temp path");
    let ok = |args: &[&str], stdin: &[u8]| {
        let out = send_manager_cmd(args, stdin);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{args:?}: {} {}",
            out.status,
            text(&out.stderr)
        );
        out.stdout
    };
    let tcp = ["-h", "127.0.0.1", "-p", port.as_str()];
    assert_eq!(
        text(&ok(&[&tcp[..], &["-c", "getversion"]].concat(), b"")),
        VERSION
    );
    assert_eq!(text(&ok(&["-U", socket, "-c", "getbuild"], b"")), BUILD);
    // Byte-exact: the same bytes as a raw exchange.
    assert_eq!(
        ok(&[&tcp[..], &["-c", "listcalls {}"]].concat(), b""),
        sensor.exchange(b"listcalls {}\r\n\r\n")
    );
    assert!(
        ok(&["-U", socket, "-c", "sniffer_stat plain"], b"").starts_with(b"version=2026.04.0\n")
    );
    // The command from standard input, as `echo CMD | voipsensor send-manager-cmd …` sends it.
    assert_eq!(text(&ok(&tcp, b"getverbuild\n")), VERBUILD);
    assert_eq!(
        text(&ok(&["-U", socket], br#"listcalls {"limit":0}"#)),
        SUMMARY_7
    );
}

#[test]
fn send_manager_cmd_gunzips_zip_replies() {
    let sensor = Sensor::start(&[], "id_sensor = 3\n");
    let port = sensor.port().to_string();
    let cmd = |line: &str| {
        let out = send_manager_cmd(&["-h", "127.0.0.1", "-p", &port, "-c", line], b"");
        assert!(out.status.success(), "{line}: {}", text(&out.stderr));
        out.stdout
    };
    for (zipped, plain) in [
        (r#"listcalls {"zip":"yes"}"#, "listcalls {}"),
        (
            r#"listcalls {"zip":"yes","limit":0}"#,
            r#"listcalls {"limit":0}"#,
        ),
        (r#"listregisters {"zip":"yes"}"#, "listregisters"),
    ] {
        let raw = sensor.exchange(format!("{zipped}\r\n\r\n").as_bytes());
        assert!(
            raw.starts_with(GZIP_HEADER),
            "{zipped}: the wire reply is gzip"
        );
        let printed = cmd(zipped);
        assert_eq!(text(&printed), text(&cmd(plain)), "{zipped}");
        assert!(!printed.is_empty());
    }
}

#[test]
fn send_manager_cmd_takes_the_address_from_the_config() {
    let sensor = Sensor::start(&[], "managerip = 127.0.0.1\nmanagerport = {port}\n");
    let config = sensor.config_path().to_str().expect("UTF-8 temp path");
    let out = send_manager_cmd(&["--config", config, "-c", "getversion"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), VERSION);
}

#[test]
fn send_manager_cmd_reports_a_refused_connection() {
    let port = free_port();
    let out = send_manager_cmd(
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-c",
            "getversion",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, b"");
    assert_eq!(
        text(&out.stderr),
        format!(
            "voipsensor: cannot connect to 127.0.0.1:{port}: Connection refused (os error 111)\n"
        )
    );
}

#[test]
fn send_manager_cmd_gives_up_on_a_silent_peer() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept the client");
        // Hold the connection open without a reply until the client has given up.
        let _ = done_rx.recv_timeout(Duration::from_secs(20));
        drop(stream);
    });
    let started = Instant::now();
    let out = send_manager_cmd(
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--timeout",
            "1",
            "-c",
            "getversion",
        ],
        b"",
    );
    let took = started.elapsed();
    let _ = done_tx.send(());
    peer.join().expect("peer thread");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("voipsensor: no reply from 127.0.0.1:{port} within 1 s\n")
    );
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(5)).contains(&took),
        "took {took:?}"
    );
}

#[test]
fn send_manager_cmd_reports_need_aes() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let peer = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept the client");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut request = Vec::new();
        let mut buf = [0u8; 256];
        while !request.ends_with(b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        stream.write_all(b"need aes!\n").expect("reply");
        request
    });
    let out = send_manager_cmd(
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-c",
            "listcalls",
        ],
        b"",
    );
    let request = peer.join().expect("peer thread");
    assert_eq!(request, b"listcalls\r\n\r\n", "the client's wire format");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, b"");
    assert!(
        text(&out.stderr).contains("need aes!"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn send_manager_cmd_rejects_more_than_one_line() {
    let port = free_port().to_string();
    let out = send_manager_cmd(
        &["-h", "127.0.0.1", "-p", &port, "-c", "getversion\ngetbuild"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("line break"),
        "{}",
        text(&out.stderr)
    );
}

// --- start-up: configuration, flags, errors -------------------------------------------------

#[test]
fn bad_configuration_values_exit_1_naming_file_line_and_key() {
    let cases = [
        (
            "[general]\nmanagerport = 5029\nmanager_request_timeout = abc\n",
            3,
            "manager_request_timeout",
        ),
        ("managerport = 99999\n", 1, "managerport"),
        (
            "; a comment\nmanager_max_connections = 0\n",
            2,
            "manager_max_connections",
        ),
        (
            "manager_max_request_size = 10\n",
            1,
            "manager_max_request_size",
        ),
        ("\n\n\n\nid_sensor = abc\n", 5, "id_sensor"),
        ("managerip = localhost\n", 1, "managerip"),
    ];
    thread::scope(|s| {
        for (config_text, line, key) in cases {
            s.spawn(move || {
                let dir = tempdir();
                let config = dir.path().join("voipsensor.conf");
                std::fs::write(&config, config_text).expect("write");
                let mut cmd = voipsensor();
                cmd.arg("run").arg("--config").arg(&config);
                let out = run(cmd, b"");
                let stderr = text(&out.stderr);
                assert_eq!(out.status.code(), Some(1), "{config_text:?}: {stderr}");
                let prefix = format!("voipsensor: {}:{line}: {key}: ", config.display());
                assert!(
                    stderr.starts_with(&prefix) && stderr.ends_with('\n'),
                    "{config_text:?}: expected {prefix:?}…, got {stderr:?}"
                );
            });
        }
    });
}

#[test]
fn bad_flag_value_exits_1() {
    let mut cmd = voipsensor();
    cmd.args(["run", "--managerport", "abc"]);
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "voipsensor: command line --managerport: invalid port \"abc\" (expected 0-65535)\n"
    );
}

#[test]
fn port_in_use_exits_1() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let mut cmd = voipsensor();
    cmd.args(["run", "--managerport", &port.to_string()]);
    let out = run(cmd, b"");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port}: Address already in use"
        )),
        "{stderr}"
    );
    drop(holder);
}

#[test]
fn debug_log_names_the_command_but_never_its_arguments() {
    let sensor = Sensor::start(&["--log-level", "debug"], "");
    sensor.exchange(b"listcalls {\"filter\":{\"caller\":\"s3cr3t-4711\"}}\r\n\r\n");
    sensor.exchange(b"nosuch-s3cr3t-4712\r\n\r\n");
    sensor.exchange(b"xgetversion s3cr3t-4713\r\n\r\n");
    let log = sensor.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains("DEBUG") && l.contains(" request ") && l.contains("listcalls")),
        "no request line for listcalls:\n{log}"
    );
    assert!(
        !log.contains("s3cr3t"),
        "arguments leaked into the log:\n{log}"
    );
}

#[test]
fn default_log_level_does_not_log_requests() {
    let sensor = Sensor::start(&[], "");
    sensor.exchange(b"listcalls {\"filter\":{\"caller\":\"s3cr3t-4711\"}}\r\n\r\n");
    sensor.exchange(b"xgetversion s3cr3t-4713\r\n\r\n");
    let log = sensor.stderr();
    assert!(log.contains("voipsensor starting"), "{log}");
    assert!(
        !log.lines()
            .any(|l| l.contains(" request ") || l.contains("DEBUG")),
        "requests are logged at debug only:\n{log}"
    );
    assert!(
        !log.contains("s3cr3t"),
        "arguments leaked into the log:\n{log}"
    );
}

#[test]
fn managerport_flag_accepts_port_slash_ip() {
    // The file asks for ::1; the PORT/IP form of the flag must override the address too
    // (start-up only succeeds once 127.0.0.1:PORT answers).
    let sensor = Sensor::start(&["--managerport", "{port}/127.0.0.1"], "managerip = ::1\n");
    assert_eq!(text(&sensor.nc("getversion")), VERSION);
}

#[test]
fn flags_override_the_configuration_file() {
    let sensor = Sensor::start(&["--id-sensor", "42"], "id_sensor = 7\n");
    assert_eq!(
        text(&sensor.exchange(b"listcalls {\"limit\":0}\r\n\r\n")),
        r#"{"total":0,"is_receiver":0,"is_server":0,"id_sensor":42}"#
    );
}

#[test]
fn manager_on_ipv6_loopback() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    }
    let sensor = Sensor::start_on(
        tempdir(),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        &[],
        "managerip = ::1\n",
    );
    assert_eq!(text(&sensor.nc("getversion")), VERSION);
    let out = send_manager_cmd(
        &[
            "-h",
            "::1",
            "-p",
            &sensor.port().to_string(),
            "-c",
            "getbuild",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), BUILD);
}

#[test]
fn shipped_sample_configuration_runs() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc/voipsensor.conf");
    let sensor = Sensor::start(&["--config", sample], "");
    assert_eq!(text(&sensor.nc("getversion")), VERSION);
    let ask = |line: &str| text(&sensor.exchange(format!("{line}\r\n\r\n").as_bytes()));
    // The sample leaves encryption on: protected commands need the key over TCP.
    assert_eq!(ask("sipports"), "need aes!\n");
    assert_eq!(ask("listcalls {\"limit\":0}"), "need aes!\n");
    assert_eq!(ask("exists_aes_key"), "yes");
    let log = sensor.stderr();
    assert!(
        !log.contains("WARN") && !log.contains("ERROR"),
        "the shipped sample loads without warnings:\n{log}"
    );
}
