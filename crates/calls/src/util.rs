//! Small helpers: bounded strings, time formatting.

/// Longest text field kept (caller, agent, domains …), in bytes.
pub(crate) const MAX_FIELD: usize = 255;

/// Microseconds per second.
pub(crate) const SEC: u64 = 1_000_000;

/// Bytes as a bounded, lossily decoded string.
pub(crate) fn text(b: &[u8]) -> String {
    let b = &b[..b.len().min(MAX_FIELD)];
    String::from_utf8_lossy(b).into_owned()
}

/// Bytes as a bounded, lossily decoded string, lower-cased (ASCII).
pub(crate) fn lower(b: &[u8]) -> String {
    text(b).to_ascii_lowercase()
}

/// Whole seconds of a µs timestamp.
pub(crate) fn secs(us: u64) -> i64 {
    i64::try_from(us / SEC).unwrap_or(i64::MAX)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC for unix seconds.
pub(crate) fn datetime(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let rem = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(datetime(0), "1970-01-01 00:00:00");
        assert_eq!(datetime(1_776_167_857), "2026-04-14 11:57:37");
        assert_eq!(datetime(951_782_400), "2000-02-29 00:00:00");
    }

    #[test]
    fn bounded_text() {
        assert_eq!(text(&[b'a'; 1000]).len(), MAX_FIELD);
        assert_eq!(lower(b"ABC"), "abc");
    }
}
