//! Manager API benches: the pure request path (framing → lookup → dispatch) and round trips
//! over loopback TCP against the real server: `getversion` (tiny reply) and `help` (the
//! largest reply an empty sensor gives), each plain and encrypted.
//!
//! Run with `cargo bench -p voipsensor-bench`. Times are short on purpose (3 s per bench, 30
//! samples): compare ratios within one run, not absolute times across runs.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;
use voipsensor_config::Config;
use voipsensor_daemon::Sensor;
use voipsensor_manager::{CancellationToken, Listeners, Server, Settings, StaticKey};
use voipsensor_manager_proto::aes::{self, Cipher, KeyMaterial};
use voipsensor_manager_proto::dispatch::{self, KeyState, Outcome, SensorState};
use voipsensor_manager_proto::framing::{self, Progress, RequestAssembler};
use voipsensor_manager_proto::registry;

/// The server's default request cap.
const LIMIT: usize = 1 << 20;

/// What the server does with one request that arrived in one chunk, minus the socket.
fn handle(request: &[u8], sensor: &dyn SensorState) -> Vec<u8> {
    let mut asm = RequestAssembler::new(LIMIT);
    let progress = asm.push(request).expect("request is under the cap");
    assert_eq!(progress, Progress::Complete, "request is complete");
    let line = framing::command_line(asm.request()).expect("request has a command line");
    let found = registry::lookup(line).expect("command exists");
    match dispatch::execute(&found, line, sensor, KeyState::default()) {
        Outcome::Reply(bytes) => bytes,
        Outcome::ManagerFile(_) => unreachable!("not a manager_file request"),
    }
}

fn dispatch_benches(c: &mut Criterion) {
    let sensor = Sensor::idle(&Config::default());
    assert_eq!(handle(b"getversion\r\n\r\n", &sensor), b"2026.04.0");
    assert!(!handle(b"listcalls {}\r\n\r\n", &sensor).is_empty());

    let mut g = c.benchmark_group("dispatch");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    g.bench_function("getversion", |b| {
        b.iter(|| handle(black_box(b"getversion\r\n\r\n"), &sensor));
    });
    g.bench_function("listcalls_empty", |b| {
        b.iter(|| handle(black_box(b"listcalls {}\r\n\r\n"), &sensor));
    });
    g.finish();
}

/// Spec §9's test key and IV (the ones `bench/manager_rps.sh` configures).
const TEST_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=";
const TEST_IV: &str = "QUJDREVGR0hJSktMTU5PUA==";

/// One connection: connect, write `request`, read the reply to EOF.
fn roundtrip(addr: std::net::SocketAddr, request: &[u8], reply: &mut Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect to the in-process server");
    s.write_all(request).expect("write the request");
    reply.clear();
    s.read_to_end(reply).expect("read the reply to EOF");
}

/// An encrypted round trip as a client makes it: the prebuilt frame, then the reply decrypted.
fn encrypted_roundtrip(
    addr: std::net::SocketAddr,
    frame: &[u8],
    key: &KeyMaterial,
    reply: &mut Vec<u8>,
) -> Vec<u8> {
    roundtrip(addr, frame, reply);
    aes::decrypt_reply(Cipher::Aes128Cbc, key, reply).expect("the reply decrypts")
}

/// Starts the real server on 127.0.0.1 (an ephemeral port) with `keys`.
fn start_server(
    rt: &tokio::runtime::Runtime,
    keys: StaticKey,
    token: &CancellationToken,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("listener address");
    let sensor: Arc<dyn SensorState> = Arc::new(Sensor::idle(&Config::default()));
    let server = Server::new(sensor, Arc::new(keys), Settings::default());
    let task = rt.spawn(server.run(
        Listeners {
            tcp: Some(listener),
            unix: None,
        },
        token.clone(),
    ));
    (addr, task)
}

fn tcp_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let token = CancellationToken::new();
    // Plain requests go to a server without a key (`help` is protected: a keyed server would
    // refuse it in plaintext), encrypted ones to a server with the test key; both have the
    // default settings.
    let (plain_addr, plain_task) = start_server(&rt, StaticKey::default(), &token);
    let key = KeyMaterial::from_base64(TEST_KEY, TEST_IV, Cipher::Aes128Cbc).expect("test key");
    let (aes_addr, aes_task) = start_server(&rt, StaticKey(Some(Arc::new(key.clone()))), &token);

    let getversion = b"getversion\r\n\r\n";
    let help = b"help\r\n\r\n";
    let getversion_frame =
        aes::request_frame(Cipher::Aes128Cbc, &key, "getversion").expect("frame");
    let help_frame = aes::request_frame(Cipher::Aes128Cbc, &key, "help").expect("frame");

    let mut reply = Vec::with_capacity(4096);
    roundtrip(plain_addr, getversion, &mut reply);
    assert_eq!(reply, b"2026.04.0");
    let plain_help = {
        roundtrip(plain_addr, help, &mut reply);
        reply.clone()
    };
    assert!(plain_help.len() > 100, "help lists the commands");
    assert_eq!(
        encrypted_roundtrip(aes_addr, &getversion_frame, &key, &mut reply),
        b"2026.04.0"
    );
    assert_eq!(
        encrypted_roundtrip(aes_addr, &help_frame, &key, &mut reply),
        plain_help
    );
    eprintln!(
        "tcp: help reply {} bytes plain, {} bytes encrypted (with the `aes:` prefix); \
         requests {} / {} bytes plain, {} / {} bytes encrypted (getversion / help)",
        plain_help.len(),
        reply.len(),
        getversion.len(),
        help.len(),
        getversion_frame.len(),
        help_frame.len(),
    );

    let mut g = c.benchmark_group("tcp");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    g.bench_function("getversion_roundtrip", |b| {
        b.iter(|| roundtrip(plain_addr, getversion, &mut reply));
    });
    g.bench_function("encrypted_getversion_roundtrip", |b| {
        b.iter(|| encrypted_roundtrip(aes_addr, &getversion_frame, &key, &mut reply));
    });
    g.bench_function("help_roundtrip", |b| {
        b.iter(|| roundtrip(plain_addr, help, &mut reply));
    });
    g.bench_function("encrypted_help_roundtrip", |b| {
        b.iter(|| encrypted_roundtrip(aes_addr, &help_frame, &key, &mut reply));
    });
    g.finish();

    token.cancel();
    for task in [plain_task, aes_task] {
        rt.block_on(task)
            .expect("server task joins")
            .expect("server stops cleanly");
    }
}

criterion_group!(benches, dispatch_benches, tcp_benches);
criterion_main!(benches);
