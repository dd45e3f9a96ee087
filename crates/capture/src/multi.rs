//! [`MultiReader`]: several capture files played one after the other.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, PacketRef, Reader, Result};

/// Reads a list of files in order, as one packet stream.
///
/// Files are opened lazily, one at a time. An error (unreadable file, corrupt data) is returned
/// as [`Error::InFile`] naming the file, and that file is abandoned: calling
/// [`MultiReader::next_packet`] again continues with the next file. Truncated files are
/// remembered in [`MultiReader::truncated_files`].
#[derive(Debug)]
pub struct MultiReader {
    paths: Vec<PathBuf>,
    /// Index in `paths` of the next file to open.
    next_file: usize,
    current: Option<Reader<TrackedFile>>,
    /// Bytes read so far from the current file (compressed bytes for gzip files).
    read: Arc<AtomicU64>,
    /// Size of the current file, when known.
    size: Option<u64>,
    truncated: Vec<PathBuf>,
}

/// Where a [`MultiReader`] stands, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// 1-based number of the current file (0 before the first).
    pub file: usize,
    /// Files in the list.
    pub files: usize,
    /// Bytes of the current file read so far (the file's own bytes, compressed or not).
    pub bytes_read: u64,
    /// Size of the current file, when known.
    pub file_size: Option<u64>,
}

/// A file that counts the bytes read from it.
#[derive(Debug)]
pub struct TrackedFile {
    file: File,
    read: Arc<AtomicU64>,
}

impl Read for TrackedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl MultiReader {
    /// A reader over `paths`, in that order.
    pub fn new<P: Into<PathBuf>>(paths: impl IntoIterator<Item = P>) -> Self {
        Self {
            paths: paths.into_iter().map(Into::into).collect(),
            next_file: 0,
            current: None,
            read: Arc::new(AtomicU64::new(0)),
            size: None,
            truncated: Vec::new(),
        }
    }

    /// The next packet of the current file, moving on to the next file at its end; `Ok(None)`
    /// after the last file.
    pub fn next_packet(&mut self) -> Result<Option<PacketRef<'_>>> {
        loop {
            if let Some(reader) = &mut self.current {
                match reader.advance() {
                    Ok(true) => break,
                    Ok(false) => {
                        if reader.truncated() {
                            self.truncated.push(self.paths[self.next_file - 1].clone());
                        }
                        self.current = None;
                    }
                    Err(e) => {
                        self.current = None;
                        return Err(self.in_file(e));
                    }
                }
            }
            let Some(path) = self.paths.get(self.next_file) else {
                return Ok(None);
            };
            self.read = Arc::new(AtomicU64::new(0));
            let opened = File::open(path).map_err(Error::from).and_then(|file| {
                self.size = file.metadata().ok().map(|m| m.len());
                Reader::new(TrackedFile {
                    file,
                    read: Arc::clone(&self.read),
                })
            });
            self.next_file += 1;
            self.current = Some(opened.map_err(|e| self.in_file(e))?);
        }
        Ok(self.current.as_ref().and_then(Reader::current))
    }

    /// The file being read (`None` before the first and after the last packet).
    pub fn current_path(&self) -> Option<&Path> {
        self.current
            .as_ref()
            .map(|_| self.paths[self.next_file - 1].as_path())
    }

    /// The reader of the current file, e.g. for its format and interfaces.
    pub fn current_reader(&self) -> Option<&Reader<TrackedFile>> {
        self.current.as_ref()
    }

    /// The current file and how much of it was read.
    pub fn progress(&self) -> Progress {
        Progress {
            file: self.next_file,
            files: self.paths.len(),
            bytes_read: self.read.load(Ordering::Relaxed),
            file_size: self.size,
        }
    }

    /// Files (in order) that ended in the middle of a record.
    pub fn truncated_files(&self) -> &[PathBuf] {
        &self.truncated
    }

    /// Number of files opened so far (including the current one).
    pub fn files_opened(&self) -> usize {
        self.next_file
    }

    fn in_file(&self, error: Error) -> Error {
        let path = self.paths[self.next_file - 1].clone();
        Error::InFile {
            path,
            error: Box::new(error),
        }
    }
}
