//! The reader's one buffer: large reads from the source, records parsed in place.
//!
//! A `std::io::BufReader` would make us copy every record out of its buffer; instead the
//! parsers look at `bytes()` directly and hand out slices of it. The buffer only grows when a
//! single record is larger than it, and only as fast as data actually arrives, so a tiny file
//! that claims a 200 MiB record costs no 200 MiB allocation.

use std::io::{self, Read};

/// Buffered input with an absolute stream offset.
#[derive(Debug)]
pub(crate) struct Input<R> {
    read: R,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    eof: bool,
    /// The source ended with `UnexpectedEof` (a cut gzip stream).
    source_truncated: bool,
}

impl<R: Read> Input<R> {
    /// Input whose first bytes (already read from `read` by format detection) are `prefix`.
    pub(crate) fn new(read: R, capacity: usize, prefix: &[u8]) -> Self {
        let mut buf = vec![0; capacity.max(prefix.len()).max(64)];
        buf[..prefix.len()].copy_from_slice(prefix);
        Self {
            read,
            buf,
            start: 0,
            end: prefix.len(),
            offset: 0,
            eof: false,
            source_truncated: false,
        }
    }

    /// Makes at least `n` unconsumed bytes available. `Ok(false)`: the stream ended first.
    #[inline]
    pub(crate) fn fill(&mut self, n: usize) -> io::Result<bool> {
        if self.end - self.start >= n {
            return Ok(true);
        }
        self.fill_slow(n)
    }

    #[cold]
    fn fill_slow(&mut self, n: usize) -> io::Result<bool> {
        while self.end - self.start < n {
            if self.eof {
                return Ok(false);
            }
            if self.start + n > self.buf.len() && self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                // Only reached when one record is larger than the buffer: grow geometrically,
                // never straight to `n`.
                let grown = self
                    .buf
                    .len()
                    .saturating_mul(2)
                    .min(n.max(self.buf.len() + 1));
                self.buf.resize(grown, 0);
            }
            match self.read.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(got) => self.end += got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.eof = true;
                    self.source_truncated = true;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

impl<R> Input<R> {
    /// The unconsumed bytes.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Index in the buffer of the first unconsumed byte, for [`Self::slice`] after a consume.
    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.start
    }

    /// Bytes at buffer index `at`; valid for anything returned by `pos()` since the last fill.
    #[inline]
    pub(crate) fn slice(&self, at: usize, len: usize) -> &[u8] {
        &self.buf[at..at + len]
    }

    /// Drops `n` bytes (they stay readable through `slice` until the next fill).
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }

    /// Stream offset of the next unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Unconsumed bytes available without reading.
    pub(crate) fn available(&self) -> usize {
        self.end - self.start
    }

    /// The source itself reported a cut (e.g. a gzip stream without its end).
    pub(crate) fn source_truncated(&self) -> bool {
        self.source_truncated
    }

    pub(crate) fn get_ref(&self) -> &R {
        &self.read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most 3 bytes per read and interrupts every other call.
    struct Dribble<'a> {
        data: &'a [u8],
        calls: u32,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = out.len().min(3).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn fills_compacts_and_grows() {
        let data: Vec<u8> = (0..=255).collect();
        let mut input = Input::new(
            Dribble {
                data: &data[2..],
                calls: 0,
            },
            8,
            &data[..2],
        );
        assert!(input.fill(10).expect("in-memory read"));
        assert_eq!(&input.bytes()[..10], &data[..10]);
        input.consume(7);
        assert_eq!(input.offset(), 7);
        assert!(input.fill(150).expect("in-memory read"));
        assert_eq!(&input.bytes()[..150], &data[7..157]);
        let at = input.pos();
        input.consume(150);
        assert_eq!(input.slice(at, 3), &data[7..10]);
        assert!(!input.fill(100).expect("in-memory read"));
        assert_eq!(input.available(), 256 - 157);
        assert!(!input.source_truncated());
    }

    #[test]
    fn unexpected_eof_is_a_cut() {
        struct Cut;
        impl Read for Cut {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::UnexpectedEof.into())
            }
        }
        let mut input = Input::new(Cut, 16, b"ab");
        assert!(!input.fill(3).expect("cut is not an error"));
        assert!(input.source_truncated());
        assert_eq!(input.bytes(), b"ab");
    }
}
