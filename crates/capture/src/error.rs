//! Errors of the capture file reader.

use std::io;
use std::path::PathBuf;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a capture file could not be read.
///
/// Byte offsets count from the start of the (decompressed) capture stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The underlying reader failed (also: a gzip stream with bad data or checksum).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The first bytes are not a pcap, pcapng or gzip magic number.
    #[error("not a pcap, pcapng or gzip file (starts with {magic:02x?})")]
    NotACaptureFile {
        /// The first bytes of the stream (up to four).
        magic: Vec<u8>,
    },
    /// The stream ends before the file header (or first pcapng section header) is complete.
    #[error("capture file truncated inside its header ({got} of {need} bytes)")]
    TruncatedHeader {
        /// Bytes the header needs.
        need: u32,
        /// Bytes that were there.
        got: u32,
    },
    /// The structure is broken: absurd lengths, inconsistent block lengths, bad magic, unknown
    /// interface, unsupported version.
    #[error("corrupt capture file at byte {offset}: {reason}")]
    Corrupt {
        /// Offset of the record or block that is broken.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An error while reading one file of a [`MultiReader`](crate::MultiReader).
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What went wrong in it (already part of this error's message).
        error: Box<Self>,
    },
}

impl Error {
    pub(crate) fn corrupt(offset: u64, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            offset,
            reason: reason.into(),
        }
    }
}
