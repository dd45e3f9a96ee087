//! `manager-load`: a closed-loop load generator for the manager API over loopback TCP.
//!
//! N threads each repeat: connect → write `CMD\r\n\r\n` → read to EOF → check the reply. A
//! request's latency runs from just before `connect` to the EOF of the reply (the client's own
//! close is not included). Requests started during the warm-up are not counted.
//!
//! With `--aes-key` and `--aes-iv` every request is the encrypted frame
//! `CIPHER:` + ciphertext + `:sea` (built once with `request_frame` and reused, the fixed IV
//! making it the same every time), and every reply is decrypted (`decrypt_reply`) and its
//! plaintext compared with the first one: the client's decryption is inside the latency, as it
//! is for a real client.
//!
//! `--baseline` runs the same load against a trivial in-process server (one std thread per
//! connection, answering `2026.04.0` and closing), so that the cost of the connection itself on
//! this machine can be compared with what the sensor adds.
//!
//! The tool only ever sends load to a loopback address, for a bounded time, from a bounded
//! number of threads, and keeps its latency samples in fixed-size histograms.

use anyhow::{Context as _, bail, ensure};
use clap::Parser;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};
use voipsensor_manager_proto::aes::{self, Cipher, KeyMaterial};
use voipsensor_manager_proto::dispatch::{FAILED_AES_DECRYPT, NEED_AES};

/// Most client threads (each holds one connection at a time).
const MAX_CONCURRENCY: usize = 1024;
/// Longest measured phase, in seconds.
const MAX_DURATION_SECS: f64 = 600.0;
/// Longest warm-up, in seconds.
const MAX_WARMUP_SECS: f64 = 60.0;
/// Time allowed for connect, write and each read of one request.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest reply kept (a bigger one counts as an error): this tool is for small commands.
const MAX_REPLY_BYTES: usize = 16 << 20;
/// The baseline server's reply: what `getversion` answers.
const BASELINE_REPLY: &[u8] = b"2026.04.0";

/// Closed-loop load for the manager API (loopback only).
#[derive(Debug, Parser)]
#[command(name = "manager-load", version)]
struct Args {
    /// Sensor manager address; must be a loopback address (127.0.0.0/8 or ::1).
    #[arg(long, value_name = "IP:PORT", required_unless_present = "baseline")]
    addr: Option<SocketAddr>,
    /// Client threads, each with one connection in flight.
    #[arg(long, default_value_t = 1, value_name = "N")]
    concurrency: usize,
    /// Measured time in seconds (after the warm-up).
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    duration: f64,
    /// Warm-up time in seconds; requests started in it are not counted.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    warmup: f64,
    /// Command sent (`CMD\r\n\r\n`). Its reply must be the same every time.
    #[arg(long, default_value = "getversion", value_name = "CMD")]
    command: String,
    /// Stop after this many counted requests in total, even before the duration ends.
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// Load an in-process trivial server (thread per connection, fixed `2026.04.0` reply)
    /// instead of `--addr`.
    #[arg(long, conflicts_with_all = ["addr", "aes_key"])]
    baseline: bool,
    /// Send encrypted requests with this manager key (base64, as in `manager_aes_key`).
    /// A test key only: command lines are visible to other local users.
    #[arg(long, value_name = "B64", requires = "aes_iv")]
    aes_key: Option<String>,
    /// The IV that goes with `--aes-key` (base64, as in `manager_aes_iv`).
    #[arg(long, value_name = "B64", requires = "aes_key")]
    aes_iv: Option<String>,
    /// Cipher named in the encrypted requests.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "aes-128-cbc",
        value_parser = ["aes-128-cbc", "aes-192-cbc", "aes-256-cbc"],
        requires = "aes_key"
    )]
    aes_cipher: String,
}

/// How requests are encrypted and replies decrypted (`None`: plaintext).
type Encryption = Option<(Cipher, KeyMaterial)>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        (1..=MAX_CONCURRENCY).contains(&args.concurrency),
        "--concurrency must be 1..={MAX_CONCURRENCY}"
    );
    ensure!(
        args.duration > 0.0 && args.duration <= MAX_DURATION_SECS,
        "--duration must be > 0 and <= {MAX_DURATION_SECS} seconds"
    );
    ensure!(
        (0.0..=MAX_WARMUP_SECS).contains(&args.warmup),
        "--warmup must be 0..={MAX_WARMUP_SECS} seconds"
    );
    ensure!(
        !args.command.is_empty()
            && args.command.len() <= 1024
            && !args.command.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)),
        "--command must be one non-empty line of at most 1024 bytes"
    );
    let (addr, label) = if args.baseline {
        (start_baseline_server()?, "target=baseline ")
    } else {
        (loopback_only(args.addr.context("--addr is required")?)?, "")
    };
    let encryption: Encryption = match (&args.aes_key, &args.aes_iv) {
        (Some(key), Some(iv)) => {
            let cipher = Cipher::from_name(args.aes_cipher.as_bytes());
            let key = KeyMaterial::from_base64(key, iv, cipher).context("--aes-key/--aes-iv")?;
            Some((cipher, key))
        }
        _ => None,
    };
    let request = match &encryption {
        Some((cipher, key)) => aes::request_frame(*cipher, key, &args.command)
            .context("cannot frame the encrypted request")?,
        None => {
            let mut request = args.command.clone().into_bytes();
            request.extend_from_slice(b"\r\n\r\n");
            request
        }
    };
    let cipher_field = match &encryption {
        Some((cipher, _)) => format!("encrypted=yes cipher={}", cipher.name()),
        None => "encrypted=no".to_owned(),
    };

    let report = run(
        addr,
        Arc::new(request),
        encryption,
        args.concurrency,
        Duration::from_secs_f64(args.warmup),
        Duration::from_secs_f64(args.duration),
        args.max_requests,
    )?;
    let secs = report.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        report.ok as f64 / secs
    } else {
        0.0
    };
    println!(
        "{label}command={} {cipher_field} concurrency={} requests={} errors={} req/s={rate:.0} p50_us={} p99_us={} max_us={} reply_bytes={}",
        args.command,
        args.concurrency,
        report.ok,
        report.errors,
        report.hist.quantile(0.50),
        report.hist.quantile(0.99),
        report.hist.max,
        report.reply_bytes,
    );
    if let Some(e) = report.first_error {
        eprintln!("manager-load: first error: {e}");
    }
    Ok(())
}

/// Refuses any target that is not a loopback address.
fn loopback_only(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    if !addr.ip().is_loopback() {
        bail!("refusing to send load to {addr}: manager-load only targets loopback addresses");
    }
    Ok(addr)
}

/// What one run measured.
#[derive(Debug)]
struct Report {
    ok: u64,
    errors: u64,
    hist: Histogram,
    elapsed: Duration,
    first_error: Option<String>,
    /// Size on the wire of the first complete reply (0 when none came).
    reply_bytes: usize,
}

/// State the client threads share.
#[derive(Debug)]
struct Shared {
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    /// Key to decrypt the replies with, when the requests are encrypted.
    encryption: Encryption,
    /// The first complete reply seen (decrypted, when encrypted), against which every other
    /// reply is checked.
    first_reply: OnceLock<Vec<u8>>,
    /// Wire size of that first reply.
    first_reply_wire_bytes: OnceLock<usize>,
    warmup_end: Instant,
    end: Instant,
    /// Counted requests left under `--max-requests`.
    budget: Option<AtomicU64>,
}

fn run(
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    encryption: Encryption,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    max_requests: Option<u64>,
) -> anyhow::Result<Report> {
    let start = Instant::now();
    let shared = Arc::new(Shared {
        addr,
        request,
        encryption,
        first_reply: OnceLock::new(),
        first_reply_wire_bytes: OnceLock::new(),
        warmup_end: start + warmup,
        end: start + warmup + duration,
        budget: max_requests.map(AtomicU64::new),
    });
    let mut handles = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let shared = shared.clone();
        let h = thread::Builder::new()
            .name(format!("load-{i}"))
            .spawn(move || client_loop(&shared))
            .context("cannot start a client thread")?;
        handles.push(h);
    }
    let mut total = ThreadResult::default();
    for h in handles {
        let r = h
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
        total.ok += r.ok;
        total.errors += r.errors;
        total.hist.merge(&r.hist);
        if total.first_error.is_none() {
            total.first_error = r.first_error;
        }
    }
    Ok(Report {
        ok: total.ok,
        errors: total.errors,
        hist: total.hist,
        elapsed: Instant::now().saturating_duration_since(shared.warmup_end),
        first_error: total.first_error,
        reply_bytes: shared.first_reply_wire_bytes.get().copied().unwrap_or(0),
    })
}

#[derive(Debug, Default)]
struct ThreadResult {
    ok: u64,
    errors: u64,
    hist: Histogram,
    first_error: Option<String>,
}

fn client_loop(shared: &Shared) -> ThreadResult {
    let mut result = ThreadResult::default();
    let mut reply = Vec::with_capacity(256);
    loop {
        let started = Instant::now();
        if started >= shared.end {
            break;
        }
        let counted = started >= shared.warmup_end;
        if counted && !take_budget(shared.budget.as_ref()) {
            break;
        }
        let outcome = one_request(shared, &mut reply);
        let elapsed = started.elapsed();
        if !counted {
            continue;
        }
        match outcome {
            Ok(()) => {
                result.ok += 1;
                result.hist.record(elapsed);
            }
            Err(e) => {
                result.errors += 1;
                if result.first_error.is_none() {
                    result.first_error = Some(format!("{e:#}"));
                }
            }
        }
    }
    result
}

/// Takes one request from the `--max-requests` budget; false when it is spent.
fn take_budget(budget: Option<&AtomicU64>) -> bool {
    budget.is_none_or(|b| {
        b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(1)
        })
        .is_ok()
    })
}

/// One connection: connect, send the request, read the reply to EOF and check it.
fn one_request(shared: &Shared, reply: &mut Vec<u8>) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect_timeout(&shared.addr, IO_TIMEOUT).context("connect")?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .context("set_read_timeout")?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .context("set_write_timeout")?;
    stream.write_all(&shared.request).context("write")?;
    reply.clear();
    (&mut stream)
        .take(MAX_REPLY_BYTES as u64 + 1)
        .read_to_end(reply)
        .context("read")?;
    ensure!(!reply.is_empty(), "empty reply");
    ensure!(
        reply.len() <= MAX_REPLY_BYTES,
        "reply larger than {MAX_REPLY_BYTES} bytes"
    );
    shared.first_reply_wire_bytes.get_or_init(|| reply.len());
    let plain = match &shared.encryption {
        Some((cipher, key)) => {
            let plain = aes::decrypt_reply(*cipher, key, reply).context("decrypt the reply")?;
            // The sensor encrypts its refusals with its own key: with the right key they
            // decrypt fine, so they are caught here rather than counted as answers.
            ensure!(
                plain != FAILED_AES_DECRYPT && plain != NEED_AES,
                "the sensor refused the request: {:?}",
                String::from_utf8_lossy(&plain)
            );
            Some(plain)
        }
        None => None,
    };
    let plain = plain.as_ref().unwrap_or(&*reply);
    let first = shared.first_reply.get_or_init(|| plain.clone());
    ensure!(
        first == plain,
        "reply differs from the first one ({} bytes: {:?})",
        plain.len(),
        String::from_utf8_lossy(&plain[..plain.len().min(64)])
    );
    Ok(())
}

/// Starts the trivial baseline server on 127.0.0.1 (an ephemeral port) and returns its address.
///
/// Each connection gets its own thread, which reads the request up to the blank line, writes
/// [`BASELINE_REPLY`] and closes. The threads end with the process.
fn start_baseline_server() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("baseline: bind 127.0.0.1:0")?;
    let addr = listener.local_addr().context("baseline: local_addr")?;
    let failed = Arc::new(AtomicBool::new(false));
    thread::Builder::new()
        .name("baseline-accept".to_owned())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else {
                    // Out of descriptors or a transient error: back off instead of spinning.
                    thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let spawned = thread::Builder::new()
                    .name("baseline-conn".to_owned())
                    .spawn(move || baseline_serve(stream));
                if spawned.is_err() && !failed.swap(true, Ordering::Relaxed) {
                    eprintln!("manager-load: baseline: cannot start a connection thread");
                }
            }
        })
        .context("baseline: cannot start the accept thread")?;
    Ok(addr)
}

fn baseline_serve(mut stream: TcpStream) {
    if stream.set_read_timeout(Some(IO_TIMEOUT)).is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    let mut len = 0;
    // Read the whole request first: closing with unread input would reset the connection.
    loop {
        match stream.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") || len == buf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
    if stream.write_all(BASELINE_REPLY).is_ok() {
        let _ = stream.shutdown(Shutdown::Write);
    }
}

/// Latencies in microseconds: exact below 1024 µs, then 64 sub-buckets per power of two
/// (relative error under 1.6 %). Fixed size, so memory does not grow with the run.
#[derive(Debug, Clone)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

const LINEAR: u64 = 1024;
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = LINEAR as usize + (64 - 10) * SUB as usize;

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

impl Histogram {
    fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[Self::index(us)] += 1;
        self.total += 1;
        self.max = self.max.max(us);
    }

    fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    fn index(us: u64) -> usize {
        if us < LINEAR {
            return us as usize;
        }
        let exp = 63 - us.leading_zeros(); // >= 10
        let sub = (us >> (exp - SUB_BITS)) & (SUB - 1);
        LINEAR as usize + (exp as usize - 10) * SUB as usize + sub as usize
    }

    /// A representative value of bucket `i`: exact in the linear range, else the middle.
    fn value(i: usize) -> u64 {
        let i = i as u64;
        if i < LINEAR {
            return i;
        }
        let exp = (i - LINEAR) / SUB + 10;
        let sub = (i - LINEAR) % SUB;
        let width = 1u64 << (exp - u64::from(SUB_BITS));
        (1u64 << exp) + sub * width + width / 2
    }

    /// The latency at quantile `q` (0..=1); 0 when nothing was recorded.
    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_round_trip_within_two_percent() {
        for us in [0u64, 1, 500, 1023, 1024, 1500, 10_000, 123_456, 10_000_000] {
            let v = Histogram::value(Histogram::index(us));
            let err = v.abs_diff(us) as f64 / us.max(1) as f64;
            assert!(err < 0.02, "{us} -> {v}");
        }
        assert!(Histogram::index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.quantile(0.5), 50);
        assert_eq!(h.quantile(0.99), 99);
        assert_eq!(h.max, 100);
    }

    #[test]
    fn baseline_answers_getversion() -> anyhow::Result<()> {
        let addr = start_baseline_server()?;
        let shared = Shared {
            addr,
            request: Arc::new(b"getversion\r\n\r\n".to_vec()),
            encryption: None,
            first_reply: OnceLock::new(),
            first_reply_wire_bytes: OnceLock::new(),
            warmup_end: Instant::now(),
            end: Instant::now(),
            budget: None,
        };
        let mut reply = Vec::new();
        one_request(&shared, &mut reply)?;
        assert_eq!(reply, BASELINE_REPLY);
        Ok(())
    }

    /// Spec §9's test key (32 bytes: serves every cipher) and IV.
    const TEST_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=";
    const TEST_IV: &str = "QUJDREVGR0hJSktMTU5PUA==";

    fn shared_for(addr: SocketAddr, request: Vec<u8>, encryption: Encryption) -> Shared {
        Shared {
            addr,
            request: Arc::new(request),
            encryption,
            first_reply: OnceLock::new(),
            first_reply_wire_bytes: OnceLock::new(),
            warmup_end: Instant::now(),
            end: Instant::now(),
            budget: None,
        }
    }

    #[test]
    fn encrypted_requests_against_the_real_server() -> anyhow::Result<()> {
        use voipsensor_config::Config;
        use voipsensor_daemon::Sensor;
        use voipsensor_manager::{CancellationToken, Listeners, Server, Settings, StaticKey};
        use voipsensor_manager_proto::dispatch::SensorState;

        let key = KeyMaterial::from_base64(TEST_KEY, TEST_IV, Cipher::Aes256Cbc)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let sensor: Arc<dyn SensorState> = Arc::new(Sensor::idle(&Config::default()));
        let keys = Arc::new(StaticKey(Some(Arc::new(key.clone()))));
        let server = Server::new(sensor, keys, Settings::default());
        let token = CancellationToken::new();
        let listeners = Listeners {
            tcp: Some(listener),
            unix: None,
        };
        let task = rt.spawn(server.run(listeners, token.clone()));

        let mut reply = Vec::new();
        for cipher in [Cipher::Aes128Cbc, Cipher::Aes256Cbc] {
            let frame = aes::request_frame(cipher, &key, "getversion").context("frame")?;
            let shared = shared_for(addr, frame, Some((cipher, key.clone())));
            one_request(&shared, &mut reply)?;
            assert!(reply.starts_with(aes::REPLY_PREFIX), "{cipher:?}");
            one_request(&shared, &mut reply)?;
            assert_eq!(
                shared.first_reply.get().map(Vec::as_slice),
                Some(&b"2026.04.0"[..])
            );
        }
        // A protected command: plaintext is refused, encrypted is answered.
        let frame = aes::request_frame(Cipher::Aes128Cbc, &key, "help").context("frame")?;
        let shared = shared_for(addr, frame, Some((Cipher::Aes128Cbc, key.clone())));
        one_request(&shared, &mut reply)?;
        assert!(shared.first_reply.get().is_some_and(|r| r.len() > 100));
        let shared = shared_for(addr, b"help\r\n\r\n".to_vec(), None);
        one_request(&shared, &mut reply)?;
        assert_eq!(reply, NEED_AES);
        // A client with another key cannot read the (encrypted) refusal.
        let other = KeyMaterial::new(&[7; 16], &[9; 16], Cipher::Aes128Cbc)?;
        let frame = aes::request_frame(Cipher::Aes128Cbc, &other, "getversion").context("frame")?;
        let shared = shared_for(addr, frame, Some((Cipher::Aes128Cbc, other)));
        assert!(one_request(&shared, &mut reply).is_err());

        token.cancel();
        rt.block_on(task)??;
        Ok(())
    }

    #[test]
    fn refuses_non_loopback() {
        for bad in [
            "192.0.2.1:5029",
            "0.0.0.0:5029",
            "[2001:db8::1]:5029",
            "[::]:5029",
        ] {
            let addr: SocketAddr = bad.parse().expect("test address parses");
            assert!(loopback_only(addr).is_err(), "{bad} accepted");
        }
        for good in ["127.0.0.1:5029", "127.1.2.3:5029", "[::1]:5029"] {
            let addr: SocketAddr = good.parse().expect("test address parses");
            assert!(loopback_only(addr).is_ok(), "{good} refused");
        }
    }
}
