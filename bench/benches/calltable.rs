//! `listcalls` latency with 10 000 and 100 000 active calls.
//!
//! The table is filled through the real sans-IO path (parsed SIP messages into
//! `CallTable::handle_sip`, RTP payloads into `CallTable::handle_udp`, see
//! `src/calltable_load.rs`): answered calls (INVITE with SDP, 100, 180, 200 with SDP, ACK), each
//! with 5 RTP packets in both directions. Per table size, group `listcalls_<N>` has:
//!
//! * `rows` — the daemon's `SensorState::call_rows` (lock the table, `listcalls_rows`: what
//!   the packet path waits for), the rows dropped outside the timing;
//! * `render` — `listcalls::render` of rows built beforehand (criterion's `iter_batched`
//!   clones them outside the timing; dropping the rows is inside, as in the server, dropping
//!   the reply is not);
//! * `dispatch` — the whole request as the server runs it for `listcalls {}`: framing,
//!   lookup, `dispatch::execute` against the daemon's own `Sensor` (its `SensorState`) over the
//!   table, i.e. rows + sort + JSON render (+ drop of the rows and of the reply).
//!
//! Run with `cargo bench -p voipsensor-bench --bench calltable` (or `bash bench/calltable.sh`).
//! 10 samples per bench: filling the tables takes a few seconds, and one 100 k `dispatch`
//! iteration takes longer than a whole criterion sample of the other benches.

use criterion::{BatchSize, Criterion, black_box, criterion_group, criterion_main};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use voipsensor_config::Config;
use voipsensor_daemon::{PacketClock, PathStats, Sensor};
use voipsensor_manager_proto::dispatch::{self, KeyState, Outcome, SensorState};
use voipsensor_manager_proto::framing::{self, Progress, RequestAssembler};
use voipsensor_manager_proto::{listcalls, registry};

// Registrations are only used by the `call-memory` bin.
#[allow(dead_code)]
#[path = "../src/calltable_load.rs"]
mod calltable_load;

use calltable_load::{Feeder, RTP_PER_STREAM, check_calls, list_time_us, table_for};
use voipsensor_calls::CallTable;

/// The server's default request cap.
const LIMIT: usize = 1 << 20;
/// The request measured by `dispatch`.
const REQUEST: &[u8] = b"listcalls {}\r\n\r\n";

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

/// A table with `calls` answered calls, each with `rtp_per_stream` RTP packets both ways;
/// panics unless every call and RTP packet was taken.
fn answered_calls(calls: u32, rtp_per_stream: u32) -> CallTable {
    let mut t = table_for(calls as usize, 0);
    let mut f = Feeder::default();
    for i in 0..calls {
        f.call_sip(&mut t, i);
    }
    for i in 0..calls {
        f.call_rtp(&mut t, i, rtp_per_stream);
    }
    check_calls(&t, &f, calls, rtp_per_stream);
    t
}

fn listcalls_bench(c: &mut Criterion, calls: u32, name: &str) {
    let started = Instant::now();
    let table = answered_calls(calls, RTP_PER_STREAM);
    let fill = started.elapsed();
    let now = list_time_us(calls);
    let rows = table.listcalls_rows(now);
    assert_eq!(rows.len(), calls as usize, "every call is listed");

    // The daemon's own SensorState over the table, its packet clock at `now`.
    let clock = Arc::new(PacketClock::default());
    clock.advance(now);
    let sensor = Sensor::new(
        &Config::default(),
        Arc::new(Mutex::new(table)),
        clock,
        Arc::new(PathStats::default()),
    );
    let summary = sensor.summary();
    let query = listcalls::Query::parse(b"{}");
    let reply = handle(REQUEST, &sensor);
    assert_eq!(
        reply,
        listcalls::render(&query, rows.clone(), &summary).as_bytes()
    );
    let total = format!(r#",[{{"total":{calls},"#);
    assert!(
        reply.windows(total.len()).any(|w| w == total.as_bytes()),
        "the listcalls {{}} reply has the summary"
    );
    eprintln!(
        "{name}: {calls} calls filled in {:.2} s; listcalls {{}} reply {} bytes ({:.0} bytes/call)",
        fill.as_secs_f64(),
        reply.len(),
        reply.len() as f64 / f64::from(calls)
    );
    drop(reply);

    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(if calls > 50_000 { 10 } else { 4 }));
    g.bench_function("rows", |b| {
        b.iter_with_large_drop(|| sensor.call_rows());
    });
    g.bench_function("render", |b| {
        b.iter_batched(
            || rows.clone(),
            |r| listcalls::render(black_box(&query), r, &summary),
            BatchSize::LargeInput,
        );
    });
    g.bench_function("dispatch", |b| {
        b.iter(|| handle(black_box(REQUEST), &sensor));
    });
    g.finish();
}

fn listcalls_10k(c: &mut Criterion) {
    listcalls_bench(c, 10_000, "listcalls_10k");
}

fn listcalls_100k(c: &mut Criterion) {
    listcalls_bench(c, 100_000, "listcalls_100k");
}

criterion_group!(benches, listcalls_10k, listcalls_100k);
criterion_main!(benches);
