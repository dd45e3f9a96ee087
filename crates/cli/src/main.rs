//! `voipsensor`: the sensor daemon and its command-line tools.

mod cmd_keys;
mod cmd_run;
mod cmd_send;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// VoIP monitoring sensor with a VoIPmonitor-compatible manager API.
#[derive(Debug, Parser)]
#[command(name = "voipsensor", version, about, propagate_version = true)]
struct Cli {
    /// Log filter: error, warn, info, debug, trace, or a tracing directive
    /// (`voipsensor_manager=debug`). Also read from VOIPSENSOR_LOG.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sensor: the manager API on managerip:managerport and managersocket.
    Run(cmd_run::RunArgs),
    /// Send one command to a sensor's manager API and print the reply.
    SendManagerCmd(cmd_send::SendArgs),
    /// Print a new manager key and IV (base64); stores nothing.
    GenerateAesKey(cmd_keys::KeyArgs),
    /// Generate a manager key, store it in the database (replacing any) and print it.
    StoreAesKey(cmd_keys::KeyArgs),
    /// Delete the manager key from the database.
    DeleteAesKey(cmd_keys::KeyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_level.as_deref());
    let result = match cli.command {
        Command::Run(args) => cmd_run::run(args),
        Command::SendManagerCmd(args) => cmd_send::run(args),
        Command::GenerateAesKey(args) => cmd_keys::generate(args),
        Command::StoreAesKey(args) => cmd_keys::store(args),
        Command::DeleteAesKey(args) => cmd_keys::delete(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("voipsensor: {}", error_chain(&err));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(flag: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = flag
        .map(str::to_owned)
        .or_else(|| std::env::var("VOIPSENSOR_LOG").ok())
        .unwrap_or_else(|| "info".to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|e| {
        eprintln!("voipsensor: bad log filter {filter:?} ({e}); using info");
        EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// The error and its causes, each cause shown once even when a message already quotes it.
fn error_chain(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
