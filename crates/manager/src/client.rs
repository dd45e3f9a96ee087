//! A blocking manager API client: one request per connection, the reply read to EOF.

use std::io;
use std::net::{Shutdown, TcpStream, ToSocketAddrs as _};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;
use voipsensor_manager_proto::aes::{self, Cipher, KeyMaterial, ReplyError};
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
            talk(stream, request, timeout).map_err(io_err)
        }
        Endpoint::Unix(path) => {
            let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
                endpoint: name.clone(),
                source,
            })?;
            talk(stream, request, timeout).map_err(io_err)
        }
    }
}

/// A stream the client can talk over: TCP or Unix.
trait Duplex: io::Read + io::Write {
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

/// Writes the request, half-closes (the server then answers at once whatever the framing),
/// reads to EOF.
fn talk(mut stream: impl Duplex, request: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    stream.set_timeouts(timeout)?;
    stream.write_all(request)?;
    let _ = stream.half_close();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    Ok(reply)
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
    if reply == NEED_AES {
        return Err(ClientError::NeedAes);
    }
    if reply.starts_with(b"aes:") {
        return Err(ClientError::EncryptedReply);
    }
    if zip::is_gzip(&reply) {
        return zip::gunzip(&reply).map_err(ClientError::BadGzip);
    }
    Ok(reply)
}

/// Sends one command encrypted with `key` and returns its decrypted, decoded reply.
pub fn send_encrypted(
    endpoint: &Endpoint,
    command: &str,
    cipher: Cipher,
    key: &KeyMaterial,
    timeout: Duration,
) -> Result<Vec<u8>, ClientError> {
    let request = aes::request_frame(cipher, key, command).ok_or(ClientError::CannotFrame)?;
    let reply = exchange(endpoint, &request, timeout)?;
    decode_encrypted_reply(&reply, cipher, key)
}

/// Interprets a reply to an encrypted request: decrypt, then inflate gzip.
pub fn decode_encrypted_reply(
    reply: &[u8],
    cipher: Cipher,
    key: &KeyMaterial,
) -> Result<Vec<u8>, ClientError> {
    if reply == FAILED_AES_DECRYPT {
        return Err(ClientError::SensorHasNoKey);
    }
    let plain = aes::decrypt_reply(cipher, key, reply).map_err(|e| match e {
        ReplyError::WrongKey => ClientError::WrongKey,
        // A plaintext answer to an encrypted request: a server speaking another protocol.
        ReplyError::NotEncrypted => ClientError::WrongKey,
    })?;
    if plain == FAILED_AES_DECRYPT {
        return Err(ClientError::SensorCannotDecrypt);
    }
    if zip::is_gzip(&plain) {
        return zip::gunzip(&plain).map_err(ClientError::BadGzip);
    }
    Ok(plain)
}

/// Sends one plaintext command and returns its decoded reply.
pub fn send_plain(
    endpoint: &Endpoint,
    command: &str,
    timeout: Duration,
) -> Result<Vec<u8>, ClientError> {
    decode_plain_reply(exchange(endpoint, &plain_request(command), timeout)?)
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
