//! Spool cleaning (behaviour spec §1.10): `maxpoolsize` / `maxpooldays` and the per-type
//! `maxpoolsip*` / `maxpoolrtp*` limits delete the oldest minute folders first.
//!
//! Only folders of the spool layout are ever touched: `<root>/YYYY-MM-DD/HH/MM/<TYPE>/` with
//! digits where digits belong. Symbolic links are neither followed nor counted. A minute
//! folder that holds a file of a call still open in the [`crate::Spool`] is never deleted
//! (see [`crate::Spool::active_minutes`]); emptied hour and day folders are removed.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The limits; `None` (the reference's 0) means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanLimits {
    /// `maxpoolsize`: the whole spool, bytes.
    pub max_bytes: Option<u64>,
    /// `maxpooldays`: the whole spool, days.
    pub max_days: Option<u64>,
    /// `maxpoolsipsize`: `SIP` (and `REG`) folders, bytes.
    pub max_sip_bytes: Option<u64>,
    /// `maxpoolsipdays`.
    pub max_sip_days: Option<u64>,
    /// `maxpoolrtpsize`: `RTP` folders, bytes.
    pub max_rtp_bytes: Option<u64>,
    /// `maxpoolrtpdays`.
    pub max_rtp_days: Option<u64>,
}

impl CleanLimits {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

/// What a cleaning pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanReport {
    /// Type folders (`…/MM/SIP` etc.) deleted.
    pub deleted: usize,
    /// Bytes of the files deleted.
    pub freed_bytes: u64,
    /// Folders a limit selected but that hold files of active calls.
    pub kept_active: usize,
    /// Bytes in the spool after the pass.
    pub remaining_bytes: u64,
}

/// One `<root>/YYYY-MM-DD/HH/MM/<TYPE>` folder.
#[derive(Debug, Clone)]
struct TypeDir {
    /// `YYYY-MM-DD/HH/MM`.
    minute: String,
    /// Unix seconds of the minute's start.
    unix: i64,
    kind: String,
    path: PathBuf,
    bytes: u64,
}

fn digits(s: &str, n: usize) -> Option<i64> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Unix seconds of `YYYY-MM-DD` `HH` `MM`, when they are a valid date and time.
fn minute_unix(day: &str, hour: &str, minute: &str) -> Option<i64> {
    let mut p = day.split('-');
    let (y, m, d) = (
        digits(p.next()?, 4)?,
        digits(p.next()?, 2)?,
        digits(p.next()?, 2)?,
    );
    if p.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (h, mi) = (digits(hour, 2)?, digits(minute, 2)?);
    if h > 23 || mi > 59 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60)
}

/// Directory entries that are real directories (not symlinks), by name.
fn subdirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    out.sort();
    out
}

/// Bytes of the regular files under `dir` (symlinks not followed).
fn size_of(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size_of(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

fn scan(root: &Path) -> Vec<TypeDir> {
    let mut out = Vec::new();
    for (day, day_path) in subdirs(root) {
        for (hour, hour_path) in subdirs(&day_path) {
            for (minute, minute_path) in subdirs(&hour_path) {
                let Some(unix) = minute_unix(&day, &hour, &minute) else {
                    continue;
                };
                for (kind, path) in subdirs(&minute_path) {
                    let bytes = size_of(&path);
                    out.push(TypeDir {
                        minute: format!("{day}/{hour}/{minute}"),
                        unix,
                        kind,
                        path,
                        bytes,
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| (a.unix, &a.kind).cmp(&(b.unix, &b.kind)));
    out
}

/// One cleaning pass over `root` at `now_unix`. `active` holds the `YYYY-MM-DD/HH/MM` minutes
/// with files of calls still open; they are never deleted.
pub fn clean(
    root: &Path,
    limits: &CleanLimits,
    now_unix: i64,
    active: &HashSet<String>,
) -> io::Result<CleanReport> {
    let mut dirs = scan(root);
    let mut report = CleanReport::default();
    let mut doomed = vec![false; dirs.len()];
    let old = |days: Option<u64>, d: &TypeDir| {
        days.is_some_and(|n| {
            let age = i64::try_from(n.saturating_mul(86_400)).unwrap_or(i64::MAX);
            // A minute is older than N days once its last second is.
            d.unix + 60 <= now_unix.saturating_sub(age)
        })
    };
    let is_sip = |d: &TypeDir| d.kind == "SIP" || d.kind == "REG";
    let is_rtp = |d: &TypeDir| d.kind == "RTP";
    for (i, d) in dirs.iter().enumerate() {
        doomed[i] = old(limits.max_days, d)
            || (is_sip(d) && old(limits.max_sip_days, d))
            || (is_rtp(d) && old(limits.max_rtp_days, d));
    }
    // Size limits: whole minutes (of the selected types), oldest first, until the total fits.
    let mut over = |max: Option<u64>, select: &dyn Fn(&TypeDir) -> bool| {
        let Some(max) = max else { return };
        let mut total: u64 = dirs
            .iter()
            .zip(&doomed)
            .filter(|(d, gone)| select(d) && !**gone)
            .map(|(d, _)| d.bytes)
            .sum();
        let mut i = 0;
        while i < dirs.len() && total > max {
            let minute = dirs[i].unix;
            let end = dirs[i..]
                .iter()
                .position(|d| d.unix != minute)
                .map_or(dirs.len(), |n| i + n);
            if !active.contains(&dirs[i].minute) {
                for j in i..end {
                    if select(&dirs[j]) && !doomed[j] {
                        doomed[j] = true;
                        total = total.saturating_sub(dirs[j].bytes);
                    }
                }
            }
            i = end;
        }
    };
    over(limits.max_sip_bytes, &is_sip);
    over(limits.max_rtp_bytes, &is_rtp);
    over(limits.max_bytes, &|_| true);
    let mut touched = HashSet::new();
    for (d, gone) in dirs.iter_mut().zip(&doomed) {
        if !*gone {
            continue;
        }
        if active.contains(&d.minute) {
            report.kept_active += 1;
            continue;
        }
        fs::remove_dir_all(&d.path)?;
        report.deleted += 1;
        report.freed_bytes += d.bytes;
        d.bytes = 0;
        touched.insert(d.minute.clone());
    }
    report.remaining_bytes = dirs.iter().map(|d| d.bytes).sum();
    // Remove minute, hour and day folders left empty (remove_dir fails on non-empty ones).
    let mut parents: BTreeMap<PathBuf, ()> = BTreeMap::new();
    for minute in &touched {
        let m = root.join(minute);
        for p in [
            m.clone(),
            m.parent().map(Path::to_path_buf).unwrap_or_default(),
        ] {
            parents.insert(p, ());
        }
        if let Some(day) = m.parent().and_then(Path::parent) {
            parents.insert(day.to_path_buf(), ());
        }
    }
    let mut by_depth: Vec<PathBuf> = parents.into_keys().collect();
    by_depth.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in by_depth {
        if p.starts_with(root) && p != root {
            let _ = fs::remove_dir(&p);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_parsing() {
        assert_eq!(minute_unix("2026-04-14", "11", "57"), Some(1_776_167_820));
        assert_eq!(minute_unix("1970-01-01", "00", "00"), Some(0));
        assert_eq!(minute_unix("2026-4-14", "11", "57"), None);
        assert_eq!(minute_unix("2026-04-14", "24", "00"), None);
        assert_eq!(minute_unix("2026-13-01", "00", "00"), None);
        assert_eq!(minute_unix("filesindex", "00", "00"), None);
    }
}
