//! Unix socket files: created mode 0600 without a window of wider permissions, a stale socket
//! replaced, anything else at the path refused, and removed only while it is still ours.

use std::io;
use std::os::unix::fs::{
    DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, PermissionsExt as _,
};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest path that fits `sun_path` (108 bytes with its NUL).
pub const MAX_PATH_BYTES: usize = 107;

/// Why a socket file could not be created.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The path exists and is not a socket; it is left alone.
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    /// Another process is listening on the socket at the path.
    #[error("{0} is in use by another running process")]
    InUse(PathBuf),
    /// The path does not fit a Unix socket address.
    #[error("{} is too long for a Unix socket ({} bytes, at most {MAX_PATH_BYTES})", .0.display(), .0.as_os_str().len())]
    TooLong(PathBuf),
    /// The path is empty.
    #[error("empty socket path")]
    Empty,
    /// Any other failure.
    #[error("cannot create socket {}: {source}", path.display())]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// A listening socket file that this process created.
#[derive(Debug)]
pub struct SocketFile {
    listener: UnixListener,
    path: PathBuf,
    identity: (u64, u64),
}

impl SocketFile {
    /// Creates a listening socket at `path`, mode 0600.
    ///
    /// The socket is bound inside a fresh private directory (mode 0700) next to `path`,
    /// given mode 0600 there and then renamed into place, so it is never reachable with wider
    /// permissions and a stale socket is replaced atomically. When the private path would not
    /// fit `sun_path`, it binds in place and narrows the mode right after.
    pub fn bind(path: &Path) -> Result<Self, BindError> {
        let io_err = |source| BindError::Io {
            path: path.to_owned(),
            source,
        };
        if path.as_os_str().is_empty() {
            return Err(BindError::Empty);
        }
        if path.as_os_str().len() > MAX_PATH_BYTES {
            return Err(BindError::TooLong(path.to_owned()));
        }
        let stale = check_existing(path)?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let private_dir = parent.join(format!(".voipsensor-{}", unique_suffix()));
        let private_sock = private_dir.join("s");
        let listener = if private_sock.as_os_str().len() <= MAX_PATH_BYTES {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&private_dir)
                .map_err(io_err)?;
            let bound = bind_private(&private_sock, path);
            let _ = std::fs::remove_dir(&private_dir);
            bound.map_err(io_err)?
        } else {
            if stale {
                std::fs::remove_file(path).map_err(io_err)?;
            }
            let listener = UnixListener::bind(path).map_err(io_err)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(io_err)?;
            listener
        };
        listener.set_nonblocking(true).map_err(io_err)?;
        let meta = std::fs::symlink_metadata(path).map_err(io_err)?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            identity: (meta.dev(), meta.ino()),
        })
    }

    /// The path of the socket file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Turns the listener into a tokio listener (must be called inside a runtime).
    pub fn tokio_listener(&self) -> io::Result<tokio::net::UnixListener> {
        tokio::net::UnixListener::from_std(self.listener.try_clone()?)
    }

    /// Removes the socket file if it is still the one this process created.
    pub fn remove(&self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if m.file_type().is_socket() && (m.dev(), m.ino()) == self.identity => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot remove socket file");
                }
            }
            _ => {
                tracing::debug!(path = %self.path.display(), "socket file already gone or replaced")
            }
        }
    }
}

/// Whether something is at `path` that may be replaced (a stale socket).
fn check_existing(path: &Path) -> Result<bool, BindError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(BindError::Io {
            path: path.to_owned(),
            source,
        }),
        Ok(m) if !m.file_type().is_socket() => Err(BindError::NotASocket(path.to_owned())),
        Ok(_) => match UnixStream::connect(path) {
            Ok(_) => Err(BindError::InUse(path.to_owned())),
            Err(_) => Ok(true),
        },
    }
}

fn bind_private(private_sock: &Path, path: &Path) -> io::Result<UnixListener> {
    let listener = UnixListener::bind(private_sock)?;
    let placed = std::fs::set_permissions(private_sock, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(private_sock, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(private_sock);
        return Err(e);
    }
    Ok(listener)
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh socket path in the reference's style: `/tmp/VM<pid>_<nanoseconds>`.
pub fn temp_path() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    PathBuf::from(format!("/tmp/VM{}_{}", std::process::id(), nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_0600_and_removes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.sock");
        let sock = SocketFile::bind(&path).expect("bind");
        let meta = std::fs::symlink_metadata(&path).expect("exists");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            1,
            "no private dir left"
        );
        UnixStream::connect(&path).expect("connectable");
        sock.remove();
        assert!(!path.exists());
    }

    #[test]
    fn replaces_stale_socket_refuses_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.sock");
        drop(UnixListener::bind(&path).expect("stale"));
        assert!(path.exists());
        let sock = SocketFile::bind(&path).expect("stale socket replaced");
        assert!(matches!(SocketFile::bind(&path), Err(BindError::InUse(_))));
        sock.remove();

        let file = dir.path().join("regular");
        std::fs::write(&file, b"keep me").expect("write");
        assert!(matches!(
            SocketFile::bind(&file),
            Err(BindError::NotASocket(_))
        ));
        assert_eq!(std::fs::read(&file).expect("still there"), b"keep me");
        std::fs::create_dir(dir.path().join("d")).expect("mkdir");
        assert!(matches!(
            SocketFile::bind(&dir.path().join("d")),
            Err(BindError::NotASocket(_))
        ));
        let long = dir.path().join("x".repeat(120));
        assert!(matches!(
            SocketFile::bind(&long),
            Err(BindError::TooLong(_))
        ));
    }

    #[test]
    fn remove_leaves_a_replacement_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.sock");
        let sock = SocketFile::bind(&path).expect("bind");
        std::fs::remove_file(&path).expect("rm");
        std::fs::write(&path, b"other").expect("write");
        sock.remove();
        assert_eq!(std::fs::read(&path).expect("kept"), b"other");
    }
}
