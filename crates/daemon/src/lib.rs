//! voipsensor's composition root: turns a loaded configuration into a running sensor.
//!
//! Today that is the database (manager key, `sensors` row) and the manager API answering from
//! the sensor's tables; capture, call tracking and the spool are wired in here as they arrive,
//! and this crate owns the order in which they start and stop.

mod cdrs;
mod keys;
mod live;
mod packet_path;
mod replay;
mod sensor;

pub use keys::{KeyLoadError, MIN_RELOAD_INTERVAL, ManagerKeys};
pub use live::{LiveCaptures, LiveCounters};
pub use packet_path::{CdrSink, DbRecord, PacketPath, PathStats};
pub use replay::{PacketClock, ReplayOptions, ReplaySummary, replay};
pub use sensor::Sensor;

use cdrs::Cdrs;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{error, info, warn};
use voipsensor_config::Config;
use voipsensor_keystore::{SensorRecord, Store, StoreError};
use voipsensor_manager::{
    BindError, CancellationToken, KeyProvider, Limits, Listeners, Server, Settings, SocketFile,
};
use voipsensor_spool::{CleanLimits, SaveRtp, Spool, SpoolConfig};

/// Why the sensor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The manager TCP port could not be bound.
    #[error("cannot listen on {addr}: {source}{hint}", hint = if source.kind() == std::io::ErrorKind::AddrInUse { " (is another sensor running? set managerport)" } else { "" })]
    TcpBind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The manager socket file could not be created.
    #[error("managersocket: {0}")]
    Socket(#[from] BindError),
    /// The server failed.
    #[error("manager API: {0}")]
    Server(std::io::Error),
    /// The configured manager key is unusable.
    #[error(transparent)]
    Key(#[from] KeyLoadError),
    /// The database could not be opened.
    #[error(transparent)]
    Database(#[from] StoreError),
    /// A capture interface could not be opened.
    #[error("interface: {0}")]
    Capture(#[from] voipsensor_capture::Error),
}

/// The manager limits a configuration asks for.
pub fn limits(config: &Config) -> Limits {
    Limits {
        max_request_bytes: config.manager_max_request_bytes,
        request_timeout: config.manager_request_timeout,
        max_connections: config.manager_max_connections,
        ..Limits::default()
    }
}

/// Binds the manager listeners the configuration asks for.
///
/// A port in use is an error, not a retry loop: a second sensor on the same port is a
/// configuration mistake the operator must see at once.
pub async fn bind_listeners(config: &Config) -> Result<Listeners, StartError> {
    let mut listeners = Listeners::default();
    if config.manager_port != 0 {
        let addr = SocketAddr::new(config.manager_ip, config.manager_port);
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::TcpBind { addr, source })?;
        info!(addr = %tcp.local_addr().unwrap_or(addr), "manager API listening on TCP");
        listeners.tcp = Some(tcp);
    }
    if let Some(path) = &config.manager_socket {
        let file = SocketFile::bind(path)?;
        info!(path = %path.display(), "manager API listening on Unix socket");
        listeners.unix = Some(file);
    }
    if listeners.tcp.is_none() && listeners.unix.is_none() {
        warn!("managerport is 0 and managersocket is unset: the manager API is off");
    }
    Ok(listeners)
}

/// What `run` does besides serving the manager API.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Capture files to replay (`--read`).
    pub replay: ReplayOptions,
    /// Keep running and serving after the last file (`--continue-after-read`); otherwise the
    /// sensor stops when the replay ends.
    pub continue_after_read: bool,
}

/// Runs the sensor until `shutdown` is cancelled (or a replay ends, unless asked to continue).
pub async fn run(
    config: Config,
    options: RunOptions,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    let configured_key = ManagerKeys::configured(&config)?;
    let store = open_store(&config).await?;
    let listeners = bind_listeners(&config).await?;
    let keys = Arc::new(match configured_key {
        Some(key) => {
            info!("manager key from the configuration");
            ManagerKeys::fixed(key)
        }
        None => ManagerKeys::stored(store.clone()),
    });
    if keys.current().is_none() && !load_key(&keys).await {
        error!(
            db = %store.describe(),
            "no manager key yet (is the database reachable?): encryption stays on and protected commands over TCP are refused until the key can be read; retrying every 5 s"
        );
        tokio::spawn(retry(shutdown.clone(), Duration::from_secs(5), {
            let keys = keys.clone();
            move || {
                let keys = keys.clone();
                async move { load_key(&keys).await }
            }
        }));
    }
    if config.manager_enable_unencrypted {
        warn!(
            "manager_enable_unencrypted = yes: protected commands are served in plaintext over TCP"
        );
    }
    if let Some(record) = sensor_record(&config) {
        tokio::spawn(retry(
            shutdown.clone(),
            Duration::from_secs(30),
            move || {
                let (store, record) = (store.clone(), record.clone());
                async move { register(store, record).await }
            },
        ));
    }
    let table = Arc::new(std::sync::Mutex::new(voipsensor_calls::CallTable::new(
        calls_config(&config),
    )));
    let clock = Arc::new(PacketClock::default());
    let stats = Arc::new(PathStats::default());
    let spool = Arc::new(std::sync::Mutex::new(Spool::new(spool_config(&config))));
    let cdrs = Cdrs::start(&config);
    let new_path = {
        let (ports, spool, sink) = (
            config.sip_ports.clone(),
            spool.clone(),
            cdrs.as_ref().map(Cdrs::sink),
        );
        move || {
            let path = PacketPath::new(ports.clone()).with_spool(spool.clone());
            match &sink {
                Some(sink) => path.with_cdr_sink(sink.clone()),
                None => path,
            }
        }
    };
    let clean = clean_limits(&config);
    if clean.any() {
        let mut roots = vec![config.spooldir.clone()];
        roots.extend(config.spooldir_rtp.clone());
        tokio::spawn(clean_spool(spool.clone(), roots, clean, shutdown.clone()));
    }
    let replay_task = if options.replay.files.is_empty() {
        None
    } else {
        Some(tokio::spawn(run_replay(
            options.clone(),
            new_path(),
            table.clone(),
            stats.clone(),
            clock.clone(),
            shutdown.clone(),
        )))
    };
    // Live capture on the configured interfaces, unless replaying files.
    let live = if options.replay.files.is_empty() && !config.interfaces.is_empty() {
        Some(LiveCaptures::start(
            &config.interfaces,
            &new_path,
            &table,
            &stats,
            &clock,
        )?)
    } else {
        None
    };
    let mut sensor = Sensor::new(&config, table.clone(), clock.clone(), stats);
    let live_counters = live.as_ref().map(LiveCaptures::counters);
    if let Some(c) = live_counters {
        sensor = sensor.with_live(c);
    }
    if let Some(c) = &cdrs {
        sensor = sensor.with_cdrs(c.clone());
    }
    let sensor = Arc::new(sensor);
    let settings = Settings {
        limits: limits(&config),
        unencrypted_allowed: config.manager_enable_unencrypted,
    };
    let server = Server::new(sensor, keys, settings);
    let served = server.run(listeners, shutdown).await;
    // Stop the packet sources, then close every call's files: nothing accepted is lost.
    let was_live = live.is_some();
    if let Some(live) = live {
        let _ = tokio::task::spawn_blocking(move || live.stop()).await;
    }
    if let Some(task) = replay_task {
        let _ = task.await;
    }
    // The calls still open end here (sighup): their files close and their CDRs are written.
    let closed = table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .close_all(clock.now_us(), was_live);
    new_path().finish_calls(closed);
    close_spool(&spool);
    if let Some(c) = &cdrs {
        c.shutdown(Duration::from_secs(5));
    }
    served.map_err(StartError::Server)?;
    info!("sensor stopped");
    Ok(())
}

/// Where and what the spool saves, from the configuration.
fn spool_config(config: &Config) -> SpoolConfig {
    SpoolConfig {
        rtp_root: config.spooldir_rtp.clone(),
        save_sip: config.save_sip,
        save_rtp: match config.save_rtp {
            voipsensor_config::SaveRtp::No => SaveRtp::No,
            voipsensor_config::SaveRtp::Yes => SaveRtp::Yes,
            voipsensor_config::SaveRtp::Header => SaveRtp::Header,
        },
        save_rtcp: config.save_rtcp,
        convert_chars: config.convert_chars.as_bytes().to_vec(),
        save_register: config.save_sip_register,
        ..SpoolConfig::new(&config.spooldir)
    }
}

/// The cleaner's limits from the configuration (MB → bytes).
fn clean_limits(config: &Config) -> CleanLimits {
    let l = &config.spool_limits;
    let mb = |v: Option<u64>| v.map(|m| m.saturating_mul(1024 * 1024));
    CleanLimits {
        max_bytes: mb(l.max_mb),
        max_days: l.max_days,
        max_sip_bytes: mb(l.max_sip_mb),
        max_sip_days: l.max_sip_days,
        max_rtp_bytes: mb(l.max_rtp_mb),
        max_rtp_days: l.max_rtp_days,
    }
}

/// Seconds between cleaning passes (the reference's 300 s).
const CLEAN_PERIOD: Duration = Duration::from_secs(300);

/// Runs a cleaning pass over each spool root now and every [`CLEAN_PERIOD`], never touching
/// minutes with files of open calls.
async fn clean_spool(
    spool: Arc<std::sync::Mutex<Spool>>,
    roots: Vec<std::path::PathBuf>,
    limits: CleanLimits,
    shutdown: CancellationToken,
) {
    loop {
        let (spool, roots) = (spool.clone(), roots.clone());
        let _ = tokio::task::spawn_blocking(move || {
            let active = spool
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .active_minutes();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            for root in &roots {
                match voipsensor_spool::clean(root, &limits, now, &active) {
                    Ok(r) if r.deleted > 0 || r.kept_active > 0 => info!(
                        root = %root.display(),
                        deleted = r.deleted,
                        freed_bytes = r.freed_bytes,
                        kept_active = r.kept_active,
                        remaining_bytes = r.remaining_bytes,
                        "spool cleaned"
                    ),
                    Ok(_) => {}
                    Err(e) => warn!(root = %root.display(), error = %e, "spool cleaning failed"),
                }
            }
        })
        .await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(CLEAN_PERIOD) => {}
        }
    }
}

/// Flushes, fsyncs and closes every open call file and logs what the spool wrote.
fn close_spool(spool: &std::sync::Mutex<Spool>) {
    let mut spool = spool
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    spool.close_all();
    let s = spool.stats();
    info!(
        files = s.files_created,
        records = s.records,
        bytes = s.bytes,
        errors = s.errors,
        dlt_mismatch = s.dlt_mismatch,
        "spool closed"
    );
}

/// The call table's settings from the configuration.
fn calls_config(config: &Config) -> voipsensor_calls::CallsConfig {
    voipsensor_calls::CallsConfig {
        id_sensor: config.id_sensor.map_or(-1, i64::from),
        ..voipsensor_calls::CallsConfig::default()
    }
}

/// Replays the files on a blocking thread; when done, stops the sensor unless told to continue.
async fn run_replay(
    options: RunOptions,
    mut path: PacketPath,
    table: Arc<std::sync::Mutex<voipsensor_calls::CallTable>>,
    stats: Arc<PathStats>,
    clock: Arc<PacketClock>,
    shutdown: CancellationToken,
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = tokio::spawn({
        let (stop, shutdown) = (stop.clone(), shutdown.clone());
        async move {
            shutdown.cancelled().await;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let (table2, stats2, clock2) = (table.clone(), stats.clone(), clock.clone());
    let replay_options = options.replay.clone();
    let started = std::time::Instant::now();
    let summary = tokio::task::spawn_blocking(move || {
        let summary = replay(&replay_options, &mut path, &table2, &stats2, &clock2, &stop);
        // The capture ended: every call file is complete on disk from here on.
        path.flush_files();
        summary
    })
    .await
    .unwrap_or_default();
    watcher.abort();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let total_calls = table.lock().map_or(0, |t| t.total_calls());
    info!(
        packets = summary.packets,
        seconds = format!("{:.3}", started.elapsed().as_secs_f64()),
        undecodable = load(&stats.undecodable),
        sip_messages = load(&stats.sip_messages),
        sip_malformed = load(&stats.sip_malformed),
        rtp_packets = load(&stats.rtp_taken),
        calls_in_memory = total_calls,
        "replay finished"
    );
    for file in &summary.truncated_files {
        warn!(file = %file.display(), "capture file ends in the middle of a packet");
    }
    if !options.continue_after_read {
        shutdown.cancel();
    }
}

/// Opens the configured database on a blocking thread.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StoreError> {
    let db = config.database.clone();
    let opened = tokio::task::spawn_blocking(move || voipsensor_keystore::open(&db)).await;
    match opened {
        Ok(store) => Ok(Arc::from(store?)),
        Err(e) => Err(StoreError::Open {
            db: "database".into(),
            reason: e.to_string(),
        }),
    }
}

/// Loads (or creates) the key on a blocking thread; true once a key is in force.
async fn load_key(keys: &Arc<ManagerKeys>) -> bool {
    let k = keys.clone();
    let _ = tokio::task::spawn_blocking(move || k.reload()).await;
    let loaded = keys.current().is_some();
    if loaded {
        info!("encryption on: protected commands over TCP need the manager key");
    }
    loaded
}

/// The `sensors` row of this sensor, when it has an id: clients find it by id through it.
fn sensor_record(config: &Config) -> Option<SensorRecord> {
    let id_sensor = config.id_sensor?;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let host = if config.manager_ip.is_unspecified() {
        hostname.clone()
    } else {
        config.manager_ip.to_string()
    };
    let name = if hostname.is_empty() {
        format!("voipsensor {id_sensor}")
    } else {
        hostname
    };
    Some(SensorRecord {
        id_sensor,
        name,
        host,
        port: config.manager_port,
    })
}

async fn register(store: Arc<dyn Store>, record: SensorRecord) -> bool {
    let id = record.id_sensor;
    let describe = store.describe();
    match tokio::task::spawn_blocking(move || store.upsert_sensor(&record)).await {
        Ok(Ok(())) => {
            info!(id_sensor = id, db = %describe, "sensor recorded in the sensors table");
            true
        }
        Ok(Err(e)) => {
            warn!(error = %e, "cannot record the sensor in the sensors table; retrying");
            false
        }
        Err(_) => false,
    }
}

/// Runs `attempt` now and then every `every` until it returns true or `shutdown` fires.
async fn retry<F, Fut>(shutdown: CancellationToken, every: Duration, attempt: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        if attempt().await {
            return;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// How long a graceful stop may take before the process gives up on it.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Name and version for the start-up log line.
pub const VERSION_LINE: &str = concat!(
    "voipsensor ",
    env!("CARGO_PKG_VERSION"),
    " (manager API ",
    "2026.04.0",
    ")"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn free_port(ip: &str) -> u16 {
        std::net::TcpListener::bind((ip, 0))
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port()
    }

    #[tokio::test]
    async fn ipv6_literal_gives_an_ipv6_listener() {
        let config = Config {
            manager_ip: "::1".parse().expect("ip"),
            manager_port: free_port("::1"),
            ..Config::default()
        };
        let listeners = bind_listeners(&config).await.expect("bind");
        let addr = listeners.tcp.expect("tcp").local_addr().expect("addr");
        assert!(addr.is_ipv6() && addr.ip().is_loopback(), "{addr}");
    }

    #[tokio::test]
    async fn port_in_use_is_an_error_not_a_retry() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let config = Config {
            manager_port: port,
            ..Config::default()
        };
        let err = bind_listeners(&config).await.expect_err("port is taken");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("cannot listen on 127.0.0.1:{port}: ")),
            "{text}"
        );
        assert!(text.contains("is another sensor running?"), "{text}");
    }

    #[tokio::test]
    async fn port_zero_disables_tcp() {
        let config = Config {
            manager_port: 0,
            ..Config::default()
        };
        let listeners = bind_listeners(&config).await.expect("bind");
        assert!(listeners.tcp.is_none() && listeners.unix.is_none());
    }
}
