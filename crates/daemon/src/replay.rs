//! Replaying capture files through the packet path, as fast as possible or paced by their
//! timestamps. Time inside the engine is packet time, so a replay gives the results live
//! capture would.

use crate::packet_path::{PacketPath, PathStats};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tracing::{info, warn};
use voipsensor_calls::CallTable;
use voipsensor_capture::{Error as CaptureError, MultiReader, Progress};

/// How to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Files, read in order (pcap, pcapng, either gzip-compressed).
    pub files: Vec<PathBuf>,
    /// Pace packets by their timestamps, at this speed factor (1.0 = real time).
    pub realtime: Option<f64>,
}

/// The latest packet time (µs since the Unix epoch), shared with the manager: durations and
/// ages are computed against it, so listing calls after a replay gives the replay's view.
#[derive(Debug, Default)]
pub struct PacketClock(AtomicU64);

impl PacketClock {
    /// Advances the clock to `us` (never backwards).
    pub fn advance(&self, us: u64) {
        self.0.fetch_max(us, Ordering::Relaxed);
    }

    /// The latest packet time, or the wall clock before any packet.
    pub fn now_us(&self) -> u64 {
        match self.0.load(Ordering::Relaxed) {
            0 => wall_clock_us(),
            us => us,
        }
    }
}

fn wall_clock_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// What a replay did.
#[derive(Debug, Clone, Default)]
pub struct ReplaySummary {
    /// Packets read.
    pub packets: u64,
    /// Files that ended in the middle of a record.
    pub truncated_files: Vec<PathBuf>,
    /// Files that could not be read (reported, skipped).
    pub failed_files: usize,
}

/// Replays `options.files` into `table` until done or `stop` is set. Runs on a blocking thread.
pub fn replay(
    options: &ReplayOptions,
    path: &mut PacketPath,
    table: &Mutex<CallTable>,
    stats: &PathStats,
    clock: &PacketClock,
    stop: &AtomicBool,
) -> ReplaySummary {
    let mut reader = MultiReader::new(options.files.iter().cloned());
    let mut summary = ReplaySummary::default();
    let started = Instant::now();
    let mut first_ts: Option<u64> = None;
    let mut last_report = Instant::now();
    // On a terminal a progress bar replaces the periodic log line.
    let bar = std::io::stderr().is_terminal();
    let bar_every = Duration::from_millis(250);
    loop {
        if stop.load(Ordering::Relaxed) {
            info!("replay stopped");
            break;
        }
        let packet = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(CaptureError::InFile { path, error }) => {
                warn!(file = %path.display(), error = %error, "cannot read capture file; skipping it");
                summary.failed_files += 1;
                continue;
            }
            Err(e) => {
                warn!(error = %e, "capture read failed; replay ends here");
                break;
            }
        };
        let secs = u64::try_from(packet.ts.secs).unwrap_or(0);
        let ts_us = secs
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(packet.ts.nanos / 1000));
        if let Some(speed) = options.realtime {
            let first = *first_ts.get_or_insert(ts_us);
            pace(started, ts_us.saturating_sub(first), speed, stop);
        }
        {
            let mut t = table.lock().unwrap_or_else(PoisonError::into_inner);
            path.handle_frame(
                &mut t,
                stats,
                ts_us,
                packet.link_type,
                packet.data,
                packet.orig_len,
            );
        }
        clock.advance(ts_us);
        summary.packets += 1;
        // Checking the time costs a few ns: do it every 1024 packets.
        if summary.packets % 1024 == 0 {
            if bar && last_report.elapsed() >= bar_every {
                last_report = Instant::now();
                draw(&progress_line(
                    &reader.progress(),
                    summary.packets,
                    started.elapsed(),
                ));
            } else if !bar && last_report.elapsed() >= Duration::from_secs(5) {
                last_report = Instant::now();
                info!(packets = summary.packets, "replaying");
            }
        }
    }
    if bar {
        draw(&progress_line(
            &reader.progress(),
            summary.packets,
            started.elapsed(),
        ));
        eprintln!();
    }
    summary.truncated_files = reader.truncated_files().to_vec();
    summary
}

/// Redraws the progress line in place.
fn draw(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r{line}\x1b[K");
    let _ = err.flush();
}

/// Width of the bar, in characters.
const BAR_WIDTH: usize = 30;

/// `[=====>    ]  42%  file 1/2  1234567 packets  2.10 M packets/s`: share of the files
/// read (by bytes of the current file), packets so far and the rate.
fn progress_line(p: &Progress, packets: u64, elapsed: Duration) -> String {
    let in_file = match p.file_size {
        Some(size) if size > 0 => (p.bytes_read as f64 / size as f64).min(1.0),
        _ => 0.0,
    };
    let done = if p.files == 0 {
        1.0
    } else {
        ((p.file.saturating_sub(1)) as f64 + in_file) / p.files as f64
    };
    let filled = ((done * BAR_WIDTH as f64) as usize).min(BAR_WIDTH);
    let mut bar = "=".repeat(filled);
    if filled < BAR_WIDTH {
        bar.push('>');
        bar.push_str(&" ".repeat(BAR_WIDTH - filled - 1));
    }
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        packets as f64 / secs / 1e6
    } else {
        0.0
    };
    format!(
        "[{bar}] {:3.0}%  file {}/{}  {packets} packets  {rate:.2} M packets/s",
        done * 100.0,
        p.file.max(1).min(p.files.max(1)),
        p.files
    )
}

/// Sleeps until `offset_us` of packet time, scaled by `speed`, has passed since `started`.
fn pace(started: Instant, offset_us: u64, speed: f64, stop: &AtomicBool) {
    if !(speed.is_finite() && speed > 0.0) {
        return;
    }
    #[allow(clippy::cast_precision_loss)] // microseconds of a replay fit an f64 exactly enough
    let due = Duration::from_secs_f64(offset_us as f64 / 1e6 / speed);
    while !stop.load(Ordering::Relaxed) {
        let elapsed = started.elapsed();
        if elapsed >= due {
            return;
        }
        std::thread::sleep((due - elapsed).min(Duration::from_millis(100)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(file: usize, files: usize, read: u64, size: u64) -> Progress {
        Progress {
            file,
            files,
            bytes_read: read,
            file_size: Some(size),
        }
    }

    #[test]
    fn progress_line_shows_share_packets_and_rate() {
        let line = progress_line(
            &progress(1, 2, 500, 1000),
            2_000_000,
            Duration::from_secs(1),
        );
        assert_eq!(
            line,
            "[=======>                      ]  25%  file 1/2  2000000 packets  2.00 M packets/s"
        );
        let end = progress_line(&progress(2, 2, 1000, 1000), 10, Duration::ZERO);
        assert!(end.starts_with(&format!("[{}] 100%  file 2/2  10 packets", "=".repeat(30))));
        // No size known (a pipe): the bar counts whole files only.
        let pipe = Progress {
            file_size: None,
            ..progress(1, 1, 5, 0)
        };
        assert!(progress_line(&pipe, 1, Duration::from_secs(1)).contains("  0%"));
    }
}
