//! Table values and the reference's JSON conventions (spec §3.3).

use std::cmp::Ordering;
use std::fmt::Write as _;

/// One cell of a `listcalls` / `listregisters` row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` (unset numbers, empty strings, absent countries).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer (also IPv4 addresses as host-order `u32`).
    Int(i64),
    /// A float, printed in fixed notation with six decimals.
    Float(f64),
    /// A string; an empty string is emitted as `null` in table rows.
    Str(String),
}

impl Value {
    /// A string cell, `null` when empty.
    pub fn str(s: impl Into<String>) -> Self {
        let s = s.into();
        if s.is_empty() {
            Self::Null
        } else {
            Self::Str(s)
        }
    }

    /// An optional string cell.
    pub fn opt_str(s: Option<impl Into<String>>) -> Self {
        s.map_or(Self::Null, Self::str)
    }

    /// An IP address cell: IPv4 as a host-order integer, IPv6 as a string (spec §3.3).
    pub fn ip(ip: std::net::IpAddr) -> Self {
        match ip {
            std::net::IpAddr::V4(v4) => Self::Int(i64::from(u32::from(v4))),
            std::net::IpAddr::V6(v6) => Self::Str(v6.to_string()),
        }
    }

    /// Appends this value as JSON.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Int(i) => write_int(out, *i),
            Self::Float(f) if f.is_finite() => write_float6(out, *f),
            Self::Float(_) => out.push_str("null"),
            Self::Str(s) if s.is_empty() => out.push_str("null"),
            Self::Str(s) => write_string(out, s),
        }
    }

    /// Total order used by `sort_field`: nulls first, then numbers, then strings.
    pub fn sort_cmp(&self, other: &Self) -> Ordering {
        fn rank(v: &Value) -> u8 {
            match v {
                Value::Null => 0,
                Value::Bool(_) | Value::Int(_) | Value::Float(_) => 1,
                Value::Str(_) => 2,
            }
        }
        match (self, other) {
            (Self::Str(a), Self::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (a, b) if rank(a) == 1 && rank(b) == 1 => a.number().total_cmp(&b.number()),
            (a, b) => rank(a).cmp(&rank(b)),
        }
    }

    fn number(&self) -> f64 {
        match self {
            Self::Bool(b) => f64::from(u8::from(*b)),
            #[allow(clippy::cast_precision_loss)] // ordering only
            Self::Int(i) => *i as f64,
            Self::Float(f) => *f,
            Self::Null | Self::Str(_) => 0.0,
        }
    }
}

/// A table row: one value per column.
pub type Row = Vec<Value>;

/// Appends `s` as a JSON string the way the reference escapes it: `\\`, `"`, `/` (as `\/`),
/// `\b`, `\f`, `\n`, `\r`, `\t`. Other control characters, which the reference emits raw (and
/// so produces invalid JSON), are written as `\u00XX`.
///
/// Runs of bytes that need no escape are copied whole (all escaped characters are ASCII, so
/// every run ends on a character boundary).
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !NEEDS_ESCAPE[usize::from(b)] {
            continue;
        }
        let esc: &str = match b {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            b'/' => "\\/",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        start = i + 1;
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push_str(esc);
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Bytes [`write_string`] escapes: control characters, `"`, `/` and `\\`.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'/' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Two-digit pairs `00`..`99`.
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes the decimal digits of `n` right-aligned into `buf`; returns the index of the first.
fn digits(buf: &mut [u8; 20], mut n: u64) -> usize {
    let mut i = buf.len();
    while n >= 100 {
        let p = usize::try_from(n % 100).unwrap_or(0) * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[p..p + 2]);
    }
    if n >= 10 {
        let p = usize::try_from(n).unwrap_or(0) * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[p..p + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + u8::try_from(n).unwrap_or(0);
    }
    i
}

/// Appends ASCII bytes (digits, signs): cheaper than UTF-8 validation of such short runs.
fn push_ascii(out: &mut String, ascii: &[u8]) {
    out.extend(ascii.iter().map(|&b| char::from(b)));
}

/// Appends `i` in decimal: what `write!(out, "{i}")` appends, without `core::fmt`.
pub fn write_int(out: &mut String, i: i64) {
    let mut buf = [0u8; 20];
    let start = digits(&mut buf, i.unsigned_abs());
    if i < 0 {
        out.push('-');
    }
    push_ascii(out, &buf[start..]);
}

/// Appends a finite `f` with six decimals: what `write!(out, "{f:.6}")` appends. Values whose
/// rounding the fast path cannot decide exactly (large, or within 10⁻³ of a half unit in the
/// sixth decimal after scaling) go through `core::fmt`.
pub fn write_float6(out: &mut String, f: f64) {
    // Below 2^40 the scaled value is off by at most 2^-13 from f × 10⁶ exactly.
    const LIMIT: f64 = 1_099_511_627_776.0;
    let a = f.abs();
    let scaled = a * 1e6;
    let frac = scaled - scaled.floor();
    if scaled >= LIMIT || (frac - 0.5).abs() < 1e-3 {
        let _ = write!(out, "{f:.6}");
        return;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0 <= scaled < 2^40
    let n = scaled.round() as u64;
    let mut buf = [0u8; 20];
    let start = digits(&mut buf, n / 1_000_000);
    if f.is_sign_negative() {
        out.push('-');
    }
    push_ascii(out, &buf[start..]);
    let m = usize::try_from(n % 1_000_000).unwrap_or(0);
    let (hi, mid, lo) = (m / 10_000 * 2, m / 100 % 100 * 2, m % 100 * 2);
    let frac6 = [
        b'.',
        PAIRS[hi],
        PAIRS[hi + 1],
        PAIRS[mid],
        PAIRS[mid + 1],
        PAIRS[lo],
        PAIRS[lo + 1],
    ];
    push_ascii(out, &frac6);
}

/// Appends a JSON array of rows' values: `[v,v,...]`.
pub fn write_row(out: &mut String, row: &[Value]) {
    out.push('[');
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        v.write_json(out);
    }
    out.push(']');
}

/// Appends a JSON array of strings: the header row.
pub fn write_header(out: &mut String, names: &[&str]) {
    out.push('[');
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, n);
    }
    out.push(']');
}

/// Request parameters of the list commands: a JSON object whose values the reference reads as
/// strings. Anything that is not a JSON object gives no parameters.
#[derive(Debug, Default)]
pub struct Params(serde_json::Map<String, serde_json::Value>);

impl Params {
    /// Parses the argument text (leading blanks allowed).
    pub fn parse(args: &[u8]) -> Self {
        match serde_json::from_slice::<serde_json::Value>(args.trim_ascii()) {
            Ok(serde_json::Value::Object(map)) => Self(map),
            _ => Self::default(),
        }
    }

    /// The value of `key` as the reference reads it: strings as they are, numbers and booleans
    /// as their JSON text (`true` → `"true"`), `null` as empty.
    pub fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        })
    }

    /// The raw JSON value of `key`.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.get(key)
    }

    /// Whether `key` is the string `yes` (any case): the `zip`, `sensor_map`, `ip_map` rule.
    pub fn is_yes(&self, key: &str) -> bool {
        matches!(self.0.get(key), Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("yes"))
    }

    /// The value of `key` read with C `atoi` rules.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.text(key).map(|t| atoi(&t))
    }
}

/// C `atoi`: optional leading blanks and sign, then digits; anything else gives 0.
pub fn atoi(text: &str) -> i64 {
    let t = text.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg { -n } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: &Value) -> String {
        let mut s = String::new();
        v.write_json(&mut s);
        s
    }

    #[test]
    fn encodings() {
        assert_eq!(json(&Value::str("RefUAC/1.0")), r#""RefUAC\/1.0""#);
        assert_eq!(json(&Value::str("")), "null");
        assert_eq!(json(&Value::Float(0.027828)), "0.027828");
        assert_eq!(json(&Value::Float(0.0)), "0.000000");
        assert_eq!(json(&Value::Float(f64::NAN)), "null");
        assert_eq!(
            json(&Value::ip("127.0.10.11".parse().expect("ip"))),
            "2130709003"
        );
        assert_eq!(
            json(&Value::ip("192.168.1.10".parse().expect("ip"))),
            "3232235786"
        );
        assert_eq!(
            json(&Value::ip("2001:db8::1".parse().expect("ip"))),
            r#""2001:db8::1""#
        );
        assert_eq!(json(&Value::str("a\"b\\c\n\u{1}")), r#""a\"b\\c\n\u0001""#);
    }

    /// The escaping before the fast path: char by char.
    fn old_string(s: &str) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '/' => out.push_str("\\/"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// xorshift64*: deterministic pseudo-random test inputs without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    fn int_text(i: i64) -> String {
        let mut s = String::new();
        write_int(&mut s, i);
        s
    }

    fn float_text(f: f64) -> String {
        let mut s = String::new();
        write_float6(&mut s, f);
        s
    }

    #[test]
    fn fast_int_matches_fmt() {
        let mut edge = vec![0, 1, -1, 9, 10, 99, 100, 101, 999, 1000, i64::MAX, i64::MIN];
        for p in 0..19 {
            let t = 10i64.pow(p);
            edge.extend([t - 1, t, t + 1, -t + 1, -t, -t - 1]);
        }
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..200_000 {
            let r = rng.next();
            #[allow(clippy::cast_possible_wrap)]
            edge.push((r >> (r % 64)) as i64 * if r & 1 == 0 { 1 } else { -1 });
        }
        for i in edge {
            assert_eq!(int_text(i), format!("{i}"), "{i}");
        }
    }

    #[test]
    fn fast_float_matches_fmt() {
        let mut edge = vec![
            0.0,
            -0.0,
            1.25,
            -1.25,
            0.027828,
            0.000_000_5,
            0.000_001_5,
            0.000_000_499_999_999,
            -0.000_000_4,
            1e-300,
            f64::MIN_POSITIVE,
            5e-324,
            0.999_999_5,
            0.999_999_499_999,
            1.000_000_5,
            2.5,
            123_456.789_012_5,
            1_099_511.627_776,
            1_099_511.627_775_9,
            1e15,
            1e300,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            100.0,
            33.333_333_333,
            66.666_666_666_666_66,
        ];
        let mut rng = Rng(0x0dd_c0ff_ee15_600d);
        for _ in 0..300_000 {
            let r = rng.next();
            let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
            let scale = 10f64.powi(i32::try_from(r % 17).unwrap_or(0) - 8);
            let v = unit * scale;
            edge.push(if r & (1 << 10) == 0 { v } else { -v });
            // Exact multiples of 10⁻⁷ (halves in the sixth decimal) and random bit patterns.
            edge.push((r % 100_000_000) as f64 / 1e7);
            let bits = f64::from_bits(rng.next());
            if bits.is_finite() {
                edge.push(bits);
            }
        }
        for f in edge {
            assert_eq!(float_text(f), format!("{f:.6}"), "{f:e}");
        }
    }

    #[test]
    fn fast_string_matches_char_by_char() {
        let mut cases: Vec<String> = [
            "",
            "plain",
            "RefUAC/1.0",
            "/",
            "//",
            "a\"b\\c\n\u{1}",
            "\u{7f}\u{1f}\u{0}\u{8}\u{c}\r\t",
            "é/ü\"日本\\",
            "Zoiper rv2.10.20.3/x",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let alphabet: Vec<char> = "ab/\\\"\n\r\t\u{1}\u{8}\u{c}\u{1f} é日€😀\u{7f}"
            .chars()
            .collect();
        let mut rng = Rng(0xfeed_beef_cafe_f00d);
        for _ in 0..20_000 {
            let len = usize::try_from(rng.next() % 24).unwrap_or(0);
            let n = alphabet.len() as u64;
            cases.push(
                (0..len)
                    .map(|_| alphabet[usize::try_from(rng.next() % n).unwrap_or(0)])
                    .collect(),
            );
        }
        for s in cases {
            let mut out = String::new();
            write_string(&mut out, &s);
            assert_eq!(out, old_string(&s), "{s:?}");
        }
    }

    #[test]
    fn params_read_as_strings() {
        let p = Params::parse(br#" {"limit":"3","n":5,"zip":true,"z2":"YES","e":""}"#);
        assert_eq!(p.int("limit"), Some(3));
        assert_eq!(p.int("n"), Some(5));
        assert_eq!(p.int("e"), Some(0));
        assert!(!p.is_yes("zip"));
        assert!(p.is_yes("z2"));
        assert_eq!(p.text("zip").as_deref(), Some("true"));
        assert!(Params::parse(b"not-json").text("limit").is_none());
    }

    #[test]
    fn atoi_rules() {
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi("  -1"), -1);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi(""), 0);
    }
}
