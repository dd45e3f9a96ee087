//! The `zip` output stage (spec §3.2): a standalone gzip member per write, no marker.

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use std::io::{Read, Write};

/// Whether `bytes` already start with the gzip magic `1f 8b`.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Compresses one write into a gzip member with zlib's default level and the header zlib
/// writes (`1f 8b 08 00 00 00 00 00 00 03`). Data that is already gzip passes unchanged.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    if is_gzip(bytes) {
        return bytes.to_vec();
    }
    let mut enc = flate2::GzBuilder::new().operating_system(3).write(
        Vec::with_capacity(bytes.len() / 4 + 64),
        Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// Decompresses one or more concatenated gzip members (a reply may hold several).
pub fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    MultiGzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

/// A streaming gzip member writer for replies that are produced piece by piece.
pub type GzipWriter<W> = GzEncoder<W>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_zlibs() {
        let z = gzip(b"[[\"callreference\"]]");
        assert_eq!(&z[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(gunzip(&z).expect("valid"), b"[[\"callreference\"]]");
    }

    #[test]
    fn already_gzip_passes_through_and_members_concatenate() {
        let a = gzip(b"first ");
        assert_eq!(gzip(&a), a);
        let mut two = a.clone();
        two.extend(gzip(b"second"));
        assert_eq!(gunzip(&two).expect("valid"), b"first second");
        assert!(gunzip(b"\x1f\x8bnot gzip").is_err());
    }
}
