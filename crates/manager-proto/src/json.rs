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
            Self::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Self::Float(f) if f.is_finite() => {
                let _ = write!(out, "{f:.6}");
            }
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
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
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
