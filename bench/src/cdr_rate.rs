//! CDR insert rate: pushes N calls' CDRs (two RTP streams each) into the CDR writer and times
//! until every row is committed, on SQLite (a temporary file) and, with `--mysql
//! user:password@host:port`, on MySQL/MariaDB (database `vs_bench_cdr`, dropped afterwards).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use voipsensor_calls::cdr::{Cdr, CdrRtp, CdrStream, WhoHanged};
use voipsensor_cdr::{CdrWriter, Options};
use voipsensor_config::{Database, MysqlConfig, Secret};

#[derive(Parser)]
struct Args {
    /// CDRs to write.
    #[arg(long, default_value_t = 20_000)]
    count: u32,
    /// Also measure MySQL/MariaDB: user:password@host:port.
    #[arg(long)]
    mysql: Option<String>,
}

fn stream(i: u32, index: u8) -> CdrStream {
    CdrStream {
        index,
        payload: 8,
        saddr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
        received: 1500,
        lost: i % 7,
        avgjitter_mult10: 12,
        maxjitter: 4,
        sl: [i % 7, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        d: [0; 7],
        mos_f1_mult10: 44,
        mos_f2_mult10: 44,
        mos_adapt_mult10: 44,
        mos_min_mult10: 44,
        packet_loss_perc_mult1000: 10,
        rtcp: None,
    }
}

fn cdr(i: u32) -> Cdr {
    let t = 1_776_167_857_000_000 + u64::from(i) * 1_000_000;
    let rtp = |index: u8, caller: bool| CdrRtp {
        saddr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
        sport: 10_000,
        daddr: IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i)),
        dport: 20_000,
        ssrc: i,
        received: 1500,
        loss: 0,
        firsttime_s: 3.0,
        payload: 8,
        maxjitter_mult10: 40,
        index,
        flags: if caller { 0b110 } else { 0b1010 },
        duration_s: 30.0,
        sdp_ptime: Some(20),
        rtp_ptime: Some(20),
        ttl_min: Some(60),
        ttl_max: Some(64),
        ttl_avg_mult10: Some(625),
    };
    Cdr {
        fbasename: format!("{i}-bench@10.0.0.1").into_bytes(),
        calldate_us: t,
        callend_us: t + 33_000_000,
        duration_s: 33,
        connect_duration_s: Some(30),
        progress_time_s: Some(1),
        first_rtp_time_s: Some(3),
        caller: format!("1{i:06}"),
        caller_domain: "example.com".into(),
        callername: "Bench".into(),
        called: format!("2{i:06}"),
        called_domain: "example.org".into(),
        sipcallerip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        sipcallerport: 5060,
        sipcalledip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        sipcalledport: 5060,
        whohanged: Some(WhoHanged::Caller),
        bye: 3,
        last_sip_response_num: 200,
        last_sip_response: "200 OK".into(),
        sighup: false,
        vlan: None,
        id_sensor: Some(1),
        response_time_100_ms: Some(10),
        response_time_xxx_ms: Some(1000),
        caller_ua: "Bench UA".into(),
        callee_ua: "Bench PBX".into(),
        digest_username: String::new(),
        proxies: Vec::new(),
        a: Some(stream(i, 0)),
        b: Some(stream(i + 1, 1)),
        streams: vec![rtp(1, true), rtp(2, false)],
        flags: 1 << 23 | 1 << 24 | 1 << 25,
    }
}

fn measure(name: &str, db: &Database, count: u32) -> anyhow::Result<()> {
    let queue = tempfile::tempdir()?;
    let writer = CdrWriter::start(db, queue.path().join("q"), Options::default())?;
    // Schema creation and the first connection are not part of the rate.
    writer.push_cdr(&cdr(u32::MAX - 1));
    let deadline = Instant::now() + Duration::from_secs(60);
    while writer.stats().written_cdrs < 1 {
        anyhow::ensure!(Instant::now() < deadline, "{name}: first CDR not written");
        std::thread::sleep(Duration::from_millis(5));
    }
    let cdrs: Vec<Cdr> = (0..count).map(cdr).collect();
    let start = Instant::now();
    for c in &cdrs {
        writer.push_cdr(c);
    }
    let queued = start.elapsed();
    let target = u64::from(count) + 1;
    let deadline = Instant::now() + Duration::from_secs(600);
    while writer.stats().written_cdrs < target {
        anyhow::ensure!(Instant::now() < deadline, "{name}: rows not written");
        std::thread::sleep(Duration::from_millis(2));
    }
    let total = start.elapsed();
    let s = writer.shutdown(Duration::from_secs(5));
    println!(
        "{name}: {count} CDRs (cdr + cdr_next + 2 cdr_rtp rows each) queued in {:.3} s, committed in {:.3} s: {:.0} CDRs/s (failed attempts {}, dropped {})",
        queued.as_secs_f64(),
        total.as_secs_f64(),
        f64::from(count) / total.as_secs_f64(),
        s.failed_attempts,
        s.dropped
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let sqlite = Database::Sqlite {
        path: PathBuf::from(dir.path()).join("bench.db"),
    };
    measure("sqlite", &sqlite, args.count)?;
    if let Some(spec) = &args.mysql {
        let (creds, addr) = spec
            .rsplit_once('@')
            .ok_or_else(|| anyhow::anyhow!("--mysql user:password@host:port"))?;
        let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
        let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "3306"));
        let cfg = MysqlConfig {
            host: host.into(),
            port: port.parse()?,
            username: user.into(),
            password: Secret::new(password.to_owned()),
            database: "vs_bench_cdr".into(),
        };
        let url = format!("mysql://{user}:{password}@{host}:{port}");
        let drop_db = || -> anyhow::Result<()> {
            use mysql::prelude::Queryable as _;
            let mut conn = mysql::Conn::new(mysql::Opts::from_url(&url)?)?;
            conn.query_drop("DROP DATABASE IF EXISTS vs_bench_cdr")?;
            Ok(())
        };
        drop_db()?;
        let r = measure("mysql", &Database::Mysql(cfg), args.count);
        drop_db()?;
        r?;
    }
    Ok(())
}
