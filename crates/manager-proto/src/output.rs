//! The output stages of a reply (spec §3, §2.5), for replies produced piece by piece: gzip
//! (when the command asks for it) first, then AES behind `aes:` (when the request was
//! encrypted). Memory stays constant whatever the length of the reply.

use crate::aes::{REPLY_PREFIX, StreamEncryptor};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write as _;

/// Encodes a reply body fed in pieces into the bytes sent on the wire.
pub struct ReplyEncoder {
    gzip: Option<GzEncoder<Vec<u8>>>,
    aes: Option<StreamEncryptor>,
    started: bool,
}

impl std::fmt::Debug for ReplyEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyEncoder")
            .field("gzip", &self.gzip.is_some())
            .field("aes", &self.aes.is_some())
            .field("started", &self.started)
            .finish()
    }
}

impl ReplyEncoder {
    /// An encoder that gzips the body when `zip` (one gzip member, zlib's header and default
    /// level, as [`crate::zip::gzip`]) and encrypts it with `aes` when given.
    pub fn new(zip: bool, aes: Option<StreamEncryptor>) -> Self {
        Self {
            gzip: zip.then(|| {
                flate2::GzBuilder::new()
                    .operating_system(3)
                    .write(Vec::new(), Compression::default())
            }),
            aes,
            started: false,
        }
    }

    /// Encodes the next piece of the body, appending wire bytes to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if data.is_empty() {
            return;
        }
        if !self.started {
            self.started = true;
            if self.aes.is_some() {
                out.extend_from_slice(REPLY_PREFIX);
            }
        }
        match self.gzip.as_mut() {
            Some(gz) => {
                // Writing into a Vec cannot fail.
                let _ = gz.write_all(data);
                let mut compressed = std::mem::take(gz.get_mut());
                Self::encrypt(self.aes.as_mut(), &compressed, out);
                compressed.clear();
                *gz.get_mut() = compressed;
            }
            None => Self::encrypt(self.aes.as_mut(), data, out),
        }
    }

    fn encrypt(aes: Option<&mut StreamEncryptor>, data: &[u8], out: &mut Vec<u8>) {
        match aes {
            Some(enc) => enc.update(data, out),
            None => out.extend_from_slice(data),
        }
    }

    /// Ends the body: the gzip trailer and the last (padded) AES block. A body that was empty
    /// gives no bytes at all, not even `aes:` (spec §2.5).
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if !self.started {
            return;
        }
        if let Some(gz) = self.gzip.take() {
            let rest = gz.finish().unwrap_or_default();
            Self::encrypt(self.aes.as_mut(), &rest, out);
        }
        if let Some(enc) = self.aes.take() {
            enc.finish(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aes::{Cipher, KeyMaterial, decrypt_reply};
    use crate::zip::{gunzip, gzip};

    fn key() -> KeyMaterial {
        KeyMaterial::new(b"0123456789abcdef", b"ABCDEFGHIJKLMNOP", Cipher::Aes128Cbc).expect("key")
    }

    fn encode(body: &[u8], piece: usize, zip: bool, aes: bool) -> Vec<u8> {
        let key = key();
        let mut enc = ReplyEncoder::new(
            zip,
            aes.then(|| StreamEncryptor::new(Cipher::Aes128Cbc, &key).expect("fits")),
        );
        let mut out = Vec::new();
        for p in body.chunks(piece.max(1)) {
            enc.push(p, &mut out);
        }
        enc.finish(&mut out);
        out
    }

    #[test]
    fn layers_in_the_spec_order() {
        let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for piece in [1, 15, 4096, 65536, 1 << 20] {
            assert_eq!(encode(&body, piece, false, false), body);
            let zipped = encode(&body, piece, true, false);
            assert_eq!(&zipped[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
            assert_eq!(gunzip(&zipped).expect("gzip"), body);
            let key = key();
            let enc = encode(&body, piece, false, true);
            assert!(enc.starts_with(b"aes:"));
            assert_eq!(
                decrypt_reply(Cipher::Aes128Cbc, &key, &enc).expect("decrypts"),
                body
            );
            let both = encode(&body, piece, true, true);
            let inner = decrypt_reply(Cipher::Aes128Cbc, &key, &both).expect("decrypts");
            assert_eq!(gunzip(&inner).expect("gzip inside aes"), body);
        }
        assert_eq!(
            encode(b"abc", 1, true, false),
            gzip(b"abc"),
            "same bytes as the whole-reply gzip"
        );
    }

    #[test]
    fn empty_body_is_an_empty_reply() {
        for zip in [false, true] {
            for aes in [false, true] {
                assert_eq!(encode(b"", 10, zip, aes), b"", "zip {zip} aes {aes}");
            }
        }
    }
}
