//! The sensor's state as the manager API sees it.

use crate::packet_path::PathStats;
use crate::replay::PacketClock;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use voipsensor_calls::CallTable;
use voipsensor_config::Config;
use voipsensor_manager_proto::dispatch::{InterfaceStats, SensorState};
use voipsensor_manager_proto::json::Row;
use voipsensor_manager_proto::listcalls::Summary;
use voipsensor_manager_proto::sniffer_stat::{SnifferStat, StatusLine};

/// The running sensor: its identity, start time, call and registration tables and counters.
#[derive(Debug)]
pub struct Sensor {
    started: Instant,
    id_sensor: i64,
    sip_ports: String,
    table: Arc<Mutex<CallTable>>,
    clock: Arc<PacketClock>,
    /// Packet-path counters (reported by `sniffer_stat` as those grow).
    #[allow(dead_code)]
    stats: Arc<PathStats>,
    /// Per-interface counters when capturing live.
    live: Option<Arc<Vec<Arc<crate::live::LiveCounters>>>>,
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
            live: None,
        }
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
        let (active, alive) = {
            let t = self.table();
            (
                t.listcalls_rows(self.clock.now_us()).len() as u64,
                t.total_calls(),
            )
        };
        let status = StatusLine {
            calls_active: active,
            calls_alive: alive,
            rss_vsz_mb: memory_mb(),
            load_average: load_average(),
            version: voipsensor_manager_proto::VERSION.to_owned(),
            ..StatusLine::default()
        };
        SnifferStat {
            version: voipsensor_manager_proto::VERSION.to_owned(),
            build: voipsensor_manager_proto::BUILD.to_owned(),
            status_line: status.render(),
            uptime_secs: self.started.elapsed().as_secs(),
            ..SnifferStat::default()
        }
    }

    fn sip_ports(&self) -> String {
        self.sip_ports.clone()
    }

    fn capture_stats(&self) -> Option<Vec<InterfaceStats>> {
        // Replaying files is not capturing: the reference answers "no PcapQueue mode" then too.
        self.live
            .as_deref()
            .map(|c| crate::live::interface_stats(c))
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
