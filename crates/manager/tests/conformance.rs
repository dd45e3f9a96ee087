//! The server in-process on port 0, spoken to with raw bytes: the conformance cases of the
//! protocol spec §9 for framing, dispatch, simple replies, `manager_file`, the Unix socket,
//! limits and shutdown.

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::task::JoinHandle;
use voipsensor_manager::{
    CancellationToken, KeyProvider, Limits, Listeners, Server, Settings, SocketFile, StaticKey,
};
use voipsensor_manager_proto::aes::{Cipher, KeyMaterial};
use voipsensor_manager_proto::dispatch::SensorState;
use voipsensor_manager_proto::json::{Row, Value};
use voipsensor_manager_proto::listcalls::{self, Summary};
use voipsensor_manager_proto::sniffer_stat::SnifferStat;
use voipsensor_manager_proto::{VERSION, zip};

/// A sensor with two calls in its table.
struct Fixture;

fn call(callid: &str, calldate: i64) -> Row {
    let mut row = vec![Value::Null; listcalls::COLUMNS.len()];
    row[1] = Value::str(callid);
    row[listcalls::CALLDATE_NUM] = Value::Int(calldate);
    row[listcalls::ID_SENSOR] = Value::Int(3);
    row
}

impl SensorState for Fixture {
    fn call_rows(&self) -> Vec<Row> {
        vec![call("old@host", 100), call("new@host", 200)]
    }
    fn total_calls(&self) -> u64 {
        2
    }
    fn register_rows(&self) -> Vec<Row> {
        Vec::new()
    }
    fn total_registers(&self) -> u64 {
        0
    }
    fn summary(&self) -> Summary {
        Summary {
            is_receiver: false,
            is_server: false,
            id_sensor: 3,
        }
    }
    fn sniffer_stat(&self) -> SnifferStat {
        SnifferStat {
            version: VERSION.into(),
            ..SnifferStat::default()
        }
    }
    fn sip_ports(&self) -> String {
        "5060,".into()
    }
    fn capture_stats(&self) -> Option<Vec<voipsensor_manager_proto::dispatch::InterfaceStats>> {
        None
    }
}

struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
    socket: Option<PathBuf>,
}

impl Running {
    /// Stops the server and waits until it has finished.
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("join").expect("server");
    }
}

/// A server with the spec's §9 test key.
async fn start_keyed() -> Running {
    start_with(
        Limits::default(),
        false,
        Arc::new(StaticKey(Some(spec_key()))),
        false,
    )
    .await
}

async fn start(limits: Limits, with_socket: bool) -> Running {
    start_with(limits, with_socket, Arc::new(StaticKey::default()), false).await
}

async fn start_with(
    limits: Limits,
    with_socket: bool,
    keys: Arc<dyn KeyProvider>,
    unencrypted_allowed: bool,
) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let socket = with_socket.then(|| dir.path().join("manager.sock"));
    let unix = socket
        .as_deref()
        .map(|p| SocketFile::bind(p).expect("socket"));
    let server = Server::new(
        Arc::new(Fixture),
        keys,
        Settings {
            limits,
            unencrypted_allowed,
        },
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(
        Listeners {
            tcp: Some(tcp),
            unix,
        },
        shutdown.clone(),
    ));
    Running {
        addr,
        shutdown,
        task,
        _dir: dir,
        socket,
    }
}

/// Writes each piece (pausing `gap` between them), optionally half-closes, reads to EOF;
/// returns the reply and the time from the last write to EOF.
async fn talk(
    addr: SocketAddr,
    pieces: &[&[u8]],
    gap: Duration,
    half_close: bool,
) -> (Vec<u8>, Duration) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        s.write_all(p).await.expect("write");
    }
    let t_last = Instant::now();
    if half_close {
        s.shutdown().await.expect("half-close");
    }
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).await.expect("read");
    (reply, t_last.elapsed())
}

async fn ask(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    talk(addr, &[request], Duration::ZERO, false).await.0
}

/// Asks `getversion` until the reply is not the connection-cap refusal (at most 1 s).
async fn ask_until_served(addr: SocketAddr) -> Vec<u8> {
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        let reply = ask(addr, b"getversion\r\n\r\n").await;
        if reply != voipsensor_manager::server::TOO_MANY_CONNECTIONS || Instant::now() > until {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ask_unix(path: &Path, request: &[u8]) -> Vec<u8> {
    let mut s = UnixStream::connect(path).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).await.expect("read");
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_and_completion() {
    let srv = start(Limits::default(), false).await;
    let (reply, took) = talk(srv.addr, &[b"getversion\r\n\r\n"], Duration::ZERO, false).await;
    assert_eq!(reply, VERSION.as_bytes());
    assert!(
        took < Duration::from_millis(300),
        "blank line answered at once ({took:?})"
    );

    let (reply, took) = talk(srv.addr, &[b"getversion\n"], Duration::ZERO, false).await;
    assert_eq!(reply, VERSION.as_bytes());
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "500 ms rule ({took:?})"
    );

    let (reply, took) = talk(srv.addr, &[b"getversion"], Duration::ZERO, true).await;
    assert_eq!(reply, VERSION.as_bytes());
    assert!(
        took < Duration::from_millis(300),
        "half-close answered at once ({took:?})"
    );

    // Split across two writes: the second chunk only needs a CRLF.
    let (reply, took) = talk(
        srv.addr,
        &[b"getver", b"sion\r\n"],
        Duration::from_millis(100),
        false,
    )
    .await;
    assert_eq!(reply, VERSION.as_bytes());
    assert!(
        took < Duration::from_millis(300),
        "second chunk with CRLF completes ({took:?})"
    );

    assert_eq!(
        ask(srv.addr, b"getversion\r\ngetverbuild\r\n\r\n").await,
        VERSION.as_bytes()
    );
    assert_eq!(
        ask(srv.addr, b"getversion\r\n\r\nlistcalls\r\n\r\n").await,
        VERSION.as_bytes()
    );
    assert_eq!(
        talk(srv.addr, &[b"\r\n\r\n"], Duration::ZERO, true).await.0,
        b""
    );
    assert_eq!(
        talk(srv.addr, &[b"\0getversion\r\n\r\n"], Duration::ZERO, true)
            .await
            .0,
        b""
    );
    assert_eq!(
        talk(srv.addr, &[], Duration::ZERO, true).await.0,
        b"",
        "connect + close: nothing"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_and_simple_replies() {
    let srv = start(Limits::default(), false).await;
    let a = srv.addr;
    assert_eq!(ask(a, b"xgetversion\r\n\r\n").await, VERSION.as_bytes());
    assert_eq!(ask(a, b"GETVERSION\r\n\r\n").await, b"command not found\n");
    assert_eq!(ask(a, b"nosuchcmd\r\n\r\n").await, b"command not found\n");
    assert_eq!(ask(a, b"need_aes\r\n\r\n").await, b"need aes!\n");
    assert_eq!(
        ask(a, b"failed_aes_decrypt\r\n\r\n").await,
        b"failed aes decrypt!\n"
    );
    assert_eq!(ask(a, b"support_aes\r\n\r\n").await, b"no");
    assert_eq!(ask(a, b"exists_aes_key\r\n\r\n").await, b"no");
    assert_eq!(ask(a, b"totalcalls\r\n\r\n").await, b"2");
    assert_eq!(ask(a, b"sipports\r\n\r\n").await, b"5060,\n");
    assert_eq!(
        ask(a, b"help nosuch \r\n\r\n").await,
        b"Command nosuch not found.\n\n"
    );
    assert_eq!(
        ask(a, b"help listcalls \r\n\r\n").await,
        b"listcalls ... lists active calls.\n\n"
    );
    assert!(
        ask(a, b"help\r\n\r\n")
            .await
            .starts_with(b"List of commands:\n\n")
    );
    // No key exists: an encrypted request fails in plaintext (spec §2.4).
    assert_eq!(
        ask(a, b"aes-128-cbc:\x74\x21\xd5\x03:sea").await,
        b"failed aes decrypt!\n"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listcalls_through_the_server() {
    let srv = start(Limits::default(), false).await;
    let plain = String::from_utf8(ask(srv.addr, b"listcalls\r\n\r\n").await).expect("utf8");
    assert!(plain.starts_with(r#"[["callreference","callid","#));
    assert!(
        plain.find("new@host") < plain.find("old@host"),
        "newest first: {plain}"
    );
    assert!(!plain.contains("total"), "no summary without parameters");

    let limited =
        String::from_utf8(ask(srv.addr, br#"listcalls {"limit":"1"}"#).await).expect("utf8");
    assert!(
        limited.contains(r#"[{"total":2,"is_receiver":0,"is_server":0,"id_sensor":3}]"#),
        "{limited}"
    );
    assert!(limited.contains("new@host") && !limited.contains("old@host"));

    let asc =
        String::from_utf8(ask(srv.addr, br#"listcalls {"sort_dir":"asc"}"#).await).expect("utf8");
    assert!(asc.find("old@host") < asc.find("new@host"));

    let zipped = ask(srv.addr, br#"listcalls {"zip":"yes"}"#).await;
    assert_eq!(&zipped[..2], &[0x1f, 0x8b]);
    assert_eq!(
        zip::gunzip(&zipped).expect("gzip"),
        ask(srv.addr, b"listcalls {}").await
    );
    serde_json::from_slice::<serde_json::Value>(&ask(srv.addr, b"listcalls {}").await)
        .expect("valid JSON");

    let regs = ask(srv.addr, b"listregisters\r\n\r\n").await;
    assert!(
        regs.starts_with(br#"[["ID","id_sensor","fname","#)
            && regs.ends_with(br#""to_num_country_code"]]"#)
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_file_cycle() {
    let srv = start(Limits::default(), false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.sock");
    let start = format!("manager_file start {}\r\n\r\n", path.display());
    assert_eq!(
        ask(srv.addr, start.as_bytes()).await,
        format!("OK ({})\n", path.display()).as_bytes()
    );
    let meta = std::fs::symlink_metadata(&path).expect("socket created");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // Plaintext is served over the socket, protected commands included.
    assert!(
        ask_unix(&path, b"help\r\n\r\n")
            .await
            .starts_with(b"List of commands:")
    );
    assert_eq!(
        ask(srv.addr, b"manager_file start /tmp/other\r\n\r\n").await,
        format!("running ({})\n", path.display()).as_bytes()
    );
    assert_eq!(ask(srv.addr, b"manager_file stop\r\n\r\n").await, b"OK\n");
    assert!(!path.exists(), "stop removes the socket file");
    assert_eq!(
        ask(srv.addr, b"manager_file stop\r\n\r\n").await,
        b"not running\n"
    );
    assert_eq!(ask(srv.addr, b"manager_file foo\r\n\r\n").await, b"");

    // A regular file is never replaced.
    let file = dir.path().join("precious");
    std::fs::write(&file, b"data").expect("write");
    let reply = ask(
        srv.addr,
        format!("manager_file start {}\r\n\r\n", file.display()).as_bytes(),
    )
    .await;
    assert!(
        reply.starts_with(b"error: ")
            && String::from_utf8_lossy(&reply).contains("is not a socket")
    );
    assert_eq!(std::fs::read(&file).expect("kept"), b"data");

    // Without a path: a fresh /tmp/VM<pid>_<ns> name.
    let reply =
        String::from_utf8(ask(srv.addr, b"manager_file start\r\n\r\n").await).expect("utf8");
    let tmp = reply
        .strip_prefix("OK (/tmp/VM")
        .and_then(|r| r.strip_suffix(")\n"))
        .expect("temp name");
    let tmp = PathBuf::from(format!("/tmp/VM{tmp}"));
    assert!(
        std::fs::symlink_metadata(&tmp)
            .expect("exists")
            .file_type()
            .is_socket()
    );
    // Shutdown removes the runtime socket too.
    srv.stop().await;
    assert!(!tmp.exists(), "shutdown removes the manager_file socket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_unix_socket() {
    let srv = start(Limits::default(), true).await;
    let path = srv.socket.clone().expect("socket");
    assert_eq!(
        std::fs::symlink_metadata(&path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(
        ask_unix(&path, b"listcalls\r\n\r\n")
            .await
            .starts_with(b"[[\"callreference\"")
    );
    assert_eq!(
        ask_unix(&path, b"getversion").await,
        VERSION.as_bytes(),
        "EOF completes the request"
    );
    assert_eq!(
        ask(srv.addr, b"manager_file start /tmp/y\r\n\r\n").await,
        format!("running ({})\n", path.display()).as_bytes()
    );
    assert_eq!(
        ask(srv.addr, b"manager_file stop\r\n\r\n").await,
        b"manager enabled via the managersocket option cannot be terminated\n"
    );
    srv.stop().await;
    assert!(!path.exists(), "removed at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits() {
    let limits = Limits {
        max_request_bytes: 4096,
        request_timeout: Duration::from_millis(1500),
        max_connections: 2,
        ..Limits::default()
    };
    let srv = start(limits, false).await;
    let a = srv.addr;
    // Oversized: the reply arrives although the client keeps sending.
    let big = vec![b'x'; 64 * 1024];
    let (reply, _) = talk(a, &[&big], Duration::ZERO, false).await;
    assert_eq!(reply, b"error: request too large (limit 4096 bytes)\n");

    // Trickling: cut at the deadline, not before.
    let mut s = TcpStream::connect(a).await.expect("connect");
    let t0 = Instant::now();
    let trickle = tokio::spawn(async move {
        for b in b"getversion-without-end" {
            if s.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply).await;
        reply
    });
    // Meanwhile, others are served (once the oversized request's connection, which may still be
    // draining, has given its slot back).
    assert_eq!(ask_until_served(a).await, VERSION.as_bytes());
    assert!(
        t0.elapsed() < Duration::from_millis(1400),
        "served while the trickle goes on"
    );
    let reply = trickle.await.expect("join");
    assert!(
        reply.starts_with(b"error: request timeout\n"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    assert!(t0.elapsed() >= Duration::from_millis(1400));

    // Connection cap: two idle connections hold both slots.
    let idle1 = TcpStream::connect(a).await.expect("connect");
    let idle2 = TcpStream::connect(a).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        ask(a, b"getversion\r\n\r\n").await,
        b"error: too many connections\n"
    );
    drop((idle1, idle2));
    assert_eq!(
        ask_until_served(a).await,
        VERSION.as_bytes(),
        "slots come back"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_replies_in_flight() {
    let srv = start(Limits::default(), true).await;
    let mut s = TcpStream::connect(srv.addr).await.expect("connect");
    // Neither a silent client nor one trickling bytes may hold up the stop.
    let silent = TcpStream::connect(srv.addr).await.expect("connect");
    let mut trickler = TcpStream::connect(srv.addr).await.expect("connect");
    let trickle = tokio::spawn(async move {
        for b in b"getversion-forever".iter().cycle().take(200) {
            if trickler.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    // No blank line: the server waits 500 ms for more before answering.
    s.write_all(b"getversion\n").await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = Instant::now();
    srv.shutdown.cancel();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).await.expect("read");
    assert_eq!(reply, VERSION.as_bytes());
    srv.task.await.expect("join").expect("server");
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "stopped in {:?}",
        stopping.elapsed()
    );
    assert!(
        TcpStream::connect(srv.addr).await.is_err(),
        "no longer accepting"
    );
    assert!(!srv.socket.expect("socket").exists());
    drop(silent);
    trickle.abort();
}

// --- encryption (spec §2, §9 cases 2-5) ---------------------------------------------------

/// The test key of spec §9.
fn spec_key() -> Arc<KeyMaterial> {
    Arc::new(
        KeyMaterial::from_base64(
            "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=",
            "QUJDREVGR0hJSktMTU5PUA==",
            Cipher::Aes256Cbc,
        )
        .expect("spec key"),
    )
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn frame(name: &str, ct_hex: &str) -> Vec<u8> {
    let mut f = format!("{name}:").into_bytes();
    f.extend(hex(ct_hex));
    f.extend_from_slice(b":sea");
    f
}

const C1: &str = "7421d5039333a0685eb2bc67779da147";
const C2: &str = "4468299905841ec83515a5fcfd5f60f2";
const C4: &str = "4bd6064c0dc3704beca02fd79c18c1eb";
const C5: &str = "c693ced2ecc36c7bfd429c65c0699af2cab1d45d325ee0d45f611270cf0142d0";
const C6: &str = "10bba7eb0e559e53a9d27ec1b95a5194be527ed25be3e553bee57e7f19dd3d38";
const C7: &str = "36060c0ecf81593db3d8cffc1d52bc51";
const C8: &str = "3e0ad136bce269e65a63da78bff7c1c2";
const C9: &str = "93b3036c325897876dc67f9ce57ff9dd";

fn aes_reply(ct_hex: &str) -> Vec<u8> {
    let mut r = b"aes:".to_vec();
    r.extend(hex(ct_hex));
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_requests_match_the_spec_vectors() {
    let srv = start_keyed().await;
    let a = srv.addr;
    let (reply, took) = talk(a, &[&frame("aes-128-cbc", C1)], Duration::ZERO, false).await;
    assert_eq!(reply, aes_reply(C4));
    assert!(
        took < Duration::from_millis(300),
        "a complete frame is answered at once"
    );
    assert_eq!(
        ask(a, &frame("aes", C1)).await,
        aes_reply(C4),
        "`aes:` means aes-128-cbc"
    );
    assert_eq!(
        ask(a, &frame("aes-128-cbc", C2)).await,
        aes_reply(C4),
        "terminator stripped"
    );
    assert_eq!(ask(a, &frame("aes-256-cbc", C7)).await, aes_reply(C8));
    let (reply, took) = talk(a, &[&frame("AES-128-CBC", C1)], Duration::ZERO, false).await;
    assert_eq!(reply, aes_reply(C4));
    assert!(
        took >= Duration::from_millis(450),
        "upper-case name waits for the 500 ms rule"
    );
    let mut trailing = frame("aes-128-cbc", C1);
    trailing.extend_from_slice(b"ignored trailing bytes");
    assert_eq!(ask(a, &trailing).await, aes_reply(C4));
    let need_aes =
        voipsensor_manager_proto::aes::request_frame(Cipher::Aes128Cbc, &spec_key(), "need_aes")
            .expect("frame");
    assert_eq!(ask(a, &need_aes).await, aes_reply(C9));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decryption_failure_gets_the_same_reply() {
    let srv = start_keyed().await;
    let a = srv.addr;
    let failed = aes_reply(C5);
    // A cipher name of 20+ characters.
    assert_eq!(ask(a, &frame("aes-128-cbc-xxxxxxxxx", C1)).await, failed);
    // A 15-byte ciphertext.
    assert_eq!(ask(a, &frame("aes-128-cbc", &C1[..30])).await, failed);
    // An empty ciphertext, and no `:` at all (answered at EOF).
    assert_eq!(ask(a, b"aes-128-cbc::sea").await, failed);
    assert_eq!(
        talk(a, &[b"aesxxxxxxxxxxxxxxxxxxxxxxxx"], Duration::ZERO, true)
            .await
            .0,
        failed
    );
    // Invalid padding: the last block of C3 decrypted alone.
    assert_eq!(
        ask(a, &frame("aes-128-cbc", "5db9770b0233597a3571da4bbf26d645")).await,
        failed
    );
    // Valid padding but a binary plaintext: the same reply (the reference answers
    // `command not found` here, which makes it a padding oracle).
    let binary =
        voipsensor_manager_proto::aes::encrypt(Cipher::Aes128Cbc, &spec_key(), b"\x01\x02\x03")
            .expect("fits");
    let mut req = b"aes-128-cbc:".to_vec();
    req.extend(binary);
    req.extend_from_slice(b":sea");
    assert_eq!(ask(a, &req).await, failed);
    // A wrong key; with aes-256 the failure reply is aes-256 too.
    let other = KeyMaterial::new(&[7; 32], &[9; 16], Cipher::Aes256Cbc).expect("key");
    let wrong =
        voipsensor_manager_proto::aes::request_frame(Cipher::Aes256Cbc, &other, "getversion")
            .expect("frame");
    let reply = ask(a, &wrong).await;
    assert_eq!(
        voipsensor_manager_proto::aes::decrypt_reply(Cipher::Aes256Cbc, &spec_key(), &reply)
            .expect("aes-256 reply"),
        b"failed aes decrypt!\n"
    );
    // An unknown command, encrypted.
    let nosuch =
        voipsensor_manager_proto::aes::request_frame(Cipher::Aes128Cbc, &spec_key(), "nosuchcmd")
            .expect("frame");
    assert_eq!(ask(a, &nosuch).await, aes_reply(C6));
    // A command with no output: zero bytes, no prefix.
    let silent = voipsensor_manager_proto::aes::request_frame(
        Cipher::Aes128Cbc,
        &spec_key(),
        "manager_file foo",
    )
    .expect("frame");
    assert_eq!(ask(a, &silent).await, b"");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_from_one_peer_are_slowed_down() {
    let srv = start_keyed().await;
    let bad = frame("aes-128-cbc", &C1[..30]);
    for _ in 0..5 {
        let (_, took) = talk(srv.addr, &[&bad], Duration::ZERO, false).await;
        assert!(
            took < Duration::from_millis(200),
            "the first failures are not delayed ({took:?})"
        );
    }
    let (reply, took) = talk(srv.addr, &[&bad], Duration::ZERO, false).await;
    assert_eq!(reply, aes_reply(C5));
    assert!(
        took >= Duration::from_millis(240),
        "the sixth failure is delayed ({took:?})"
    );
    // A good request is not delayed.
    let (reply, took) = talk(
        srv.addr,
        &[&frame("aes-128-cbc", C1)],
        Duration::ZERO,
        false,
    )
    .await;
    assert_eq!(reply, aes_reply(C4));
    assert!(took < Duration::from_millis(200));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn need_aes_matrix() {
    let keys: Arc<dyn KeyProvider> = Arc::new(StaticKey(Some(spec_key())));
    let srv = start_with(Limits::default(), true, keys.clone(), false).await;
    let a = srv.addr;
    for protected in [
        "listcalls",
        "listcalls {}",
        "help",
        "help listcalls ",
        "listregisters",
        "totalregisters",
        "sipports",
        "xlistcalls",
    ] {
        assert_eq!(
            ask(a, format!("{protected}\r\n\r\n").as_bytes()).await,
            b"need aes!\n",
            "{protected}"
        );
    }
    for (exempt, reply) in [
        ("getversion", VERSION.as_bytes()),
        ("xgetversion", VERSION.as_bytes()),
        ("totalcalls", b"2"),
        ("support_aes", b"yes"),
        ("exists_aes_key", b"yes"),
        ("need_aes", b"need aes!\n"),
        ("failed_aes_decrypt", b"failed aes decrypt!\n"),
        ("manager_file foo", b""),
    ] {
        assert_eq!(
            ask(a, format!("{exempt}\r\n\r\n").as_bytes()).await,
            reply,
            "{exempt}"
        );
    }
    assert!(
        String::from_utf8(ask(a, b"sniffer_stat\r\n\r\n").await)
            .expect("utf8")
            .starts_with("{\"version\"")
    );
    assert_eq!(ask(a, b"nosuchcmd\r\n\r\n").await, b"command not found\n");
    // The Unix socket takes plaintext; encrypted requests there get encrypted replies.
    let path = srv.socket.clone().expect("socket");
    assert!(
        ask_unix(&path, b"listcalls\r\n\r\n")
            .await
            .starts_with(b"[[\"callreference\"")
    );
    assert_eq!(
        ask_unix(&path, &frame("aes-128-cbc", C1)).await,
        aes_reply(C4)
    );
    srv.stop().await;

    let open = start_with(Limits::default(), false, keys, true).await;
    assert!(
        ask(open.addr, b"listcalls\r\n\r\n")
            .await
            .starts_with(b"[[\"callreference\""),
        "manager_enable_unencrypted"
    );
    assert_eq!(
        ask(open.addr, &frame("aes-128-cbc", C1)).await,
        aes_reply(C4),
        "encryption still works"
    );
    open.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_replies_are_one_cbc_stream() {
    let srv = start_keyed().await;
    let plain_help = {
        let open = start(Limits::default(), false).await;
        let h = ask(open.addr, b"help\r\n\r\n").await;
        open.shutdown.cancel();
        h
    };
    let req = voipsensor_manager_proto::aes::request_frame(Cipher::Aes128Cbc, &spec_key(), "help")
        .expect("frame");
    let reply = ask(srv.addr, &req).await;
    assert_eq!(&reply[..4], b"aes:");
    assert_eq!(reply.len() - 4, 16 * (plain_help.len() / 16 + 1));
    assert_eq!(
        voipsensor_manager_proto::aes::decrypt_reply(Cipher::Aes128Cbc, &spec_key(), &reply)
            .expect("decrypts"),
        plain_help
    );
    // gzip inside, then AES.
    let req = voipsensor_manager_proto::aes::request_frame(
        Cipher::Aes128Cbc,
        &spec_key(),
        r#"listcalls {"zip":"yes"}"#,
    )
    .expect("frame");
    let inner = voipsensor_manager_proto::aes::decrypt_reply(
        Cipher::Aes128Cbc,
        &spec_key(),
        &ask(srv.addr, &req).await,
    )
    .expect("decrypts");
    assert_eq!(&inner[..2], &[0x1f, 0x8b]);
    assert!(
        zip::gunzip(&inner)
            .expect("gzip")
            .starts_with(b"[[\"callreference\"")
    );
    srv.stop().await;
}

/// A key source whose stored key can be replaced, like a database row.
#[derive(Debug)]
struct Rotating {
    stored: std::sync::Mutex<Option<Arc<KeyMaterial>>>,
    cached: std::sync::Mutex<Option<Arc<KeyMaterial>>>,
}

impl KeyProvider for Rotating {
    fn encryption_required(&self) -> bool {
        true
    }
    fn current(&self) -> Option<Arc<KeyMaterial>> {
        self.cached.lock().expect("lock").clone()
    }
    fn reload(&self) -> Option<Arc<KeyMaterial>> {
        // Fail closed: a vanished row keeps the cached key.
        let stored = self.stored.lock().expect("lock").clone();
        let mut cached = self.cached.lock().expect("lock");
        if stored.is_some() {
            *cached = stored;
        }
        cached.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_key_takes_effect_without_restart() {
    let old = spec_key();
    let new = Arc::new(KeyMaterial::new(&[5; 32], &[6; 16], Cipher::Aes128Cbc).expect("key"));
    let keys = Arc::new(Rotating {
        stored: std::sync::Mutex::new(Some(old.clone())),
        cached: std::sync::Mutex::new(Some(old.clone())),
    });
    let srv = start_with(Limits::default(), false, keys.clone(), false).await;
    let send = |key: &Arc<KeyMaterial>| {
        voipsensor_manager_proto::aes::request_frame(Cipher::Aes128Cbc, key, "getversion")
            .expect("frame")
    };
    assert_eq!(ask(srv.addr, &send(&old)).await, aes_reply(C4));
    *keys.stored.lock().expect("lock") = Some(new.clone());
    // The first request with the new key fails to decrypt with the cached one, which makes the
    // server re-read the key, and then succeeds.
    let reply = ask(srv.addr, &send(&new)).await;
    assert_eq!(
        voipsensor_manager_proto::aes::decrypt_reply(Cipher::Aes128Cbc, &new, &reply)
            .expect("new key"),
        VERSION.as_bytes()
    );
    // The old key no longer works.
    let reply = ask(srv.addr, &send(&old)).await;
    assert_eq!(
        voipsensor_manager_proto::aes::decrypt_reply(Cipher::Aes128Cbc, &new, &reply)
            .expect("reply under the new key"),
        b"failed aes decrypt!\n"
    );
    // The row vanishing (database trouble) does not switch encryption off.
    *keys.stored.lock().expect("lock") = None;
    assert_eq!(ask(srv.addr, b"listcalls\r\n\r\n").await, b"need aes!\n");
    assert_eq!(ask(srv.addr, b"exists_aes_key\r\n\r\n").await, b"yes");
    srv.stop().await;
}
