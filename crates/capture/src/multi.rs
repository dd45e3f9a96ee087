//! [`MultiReader`]: several capture files played one after the other.

use std::fs::File;
use std::path::{Path, PathBuf};

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
    current: Option<Reader<File>>,
    truncated: Vec<PathBuf>,
}

impl MultiReader {
    /// A reader over `paths`, in that order.
    pub fn new<P: Into<PathBuf>>(paths: impl IntoIterator<Item = P>) -> Self {
        Self {
            paths: paths.into_iter().map(Into::into).collect(),
            next_file: 0,
            current: None,
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
            let opened = crate::open(path);
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
    pub fn current_reader(&self) -> Option<&Reader<File>> {
        self.current.as_ref()
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
