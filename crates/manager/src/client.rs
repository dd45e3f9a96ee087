//! A blocking manager API client: one request per connection, the reply read to EOF.
//!
//! Replies are decoded as they arrive ([`ReplyDecoder`]): `aes:` stripped and decrypted, gzip
//! inflated, and written to any [`Write`], so a large file never has to fit in memory.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs as _};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;
use voipsensor_manager_proto::aes::{self, Cipher, KeyMaterial, ReplyError, StreamDecryptor};
use voipsensor_manager_proto::dispatch::{FAILED_AES_DECRYPT, NEED_AES};
use voipsensor_manager_proto::zip;

/// Where the sensor listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `host:port` over TCP.
    Tcp {
        /// Host name or IP literal.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix socket file.
    Unix(PathBuf),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "{host}:{port}"),
            Self::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// Where.
        endpoint: String,
        /// Why.
        source: io::Error,
    },
    /// The host name did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// No progress within the timeout.
    #[error("no reply from {endpoint} within {secs} s")]
    Timeout {
        /// Where.
        endpoint: String,
        /// The timeout.
        secs: u64,
    },
    /// The connection broke.
    #[error("connection to {endpoint} failed: {source}")]
    Io {
        /// Where.
        endpoint: String,
        /// Why.
        source: io::Error,
    },
    /// The sensor requires encryption for this command.
    #[error(
        "the sensor refused the plaintext request (need aes!): send it encrypted, or through the sensor's Unix socket (-U)"
    )]
    NeedAes,
    /// The reply is encrypted and this client has no key for it.
    #[error("the reply is encrypted (aes:) and no key was given")]
    EncryptedReply,
    /// The encrypted reply did not decrypt with our key.
    #[error("reply could not be decrypted: wrong key?")]
    WrongKey,
    /// The sensor could not decrypt the request.
    #[error("the sensor could not decrypt the request (failed aes decrypt!): wrong key?")]
    SensorCannotDecrypt,
    /// The sensor has no manager key, so it cannot take encrypted requests.
    #[error(
        "the sensor has no manager key and cannot decrypt requests (failed aes decrypt! in plaintext)"
    )]
    SensorHasNoKey,
    /// The command could not be framed (a ciphertext that always contains `:sea`).
    #[error("the command cannot be encrypted with this key without containing the end marker")]
    CannotFrame,
    /// The reply looked like gzip but did not decompress.
    #[error("the reply is not valid gzip: {0}")]
    BadGzip(io::Error),
    /// The decoded reply could not be written out.
    #[error("cannot write the reply: {0}")]
    Output(#[source] io::Error),
}

/// Sends raw request bytes and returns the raw reply (everything up to EOF).
///
/// `timeout` bounds connecting and every read or write: a reply that keeps flowing may take
/// longer in total (a large file), a silent peer may not.
pub fn exchange(
    endpoint: &Endpoint,
    request: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, ClientError> {
    let mut reply = Vec::new();
    exchange_with(endpoint, request, timeout, &mut |piece| {
        reply.extend_from_slice(piece);
        Ok(())
    })?;
    Ok(reply)
}

/// Sends raw request bytes and hands the reply to `on_data` piece by piece as it arrives,
/// until EOF. An error from `on_data` ends the exchange with that error.
pub fn exchange_with(
    endpoint: &Endpoint,
    request: &[u8],
    timeout: Duration,
    on_data: &mut dyn FnMut(&[u8]) -> Result<(), ClientError>,
) -> Result<(), ClientError> {
    let name = endpoint.to_string();
    let io_err = |source: io::Error| {
        if matches!(
            source.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            ClientError::Timeout {
                endpoint: name.clone(),
                secs: timeout.as_secs(),
            }
        } else {
            ClientError::Io {
                endpoint: name.clone(),
                source,
            }
        }
    };
    match endpoint {
        Endpoint::Tcp { host, port } => {
            let stream = connect_tcp(host, *port, timeout, &name)?;
            talk(stream, request, timeout, &io_err, on_data)
        }
        Endpoint::Unix(path) => {
            let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
                endpoint: name.clone(),
                source,
            })?;
            talk(stream, request, timeout, &io_err, on_data)
        }
    }
}

/// A stream the client can talk over: TCP or Unix.
trait Duplex: io::Read + Write {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()>;
    fn half_close(&self) -> io::Result<()>;
}

impl Duplex for TcpStream {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
    fn half_close(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl Duplex for UnixStream {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
    fn half_close(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// Size of the pieces the reply is read in.
const READ_PIECE: usize = 64 << 10;

/// Writes the request, half-closes (the server then answers at once whatever the framing),
/// reads to EOF, handing each piece to `on_data`.
fn talk(
    mut stream: impl Duplex,
    request: &[u8],
    timeout: Duration,
    io_err: &dyn Fn(io::Error) -> ClientError,
    on_data: &mut dyn FnMut(&[u8]) -> Result<(), ClientError>,
) -> Result<(), ClientError> {
    stream.set_timeouts(timeout).map_err(io_err)?;
    stream.write_all(request).map_err(io_err)?;
    let _ = stream.half_close();
    let mut buf = vec![0u8; READ_PIECE];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => on_data(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(e)),
        }
    }
}

fn connect_tcp(
    host: &str,
    port: u16,
    timeout: Duration,
    name: &str,
) -> Result<TcpStream, ClientError> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|_| ClientError::Resolve(host.to_owned()))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == io::ErrorKind::TimedOut => ClientError::Timeout {
            endpoint: name.to_owned(),
            secs: timeout.as_secs(),
        },
        Some(source) => ClientError::Connect {
            endpoint: name.to_owned(),
            source,
        },
        None => ClientError::Resolve(host.to_owned()),
    })
}

/// The request bytes for a plaintext command: `CMD\r\n\r\n`.
pub fn plain_request(command: &str) -> Vec<u8> {
    let mut r = command.trim_end_matches(['\r', '\n']).as_bytes().to_vec();
    r.extend_from_slice(b"\r\n\r\n");
    r
}

/// Interprets a reply to a plaintext request: `need aes!` is an error, gzip is inflated.
pub fn decode_plain_reply(reply: Vec<u8>) -> Result<Vec<u8>, ClientError> {
    let mut dec = ReplyDecoder::plain(Vec::new());
    dec.push(&reply)?;
    dec.finish()
}

/// Sends one command encrypted with `key` and returns its decrypted, decoded reply.
pub fn send_encrypted(
    endpoint: &Endpoint,
    command: &str,
    cipher: Cipher,
    key: &KeyMaterial,
    timeout: Duration,
) -> Result<Vec<u8>, ClientError> {
    send_encrypted_to(endpoint, command, cipher, key, timeout, Vec::new())
}

/// Sends one command encrypted with `key`; its decrypted, decoded reply is written to `out` as
/// it arrives. Returns `out`.
pub fn send_encrypted_to<W: Write>(
    endpoint: &Endpoint,
    command: &str,
    cipher: Cipher,
    key: &KeyMaterial,
    timeout: Duration,
    out: W,
) -> Result<W, ClientError> {
    let request = aes::request_frame(cipher, key, command).ok_or(ClientError::CannotFrame)?;
    let mut dec = ReplyDecoder::encrypted(cipher, key, out)?;
    exchange_with(endpoint, &request, timeout, &mut |piece| dec.push(piece))?;
    dec.finish()
}

/// Interprets a reply to an encrypted request: decrypt, then inflate gzip.
pub fn decode_encrypted_reply(
    reply: &[u8],
    cipher: Cipher,
    key: &KeyMaterial,
) -> Result<Vec<u8>, ClientError> {
    let mut dec = ReplyDecoder::encrypted(cipher, key, Vec::new())?;
    dec.push(reply)?;
    dec.finish()
}

/// Sends one plaintext command and returns its decoded reply.
pub fn send_plain(
    endpoint: &Endpoint,
    command: &str,
    timeout: Duration,
) -> Result<Vec<u8>, ClientError> {
    send_plain_to(endpoint, command, timeout, Vec::new())
}

/// Sends one plaintext command; its decoded reply is written to `out` as it arrives. Returns
/// `out`.
pub fn send_plain_to<W: Write>(
    endpoint: &Endpoint,
    command: &str,
    timeout: Duration,
    out: W,
) -> Result<W, ClientError> {
    let mut dec = ReplyDecoder::plain(out);
    exchange_with(endpoint, &plain_request(command), timeout, &mut |piece| {
        dec.push(piece)
    })?;
    dec.finish()
}

/// Decoded bytes held back until the reply is known not to be one of the short status replies
/// (`need aes!\n`, `failed aes decrypt!\n`) and whether it is gzip.
const HEAD: usize = 32;

/// How the reply travels.
enum Wire {
    Plain,
    Encrypted {
        dec: Box<StreamDecryptor>,
        /// `aes:` has been seen and stripped.
        framed: bool,
    },
}

/// Where decoded bytes go once the head has been looked at.
enum Sink<W: Write> {
    Raw(W),
    Gunzip(Box<flate2::write::MultiGzDecoder<W>>),
}

/// Decodes a reply arriving in pieces and writes the body to `W` as it goes: strips and
/// decrypts `aes:` replies (one CBC stream), inflates gzip (recognised by `1f 8b`), and turns
/// the status replies `need aes!`, `failed aes decrypt!` and unexpected framing into errors.
/// Memory is constant: a few blocks, the head, and the gzip window.
pub struct ReplyDecoder<W: Write> {
    wire: Wire,
    /// Raw bytes of an encrypted reply until its `aes:` prefix has been checked.
    raw: Vec<u8>,
    /// Decoded bytes until the sink is chosen.
    head: Vec<u8>,
    out: Option<W>,
    sink: Option<Sink<W>>,
    scratch: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for ReplyDecoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyDecoder")
            .field("encrypted", &matches!(self.wire, Wire::Encrypted { .. }))
            .field("decided", &self.sink.is_some())
            .finish_non_exhaustive()
    }
}

impl<W: Write> ReplyDecoder<W> {
    /// A decoder for the reply to a plaintext request.
    pub fn plain(out: W) -> Self {
        Self::new(Wire::Plain, out)
    }

    /// A decoder for the reply to a request encrypted with `cipher` and `key`.
    pub fn encrypted(cipher: Cipher, key: &KeyMaterial, out: W) -> Result<Self, ClientError> {
        let dec = Box::new(StreamDecryptor::new(cipher, key).ok_or(ClientError::WrongKey)?);
        Ok(Self::new(Wire::Encrypted { dec, framed: false }, out))
    }

    fn new(wire: Wire, out: W) -> Self {
        Self {
            wire,
            raw: Vec::new(),
            head: Vec::with_capacity(HEAD),
            out: Some(out),
            sink: None,
            scratch: Vec::new(),
        }
    }

    /// Takes the next piece of the raw reply.
    pub fn push(&mut self, mut data: &[u8]) -> Result<(), ClientError> {
        let mut plain = std::mem::take(&mut self.scratch);
        plain.clear();
        let result = match &mut self.wire {
            Wire::Plain => self.body(data),
            Wire::Encrypted { dec, framed } => {
                if !*framed {
                    let need = aes::REPLY_PREFIX.len().saturating_sub(self.raw.len());
                    let take = need.min(data.len());
                    self.raw.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.raw.len() < aes::REPLY_PREFIX.len() {
                        self.scratch = plain;
                        return Ok(());
                    }
                    if self.raw != aes::REPLY_PREFIX {
                        // A plaintext reply: keep it whole (it is short) to tell which.
                        self.raw.extend_from_slice(data);
                        self.scratch = plain;
                        return if self.raw.len() > FAILED_AES_DECRYPT.len() {
                            Err(ClientError::WrongKey)
                        } else {
                            Ok(())
                        };
                    }
                    *framed = true;
                }
                dec.update(data, &mut plain);
                self.body(&plain)
            }
        };
        self.scratch = plain;
        result
    }

    /// Ends the reply: checks the end of the encryption, flushes the gzip stage, returns the
    /// writer.
    pub fn finish(mut self) -> Result<W, ClientError> {
        if let Wire::Encrypted { dec, framed } = std::mem::replace(&mut self.wire, Wire::Plain) {
            if !framed {
                return if self.raw.is_empty() {
                    // A command with no output: an empty reply, not even `aes:` (spec §2.5).
                    self.end_body(false)
                } else if self.raw == FAILED_AES_DECRYPT {
                    Err(ClientError::SensorHasNoKey)
                } else {
                    Err(ClientError::WrongKey)
                };
            }
            let mut last = Vec::new();
            dec.finish(&mut last).map_err(|e| match e {
                ReplyError::WrongKey | ReplyError::NotEncrypted => ClientError::WrongKey,
            })?;
            self.body(&last)?;
            return self.end_body(true);
        }
        self.end_body(false)
    }

    /// Takes decoded body bytes.
    fn body(&mut self, data: &[u8]) -> Result<(), ClientError> {
        if data.is_empty() {
            return Ok(());
        }
        if self.sink.is_none() {
            let take = (HEAD - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
            if self.head.len() < HEAD {
                return Ok(());
            }
            self.decide(matches!(self.wire, Wire::Encrypted { .. }))?;
            return self.write(&data[take..]);
        }
        self.write(data)
    }

    /// Chooses the sink from the head (gzip or not) and writes the head to it.
    fn decide(&mut self, encrypted: bool) -> Result<(), ClientError> {
        if !encrypted && self.head.starts_with(aes::REPLY_PREFIX) {
            return Err(ClientError::EncryptedReply);
        }
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        self.sink = Some(if zip::is_gzip(&self.head) {
            Sink::Gunzip(Box::new(flate2::write::MultiGzDecoder::new(out)))
        } else {
            Sink::Raw(out)
        });
        let head = std::mem::take(&mut self.head);
        self.write(&head)
    }

    fn write(&mut self, data: &[u8]) -> Result<(), ClientError> {
        if data.is_empty() {
            return Ok(());
        }
        match &mut self.sink {
            Some(Sink::Raw(w)) => w.write_all(data).map_err(ClientError::Output),
            Some(Sink::Gunzip(g)) => g.write_all(data).map_err(gzip_error),
            None => Ok(()),
        }
    }

    /// The body is complete: status replies become errors; the writer comes back.
    fn end_body(mut self, encrypted: bool) -> Result<W, ClientError> {
        if self.sink.is_none() {
            if !encrypted && self.head == NEED_AES {
                return Err(ClientError::NeedAes);
            }
            if encrypted && self.head == FAILED_AES_DECRYPT {
                return Err(ClientError::SensorCannotDecrypt);
            }
            self.decide(encrypted)?;
        }
        match self.sink.take() {
            Some(Sink::Raw(w)) => Ok(w),
            Some(Sink::Gunzip(g)) => g.finish().map_err(gzip_error),
            None => self.out.take().ok_or(ClientError::WrongKey),
        }
    }
}

/// A gzip stage error: bad data, or the writer behind it failing.
fn gzip_error(e: io::Error) -> ClientError {
    match e.kind() {
        io::ErrorKind::InvalidData
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::WriteZero => ClientError::BadGzip(e),
        _ => ClientError::Output(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_and_decoding() {
        assert_eq!(plain_request("listcalls\n"), b"listcalls\r\n\r\n");
        assert_eq!(plain_request("getversion"), b"getversion\r\n\r\n");
        assert!(matches!(
            decode_plain_reply(b"need aes!\n".to_vec()),
            Err(ClientError::NeedAes)
        ));
        assert!(matches!(
            decode_plain_reply(b"aes:xxxx".to_vec()),
            Err(ClientError::EncryptedReply)
        ));
        assert_eq!(
            decode_plain_reply(zip::gzip(b"[[]]")).expect("gzip"),
            b"[[]]"
        );
        assert_eq!(
            decode_plain_reply(b"2026".to_vec()).expect("plain"),
            b"2026"
        );
    }

    #[test]
    fn encrypted_reply_decoding() {
        let key = KeyMaterial::new(
            b"0123456789abcdefghijklmnopqrstuv",
            b"ABCDEFGHIJKLMNOP",
            Cipher::Aes128Cbc,
        )
        .expect("key");
        let wrap = |body: &[u8]| {
            let mut r = aes::REPLY_PREFIX.to_vec();
            r.extend(aes::encrypt(Cipher::Aes128Cbc, &key, body).expect("fits"));
            r
        };
        assert_eq!(
            decode_encrypted_reply(&wrap(b"2026.04.0"), Cipher::Aes128Cbc, &key).expect("ok"),
            b"2026.04.0"
        );
        assert_eq!(
            decode_encrypted_reply(&wrap(&zip::gzip(b"[[]]")), Cipher::Aes128Cbc, &key)
                .expect("ok"),
            b"[[]]"
        );
        assert_eq!(
            decode_encrypted_reply(b"", Cipher::Aes128Cbc, &key).expect("empty"),
            b""
        );
        assert!(matches!(
            decode_encrypted_reply(&wrap(b"failed aes decrypt!\n"), Cipher::Aes128Cbc, &key),
            Err(ClientError::SensorCannotDecrypt)
        ));
        assert!(matches!(
            decode_encrypted_reply(b"failed aes decrypt!\n", Cipher::Aes128Cbc, &key),
            Err(ClientError::SensorHasNoKey)
        ));
        let other = KeyMaterial::new(&[1; 16], &[2; 16], Cipher::Aes128Cbc).expect("key");
        assert!(matches!(
            decode_encrypted_reply(&wrap(b"2026.04.0"), Cipher::Aes128Cbc, &other),
            Err(ClientError::WrongKey)
        ));
    }

    #[test]
    fn streaming_decoder_matches_whole_decoding_for_any_split() {
        let key = KeyMaterial::new(
            b"0123456789abcdefghijklmnopqrstuv",
            b"ABCDEFGHIJKLMNOP",
            Cipher::Aes128Cbc,
        )
        .expect("key");
        let body: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 256) as u8).collect();
        let mut wire_zip = aes::REPLY_PREFIX.to_vec();
        wire_zip.extend(aes::encrypt(Cipher::Aes128Cbc, &key, &zip::gzip(&body)).expect("fits"));
        for split in [1usize, 3, 4, 5, 17, 4096, 1 << 20] {
            let mut dec =
                ReplyDecoder::encrypted(Cipher::Aes128Cbc, &key, Vec::new()).expect("key");
            for piece in wire_zip.chunks(split) {
                dec.push(piece).expect("push");
            }
            assert_eq!(
                dec.finish().expect("decodes"),
                body,
                "aes+gzip split {split}"
            );
            let mut dec = ReplyDecoder::plain(Vec::new());
            for piece in body.chunks(split) {
                dec.push(piece).expect("push");
            }
            assert_eq!(dec.finish().expect("plain"), body, "plain split {split}");
            let mut dec = ReplyDecoder::plain(Vec::new());
            for piece in b"need aes!\n".chunks(split) {
                dec.push(piece).expect("push");
            }
            assert!(matches!(dec.finish(), Err(ClientError::NeedAes)));
        }
        // A truncated encrypted reply is an error, never a silently short body.
        let mut dec = ReplyDecoder::encrypted(Cipher::Aes128Cbc, &key, Vec::new()).expect("key");
        dec.push(&wire_zip[..wire_zip.len() - 16]).expect("push");
        assert!(dec.finish().is_err());
        // A truncated gzip body too.
        let mut dec = ReplyDecoder::plain(Vec::new());
        let z = zip::gzip(&body);
        dec.push(&z[..z.len() / 2]).expect("push");
        assert!(matches!(dec.finish(), Err(ClientError::BadGzip(_))));
        // A long plaintext answer to an encrypted request fails early.
        let mut dec = ReplyDecoder::encrypted(Cipher::Aes128Cbc, &key, Vec::new()).expect("key");
        assert!(matches!(dec.push(&[b'x'; 100]), Err(ClientError::WrongKey)));
    }

    #[test]
    fn write_errors_are_reported() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut dec = ReplyDecoder::plain(Broken);
        let err = dec.push(&[b'a'; 100]).expect_err("cannot write");
        assert!(matches!(&err, ClientError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe));
    }

    #[test]
    fn endpoint_display() {
        assert_eq!(
            Endpoint::Tcp {
                host: "::1".into(),
                port: 5029
            }
            .to_string(),
            "[::1]:5029"
        );
        assert_eq!(
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 5029
            }
            .to_string(),
            "127.0.0.1:5029"
        );
    }

    #[test]
    fn refused_connection_is_a_clear_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let err = send_plain(
            &Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            "getversion",
            Duration::from_secs(2),
        )
        .expect_err("nobody listens");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot connect to 127.0.0.1:{port}: ")),
            "{err}"
        );
    }
}
