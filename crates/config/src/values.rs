//! Strict parsers for single option values. Each returns the message of a
//! [`ConfigError`](crate::ConfigError) on failure; the caller adds file, line and key.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Longest Unix socket path that fits `sockaddr_un.sun_path` (108 bytes with the NUL).
pub const MAX_UNIX_SOCKET_PATH_BYTES: usize = 107;

/// Reads a VoIPmonitor `yes/no` value: true iff it starts with `y`, `Y` or `1`.
///
/// Returns the value and, for spellings other than the usual "no" ones (`no`, `n`, `0`, empty,
/// `false`, `off`), a warning message: `true` or `on` look like "yes" but the reference reads
/// them as "no", and so do we.
pub(crate) fn parse_bool(value: &str) -> (bool, Option<String>) {
    if value.starts_with(['y', 'Y', '1']) {
        return (true, None);
    }
    let silent_no = ["", "no", "n", "0", "false", "off"];
    if silent_no.iter().any(|no| value.eq_ignore_ascii_case(no)) {
        return (false, None);
    }
    (
        false,
        Some(format!(
            "value \"{value}\" is read as \"no\": only values starting with y, Y or 1 mean yes"
        )),
    )
}

/// An IPv4 or IPv6 literal; `[::1]` is accepted too.
pub(crate) fn parse_ip(value: &str) -> Result<IpAddr, String> {
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    inner.parse::<IpAddr>().map_err(|_| {
        format!("invalid IP address \"{value}\" (expected an IPv4 or IPv6 literal such as 127.0.0.1 or ::1)")
    })
}

fn all_digits(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())
}

/// A TCP port; `allow_zero` decides whether 0 (= disabled) is valid.
pub(crate) fn parse_port(value: &str, allow_zero: bool) -> Result<u16, String> {
    let min = if allow_zero { 0 } else { 1 };
    let invalid = || format!("invalid port \"{value}\" (expected {min}-65535)");
    if !all_digits(value) {
        return Err(invalid());
    }
    match value.parse::<u16>() {
        Ok(port) if port >= min => Ok(port),
        _ => Err(invalid()),
    }
}

/// An unsigned count with a minimum.
pub(crate) fn parse_count(value: &str, min: usize) -> Result<usize, String> {
    let invalid = || format!("invalid number \"{value}\" (expected an integer >= {min})");
    if !all_digits(value) {
        return Err(invalid());
    }
    match value.parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(invalid()),
    }
}

/// A byte size: plain bytes or a number with suffix `k`/`K` (×1024) or `m`/`M` (×1024²).
pub(crate) fn parse_size(value: &str, min: usize) -> Result<usize, String> {
    let invalid = || {
        format!(
            "invalid size \"{value}\" (expected bytes, or a number with suffix k or m, \
             at least {min} bytes)"
        )
    };
    let (number, factor) = match value.char_indices().last() {
        Some((i, 'k' | 'K')) => (value.get(..i).unwrap_or_default(), 1024),
        Some((i, 'm' | 'M')) => (value.get(..i).unwrap_or_default(), 1024 * 1024),
        _ => (value, 1),
    };
    let number = number.trim_end();
    if !all_digits(number) {
        return Err(invalid());
    }
    match number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
    {
        Some(bytes) if bytes >= min => Ok(bytes),
        _ => Err(invalid()),
    }
}

/// A positive number of seconds, decimals allowed (`2.5`).
pub(crate) fn parse_seconds(value: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration \"{value}\" (expected seconds > 0, e.g. 10 or 2.5)");
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    let shape_ok = (all_digits(whole) || (whole.is_empty() && !frac.is_empty()))
        && (frac.is_empty() || all_digits(frac))
        && !value.ends_with('.');
    if !shape_ok {
        return Err(invalid());
    }
    match value.parse::<f64>().ok().map(Duration::try_from_secs_f64) {
        Some(Ok(d)) if !d.is_zero() => Ok(d),
        _ => Err(invalid()),
    }
}

/// `id_sensor`: `-1` or empty = unset, otherwise an unsigned 32-bit integer.
pub(crate) fn parse_id_sensor(value: &str) -> Result<Option<u32>, String> {
    if value.is_empty() || value == "-1" {
        return Ok(None);
    }
    if !all_digits(value) {
        return Err(format!(
            "invalid sensor id \"{value}\" (expected -1 for unset or 0-{})",
            u32::MAX
        ));
    }
    value.parse::<u32>().map(Some).map_err(|_| {
        format!(
            "invalid sensor id \"{value}\" (expected -1 for unset or 0-{})",
            u32::MAX
        )
    })
}

/// A comma-separated list; items trimmed, empty items dropped.
pub(crate) fn parse_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A path that must not be empty.
pub(crate) fn parse_path(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err("empty path".to_owned());
    }
    Ok(PathBuf::from(value))
}

/// An optional directory (`spooldir_rtp`, `spooldir_2`, …): empty = not set.
pub(crate) fn parse_optional_path(value: &str) -> Result<Option<PathBuf>, String> {
    Ok((!value.is_empty()).then(|| PathBuf::from(value)))
}

/// `managersocket`: empty = no socket; at most [`MAX_UNIX_SOCKET_PATH_BYTES`] bytes.
pub(crate) fn parse_socket_path(value: &str) -> Result<Option<PathBuf>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > MAX_UNIX_SOCKET_PATH_BYTES {
        return Err(format!(
            "socket path is {} bytes long; a Unix socket path may have at most {} bytes",
            value.len(),
            MAX_UNIX_SOCKET_PATH_BYTES
        ));
    }
    Ok(Some(PathBuf::from(value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn booleans() {
        for yes in ["yes", "Yes", "y", "Y", "1", "yes please", "10"] {
            assert_eq!(parse_bool(yes), (true, None), "{yes}");
        }
        for no in ["no", "NO", "n", "0", "", "false", "False", "off", "OFF"] {
            assert_eq!(parse_bool(no), (false, None), "{no}");
        }
        for odd in ["true", "on", "TRUE", "enabled", "2"] {
            let (value, warning) = parse_bool(odd);
            assert!(!value, "{odd}");
            let warning = warning.unwrap_or_default();
            assert!(warning.contains("read as \"no\""), "{warning}");
            assert!(warning.contains("y, Y or 1"), "{warning}");
        }
    }

    #[test]
    fn ip_addresses() {
        assert_eq!(parse_ip("127.0.0.1"), Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(parse_ip("::1"), Ok(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(parse_ip("[::1]"), Ok(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(parse_ip("0.0.0.0"), Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert!(parse_ip("fe80::1%eth0").is_err());
        for bad in [
            "",
            "localhost",
            "1.2.3",
            "256.1.1.1",
            "[127.0.0.1",
            "::1]",
            "1.2.3.4:5029",
        ] {
            assert!(parse_ip(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("0", true), Ok(0));
        assert_eq!(parse_port("65535", true), Ok(65535));
        assert_eq!(
            parse_port("70000", true),
            Err("invalid port \"70000\" (expected 0-65535)".to_owned())
        );
        assert!(parse_port("0", false).is_err());
        for bad in ["", "-1", "+1", "5029x", " 1", "0x10"] {
            assert!(parse_port(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("1", 1), Ok(1));
        assert!(parse_count("0", 1).is_err());
        assert!(parse_count("-3", 1).is_err());
        assert!(parse_count("99999999999999999999999", 1).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576", 64), Ok(1_048_576));
        assert_eq!(parse_size("64", 64), Ok(64));
        assert_eq!(parse_size("4k", 64), Ok(4096));
        assert_eq!(parse_size("4K", 64), Ok(4096));
        assert_eq!(parse_size("2m", 64), Ok(2 * 1024 * 1024));
        assert_eq!(parse_size("2 M", 64), Ok(2 * 1024 * 1024));
        for bad in [
            "63",
            "0",
            "",
            "k",
            "1g",
            "1.5m",
            "-1",
            "99999999999999999999m",
            "m1",
        ] {
            assert!(parse_size(bad, 64).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_seconds("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_seconds(".5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("0.001"), Ok(Duration::from_millis(1)));
        for bad in [
            "0", "0.0", "", ".", "1.", "-1", "1e3", "inf", "NaN", "1.2.3", "10s",
        ] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
        assert!(parse_seconds("1".repeat(400).as_str()).is_err());
    }

    #[test]
    fn id_sensor() {
        assert_eq!(parse_id_sensor("-1"), Ok(None));
        assert_eq!(parse_id_sensor(""), Ok(None));
        assert_eq!(parse_id_sensor("0"), Ok(Some(0)));
        assert_eq!(parse_id_sensor("7"), Ok(Some(7)));
        assert_eq!(parse_id_sensor("4294967295"), Ok(Some(u32::MAX)));
        for bad in ["-2", "4294967296", "abc", "1.5", "+1"] {
            assert!(parse_id_sensor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists() {
        assert_eq!(parse_list(" eth0 , ,eth1,"), vec!["eth0", "eth1"]);
        assert!(parse_list("").is_empty());
        assert_eq!(parse_list("any"), vec!["any"]);
    }

    #[test]
    fn paths() {
        assert_eq!(parse_path("/x"), Ok(PathBuf::from("/x")));
        assert!(parse_path("").is_err());
        assert_eq!(parse_optional_path(""), Ok(None));
        assert_eq!(parse_optional_path("/r"), Ok(Some(PathBuf::from("/r"))));
        assert_eq!(parse_socket_path(""), Ok(None));
        assert_eq!(
            parse_socket_path("/tmp/s"),
            Ok(Some(PathBuf::from("/tmp/s")))
        );
        let max = format!("/{}", "a".repeat(106));
        assert!(parse_socket_path(&max).is_ok());
        let too_long = format!("/{}", "a".repeat(107));
        let err = parse_socket_path(&too_long).err().unwrap_or_default();
        assert!(err.contains("108 bytes"), "{err}");
    }
}
