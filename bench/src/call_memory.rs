//! `call-memory`: heap bytes per active call and per registration record of the call table.
//!
//! A counting global allocator tracks the live heap (bytes the program asked for, and an
//! estimate of glibc's chunk sizes for them). The tool fills a `CallTable` with `--calls`
//! answered calls through the real sans-IO path (see `calltable_load.rs`: INVITE with SDP,
//! 100, 180, 200 with SDP, ACK, then `--rtp-per-stream` RTP packets both ways, every call
//! with its own Call-ID, tags, numbers and media addresses), then a second table with
//! `--registrations` finished registrations (REGISTER, 401, REGISTER with Authorization, 200
//! OK), and reports (live heap after − live heap before) / count, the RSS from
//! `/proc/self/statm` before and after, and which allocation sizes hold the memory. Both
//! tables stay alive until the end, so neither figure reuses memory the other freed. Last, it
//! times one cold `listcalls {}` (rows, render, transient heap), then `--repeat` more with
//! the counting off (wall and on-CPU time, min and median), and one `listregisters`.
//!
//! The sensor has no pcap buffers yet, so this is all the per-call memory there is.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use anyhow::{Context as _, ensure};
use clap::Parser;
use voipsensor_manager_proto::listcalls::{self, Summary};
use voipsensor_manager_proto::listregisters;
use voipsensor_rtp::jitter::JitterEstimator;
use voipsensor_rtp::jitterbuffer::JitterBufferSim;
use voipsensor_rtp::{StreamConfig, StreamStats};

mod calltable_load;

use calltable_load::{Feeder, check_calls, list_time_us, table_for};
use voipsensor_calls::CallTable;

/// Heap bytes per active call and per registration record of the call table.
#[derive(Debug, Parser)]
#[command(name = "call-memory", version)]
struct Args {
    /// Answered calls to create.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    calls: u32,
    /// RTP packets fed per direction of each call.
    #[arg(long, default_value_t = calltable_load::RTP_PER_STREAM, value_name = "K")]
    rtp_per_stream: u32,
    /// Registrations to create (0 skips them).
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    registrations: u32,
    /// Timed `listcalls {}` repetitions after the measurements (allocator counting off).
    #[arg(long, default_value_t = 5, value_name = "R")]
    repeat: u32,
}

/// Size classes: `[2^k, 2^(k+1))` bytes.
const CLASSES: usize = 48;

/// Counting on (switched off for the final timings: its atomics cost time).
static COUNTING: AtomicBool = AtomicBool::new(true);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_CHUNK_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_ALLOCS: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);
static CLASS_COUNT: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];
static CLASS_BYTES: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];

/// glibc malloc's chunk for a request: 8-byte header, 16-byte granularity, 32 bytes at
/// least; requests from 128 KiB up are mmapped whole pages (default threshold).
fn chunk_size(size: usize) -> usize {
    if size >= 128 * 1024 {
        (size + 16).next_multiple_of(4096)
    } else {
        ((size + 8).next_multiple_of(16)).max(32)
    }
}

fn class(size: usize) -> usize {
    (usize::BITS - size.max(1).leading_zeros() - 1) as usize
}

fn on_alloc(size: usize) {
    if !COUNTING.load(Relaxed) {
        return;
    }
    let live = LIVE_BYTES.fetch_add(size, Relaxed) + size;
    PEAK_BYTES.fetch_max(live, Relaxed);
    LIVE_CHUNK_BYTES.fetch_add(chunk_size(size), Relaxed);
    LIVE_ALLOCS.fetch_add(1, Relaxed);
    let c = class(size).min(CLASSES - 1);
    CLASS_COUNT[c].fetch_add(1, Relaxed);
    CLASS_BYTES[c].fetch_add(size, Relaxed);
}

fn on_dealloc(size: usize) {
    if !COUNTING.load(Relaxed) {
        return;
    }
    LIVE_BYTES.fetch_sub(size, Relaxed);
    LIVE_CHUNK_BYTES.fetch_sub(chunk_size(size), Relaxed);
    LIVE_ALLOCS.fetch_sub(1, Relaxed);
    let c = class(size).min(CLASSES - 1);
    CLASS_COUNT[c].fetch_sub(1, Relaxed);
    CLASS_BYTES[c].fetch_sub(size, Relaxed);
}

/// The system allocator, counting live bytes and allocations.
#[derive(Debug)]
struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping only
// touches atomics and never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            on_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            on_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        on_dealloc(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            on_dealloc(layout.size());
            on_alloc(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocator's counters and the RSS at one moment.
#[derive(Debug, Clone)]
struct Snapshot {
    bytes: usize,
    chunk_bytes: usize,
    allocs: usize,
    rss: u64,
    class_count: [usize; CLASSES],
    class_bytes: [usize; CLASSES],
}

fn snapshot() -> anyhow::Result<Snapshot> {
    let rss = rss_bytes()?;
    Ok(Snapshot {
        bytes: LIVE_BYTES.load(Relaxed),
        chunk_bytes: LIVE_CHUNK_BYTES.load(Relaxed),
        allocs: LIVE_ALLOCS.load(Relaxed),
        rss,
        class_count: std::array::from_fn(|i| CLASS_COUNT[i].load(Relaxed)),
        class_bytes: std::array::from_fn(|i| CLASS_BYTES[i].load(Relaxed)),
    })
}

/// Resident set size from `/proc/self/statm` (second field, pages of 4 KiB on x86-64).
fn rss_bytes() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").context("read /proc/self/statm")?;
    let pages: u64 = statm
        .split_ascii_whitespace()
        .nth(1)
        .context("statm has a resident field")?
        .parse()
        .context("statm resident field is a number")?;
    Ok(pages * 4096)
}

fn per(delta: f64, n: u32) -> f64 {
    delta / f64::from(n.max(1))
}

fn diff(a: usize, b: usize) -> f64 {
    b as f64 - a as f64
}

fn mib(b: f64) -> f64 {
    b / 1_048_576.0
}

/// Prints the memory taken between `before` and `after`, per `what`.
fn report(label: &str, what: &str, n: u32, before: &Snapshot, after: &Snapshot) {
    let bytes = diff(before.bytes, after.bytes);
    let chunks = diff(before.chunk_bytes, after.chunk_bytes);
    let allocs = diff(before.allocs, after.allocs);
    let rss = after.rss as f64 - before.rss as f64;
    println!(
        "  {label}: heap {:.1} bytes/{what} ({:.2} allocations/{what}, {:.1} MiB in all); \
         glibc chunks (estimate) {:.1} bytes/{what}; RSS {:.1} bytes/{what} ({:.1} -> {:.1} MiB)",
        per(bytes, n),
        per(allocs, n),
        mib(bytes),
        per(chunks, n),
        per(rss, n),
        mib(before.rss as f64),
        mib(after.rss as f64),
    );
}

/// Prints which allocation sizes hold the memory taken between `before` and `after`.
fn classes(what: &str, n: u32, before: &Snapshot, after: &Snapshot) {
    let total = diff(before.bytes, after.bytes).max(1.0);
    println!("  live allocations by size, per {what} (classes holding >= 0.5 % of the bytes):");
    for k in 0..CLASSES {
        let count = diff(before.class_count[k], after.class_count[k]);
        let bytes = diff(before.class_bytes[k], after.class_bytes[k]);
        if bytes / total < 0.005 {
            continue;
        }
        let avg = if count > 0.0 { bytes / count } else { 0.0 };
        println!(
            "    [{:>9}, {:>9}) bytes: {:>8.3} allocations ({:>8.0} total, avg {:>10.0} bytes) = {:>7.1} bytes/{what} ({:>4.1} %)",
            1u64 << k,
            1u64 << (k + 1),
            per(count, n),
            count,
            avg,
            per(bytes, n),
            100.0 * bytes / total,
        );
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let n = args.calls;
    let k = args.rtp_per_stream;
    let regs = args.registrations;
    println!(
        "call-memory: {n} answered calls (INVITE+SDP, 100, 180, 200+SDP, ACK; {k} RTP packets \
         each way), {regs} registrations (REGISTER, 401, REGISTER+auth, 200 OK)"
    );

    // Calls.
    let mut feeder = Feeder::default();
    let mut calls = table_for(n as usize, 0);
    let base = snapshot()?;
    let started = Instant::now();
    for i in 0..n {
        feeder.call_sip(&mut calls, i);
    }
    let sip_s = started.elapsed().as_secs_f64();
    let after_sip = snapshot()?;
    let started = Instant::now();
    for i in 0..n {
        feeder.call_rtp(&mut calls, i, k);
    }
    let rtp_s = started.elapsed().as_secs_f64();
    let after_rtp = snapshot()?;
    check_calls(&calls, &feeder, n, k);
    println!(
        "calls: {n} in the table (fed in {sip_s:.2} s SIP + {rtp_s:.2} s RTP), {} counted RTP packets",
        calls.counters().rtp_packets
    );
    report(
        "SIP state (after INVITE..ACK)",
        "call",
        n,
        &base,
        &after_sip,
    );
    report(
        "RTP streams (2 per call)",
        "call",
        n,
        &after_sip,
        &after_rtp,
    );
    report("TOTAL per active call", "call", n, &base, &after_rtp);
    classes("call", n, &base, &after_rtp);
    println!(
        "  type sizes: voipsensor_rtp::StreamStats {} bytes (one per stream, in the call's stream \
         Vec) of which 3 x JitterBufferSim {} and JitterEstimator {}; StreamConfig {} bytes \
         (in the call)",
        size_of::<StreamStats>(),
        size_of::<JitterBufferSim>(),
        size_of::<JitterEstimator>(),
        size_of::<StreamConfig>(),
    );

    // Registrations, in a second table (the call table stays alive).
    let mut registers = table_for(0, regs as usize);
    let reg_base = snapshot()?;
    let started = Instant::now();
    for j in 0..regs {
        feeder.registration(&mut registers, j);
    }
    let reg_s = started.elapsed().as_secs_f64();
    let after_regs = snapshot()?;
    ensure!(feeder.unparsed == 0, "every SIP message parses");
    ensure!(
        registers.total_registers() == u64::from(regs),
        "{} registration records, expected {regs} ({:?})",
        registers.total_registers(),
        registers.counters()
    );
    if regs > 0 {
        println!(
            "registrations: {regs} records (fed in {reg_s:.2} s), {} finished transactions",
            registers.counters().registrations
        );
        report(
            "TOTAL per registration",
            "record",
            regs,
            &reg_base,
            &after_regs,
        );
        classes("record", regs, &reg_base, &after_regs);
    }

    // One listcalls {} and one listregisters, with the transient heap they need.
    let now = list_time_us(n.max(regs));
    let summary = Summary {
        is_receiver: false,
        is_server: false,
        id_sensor: -1,
    };
    let before = LIVE_BYTES.load(Relaxed);
    PEAK_BYTES.store(before, Relaxed);
    let started = Instant::now();
    let rows = calls.listcalls_rows(now);
    let rows_s = started.elapsed().as_secs_f64();
    ensure!(rows.len() == n as usize, "{} calls listed", rows.len());
    let rows_heap = LIVE_BYTES.load(Relaxed) - before;
    let started = Instant::now();
    let reply = listcalls::render(&listcalls::Query::parse(b"{}"), rows, &summary);
    let render_s = started.elapsed().as_secs_f64();
    let peak = PEAK_BYTES.load(Relaxed) - before;
    println!(
        "listcalls {{}} once: rows {:.1} ms, render {:.1} ms; reply {} bytes ({:.0} bytes/call); \
         rows held {:.1} MiB ({:.0} bytes/call), peak transient heap {:.1} MiB",
        rows_s * 1e3,
        render_s * 1e3,
        reply.len(),
        reply.len() as f64 / f64::from(n.max(1)),
        mib(rows_heap as f64),
        per(rows_heap as f64, n),
        mib(peak as f64),
    );
    drop(reply);
    if args.repeat > 0 {
        COUNTING.store(false, Relaxed);
        time_listcalls(&calls, now, &summary, args.repeat);
    }
    if regs > 0 {
        let started = Instant::now();
        let rows = registers.register_rows(now);
        let reply = listregisters::render(&listregisters::Query::parse(b""), rows);
        println!(
            "listregisters once: rows + render {:.1} ms; reply {} bytes",
            started.elapsed().as_secs_f64() * 1e3,
            reply.len()
        );
    }
    Ok(())
}

/// Wall and on-CPU time of this thread, ns.
fn clocks(epoch: Instant) -> (u64, u64) {
    let wall = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
    (wall, thread_cpu_ns().unwrap_or(0))
}

/// On-CPU time of this thread (ns): `CLOCK_THREAD_CPUTIME_ID`.
fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    if rc != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    Some(secs * 1_000_000_000 + nanos)
}

/// Times `repeat` × (`listcalls_rows`, `render`), wall and on-CPU, and prints min and median.
fn time_listcalls(calls: &CallTable, now: u64, summary: &Summary, repeat: u32) {
    let query = listcalls::Query::parse(b"{}");
    let epoch = Instant::now();
    // [rows wall, rows cpu, render wall, render cpu]
    let mut samples: Vec<[u64; 4]> = Vec::new();
    for _ in 0..repeat {
        let a = clocks(epoch);
        let rows = calls.listcalls_rows(now);
        let b = clocks(epoch);
        let reply = listcalls::render(&query, rows, summary);
        let c = clocks(epoch);
        drop(reply);
        samples.push([b.0 - a.0, b.1 - a.1, c.0 - b.0, c.1 - b.1]);
    }
    let stat = |f: &dyn Fn(&[u64; 4]) -> u64| {
        let mut v: Vec<u64> = samples.iter().map(f).collect();
        v.sort_unstable();
        (v[0] as f64 / 1e6, v[v.len() / 2] as f64 / 1e6)
    };
    let line = |name: &str, wall: (f64, f64), cpu: (f64, f64)| {
        println!(
            "  {name:<14} wall min {:>7.1} ms, median {:>7.1} ms; on-CPU min {:>7.1} ms, median {:>7.1} ms",
            wall.0, wall.1, cpu.0, cpu.1
        );
    };
    println!(
        "listcalls {{}} x {repeat} (allocator counting off; on-CPU = this thread's \
         CLOCK_THREAD_CPUTIME_ID):"
    );
    line("rows", stat(&|s| s[0]), stat(&|s| s[1]));
    line("render", stat(&|s| s[2]), stat(&|s| s[3]));
    line(
        "rows + render",
        stat(&|s| s[0] + s[2]),
        stat(&|s| s[1] + s[3]),
    );
}

#[cfg(test)]
mod tests {
    use crate::calltable_load::{
        CALLEE_DOMAIN, CALLEE_UA, CALLER_DOMAIN, CALLER_UA, Feeder, RTP_PER_STREAM, check_calls,
        list_time_us, table_for,
    };
    use voipsensor_manager_proto::json::Value;
    use voipsensor_manager_proto::{listcalls, listregisters};

    fn col<'a>(columns: &[&str], row: &'a [Value], name: &str) -> &'a Value {
        let i = columns.iter().position(|c| *c == name).expect("column");
        &row[i]
    }

    fn text(s: &str) -> Value {
        Value::Str(s.to_owned())
    }

    #[test]
    fn answered_calls_are_listed_with_both_streams() {
        let mut t = table_for(3, 0);
        let mut f = Feeder::default();
        for i in 0..3 {
            f.call_sip(&mut t, i);
        }
        for i in 0..3 {
            f.call_rtp(&mut t, i, RTP_PER_STREAM);
        }
        check_calls(&t, &f, 3, RTP_PER_STREAM);
        let rows = t.listcalls_rows(list_time_us(3));
        assert_eq!(rows.len(), 3);
        let c = |name| col(&listcalls::COLUMNS, &rows[1], name);
        assert_eq!(c("caller"), &text("42000000001"));
        assert_eq!(c("called"), &text("43000000001"));
        assert_eq!(c("callername"), &text("Caller 1"));
        assert_eq!(c("callerdomain"), &text(CALLER_DOMAIN));
        assert_eq!(c("calleddomain"), &text(CALLEE_DOMAIN));
        assert_eq!(c("calleragent"), &text(CALLER_UA));
        assert_eq!(c("calledagent"), &text(CALLEE_UA));
        assert_eq!(c("lastSIPresponseNum"), &Value::Int(200));
        assert_eq!(c("callercodec"), &Value::Int(8));
        assert_eq!(c("calledcodec"), &Value::Int(8));
        // Both streams exist and counted packets (RFC 3550 probation may hold back the first).
        for side in ["src_received", "dst_received"] {
            let &Value::Int(n) = c(side) else {
                panic!("{side} is {:?}", c(side));
            };
            assert!((1..=i64::from(RTP_PER_STREAM)).contains(&n), "{side} = {n}");
        }
        assert_eq!(c("sipproxies"), &Value::Null);
        let Value::Str(call_id) = c("callid") else {
            panic!("callid");
        };
        assert!(call_id.ends_with("@10.1.0.2"), "{call_id}");
    }

    #[test]
    fn registrations_become_ok_records() {
        let mut t = table_for(0, 3);
        let mut f = Feeder::default();
        for j in 0..3 {
            f.registration(&mut t, j);
        }
        assert_eq!(f.unparsed, 0);
        assert_eq!(t.total_registers(), 3);
        assert_eq!(t.total_calls(), 0);
        let rows = t.register_rows(list_time_us(3));
        assert_eq!(rows.len(), 3);
        for r in &rows {
            assert_eq!(col(&listregisters::COLUMNS, r, "state"), &Value::Int(1));
            assert_eq!(
                col(&listregisters::COLUMNS, r, "expires"),
                &Value::Int(3600)
            );
        }
    }
}
