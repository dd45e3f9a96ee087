//! `voipsensor send-manager-cmd`: the option letters of VoIPmonitor's GUI client
//! (`run.php send_manager_cmd -s ID | -h HOST -p PORT [-a] -c CMD`), plus `-U SOCKET`.
//!
//! The key for `-a` comes from, in order: `--aes-key`/`--aes-iv`, the environment
//! (`VPMANAGER_AES_KEY`, `VPMANAGER_AES_IV`, `VPMANAGER_AES_CIPHER`), the configuration file
//! (`manager_aes_key`/`manager_aes_iv`), then the database the configuration names.
//!
//! The reply is decoded (decrypted, gunzipped) and written out as it arrives, to standard
//! output or to `--output FILE`, so fetching a large file takes constant memory.

use anyhow::Context as _;
use std::fs::File;
use std::io::{BufWriter, IsTerminal as _, Read as _, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
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
    /// Write the reply to FILE instead of standard output (streamed as it arrives; with a
    /// progress line on standard error when that is a terminal). A `getfile` refused by the
    /// sensor (`access denied`, `error: cannot open file …`) is an error and creates no file.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
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
    let encrypted = args.aes || args.sensor.is_some();
    let key = if encrypted {
        let cipher_name = args
            .aes_cipher
            .clone()
            .or_else(|| std::env::var("VPMANAGER_AES_CIPHER").ok());
        let cipher = cipher_name
            .as_deref()
            .map_or(Cipher::Aes128Cbc, |n| Cipher::from_name(n.as_bytes()));
        Some((cipher, key(&args, cipher, config.as_ref())?))
    } else {
        None
    };
    let request = Request {
        endpoint: &endpoint,
        command,
        key: key.as_ref(),
        timeout,
    };
    match &args.output {
        None => {
            let stdout = std::io::stdout().lock();
            request
                .send(Output::new(Target::Stdout(stdout), None))?
                .finish()?;
        }
        Some(path) => {
            let progress = std::io::stderr().is_terminal().then(Progress::new);
            let out = request.send(Output::new(Target::File(path, None), progress))?;
            if is_file_command(command)
                && let Some(refusal) = out.refusal()
            {
                anyhow::bail!(
                    "the sensor refused: {}",
                    String::from_utf8_lossy(refusal).trim_end()
                );
            }
            out.finish()
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One command to send.
struct Request<'a> {
    endpoint: &'a Endpoint,
    command: &'a str,
    key: Option<&'a (Cipher, KeyMaterial)>,
    timeout: Duration,
}

impl Request<'_> {
    /// Sends the command; the decoded reply goes to `out` as it arrives.
    fn send<W: Write>(&self, out: W) -> Result<W, client::ClientError> {
        match self.key {
            Some((cipher, key)) => client::send_encrypted_to(
                self.endpoint,
                self.command,
                *cipher,
                key,
                self.timeout,
                out,
            ),
            None => client::send_plain_to(self.endpoint, self.command, self.timeout, out),
        }
    }
}

/// Whether `command` fetches a file (`getfile`, `getfile_zip`).
fn is_file_command(command: &str) -> bool {
    matches!(
        command.split_ascii_whitespace().next(),
        Some("getfile" | "getfile_zip")
    )
}

/// Replies a `getfile` gets instead of the file. Shorter than [`Output::HOLD`].
fn is_refusal(reply: &[u8]) -> bool {
    reply == b"access denied" || reply.starts_with(b"error: cannot open file ")
}

/// Where the decoded reply goes.
enum Target<'a> {
    Stdout(std::io::StdoutLock<'a>),
    /// The file is created when the first byte is written (not at all for a refusal).
    File(&'a Path, Option<BufWriter<File>>),
}

impl Write for Target<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Stdout(s) => s.write(buf),
            Self::File(path, file) => {
                if file.is_none() {
                    *file = Some(BufWriter::with_capacity(256 << 10, File::create(path)?));
                }
                match file {
                    Some(f) => f.write(buf),
                    None => Ok(0),
                }
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Stdout(s) => s.flush(),
            Self::File(_, Some(f)) => f.flush(),
            Self::File(_, None) => Ok(()),
        }
    }
}

/// The decoded reply's writer: holds the first bytes back (so a refusal can be told from a
/// file), counts bytes and draws the progress line.
struct Output<'a> {
    target: Target<'a>,
    held: Vec<u8>,
    passed: bool,
    written: u64,
    progress: Option<Progress>,
}

impl<'a> Output<'a> {
    /// Bytes held back before anything reaches the target.
    const HOLD: usize = 4096;

    fn new(target: Target<'a>, progress: Option<Progress>) -> Self {
        Self {
            target,
            held: Vec::new(),
            passed: false,
            written: 0,
            progress,
        }
    }

    /// The whole reply, when it is short and a `getfile` refusal.
    fn refusal(&self) -> Option<&[u8]> {
        (!self.passed && is_refusal(&self.held)).then_some(&self.held[..])
    }

    fn release(&mut self) -> std::io::Result<()> {
        if !self.passed {
            self.passed = true;
            let held = std::mem::take(&mut self.held);
            self.target.write_all(&held)?;
        }
        Ok(())
    }

    /// Writes what is held (an empty reply still creates an empty file), flushes, ends the
    /// progress line.
    fn finish(mut self) -> std::io::Result<()> {
        self.release()?;
        if let Target::File(path, file @ None) = &mut self.target {
            *file = Some(BufWriter::new(File::create(path)?));
        }
        self.target.flush()?;
        if let Some(p) = &mut self.progress {
            p.done(self.written);
        }
        Ok(())
    }
}

impl Write for Output<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.passed {
            self.target.write_all(buf)?;
        } else {
            self.held.extend_from_slice(buf);
            if self.held.len() >= Self::HOLD {
                self.release()?;
            }
        }
        self.written += buf.len() as u64;
        if let Some(p) = &mut self.progress {
            p.update(self.written);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.target.flush()
    }
}

/// A progress line on standard error: bytes so far, rate, elapsed time.
struct Progress {
    started: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    const EVERY: Duration = Duration::from_millis(250);

    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_draw: None,
        }
    }

    fn update(&mut self, bytes: u64) {
        let now = Instant::now();
        if self
            .last_draw
            .is_none_or(|last| now.duration_since(last) >= Self::EVERY)
        {
            self.last_draw = Some(now);
            draw(&progress_line(bytes, self.started.elapsed()));
        }
    }

    fn done(&mut self, bytes: u64) {
        draw(&progress_line(bytes, self.started.elapsed()));
        eprintln!();
    }
}

fn draw(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r{line}\x1b[K");
    let _ = err.flush();
}

/// `  12.5 MiB received  48.2 MiB/s  0:03`.
#[allow(clippy::cast_precision_loss)] // a display value
fn progress_line(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { bytes as f64 / secs } else { 0.0 };
    let whole = elapsed.as_secs();
    format!(
        "{} received  {}/s  {}:{:02}",
        human(bytes as f64),
        human(rate),
        whole / 60,
        whole % 60
    )
}

/// Bytes with a binary unit: `512 B`, `1.5 KiB`, `12.3 MiB`, `1.02 GiB`.
fn human(bytes: f64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024.0 {
        return format!("{bytes:.0} B");
    }
    let mut value = bytes / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let decimals = if value < 10.0 { 2 } else { 1 };
    format!("{value:.decimals$} {}", UNITS[unit])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_text() {
        assert_eq!(human(0.0), "0 B");
        assert_eq!(human(1023.0), "1023 B");
        assert_eq!(human(1536.0), "1.50 KiB");
        assert_eq!(human(12.34 * 1024.0 * 1024.0), "12.3 MiB");
        assert_eq!(human(3.0 * 1024.0 * 1024.0 * 1024.0), "3.00 GiB");
        assert_eq!(
            progress_line(10 << 20, Duration::from_secs(65)),
            "10.0 MiB received  157.5 KiB/s  1:05"
        );
    }

    #[test]
    fn refusals_are_recognised_only_for_file_commands() {
        assert!(is_file_command("getfile a.pcap"));
        assert!(is_file_command("getfile_zip a.pcap 0 1"));
        assert!(!is_file_command("file_exists a.pcap"));
        assert!(!is_file_command("listcalls"));
        assert!(is_refusal(b"access denied"));
        assert!(is_refusal(b"error: cannot open file x"));
        assert!(!is_refusal(b"access denied and more"));
    }

    #[test]
    fn output_holds_back_the_head_then_streams() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        let mut out = Output::new(Target::File(&path, None), None);
        out.write_all(b"access denied").expect("write");
        assert!(out.refusal().is_some());
        assert!(
            !path.exists(),
            "nothing is created before the reply is known"
        );
        drop(out);
        let mut out = Output::new(Target::File(&path, None), None);
        let body = vec![7u8; 10_000];
        out.write_all(&body).expect("write");
        assert!(out.refusal().is_none());
        out.finish().expect("finish");
        assert_eq!(std::fs::read(&path).expect("read"), body);
        let empty = dir.path().join("empty");
        Output::new(Target::File(&empty, None), None)
            .finish()
            .expect("finish");
        assert_eq!(std::fs::read(&empty).expect("read"), b"");
    }
}
