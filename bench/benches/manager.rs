//! Manager API benches: the pure request path (framing → lookup → dispatch) and one
//! `getversion` round trip over loopback TCP against the real server.
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
use voipsensor_manager::{CancellationToken, Listeners, Server, Settings};
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
    let sensor = Sensor::new(&Config::default());
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

fn roundtrip(addr: std::net::SocketAddr, reply: &mut Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect to the in-process server");
    s.write_all(b"getversion\r\n\r\n")
        .expect("write the request");
    reply.clear();
    s.read_to_end(reply).expect("read the reply to EOF");
}

fn tcp_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("listener address");
    let sensor: Arc<dyn SensorState> = Arc::new(Sensor::new(&Config::default()));
    let keys = Arc::new(voipsensor_manager::StaticKey::default());
    let server = Server::new(sensor, keys, Settings::default());
    let token = CancellationToken::new();
    let task = rt.spawn(server.run(
        Listeners {
            tcp: Some(listener),
            unix: None,
        },
        token.clone(),
    ));

    let mut reply = Vec::with_capacity(64);
    roundtrip(addr, &mut reply);
    assert_eq!(reply, b"2026.04.0");

    let mut g = c.benchmark_group("tcp");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    g.bench_function("getversion_roundtrip", |b| {
        b.iter(|| roundtrip(addr, &mut reply));
    });
    g.finish();

    token.cancel();
    rt.block_on(task)
        .expect("server task joins")
        .expect("server stops cleanly");
}

criterion_group!(benches, dispatch_benches, tcp_benches);
criterion_main!(benches);
