//! `sniffer_stat [plain]` (spec §4.9) and the status line it carries (behaviour spec §6).

use crate::json::write_string;
use std::fmt::Write as _;

/// The figures `sniffer_stat` reports.
#[derive(Debug, Clone, Default)]
pub struct SnifferStat {
    /// `version`.
    pub version: String,
    /// `build`.
    pub build: String,
    /// True while the sensor is still starting (adds `initializing`).
    pub initializing: bool,
    /// Local time of the last CDR batch write, `YYYY-MM-DD HH:MM:SS`; `None` before the first.
    pub storing_cdr_last_write_at: Option<String>,
    /// The periodic status line (`pbStatString`), see [`StatusLine`].
    pub status_line: String,
    /// Packets dropped (`pbCountPacketDrop`).
    pub packet_drops: u64,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Packet buffer memory full.
    pub memory_is_full: bool,
    /// Live-sniffer sessions.
    pub live_sniffers: u32,
    /// Fatal error text, empty when none.
    pub terminating_error: String,
}

/// The parts of the status line this sensor measures, rendered in the reference's token order.
#[derive(Debug, Clone, Default)]
pub struct StatusLine {
    /// Calls in the active call table.
    pub calls_active: u64,
    /// Open REGISTER transactions.
    pub registers_open: u64,
    /// Call objects still alive (active + closing).
    pub calls_alive: u64,
    /// REGISTER transaction objects still alive.
    pub registers_alive: u64,
    /// Per-second packet and call rates of the last period (`PS[...]`), once measured.
    pub rates: Option<PacketRates>,
    /// Totals of what the sensor's limits refused or displaced (`limits[...]`).
    pub limits: Option<LimitCounters>,
    /// Totals of malformed input counted and dropped (`malformed[...]`).
    pub malformed: Option<MalformedCounters>,
    /// Resident and virtual memory in MB, when known.
    pub rss_vsz_mb: Option<(u64, u64)>,
    /// The three load averages, when known.
    pub load_average: Option<[f64; 3]>,
    /// Version for the trailing `v<version>` token.
    pub version: String,
}

/// Per-second rates of the `PS[...]` token (behaviour spec §6), over the last period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PacketRates {
    /// `C:n/-m`: calls created / calls removed.
    pub calls_new: f64,
    /// See [`PacketRates::calls_new`].
    pub calls_removed: f64,
    /// `r:n/-m`: REGISTER transactions opened / closed.
    pub registers_new: f64,
    /// See [`PacketRates::registers_new`].
    pub registers_removed: f64,
    /// `S:a/b`: payloads detected as SIP / SIP messages processed.
    pub sip_detected: f64,
    /// See [`PacketRates::sip_detected`].
    pub sip_processed: f64,
    /// `SR:n`: REGISTER messages.
    pub sip_register: f64,
    /// `SM:n`: MESSAGE messages.
    pub sip_message: f64,
    /// `R:a/b`: UDP datagrams matching an SDP address / RTP packets accepted into streams.
    pub rtp_matched: f64,
    /// See [`PacketRates::rtp_matched`].
    pub rtp_accepted: f64,
    /// `A:n`: all packets.
    pub all_packets: f64,
}

/// What the memory bounds refused or displaced since start (our `limits[...]` token).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitCounters {
    /// INVITEs refused because the call table was full.
    pub calls_refused: u64,
    /// REGISTER transactions or records refused because their table was full.
    pub registers_refused: u64,
    /// Media bindings displaced because too many calls shared one ip:port.
    pub media_evicted: u64,
}

/// Malformed input counted and dropped since start (our `malformed[...]` token).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MalformedCounters {
    /// Frames that did not decode.
    pub frames: u64,
    /// SIP payloads that did not parse.
    pub sip: u64,
}

/// A rate as the status line prints it: one decimal below 10, whole numbers above.
fn rate(v: f64) -> String {
    let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
    if v < 10.0 && v.fract() != 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

impl StatusLine {
    /// `calls[A,r:B][C,r:D] PS[...] limits[...] malformed[...] RSS/VSZ[r|v]MB LA[a b c]
    /// v<version> ` (note the trailing space); the optional tokens only when known.
    pub fn render(&self) -> String {
        let mut s = format!(
            "calls[{},r:{}][{},r:{}] ",
            self.calls_active, self.registers_open, self.calls_alive, self.registers_alive
        );
        if let Some(p) = &self.rates {
            let _ = write!(
                s,
                "PS[C:{}/-{} r:{}/-{} S:{}/{} SR:{} SM:{} R:{}/{} A:{}] ",
                rate(p.calls_new),
                rate(p.calls_removed),
                rate(p.registers_new),
                rate(p.registers_removed),
                rate(p.sip_detected),
                rate(p.sip_processed),
                rate(p.sip_register),
                rate(p.sip_message),
                rate(p.rtp_matched),
                rate(p.rtp_accepted),
                rate(p.all_packets),
            );
        }
        if let Some(l) = &self.limits {
            let _ = write!(
                s,
                "limits[calls_refused:{},registers_refused:{},media_evicted:{}] ",
                l.calls_refused, l.registers_refused, l.media_evicted
            );
        }
        if let Some(m) = &self.malformed {
            let _ = write!(s, "malformed[frames:{},sip:{}] ", m.frames, m.sip);
        }
        if let Some((rss, vsz)) = self.rss_vsz_mb {
            let _ = write!(s, "RSS/VSZ[{rss}|{vsz}]MB ");
        }
        if let Some([a, b, c]) = self.load_average {
            let _ = write!(s, "LA[{a:.2} {b:.2} {c:.2}] ");
        }
        let _ = write!(s, "v{} ", self.version);
        s
    }
}

impl SnifferStat {
    /// The default reply: hand-built JSON with a space after each colon, ending with `\n`.
    pub fn render_json(&self) -> String {
        let mut out = String::with_capacity(512);
        let field = |out: &mut String, key: &str, value: &str, first: bool| {
            if !first {
                out.push(',');
            }
            write_string(out, key);
            out.push_str(": ");
            write_string(out, value);
        };
        out.push('{');
        field(&mut out, "version", &self.version, true);
        if self.initializing {
            out.push_str(",\"initializing\": true");
        }
        field(&mut out, "build", &self.build, false);
        field(&mut out, "rrd_version", "0", false);
        field(
            &mut out,
            "storingCdrLastWriteAt",
            self.storing_cdr_last_write_at.as_deref().unwrap_or(""),
            false,
        );
        field(&mut out, "pbStatString", &self.status_line, false);
        field(
            &mut out,
            "pbCountPacketDrop",
            &self.packet_drops.to_string(),
            false,
        );
        field(&mut out, "uptime", &self.uptime_secs.to_string(), false);
        field(
            &mut out,
            "memory_is_full",
            if self.memory_is_full { "1" } else { "0" },
            false,
        );
        field(
            &mut out,
            "count_live_sniffers",
            &self.live_sniffers.to_string(),
            false,
        );
        field(&mut out, "upgrade_by_git", "0", false);
        field(&mut out, "use_new_config", "1", false);
        field(
            &mut out,
            "terminating_error",
            &self.terminating_error,
            false,
        );
        out.push_str(",\"disk_io\": null}\n");
        out
    }

    /// The `plain` variant: `key=value\n` lines, the status line split into its tokens.
    pub fn render_plain(&self) -> String {
        let mut out = String::with_capacity(512);
        let _ = writeln!(out, "version={}", self.version);
        if self.initializing {
            out.push_str("initializing=1\n");
        }
        let _ = writeln!(out, "build={}", self.build);
        out.push_str("rrd_version=0\n");
        let _ = writeln!(
            out,
            "storingCdrLastWriteAt={}",
            self.storing_cdr_last_write_at.as_deref().unwrap_or("")
        );
        for (key, value) in status_tokens(&self.status_line) {
            let _ = writeln!(out, "{key}={value}");
        }
        let _ = writeln!(out, "pbCountPacketDrop={}", self.packet_drops);
        let _ = writeln!(out, "uptime={}", self.uptime_secs);
        let _ = writeln!(out, "memory_is_full={}", u8::from(self.memory_is_full));
        let _ = writeln!(out, "count_live_sniffers={}", self.live_sniffers);
        out.push_str("upgrade_by_git=0\nuse_new_config=1\n");
        let _ = writeln!(out, "terminating_error={}", self.terminating_error);
        out
    }
}

/// Splits a status line into `name=value` pairs the way the plain variant does: a token is
/// `name[value]suffix`; a nameless token becomes `total_traffic`; `calls[A][C]` becomes
/// `calls_active` and `calls_final`; a token without brackets is dropped. Brackets may hold
/// spaces (`LA[0.02 0.23 0.42|2h]`).
pub fn status_tokens(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i] != b'[' && b[i] != b' ' {
            i += 1;
        }
        let name = &line[start..i];
        if i >= b.len() || b[i] == b' ' {
            continue; // no brackets: dropped
        }
        let mut groups = Vec::new();
        while i < b.len() && b[i] == b'[' {
            let open = i + 1;
            let close = line[open..].find(']').map_or(b.len(), |p| open + p);
            groups.push(&line[open..close]);
            i = (close + 1).min(b.len());
        }
        let suffix_start = i;
        while i < b.len() && b[i] != b' ' {
            i += 1;
        }
        let suffix = &line[suffix_start..i];
        match (name, groups.as_slice()) {
            ("calls", [active, fin, ..]) => {
                out.push(("calls_active".to_owned(), (*active).to_owned()));
                out.push(("calls_final".to_owned(), format!("{fin}{suffix}")));
            }
            ("", [value, ..]) => out.push(("total_traffic".to_owned(), format!("{value}{suffix}"))),
            (name, [value, ..]) => out.push((name.to_owned(), format!("{value}{suffix}"))),
            (_, []) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat() -> SnifferStat {
        SnifferStat {
            version: "2026.04.0".into(),
            build: "local_build".into(),
            status_line: "calls[0,r:0][0,r:0] heap[u0|t0] [2.2/2.2Mb/s] RSS/VSZ[113|1597]MB LA[0.30 0.43 0.57|2h] v2026.04.0 ".into(),
            uptime_secs: 25,
            ..SnifferStat::default()
        }
    }

    #[test]
    fn json_shape_matches_the_reference() {
        let json = stat().render_json();
        let sample = include_str!("../../../testdata/reference-replies/sniffer_stat.txt");
        let keys = |s: &str| -> Vec<String> {
            s.split("\": ")
                .filter_map(|p| p.rsplit('"').next().map(str::to_owned))
                .collect()
        };
        // Every key up to and including `disk_io`, in the reference's order.
        let ours = keys(&json)[..13].to_vec();
        assert_eq!(ours, keys(sample)[..13].to_vec());
        assert_eq!(ours.last().map(String::as_str), Some("disk_io"));
        assert!(json.starts_with(r#"{"version": "2026.04.0","build": "local_build","rrd_version": "0","storingCdrLastWriteAt": "","pbStatString": "calls[0,r:0]"#));
        assert!(json.ends_with("\"terminating_error\": \"\",\"disk_io\": null}\n"));
        serde_json::from_str::<serde_json::Value>(&json).expect("valid JSON");
    }

    #[test]
    fn plain_variant() {
        let plain = stat().render_plain();
        assert!(plain.starts_with(
            "version=2026.04.0\nbuild=local_build\nrrd_version=0\nstoringCdrLastWriteAt=\n"
        ));
        assert!(plain.contains("\ncalls_active=0,r:0\ncalls_final=0,r:0\nheap=u0|t0\ntotal_traffic=2.2/2.2Mb/s\nRSS/VSZ=113|1597MB\nLA=0.30 0.43 0.57|2h\npbCountPacketDrop=0\n"), "{plain}");
        assert!(!plain.contains("v2026"));
        assert!(plain.ends_with("use_new_config=1\nterminating_error=\n"));
    }

    #[test]
    fn initializing_flag() {
        let s = SnifferStat {
            initializing: true,
            ..stat()
        };
        assert!(
            s.render_json()
                .starts_with(r#"{"version": "2026.04.0","initializing": true,"build""#)
        );
        assert!(
            s.render_plain()
                .starts_with("version=2026.04.0\ninitializing=1\nbuild=")
        );
    }

    #[test]
    fn status_line_render() {
        let line = StatusLine {
            calls_active: 3,
            registers_open: 1,
            calls_alive: 5,
            registers_alive: 2,
            rss_vsz_mb: Some((12, 300)),
            load_average: Some([0.5, 0.25, 1.0]),
            version: "2026.04.0".into(),
            ..StatusLine::default()
        }
        .render();
        assert_eq!(
            line,
            "calls[3,r:1][5,r:2] RSS/VSZ[12|300]MB LA[0.50 0.25 1.00] v2026.04.0 "
        );
    }

    #[test]
    fn packet_rates_limits_and_malformed_tokens() {
        let line = StatusLine {
            calls_active: 1,
            rates: Some(PacketRates {
                calls_new: 0.3,
                calls_removed: 0.2,
                registers_new: 2.0,
                registers_removed: 1.5,
                sip_detected: 4.0,
                sip_processed: 3.9,
                sip_register: 1.0,
                sip_message: 0.0,
                rtp_matched: 120.4,
                rtp_accepted: 119.6,
                all_packets: 12_345.0,
            }),
            limits: Some(LimitCounters {
                calls_refused: 7,
                registers_refused: 0,
                media_evicted: 2,
            }),
            malformed: Some(MalformedCounters { frames: 3, sip: 4 }),
            version: "2026.04.0".into(),
            ..StatusLine::default()
        }
        .render();
        assert_eq!(
            line,
            "calls[1,r:0][0,r:0] PS[C:0.3/-0.2 r:2/-1.5 S:4/3.9 SR:1 SM:0 R:120/120 A:12345] limits[calls_refused:7,registers_refused:0,media_evicted:2] malformed[frames:3,sip:4] v2026.04.0 "
        );
        let plain: Vec<(String, String)> = status_tokens(&line);
        assert_eq!(plain[2].0, "PS");
        assert_eq!(
            plain[2].1,
            "C:0.3/-0.2 r:2/-1.5 S:4/3.9 SR:1 SM:0 R:120/120 A:12345"
        );
        assert_eq!(
            plain[3],
            (
                "limits".to_owned(),
                "calls_refused:7,registers_refused:0,media_evicted:2".to_owned()
            )
        );
        assert_eq!(
            plain[4],
            ("malformed".to_owned(), "frames:3,sip:4".to_owned())
        );
    }
}
