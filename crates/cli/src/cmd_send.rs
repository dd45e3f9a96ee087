//! `voipsensor send-manager-cmd`: the option letters of VoIPmonitor's GUI client
//! (`run.php send_manager_cmd -h HOST -p PORT -c CMD`), plus `-U SOCKET`.

use anyhow::Context as _;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use voipsensor_manager::client::{self, Endpoint};

/// Options of `voipsensor send-manager-cmd`.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub(crate) struct SendArgs {
    /// Sensor host (default: managerip of --config, else 127.0.0.1).
    #[arg(
        short = 'h',
        long = "host",
        value_name = "HOST",
        conflicts_with = "unix"
    )]
    host: Option<String>,
    /// Sensor manager port (default: managerport of --config, else 5029).
    #[arg(
        short = 'p',
        long = "port",
        value_name = "PORT",
        conflicts_with = "unix"
    )]
    port: Option<u16>,
    /// Unix socket of the sensor (managersocket or a manager_file socket).
    #[arg(short = 'U', long = "unix-socket", value_name = "SOCKET")]
    unix: Option<PathBuf>,
    /// The command line, e.g. 'listcalls {"limit":"10"}'; read from standard input without it.
    #[arg(short = 'c', long = "command", value_name = "CMD")]
    command: Option<String>,
    /// Seconds to wait for the connection and for each piece of the reply.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    timeout: u64,
    /// Configuration file to take the sensor's address from.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

pub(crate) fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let command = match args.command {
        Some(c) => c,
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the command from standard input")?;
            text
        }
    };
    let command = command.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(
        !command.trim().is_empty(),
        "no command given (use -c CMD or standard input)"
    );
    anyhow::ensure!(
        !command.contains(['\r', '\n']),
        "the manager API takes one command line per connection; the command has a line break"
    );
    let endpoint = endpoint(args.unix, args.host, args.port, args.config.as_deref())?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let reply = client::send_plain(&endpoint, command, timeout)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&reply)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn endpoint(
    unix: Option<PathBuf>,
    host: Option<String>,
    port: Option<u16>,
    config: Option<&std::path::Path>,
) -> anyhow::Result<Endpoint> {
    if let Some(path) = unix {
        return Ok(Endpoint::Unix(path));
    }
    let cfg = match config {
        Some(path) => Some(voipsensor_config::load(Some(path), &[])?.config),
        None => None,
    };
    let host = host.unwrap_or_else(|| {
        cfg.as_ref()
            .map_or_else(|| "127.0.0.1".to_owned(), |c| c.manager_ip.to_string())
    });
    let port = port
        .or(cfg.as_ref().map(|c| c.manager_port))
        .unwrap_or(5029);
    anyhow::ensure!(
        port != 0,
        "the sensor's managerport is 0 (TCP off): use -U with its managersocket"
    );
    Ok(Endpoint::Tcp { host, port })
}
