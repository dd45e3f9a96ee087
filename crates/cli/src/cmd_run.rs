//! `voipsensor run`.

use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing::{debug, info, warn};
use voipsensor_config::Override;
use voipsensor_manager::CancellationToken;

/// Options of `voipsensor run`. Flags override the configuration file.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Configuration file (voipmonitor.conf syntax); built-in defaults without it.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Manager API bind address (managerip).
    #[arg(long, value_name = "IP")]
    managerip: Option<String>,
    /// Manager API TCP port, 0 = off (managerport). Also accepts PORT/IP.
    #[arg(long, visible_alias = "manager-port", value_name = "PORT[/IP]")]
    managerport: Option<String>,
    /// Manager API Unix socket file (managersocket).
    #[arg(long, value_name = "PATH")]
    managersocket: Option<String>,
    /// Serve protected commands in plaintext over TCP (manager_enable_unencrypted).
    #[arg(long, visible_alias = "manager_enable_unencrypted")]
    manager_enable_unencrypted: bool,
    /// Sensor id reported to clients (id_sensor).
    #[arg(long, visible_alias = "id_sensor", value_name = "N")]
    id_sensor: Option<String>,
    /// Capture interfaces (interface), comma-separated.
    #[arg(long, short = 'i', value_name = "IFACES")]
    interface: Option<String>,
    /// Spool directory (spooldir).
    #[arg(long, value_name = "DIR")]
    spooldir: Option<String>,
    /// Embedded database file (sqlitedb).
    #[arg(long, value_name = "PATH")]
    sqlitedb: Option<String>,
    /// Replay capture files (pcap, pcapng, gzip-compressed too) instead of capturing live;
    /// repeat the flag or list several files to read them in order.
    #[arg(long, short = 'r', value_name = "FILE", num_args = 1.., action = clap::ArgAction::Append)]
    read: Vec<PathBuf>,
    /// Pace the replay by the packets' timestamps instead of reading as fast as possible.
    #[arg(long, requires = "read")]
    realtime: bool,
    /// Speed factor of a paced replay (2 = twice real time).
    #[arg(
        long,
        value_name = "FACTOR",
        default_value_t = 1.0,
        requires = "realtime"
    )]
    speed: f64,
    /// Keep running and serving the manager API after the last file has been read.
    #[arg(long, visible_alias = "continue_after_read", requires = "read")]
    continue_after_read: bool,
}

impl RunArgs {
    fn overrides(&self) -> Vec<Override> {
        let mut out = Vec::new();
        let mut add = |key: &str, value: &str, flag: &str| {
            out.push(Override {
                key: key.to_owned(),
                value: value.to_owned(),
                source: flag.to_owned(),
            });
        };
        if let Some(v) = &self.managerip {
            add("managerip", v, "--managerip");
        }
        if let Some(v) = &self.managerport {
            // The reference's `--manager-port=PORT/IP` form also sets the bind address.
            match v.split_once('/') {
                Some((port, ip)) => {
                    add("managerport", port, "--managerport");
                    add("managerip", ip, "--managerport");
                }
                None => add("managerport", v, "--managerport"),
            }
        }
        if let Some(v) = &self.managersocket {
            add("managersocket", v, "--managersocket");
        }
        if self.manager_enable_unencrypted {
            add(
                "manager_enable_unencrypted",
                "yes",
                "--manager-enable-unencrypted",
            );
        }
        if let Some(v) = &self.id_sensor {
            add("id_sensor", v, "--id-sensor");
        }
        if let Some(v) = &self.interface {
            add("interface", v, "--interface");
        }
        if let Some(v) = &self.spooldir {
            add("spooldir", v, "--spooldir");
        }
        if let Some(v) = &self.sqlitedb {
            add("sqlitedb", v, "--sqlitedb");
        }
        out
    }
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.speed.is_finite() && args.speed > 0.0,
        "--speed must be a positive number (got {})",
        args.speed
    );
    for file in &args.read {
        anyhow::ensure!(file.is_file(), "--read {}: no such file", file.display());
    }
    let loaded = voipsensor_config::load(args.config.as_deref(), &args.overrides())?;
    for w in &loaded.warnings {
        warn!("{w}");
    }
    if !loaded.unimplemented.is_empty() {
        debug!(options = %loaded.unimplemented.join(","), "VoIPmonitor options recognised but not implemented");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("voipsensor")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let signals = tokio::spawn(wait_for_signal(shutdown.clone()));
        info!(
            version = voipsensor_daemon::VERSION_LINE,
            "voipsensor starting"
        );
        let options = voipsensor_daemon::RunOptions {
            replay: voipsensor_daemon::ReplayOptions {
                files: args.read.clone(),
                realtime: args.realtime.then_some(args.speed),
            },
            continue_after_read: args.continue_after_read,
        };
        let result = voipsensor_daemon::run(loaded.config, options, shutdown).await;
        signals.abort();
        result
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        warn!("cannot install signal handlers; stop the sensor with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = int.recv() => info!("SIGINT received"),
    }
    shutdown.cancel();
}
