//! `gen-traffic`: writes a deterministic synthetic VoIP capture (SIP calls with RTP, REGISTER
//! transactions) as a classic Ethernet pcap. See [`voipsensor_bench::traffic`] for the timeline.

use std::fs::File;
use std::io::BufWriter;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use voipsensor_bench::traffic::{self, Config};

/// Writes a synthetic SIP + RTP capture (Ethernet/IPv4/UDP, classic pcap, microseconds).
///
/// Every call: INVITE with SDP (PCMA), 100 Trying, 180 Ringing (+1 s), 200 OK with SDP (+2 s),
/// ACK, RTP both ways at 50 packets/s per direction for --duration seconds, BYE and 200 OK.
/// Every registration: REGISTER, 401 with a digest challenge, REGISTER with Authorization,
/// 200 OK. The output depends only on the arguments: same arguments, same bytes.
#[derive(Debug, Parser)]
#[command(
    name = "gen-traffic",
    after_help = "\
Packets: 7 SIP messages + about 2 x 50 x DURATION x (1 - LOSS/100) RTP packets per call,
4 SIP messages per registration.

A capture of about 1 M packets (2 % SIP, 98 % RTP), for replay benchmarks
(1,021,000 packets: 21,000 SIP, 1,000,000 RTP, ~240 MB):
  cargo run --release -p voipsensor-bench --bin gen-traffic -- \\
    --calls 1000 --concurrency 200 --duration 10 --registrations 3500 --out /tmp/1m.pcap
(without --registrations: 1,007,000 packets, 0.7 % SIP)."
)]
struct Args {
    /// Output pcap file.
    #[arg(long)]
    out: PathBuf,
    /// Number of calls.
    #[arg(long, default_value_t = 10)]
    calls: u32,
    /// Most calls active at once (default: --calls).
    #[arg(long)]
    concurrency: Option<u32>,
    /// Seconds of RTP per call.
    #[arg(long, default_value_t = 10)]
    duration: u32,
    /// RTP packet loss in percent (0-100).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// RTP arrival jitter, +/- milliseconds (0-1000).
    #[arg(long, default_value_t = 0)]
    jitter: u32,
    /// Number of REGISTER transactions (distinct users).
    #[arg(long, default_value_t = 0)]
    registrations: u32,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time of the first packet, Unix seconds.
    #[arg(long, default_value_t = 1_767_225_600)]
    start: u32,
    /// Caller network: call i uses this address + 1 + i.
    #[arg(long, default_value = "10.1.0.0")]
    caller_net: Ipv4Addr,
    /// Callee (and registrar) address.
    #[arg(long, default_value = "10.2.0.1")]
    callee: Ipv4Addr,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = Config {
        calls: args.calls,
        concurrency: args.concurrency.unwrap_or(args.calls).max(1),
        duration_secs: args.duration,
        loss_pct: args.loss,
        jitter_ms: args.jitter,
        registrations: args.registrations,
        seed: args.seed,
        start_unix: args.start,
        caller_net: args.caller_net,
        callee: args.callee,
    };
    if let Err(e) = traffic::validate(&cfg) {
        eprintln!("gen-traffic: {e}");
        return ExitCode::from(2);
    }
    let result = File::create(&args.out).and_then(|f| {
        let summary = traffic::generate(&cfg, BufWriter::with_capacity(1 << 20, f))?;
        Ok(summary)
    });
    match result {
        Ok(summary) => {
            eprintln!("gen-traffic: {}: {summary}", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-traffic: {}: {e}", args.out.display());
            ExitCode::FAILURE
        }
    }
}
