//! `listcalls [JSON]` (spec §4.6): parameters, sorting, limit and the three reply shapes.

use crate::json::{Params, Row, Value, write_header, write_row};
use std::fmt::Write as _;

/// The 68 columns, in wire order.
pub const COLUMNS: [&str; 68] = [
    "callreference",
    "callid",
    "calldate",
    "calldate_num",
    "lastpackettime",
    "duration",
    "connect_duration",
    "caller",
    "called",
    "caller_country",
    "called_country",
    "caller_international",
    "called_international",
    "callername",
    "callerdomain",
    "calleddomain",
    "calleragent",
    "calledagent",
    "callerip",
    "calledip",
    "callerip_country",
    "calledip_country",
    "callerip_encaps",
    "calledip_encaps",
    "callerip_encaps_prot",
    "calledip_encaps_prot",
    "sipproxies",
    "lastSIPresponseNum",
    "rtp_src",
    "rtp_dst",
    "rtp_src_country",
    "rtp_dst_country",
    "callercodec",
    "calledcodec",
    "src_mosf1",
    "src_mosf1_avg",
    "src_mosf1_min",
    "src_mosf2",
    "src_mosf2_avg",
    "src_mosf2_min",
    "src_mosAD",
    "src_mosAD_avg",
    "src_mosAD_min",
    "dst_mosf1",
    "dst_mosf1_avg",
    "dst_mosf1_min",
    "dst_mosf2",
    "dst_mosf2_avg",
    "dst_mosf2_min",
    "dst_mosAD",
    "dst_mosAD_avg",
    "dst_mosAD_min",
    "src_jitter",
    "src_jitter_avg",
    "src_jitter_max",
    "dst_jitter",
    "dst_jitter_avg",
    "dst_jitter_max",
    "src_received",
    "dst_received",
    "src_loss_abs",
    "dst_loss_abs",
    "src_loss",
    "dst_loss",
    "src_loss_last10sec",
    "dst_loss_last10sec",
    "id_sensor",
    "vlan",
];

/// Index of `calldate_num`, the default sort key and tie-breaker.
pub const CALLDATE_NUM: usize = 3;
/// Index of `id_sensor`, counted by `sensor_map`.
pub const ID_SENSOR: usize = 66;

/// What the sensor reports in the summary object.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// `is_receiver`: this sensor receives packets from remote senders.
    pub is_receiver: bool,
    /// `is_server`: this sensor is a central server.
    pub is_server: bool,
    /// Configured sensor id, −1 when unset.
    pub id_sensor: i64,
}

/// Parsed `listcalls` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Anything followed the command name: the reply carries the summary element.
    pub with_summary: bool,
    /// Row limit; `None` = unlimited; `Some(0)` = summary object only.
    pub limit: Option<usize>,
    /// Sort column index.
    pub sort_column: usize,
    /// Descending order.
    pub descending: bool,
    /// Gzip the reply.
    pub zip: bool,
    /// Add per-sensor counts to the summary.
    pub sensor_map: bool,
    /// `filter` / `form_filters` groups a call must all pass.
    pub filters: Vec<crate::filter::FilterGroup>,
}

impl Query {
    /// Parses the text after the command name.
    pub fn parse(args: &[u8]) -> Self {
        let with_summary = !args.is_empty();
        let p = Params::parse(args);
        let limit = match p.int("limit") {
            None => None,
            Some(n) if n < 0 => None,
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        };
        let sort_column = p
            .text("sort_field")
            .and_then(|f| COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(&f)))
            .unwrap_or(CALLDATE_NUM);
        let descending = p
            .text("sort_dir")
            .is_none_or(|d| d.to_ascii_lowercase().starts_with("desc"));
        Self {
            with_summary,
            limit,
            sort_column,
            descending,
            zip: p.is_yes("zip"),
            sensor_map: p.is_yes("sensor_map"),
            filters: crate::filter::parse(p.get("filter"), p.get("form_filters")),
        }
    }
}

/// Renders the reply for `rows` (the calls that passed the filters, in any order).
pub fn render(query: &Query, mut rows: Vec<Row>, summary: &Summary) -> String {
    if !query.filters.is_empty() {
        rows.retain(|r| query.filters.iter().all(|f| f.matches(r)));
    }
    let mut out = String::with_capacity(2048 + rows.len() * 700);
    let col = query.sort_column;
    rows.sort_by(|a, b| {
        let ord = cell(a, col)
            .sort_cmp(cell(b, col))
            .then_with(|| cell(a, CALLDATE_NUM).sort_cmp(cell(b, CALLDATE_NUM)));
        if query.descending { ord.reverse() } else { ord }
    });
    if query.limit == Some(0) {
        write_summary(&mut out, query, &rows, summary);
        return out;
    }
    out.push('[');
    write_header(&mut out, &COLUMNS);
    if query.with_summary {
        out.push_str(",[");
        write_summary(&mut out, query, &rows, summary);
        out.push(']');
    }
    for row in rows.iter().take(query.limit.unwrap_or(usize::MAX)) {
        out.push(',');
        write_row(&mut out, row);
    }
    out.push(']');
    out
}

fn cell(row: &Row, i: usize) -> &Value {
    row.get(i).unwrap_or(&Value::Null)
}

fn write_summary(out: &mut String, query: &Query, rows: &[Row], s: &Summary) {
    let _ = write!(
        out,
        r#"{{"total":{},"is_receiver":{},"is_server":{},"id_sensor":{}"#,
        rows.len(),
        u8::from(s.is_receiver),
        u8::from(s.is_server),
        s.id_sensor
    );
    if query.sensor_map {
        let mut counts: Vec<(i64, usize)> = Vec::new();
        for row in rows {
            let id = match cell(row, ID_SENSOR) {
                Value::Int(i) => *i,
                _ => -1,
            };
            match counts.iter_mut().find(|(k, _)| *k == id) {
                Some((_, n)) => *n += 1,
                None => counts.push((id, 1)),
            }
        }
        out.push_str(r#","sensors":{"#);
        for (i, (id, n)) in counts.iter().enumerate() {
            let _ = write!(out, r#"{}"{id}":{n}"#, if i > 0 { "," } else { "" });
        }
        out.push('}');
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: Summary = Summary {
        is_receiver: false,
        is_server: false,
        id_sensor: -1,
    };

    fn header() -> String {
        let mut h = String::new();
        write_header(&mut h, &COLUMNS);
        h
    }

    fn row(callid: &str, calldate: i64) -> Row {
        let mut r = vec![Value::Null; COLUMNS.len()];
        r[1] = Value::str(callid);
        r[CALLDATE_NUM] = Value::Int(calldate);
        r[ID_SENSOR] = Value::Int(1);
        r
    }

    #[test]
    fn header_matches_the_reference_sample() {
        let sample = include_str!("../../../testdata/reference-replies/listcalls.txt");
        assert!(sample.starts_with(&format!("[{},", header())));
        let with_params = include_str!("../../../testdata/reference-replies/listcalls-params.txt");
        assert!(with_params.starts_with(&format!("[{},[{{\"total\":8,", header())));
    }

    #[test]
    fn empty_table_shapes() {
        let h = header();
        assert_eq!(
            render(&Query::parse(b""), vec![], &SUMMARY),
            format!("[{h}]")
        );
        assert_eq!(
            render(&Query::parse(b" {}"), vec![], &SUMMARY),
            format!(r#"[{h},[{{"total":0,"is_receiver":0,"is_server":0,"id_sensor":-1}}]]"#)
        );
        assert_eq!(
            render(&Query::parse(b" not-json"), vec![], &SUMMARY),
            format!(r#"[{h},[{{"total":0,"is_receiver":0,"is_server":0,"id_sensor":-1}}]]"#)
        );
        for limit0 in [
            &br#" {"limit":0}"#[..],
            br#"{"limit":"0"}"#,
            br#" {"limit":""}"#,
        ] {
            assert_eq!(
                render(&Query::parse(limit0), vec![], &SUMMARY),
                r#"{"total":0,"is_receiver":0,"is_server":0,"id_sensor":-1}"#
            );
        }
    }

    #[test]
    fn limit_sort_and_total() {
        let rows = vec![row("a", 10), row("b", 30), row("c", 20)];
        let out = render(&Query::parse(br#" {"limit":"1"}"#), rows.clone(), &SUMMARY);
        assert!(out.contains(r#"[{"total":3,"#), "{out}");
        assert!(out.contains(r#"["b""#) || out.contains(r#"null,"b""#));
        assert!(!out.contains(r#""a""#) && !out.contains(r#""c""#));
        // Default: newest first.
        let out = render(&Query::parse(b""), rows.clone(), &SUMMARY);
        let (b, c, a) = (out.find("\"b\""), out.find("\"c\""), out.find("\"a\""));
        assert!(b < c && c < a, "{out}");
        // sort_dir other than desc* → ascending; sort_field case-insensitive.
        let out = render(
            &Query::parse(br#"{"sort_field":"CALLID","sort_dir":"asc"}"#),
            rows.clone(),
            &SUMMARY,
        );
        let (b, c, a) = (out.find("\"b\""), out.find("\"c\""), out.find("\"a\""));
        assert!(a < b && b < c, "{out}");
        let out = render(
            &Query::parse(br#"{"limit":-1,"sort_dir":"DESC"}"#),
            rows,
            &SUMMARY,
        );
        assert_eq!(out.matches("null,\"").count(), 3);
    }

    #[test]
    fn sensor_map_and_zip_flags() {
        let q = Query::parse(br#"{"sensor_map":"yes","zip":"YES"}"#);
        assert!(q.zip && q.sensor_map);
        assert!(!Query::parse(br#"{"zip":true}"#).zip);
        let out = render(&q, vec![row("a", 1), row("b", 2)], &SUMMARY);
        assert!(
            out.contains(r#""id_sensor":-1,"sensors":{"1":2}}"#),
            "{out}"
        );
    }
}
