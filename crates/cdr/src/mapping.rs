//! From the call table's plain data to named column values (behaviour spec §2.3, §2.7, §4.4).
//!
//! Pure functions: no database, no clock. Codebook references (`lastSIPresponse_id`,
//! `a_ua_id`, `b_ua_id`, `ua_id`) stay texts here; the writer resolves them to ids inside the
//! insert transaction.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use voipsensor_calls::cdr::{Cdr, CdrRtcp, CdrRtp, CdrStream, RegisterRow, WhoHanged};

/// One SQL value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// SQL `NULL`.
    #[serde(rename = "n")]
    Null,
    /// A signed integer.
    #[serde(rename = "i")]
    Int(i64),
    /// An unsigned integer (MySQL `bigint unsigned`; SQLite stores its bits as a signed one).
    #[serde(rename = "u")]
    UInt(u64),
    /// A floating-point number.
    #[serde(rename = "f")]
    Float(f64),
    /// Text.
    #[serde(rename = "t")]
    Text(String),
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<u16> for Value {
    fn from(v: u16) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<u8> for Value {
    fn from(v: u8) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Self::UInt(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl<T: Into<Self>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// A row: column names and values, in insert order.
pub type Row = Vec<(String, Value)>;

/// Everything one call writes, codebook texts unresolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CdrRecord {
    /// `cdr` columns except `ID` and the codebook ids.
    pub cdr: Row,
    /// Text of `lastSIPresponse_id` (`cdr_sip_response.lastSIPresponse`).
    pub last_sip_response: String,
    /// Text of `a_ua_id` (`cdr_ua.ua`); `None` → `NULL`.
    pub a_ua: Option<String>,
    /// Text of `b_ua_id`; `None` → `NULL`.
    pub b_ua: Option<String>,
    /// `cdr_next` columns except `cdr_ID`.
    pub next: Row,
    /// `cdr_rtp` rows, columns except `cdr_ID`.
    pub rtp: Vec<Row>,
    /// `cdr_proxy` rows, columns except `cdr_ID`.
    pub proxies: Vec<Row>,
}

/// A `register_state` or `register_failed` row, `ua_id` unresolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterRecord {
    /// `register_failed` instead of `register_state`.
    pub failed: bool,
    /// The columns except `ID` and `ua_id`.
    pub row: Row,
    /// Text of `ua_id`; `None` → `NULL`.
    pub ua: Option<String>,
}

/// One queued record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// A call.
    #[serde(rename = "cdr")]
    Cdr(Box<CdrRecord>),
    /// A registration row.
    #[serde(rename = "reg")]
    Register(RegisterRecord),
}

/// Longest text in a `varchar(255)` column (characters).
const VARCHAR: usize = 255;
/// Longest `cdr_ua.ua`.
pub(crate) const UA_MAX: usize = 512;

/// `s` cut to at most `max` characters (MySQL counts `varchar` lengths in characters).
pub(crate) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => s[..cut].to_owned(),
        None => s.to_owned(),
    }
}

/// `s` reversed byte-wise (`*_reverse`), as text (a multi-byte character reversed byte-wise
/// is no longer UTF-8: such bytes become U+FFFD).
pub fn reverse_bytes(s: &str) -> String {
    let mut bytes = s.as_bytes().to_vec();
    bytes.reverse();
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// An IP column (`int unsigned`): the IPv4 address as a host-order integer; an IPv4-mapped
/// IPv6 address counts as IPv4; any other IPv6 address has no `int unsigned` form: `None`.
pub fn ip_value(ip: IpAddr) -> Option<u32> {
    match ip {
        IpAddr::V4(v4) => Some(u32::from(v4)),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(u32::from),
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a time in µs since the Unix epoch, seconds truncated.
pub fn datetime(us: u64) -> String {
    let secs = us / 1_000_000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm, days ≥ 0).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

fn text(s: &str) -> Value {
    Value::Text(clip(s, VARCHAR))
}

fn push(row: &mut Row, name: &str, value: impl Into<Value>) {
    row.push((name.to_owned(), value.into()));
}

/// The `_d50` … `_d300` suffixes.
const D_BUCKETS: [&str; 7] = ["d50", "d70", "d90", "d120", "d150", "d200", "d300"];

/// The `a_*` / `b_*` columns of one direction (all `NULL` without a stream).
fn stream_columns(row: &mut Row, prefix: &str, s: Option<&CdrStream>) {
    let col = |name: &str| format!("{prefix}_{name}");
    push(row, &col("index"), s.map(|s| s.index));
    push(row, &col("payload"), s.map(|s| s.payload));
    push(row, &col("saddr"), s.and_then(|s| ip_value(s.saddr)));
    push(row, &col("received"), s.map(|s| s.received));
    push(row, &col("lost"), s.map(|s| s.lost));
    push(row, &col("avgjitter_mult10"), s.map(|s| s.avgjitter_mult10));
    push(row, &col("maxjitter"), s.map(|s| s.maxjitter));
    for i in 0..10 {
        push(row, &col(&format!("sl{}", i + 1)), s.map(|s| s.sl[i]));
    }
    for (i, name) in D_BUCKETS.iter().enumerate() {
        push(row, &col(name), s.map(|s| s.d[i]));
    }
    push(row, &col("mos_f1_mult10"), s.map(|s| s.mos_f1_mult10));
    push(row, &col("mos_f2_mult10"), s.map(|s| s.mos_f2_mult10));
    push(row, &col("mos_adapt_mult10"), s.map(|s| s.mos_adapt_mult10));
    push(row, &col("mos_min_mult10"), s.map(|s| s.mos_min_mult10));
    push(
        row,
        &col("packet_loss_perc_mult1000"),
        s.map(|s| s.packet_loss_perc_mult1000),
    );
    let r = s.and_then(|s| s.rtcp);
    push(row, &col("rtcp_loss"), r.map(|r| r.loss));
    push(row, &col("rtcp_maxfr"), r.map(|r| r.maxfr));
    push(row, &col("rtcp_avgfr_mult10"), r.map(|r| r.avgfr_mult10));
    push(row, &col("rtcp_maxjitter"), r.map(|r| r.maxjitter));
    push(
        row,
        &col("rtcp_avgjitter_mult10"),
        r.map(|r| r.avgjitter_mult10),
    );
    push(
        row,
        &col("rtcp_avgrtd_mult10"),
        r.and_then(|r| r.avgrtd_mult10),
    );
    push(
        row,
        &col("rtcp_maxrtd_mult10"),
        r.and_then(|r| r.maxrtd_mult10),
    );
    push(
        row,
        &col("rtcp_fraclost_pktcount"),
        r.map(|r| r.fraclost_pktcount),
    );
}

/// max (or min) of the values present.
fn combine<T: Ord + Copy>(a: Option<T>, b: Option<T>, pick: fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// The rows of one call (§2.3 rules, §2.7 subset; every other §2.2 column stays `NULL`).
pub fn map_cdr(c: &Cdr) -> CdrRecord {
    let mut cdr = Row::with_capacity(128);
    let calldate = datetime(c.calldate_us);
    push(&mut cdr, "calldate", calldate.clone());
    push(&mut cdr, "callend", datetime(c.callend_us));
    push(&mut cdr, "duration", c.duration_s);
    push(&mut cdr, "connect_duration", c.connect_duration_s);
    push(&mut cdr, "progress_time", c.progress_time_s);
    push(&mut cdr, "first_rtp_time", c.first_rtp_time_s);
    for (name, value) in [
        ("caller", &c.caller),
        ("caller_domain", &c.caller_domain),
        ("callername", &c.callername),
        ("called", &c.called),
        ("called_domain", &c.called_domain),
    ] {
        cdr.push((name.to_owned(), text(value)));
    }
    cdr.push(("caller_reverse".into(), text(&reverse_bytes(&c.caller))));
    cdr.push((
        "callername_reverse".into(),
        text(&reverse_bytes(&c.callername)),
    ));
    cdr.push(("called_reverse".into(), text(&reverse_bytes(&c.called))));
    push(&mut cdr, "sipcallerip", ip_value(c.sipcallerip));
    push(&mut cdr, "sipcallerport", c.sipcallerport);
    push(&mut cdr, "sipcalledip", ip_value(c.sipcalledip));
    push(&mut cdr, "sipcalledport", c.sipcalledport);
    push(
        &mut cdr,
        "whohanged",
        c.whohanged.map(|w| {
            match w {
                WhoHanged::Caller => "caller",
                WhoHanged::Callee => "callee",
            }
            .to_owned()
        }),
    );
    push(&mut cdr, "bye", c.bye);
    push(&mut cdr, "lastSIPresponseNum", c.last_sip_response_num);
    push(&mut cdr, "sighup", u8::from(c.sighup));
    push(&mut cdr, "flags", c.flags);
    push(&mut cdr, "vlan", c.vlan);
    push(&mut cdr, "id_sensor", c.id_sensor);
    push(&mut cdr, "response_time_100", c.response_time_100_ms);
    push(&mut cdr, "response_time_xxx", c.response_time_xxx_ms);
    stream_columns(&mut cdr, "a", c.a.as_ref());
    stream_columns(&mut cdr, "b", c.b.as_ref());
    let (a, b) = (c.a.as_ref(), c.b.as_ref());
    push(&mut cdr, "payload", a.or(b).map(|s| s.payload));
    let max = |f: fn(&CdrStream) -> u32| combine(a.map(f), b.map(f), std::cmp::max);
    push(&mut cdr, "jitter_mult10", max(|s| s.avgjitter_mult10));
    push(
        &mut cdr,
        "packet_loss_perc_mult1000",
        max(|s| s.packet_loss_perc_mult1000),
    );
    push(&mut cdr, "lost", max(|s| s.lost));
    // rtcp_avgfr_mult10 / rtcp_avgjitter_mult10 = a + b (§2.3).
    let rtcp_sum = |f: fn(&CdrRtcp) -> u32| {
        let (ra, rb) = (a.and_then(|s| s.rtcp), b.and_then(|s| s.rtcp));
        (ra.is_some() || rb.is_some()).then(|| ra.map_or(0, |r| f(&r)) + rb.map_or(0, |r| f(&r)))
    };
    push(&mut cdr, "rtcp_avgfr_mult10", rtcp_sum(|r| r.avgfr_mult10));
    push(
        &mut cdr,
        "rtcp_avgjitter_mult10",
        rtcp_sum(|r| r.avgjitter_mult10),
    );
    push(
        &mut cdr,
        "mos_min_mult10",
        combine(
            a.map(|s| s.mos_min_mult10),
            b.map(|s| s.mos_min_mult10),
            std::cmp::min,
        ),
    );

    let mut next = Row::new();
    push(&mut next, "calldate", calldate.clone());
    next.push((
        "fbasename".into(),
        text(&String::from_utf8_lossy(&c.fbasename)),
    ));
    next.push(("digest_username".into(), text(&c.digest_username)));

    let rtp = c.streams.iter().map(|s| rtp_row(&calldate, s)).collect();
    let mut seen = Vec::new();
    let proxies = c
        .proxies
        .iter()
        .filter(|ip| {
            let new = !seen.contains(ip);
            seen.push(*ip);
            new
        })
        .map(|ip| {
            let mut row = Row::new();
            push(&mut row, "calldate", calldate.clone());
            push(&mut row, "dst", ip_value(*ip));
            row
        })
        .collect();
    let ua = |s: &str| (!s.is_empty()).then(|| clip(s, UA_MAX));
    CdrRecord {
        cdr,
        last_sip_response: clip(&c.last_sip_response, VARCHAR),
        a_ua: ua(&c.caller_ua),
        b_ua: ua(&c.callee_ua),
        next,
        rtp,
        proxies,
    }
}

fn rtp_row(calldate: &str, s: &CdrRtp) -> Row {
    let mut row = Row::new();
    push(&mut row, "calldate", calldate.to_owned());
    push(&mut row, "saddr", ip_value(s.saddr));
    push(&mut row, "sport", s.sport);
    push(&mut row, "daddr", ip_value(s.daddr));
    push(&mut row, "dport", s.dport);
    push(&mut row, "ssrc", s.ssrc);
    push(&mut row, "received", s.received);
    push(&mut row, "loss", s.loss);
    push(&mut row, "firsttime", s.firsttime_s);
    push(&mut row, "payload", s.payload);
    push(&mut row, "maxjitter_mult10", s.maxjitter_mult10);
    push(&mut row, "index", s.index);
    push(&mut row, "flags", s.flags);
    push(&mut row, "duration", s.duration_s);
    push(&mut row, "sdp_ptime", s.sdp_ptime);
    push(&mut row, "rtp_ptime", s.rtp_ptime);
    push(&mut row, "ttl_min", s.ttl_min);
    push(&mut row, "ttl_max", s.ttl_max);
    push(&mut row, "ttl_avg_mult10", s.ttl_avg_mult10);
    row
}

/// A `register_state` / `register_failed` row (§4.4). The IP columns are `NOT NULL` there: an
/// IPv6 address (no `int unsigned` form) is written as 0; an unset `id_sensor` as 0, as
/// MySQL does for the reference, which omits it.
pub fn map_register(r: &RegisterRow) -> RegisterRecord {
    let mut row = Row::new();
    push(&mut row, "id_sensor", r.id_sensor.unwrap_or(0));
    push(&mut row, "created_at", datetime(r.created_us));
    push(&mut row, "fname", r.fname);
    push(
        &mut row,
        "sipcallerip",
        ip_value(r.sipcallerip).unwrap_or(0),
    );
    push(&mut row, "sipcallerport", r.sipcallerport);
    push(
        &mut row,
        "sipcalledip",
        ip_value(r.sipcalledip).unwrap_or(0),
    );
    push(&mut row, "sipcalledport", r.sipcalledport);
    for (name, value) in [
        ("from_num", &r.from_num),
        ("to_num", &r.to_num),
        ("to_domain", &r.to_domain),
        ("contact_num", &r.contact_num),
        ("contact_domain", &r.contact_domain),
        ("digestusername", &r.digest_username),
        ("digestrealm", &r.digest_realm),
    ] {
        row.push((name.to_owned(), text(value)));
    }
    if r.failed {
        push(&mut row, "counter", r.counter);
    } else {
        push(&mut row, "expires", r.expires);
        push(&mut row, "state", r.state);
    }
    push(&mut row, "vlan", r.vlan);
    RegisterRecord {
        failed: r.failed,
        row,
        ua: (!r.ua.is_empty()).then(|| clip(&r.ua, UA_MAX)),
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn stream(index: u8, payload: i32, jitter: u32, loss: u32, lost: u32, mos: u8) -> CdrStream {
        CdrStream {
            index,
            payload,
            saddr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, index + 1)),
            received: 250,
            lost,
            avgjitter_mult10: jitter,
            maxjitter: 7,
            sl: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            d: [11, 12, 13, 14, 15, 16, 17],
            mos_f1_mult10: 41,
            mos_f2_mult10: 43,
            mos_adapt_mult10: 44,
            mos_min_mult10: mos,
            packet_loss_perc_mult1000: loss,
            rtcp: None,
        }
    }

    pub(crate) fn sample() -> Cdr {
        Cdr {
            fbasename: b"abc@host".to_vec(),
            calldate_us: 1_700_000_000_123_456,
            callend_us: 1_700_000_042_999_999,
            duration_s: 42,
            connect_duration_s: Some(40),
            progress_time_s: Some(1),
            first_rtp_time_s: Some(2),
            caller: "1001".into(),
            caller_domain: "a.example".into(),
            callername: "Alice".into(),
            called: "2002".into(),
            called_domain: "b.example".into(),
            sipcallerip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)),
            sipcallerport: 5060,
            sipcalledip: IpAddr::V6(Ipv6Addr::LOCALHOST),
            sipcalledport: 5070,
            whohanged: Some(WhoHanged::Callee),
            bye: 3,
            last_sip_response_num: 200,
            last_sip_response: "200 OK".into(),
            sighup: false,
            vlan: Some(12),
            id_sensor: Some(7),
            response_time_100_ms: Some(3),
            response_time_xxx_ms: None,
            caller_ua: "UA-A".into(),
            callee_ua: String::new(),
            digest_username: "alice".into(),
            proxies: vec![
                IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)),
                IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)),
                IpAddr::V4(Ipv4Addr::new(10, 1, 1, 2)),
            ],
            a: Some(stream(0, 8, 15, 1200, 3, 42)),
            b: Some(stream(1, 0, 25, 800, 9, 39)),
            streams: vec![CdrRtp {
                saddr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                sport: 4000,
                daddr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                dport: 4002,
                ssrc: 0xdead_beef,
                received: 250,
                loss: 3,
                firsttime_s: 2.5,
                payload: 8,
                maxjitter_mult10: 70,
                index: 1,
                flags: 0b110,
                duration_s: 39.75,
                sdp_ptime: Some(20),
                rtp_ptime: Some(20),
                ttl_min: Some(60),
                ttl_max: Some(64),
                ttl_avg_mult10: Some(625),
            }],
            flags: (1 << 24) | (1 << 32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::sample;
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn get<'a>(row: &'a Row, name: &str) -> &'a Value {
        row.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    fn int(v: i64) -> Value {
        Value::Int(v)
    }

    #[test]
    fn datetimes_are_utc_and_truncated() {
        assert_eq!(datetime(0), "1970-01-01 00:00:00");
        assert_eq!(datetime(1_700_000_000_999_999), "2023-11-14 22:13:20");
        assert_eq!(datetime(951_782_400_000_000), "2000-02-29 00:00:00");
        assert_eq!(datetime(4_107_542_399_000_000), "2100-02-28 23:59:59");
    }

    #[test]
    fn ips_are_host_order_integers() {
        assert_eq!(
            ip_value(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10))),
            Some(3_232_235_786)
        );
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert_eq!(ip_value(mapped), Some(0x0a00_0001));
        assert_eq!(ip_value(IpAddr::V6(Ipv6Addr::LOCALHOST)), None);
    }

    #[test]
    fn reverse_is_bytewise() {
        assert_eq!(reverse_bytes("1001abc"), "cba1001");
        assert_eq!(reverse_bytes(""), "");
        // "é" is two bytes: reversed, they are not UTF-8 any more.
        assert_eq!(reverse_bytes("aé"), "\u{FFFD}\u{FFFD}a");
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("ééé", 2), "éé");
        assert_eq!(clip("ab", 5), "ab");
    }

    #[test]
    fn call_level_columns() {
        let r = map_cdr(&sample());
        let c = &r.cdr;
        assert_eq!(
            get(c, "calldate"),
            &Value::Text("2023-11-14 22:13:20".into())
        );
        assert_eq!(
            get(c, "callend"),
            &Value::Text("2023-11-14 22:14:02".into())
        );
        assert_eq!(get(c, "duration"), &int(42));
        assert_eq!(get(c, "connect_duration"), &int(40));
        assert_eq!(get(c, "caller"), &Value::Text("1001".into()));
        assert_eq!(get(c, "caller_reverse"), &Value::Text("1001".into()));
        assert_eq!(get(c, "called_reverse"), &Value::Text("2002".into()));
        assert_eq!(get(c, "callername_reverse"), &Value::Text("ecilA".into()));
        assert_eq!(get(c, "sipcallerip"), &int(3_232_235_786));
        assert_eq!(get(c, "sipcalledip"), &Value::Null, "IPv6 → NULL");
        assert_eq!(get(c, "sipcalledport"), &int(5070));
        assert_eq!(get(c, "whohanged"), &Value::Text("callee".into()));
        assert_eq!(get(c, "bye"), &int(3));
        assert_eq!(get(c, "lastSIPresponseNum"), &int(200));
        assert_eq!(get(c, "sighup"), &int(0));
        assert_eq!(get(c, "flags"), &Value::UInt((1 << 24) | (1 << 32)));
        assert_eq!(get(c, "vlan"), &int(12));
        assert_eq!(get(c, "id_sensor"), &int(7));
        assert_eq!(get(c, "response_time_100"), &int(3));
        assert_eq!(get(c, "response_time_xxx"), &Value::Null);
        assert_eq!(r.last_sip_response, "200 OK");
        assert_eq!(r.a_ua.as_deref(), Some("UA-A"));
        assert_eq!(r.b_ua, None, "no User-Agent → NULL");
        assert!(
            !c.iter().any(|(n, _)| n == "ID" || n.ends_with("_id")),
            "ids are the writer's"
        );
    }

    #[test]
    fn stream_columns_and_aggregates() {
        let c = map_cdr(&sample()).cdr;
        assert_eq!(get(&c, "a_index"), &int(0));
        assert_eq!(get(&c, "b_index"), &int(1));
        assert_eq!(get(&c, "a_payload"), &int(8));
        assert_eq!(get(&c, "a_saddr"), &int(0x0a00_0001));
        assert_eq!(get(&c, "a_sl1"), &int(1));
        assert_eq!(get(&c, "a_sl10"), &int(10));
        assert_eq!(get(&c, "b_d50"), &int(11));
        assert_eq!(get(&c, "b_d300"), &int(17));
        assert_eq!(get(&c, "a_mos_f1_mult10"), &int(41));
        assert_eq!(get(&c, "b_mos_adapt_mult10"), &int(44));
        assert_eq!(get(&c, "a_packet_loss_perc_mult1000"), &int(1200));
        assert_eq!(get(&c, "payload"), &int(8), "A's payload");
        assert_eq!(get(&c, "jitter_mult10"), &int(25), "max of 15 and 25");
        assert_eq!(get(&c, "packet_loss_perc_mult1000"), &int(1200));
        assert_eq!(get(&c, "lost"), &int(9));
        assert_eq!(get(&c, "mos_min_mult10"), &int(39), "min of 42 and 39");
    }

    #[test]
    fn rtcp_columns_per_side_and_summed() {
        let mut cdr = sample();
        let rtcp = |loss, avgfr| CdrRtcp {
            loss,
            maxfr: 7,
            avgfr_mult10: avgfr,
            maxjitter: 12,
            avgjitter_mult10: 95,
            avgrtd_mult10: Some(231),
            maxrtd_mult10: Some(402),
            fraclost_pktcount: 6,
        };
        if let Some(a) = cdr.a.as_mut() {
            a.rtcp = Some(rtcp(-3, 15));
        }
        if let Some(b) = cdr.b.as_mut() {
            b.rtcp = Some(rtcp(4, 20));
        }
        let c = map_cdr(&cdr).cdr;
        assert_eq!(get(&c, "a_rtcp_loss"), &int(-3), "signed");
        assert_eq!(get(&c, "b_rtcp_maxfr"), &int(7));
        assert_eq!(get(&c, "a_rtcp_avgrtd_mult10"), &int(231));
        assert_eq!(get(&c, "rtcp_avgfr_mult10"), &int(35), "a + b");
        assert_eq!(get(&c, "rtcp_avgjitter_mult10"), &int(190));
        let none = map_cdr(&sample()).cdr;
        assert_eq!(get(&none, "a_rtcp_loss"), &Value::Null);
        assert_eq!(get(&none, "rtcp_avgfr_mult10"), &Value::Null);
    }

    #[test]
    fn b_only_call_takes_b_values() {
        let mut cdr = sample();
        cdr.a = None;
        let c = map_cdr(&cdr).cdr;
        assert_eq!(get(&c, "a_payload"), &Value::Null);
        assert_eq!(get(&c, "payload"), &int(0), "B's payload");
        assert_eq!(get(&c, "mos_min_mult10"), &int(39));
        assert_eq!(get(&c, "jitter_mult10"), &int(25));
    }

    #[test]
    fn no_rtp_means_nulls() {
        let mut cdr = sample();
        cdr.a = None;
        cdr.b = None;
        cdr.streams.clear();
        cdr.first_rtp_time_s = None;
        let r = map_cdr(&cdr);
        for name in [
            "first_rtp_time",
            "a_payload",
            "b_received",
            "a_sl5",
            "b_mos_min_mult10",
            "payload",
            "jitter_mult10",
            "mos_min_mult10",
            "packet_loss_perc_mult1000",
            "lost",
        ] {
            assert_eq!(get(&r.cdr, name), &Value::Null, "{name}");
        }
        assert!(r.rtp.is_empty());
    }

    #[test]
    fn children() {
        let r = map_cdr(&sample());
        assert_eq!(get(&r.next, "fbasename"), &Value::Text("abc@host".into()));
        assert_eq!(
            get(&r.next, "digest_username"),
            &Value::Text("alice".into())
        );
        assert_eq!(get(&r.next, "calldate"), get(&r.cdr, "calldate"));
        assert_eq!(r.rtp.len(), 1);
        assert_eq!(get(&r.rtp[0], "ssrc"), &int(0xdead_beef));
        assert_eq!(get(&r.rtp[0], "firsttime"), &Value::Float(2.5));
        assert_eq!(get(&r.rtp[0], "index"), &int(1));
        assert_eq!(get(&r.rtp[0], "sdp_ptime"), &int(20));
        assert_eq!(get(&r.rtp[0], "ttl_avg_mult10"), &int(625));
        assert_eq!(r.proxies.len(), 2, "distinct proxy IPs");
        assert_eq!(get(&r.proxies[1], "dst"), &int(0x0a01_0102));
    }

    #[test]
    fn long_texts_are_clipped() {
        let mut cdr = sample();
        cdr.caller = "x".repeat(300);
        cdr.caller_ua = "u".repeat(600);
        let r = map_cdr(&cdr);
        assert_eq!(get(&r.cdr, "caller"), &Value::Text("x".repeat(255)));
        assert_eq!(r.a_ua.map(|s| s.len()), Some(512));
    }

    #[test]
    fn register_rows() {
        let mut row = RegisterRow {
            failed: false,
            created_us: 1_700_000_000_000_000,
            id_sensor: None,
            sipcallerip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            sipcallerport: 5060,
            sipcalledip: IpAddr::V6(Ipv6Addr::LOCALHOST),
            sipcalledport: 5060,
            from_num: "100".into(),
            to_num: "100".into(),
            to_domain: "d".into(),
            contact_num: "100".into(),
            contact_domain: "10.0.0.1".into(),
            digest_username: "u".into(),
            digest_realm: "r".into(),
            expires: 120,
            state: 1,
            ua: "phone".into(),
            vlan: None,
            counter: 1,
            fname: 0,
        };
        let r = map_register(&row);
        assert!(!r.failed);
        assert_eq!(get(&r.row, "id_sensor"), &int(0));
        assert_eq!(get(&r.row, "sipcalledip"), &int(0), "NOT NULL column");
        assert_eq!(get(&r.row, "expires"), &int(120));
        assert_eq!(get(&r.row, "state"), &int(1));
        assert!(!r.row.iter().any(|(n, _)| n == "counter"));
        assert_eq!(r.ua.as_deref(), Some("phone"));
        row.failed = true;
        row.ua.clear();
        let r = map_register(&row);
        assert_eq!(get(&r.row, "counter"), &int(1));
        assert!(!r.row.iter().any(|(n, _)| n == "expires" || n == "state"));
        assert_eq!(r.ua, None);
    }

    #[test]
    fn records_round_trip_through_json() {
        let rec = Record::Cdr(Box::new(map_cdr(&sample())));
        let json = serde_json::to_string(&rec).expect("ser");
        let back: Record = serde_json::from_str(&json).expect("de");
        assert_eq!(back, rec);
    }
}
