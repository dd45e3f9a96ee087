//! The sensor's state as the manager API sees it.

use crate::packet_path::PathStats;
use crate::replay::PacketClock;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use voipsensor_calls::{CallTable, Counters};
use voipsensor_config::Config;
use voipsensor_manager_proto::dispatch::{InterfaceStats, SensorState};
use voipsensor_manager_proto::files::SpoolDirs;
use voipsensor_manager_proto::json::Row;
use voipsensor_manager_proto::listcalls::Summary;
use voipsensor_manager_proto::sniffer_stat::{
    LimitCounters, MalformedCounters, PacketRates, SnifferStat, StatusLine,
};

/// The running sensor: its identity, start time, call and registration tables and counters.
#[derive(Debug)]
pub struct Sensor {
    started: Instant,
    id_sensor: i64,
    sip_ports: String,
    table: Arc<Mutex<CallTable>>,
    clock: Arc<PacketClock>,
    /// Packet-path counters.
    stats: Arc<PathStats>,
    /// The period over which `sniffer_stat` reports rates.
    rates: Mutex<RateWindow>,
    /// Per-interface counters when capturing live.
    live: Option<Arc<Vec<Arc<crate::live::LiveCounters>>>>,
    /// The CDR writer, for `storingCdrLastWriteAt`.
    cdrs: Option<Arc<crate::cdrs::Cdrs>>,
    /// The directories the manager's file commands serve from.
    spool: SpoolDirs,
}

impl Sensor {
    /// A sensor configured by `config`, started now, answering from `table`.
    pub fn new(
        config: &Config,
        table: Arc<Mutex<CallTable>>,
        clock: Arc<PacketClock>,
        stats: Arc<PathStats>,
    ) -> Self {
        Self {
            started: Instant::now(),
            id_sensor: config.id_sensor.map_or(-1, i64::from),
            sip_ports: config.sip_ports.to_reference_list(),
            table,
            clock,
            stats,
            rates: Mutex::new(RateWindow::new(Instant::now())),
            live: None,
            cdrs: None,
            spool: spool_dirs(config),
        }
    }

    /// Reports the CDR writer's last batch in `sniffer_stat`.
    #[must_use]
    pub(crate) fn with_cdrs(mut self, cdrs: Arc<crate::cdrs::Cdrs>) -> Self {
        self.cdrs = Some(cdrs);
        self
    }

    /// Reports these live captures' counters in `pcapstat`.
    #[must_use]
    pub fn with_live(mut self, counters: Arc<Vec<Arc<crate::live::LiveCounters>>>) -> Self {
        self.live = Some(counters);
        self
    }

    /// A sensor with empty tables and no packet source (for benchmarks and tests).
    pub fn idle(config: &Config) -> Self {
        let table = CallTable::new(voipsensor_calls::CallsConfig::default());
        Self::new(
            config,
            Arc::new(Mutex::new(table)),
            Arc::default(),
            Arc::default(),
        )
    }

    fn table(&self) -> MutexGuard<'_, CallTable> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The spool directories of `config`, for the manager's file commands.
pub(crate) fn spool_dirs(config: &Config) -> SpoolDirs {
    SpoolDirs {
        main: config.spooldir.clone(),
        rtp: config.spooldir_rtp.clone(),
        graph: config.spooldir_graph.clone(),
        audio: config.spooldir_audio.clone(),
        secondary: config.spooldir_2.clone(),
    }
}

impl SensorState for Sensor {
    fn call_rows(&self) -> Vec<Row> {
        self.table().listcalls_rows(self.clock.now_us())
    }

    fn total_calls(&self) -> u64 {
        self.table().total_calls()
    }

    fn register_rows(&self) -> Vec<Row> {
        self.table().register_rows(self.clock.now_us())
    }

    fn total_registers(&self) -> u64 {
        self.table().total_registers()
    }

    fn summary(&self) -> Summary {
        Summary {
            is_receiver: false,
            is_server: false,
            id_sensor: self.id_sensor,
        }
    }

    fn sniffer_stat(&self) -> SnifferStat {
        let (active, alive, open_registers, counters) = {
            let t = self.table();
            (
                t.listed_calls(self.clock.now_us()),
                t.total_calls(),
                t.open_register_transactions(),
                t.counters(),
            )
        };
        let snapshot = Snapshot::take(&counters, &self.stats);
        let rates = self
            .rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sample(Instant::now(), snapshot);
        let status = StatusLine {
            calls_active: active,
            registers_open: open_registers,
            calls_alive: alive,
            registers_alive: open_registers,
            rates,
            limits: Some(LimitCounters {
                calls_refused: counters.calls_refused,
                registers_refused: counters.registers_refused,
                media_evicted: counters.evictions,
            }),
            malformed: Some(MalformedCounters {
                frames: self.stats.undecodable.load(Ordering::Relaxed),
                sip: self.stats.sip_malformed.load(Ordering::Relaxed),
            }),
            rss_vsz_mb: memory_mb(),
            load_average: load_average(),
            version: voipsensor_manager_proto::VERSION.to_owned(),
        };
        let packet_drops = self
            .capture_stats()
            .map_or(0, |s| s.iter().map(|i| i.ring_drops).sum());
        SnifferStat {
            version: voipsensor_manager_proto::VERSION.to_owned(),
            build: voipsensor_manager_proto::BUILD.to_owned(),
            status_line: status.render(),
            packet_drops,
            storing_cdr_last_write_at: self.cdrs.as_ref().and_then(|c| c.last_write()),
            uptime_secs: self.started.elapsed().as_secs(),
            live_sniffers: 0,
            ..SnifferStat::default()
        }
    }

    fn sip_ports(&self) -> String {
        self.sip_ports.clone()
    }

    fn spool_dirs(&self) -> Option<SpoolDirs> {
        Some(self.spool.clone())
    }

    fn capture_stats(&self) -> Option<Vec<InterfaceStats>> {
        // Replaying files is not capturing: the reference answers "no PcapQueue mode" then too.
        self.live
            .as_deref()
            .map(|c| crate::live::interface_stats(c))
    }
}

/// Counter totals the status line's `PS[...]` rates are computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Snapshot {
    calls_new: u64,
    calls_removed: u64,
    registers_new: u64,
    registers_removed: u64,
    sip_detected: u64,
    sip_processed: u64,
    sip_register: u64,
    sip_message: u64,
    rtp_matched: u64,
    rtp_accepted: u64,
    all_packets: u64,
}

impl Snapshot {
    fn take(c: &Counters, path: &PathStats) -> Self {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let sip = load(&path.sip_messages);
        Self {
            calls_new: c.calls_created,
            calls_removed: c.calls_destroyed,
            registers_new: c.register_transactions_opened,
            registers_removed: c.register_transactions_closed,
            sip_detected: sip + load(&path.sip_malformed),
            sip_processed: sip,
            sip_register: c.sip_register,
            sip_message: c.sip_message,
            rtp_matched: load(&path.rtp_taken),
            rtp_accepted: c.rtp_packets,
            all_packets: load(&path.packets),
        }
    }
}

/// The reporting period of the rates: rebuilt when 10 s old (behaviour spec §6). Before the
/// first full period, rates cover the time since start once that is at least a second.
#[derive(Debug)]
struct RateWindow {
    start: Instant,
    base: Snapshot,
    last: Option<PacketRates>,
}

/// Length of a reporting period.
const RATE_PERIOD: Duration = Duration::from_secs(10);

impl RateWindow {
    fn new(now: Instant) -> Self {
        Self {
            start: now,
            base: Snapshot::default(),
            last: None,
        }
    }

    fn sample(&mut self, now: Instant, snap: Snapshot) -> Option<PacketRates> {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed >= RATE_PERIOD {
            self.last = Some(rates(&self.base, &snap, elapsed));
            self.start = now;
            self.base = snap;
        } else if self.last.is_none() && elapsed >= Duration::from_secs(1) {
            return Some(rates(&self.base, &snap, elapsed));
        }
        self.last
    }
}

fn rates(a: &Snapshot, b: &Snapshot, over: Duration) -> PacketRates {
    let secs = over.as_secs_f64().max(f64::EPSILON);
    let r = |x: u64, y: u64| y.saturating_sub(x) as f64 / secs;
    PacketRates {
        calls_new: r(a.calls_new, b.calls_new),
        calls_removed: r(a.calls_removed, b.calls_removed),
        registers_new: r(a.registers_new, b.registers_new),
        registers_removed: r(a.registers_removed, b.registers_removed),
        sip_detected: r(a.sip_detected, b.sip_detected),
        sip_processed: r(a.sip_processed, b.sip_processed),
        sip_register: r(a.sip_register, b.sip_register),
        sip_message: r(a.sip_message, b.sip_message),
        rtp_matched: r(a.rtp_matched, b.rtp_matched),
        rtp_accepted: r(a.rtp_accepted, b.rtp_accepted),
        all_packets: r(a.all_packets, b.all_packets),
    }
}

/// Resident and virtual size in MB from `/proc/self/statm` (pages of 4 KiB).
fn memory_mb() -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm
        .split_ascii_whitespace()
        .map(|f| f.parse::<u64>().ok());
    let vsz_pages = fields.next()??;
    let rss_pages = fields.next()??;
    Some((rss_pages * 4 / 1024, vsz_pages * 4 / 1024))
}

/// The 1, 5 and 15 minute load averages from `/proc/loadavg`.
fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut f = text.split_ascii_whitespace().map(|v| v.parse::<f64>().ok());
    Some([f.next()??, f.next()??, f.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(packets: u64) -> Snapshot {
        Snapshot {
            all_packets: packets,
            calls_new: packets / 100,
            ..Snapshot::default()
        }
    }

    #[test]
    fn rates_over_the_first_second_then_per_period() {
        let t0 = Instant::now();
        let mut w = RateWindow::new(t0);
        assert_eq!(w.sample(t0 + Duration::from_millis(500), snap(50)), None);
        let first = w.sample(t0 + Duration::from_secs(2), snap(400));
        assert_eq!(first.map(|r| r.all_packets), Some(200.0));
        assert_eq!(first.map(|r| r.calls_new), Some(2.0));
        // A full period: the window rolls over and keeps its figures until the next one.
        let p1 = w.sample(t0 + Duration::from_secs(10), snap(1000));
        assert_eq!(p1.map(|r| r.all_packets), Some(100.0));
        let same = w.sample(t0 + Duration::from_secs(15), snap(9000));
        assert_eq!(same, p1);
        let p2 = w.sample(t0 + Duration::from_secs(20), snap(3000));
        assert_eq!(p2.map(|r| r.all_packets), Some(200.0));
    }
}
