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

/// Civil date (proleptic Gregorian, UTC) and seconds of the day of unix seconds.
fn civil(unix: i64) -> (i64, i64, i64, i64) {
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
    (y, m, d, rem)
}

/// [`datetime`] through `core::fmt`: years outside 0..=9999.
fn datetime_fmt(unix: i64) -> String {
    let (y, m, d, rem) = civil(unix);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `YYYY-MM-DD HH:MM:SS` in UTC for unix seconds.
pub(crate) fn datetime(unix: i64) -> String {
    let (y, m, d, rem) = civil(unix);
    if !(0..=9999).contains(&y) {
        return datetime_fmt(unix);
    }
    // Without `core::fmt`: the text is formatted for every listed call and registration.
    let mut b = *b"0000-00-00 00:00:00";
    let mut put = |at: usize, v: i64, width: usize| {
        let mut v = v;
        for i in (at..at + width).rev() {
            b[i] = b'0' + u8::try_from(v % 10).unwrap_or(0);
            v /= 10;
        }
    };
    put(0, y, 4);
    put(5, m, 2);
    put(8, d, 2);
    put(11, rem / 3600, 2);
    put(14, rem % 3600 / 60, 2);
    put(17, rem % 60, 2);
    String::from_utf8_lossy(&b).into_owned()
}

/// `0x` and the lower-case hex digits of `v`: `format!("0x{v:x}")` without `core::fmt`.
pub(crate) fn hex0x(v: u64) -> String {
    let mut b = [0u8; 18];
    let mut i = b.len();
    let mut v = v;
    loop {
        i -= 1;
        b[i] = b"0123456789abcdef"[usize::try_from(v & 15).unwrap_or(0)];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    i -= 2;
    b[i..i + 2].copy_from_slice(b"0x");
    String::from_utf8_lossy(&b[i..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(datetime(0), "1970-01-01 00:00:00");
        assert_eq!(datetime(1_776_167_857), "2026-04-14 11:57:37");
        assert_eq!(datetime(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(datetime(253_402_300_799), "9999-12-31 23:59:59");
        assert_eq!(datetime(253_402_300_800), "10000-01-01 00:00:00");
        assert_eq!(datetime(-1), "1969-12-31 23:59:59");
        assert_eq!(datetime(-62_167_219_201), "-001-12-31 23:59:59");
        let mut t: i64 = -70_000_000_000;
        while t < 260_000_000_000 {
            assert_eq!(datetime(t), datetime_fmt(t), "{t}");
            t += 7_777_777;
        }
    }

    #[test]
    fn hex_like_fmt() {
        for v in [
            0,
            1,
            15,
            16,
            255,
            0x7f00_0000_0100,
            u64::MAX,
            0x7f00_0001_2345,
        ] {
            assert_eq!(hex0x(v), format!("0x{v:x}"));
        }
    }

    #[test]
    fn bounded_text() {
        assert_eq!(text(&[b'a'; 1000]).len(), MAX_FIELD);
        assert_eq!(lower(b"ABC"), "abc");
    }
}
