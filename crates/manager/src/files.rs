//! The file commands' file-system half (spec §4.11): finding a name inside the spool
//! directories, sizes, and streaming a file through the reply's gzip and AES stages in pieces,
//! so memory stays constant whatever the file's size.
//!
//! Confinement: the name passes [`files::confined_relative`] (relative, no `..`, no NUL); its
//! canonical path (every symlink resolved) must lie inside the canonical spool directory; the
//! file is opened without following a final symlink, and the path the kernel reports for the
//! opened descriptor is checked again, so swapping a directory for a symlink between the check
//! and the open does not escape either. Error replies name the file as the client gave it.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use tracing::{debug, warn};
use voipsensor_manager_proto::files::{
    self, ACCESS_DENIED, FileRequest, Found, PcapRecords, Refused, SpoolDirs, SpoolType,
};
use voipsensor_manager_proto::output::ReplyEncoder;
use voipsensor_manager_proto::zip;

/// Bytes read from the file at a time.
const READ_CHUNK: usize = 64 << 10;

/// Why a name cannot be served.
#[derive(Debug)]
pub(crate) enum Failure {
    /// It leads out of the spool: `access denied`.
    Denied,
    /// Missing, unreadable or not a regular file.
    Io(io::Error),
}

/// A file ready to be streamed.
#[derive(Debug)]
pub(crate) struct FileBody {
    file: File,
    /// Size when opened: nothing written later is served.
    size: u64,
    /// For a classic pcap: where its last complete record ends.
    pcap: Option<PcapRecords>,
    /// Gzip it on the way (`getfile_zip`, and the file is not gzip already).
    zip: bool,
}

impl FileBody {
    /// Whether the body goes through the gzip stage.
    pub(crate) fn zip(&self) -> bool {
        self.zip
    }
}

/// What a file request produced.
#[derive(Debug)]
pub(crate) enum Prepared {
    /// A short text reply (sizes, errors).
    Text(Vec<u8>),
    /// A file to stream.
    File(FileBody),
}

/// Carries out the file-system part of a request. Blocking: run it off the async threads.
pub(crate) fn prepare(dirs: Option<&SpoolDirs>, request: &FileRequest) -> Prepared {
    let Some(dirs) = dirs else {
        return Prepared::Text(files::reply_without_spool(request));
    };
    match request {
        FileRequest::Get {
            rel,
            index,
            ty,
            zip,
        } => {
            let text = |t: Vec<u8>| Prepared::Text(if *zip { zip::gzip(&t) } else { t });
            match open(dirs, rel, *index, *ty) {
                Ok((file, size)) => {
                    let mut head = [0u8; 4];
                    let n = file.read_at(&mut head, 0).unwrap_or(0);
                    let head = &head[..n];
                    Prepared::File(FileBody {
                        pcap: PcapRecords::detect(head, size),
                        zip: *zip && !zip::is_gzip(head),
                        file,
                        size,
                    })
                }
                Err(Failure::Denied) => {
                    debug!(name = %String::from_utf8_lossy(rel), "file request refused: outside the spool");
                    text(ACCESS_DENIED.to_vec())
                }
                Err(Failure::Io(e)) => {
                    debug!(name = %String::from_utf8_lossy(rel), error = %e, "cannot serve file");
                    text(files::cannot_open(rel))
                }
            }
        }
        FileRequest::Exists {
            names,
            multi,
            index,
            ty,
        } => {
            let found: Vec<Found> = names
                .iter()
                .map(|n| exists_with_volumes(dirs, n, *index, *ty))
                .collect();
            Prepared::Text(files::exists_reply(names, &found, *multi))
        }
        FileRequest::Size { path } => Prepared::Text(size_reply(dirs, path)),
    }
}

/// The canonical spool directory and the canonical path of `rel` in it; [`Failure::Denied`]
/// when the path leads outside.
pub(crate) fn resolve(dir: &Path, rel: &Path) -> Result<(PathBuf, PathBuf), Failure> {
    let root = std::fs::canonicalize(dir).map_err(Failure::Io)?;
    let path = std::fs::canonicalize(root.join(rel)).map_err(Failure::Io)?;
    if files::is_inside(&root, &path) {
        Ok((root, path))
    } else {
        Err(Failure::Denied)
    }
}

/// Looks `rel` up in the candidate directories of its type, in order. A name that leads out of
/// any of them is refused outright.
fn locate(
    dirs: &SpoolDirs,
    rel: &Path,
    index: u32,
    ty: SpoolType,
) -> Result<(PathBuf, PathBuf), Failure> {
    let mut last = None;
    for dir in dirs.candidates(index, ty, rel) {
        match resolve(dir, rel) {
            Ok(found) => return Ok(found),
            Err(Failure::Denied) => return Err(Failure::Denied),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Failure::Io(io::ErrorKind::NotFound.into())))
}

/// Checks a client's name and finds it.
fn find(
    dirs: &SpoolDirs,
    name: &[u8],
    index: u32,
    ty: SpoolType,
) -> Result<(PathBuf, PathBuf), Failure> {
    match files::confined_relative(name) {
        Ok(rel) => locate(dirs, rel, index, ty),
        Err(Refused::Empty) => Err(Failure::Io(io::ErrorKind::NotFound.into())),
        Err(_) => Err(Failure::Denied),
    }
}

/// Opens a regular file for streaming: its handle and size.
fn open(dirs: &SpoolDirs, name: &[u8], index: u32, ty: SpoolType) -> Result<(File, u64), Failure> {
    let (root, path) = find(dirs, name, index, ty)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        // No final symlink (the path is canonical: one now is a swap); a FIFO must not block.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(Failure::Io)?;
    // A directory on the way may have been swapped for a symlink since the check: the kernel
    // knows what was really opened.
    if let Ok(real) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        && !files::is_inside(&root, &real)
    {
        warn!(name = %String::from_utf8_lossy(name), "spool path changed into a link out of the spool while opening it");
        return Err(Failure::Denied);
    }
    let meta = file.metadata().map_err(Failure::Io)?;
    if !meta.is_file() {
        return Err(Failure::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    Ok((file, meta.len()))
}

fn found_from_io(e: &io::Error) -> Found {
    if e.kind() == io::ErrorKind::PermissionDenied {
        Found::PermissionDenied
    } else {
        Found::Missing
    }
}

/// `file_exists` for one name, without volumes.
fn exists(dirs: &SpoolDirs, name: &[u8], index: u32, ty: SpoolType) -> Found {
    match find(dirs, name, index, ty) {
        Ok((_, path)) => match std::fs::metadata(&path) {
            Ok(m) => Found::Size(m.len(), Vec::new()),
            Err(e) => found_from_io(&e),
        },
        Err(Failure::Denied) => Found::Refused,
        Err(Failure::Io(e)) => found_from_io(&e),
    }
}

/// `file_exists` for one name, with the sizes of `NAME.1` … `NAME.5` for tar names.
fn exists_with_volumes(dirs: &SpoolDirs, name: &[u8], index: u32, ty: SpoolType) -> Found {
    let mut found = exists(dirs, name, index, ty);
    if let Found::Size(size, volumes) = &mut found
        && *size > 0
        && files::has_volumes(name)
    {
        for i in 1..=files::MAX_TAR_VOLUME {
            let mut volume = name.to_vec();
            volume.extend_from_slice(format!(".{i}").as_bytes());
            match exists(dirs, &volume, index, ty) {
                Found::Size(s, _) if s > 0 => volumes.push(s),
                _ => break,
            }
        }
    }
    found
}

/// `fileexists PATH`: the size (signed 32-bit) of a file inside a spool directory, given by an
/// absolute path (as the GUI sends it) or relative to `spooldir`; `0` for anything missing or
/// outside the spool, so the reply reveals nothing about other files.
fn size_reply(dirs: &SpoolDirs, path: &[u8]) -> Vec<u8> {
    let zero = b"0".to_vec();
    let Some(abs) = path.strip_prefix(b"/") else {
        return match exists(dirs, path, 0, SpoolType::Auto) {
            Found::Size(size, _) => files::size_i32(size),
            _ => zero,
        };
    };
    // The same lexical rules, applied to the part after the leading `/`.
    if files::confined_relative(abs).is_err() {
        return zero;
    }
    let Ok(canonical) = std::fs::canonicalize(Path::new(OsStr::from_bytes(path))) else {
        return zero;
    };
    let inside = dirs
        .roots()
        .into_iter()
        .any(|root| std::fs::canonicalize(root).is_ok_and(|r| files::is_inside(&r, &canonical)));
    match std::fs::metadata(&canonical) {
        Ok(m) if inside => files::size_i32(m.len()),
        _ => zero,
    }
}

/// Streams `body` through `encoder`: reads pieces of the file, cuts a pcap after its last
/// complete record, and hands the encoded bytes to `send` in pieces of about `piece` bytes.
/// Stops early (without an error) when `send` returns false (the client is gone).
///
/// Blocking; memory is a read buffer, the encoder's state and one output piece.
pub(crate) fn stream(
    body: FileBody,
    mut encoder: ReplyEncoder,
    piece: usize,
    mut send: impl FnMut(Vec<u8>) -> bool,
) -> io::Result<()> {
    let FileBody {
        mut file,
        size,
        mut pcap,
        ..
    } = body;
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    // File offsets: of buf[0], and of the end of what has been read.
    let (mut at, mut read_to) = (0u64, 0u64);
    let mut out = Vec::with_capacity(piece + 64);
    loop {
        let end = pcap.as_ref().and_then(PcapRecords::end).unwrap_or(size);
        if at >= end {
            break;
        }
        let room = READ_CHUNK.saturating_sub(buf.len());
        let want = usize::try_from((end - read_to).min(room as u64)).unwrap_or(room);
        let mut got = 0;
        if want > 0 {
            let old = buf.len();
            buf.resize(old + want, 0);
            got = read_full(&mut file, &mut buf[old..])?;
            buf.truncate(old + got);
            read_to += got as u64;
        }
        let servable = match pcap.as_mut() {
            Some(t) => t.servable(&buf, at).min(read_to),
            None => read_to,
        };
        let n = usize::try_from(servable.saturating_sub(at)).unwrap_or(0);
        encoder.push(&buf[..n], &mut out);
        buf.drain(..n);
        at = servable;
        if out.len() >= piece && !send(std::mem::replace(&mut out, Vec::with_capacity(piece + 64)))
        {
            return Ok(());
        }
        if got < want || (want == 0 && n == 0) {
            // The file is shorter than when it was opened (or nothing more can be served).
            break;
        }
    }
    encoder.finish(&mut out);
    if !out.is_empty() {
        send(out);
    }
    Ok(())
}

/// Reads until `buf` is full or the file ends; the number of bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn spool() -> (tempfile::TempDir, SpoolDirs) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let main = tmp.path().join("spool");
        std::fs::create_dir_all(main.join("2024-01-02/10/05/SIP")).expect("mkdir");
        std::fs::write(main.join("2024-01-02/10/05/SIP/a.pcap"), b"0123456789").expect("write");
        std::fs::write(tmp.path().join("secret"), b"top secret").expect("write");
        let dirs = SpoolDirs {
            main,
            ..SpoolDirs::default()
        };
        (tmp, dirs)
    }

    fn get(dirs: &SpoolDirs, name: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
        let req = FileRequest::Get {
            rel: name.to_vec(),
            index: 0,
            ty: SpoolType::Auto,
            zip: false,
        };
        match prepare(Some(dirs), &req) {
            Prepared::Text(t) => Err(t),
            Prepared::File(body) => {
                let mut all = Vec::new();
                stream(body, ReplyEncoder::new(false, None), 7, |p| {
                    all.extend(p);
                    true
                })
                .expect("stream");
                Ok(all)
            }
        }
    }

    #[test]
    fn serves_files_inside_the_spool_only() {
        let (tmp, dirs) = spool();
        assert_eq!(
            get(&dirs, b"2024-01-02/10/05/SIP/a.pcap"),
            Ok(b"0123456789".to_vec())
        );
        assert_eq!(
            get(&dirs, b"2024-01-02/10/05/SIP/./a.pcap"),
            Ok(b"0123456789".to_vec())
        );
        for bad in [&b"../secret"[..], b"2024-01-02/../../secret"] {
            assert_eq!(get(&dirs, bad), Err(b"access denied".to_vec()));
        }
        let abs = tmp.path().join("secret");
        assert_eq!(
            get(&dirs, abs.as_os_str().as_encoded_bytes()),
            Err(b"access denied".to_vec())
        );
        // Symlinks: out of the spool refused (file or directory), inside allowed.
        symlink(tmp.path().join("secret"), dirs.main.join("out")).expect("symlink");
        symlink(tmp.path(), dirs.main.join("outdir")).expect("symlink");
        symlink("2024-01-02", dirs.main.join("today")).expect("symlink");
        assert_eq!(get(&dirs, b"out"), Err(b"access denied".to_vec()));
        assert_eq!(get(&dirs, b"outdir/secret"), Err(b"access denied".to_vec()));
        assert_eq!(
            get(&dirs, b"today/10/05/SIP/a.pcap"),
            Ok(b"0123456789".to_vec())
        );
        // Errors name the file as given, never the spool's path.
        let missing = get(&dirs, b"2024-01-02/nope.pcap").expect_err("missing");
        assert_eq!(missing, b"error: cannot open file 2024-01-02/nope.pcap");
        assert_eq!(
            get(&dirs, b"2024-01-02").expect_err("a directory"),
            b"error: cannot open file 2024-01-02"
        );
        // A spool directory that does not exist.
        let gone = SpoolDirs {
            main: tmp.path().join("nope"),
            ..SpoolDirs::default()
        };
        assert_eq!(get(&gone, b"a"), Err(b"error: cannot open file a".to_vec()));
    }

    #[test]
    fn a_spool_that_is_itself_a_symlink_works() {
        let (tmp, dirs) = spool();
        let link = tmp.path().join("spool-link");
        symlink(&dirs.main, &link).expect("symlink");
        let via_link = SpoolDirs {
            main: link,
            ..SpoolDirs::default()
        };
        assert_eq!(
            get(&via_link, b"2024-01-02/10/05/SIP/a.pcap"),
            Ok(b"0123456789".to_vec())
        );
    }

    #[test]
    fn fifo_is_not_served_and_does_not_block() {
        let (_tmp, dirs) = spool();
        let fifo = dirs.main.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if made {
            assert_eq!(
                get(&dirs, b"fifo"),
                Err(b"error: cannot open file fifo".to_vec())
            );
        }
    }

    #[test]
    fn sizes_and_volumes() {
        let (tmp, dirs) = spool();
        std::fs::write(dirs.main.join("x.tar"), vec![0u8; 100]).expect("write");
        std::fs::write(dirs.main.join("x.tar.1"), vec![0u8; 50]).expect("write");
        std::fs::write(dirs.main.join("x.tar.2"), b"").expect("write");
        std::fs::write(dirs.main.join("x.tar.3"), b"zzz").expect("write");
        std::fs::write(dirs.main.join("empty"), b"").expect("write");
        let ask = |names: &[&[u8]], multi: bool| match prepare(
            Some(&dirs),
            &FileRequest::Exists {
                names: names.iter().map(|n| n.to_vec()).collect(),
                multi,
                index: 0,
                ty: SpoolType::Auto,
            },
        ) {
            Prepared::Text(t) => String::from_utf8_lossy(&t).into_owned(),
            Prepared::File(_) => panic!("text expected"),
        };
        assert_eq!(
            ask(&[b"x.tar"], false),
            "100;x.tar.1:50",
            "stops at an empty volume"
        );
        assert_eq!(ask(&[b"empty"], false), "0");
        assert_eq!(ask(&[b"nope"], false), "not_exists");
        assert_eq!(ask(&[b"../secret"], false), "access denied");
        assert_eq!(
            ask(&[b"nope", b"2024-01-02/10/05/SIP/a.pcap", b"empty"], true),
            "ok\n2024-01-02/10/05/SIP/a.pcap:10\nempty:0"
        );
        assert_eq!(ask(&[b"nope", b"nope2"], true), "not_exists");
        let size = |path: &[u8]| match prepare(
            Some(&dirs),
            &FileRequest::Size {
                path: path.to_vec(),
            },
        ) {
            Prepared::Text(t) => String::from_utf8_lossy(&t).into_owned(),
            Prepared::File(_) => panic!("text expected"),
        };
        let inside = dirs.main.join("x.tar");
        let outside = tmp.path().join("secret");
        assert_eq!(size(inside.as_os_str().as_encoded_bytes()), "100");
        assert_eq!(size(b"x.tar"), "100");
        assert_eq!(size(outside.as_os_str().as_encoded_bytes()), "0");
        assert_eq!(size(b"/etc/passwd"), "0");
        assert_eq!(size(b"../secret"), "0");
        let sneaky = format!("{}/../secret", dirs.main.display());
        assert_eq!(size(sneaky.as_bytes()), "0");
        assert_eq!(size(b"nope"), "0");
    }

    #[test]
    fn found_from_io_errors() {
        assert_eq!(
            found_from_io(&io::ErrorKind::PermissionDenied.into()),
            Found::PermissionDenied
        );
        assert_eq!(
            found_from_io(&io::ErrorKind::NotFound.into()),
            Found::Missing
        );
    }

    #[test]
    fn streamed_layers_and_pcap_cut() {
        let (_tmp, dirs) = spool();
        // A pcap: header, one 40-byte record, then half a record.
        let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1];
        pcap.extend([0u8; 20]);
        for len in [40u32, 1000] {
            pcap.extend([0u8; 8]);
            pcap.extend(len.to_le_bytes());
            pcap.extend(len.to_le_bytes());
            pcap.extend(vec![7u8; len as usize]);
        }
        let complete = 24 + 16 + 40;
        std::fs::write(dirs.main.join("p.pcap"), &pcap[..pcap.len() - 500]).expect("write");
        assert_eq!(get(&dirs, b"p.pcap"), Ok(pcap[..complete].to_vec()));
        // A big file through gzip: constant pieces, same content.
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(dirs.main.join("big"), &big).expect("write");
        let Prepared::File(body) = prepare(
            Some(&dirs),
            &FileRequest::Get {
                rel: b"big".to_vec(),
                index: 0,
                ty: SpoolType::Main,
                zip: true,
            },
        ) else {
            panic!("file expected");
        };
        assert!(body.zip());
        let mut all = Vec::new();
        let mut largest = 0;
        stream(body, ReplyEncoder::new(true, None), 65536, |p| {
            largest = largest.max(p.len());
            all.extend(p);
            true
        })
        .expect("stream");
        assert!(largest < 2 * 65536 + 1024, "pieces stay bounded: {largest}");
        assert_eq!(zip::gunzip(&all).expect("gzip"), big);
        // An already gzip file is sent as is by getfile_zip.
        std::fs::write(dirs.main.join("g.gz"), zip::gzip(b"hello")).expect("write");
        let Prepared::File(body) = prepare(
            Some(&dirs),
            &FileRequest::Get {
                rel: b"g.gz".to_vec(),
                index: 0,
                ty: SpoolType::Auto,
                zip: true,
            },
        ) else {
            panic!("file expected");
        };
        assert!(!body.zip());
        // The client going away stops the stream.
        let Prepared::File(body) = prepare(
            Some(&dirs),
            &FileRequest::Get {
                rel: b"big".to_vec(),
                index: 0,
                ty: SpoolType::Auto,
                zip: false,
            },
        ) else {
            panic!("file expected");
        };
        let mut calls = 0;
        stream(body, ReplyEncoder::new(false, None), 1000, |_| {
            calls += 1;
            false
        })
        .expect("stream");
        assert_eq!(calls, 1);
    }

    #[test]
    fn auto_type_prefers_the_type_directory_when_the_file_is_there() {
        let (tmp, mut dirs) = spool();
        let rtp = tmp.path().join("rtp");
        std::fs::create_dir_all(rtp.join("2024/RTP")).expect("mkdir");
        std::fs::create_dir_all(dirs.main.join("2024/RTP")).expect("mkdir");
        std::fs::write(rtp.join("2024/RTP/a.pcap"), b"in rtp").expect("write");
        std::fs::write(dirs.main.join("2024/RTP/b.pcap"), b"in main").expect("write");
        dirs.rtp = Some(rtp);
        assert_eq!(get(&dirs, b"2024/RTP/a.pcap"), Ok(b"in rtp".to_vec()));
        assert_eq!(get(&dirs, b"2024/RTP/b.pcap"), Ok(b"in main".to_vec()));
    }
}
