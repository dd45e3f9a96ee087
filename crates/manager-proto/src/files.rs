//! File commands (spec §4.11): `getfile`, `getfile_zip`, `file_exists`, `fileexists`.
//!
//! This module holds what needs no file system: argument parsing, the lexical half of path
//! confinement, the choice of spool directory, the reply texts, and the tracker that cuts a pcap
//! file at its last complete record. The server resolves, opens and streams the file.
//!
//! Confinement, stricter than the reference (which only refuses `../`): a name must be relative,
//! free of NUL bytes and of `..` components ([`confined_relative`]); the server then checks that
//! the canonical path (symlinks resolved) lies inside the canonical spool directory.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};

/// Reply to a name that is refused (absolute, `..`, NUL, or a symlink out of the spool).
pub const ACCESS_DENIED: &[u8] = b"access denied";
/// `file_exists`: no such file.
pub const NOT_EXISTS: &[u8] = b"not_exists";
/// `file_exists`: the file could not be examined (`EACCES`).
pub const PERMISSION_DENIED: &[u8] = b"permission_denied";
/// `getfile_is_zip_support`.
pub const ZIP_SUPPORTED: &[u8] = b"OK";
/// Highest continuation volume `file_exists` looks for (`NAME.1` … `NAME.5`).
pub const MAX_TAR_VOLUME: u32 = 5;

/// The reply to a file that cannot be served: `error: cannot open file REL`, with the name as
/// the client gave it (the reference prints the absolute path, which reveals the spool layout).
pub fn cannot_open(rel: &[u8]) -> Vec<u8> {
    let mut out = b"error: cannot open file ".to_vec();
    out.extend_from_slice(rel);
    out
}

/// The spool directories the file commands may read (from the configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolDirs {
    /// `spooldir`.
    pub main: PathBuf,
    /// `spooldir_rtp`, when set.
    pub rtp: Option<PathBuf>,
    /// `spooldir_graph`, when set.
    pub graph: Option<PathBuf>,
    /// `spooldir_audio`, when set.
    pub audio: Option<PathBuf>,
    /// `spooldir_2` (spool index 1), when set.
    pub secondary: Option<PathBuf>,
}

/// The file type a request names (its TYPE argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoolType {
    /// 0: chosen from the name (a `RTP`, `GRAPH` or `AUDIO` directory in it).
    Auto,
    /// 1–5 (SIP, REG, SKINNY, MGCP, SS7), 9 and anything unknown: the main directory.
    Main,
    /// 6: `spooldir_rtp`.
    Rtp,
    /// 7: `spooldir_graph`.
    Graph,
    /// 8: `spooldir_audio`.
    Audio,
}

impl SpoolType {
    /// The type for a TYPE argument; unknown numbers mean the main directory, as in the
    /// reference.
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Self::Auto,
            6 => Self::Rtp,
            7 => Self::Graph,
            8 => Self::Audio,
            _ => Self::Main,
        }
    }

    /// The type a name points at by one of its directories (`…/RTP/…`), for [`Self::Auto`].
    fn named_by(rel: &Path) -> Self {
        let dirs = rel.parent().map(Path::components).into_iter().flatten();
        for c in dirs {
            match c.as_os_str().as_bytes() {
                b"RTP" => return Self::Rtp,
                b"GRAPH" => return Self::Graph,
                b"AUDIO" => return Self::Audio,
                _ => {}
            }
        }
        Self::Main
    }
}

impl SpoolDirs {
    /// The main directory of spool `index`: `spooldir_2` for 1 when it is set, else `spooldir`.
    fn base(&self, index: u32) -> &Path {
        match (&self.secondary, index) {
            (Some(second), 1) => second,
            _ => &self.main,
        }
    }

    /// The directory of `ty` in spool `index`. The secondary spool has no per-type
    /// directories: every type is in `spooldir_2` itself.
    pub fn dir(&self, index: u32, ty: SpoolType) -> &Path {
        if index == 1 && self.secondary.is_some() {
            return self.base(1);
        }
        let own = match ty {
            SpoolType::Rtp => self.rtp.as_deref(),
            SpoolType::Graph => self.graph.as_deref(),
            SpoolType::Audio => self.audio.as_deref(),
            SpoolType::Auto | SpoolType::Main => None,
        };
        own.unwrap_or(&self.main)
    }

    /// Where to look for `rel`, in order. With [`SpoolType::Auto`] the directory of the type the
    /// name points at comes first (used when the file is there), then the main directory.
    pub fn candidates(&self, index: u32, ty: SpoolType, rel: &Path) -> Vec<&Path> {
        let main = self.dir(index, SpoolType::Main);
        let first = match ty {
            SpoolType::Auto => self.dir(index, SpoolType::named_by(rel)),
            other => self.dir(index, other),
        };
        if first == main || ty != SpoolType::Auto {
            vec![first]
        } else {
            vec![first, main]
        }
    }

    /// Every configured directory (what `fileexists` accepts absolute paths in).
    pub fn roots(&self) -> Vec<&Path> {
        let mut out = vec![self.main.as_path()];
        for d in [&self.rtp, &self.graph, &self.audio, &self.secondary]
            .into_iter()
            .flatten()
        {
            if !out.contains(&d.as_path()) {
                out.push(d);
            }
        }
        out
    }
}

/// A name that may not be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Empty name.
    Empty,
    /// An absolute path.
    Absolute,
    /// A `..` component.
    ParentDir,
    /// A NUL byte.
    Nul,
}

/// The lexical half of confinement: `rel` as a path if it is relative, has no `..` component
/// and no NUL byte. The server still checks the canonical path against the spool directory
/// (symlinks); this function alone is not enough.
pub fn confined_relative(rel: &[u8]) -> Result<&Path, Refused> {
    if rel.is_empty() {
        return Err(Refused::Empty);
    }
    if rel.contains(&0) {
        return Err(Refused::Nul);
    }
    let path = Path::new(OsStr::from_bytes(rel));
    if rel.starts_with(b"/") {
        return Err(Refused::Absolute);
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(Refused::ParentDir);
    }
    Ok(path)
}

/// Whether a canonical path lies inside (or is) a canonical directory. Both must already be
/// canonical (`/a/b` is inside `/a`; `/ab` is not).
pub fn is_inside(canonical_dir: &Path, canonical_path: &Path) -> bool {
    canonical_path.starts_with(canonical_dir)
}

/// A file request, carried out by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRequest {
    /// `getfile` / `getfile_zip REL [SPOOL_INDEX [TYPE]]`: stream the file.
    Get {
        /// The name as given.
        rel: Vec<u8>,
        /// SPOOL_INDEX.
        index: u32,
        /// TYPE.
        ty: SpoolType,
        /// `getfile_zip`: gzip the file unless it already is gzip.
        zip: bool,
    },
    /// `file_exists NAME[|NAME…] [SPOOL_INDEX [TYPE]]`: sizes.
    Exists {
        /// The names as given (one for the single form).
        names: Vec<Vec<u8>>,
        /// The `|`-joined form (`ok\n` + lines).
        multi: bool,
        /// SPOOL_INDEX.
        index: u32,
        /// TYPE.
        ty: SpoolType,
    },
    /// `fileexists PATH`: size as a signed 32-bit number, `0` when missing or refused.
    Size {
        /// The path as given.
        path: Vec<u8>,
    },
}

/// Splits the arguments after a command name into whitespace-separated words.
fn words(args: &[u8]) -> impl Iterator<Item = &[u8]> {
    args.split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
}

/// `REL [SPOOL_INDEX [TYPE]]`: a missing or unparsable number counts as 0, as the reference's
/// `sscanf` leaves it.
fn name_index_type(args: &[u8]) -> (Vec<u8>, u32, SpoolType) {
    let mut w = words(args);
    let rel = w.next().unwrap_or_default().to_vec();
    let number = |word: Option<&[u8]>| -> i64 {
        word.and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    let index = u32::try_from(number(w.next())).unwrap_or(0);
    let ty = SpoolType::from_code(number(w.next()));
    (rel, index, ty)
}

/// `getfile` / `getfile_zip` arguments.
pub fn parse_get(args: &[u8], zip: bool) -> FileRequest {
    let (rel, index, ty) = name_index_type(args);
    FileRequest::Get {
        rel,
        index,
        ty,
        zip,
    }
}

/// `file_exists` arguments: a `|` in the name selects the multi-name form.
pub fn parse_exists(args: &[u8]) -> FileRequest {
    let (rel, index, ty) = name_index_type(args);
    let multi = rel.contains(&b'|');
    let names = if multi {
        rel.split(|&b| b == b'|')
            .filter(|n| !n.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    } else {
        vec![rel]
    };
    FileRequest::Exists {
        names,
        multi,
        index,
        ty,
    }
}

/// `fileexists` arguments: the first word.
pub fn parse_size(args: &[u8]) -> FileRequest {
    FileRequest::Size {
        path: words(args).next().unwrap_or_default().to_vec(),
    }
}

/// What the server found for one `file_exists` name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The file exists: its size, then the sizes of its continuation volumes `NAME.1`….
    Size(u64, Vec<u64>),
    /// No such file.
    Missing,
    /// `EACCES` while looking.
    PermissionDenied,
    /// Refused by confinement.
    Refused,
}

/// The `file_exists` reply for `names` and what was found for each (same order).
///
/// Single form: `SIZE[;NAME.1:SIZE…]`, `not_exists` or `permission_denied`. Multi form:
/// `ok\n` + `NAME:SIZE[;NAME.1:SIZE…]` per found name joined by `\n`, or `not_exists` /
/// `permission_denied` when none was found. Any refused name makes the reply `access denied`.
pub fn exists_reply(names: &[Vec<u8>], found: &[Found], multi: bool) -> Vec<u8> {
    if found.contains(&Found::Refused) {
        return ACCESS_DENIED.to_vec();
    }
    let volumes = |out: &mut Vec<u8>, name: &[u8], sizes: &[u64]| {
        for (i, size) in sizes.iter().enumerate() {
            out.push(b';');
            out.extend_from_slice(name);
            out.extend_from_slice(format!(".{}:{size}", i + 1).as_bytes());
        }
    };
    let mut lines = Vec::new();
    for (name, f) in names.iter().zip(found) {
        if let Found::Size(size, vols) = f {
            let mut line = Vec::new();
            if multi {
                line.extend_from_slice(name);
                line.push(b':');
            }
            line.extend_from_slice(size.to_string().as_bytes());
            volumes(&mut line, name, vols);
            lines.push(line);
        }
    }
    if lines.is_empty() {
        return if found.contains(&Found::PermissionDenied) {
            PERMISSION_DENIED.to_vec()
        } else {
            NOT_EXISTS.to_vec()
        };
    }
    if !multi {
        return lines.swap_remove(0);
    }
    let mut out = b"ok\n".to_vec();
    out.extend_from_slice(&lines.join(&b'\n'));
    out
}

/// The reply to `request` from a sensor without a spool: no file can be opened or found.
pub fn reply_without_spool(request: &FileRequest) -> Vec<u8> {
    match request {
        FileRequest::Get { rel, zip, .. } => {
            let text = cannot_open(rel);
            if *zip { crate::zip::gzip(&text) } else { text }
        }
        FileRequest::Exists { names, multi, .. } => {
            let found: Vec<Found> = names.iter().map(|_| Found::Missing).collect();
            exists_reply(names, &found, *multi)
        }
        FileRequest::Size { .. } => b"0".to_vec(),
    }
}

/// Whether `file_exists` looks for continuation volumes of `name` (the reference does for names
/// containing `tar`).
pub fn has_volumes(name: &[u8]) -> bool {
    crate::framing::find(name, b"tar", 0).is_some()
}

/// `fileexists`: the size as the reference prints it, a signed 32-bit number (sizes of 2 GiB and
/// more wrap negative; clients expect exactly that).
pub fn size_i32(size: u64) -> Vec<u8> {
    let low = u32::try_from(size & 0xffff_ffff).unwrap_or(0);
    i32::from_ne_bytes(low.to_ne_bytes())
        .to_string()
        .into_bytes()
}

/// Classic pcap: the global header's length.
pub const PCAP_FILE_HEADER: u64 = 24;
/// Classic pcap: a record header's length.
pub const PCAP_RECORD_HEADER: u64 = 16;

/// Cuts a classic pcap file (µs or ns magic, either byte order) after its last complete record,
/// so a file still being written is served as a valid capture.
///
/// Fed the file's bytes in order, it tells how far they may be served: a record counts once its
/// header has been read and its end lies within the size the file had when it was opened.
#[derive(Debug, Clone)]
pub struct PcapRecords {
    little_endian: bool,
    size: u64,
    /// Offset of the next record header (everything before it is servable).
    next: u64,
    /// Set once the end is known: the offset where serving stops.
    cut: Option<u64>,
}

impl PcapRecords {
    /// A tracker for a file of `size` bytes starting with `head`; `None` when `head` does not
    /// start with a classic pcap magic (the file is then served whole).
    pub fn detect(head: &[u8], size: u64) -> Option<Self> {
        let magic: [u8; 4] = head.get(..4)?.try_into().ok()?;
        let little_endian = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
            [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
            _ => return None,
        };
        Some(Self {
            little_endian,
            size,
            next: PCAP_FILE_HEADER,
            // Not even a whole file header: nothing is a valid capture yet.
            cut: (size < PCAP_FILE_HEADER).then_some(0),
        })
    }

    /// The end of what may be served (a file offset), given `data` = the file's bytes from
    /// offset `at` on. The caller must keep every byte from the returned offset on and pass
    /// it again (with more) next time; it never needs to keep more than a record header.
    pub fn servable(&mut self, data: &[u8], at: u64) -> u64 {
        loop {
            if let Some(cut) = self.cut {
                return cut;
            }
            if self.next + PCAP_RECORD_HEADER > self.size {
                // The end of the file, or a record header cut short.
                self.cut = Some(self.next);
                continue;
            }
            let Some(start) = self
                .next
                .checked_sub(at)
                .and_then(|s| usize::try_from(s).ok())
            else {
                return self.next;
            };
            let Some(header) = data.get(start..start + 16) else {
                return self.next;
            };
            let len_bytes = [header[8], header[9], header[10], header[11]];
            let incl_len = if self.little_endian {
                u32::from_le_bytes(len_bytes)
            } else {
                u32::from_be_bytes(len_bytes)
            };
            let end = self.next + PCAP_RECORD_HEADER + u64::from(incl_len);
            if end > self.size {
                self.cut = Some(self.next);
            } else {
                self.next = end;
            }
        }
    }

    /// Where serving ends, once known: the caller stops reading when it has served up to here.
    pub fn end(&self) -> Option<u64> {
        self.cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confinement_is_lexical_and_strict() {
        assert_eq!(
            confined_relative(b"2024-01-02/10/05/SIP/a.pcap"),
            Ok(Path::new("2024-01-02/10/05/SIP/a.pcap"))
        );
        assert_eq!(confined_relative(b"./a/./b"), Ok(Path::new("./a/./b")));
        assert_eq!(
            confined_relative(b"a..b/c...d"),
            Ok(Path::new("a..b/c...d"))
        );
        assert_eq!(confined_relative(b""), Err(Refused::Empty));
        assert_eq!(confined_relative(b"/etc/passwd"), Err(Refused::Absolute));
        assert_eq!(confined_relative(b"//etc/passwd"), Err(Refused::Absolute));
        for bad in [
            &b"../x"[..],
            b"..",
            b"a/../../x",
            b"a/..",
            b"a//../b",
            b"a/./../b",
        ] {
            assert_eq!(
                confined_relative(bad),
                Err(Refused::ParentDir),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(confined_relative(b"a\0/b"), Err(Refused::Nul));
        assert_eq!(confined_relative(b"a/\0"), Err(Refused::Nul));
        assert!(is_inside(Path::new("/s"), Path::new("/s/a")));
        assert!(is_inside(Path::new("/s"), Path::new("/s")));
        assert!(!is_inside(Path::new("/s"), Path::new("/spool/a")));
        assert!(!is_inside(Path::new("/s/x"), Path::new("/s")));
    }

    #[test]
    fn argument_parsing() {
        assert_eq!(
            parse_get(b" a/b.pcap", false),
            FileRequest::Get {
                rel: b"a/b.pcap".to_vec(),
                index: 0,
                ty: SpoolType::Auto,
                zip: false
            }
        );
        assert_eq!(
            parse_get(b"  a   1  6 extra", true),
            FileRequest::Get {
                rel: b"a".to_vec(),
                index: 1,
                ty: SpoolType::Rtp,
                zip: true
            }
        );
        assert_eq!(
            parse_get(b" a x -3", false),
            FileRequest::Get {
                rel: b"a".to_vec(),
                index: 0,
                ty: SpoolType::Main,
                zip: false
            }
        );
        assert_eq!(
            parse_exists(b" a|b||c 0 7"),
            FileRequest::Exists {
                names: vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()],
                multi: true,
                index: 0,
                ty: SpoolType::Graph
            }
        );
        assert_eq!(
            parse_size(b" /var/spool/x y"),
            FileRequest::Size {
                path: b"/var/spool/x".to_vec()
            }
        );
        assert_eq!(
            parse_get(b"", false),
            FileRequest::Get {
                rel: Vec::new(),
                index: 0,
                ty: SpoolType::Auto,
                zip: false
            }
        );
    }

    #[test]
    fn spool_directory_choice() {
        let mut dirs = SpoolDirs {
            main: "/s".into(),
            ..SpoolDirs::default()
        };
        let rel = Path::new("2024/RTP/a.pcap");
        assert_eq!(
            dirs.candidates(0, SpoolType::Auto, rel),
            vec![Path::new("/s")]
        );
        assert_eq!(
            dirs.dir(1, SpoolType::Main),
            Path::new("/s"),
            "no spooldir_2"
        );
        dirs.rtp = Some("/r".into());
        dirs.audio = Some("/au".into());
        dirs.secondary = Some("/s2".into());
        assert_eq!(
            dirs.candidates(0, SpoolType::Auto, rel),
            vec![Path::new("/r"), Path::new("/s")]
        );
        assert_eq!(
            dirs.candidates(0, SpoolType::Auto, Path::new("2024/AUDIO/a.wav")),
            vec![Path::new("/au"), Path::new("/s")]
        );
        assert_eq!(
            dirs.candidates(0, SpoolType::Auto, Path::new("RTP")),
            vec![Path::new("/s")],
            "the file name itself is not a type directory"
        );
        assert_eq!(
            dirs.candidates(0, SpoolType::Rtp, Path::new("x")),
            vec![Path::new("/r")]
        );
        assert_eq!(
            dirs.candidates(0, SpoolType::Graph, rel),
            vec![Path::new("/s")],
            "no spooldir_graph: main"
        );
        assert_eq!(
            dirs.candidates(0, SpoolType::Main, rel),
            vec![Path::new("/s")]
        );
        assert_eq!(
            dirs.candidates(1, SpoolType::Auto, rel),
            vec![Path::new("/s2")]
        );
        assert_eq!(
            dirs.roots(),
            vec![
                Path::new("/s"),
                Path::new("/r"),
                Path::new("/au"),
                Path::new("/s2")
            ]
        );
        assert_eq!(SpoolType::from_code(9), SpoolType::Main);
        assert_eq!(SpoolType::from_code(8), SpoolType::Audio);
    }

    #[test]
    fn exists_replies() {
        let names = vec![b"a.tar".to_vec(), b"b".to_vec(), b"c".to_vec()];
        let found = [
            Found::Size(10, vec![5, 3]),
            Found::Missing,
            Found::Size(0, vec![]),
        ];
        assert_eq!(
            exists_reply(&names, &found, true),
            b"ok\na.tar:10;a.tar.1:5;a.tar.2:3\nc:0"
        );
        assert_eq!(
            exists_reply(&names[..1], &found[..1], false),
            b"10;a.tar.1:5;a.tar.2:3"
        );
        assert_eq!(exists_reply(&names[2..], &found[2..], false), b"0");
        assert_eq!(
            exists_reply(&names[1..2], &found[1..2], false),
            b"not_exists"
        );
        assert_eq!(
            exists_reply(&names[1..2], &[Found::PermissionDenied], true),
            b"permission_denied"
        );
        assert_eq!(
            exists_reply(&names[..2], &[Found::Size(1, vec![]), Found::Refused], true),
            b"access denied"
        );
        assert!(has_volumes(b"2024/x.tar.gz") && !has_volumes(b"x.pcap"));
    }

    #[test]
    fn fileexists_size_wraps_like_a_signed_32_bit_int() {
        assert_eq!(size_i32(0), b"0");
        assert_eq!(size_i32(1234), b"1234");
        assert_eq!(size_i32((1 << 31) - 1), b"2147483647");
        assert_eq!(size_i32(1 << 31), b"-2147483648");
        assert_eq!(size_i32(3 << 30), b"-1073741824");
        assert_eq!(size_i32((1 << 32) + 5), b"5");
    }

    /// A pcap file: global header then records of the given payload lengths.
    fn pcap(little: bool, nanos: bool, payloads: &[usize]) -> Vec<u8> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let u32b = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let mut out = Vec::new();
        out.extend(u32b(magic));
        out.extend([0u8; 16]);
        out.extend(u32b(1));
        for (i, &len) in payloads.iter().enumerate() {
            out.extend(u32b(u32::try_from(i).unwrap_or(0)));
            out.extend(u32b(0));
            out.extend(u32b(u32::try_from(len).unwrap_or(0)));
            out.extend(u32b(u32::try_from(len).unwrap_or(0)));
            out.extend(std::iter::repeat_n(u8::try_from(i % 256).unwrap_or(0), len));
        }
        out
    }

    /// Feeds `file` in `chunk`-byte reads the way the server does; returns the served bytes.
    fn serve(file: &[u8], chunk: usize) -> Vec<u8> {
        let size = u64::try_from(file.len()).unwrap_or(0);
        let Some(mut t) = PcapRecords::detect(file, size) else {
            return file.to_vec();
        };
        let mut out = Vec::new();
        let (mut buf, mut at, mut pos) = (Vec::new(), 0u64, 0usize);
        loop {
            let take = chunk.min(file.len() - pos);
            buf.extend_from_slice(&file[pos..pos + take]);
            pos += take;
            let end = t.servable(&buf, at).min(at + buf.len() as u64);
            let n = usize::try_from(end - at).unwrap_or(0);
            out.extend_from_slice(&buf[..n]);
            buf.drain(..n);
            at = end;
            assert!(
                buf.len() < 16 || t.end().is_some(),
                "keeps at most a record header"
            );
            if t.end().is_some_and(|e| at >= e) || pos == file.len() {
                break;
            }
        }
        out
    }

    #[test]
    fn pcap_served_up_to_the_last_complete_record() {
        for (little, nanos) in [(true, false), (false, false), (true, true), (false, true)] {
            let whole = pcap(little, nanos, &[60, 0, 1500, 7]);
            let three = pcap(little, nanos, &[60, 0, 1500]).len();
            for chunk in [1, 3, 16, 17, 100, 4096, 1 << 20] {
                assert_eq!(serve(&whole, chunk), whole, "complete, chunk {chunk}");
                // Cut inside the last record's body, inside its header, right after it.
                for cut in [whole.len() - 1, three + 20, three + 15, three + 1] {
                    assert_eq!(
                        serve(&whole[..cut], chunk),
                        &whole[..three],
                        "little {little} nanos {nanos} chunk {chunk} cut {cut}"
                    );
                }
                assert_eq!(serve(&whole[..three], chunk), &whole[..three]);
                assert_eq!(serve(&whole[..24], chunk), &whole[..24], "header only");
                assert_eq!(serve(&whole[..23], chunk), b"", "partial file header");
            }
        }
    }

    #[test]
    fn pcap_detection() {
        assert!(PcapRecords::detect(&[0xd4, 0xc3, 0xb2, 0xa1], 24).is_some());
        assert!(PcapRecords::detect(&[0x4d, 0x3c, 0xb2, 0xa1], 24).is_some());
        assert!(PcapRecords::detect(&[0xa1, 0xb2, 0xc3, 0xd4], 24).is_some());
        assert!(PcapRecords::detect(&[0xa1, 0xb2, 0x3c, 0x4d], 24).is_some());
        // pcapng, gzip, text, too short: served whole.
        assert!(PcapRecords::detect(&[0x0a, 0x0d, 0x0d, 0x0a], 24).is_none());
        assert!(PcapRecords::detect(&[0x1f, 0x8b, 8, 0], 24).is_none());
        assert!(PcapRecords::detect(b"hello", 5).is_none());
        assert!(PcapRecords::detect(&[0xd4, 0xc3, 0xb2], 3).is_none());
        // An absurd record length (corrupt file) ends the served part there.
        let mut bad = pcap(true, false, &[10]);
        bad.extend([0u8; 8]);
        bad.extend(u32::MAX.to_le_bytes());
        bad.extend([0u8; 100]);
        assert_eq!(serve(&bad, 64), pcap(true, false, &[10]));
    }
}
