//! `voipsensor send-manager-cmd`: the option letters of VoIPmonitor's GUI client
//! (`run.php send_manager_cmd -s ID | -h HOST -p PORT [-a] -c CMD`), plus `-U SOCKET`.
//!
//! The key for `-a` comes from, in order: `--aes-key`/`--aes-iv`, the environment
//! (`VPMANAGER_AES_KEY`, `VPMANAGER_AES_IV`, `VPMANAGER_AES_CIPHER`), the configuration file
//! (`manager_aes_key`/`manager_aes_iv`), then the database the configuration names.

use anyhow::Context as _;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use voipsensor_config::Config;
use voipsensor_manager::client::{self, Endpoint};
use voipsensor_manager_proto::aes::{Cipher, KeyMaterial};

/// Options of `voipsensor send-manager-cmd`.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub(crate) struct SendArgs {
    /// Sensor id: look its host and port up in the sensors table, and encrypt.
    #[arg(short = 's', long = "sensor", value_name = "ID", conflicts_with_all = ["host", "port", "unix"])]
    sensor: Option<u32>,
    /// Encrypt the request with the manager key.
    #[arg(short = 'a', long = "aes")]
    aes: bool,
    /// Manager key, base64 (overrides VPMANAGER_AES_KEY, the config and the database).
    #[arg(long, value_name = "BASE64", requires = "aes_iv")]
    aes_key: Option<String>,
    /// Manager IV, base64.
    #[arg(long, value_name = "BASE64", requires = "aes_key")]
    aes_iv: Option<String>,
    /// Cipher: aes-128-cbc (default), aes-192-cbc, aes-256-cbc (also VPMANAGER_AES_CIPHER).
    #[arg(long, value_name = "NAME")]
    aes_cipher: Option<String>,
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
    /// Configuration file: the sensor's address, its key, its database.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

pub(crate) fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let command = match args.command.clone() {
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
    let config = match args.config.as_deref() {
        Some(path) => Some(voipsensor_config::load(Some(path), &[])?.config),
        None => None,
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let endpoint = match args.sensor {
        Some(id) => sensor_endpoint(id, config.as_ref())?,
        None => endpoint(
            args.unix.clone(),
            args.host.clone(),
            args.port,
            config.as_ref(),
        )?,
    };
    let reply = if args.aes || args.sensor.is_some() {
        let cipher_name = args
            .aes_cipher
            .clone()
            .or_else(|| std::env::var("VPMANAGER_AES_CIPHER").ok());
        let cipher = cipher_name
            .as_deref()
            .map_or(Cipher::Aes128Cbc, |n| Cipher::from_name(n.as_bytes()));
        let key = key(&args, cipher, config.as_ref())?;
        client::send_encrypted(&endpoint, command, cipher, &key, timeout)?
    } else {
        client::send_plain(&endpoint, command, timeout)?
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&reply)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn endpoint(
    unix: Option<PathBuf>,
    host: Option<String>,
    port: Option<u16>,
    config: Option<&Config>,
) -> anyhow::Result<Endpoint> {
    if let Some(path) = unix {
        return Ok(Endpoint::Unix(path));
    }
    let host = host.unwrap_or_else(|| {
        config.map_or_else(|| "127.0.0.1".to_owned(), |c| c.manager_ip.to_string())
    });
    let port = port.or(config.map(|c| c.manager_port)).unwrap_or(5029);
    anyhow::ensure!(
        port != 0,
        "the sensor's managerport is 0 (TCP off): use -U with its managersocket"
    );
    Ok(Endpoint::Tcp { host, port })
}

/// The database the configuration names (the built-in default without one).
fn open_store(config: Option<&Config>) -> anyhow::Result<Box<dyn voipsensor_keystore::Store>> {
    let default = Config::default();
    Ok(voipsensor_keystore::open(
        &config.unwrap_or(&default).database,
    )?)
}

/// `-s ID`: the sensor's host and port from the `sensors` table.
fn sensor_endpoint(id: u32, config: Option<&Config>) -> anyhow::Result<Endpoint> {
    let store = open_store(config)?;
    let record = store.sensor(id)?.with_context(|| {
        format!(
            "sensor {id} is not in the sensors table of {}",
            store.describe()
        )
    })?;
    Ok(Endpoint::Tcp {
        host: record.host,
        port: record.port,
    })
}

/// The key for `-a`, from the first source that has one.
fn key(args: &SendArgs, cipher: Cipher, config: Option<&Config>) -> anyhow::Result<KeyMaterial> {
    let from = |what: &str, key: &str, iv: &str| {
        KeyMaterial::from_base64(key, iv, cipher)
            .with_context(|| format!("the key from {what} is unusable"))
    };
    if let (Some(k), Some(iv)) = (&args.aes_key, &args.aes_iv) {
        return from("--aes-key/--aes-iv", k, iv);
    }
    if let (Ok(k), Ok(iv)) = (
        std::env::var("VPMANAGER_AES_KEY"),
        std::env::var("VPMANAGER_AES_IV"),
    ) {
        return from("VPMANAGER_AES_KEY/VPMANAGER_AES_IV", &k, &iv);
    }
    if let Some(c) = config
        && let (Some(k), Some(iv)) = (&c.manager_aes_key, &c.manager_aes_iv)
        && !k.is_empty()
        && !iv.is_empty()
    {
        return from("the configuration", k.expose(), iv.expose());
    }
    let store = open_store(config)?;
    let stored = store.manager_key()?.with_context(|| {
        format!(
            "no manager key in {} (start the sensor once, or run store-aes-key)",
            store.describe()
        )
    })?;
    from(
        &format!("the database {}", store.describe()),
        stored.key(),
        stored.iv(),
    )
}
