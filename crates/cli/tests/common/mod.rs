//! Shared helpers of the end-to-end tests: start the real `voipsensor` binary on a free
//! loopback port, talk to it with the real `nc` (as users do) and with raw sockets (where the
//! tests need control over every byte and its timing), and stop it with SIGTERM.
//!
//! Every address used here is 127.0.0.1, ::1 or a Unix socket in a temporary directory.

// Each test crate uses its own subset of the helpers.
#![allow(dead_code)]

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// `getversion`: the manager-API level the sensor implements.
pub(crate) const VERSION: &str = "2026.04.0";
/// `getbuild`.
pub(crate) const BUILD: &str = concat!("voipsensor-", env!("CARGO_PKG_VERSION"));
/// `getverbuild`.
pub(crate) const VERBUILD: &str = concat!("2026.04.0 (voipsensor-", env!("CARGO_PKG_VERSION"), ")");

/// What the sensor logs when it creates the manager key.
pub(crate) const GENERATED: &str = "no manager key in the database: generated and stored a new one";
/// What the client says when the sensor's reply does not decrypt with its key.
pub(crate) const WRONG_KEY: &str = "wrong key?";
/// The server re-reads the key at most this often (`MIN_RELOAD_INTERVAL`, 1 s), plus margin.
pub(crate) const RELOAD_WINDOW: Duration = Duration::from_millis(1100);

/// How long a sensor may take to answer its first `getversion`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Read/write timeout of the raw test clients: far above anything the server should need.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a helper process (`nc`, `send-manager-cmd`, a failing `run`) may take.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(15);

/// The binary under test.
pub(crate) fn voipsensor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_voipsensor"))
}

/// `bytes` as text for assertions and messages.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The outcome of a `listcalls` sent with a key the sensor does not use: the client cannot
/// read the reply. It says so (exit 1, [`WRONG_KEY`]), unless the wrongly decrypted bytes
/// happen to end in valid CBC padding (about 1 run in 256): then it prints them, and they are
/// not a listing. Either way, no call data comes back.
#[allow(dead_code)] // not every test binary uses it
#[track_caller]
pub(crate) fn assert_unreadable_reply(out: &Output) {
    if out.status.code() == Some(1) {
        assert!(
            text(&out.stderr).contains(WRONG_KEY),
            "{}",
            text(&out.stderr)
        );
    } else {
        assert!(out.status.success(), "{out:?}");
        assert!(
            !text(&out.stdout).contains("callreference"),
            "the reply must not be readable: {}",
            text(&out.stdout)
        );
    }
}

/// A loopback port nobody listens on right now (the kernel's pick for port 0).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0 to find a free port")
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}

/// `s` quoted for `sh`, so a failing script can be pasted into a terminal as is.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A running `voipsensor run`, killed (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub(crate) struct Sensor {
    child: Child,
    host: IpAddr,
    port: u16,
    stderr_path: PathBuf,
    config_path: PathBuf,
    dir: TempDir,
}

impl Sensor {
    /// Starts `voipsensor run --config <tmp>/voipsensor.conf ARGS` on a free port of 127.0.0.1
    /// and waits until it answers `getversion`.
    ///
    /// In `args` and `config`, `{dir}` stands for the sensor's temporary directory and `{port}`
    /// for the chosen port. Unless one of them mentions `{port}`, `--managerport PORT` is
    /// added. When `args` holds its own `--config FILE`, `config` is written but not used.
    pub(crate) fn start(args: &[&str], config: &str) -> Self {
        Self::start_in(tempdir(), args, config)
    }

    /// [`Sensor::start`] in a directory the test has prepared (e.g. with a stale socket).
    pub(crate) fn start_in(dir: TempDir, args: &[&str], config: &str) -> Self {
        Self::start_on(dir, IpAddr::V4(Ipv4Addr::LOCALHOST), args, config)
    }

    /// [`Sensor::start_in`] for a sensor whose manager listens on `host` (e.g. `::1`).
    pub(crate) fn start_on(dir: TempDir, host: IpAddr, args: &[&str], config: &str) -> Self {
        let mut dir = Some(dir);
        for attempt in 1..=5 {
            let port = free_port_on(host);
            let tmp = dir
                .take()
                .expect("the directory is handed back after a failed attempt");
            match Self::try_start(tmp, host, port, args, config, attempt) {
                Ok(sensor) => return sensor,
                // Another test took the port between our probe and the sensor's bind.
                Err((tmp, stderr)) if stderr.contains("Address already in use") => {
                    dir = Some(tmp);
                }
                Err((_, stderr)) => panic!("voipsensor exited during start-up:\n{stderr}"),
            }
        }
        panic!("no free port found in 5 attempts");
    }

    fn try_start(
        dir: TempDir,
        host: IpAddr,
        port: u16,
        args: &[&str],
        config: &str,
        attempt: u32,
    ) -> Result<Self, (TempDir, String)> {
        let subst = |s: &str| {
            s.replace("{dir}", &dir.path().display().to_string())
                .replace("{port}", &port.to_string())
        };
        let config_path = dir.path().join("voipsensor.conf");
        // Tests of the plain protocol run with plaintext allowed over TCP; a test of encryption
        // says `manager_enable_unencrypted = no` (or sets it in its own config file).
        let mut text = subst(config);
        if !text.contains("manager_enable_unencrypted") {
            text = format!("manager_enable_unencrypted = yes\n{text}");
        }
        std::fs::write(&config_path, text).expect("write the test configuration");
        let stderr_path = dir.path().join(format!("stderr.{attempt}.log"));
        let stderr = File::create(&stderr_path).expect("create the stderr log");
        let mut cmd = voipsensor();
        cmd.arg("run");
        if !args.contains(&"--config") {
            cmd.arg("--config").arg(&config_path);
        }
        cmd.args(args.iter().map(|a| subst(a)));
        // Every sensor gets a private database (never the system default path).
        if !config.contains("sqlitedb") && !args.iter().any(|a| a.contains("sqlitedb")) {
            cmd.arg("--sqlitedb").arg(dir.path().join("voipsensor.db"));
        }
        // … and a private spool (never /var/spool/voipmonitor).
        if !config.contains("spooldir") && !args.iter().any(|a| a.contains("spooldir")) {
            cmd.arg("--spooldir").arg(dir.path().join("spool"));
        }
        if !config.contains("{port}") && !args.iter().any(|a| a.contains("{port}")) {
            cmd.arg("--managerport").arg(port.to_string());
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn voipsensor run");
        let mut sensor = Self {
            child,
            host,
            port,
            stderr_path,
            config_path,
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = sensor.child.try_wait().expect("poll the sensor") {
                let stderr = format!("{status}\n{}", sensor.stderr());
                // The process is reaped, so dropping `sensor` signals nothing; keep the
                // directory (it may hold files the test prepared) for the next attempt.
                let dir = std::mem::replace(&mut sensor.dir, tempdir());
                return Err((dir, stderr));
            }
            // The port must be ours: a probe answered by another test's sensor proves nothing.
            if owns_listener(sensor.pid(), port)
                && try_exchange(sensor.addr(), b"getversion\r\n\r\n")
                    .is_ok_and(|reply| reply == VERSION.as_bytes())
            {
                return Ok(sensor);
            }
            assert!(
                Instant::now() < deadline,
                "voipsensor did not answer getversion within {START_TIMEOUT:?}:\n{}",
                sensor.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The manager TCP port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The manager TCP address.
    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The sensor's temporary directory (`{dir}`).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The configuration file the sensor was started with.
    pub(crate) fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the sensor wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends raw `request` bytes over TCP and returns the reply (up to the server's close).
    pub(crate) fn exchange(&self, request: &[u8]) -> Vec<u8> {
        exchange(self.addr(), request)
    }

    /// `echo LINE | nc HOST PORT`, returning what nc printed.
    pub(crate) fn nc(&self, line: &str) -> Vec<u8> {
        nc(&format!(
            "echo {} | nc {} {}",
            shell_quote(line),
            self.host,
            self.port
        ))
    }

    /// Asserts that the sensor still answers `getversion` correctly.
    #[track_caller]
    pub(crate) fn assert_alive(&self) {
        assert_eq!(
            text(&self.exchange(b"getversion\r\n\r\n")),
            VERSION,
            "the sensor must still answer; its stderr:\n{}",
            self.stderr()
        );
        assert!(
            !self.stderr().contains("panicked"),
            "the sensor panicked:\n{}",
            self.stderr()
        );
    }

    /// Sends SIGTERM.
    pub(crate) fn sigterm(&self) {
        signal(self.pid(), "TERM");
    }

    /// Waits until the process has exited; `None` if it still runs after `within`.
    pub(crate) fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the sensor") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then the exit status (which must come within `within`).
    #[track_caller]
    pub(crate) fn stop(&mut self, within: Duration) -> ExitStatus {
        self.sigterm();
        let status = self.wait_exit(within);
        status.unwrap_or_else(|| {
            panic!(
                "voipsensor still runs {within:?} after SIGTERM:\n{}",
                self.stderr()
            )
        })
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        // `try_wait` returning `None` means the process is not reaped, so its pid is still ours.
        if matches!(self.child.try_wait(), Ok(None)) {
            self.sigterm();
            if self.wait_exit(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// A fresh temporary directory.
pub(crate) fn tempdir() -> TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

fn free_port_on(host: IpAddr) -> u16 {
    TcpListener::bind(SocketAddr::new(host, 0))
        .expect("bind port 0 to find a free port")
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}

/// Sends signal `name` (`TERM`, `KILL`) to `pid` with the shell's `kill`.
pub(crate) fn signal(pid: u32, name: &str) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -s {name} {pid}"))
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {name} {pid} failed: {status}");
}

/// Whether process `pid` holds a listening TCP socket on `port` (read from /proc).
fn owns_listener(pid: u32, port: u16) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let inodes: Vec<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (Some(local), Some(state), Some(inode)) =
                    (fields.get(1), fields.get(3), fields.get(9))
                else {
                    return false;
                };
                let local_port = local
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok());
                // State 0A is LISTEN.
                local_port == Some(port) && *state == "0A" && inodes.iter().any(|i| i == inode)
            })
    })
}

/// A TCP connection to `addr` with generous timeouts and Nagle off (so each write is sent at
/// once and the tests control the chunking).
pub(crate) fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to the sensor");
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("set read timeout");
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .expect("set write timeout");
    stream.set_nodelay(true).expect("set TCP_NODELAY");
    stream
}

/// A Unix socket connection to `path` with generous timeouts.
pub(crate) fn connect_unix(path: &Path) -> UnixStream {
    let stream = UnixStream::connect(path).expect("connect to the Unix socket");
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("set read timeout");
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .expect("set write timeout");
    stream
}

fn try_exchange(addr: SocketAddr, request: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(request)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    Ok(reply)
}

/// Sends `request` in one write (no half-close) and reads the reply until the server closes.
pub(crate) fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    timed_exchange(addr, request).0
}

/// [`exchange`], also returning the time from the write to the server's close.
pub(crate) fn timed_exchange(addr: SocketAddr, request: &[u8]) -> (Vec<u8>, Duration) {
    let mut stream = connect(addr);
    let started = Instant::now();
    stream.write_all(request).expect("write the request");
    let reply = read_reply(&mut stream);
    (reply, started.elapsed())
}

/// [`exchange`] over a Unix socket.
pub(crate) fn exchange_unix(path: &Path, request: &[u8]) -> Vec<u8> {
    let mut stream = connect_unix(path);
    stream.write_all(request).expect("write the request");
    read_reply(&mut stream)
}

/// Reads until EOF; a timeout is a test failure (the server must always close).
pub(crate) fn read_reply(stream: &mut impl io::Read) -> Vec<u8> {
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .expect("read the reply until the server closes");
    reply
}

/// Runs `sh -c SCRIPT` (an `nc` pipeline) and returns its stdout; it must exit 0.
pub(crate) fn nc(script: &str) -> Vec<u8> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    let out = run(cmd, b"");
    assert!(
        out.status.success(),
        "`{script}` failed with {}: {}",
        out.status,
        text(&out.stderr)
    );
    out.stdout
}

/// `echo LINE | nc -U PATH`.
pub(crate) fn nc_unix(path: &Path, line: &str) -> Vec<u8> {
    nc(&format!(
        "echo {} | nc -U {}",
        shell_quote(line),
        shell_quote(&path.display().to_string())
    ))
}

/// Runs `cmd` with `stdin` as its input, collecting stdout and stderr; panics if it does not
/// finish within the process timeout.
pub(crate) fn run(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_vec();
    let writer = thread::spawn(move || {
        // The process may exit without reading its input.
        let _ = input.write_all(&stdin);
    });
    let mut out_pipe = child.stdout.take().expect("stdout is piped");
    let mut err_pipe = child.stderr.take().expect("stderr is piped");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {PROCESS_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    writer.join().expect("stdin writer thread");
    Output {
        status,
        stdout: out_reader.join().expect("stdout reader thread"),
        stderr: err_reader.join().expect("stderr reader thread"),
    }
}

/// `voipsensor send-manager-cmd ARGS` with `stdin`.
pub(crate) fn send_manager_cmd(args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = voipsensor();
    cmd.arg("send-manager-cmd").args(args);
    run(cmd, stdin)
}

/// Half-closes the sending side of `stream`.
pub(crate) fn half_close(stream: &TcpStream) {
    stream
        .shutdown(Shutdown::Write)
        .expect("half-close the request side");
}

/// Asserts that `path` is a socket file with mode 0600.
#[track_caller]
pub(crate) fn assert_private_socket(path: &Path) {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    let meta = std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{} should exist: {e}", path.display()));
    assert!(
        meta.file_type().is_socket(),
        "{} is not a socket",
        path.display()
    );
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "mode of {}",
        path.display()
    );
}

/// Asserts that nothing exists at `path` (not even a dangling symlink).
#[track_caller]
pub(crate) fn assert_gone(path: &Path) {
    assert!(
        std::fs::symlink_metadata(path).is_err(),
        "{} should have been removed",
        path.display()
    );
}

// ------------------------------------------------------------------------------------------
// Encryption and database helpers (e2e_aes.rs, e2e_mariadb.rs).
// ------------------------------------------------------------------------------------------

/// The spec's §9 test key (`0123456789abcdefghijklmnopqrstuv`), base64.
pub(crate) const SPEC_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=";
/// The spec's §9 test IV (`ABCDEFGHIJKLMNOP`), base64.
pub(crate) const SPEC_IV: &str = "QUJDREVGR0hJSktMTU5PUA==";
/// Debian's Python, which has `python3-cryptography` (not whatever `python3` is on PATH).
pub(crate) const PYTHON: &str = "/usr/bin/python3";

/// Environment variables that would change what a client or sensor does behind a test's back.
const AMBIENT_VARS: &[&str] = &[
    "VPMANAGER_AES_KEY",
    "VPMANAGER_AES_IV",
    "VPMANAGER_AES_CIPHER",
    "VOIPSENSOR_LOG",
];

/// `voipsensor ARGS` with exactly the `VPMANAGER_*` variables of `env` (the test's own
/// environment never leaks a key in).
pub(crate) fn voipsensor_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = voipsensor();
    for var in AMBIENT_VARS {
        cmd.env_remove(var);
    }
    cmd.args(args).envs(env.iter().copied());
    run(cmd, b"")
}

/// `voipsensor ARGS`, which must succeed; its stdout.
#[track_caller]
pub(crate) fn voipsensor_ok(args: &[&str]) -> String {
    let out = voipsensor_env(args, &[]);
    assert!(
        out.status.success(),
        "voipsensor {args:?} failed with {}:\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `voipsensor ARGS`, which must fail with exit status 1; its stderr.
#[track_caller]
pub(crate) fn voipsensor_fails(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = voipsensor_env(args, env);
    assert_eq!(
        out.status.code(),
        Some(1),
        "voipsensor {args:?} should fail with status 1; stdout {:?}, stderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// A manager key as base64 key and IV (printed by the key tools, stored in `system`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct B64Key {
    pub(crate) key: String,
    pub(crate) iv: String,
}

impl B64Key {
    /// The spec's §9 test key.
    pub(crate) fn spec() -> Self {
        Self {
            key: SPEC_KEY.to_owned(),
            iv: SPEC_IV.to_owned(),
        }
    }

    /// `--aes-key KEY --aes-iv IV`.
    pub(crate) fn flags(&self) -> [&str; 4] {
        ["--aes-key", &self.key, "--aes-iv", &self.iv]
    }

    /// The key as the Rust protocol crate uses it.
    pub(crate) fn material(
        &self,
        cipher: voipsensor_manager_proto::aes::Cipher,
    ) -> voipsensor_manager_proto::aes::KeyMaterial {
        voipsensor_manager_proto::aes::KeyMaterial::from_base64(&self.key, &self.iv, cipher)
            .expect("a usable test key")
    }

    /// Asserts the shape of a generated key: base64 of 32 + 16 characters in 0x30..=0x7A
    /// (spec §2.2, the reference generator's alphabet).
    #[track_caller]
    pub(crate) fn assert_generated_shape(&self) {
        for (name, b64, len) in [("key", &self.key, 32), ("iv", &self.iv, 16)] {
            let raw = base64_decode(b64)
                .unwrap_or_else(|| panic!("the {name} {b64:?} is not valid base64"));
            assert_eq!(raw.len(), len, "decoded length of the {name}");
            assert!(
                raw.iter().all(|b| (0x30..=0x7a).contains(b)),
                "the {name} must be printable characters 0x30..=0x7a, got {raw:02x?}"
            );
        }
    }
}

/// The key printed by `generate-aes-key` / `store-aes-key`: exactly the two configuration lines
/// `manager_aes_key = B64` and `manager_aes_iv = B64`.
#[track_caller]
pub(crate) fn parse_printed_key(stdout: &str) -> B64Key {
    let lines: Vec<&str> = stdout.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 2, "two lines expected, got {stdout:?}");
    let key = lines[0]
        .strip_prefix("manager_aes_key = ")
        .and_then(|l| l.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("first line must be `manager_aes_key = B64`: {stdout:?}"));
    let iv = lines[1]
        .strip_prefix("manager_aes_iv = ")
        .and_then(|l| l.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("second line must be `manager_aes_iv = B64`: {stdout:?}"));
    B64Key {
        key: key.to_owned(),
        iv: iv.to_owned(),
    }
}

/// The key in a `system.content` value `{"key":"…","iv":"…"}` (the GUI's format).
#[track_caller]
pub(crate) fn parse_key_json(content: &str) -> B64Key {
    let member = |name: &str| {
        let start = content
            .find(&format!("\"{name}\":\""))
            .unwrap_or_else(|| panic!("no {name:?} member in {content:?}"))
            + name.len()
            + 4;
        let len = content[start..]
            .find('"')
            .unwrap_or_else(|| panic!("unterminated {name:?} in {content:?}"));
        content[start..start + len].to_owned()
    };
    let content = content.trim();
    assert!(
        content.starts_with('{') && content.ends_with('}'),
        "a JSON object expected, got {content:?}"
    );
    B64Key {
        key: member("key"),
        iv: member("iv"),
    }
}

/// Standard base64 (with `=` padding) decoded; `None` if it is not valid.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = s.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let body = s.trim_end_matches('=');
    if bytes.len() - body.len() > 2 {
        return None;
    }
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in body.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)?;
        bits = (bits << 6) | u32::try_from(v).ok()?;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push(u8::try_from((bits >> nbits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// Runs the independent Python client (`tests/independent-client/vpmanager.py`) against
/// 127.0.0.1:`port`; with `key` = (key, iv, cipher) the request is encrypted.
pub(crate) fn vpmanager_py(port: u16, key: Option<(&B64Key, &str)>, command: &str) -> Output {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/independent-client/vpmanager.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(script).arg("--port").arg(port.to_string());
    if let Some((key, cipher)) = key {
        cmd.args(["--key", &key.key, "--iv", &key.iv, "--cipher", cipher]);
    }
    cmd.arg(command);
    run(cmd, b"")
}

/// [`vpmanager_py`], which must exit 0; the decrypted (and gunzipped) reply.
#[track_caller]
pub(crate) fn vpmanager_py_ok(port: u16, key: Option<(&B64Key, &str)>, command: &str) -> Vec<u8> {
    let out = vpmanager_py(port, key, command);
    assert!(
        out.status.success(),
        "vpmanager.py {command:?} failed with {}:\n{}",
        out.status,
        text(&out.stderr)
    );
    out.stdout
}

/// A TCP connection to `addr` from the loopback address `127.0.0.<n>`: each `n` is its own
/// peer for the server's per-peer slowdown of failed decryptions.
pub(crate) fn connect_from(n: u8, addr: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let src = SocketAddr::from(([127, 0, 0, n], 0));
    socket
        .bind(&src.into())
        .expect("bind a loopback source address");
    socket.connect(&addr.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("set read timeout");
    stream
}

/// Sends `command` encrypted with `key` (aes-128-cbc) from `127.0.0.<n>`; returns the raw
/// reply and how long the server took.
pub(crate) fn encrypted_exchange_from(
    n: u8,
    addr: SocketAddr,
    key: &B64Key,
    command: &str,
) -> (Vec<u8>, Duration) {
    use voipsensor_manager_proto::aes::{Cipher, request_frame};
    let frame = request_frame(Cipher::Aes128Cbc, &key.material(Cipher::Aes128Cbc), command)
        .expect("frame the request");
    let mut stream = connect_from(n, addr);
    let started = Instant::now();
    stream.write_all(&frame).expect("write the request");
    let reply = read_reply(&mut stream);
    (reply, started.elapsed())
}

/// `reply` (`aes:` + ciphertext) decrypted with `key` (aes-128-cbc); `None` if it does not
/// decrypt.
pub(crate) fn decrypt_reply(key: &B64Key, reply: &[u8]) -> Option<Vec<u8>> {
    use voipsensor_manager_proto::aes::{Cipher, decrypt_reply};
    if !reply.starts_with(b"aes:") {
        return None;
    }
    decrypt_reply(Cipher::Aes128Cbc, &key.material(Cipher::Aes128Cbc), reply).ok()
}

/// Calls `probe` every 50 ms until it returns `Some`; panics with `what` after `within`.
#[track_caller]
pub(crate) fn wait_for<T>(within: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// The header array of `listcalls` (`["callreference",…]`), from the recorded reference reply.
pub(crate) fn listcalls_header() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/reference-replies/listcalls.txt");
    let reply = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read reference reply {}: {e}", path.display()));
    let end = reply
        .find(']')
        .expect("a recorded reply starts with its header array");
    reply[1..=end].to_owned()
}

/// The reply to a plain `listcalls` (no parameters, no calls): `[[header]]`.
pub(crate) fn listcalls_empty() -> String {
    format!("[{}]", listcalls_header())
}

/// The reply to `listcalls {}` with no calls on sensor `id_sensor` (-1 without one).
pub(crate) fn listcalls_summary(id_sensor: i64) -> String {
    format!(
        r#"[{},[{{"total":0,"is_receiver":0,"is_server":0,"id_sensor":{id_sensor}}}]]"#,
        listcalls_header()
    )
}

/// Asserts that `log` holds none of the key's material: the base64 key and IV, their decoded
/// text, the 16 and 24 leading key bytes the ciphers use, and those bytes in hex.
#[track_caller]
pub(crate) fn assert_no_key_material(log: &str, key: &B64Key, what: &str) {
    let raw_key = base64_decode(&key.key).expect("base64 key");
    let raw_iv = base64_decode(&key.iv).expect("base64 iv");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut needles = vec![key.key.clone(), key.iv.clone()];
    for raw in [&raw_key[..], &raw_key[..16], &raw_iv[..]] {
        needles.push(text(raw));
        needles.push(hex(raw));
        needles.push(hex(raw).to_uppercase());
    }
    // The base64 of the aes-128 part alone (the first 16 bytes: 21 full characters).
    needles.push(key.key[..21].to_owned());
    for needle in needles {
        assert!(
            !log.contains(&needle),
            "{what} contains key material {needle:?}:\n{log}"
        );
    }
}

/// Rows of a `listcalls`/`listregisters` reply (`[header, …]`) from index `skip` on, each as a
/// map column name → value.
pub(crate) fn table_rows(
    reply: &serde_json::Value,
    skip: usize,
) -> Vec<std::collections::HashMap<String, serde_json::Value>> {
    let all = reply.as_array().expect("a JSON array");
    let header: Vec<String> = all[0]
        .as_array()
        .expect("a header row")
        .iter()
        .map(|v| v.as_str().expect("a column name").to_owned())
        .collect();
    all.iter()
        .skip(skip)
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.as_array().expect("a row").iter().cloned())
                .collect()
        })
        .collect()
}
