//! The manager API's encryption layer (spec §2): request frames `CIPHER:` + ciphertext +
//! `:sea`, replies `aes:` + one AES-CBC stream with PKCS#7 padding on its last block.
//!
//! The scheme is the reference's, fixed IV included (clients depend on it; spec §2.7 lists its
//! weaknesses). What we add is discipline around it: keys shorter than the cipher needs are
//! refused instead of read past, key bytes are wiped on drop and never printed, and every
//! decryption failure looks the same to the peer.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::{Zeroize as _, Zeroizing};

/// Prefix of an encrypted reply.
pub const REPLY_PREFIX: &[u8] = b"aes:";
/// End marker of an encrypted request.
pub const END_MARKER: &[u8] = b":sea";
/// The cipher name must end (its `:`) before this byte offset (spec §2.4).
pub const MAX_NAME_END: usize = 20;
/// AES block size.
pub const BLOCK: usize = 16;

/// The ciphers a request can name. Anything else falls back to AES-128-CBC, as the reference
/// does for names OpenSSL does not know (and as it may do for non-CBC modes, spec §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cipher {
    /// `aes-128-cbc`, the default.
    #[default]
    Aes128Cbc,
    /// `aes-192-cbc`.
    Aes192Cbc,
    /// `aes-256-cbc`.
    Aes256Cbc,
}

impl Cipher {
    /// Looks a cipher name up, case-insensitively, with OpenSSL's aliases.
    pub fn from_name(name: &[u8]) -> Self {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        match name.as_str() {
            "aes-192-cbc" | "aes192" => Self::Aes192Cbc,
            "aes-256-cbc" | "aes256" => Self::Aes256Cbc,
            _ => Self::Aes128Cbc,
        }
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes128Cbc => "aes-128-cbc",
            Self::Aes192Cbc => "aes-192-cbc",
            Self::Aes256Cbc => "aes-256-cbc",
        }
    }

    /// Key bytes the cipher uses (the leading bytes of the key material).
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Cbc => 16,
            Self::Aes192Cbc => 24,
            Self::Aes256Cbc => 32,
        }
    }
}

/// Why key material was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is not valid base64 (the text is not repeated: it is secret).
    #[error("the AES key is not valid base64")]
    KeyBase64,
    /// The IV is not valid base64.
    #[error("the AES IV is not valid base64")]
    IvBase64,
    /// The decoded key is shorter than the cipher needs.
    #[error("the AES key has {got} bytes; {cipher} needs at least {need}")]
    KeyTooShort {
        /// Decoded length.
        got: usize,
        /// Required length.
        need: usize,
        /// The cipher it was checked for.
        cipher: &'static str,
    },
    /// The decoded IV is shorter than 16 bytes.
    #[error("the AES IV has {got} bytes; at least 16 are needed")]
    IvTooShort {
        /// Decoded length.
        got: usize,
    },
}

/// A manager key and IV. Wiped on drop; `Debug` shows only lengths.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    key: Zeroizing<Vec<u8>>,
    iv: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyMaterial(<redacted {} + {} bytes>)",
            self.key.len(),
            self.iv.len()
        )
    }
}

impl KeyMaterial {
    /// Key material from raw bytes. The key must serve at least `cipher` (AES-128 by default);
    /// the IV needs 16 bytes. Longer values are kept whole and their leading bytes used.
    pub fn new(key: &[u8], iv: &[u8], cipher: Cipher) -> Result<Self, KeyError> {
        if key.len() < cipher.key_len() {
            return Err(KeyError::KeyTooShort {
                got: key.len(),
                need: cipher.key_len(),
                cipher: cipher.name(),
            });
        }
        if iv.len() < BLOCK {
            return Err(KeyError::IvTooShort { got: iv.len() });
        }
        Ok(Self {
            key: Zeroizing::new(key.to_vec()),
            iv: Zeroizing::new(iv.to_vec()),
        })
    }

    /// Key material from the base64 texts stored in the config and the database.
    pub fn from_base64(key: &str, iv: &str, cipher: Cipher) -> Result<Self, KeyError> {
        let key = Zeroizing::new(BASE64.decode(key.trim()).map_err(|_| KeyError::KeyBase64)?);
        let iv = Zeroizing::new(BASE64.decode(iv.trim()).map_err(|_| KeyError::IvBase64)?);
        Self::new(&key, &iv, cipher)
    }

    /// The key as base64 (for storing it; handle the result as a secret).
    pub fn key_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(&*self.key))
    }

    /// The IV as base64.
    pub fn iv_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(&*self.iv))
    }

    /// Whether the key is long enough for `cipher`.
    pub fn supports(&self, cipher: Cipher) -> bool {
        self.key.len() >= cipher.key_len()
    }

    fn key_for(&self, cipher: Cipher) -> Option<&[u8]> {
        self.key.get(..cipher.key_len())
    }

    fn iv(&self) -> &[u8] {
        &self.iv[..BLOCK]
    }
}

/// An encrypted request split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The cipher named before the first `:`.
    pub cipher: Cipher,
    /// The raw ciphertext between that `:` and the first `:sea`.
    pub ciphertext: &'a [u8],
}

/// Why an encrypted request could not be read. The peer never learns which (spec §2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptError {
    /// No `:` within the first 20 bytes.
    NoName,
    /// No `:sea` after the name.
    NoEndMarker,
    /// The ciphertext is empty or not a whole number of blocks.
    BadLength,
    /// The key is too short for the requested cipher.
    KeyTooShort,
    /// The padding is invalid: wrong key or corrupted data.
    BadPadding,
    /// The plaintext is not a printable command line.
    NotText,
}

/// Splits an encrypted request (spec §2.4). When only the name could be parsed, the error comes
/// with the cipher so the failure reply uses it.
pub fn parse_frame(request: &[u8]) -> Result<Frame<'_>, (DecryptError, Cipher)> {
    let Some(colon) = request.iter().take(MAX_NAME_END).position(|&b| b == b':') else {
        return Err((DecryptError::NoName, Cipher::default()));
    };
    let cipher = Cipher::from_name(&request[..colon]);
    let end = crate::framing::find(request, END_MARKER, colon)
        .ok_or((DecryptError::NoEndMarker, cipher))?;
    Ok(Frame {
        cipher,
        ciphertext: &request[colon + 1..end.max(colon + 1)],
    })
}

/// Decrypts a whole message (one CBC stream with PKCS#7 padding).
pub fn decrypt(
    cipher: Cipher,
    key: &KeyMaterial,
    ciphertext: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(BLOCK) {
        return Err(DecryptError::BadLength);
    }
    let k = key.key_for(cipher).ok_or(DecryptError::KeyTooShort)?;
    let mut buf = ciphertext.to_vec();
    let plain_len = match cipher {
        Cipher::Aes128Cbc => cbc::Decryptor::<aes::Aes128>::new_from_slices(k, key.iv())
            .map_err(|_| DecryptError::KeyTooShort)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(<[u8]>::len),
        Cipher::Aes192Cbc => cbc::Decryptor::<aes::Aes192>::new_from_slices(k, key.iv())
            .map_err(|_| DecryptError::KeyTooShort)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(<[u8]>::len),
        Cipher::Aes256Cbc => cbc::Decryptor::<aes::Aes256>::new_from_slices(k, key.iv())
            .map_err(|_| DecryptError::KeyTooShort)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(<[u8]>::len),
    };
    match plain_len {
        Ok(n) => {
            buf.truncate(n);
            Ok(buf)
        }
        Err(_) => {
            buf.zeroize();
            Err(DecryptError::BadPadding)
        }
    }
}

/// A decrypted request: its command text and the cipher it named (the reply uses it too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The command text.
    pub text: Vec<u8>,
    /// The cipher the request named.
    pub cipher: Cipher,
}

/// Decrypts a request frame into its command text, checking it is printable.
pub fn decrypt_request(
    request: &[u8],
    key: &KeyMaterial,
) -> Result<Decrypted, (DecryptError, Cipher)> {
    let frame = parse_frame(request)?;
    let text = decrypt(frame.cipher, key, frame.ciphertext).map_err(|e| (e, frame.cipher))?;
    if !is_printable(&text) {
        return Err((DecryptError::NotText, frame.cipher));
    }
    Ok(Decrypted {
        text,
        cipher: frame.cipher,
    })
}

/// Whether decrypted text can be a command line: no control bytes but CR, LF and TAB (a wrong
/// key that happens to yield valid padding gives binary garbage).
pub fn is_printable(text: &[u8]) -> bool {
    !text.is_empty()
        && text
            .iter()
            .all(|&b| b >= 0x20 && b != 0x7f || matches!(b, b'\r' | b'\n' | b'\t'))
}

enum CbcEnc {
    A128(cbc::Encryptor<aes::Aes128>),
    A192(cbc::Encryptor<aes::Aes192>),
    A256(cbc::Encryptor<aes::Aes256>),
}

impl CbcEnc {
    fn new(cipher: Cipher, key: &KeyMaterial) -> Option<Self> {
        let k = key.key_for(cipher)?;
        let iv = key.iv();
        Some(match cipher {
            Cipher::Aes128Cbc => Self::A128(cbc::Encryptor::new_from_slices(k, iv).ok()?),
            Cipher::Aes192Cbc => Self::A192(cbc::Encryptor::new_from_slices(k, iv).ok()?),
            Cipher::Aes256Cbc => Self::A256(cbc::Encryptor::new_from_slices(k, iv).ok()?),
        })
    }

    fn block(&mut self, block: &mut [u8; BLOCK]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            Self::A128(e) => e.encrypt_block_mut(b),
            Self::A192(e) => e.encrypt_block_mut(b),
            Self::A256(e) => e.encrypt_block_mut(b),
        }
    }
}

/// Encrypts a reply as one CBC stream, piece by piece: full blocks are emitted as soon as they
/// exist, so a large reply is never held whole just to be encrypted (spec §2.5).
pub struct StreamEncryptor {
    enc: CbcEnc,
    pending: [u8; BLOCK],
    pending_len: usize,
}

impl std::fmt::Debug for StreamEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamEncryptor")
    }
}

impl Drop for StreamEncryptor {
    fn drop(&mut self) {
        self.pending.zeroize();
    }
}

impl StreamEncryptor {
    /// A new stream; `None` when the key is too short for `cipher`.
    pub fn new(cipher: Cipher, key: &KeyMaterial) -> Option<Self> {
        Some(Self {
            enc: CbcEnc::new(cipher, key)?,
            pending: [0; BLOCK],
            pending_len: 0,
        })
    }

    /// Encrypts `data`, appending every completed block to `out`.
    pub fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        if self.pending_len > 0 {
            let take = (BLOCK - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            if self.pending_len < BLOCK {
                return;
            }
            let mut block = self.pending;
            self.enc.block(&mut block);
            out.extend_from_slice(&block);
            self.pending_len = 0;
        }
        let mut chunks = data.chunks_exact(BLOCK);
        out.reserve(data.len());
        for chunk in &mut chunks {
            let mut block = [0u8; BLOCK];
            block.copy_from_slice(chunk);
            self.enc.block(&mut block);
            out.extend_from_slice(&block);
        }
        let rest = chunks.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    /// Pads (PKCS#7) and encrypts the last block.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        let pad = u8::try_from(BLOCK - self.pending_len).unwrap_or(16);
        let mut block = self.pending;
        block[self.pending_len..].fill(pad);
        self.enc.block(&mut block);
        out.extend_from_slice(&block);
    }
}

enum CbcDec {
    A128(cbc::Decryptor<aes::Aes128>),
    A192(cbc::Decryptor<aes::Aes192>),
    A256(cbc::Decryptor<aes::Aes256>),
}

impl CbcDec {
    fn new(cipher: Cipher, key: &KeyMaterial) -> Option<Self> {
        let k = key.key_for(cipher)?;
        let iv = key.iv();
        Some(match cipher {
            Cipher::Aes128Cbc => Self::A128(cbc::Decryptor::new_from_slices(k, iv).ok()?),
            Cipher::Aes192Cbc => Self::A192(cbc::Decryptor::new_from_slices(k, iv).ok()?),
            Cipher::Aes256Cbc => Self::A256(cbc::Decryptor::new_from_slices(k, iv).ok()?),
        })
    }

    fn block(&mut self, block: &mut [u8; BLOCK]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            Self::A128(d) => d.decrypt_block_mut(b),
            Self::A192(d) => d.decrypt_block_mut(b),
            Self::A256(d) => d.decrypt_block_mut(b),
        }
    }
}

/// Decrypts an encrypted reply body (the bytes after `aes:`) piece by piece, so a client can
/// write a large reply out as it arrives. The last block is held back until [`Self::finish`],
/// which checks and removes the padding.
pub struct StreamDecryptor {
    dec: CbcDec,
    pending: Zeroizing<Vec<u8>>,
    seen: bool,
}

impl std::fmt::Debug for StreamDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamDecryptor")
    }
}

impl StreamDecryptor {
    /// A new stream; `None` when the key is too short for `cipher`.
    pub fn new(cipher: Cipher, key: &KeyMaterial) -> Option<Self> {
        Some(Self {
            dec: CbcDec::new(cipher, key)?,
            pending: Zeroizing::new(Vec::with_capacity(2 * BLOCK)),
            seen: false,
        })
    }

    /// Decrypts `data`, appending the plaintext of every block except the last one seen so
    /// far to `out`.
    pub fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        self.seen |= !data.is_empty();
        // Complete the pending partial block first.
        if !self.pending.is_empty() && self.pending.len() < BLOCK {
            let take = (BLOCK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        if data.is_empty() {
            return;
        }
        // `pending` now holds 0 or 16 bytes; it is followed by more data, so it is not last.
        if self.pending.len() == BLOCK {
            let mut block = [0u8; BLOCK];
            block.copy_from_slice(&self.pending);
            self.dec.block(&mut block);
            out.extend_from_slice(&block);
            self.pending.clear();
        }
        // Keep the last block (full or not) of `data`.
        let keep = match data.len() % BLOCK {
            0 => BLOCK,
            r => r,
        };
        let (body, tail) = data.split_at(data.len() - keep);
        out.reserve(body.len());
        for chunk in body.chunks_exact(BLOCK) {
            let mut block = [0u8; BLOCK];
            block.copy_from_slice(chunk);
            self.dec.block(&mut block);
            out.extend_from_slice(&block);
        }
        self.pending.extend_from_slice(tail);
    }

    /// Decrypts the last block and removes its PKCS#7 padding. Fails when the body was not a
    /// positive whole number of blocks or the padding is wrong (almost always a wrong key).
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), ReplyError> {
        if !self.seen || self.pending.len() != BLOCK {
            return Err(ReplyError::WrongKey);
        }
        let mut block = [0u8; BLOCK];
        block.copy_from_slice(&self.pending);
        self.dec.block(&mut block);
        let pad = usize::from(block[BLOCK - 1]);
        let valid = (1..=BLOCK).contains(&pad)
            && block[BLOCK - pad..].iter().all(|&b| usize::from(b) == pad);
        let result = if valid {
            out.extend_from_slice(&block[..BLOCK - pad]);
            Ok(())
        } else {
            Err(ReplyError::WrongKey)
        };
        block.zeroize();
        result
    }
}

/// Encrypts a whole message (CBC, PKCS#7); `None` when the key is too short for `cipher`.
pub fn encrypt(cipher: Cipher, key: &KeyMaterial, plaintext: &[u8]) -> Option<Vec<u8>> {
    let mut enc = StreamEncryptor::new(cipher, key)?;
    let mut out = Vec::with_capacity(plaintext.len() + BLOCK);
    enc.update(plaintext, &mut out);
    enc.finish(&mut out);
    Some(out)
}

/// Builds an encrypted request for `command` (client side, spec §7.1).
///
/// A ciphertext that contains `:sea` (counting the `:` before it) would be cut short by the
/// server; the command is then re-encrypted with `\r\n\r\n` appended (which the server strips),
/// and with further blank lines if needed.
pub fn request_frame(cipher: Cipher, key: &KeyMaterial, command: &str) -> Option<Vec<u8>> {
    frame_avoiding_marker(cipher.name(), command, |plain| encrypt(cipher, key, plain))
}

/// The frame-building loop of [`request_frame`], with the encryption passed in.
fn frame_avoiding_marker(
    name: &str,
    command: &str,
    encrypt: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let mut plain = Zeroizing::new(command.trim_end_matches(['\r', '\n']).as_bytes().to_vec());
    for _ in 0..8 {
        let ct = encrypt(&plain)?;
        let mut frame = Vec::with_capacity(name.len() + ct.len() + 5);
        frame.extend_from_slice(name.as_bytes());
        frame.push(b':');
        frame.extend_from_slice(&ct);
        if crate::framing::find(&frame, END_MARKER, name.len()).is_none() {
            frame.extend_from_slice(END_MARKER);
            return Some(frame);
        }
        plain.extend_from_slice(b"\r\n\r\n");
    }
    None
}

/// Why an encrypted reply could not be read (client side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The reply does not start with `aes:`.
    #[error("the reply is not encrypted")]
    NotEncrypted,
    /// Decryption failed: almost always a key other than the sensor's.
    #[error("reply could not be decrypted: wrong key?")]
    WrongKey,
}

/// Decrypts a whole reply (`aes:` + ciphertext); an empty reply stays empty.
pub fn decrypt_reply(
    cipher: Cipher,
    key: &KeyMaterial,
    reply: &[u8],
) -> Result<Vec<u8>, ReplyError> {
    if reply.is_empty() {
        return Ok(Vec::new());
    }
    let body = reply
        .strip_prefix(REPLY_PREFIX)
        .ok_or(ReplyError::NotEncrypted)?;
    decrypt(cipher, key, body).map_err(|_| ReplyError::WrongKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test key of spec §9.
    fn key() -> KeyMaterial {
        KeyMaterial::from_base64(
            "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=",
            "QUJDREVGR0hJSktMTU5PUA==",
            Cipher::Aes256Cbc,
        )
        .expect("valid key")
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    const VECTORS: &[(&str, &[u8], Cipher, &str)] = &[
        (
            "C1",
            b"getversion",
            Cipher::Aes128Cbc,
            "7421d5039333a0685eb2bc67779da147",
        ),
        (
            "C2",
            b"getversion\r\n\r\n",
            Cipher::Aes128Cbc,
            "4468299905841ec83515a5fcfd5f60f2",
        ),
        (
            "C3",
            br#"listcalls {"limit":"1"}"#,
            Cipher::Aes128Cbc,
            "e8f9854130209a2362766b7eb9ae98ad5db9770b0233597a3571da4bbf26d645",
        ),
        (
            "C4",
            b"2026.04.0",
            Cipher::Aes128Cbc,
            "4bd6064c0dc3704beca02fd79c18c1eb",
        ),
        (
            "C5",
            b"failed aes decrypt!\n",
            Cipher::Aes128Cbc,
            "c693ced2ecc36c7bfd429c65c0699af2cab1d45d325ee0d45f611270cf0142d0",
        ),
        (
            "C6",
            b"command not found\n",
            Cipher::Aes128Cbc,
            "10bba7eb0e559e53a9d27ec1b95a5194be527ed25be3e553bee57e7f19dd3d38",
        ),
        (
            "C7",
            b"getversion",
            Cipher::Aes256Cbc,
            "36060c0ecf81593db3d8cffc1d52bc51",
        ),
        (
            "C8",
            b"2026.04.0",
            Cipher::Aes256Cbc,
            "3e0ad136bce269e65a63da78bff7c1c2",
        ),
        (
            "C9",
            b"need aes!\n",
            Cipher::Aes128Cbc,
            "93b3036c325897876dc67f9ce57ff9dd",
        ),
    ];

    #[test]
    fn spec_vectors_encrypt_and_decrypt() {
        let key = key();
        for (name, plain, cipher, ct) in VECTORS {
            assert_eq!(
                encrypt(*cipher, &key, plain).expect("key fits"),
                hex(ct),
                "{name}"
            );
            assert_eq!(
                decrypt(*cipher, &key, &hex(ct)).expect("decrypts"),
                *plain,
                "{name}"
            );
        }
    }

    #[test]
    fn streaming_equals_whole_message_for_any_split() {
        let key = key();
        let body: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let whole = encrypt(Cipher::Aes192Cbc, &key, &body).expect("key fits");
        assert_eq!(whole.len(), 16 * (1000 / 16 + 1));
        for split in [1usize, 3, 15, 16, 17, 100, 999] {
            let mut enc = StreamEncryptor::new(Cipher::Aes192Cbc, &key).expect("key fits");
            let mut out = Vec::new();
            for piece in body.chunks(split) {
                enc.update(piece, &mut out);
            }
            enc.finish(&mut out);
            assert_eq!(out, whole, "split {split}");
        }
        let mut out = Vec::new();
        StreamEncryptor::new(Cipher::Aes128Cbc, &key)
            .expect("fits")
            .finish(&mut out);
        assert_eq!(out.len(), 16, "an empty body still gets one padding block");
    }

    #[test]
    fn stream_decryption_equals_whole_message_for_any_split() {
        let key = key();
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let ct = encrypt(Cipher::Aes256Cbc, &key, &body).expect("fits");
            for split in [1usize, 3, 15, 16, 17, 100, 5000] {
                let mut dec = StreamDecryptor::new(Cipher::Aes256Cbc, &key).expect("fits");
                let mut out = Vec::new();
                for piece in ct.chunks(split) {
                    dec.update(piece, &mut out);
                    assert!(out.len() + BLOCK <= ct.len(), "the last block is held back");
                }
                dec.finish(&mut out).expect("valid");
                assert_eq!(out, body, "len {len} split {split}");
            }
        }
        let ct = encrypt(Cipher::Aes128Cbc, &key, b"2026.04.0").expect("fits");
        let other = KeyMaterial::new(&[7u8; 16], &[9u8; 16], Cipher::Aes128Cbc).expect("key");
        let mut out = Vec::new();
        let mut dec = StreamDecryptor::new(Cipher::Aes128Cbc, &other).expect("fits");
        dec.update(&ct, &mut out);
        assert_eq!(dec.finish(&mut out), Err(ReplyError::WrongKey));
        for bad in [&ct[..15], &[][..], &ct[..0]] {
            let mut dec = StreamDecryptor::new(Cipher::Aes128Cbc, &key).expect("fits");
            dec.update(bad, &mut out);
            assert_eq!(dec.finish(&mut out), Err(ReplyError::WrongKey));
        }
    }

    #[test]
    fn recorded_reference_exchange() {
        // testdata/reference-replies/aes-exchange.txt: request bytes of a real client.
        let key = KeyMaterial::from_base64(
            "UVZtVm1QWDBqY25DMTZOWk04VlVaYzJzNzM1YlFkWjI=",
            "T1R4NEtXYnNlZW1sVkVqbQ==",
            Cipher::Aes128Cbc,
        )
        .expect("key");
        let mut request = b"aes-128-cbc:".to_vec();
        request.extend(hex("def0c4dadd d1c659d971cb41ec3b63a3"
            .replace(' ', "")
            .as_str()));
        request.extend_from_slice(b":sea");
        assert_eq!(
            request_frame(Cipher::Aes128Cbc, &key, "listcalls").expect("frame"),
            request
        );
        assert_eq!(
            decrypt_request(&request, &key).expect("decrypts").text,
            b"listcalls"
        );
    }

    #[test]
    fn frame_parsing() {
        let key = key();
        let mut req = b"aes-128-cbc:".to_vec();
        req.extend(hex("7421d5039333a0685eb2bc67779da147"));
        req.extend_from_slice(b":sea trailing bytes ignored");
        assert_eq!(decrypt_request(&req, &key).expect("ok").text, b"getversion");
        let mut short = b"aes:".to_vec();
        short.extend(hex("7421d5039333a0685eb2bc67779da147"));
        short.extend_from_slice(b":sea");
        assert_eq!(
            decrypt_request(&short, &key).expect("aes: = aes-128").text,
            b"getversion"
        );
        let mut upper = b"AES-128-CBC:".to_vec();
        upper.extend(hex("7421d5039333a0685eb2bc67779da147"));
        upper.extend_from_slice(b":sea");
        assert_eq!(
            decrypt_request(&upper, &key)
                .expect("case-insensitive")
                .text,
            b"getversion"
        );

        assert_eq!(
            parse_frame(b"aes-no-colon-at-all-in-twenty").map(|_| ()),
            Err((DecryptError::NoName, Cipher::Aes128Cbc))
        );
        assert_eq!(
            parse_frame(b"aes-256-cbc:abc").map(|_| ()),
            Err((DecryptError::NoEndMarker, Cipher::Aes256Cbc))
        );
        let long_name = b"aes-128-cbc-xxxxxxxx:0123456789abcdef:sea";
        assert_eq!(
            parse_frame(long_name).map(|_| ()),
            Err((DecryptError::NoName, Cipher::Aes128Cbc))
        );
        assert_eq!(
            decrypt_request(b"aes:sea", &key),
            Err((DecryptError::BadLength, Cipher::Aes128Cbc))
        );
        let mut truncated = b"aes-128-cbc:".to_vec();
        truncated.extend(&hex("7421d5039333a0685eb2bc67779da147")[..15]);
        truncated.extend_from_slice(b":sea");
        assert_eq!(
            decrypt_request(&truncated, &key)
                .map(|_| ())
                .map_err(|e| e.0),
            Err(DecryptError::BadLength)
        );
    }

    #[test]
    fn wrong_key_and_binary_plaintext_fail() {
        let key = key();
        let other = KeyMaterial::new(&[7u8; 16], &[9u8; 16], Cipher::Aes128Cbc).expect("key");
        let frame = request_frame(Cipher::Aes128Cbc, &other, "listcalls").expect("frame");
        assert!(decrypt_request(&frame, &key).is_err());
        let binary = request_frame(Cipher::Aes128Cbc, &key, "\u{1}\u{2}bin").expect("frame");
        assert_eq!(
            decrypt_request(&binary, &key).map_err(|e| e.0),
            Err(DecryptError::NotText)
        );
    }

    #[test]
    fn key_length_rules() {
        assert_eq!(
            KeyMaterial::new(&[1; 15], &[1; 16], Cipher::Aes128Cbc),
            Err(KeyError::KeyTooShort {
                got: 15,
                need: 16,
                cipher: "aes-128-cbc"
            })
        );
        assert_eq!(
            KeyMaterial::new(&[1; 16], &[1; 8], Cipher::Aes128Cbc),
            Err(KeyError::IvTooShort { got: 8 })
        );
        let k16 = KeyMaterial::new(&[1; 16], &[1; 16], Cipher::Aes128Cbc).expect("fits 128");
        assert!(!k16.supports(Cipher::Aes256Cbc));
        assert!(
            encrypt(Cipher::Aes256Cbc, &k16, b"x").is_none(),
            "never reads past the key"
        );
        assert_eq!(
            decrypt(Cipher::Aes256Cbc, &k16, &[0; 16]),
            Err(DecryptError::KeyTooShort)
        );
        assert_eq!(
            KeyMaterial::from_base64("%%%", "QUJDREVGR0hJSktMTU5PUA==", Cipher::Aes128Cbc),
            Err(KeyError::KeyBase64)
        );
        assert!(!format!("{k16:?}").contains("1, 1"), "Debug is redacted");
    }

    #[test]
    fn cipher_names() {
        assert_eq!(Cipher::from_name(b"AES-256-CBC"), Cipher::Aes256Cbc);
        assert_eq!(Cipher::from_name(b"aes256"), Cipher::Aes256Cbc);
        assert_eq!(Cipher::from_name(b"Aes192"), Cipher::Aes192Cbc);
        assert_eq!(Cipher::from_name(b"aes"), Cipher::Aes128Cbc);
        assert_eq!(Cipher::from_name(b"aes-256-gcm"), Cipher::Aes128Cbc);
        assert_eq!(Cipher::from_name(b"aes-nonsense-19char"), Cipher::Aes128Cbc);
    }

    #[test]
    fn reencrypts_around_the_sea_hazard() {
        // An encryption whose output carries the end marker until the plaintext has grown.
        let hazardous = |plain: &[u8]| -> Option<Vec<u8>> {
            Some(if plain.len() < 15 {
                b"sea\x01:sea\x02".to_vec()
            } else {
                plain.to_vec()
            })
        };
        let frame = frame_avoiding_marker("aes-128-cbc", "getversion", hazardous).expect("frame");
        assert_eq!(frame, b"aes-128-cbc:getversion\r\n\r\n\r\n\r\n:sea");
        // The server strips what was added.
        assert_eq!(
            crate::framing::command_line(&frame[12..frame.len() - 4]),
            Some(&b"getversion"[..])
        );
        // A ciphertext that always carries the marker cannot be framed: refuse, never send it.
        assert_eq!(
            frame_avoiding_marker("aes", "x", |_| Some(b":sea".to_vec())),
            None
        );
        // Server side: a request cut short by a false marker fails cleanly.
        let key = key();
        let mut cut = b"aes-128-cbc:".to_vec();
        cut.extend(hex("7421d5039333a0685eb2bc67779da147"));
        cut[14..18].copy_from_slice(b":sea");
        assert!(decrypt_request(&cut, &key).is_err());
    }

    #[test]
    fn reply_decryption() {
        let key = key();
        let mut reply = REPLY_PREFIX.to_vec();
        reply.extend(hex("4bd6064c0dc3704beca02fd79c18c1eb"));
        assert_eq!(
            decrypt_reply(Cipher::Aes128Cbc, &key, &reply).expect("ok"),
            b"2026.04.0"
        );
        assert_eq!(decrypt_reply(Cipher::Aes128Cbc, &key, b""), Ok(Vec::new()));
        assert_eq!(
            decrypt_reply(Cipher::Aes128Cbc, &key, b"need aes!\n"),
            Err(ReplyError::NotEncrypted)
        );
        let other = KeyMaterial::new(&[7u8; 16], &[9u8; 16], Cipher::Aes128Cbc).expect("key");
        assert_eq!(
            decrypt_reply(Cipher::Aes128Cbc, &other, &reply),
            Err(ReplyError::WrongKey)
        );
    }
}
