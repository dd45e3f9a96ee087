//! The manager API server: accept loops, per-connection request handling, limits,
//! runtime sockets (`manager_file`) and graceful shutdown.

use crate::files::{self, FileBody, Prepared};
use crate::keys::{FailureLimiter, KeyProvider};
use crate::unix_socket::{SocketFile, temp_path};
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};
use voipsensor_manager_proto::aes::{self, Cipher, KeyMaterial, StreamEncryptor};
use voipsensor_manager_proto::dispatch::{
    self, Access, COMMAND_NOT_FOUND, FAILED_AES_DECRYPT, KeyState, ManagerFileRequest, NEED_AES,
    Outcome, SensorState, Transport,
};
use voipsensor_manager_proto::files::FileRequest;
use voipsensor_manager_proto::framing::{
    self, IDLE_COMPLETION, Progress, READ_CHUNK, RequestAssembler,
};
use voipsensor_manager_proto::output::ReplyEncoder;
use voipsensor_manager_proto::registry;
use voipsensor_manager_proto::registry::Command;

/// Limits that protect the server from oversized, slow and too many clients.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request accepted; a larger one gets an error reply.
    pub max_request_bytes: usize,
    /// Time allowed for a whole request to arrive (against trickling clients).
    pub request_timeout: Duration,
    /// Connections served at once; more are refused with an error reply.
    pub max_connections: usize,
    /// Time a reply write may make no progress before the client is cut off.
    pub write_timeout: Duration,
    /// After the reply, how long unread input is drained so the close does not turn into a
    /// reset that destroys the tail of the reply at the client.
    pub linger: Duration,
    /// On shutdown, how long replies in flight may take to finish.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 1 << 20,
            request_timeout: Duration::from_secs(10),
            max_connections: 512,
            write_timeout: Duration::from_secs(30),
            linger: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Server settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Limits.
    pub limits: Limits,
    /// `manager_enable_unencrypted = yes`.
    pub unencrypted_allowed: bool,
}

/// The listeners a server starts with.
#[derive(Debug, Default)]
pub struct Listeners {
    /// `managerip:managerport`, when enabled.
    pub tcp: Option<TcpListener>,
    /// The `managersocket` file, when configured.
    pub unix: Option<SocketFile>,
}

/// Reply when every connection slot is taken.
pub const TOO_MANY_CONNECTIONS: &[u8] = b"error: too many connections\n";
/// Reply when a request does not arrive completely within the request timeout.
pub const REQUEST_TIMEOUT: &[u8] = b"error: request timeout\n";

/// Most bytes drained after a reply before the connection is closed anyway.
const MAX_DRAIN_BYTES: usize = 16 << 20;
/// Size of the pieces a reply is written in (each piece has its own write timeout).
const WRITE_PIECE: usize = 64 << 10;
/// Pieces of a streamed file read ahead of the socket (memory per download: this many pieces).
const FILE_PIPELINE: usize = 4;

/// The manager API server.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

struct Inner {
    sensor: Arc<dyn SensorState>,
    keys: Arc<dyn KeyProvider>,
    failures: FailureLimiter,
    settings: Settings,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    sockets: Mutex<SocketFiles>,
}

/// The Unix socket listeners: the configured one and at most one started by `manager_file`.
#[derive(Default)]
struct SocketFiles {
    configured: Option<PathBuf>,
    runtime: Option<RuntimeSocket>,
}

struct RuntimeSocket {
    path: PathBuf,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    /// A server answering from `sensor`, with the manager key from `keys`.
    pub fn new(
        sensor: Arc<dyn SensorState>,
        keys: Arc<dyn KeyProvider>,
        settings: Settings,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(settings.limits.max_connections));
        Self {
            inner: Arc::new(Inner {
                sensor,
                keys,
                failures: FailureLimiter::default(),
                settings,
                permits,
                tracker: TaskTracker::new(),
                shutdown: CancellationToken::new(),
                sockets: Mutex::new(SocketFiles::default()),
            }),
        }
    }

    /// Serves `listeners` until `shutdown` is cancelled, then stops accepting, lets replies in
    /// flight finish (within the shutdown grace period) and removes the socket files.
    pub async fn run(self, listeners: Listeners, shutdown: CancellationToken) -> io::Result<()> {
        let inner = &self.inner;
        let mut loops = Vec::new();
        if let Some(tcp) = listeners.tcp {
            loops.push(spawn_accept_loop(
                inner.clone(),
                Acceptor::Tcp(tcp),
                inner.shutdown.clone(),
                None,
            ));
        }
        if let Some(file) = listeners.unix {
            let listener = file.tokio_listener()?;
            inner.lock_sockets().configured = Some(file.path().to_owned());
            loops.push(spawn_accept_loop(
                inner.clone(),
                Acceptor::Unix(listener),
                inner.shutdown.clone(),
                Some(file),
            ));
        }
        shutdown.cancelled().await;
        info!("manager API shutting down");
        inner.shutdown.cancel();
        let runtime = inner.lock_sockets().runtime.take();
        if let Some(rt) = runtime {
            loops.push(rt.task);
        }
        for l in loops {
            let _ = l.await;
        }
        inner.tracker.close();
        if timeout(inner.settings.limits.shutdown_grace, inner.tracker.wait())
            .await
            .is_err()
        {
            warn!(
                open = inner.tracker.len(),
                "connections still open after the shutdown grace period"
            );
        }
        Ok(())
    }
}

enum Acceptor {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Spawns an accept loop. Boxed because a connection can start another accept loop
/// (`manager_file start`), which makes the future types recursive.
fn spawn_accept_loop(
    inner: Arc<Inner>,
    acceptor: Acceptor,
    stop: CancellationToken,
    file: Option<SocketFile>,
) -> JoinHandle<()> {
    let fut: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> =
        Box::pin(accept_loop(inner, acceptor, stop, file));
    tokio::spawn(fut)
}

async fn accept_loop(
    inner: Arc<Inner>,
    acceptor: Acceptor,
    stop: CancellationToken,
    file: Option<SocketFile>,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            a = accept(&acceptor) => a,
        };
        match accepted {
            Ok(conn) => {
                let permit = inner.permits.clone().try_acquire_owned().ok();
                let inner2 = inner.clone();
                inner.tracker.spawn(async move {
                    match conn {
                        Conn::Tcp(s, peer) => {
                            serve(inner2, s, Transport::Tcp, Some(peer), permit).await
                        }
                        Conn::Unix(s) => serve(inner2, s, Transport::Unix, None, permit).await,
                    }
                });
            }
            Err(e) => {
                // Out of descriptors or a transient error: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    if let Some(file) = file {
        file.remove();
        info!(path = %file.path().display(), "manager socket closed");
    }
}

enum Conn {
    Tcp(tokio::net::TcpStream, IpAddr),
    Unix(tokio::net::UnixStream),
}

async fn accept(acceptor: &Acceptor) -> io::Result<Conn> {
    match acceptor {
        Acceptor::Tcp(l) => l.accept().await.map(|(s, a)| Conn::Tcp(s, a.ip())),
        Acceptor::Unix(l) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
    }
}

/// What reading a request produced.
enum Request {
    Complete(Vec<u8>),
    Nothing,
    TooLarge(usize),
    TimedOut,
}

async fn serve<S>(
    inner: Arc<Inner>,
    mut stream: S,
    transport: Transport,
    peer: Option<IpAddr>,
    permit: Option<OwnedSemaphorePermit>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = &inner.settings.limits;
    let Some(_permit) = permit else {
        debug!("connection refused: all slots taken");
        let refusal = Reply::plain(TOO_MANY_CONNECTIONS);
        finish(&mut stream, refusal, limits, Duration::from_millis(200)).await;
        return;
    };
    let reply = match read_request(&mut stream, limits, &inner.shutdown).await {
        Request::Complete(bytes) => inner.respond(&bytes, transport, peer).await,
        Request::Nothing => Reply::plain(b""),
        Request::TooLarge(limit) => {
            debug!(limit, "request too large");
            Reply::plain(format!("error: request too large (limit {limit} bytes)\n").as_bytes())
        }
        Request::TimedOut => {
            debug!("request not complete within the request timeout");
            Reply::plain(REQUEST_TIMEOUT)
        }
    };
    finish(&mut stream, reply, limits, limits.linger).await;
}

/// Reads one request by the rules of spec §1.5, within the request deadline and size cap.
///
/// At shutdown a connection that has sent nothing is closed at once, and a partial request
/// gets one more idle window (500 ms) and is then answered with what has arrived: nobody can
/// hold up a stop by keeping a connection open or trickling bytes.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    limits: &Limits,
    shutdown: &CancellationToken,
) -> Request {
    let deadline = Instant::now() + limits.request_timeout;
    let mut stop_at: Option<Instant> = None;
    let mut asm = RequestAssembler::new(limits.max_request_bytes);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        // The first read waits for the deadline; later ones apply the 500 ms idle rule.
        let mut wait_until = if asm.is_empty() {
            deadline
        } else {
            (Instant::now() + IDLE_COMPLETION).min(deadline)
        };
        if let Some(stop) = stop_at {
            wait_until = wait_until.min(stop);
        }
        let read = tokio::select! {
            biased;
            r = timeout_at(wait_until, stream.read(&mut buf)) => r,
            () = shutdown.cancelled(), if stop_at.is_none() => {
                if asm.is_empty() {
                    return Request::Nothing;
                }
                stop_at = Some(Instant::now() + IDLE_COMPLETION);
                continue;
            }
        };
        match read {
            Err(_) if asm.is_empty() => return Request::Nothing,
            Err(_) if stop_at.is_some_and(|stop| wait_until >= stop) => break,
            Err(_) if wait_until >= deadline => return Request::TimedOut,
            Err(_) | Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => match asm.push(&buf[..n]) {
                Ok(Progress::Complete) => break,
                Ok(Progress::NeedMore) => {}
                Err(too_large) => return Request::TooLarge(too_large.limit),
            },
        }
    }
    if asm.is_empty() {
        Request::Nothing
    } else {
        Request::Complete(asm.request().to_vec())
    }
}

/// What a reply carries: bytes built in memory, or a file streamed from disk.
enum Body {
    Bytes(Vec<u8>),
    File(FileBody),
}

/// A reply body and, for encrypted requests, how to encrypt it.
struct Reply {
    body: Body,
    encrypt: Option<(Cipher, Arc<KeyMaterial>)>,
}

impl Reply {
    fn plain(body: &[u8]) -> Self {
        Self {
            body: Body::Bytes(body.to_vec()),
            encrypt: None,
        }
    }

    /// Encrypted with `cipher`, or AES-128 when the key is too short for it.
    fn encrypted(body: Body, cipher: Cipher, key: Arc<KeyMaterial>) -> Self {
        let cipher = if key.supports(cipher) {
            cipher
        } else {
            Cipher::Aes128Cbc
        };
        Self {
            body,
            encrypt: Some((cipher, key)),
        }
    }
}

/// Writes the reply (encrypted as one CBC stream behind `aes:` when asked, piece by piece),
/// half-closes, then drains unread input for up to `linger` so that closing does not reset
/// the connection while the client still reads the reply.
async fn finish<S>(stream: &mut S, reply: Reply, limits: &Limits, linger: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let encryptor = reply
        .encrypt
        .as_ref()
        .and_then(|(cipher, key)| StreamEncryptor::new(*cipher, key));
    let written = match reply.body {
        Body::Bytes(bytes) => write_bytes(stream, &bytes, encryptor, limits).await,
        Body::File(file) => write_file(stream, file, encryptor, limits).await,
    };
    if !written {
        return;
    }
    if timeout(limits.write_timeout, stream.shutdown())
        .await
        .is_err()
    {
        return;
    }
    let deadline = Instant::now() + linger;
    let mut sink = [0u8; 8192];
    let mut drained = 0usize;
    while drained < MAX_DRAIN_BYTES {
        match timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
}

/// Writes an in-memory reply; false when the client is gone or stalled. A handler that wrote
/// nothing gives an empty reply, without the `aes:` prefix (spec §2.5).
async fn write_bytes<S: AsyncWrite + Unpin>(
    stream: &mut S,
    body: &[u8],
    encryptor: Option<StreamEncryptor>,
    limits: &Limits,
) -> bool {
    let mut encoder = ReplyEncoder::new(false, encryptor);
    let mut out = Vec::with_capacity(body.len().min(WRITE_PIECE) + 32);
    for piece in body.chunks(WRITE_PIECE) {
        encoder.push(piece, &mut out);
        if out.len() >= WRITE_PIECE {
            if !write_piece(stream, &out, limits).await {
                return false;
            }
            out.clear();
        }
    }
    encoder.finish(&mut out);
    out.is_empty() || write_piece(stream, &out, limits).await
}

/// Streams a file: a blocking task reads, gzips and encrypts it in pieces, at most
/// [`FILE_PIPELINE`] pieces ahead of the socket, so memory stays constant for any file size
/// and the CPU work stays off the async threads. False when the client is gone or stalled, or
/// the file could not be read to the end (the reply is then cut short, and not finished).
async fn write_file<S: AsyncWrite + Unpin>(
    stream: &mut S,
    body: FileBody,
    encryptor: Option<StreamEncryptor>,
    limits: &Limits,
) -> bool {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(FILE_PIPELINE);
    let producer = tokio::task::spawn_blocking(move || {
        let encoder = ReplyEncoder::new(body.zip(), encryptor);
        files::stream(body, encoder, WRITE_PIECE, |piece| {
            tx.blocking_send(piece).is_ok()
        })
    });
    while let Some(piece) = rx.recv().await {
        if !write_piece(stream, &piece, limits).await {
            // Dropping the receiver stops the reader at its next piece.
            return false;
        }
    }
    match producer.await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            warn!(error = %e, "reading a file for getfile failed; reply cut short");
            false
        }
        Err(_) => false,
    }
}

/// Writes one piece within the write timeout; false when the client is gone or stalled.
async fn write_piece<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8], limits: &Limits) -> bool {
    match timeout(limits.write_timeout, stream.write_all(bytes)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            debug!(error = %e, "client went away during the reply");
            false
        }
        Err(_) => {
            debug!("client stopped reading the reply; cut off");
            false
        }
    }
}

impl Inner {
    fn lock_sockets(&self) -> std::sync::MutexGuard<'_, SocketFiles> {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reply to one complete request.
    async fn respond(
        self: &Arc<Self>,
        request: &[u8],
        transport: Transport,
        peer: Option<IpAddr>,
    ) -> Reply {
        if framing::is_encrypted(request) {
            return self.respond_encrypted(request, transport, peer).await;
        }
        let Some(line) = framing::command_line(request) else {
            return Reply::plain(b"");
        };
        let access = Access {
            transport,
            encrypted: false,
            key_exists: self.keys.encryption_required(),
            unencrypted_allowed: self.settings.unencrypted_allowed,
        };
        Reply {
            body: self.run_line(line, access).await,
            encrypt: None,
        }
    }

    /// An encrypted request: decrypt (re-reading the key once if that fails), run, encrypt.
    async fn respond_encrypted(
        self: &Arc<Self>,
        request: &[u8],
        transport: Transport,
        peer: Option<IpAddr>,
    ) -> Reply {
        let key = match self.keys.current() {
            Some(k) => Some(k),
            None => self.reload_key().await,
        };
        let Some(key) = key else {
            // No key exists at all: the failure is reported in plaintext (spec §2.4).
            debug!("encrypted request, but no manager key");
            return Reply::plain(FAILED_AES_DECRYPT);
        };
        let (text, cipher, key) = match aes::decrypt_request(request, &key) {
            Ok(d) => (d.text, d.cipher, key),
            Err((_, cipher)) => {
                // The key may have been replaced since it was cached: read it again, once.
                let fresh = self.reload_key().await.unwrap_or_else(|| key.clone());
                let retried = if fresh == key {
                    None
                } else {
                    aes::decrypt_request(request, &fresh).ok()
                };
                match retried {
                    Some(d) => (d.text, d.cipher, fresh),
                    None => {
                        // Same reply whatever went wrong (padding, key, framing, binary text):
                        // no padding oracle. Repeated failures from one peer are slowed down.
                        let delay = self.failures.record(peer, std::time::Instant::now());
                        debug!(?delay, "encrypted request could not be decrypted");
                        tokio::time::sleep(delay).await;
                        return Reply::encrypted(
                            Body::Bytes(FAILED_AES_DECRYPT.to_vec()),
                            cipher,
                            fresh,
                        );
                    }
                }
            }
        };
        let Some(line) = framing::command_line(&text) else {
            return Reply::encrypted(Body::Bytes(Vec::new()), cipher, key);
        };
        let access = Access {
            transport,
            encrypted: true,
            key_exists: true,
            unencrypted_allowed: self.settings.unencrypted_allowed,
        };
        let body = self.run_line(line, access).await;
        Reply::encrypted(body, cipher, key)
    }

    /// Looks the command up, applies the access rule and runs it.
    async fn run_line(self: &Arc<Self>, line: &[u8], access: Access) -> Body {
        let Some(found) = registry::lookup(line) else {
            debug!(bytes = line.len(), "command not found");
            return Body::Bytes(COMMAND_NOT_FOUND.to_vec());
        };
        if found.by_substring {
            warn!(
                command = found.entry.name,
                "command matched by substring, not by its exact name"
            );
        } else {
            debug!(command = found.entry.name, transport = ?access.transport, encrypted = access.encrypted, "request");
        }
        if !access.permits(found.entry.aes) {
            return Body::Bytes(NEED_AES.to_vec());
        }
        if let Some(req) = dispatch::file_request(&found, line) {
            return self.file_request(req).await;
        }
        let keys = KeyState {
            supported: self.keys.encryption_required() || self.keys.current().is_some(),
            exists: if found.entry.command == Command::ExistsAesKey {
                self.reload_key().await.is_some()
            } else {
                self.keys.current().is_some()
            },
        };
        match dispatch::execute(&found, line, self.sensor.as_ref(), keys) {
            Outcome::Reply(bytes) => Body::Bytes(bytes),
            Outcome::ManagerFile(req) => Body::Bytes(self.manager_file(req).await.into_bytes()),
        }
    }

    /// Finds (and for `getfile`, opens) a spool file on a blocking thread: the spool may sit
    /// on slow storage.
    async fn file_request(self: &Arc<Self>, req: FileRequest) -> Body {
        let dirs = self.sensor.spool_dirs();
        let prepared =
            tokio::task::spawn_blocking(move || files::prepare(dirs.as_ref(), &req)).await;
        match prepared {
            Ok(Prepared::File(file)) => Body::File(file),
            Ok(Prepared::Text(text)) => Body::Bytes(text),
            Err(_) => Body::Bytes(Vec::new()),
        }
    }

    /// Re-reads the key on a blocking thread.
    async fn reload_key(self: &Arc<Self>) -> Option<Arc<KeyMaterial>> {
        let keys = self.keys.clone();
        match tokio::task::spawn_blocking(move || keys.reload()).await {
            Ok(k) => k,
            Err(_) => self.keys.current(),
        }
    }

    /// Carries out `manager_file start|stop` (spec §1.3).
    async fn manager_file(self: &Arc<Self>, req: ManagerFileRequest) -> String {
        match req {
            ManagerFileRequest::Start(path) => {
                let mut sockets = self.lock_sockets();
                if let Some(p) = sockets
                    .configured
                    .as_ref()
                    .or(sockets.runtime.as_ref().map(|r| &r.path))
                {
                    return format!("running ({})\n", p.display());
                }
                let path = path.unwrap_or_else(temp_path);
                let file = match SocketFile::bind(&path) {
                    Ok(f) => f,
                    Err(e) => {
                        warn!(error = %e, "manager_file start refused");
                        return format!("error: {e}\n");
                    }
                };
                let listener = match file.tokio_listener() {
                    Ok(l) => l,
                    Err(e) => {
                        file.remove();
                        return format!("error: cannot listen on {}: {e}\n", path.display());
                    }
                };
                let stop = self.shutdown.child_token();
                let task = spawn_accept_loop(
                    self.clone(),
                    Acceptor::Unix(listener),
                    stop.clone(),
                    Some(file),
                );
                info!(path = %path.display(), "manager socket started by manager_file");
                sockets.runtime = Some(RuntimeSocket {
                    path: path.clone(),
                    stop,
                    task,
                });
                format!("OK ({})\n", path.display())
            }
            ManagerFileRequest::Stop => {
                let runtime = {
                    let mut sockets = self.lock_sockets();
                    match sockets.runtime.take() {
                        Some(rt) => rt,
                        None if sockets.configured.is_some() => {
                            return "manager enabled via the managersocket option cannot be terminated\n".to_owned();
                        }
                        None => return "not running\n".to_owned(),
                    }
                };
                runtime.stop.cancel();
                let _ = runtime.task.await;
                "OK\n".to_owned()
            }
        }
    }
}
