//! `listregisters [JSON]` (spec §4.7).

use crate::json::{Params, Row, Value, write_header, write_row};
use std::fmt::Write as _;

/// The 33 columns, in wire order.
pub const COLUMNS: [&str; 33] = [
    "ID",
    "id_sensor",
    "fname",
    "calldate",
    "sipcallerip",
    "sipcalledip",
    "sipcallerip_encaps",
    "sipcalledip_encaps",
    "sipcallerip_encaps_prot",
    "sipcalledip_encaps_prot",
    "sipcallerport",
    "sipcalledport",
    "from_num",
    "from_name",
    "from_domain",
    "to_num",
    "to_domain",
    "contact_num",
    "contact_domain",
    "digestusername",
    "digestrealm",
    "expires",
    "expires_at",
    "state",
    "ua",
    "rrd_avg",
    "spool_index",
    "is_sipalg_detected",
    "vlan",
    "sipcallerip_country_code",
    "sipcalledip_country_code",
    "from_num_country_code",
    "to_num_country_code",
];

/// Index of the `state` column.
pub const STATE: usize = 23;

/// Registration states and their wire numbers.
pub const STATES: [(&str, i64); 6] = [
    ("OK", 1),
    ("Failed", 2),
    ("UnknownMessageOK", 3),
    ("ManyRegMessages", 4),
    ("Expired", 5),
    ("Unregister", 6),
];

/// Parsed `listregisters` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Keep only rows in these states (`None` = all).
    pub states: Option<Vec<i64>>,
    /// Row limit (`None` = unlimited; 0 also means unlimited here).
    pub limit: Option<usize>,
    /// Sort column; `None` = internal order (ascending ID).
    pub sort_column: Option<usize>,
    /// Descending order (also reverses the internal order).
    pub descending: bool,
    /// Gzip the reply.
    pub zip: bool,
}

impl Query {
    /// Parses the text after the command name.
    pub fn parse(args: &[u8]) -> Self {
        let p = Params::parse(args);
        let states = p.text("states").filter(|s| !s.trim().is_empty()).map(|s| {
            s.split(',')
                .filter_map(|name| {
                    STATES
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
                        .map(|(_, v)| *v)
                })
                .collect()
        });
        let limit = p
            .int("limit")
            .filter(|&n| n > 0)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let sort_column = p
            .text("sort_field")
            .and_then(|f| COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(&f)))
            .filter(|&i| i != 0);
        let descending = p
            .text("sort_dir")
            .is_some_and(|d| d.to_ascii_lowercase().starts_with("desc"));
        Self {
            states,
            limit,
            sort_column,
            descending,
            zip: p.is_yes("zip"),
        }
    }
}

/// Renders the reply for `rows` given in internal (ascending ID) order.
pub fn render(query: &Query, mut rows: Vec<Row>) -> String {
    if let Some(states) = &query.states {
        rows.retain(|r| matches!(r.get(STATE), Some(Value::Int(s)) if states.contains(s)));
    }
    if let Some(col) = query.sort_column {
        rows.sort_by(|a, b| {
            let (x, y) = (
                a.get(col).unwrap_or(&Value::Null),
                b.get(col).unwrap_or(&Value::Null),
            );
            x.sort_cmp(y)
        });
    }
    if query.descending {
        rows.reverse();
    }
    let mut out = String::with_capacity(1024 + rows.len() * 300);
    out.push('[');
    write_header(&mut out, &COLUMNS);
    if !rows.is_empty() {
        // Hand-built in the reference, spaces included.
        let _ = write!(out, r#", [{{"total": {}}}]"#, rows.len());
        for row in rows.iter().take(query.limit.unwrap_or(usize::MAX)) {
            out.push(',');
            write_row(&mut out, row);
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, state: i64) -> Row {
        let mut r = vec![Value::Null; COLUMNS.len()];
        r[0] = Value::Int(id);
        r[STATE] = Value::Int(state);
        r
    }

    #[test]
    fn header_matches_the_reference_sample() {
        let sample = include_str!("../../../testdata/reference-replies/listregisters.txt");
        let mut h = String::new();
        write_header(&mut h, &COLUMNS);
        assert!(sample.starts_with(&format!("[{h}, [{{\"total\": 12}}],[1,")));
    }

    #[test]
    fn empty_and_filtered() {
        let empty = render(&Query::parse(b""), vec![]);
        assert!(empty.starts_with(r#"[["ID","#) && empty.ends_with(r#""to_num_country_code"]]"#));
        let rows = vec![row(1, 1), row(2, 2), row(5, 1), row(6, 5)];
        let out = render(&Query::parse(br#"{"states":"OK"}"#), rows.clone());
        assert!(out.contains(r#", [{"total": 2}],[1,"#), "{out}");
        assert!(
            render(&Query::parse(br#"{"states":"Unregister"}"#), rows.clone()).ends_with("\"]]")
        );
        let out = render(&Query::parse(br#"{"limit":1}"#), rows.clone());
        assert!(
            out.contains(r#", [{"total": 4}],[1,"#) && !out.contains("[2,"),
            "{out}"
        );
        let out = render(&Query::parse(br#"{"sort_dir":"desc"}"#), rows.clone());
        assert!(out.contains(r#"}],[6,"#), "{out}");
        let out = render(
            &Query::parse(br#"{"sort_field":"state","sort_dir":"desc"}"#),
            rows,
        );
        assert!(
            out.contains(r#"}],[6,"#) && out.find("[2,") < out.find("[5,"),
            "{out}"
        );
    }
}
