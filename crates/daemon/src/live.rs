//! Live capture: one thread per configured interface, each reading its AF_PACKET ring into its
//! own packet path and the shared call table. Timers run on the wall clock while no packet
//! arrives, so calls age and leave the list on an idle network too.

use crate::packet_path::{PacketPath, PathStats};
use crate::replay::PacketClock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{info, warn};
use voipsensor_calls::CallTable;
use voipsensor_capture::{LiveCapture, LiveOptions};
use voipsensor_manager_proto::dispatch::InterfaceStats;

/// Kernel counters of one interface, refreshed by its capture thread.
#[derive(Debug, Default)]
pub struct LiveCounters {
    name: String,
    drops: AtomicU64,
}

/// The running captures.
#[derive(Debug)]
pub struct LiveCaptures {
    counters: Arc<Vec<Arc<LiveCounters>>>,
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl LiveCaptures {
    /// Opens every interface (an error names the interface) and starts its thread.
    /// `new_path` makes each interface's packet path (sharing the spool and CDR sink).
    pub fn start(
        interfaces: &[String],
        new_path: &dyn Fn() -> PacketPath,
        table: &Arc<Mutex<CallTable>>,
        stats: &Arc<PathStats>,
        clock: &Arc<PacketClock>,
    ) -> Result<Self, voipsensor_capture::Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut opened = Vec::new();
        for name in interfaces {
            opened.push((
                name.clone(),
                LiveCapture::open(name, &LiveOptions::default())?,
            ));
        }
        let mut counters = Vec::new();
        let mut threads = Vec::new();
        for (name, capture) in opened {
            let c = Arc::new(LiveCounters {
                name: name.clone(),
                drops: AtomicU64::new(0),
            });
            counters.push(c.clone());
            let path = new_path();
            let (table, stats, clock, stop) =
                (table.clone(), stats.clone(), clock.clone(), stop.clone());
            let handle = std::thread::Builder::new()
                .name(format!("capture-{name}"))
                .spawn(move || capture_loop(capture, path, &table, &stats, &clock, &stop, &c))
                .map_err(voipsensor_capture::Error::Io)?;
            info!(interface = %name, "capturing");
            threads.push(handle);
        }
        Ok(Self {
            counters: Arc::new(counters),
            threads,
            stop,
        })
    }

    /// The counters, for `pcapstat` (see [`interface_stats`]).
    pub fn counters(&self) -> Arc<Vec<Arc<LiveCounters>>> {
        self.counters.clone()
    }
}

/// `pcapstat` figures per interface.
pub(crate) fn interface_stats(counters: &[Arc<LiveCounters>]) -> Vec<InterfaceStats> {
    counters
        .iter()
        .map(|c| InterfaceStats {
            name: c.name.clone(),
            sensor_drops: 0,
            ring_drops: c.drops.load(Ordering::Relaxed),
            interface_drops: 0,
        })
        .collect()
}

impl LiveCaptures {
    /// Stops the threads and waits for them.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn capture_loop(
    mut capture: LiveCapture,
    mut path: PacketPath,
    table: &Mutex<CallTable>,
    stats: &PathStats,
    clock: &PacketClock,
    stop: &AtomicBool,
    counters: &LiveCounters,
) {
    let mut last_stats = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match capture.next_packet(Duration::from_millis(100)) {
            Ok(Some(p)) => {
                let secs = u64::try_from(p.ts.secs).unwrap_or(0);
                let ts_us = secs
                    .saturating_mul(1_000_000)
                    .saturating_add(u64::from(p.ts.nanos / 1000));
                let mut t = table.lock().unwrap_or_else(PoisonError::into_inner);
                path.handle_frame(&mut t, stats, ts_us, p.link_type, p.data, p.orig_len);
                drop(t);
                clock.advance(ts_us);
            }
            Ok(None) => {
                let now = clock.now_us().max(wall_clock_us());
                let mut t = table.lock().unwrap_or_else(PoisonError::into_inner);
                path.tick_if_due(&mut t, now);
            }
            Err(e) => {
                warn!(interface = capture.interface(), error = %e, "capture error");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if last_stats.elapsed() >= Duration::from_secs(1) {
            last_stats = Instant::now();
            if let Ok(s) = capture.stats() {
                counters.drops.store(s.drops, Ordering::Relaxed);
            }
        }
    }
}

fn wall_clock_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
