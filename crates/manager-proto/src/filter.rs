//! The `filter` and `form_filters` parameters of `listcalls` (spec §4.6): the GUI's "active
//! calls" form fields, matched against the rows.
//!
//! Supported fields: `caller`, `called`, `callerd` (caller or called), `sipcallerip`,
//! `sipcalledip`, `sipcallerdip` (either), `caller_domain`, `called_domain`, `caller_agent`,
//! `called_agent`. Text values are SQL `LIKE` patterns (`%` any run, `_` one character,
//! case-insensitive); IP values are addresses, `LIKE` patterns (`10.1.%`) or CIDR blocks
//! (`10.1.0.0/16`). Empty values are ignored, as are fields we do not know (`*_type`
//! selectors of the GUI form included). The conditions of one filter object are ANDed, or ORed
//! when the object has `"OR":"1"`; several objects (an array, plus `form_filters`) are ANDed.

use crate::json::Value;
use crate::listcalls::COLUMNS;
use std::net::IpAddr;

/// One condition on one or two columns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    columns: Vec<usize>,
    pattern: Pattern,
    /// The columns hold IP addresses (IPv4 as host-order integers).
    ip: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Like(Vec<u8>),
    Cidr(IpAddr, u8),
}

/// A group of conditions from one filter object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterGroup {
    conditions: Vec<Condition>,
    any: bool,
}

const TEXT_FIELDS: [(&str, &[&str]); 7] = [
    ("caller", &["caller"]),
    ("called", &["called"]),
    ("callerd", &["caller", "called"]),
    ("caller_domain", &["callerdomain"]),
    ("called_domain", &["calleddomain"]),
    ("caller_agent", &["calleragent"]),
    ("called_agent", &["calledagent"]),
];

const IP_FIELDS: [(&str, &[&str]); 3] = [
    ("sipcallerip", &["callerip"]),
    ("sipcalledip", &["calledip"]),
    ("sipcallerdip", &["callerip", "calledip"]),
];

fn column(name: &str) -> Option<usize> {
    COLUMNS.iter().position(|c| *c == name)
}

impl FilterGroup {
    /// Reads one filter object; `None` when it sets no condition we know.
    pub fn from_json(obj: &serde_json::Map<String, serde_json::Value>) -> Option<Self> {
        let text = |key: &str| -> Option<String> {
            match obj.get(key)? {
                serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let mut conditions = Vec::new();
        for (key, cols) in TEXT_FIELDS {
            if let Some(v) = text(key) {
                let columns = cols.iter().filter_map(|c| column(c)).collect();
                conditions.push(Condition {
                    columns,
                    pattern: Pattern::Like(v.to_ascii_lowercase().into_bytes()),
                    ip: false,
                });
            }
        }
        for (key, cols) in IP_FIELDS {
            if let Some(v) = text(key) {
                let columns = cols.iter().filter_map(|c| column(c)).collect();
                conditions.push(Condition {
                    columns,
                    pattern: ip_pattern(&v),
                    ip: true,
                });
            }
        }
        let any = text("OR").is_some_and(|v| v == "1");
        (!conditions.is_empty()).then_some(Self { conditions, any })
    }

    /// Whether `row` passes this group.
    pub fn matches(&self, row: &[Value]) -> bool {
        let test = |c: &Condition| {
            c.columns
                .iter()
                .any(|&i| row.get(i).is_some_and(|v| c.pattern.matches(v, c.ip)))
        };
        if self.any {
            self.conditions.iter().any(test)
        } else {
            self.conditions.iter().all(test)
        }
    }
}

/// Parses the `filter` parameter (array of objects, one object, or JSON text of either) and
/// `form_filters` (one more object).
pub fn parse(
    filter: Option<&serde_json::Value>,
    form: Option<&serde_json::Value>,
) -> Vec<FilterGroup> {
    let mut out = Vec::new();
    for v in [filter, form].into_iter().flatten() {
        collect(v, &mut out, 0);
    }
    out
}

fn collect(v: &serde_json::Value, out: &mut Vec<FilterGroup>, depth: u8) {
    match v {
        serde_json::Value::Object(obj) => out.extend(FilterGroup::from_json(obj)),
        serde_json::Value::Array(items) => {
            for item in items.iter().take(64) {
                collect(item, out, depth);
            }
        }
        serde_json::Value::String(s) if depth == 0 => {
            if let Ok(inner) = serde_json::from_str::<serde_json::Value>(s) {
                collect(&inner, out, 1);
            }
        }
        _ => {}
    }
}

fn ip_pattern(v: &str) -> Pattern {
    if let Some((addr, bits)) = v.split_once('/')
        && let (Ok(addr), Ok(bits)) = (addr.trim().parse::<IpAddr>(), bits.trim().parse::<u8>())
    {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        return Pattern::Cidr(addr, bits.min(max));
    }
    Pattern::Like(v.to_ascii_lowercase().into_bytes())
}

impl Pattern {
    fn matches(&self, value: &Value, ip: bool) -> bool {
        let text = match value {
            Value::Str(s) => s.to_ascii_lowercase(),
            // IPv4 columns hold host-order integers.
            Value::Int(i) if ip => match u32::try_from(*i) {
                Ok(v4) => std::net::Ipv4Addr::from(v4).to_string(),
                Err(_) => return false,
            },
            Value::Int(i) => i.to_string(),
            _ => return false,
        };
        match self {
            Self::Like(p) => like(p, text.as_bytes()),
            Self::Cidr(net, bits) => text
                .parse::<IpAddr>()
                .is_ok_and(|a| in_cidr(a, *net, *bits)),
        }
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// SQL `LIKE`: `%` matches any run, `_` one byte; iterative with backtracking to the last `%`.
fn like(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'_' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'%' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'%')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(caller: &str, called: &str, callerip: &str, calledip: &str) -> Vec<Value> {
        let mut r = vec![Value::Null; COLUMNS.len()];
        r[7] = Value::str(caller);
        r[8] = Value::str(called);
        r[18] = Value::ip(callerip.parse().expect("ip"));
        r[19] = Value::ip(calledip.parse().expect("ip"));
        r
    }

    fn groups(json: &str) -> Vec<FilterGroup> {
        let v: serde_json::Value = serde_json::from_str(json).expect("json");
        parse(v.get("filter"), v.get("form_filters"))
    }

    fn passes(json: &str, r: &[Value]) -> bool {
        groups(json).iter().all(|g| g.matches(r))
    }

    #[test]
    fn like_semantics() {
        assert!(like(b"%706123%", b"420706123999"));
        assert!(like(b"42%", b"4200"));
        assert!(!like(b"42%", b"14200"));
        assert!(like(b"4_00", b"4200"));
        assert!(like(b"%", b""));
        assert!(!like(b"abc", b"abcd"));
        assert!(like(b"%a%b%c%", b"xxaxxbxxcxx"));
    }

    #[test]
    fn numbers_and_ips() {
        let r = row("42060132437", "42070001585", "10.1.0.3", "2001:db8::1");
        assert!(passes(r#"{"filter":[{"caller":"%601324%"}]}"#, &r));
        assert!(!passes(r#"{"filter":[{"caller":"%999%"}]}"#, &r));
        assert!(passes(r#"{"filter":[{"called":"42070001585"}]}"#, &r));
        assert!(passes(r#"{"filter":{"sipcallerip":"10.1.0.3"}}"#, &r));
        assert!(passes(r#"{"filter":{"sipcallerip":"10.1.%"}}"#, &r));
        assert!(passes(r#"{"filter":{"sipcallerip":"10%"}}"#, &r));
        assert!(
            !passes(r#"{"filter":{"sipcallerip":"16%"}}"#, &r),
            "not the integer's digits"
        );
        assert!(passes(r#"{"filter":{"sipcallerip":"10.1.0.0/16"}}"#, &r));
        assert!(!passes(r#"{"filter":{"sipcallerip":"10.2.0.0/16"}}"#, &r));
        assert!(passes(r#"{"filter":{"sipcalledip":"2001:db8::/32"}}"#, &r));
        assert!(passes(r#"{"filter":{"sipcalledip":"2001:DB8::%"}}"#, &r));
        // Both fields must match (AND), unless the object says OR.
        assert!(!passes(
            r#"{"filter":[{"caller":"%601324%","called":"nope"}]}"#,
            &r
        ));
        assert!(passes(
            r#"{"filter":[{"caller":"%601324%","called":"nope","OR":"1"}]}"#,
            &r
        ));
        // Several objects are ANDed; form_filters adds one more.
        assert!(!passes(
            r#"{"filter":[{"caller":"42%"},{"called":"9%"}]}"#,
            &r
        ));
        assert!(!passes(
            r#"{"filter":[{"caller":"42%"}],"form_filters":{"sipcallerip":"9.9.9.9"}}"#,
            &r
        ));
        // callerd matches either number; JSON text is accepted; empty values are ignored.
        assert!(passes(r#"{"filter":[{"callerd":"%0001585"}]}"#, &r));
        assert!(passes(r#"{"filter":"[{\"caller\":\"42%\"}]"}"#, &r));
        assert!(groups(r#"{"filter":[{"caller":"","callerd_type":"0"}]}"#).is_empty());
    }
}
