//! The tables, generated for both dialects from one column list (behaviour spec §2.2, §2.4–§2.6,
//! §4.4).
//!
//! Types are the reference's MySQL types; SQLite gets the same declared type (its affinity
//! rules turn `…int…` into INTEGER, `varchar` into TEXT, `decimal`/`datetime` into NUMERIC,
//! `float` into REAL) except `enum(…)`, declared TEXT. Every statement is `IF NOT EXISTS`, so
//! an existing VoIPmonitor schema (partitioned or not) is used as it is.

/// Dialect of the generated DDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Mysql,
}

/// A table: name, columns `(name, MySQL type)` after the `ID`/`cdr_ID` key, indexed columns,
/// and how it is keyed.
struct Table {
    name: &'static str,
    key: Key,
    columns: Vec<(String, String)>,
    indexes: Vec<String>,
    uniques: Vec<&'static str>,
}

enum Key {
    /// `<name> <type> AUTO_INCREMENT PRIMARY KEY`.
    Auto(&'static str, &'static str),
    /// `cdr_ID bigint unsigned NOT NULL` referencing `cdr(ID)`, primary key when `true`.
    Child(bool),
}

fn cols(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect()
}

const MEDIUM: &str = "mediumint unsigned";
const TINY: &str = "tinyint unsigned";
const SMALL: &str = "smallint unsigned";
const VC: &str = "varchar(255)";
const IP: &str = "int unsigned";

/// Every `cdr` column of §2.2 after `ID`, in order.
pub(crate) fn cdr_columns() -> Vec<(String, String)> {
    let mut c = cols(&[
        ("calldate", "datetime NOT NULL"),
        ("callend", "datetime NOT NULL"),
        ("duration", MEDIUM),
        ("connect_duration", MEDIUM),
        ("progress_time", MEDIUM),
        ("first_rtp_time", MEDIUM),
        ("post_bye_delay", "decimal(9,3)"),
        ("caller", VC),
        ("caller_domain", VC),
        ("caller_reverse", VC),
        ("callername", VC),
        ("callername_reverse", VC),
        ("called", VC),
        ("called_domain", VC),
        ("called_reverse", VC),
        ("sipcallerip", IP),
        ("sipcallerport", SMALL),
        ("sipcalledip", IP),
        ("sipcalledport", SMALL),
        ("whohanged", "enum('caller','callee')"),
        ("bye", TINY),
        ("lastSIPresponse_id", MEDIUM),
        ("lastSIPresponseNum", SMALL),
        ("reason_sip_cause", SMALL),
        ("reason_sip_text_id", MEDIUM),
        ("reason_q850_cause", SMALL),
        ("reason_q850_text_id", MEDIUM),
        ("sighup", "tinyint"),
        ("dscp", "int unsigned"),
        ("flags", "bigint unsigned"),
        ("vlan", "smallint"),
        ("id_sensor", SMALL),
        ("response_time_100", SMALL),
        ("response_time_xxx", SMALL),
        ("max_retransmission_invite", TINY),
        ("ttl_min", TINY),
        ("ttl_max", TINY),
        ("ttl_avg_mult10", SMALL),
    ]);
    for p in ["a", "b"] {
        let mut side: Vec<(String, &str)> = vec![
            ("index".into(), "tinyint"),
            ("payload".into(), "int"),
            ("saddr".into(), IP),
            ("received".into(), MEDIUM),
            ("lost".into(), MEDIUM),
            ("reordered".into(), MEDIUM),
            ("ua_id".into(), "int unsigned"),
            ("avgjitter_mult10".into(), MEDIUM),
            ("maxjitter".into(), SMALL),
        ];
        side.extend((1..=10).map(|i| (format!("sl{i}"), MEDIUM)));
        side.extend(
            ["d50", "d70", "d90", "d120", "d150", "d200", "d300"]
                .iter()
                .map(|d| ((*d).to_owned(), MEDIUM)),
        );
        for mos in ["f1", "f2", "adapt", "xr", "silence", "lqo"] {
            side.push((format!("mos_{mos}_mult10"), TINY));
        }
        for mos in ["f1", "f2", "adapt", "xr", "silence"] {
            side.push((format!("mos_{mos}_min_mult10"), TINY));
        }
        for (n, t) in [
            ("mos_min_mult10", TINY),
            ("packet_loss_perc_mult1000", MEDIUM),
            ("delay_sum", MEDIUM),
            ("delay_cnt", MEDIUM),
            ("delay_avg_mult100", MEDIUM),
            ("rtcp_loss", "mediumint"),
            ("rtcp_maxfr", SMALL),
            ("rtcp_avgfr_mult10", SMALL),
            ("rtcp_maxjitter", SMALL),
            ("rtcp_avgjitter_mult10", SMALL),
            ("rtcp_avgrtd_mult10", SMALL),
            ("rtcp_maxrtd_mult10", SMALL),
            ("rtcp_fraclost_pktcount", "int unsigned"),
            ("last_rtp_from_end", "smallint"),
            ("rtp_ptime", TINY),
            ("ttl_min", TINY),
            ("ttl_max", TINY),
            ("ttl_avg_mult10", SMALL),
        ] {
            side.push((n.to_owned(), t));
        }
        c.extend(
            side.into_iter()
                .map(|(n, t)| (format!("{p}_{n}"), t.to_owned())),
        );
    }
    c.extend(cols(&[
        ("payload", "int"),
        ("jitter_mult10", MEDIUM),
        ("mos_min_mult10", TINY),
        ("packet_loss_perc_mult1000", MEDIUM),
        ("delay_sum", MEDIUM),
        ("delay_cnt", MEDIUM),
        ("delay_avg_mult100", MEDIUM),
        ("rtcp_avgfr_mult10", SMALL),
        ("rtcp_avgjitter_mult10", SMALL),
        ("lost", MEDIUM),
        ("caller_clipping_div3", SMALL),
        ("called_clipping_div3", SMALL),
        ("caller_silence", TINY),
        ("called_silence", TINY),
        ("caller_silence_end", SMALL),
        ("called_silence_end", SMALL),
        ("price_operator_mult1000000", "bigint unsigned"),
        ("price_operator_currency_id", TINY),
        ("price_customer_mult1000000", "bigint unsigned"),
        ("price_customer_currency_id", TINY),
    ]));
    c
}

/// The `cdr` indexes of §2.2.
fn cdr_indexes() -> Vec<String> {
    let mut ix: Vec<String> = [
        "calldate",
        "callend",
        "duration",
        "caller",
        "caller_reverse",
        "called",
        "called_reverse",
        "callername",
        "callername_reverse",
        "sipcallerip",
        "sipcalledip",
        "lastSIPresponseNum",
        "bye",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for p in ["a", "b"] {
        for c in [
            "saddr",
            "lost",
            "maxjitter",
            "rtcp_loss",
            "rtcp_maxfr",
            "rtcp_maxjitter",
            "rtcp_maxrtd_mult10",
            "ua_id",
            "avgjitter_mult10",
            "rtcp_avgjitter_mult10",
        ] {
            ix.push(format!("{p}_{c}"));
        }
    }
    ix.extend(
        [
            "lastSIPresponse_id",
            "reason_sip_text_id",
            "reason_q850_text_id",
            "payload",
            "vlan",
            "id_sensor",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    ix
}

/// The columns shared by `register_state` and `register_failed` (§4.4) after `ID`.
fn register_columns(failed: bool) -> Vec<(String, String)> {
    let mut c = cols(&[
        ("id_sensor", "int unsigned NOT NULL"),
        ("fname", "bigint"),
        ("counter", "int"),
        ("created_at", "datetime NOT NULL"),
        ("sipcallerip", "int unsigned NOT NULL"),
        ("sipcalledip", "int unsigned NOT NULL"),
        ("sipcallerport", SMALL),
        ("sipcalledport", SMALL),
        ("from_num", VC),
        ("to_num", VC),
        ("contact_num", VC),
        ("contact_domain", VC),
        ("digestusername", VC),
        ("digestrealm", VC),
    ]);
    if !failed {
        c.extend(cols(&[("expires", "mediumint"), ("state", TINY)]));
    }
    c.extend(cols(&[
        ("ua_id", "int unsigned"),
        ("to_domain", VC),
        ("flags", "bigint unsigned"),
        ("vlan", "smallint"),
        ("spool_index", TINY),
    ]));
    c
}

fn tables() -> Vec<Table> {
    let strs = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        Table {
            name: "cdr_sip_response",
            key: Key::Auto("id", MEDIUM),
            columns: cols(&[("lastSIPresponse", "varchar(255) NOT NULL")]),
            indexes: vec![],
            uniques: vec!["lastSIPresponse"],
        },
        Table {
            name: "cdr_ua",
            key: Key::Auto("id", "int unsigned"),
            columns: cols(&[("ua", "varchar(512) NOT NULL")]),
            indexes: vec![],
            uniques: vec!["ua"],
        },
        Table {
            name: "cdr",
            key: Key::Auto("ID", "bigint unsigned"),
            columns: cdr_columns(),
            indexes: cdr_indexes(),
            uniques: vec![],
        },
        Table {
            name: "cdr_next",
            key: Key::Child(true),
            columns: cols(&[
                ("calldate", "datetime NOT NULL"),
                ("custom_header1", VC),
                ("fbasename", VC),
                ("digest_username", VC),
                ("match_header", "varchar(128)"),
                ("GeoPosition", VC),
                ("hold", "varchar(1024)"),
                ("spool_index", TINY),
            ]),
            indexes: strs(&["fbasename", "digest_username", "match_header"]),
            uniques: vec![],
        },
        Table {
            name: "cdr_rtp",
            key: Key::Child(false),
            columns: cols(&[
                ("calldate", "datetime NOT NULL"),
                ("saddr", IP),
                ("sport", SMALL),
                ("daddr", IP),
                ("dport", SMALL),
                ("ssrc", "int unsigned"),
                ("received", MEDIUM),
                ("loss", MEDIUM),
                ("firsttime", "float"),
                ("payload", SMALL),
                ("maxjitter_mult10", SMALL),
                ("index", TINY),
                ("sdp_ptime", TINY),
                ("rtp_ptime", TINY),
                ("flags", "bigint unsigned"),
                ("duration", "float"),
                ("ttl_min", TINY),
                ("ttl_max", TINY),
                ("ttl_avg_mult10", SMALL),
            ]),
            indexes: strs(&["cdr_ID"]),
            uniques: vec![],
        },
        Table {
            name: "cdr_proxy",
            key: Key::Child(false),
            columns: cols(&[("calldate", "datetime NOT NULL"), ("dst", IP)]),
            indexes: strs(&["cdr_ID", "dst"]),
            uniques: vec![],
        },
        Table {
            name: "register_state",
            key: Key::Auto("ID", "bigint unsigned"),
            columns: register_columns(false),
            indexes: strs(&[
                "created_at",
                "sipcallerip",
                "sipcalledip",
                "from_num",
                "to_num",
                "ua_id",
                "id_sensor",
            ]),
            uniques: vec![],
        },
        Table {
            name: "register_failed",
            key: Key::Auto("ID", "bigint unsigned"),
            columns: register_columns(true),
            indexes: strs(&[
                "created_at",
                "sipcallerip",
                "sipcalledip",
                "from_num",
                "to_num",
                "ua_id",
                "id_sensor",
            ]),
            uniques: vec![],
        },
        Table {
            name: QUEUE_TABLE,
            key: Key::Auto("id", "int unsigned"),
            columns: cols(&[
                ("queue_id", "varchar(64) NOT NULL"),
                ("id_sensor", "int"),
                ("last_seq", "bigint unsigned NOT NULL"),
                ("updated_at", "datetime"),
            ]),
            indexes: vec![],
            uniques: vec!["queue_id"],
        },
    ]
}

/// Where each queue's last committed sequence number lives.
pub(crate) const QUEUE_TABLE: &str = "voipsensor_cdr_queue";

/// `name` quoted as an identifier (both dialects accept backquotes).
pub(crate) fn q(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The DDL statements, in creation order (codebooks before `cdr`, `cdr` before its children).
pub(crate) fn ddl(dialect: Dialect) -> Vec<String> {
    let mut out = Vec::new();
    for t in tables() {
        let mut defs = Vec::new();
        match t.key {
            Key::Auto(name, ty) => defs.push(match dialect {
                Dialect::Sqlite => format!("{} INTEGER PRIMARY KEY AUTOINCREMENT", q(name)),
                Dialect::Mysql => format!("{} {ty} NOT NULL AUTO_INCREMENT PRIMARY KEY", q(name)),
            }),
            Key::Child(primary) => defs.push(format!(
                "`cdr_ID` bigint unsigned NOT NULL{}",
                if primary { " PRIMARY KEY" } else { "" }
            )),
        }
        for (name, ty) in &t.columns {
            let ty = match dialect {
                Dialect::Sqlite if ty.starts_with("enum") => "TEXT",
                _ => ty.as_str(),
            };
            defs.push(format!("{} {ty}", q(name)));
        }
        for u in &t.uniques {
            defs.push(format!("UNIQUE ({})", q(u)));
        }
        if dialect == Dialect::Mysql {
            for ix in &t.indexes {
                defs.push(format!("KEY {} ({})", q(ix), q(ix)));
            }
        }
        if matches!(t.key, Key::Child(_)) {
            defs.push("FOREIGN KEY (`cdr_ID`) REFERENCES `cdr` (`ID`) ON DELETE CASCADE".into());
        }
        let tail = match dialect {
            Dialect::Sqlite => "",
            Dialect::Mysql => " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        };
        out.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (\n  {}\n){tail}",
            q(t.name),
            defs.join(",\n  ")
        ));
        if dialect == Dialect::Sqlite {
            for ix in &t.indexes {
                out.push(format!(
                    "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                    q(&format!("{}_{ix}", t.name)),
                    q(t.name),
                    q(ix)
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdr_has_the_full_column_list() {
        let c = cdr_columns();
        // 38 call columns, 2 × 55 per-direction columns, 20 aggregates.
        assert_eq!(c.len(), 38 + 2 * 55 + 20);
        let names: std::collections::HashSet<_> = c.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), c.len(), "no duplicate column");
        for n in [
            "a_mos_lqo_mult10",
            "b_rtcp_fraclost_pktcount",
            "price_customer_currency_id",
            "post_bye_delay",
            "b_last_rtp_from_end",
        ] {
            assert!(names.contains(n), "{n}");
        }
    }

    #[test]
    fn every_mapped_column_exists() {
        let rec = crate::mapping::map_cdr(&crate::mapping::tests_support::sample());
        let names: Vec<String> = cdr_columns().into_iter().map(|(n, _)| n).collect();
        for (n, _) in &rec.cdr {
            assert!(names.contains(n), "{n} is not a cdr column");
        }
    }

    #[test]
    fn ddl_is_idempotent_and_dialect_specific() {
        let s = ddl(Dialect::Sqlite);
        let m = ddl(Dialect::Mysql);
        assert!(s.iter().chain(&m).all(|d| d.contains("IF NOT EXISTS")));
        assert!(m.iter().any(|d| d.contains("enum('caller','callee')")));
        assert!(!s.iter().any(|d| d.contains("enum(")));
        assert!(s.iter().any(|d| d.contains("`cdr_callername_reverse`")));
    }
}
