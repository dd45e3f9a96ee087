//! Jitter-buffer simulation for MOS: which frames a receiver with a fixed or adaptive playout
//! buffer would have had to conceal. The model is described in the crate documentation.

use crate::mos::{MosSummary, interval_mos};

/// Parameters of one simulated buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterBufferConfig {
    /// Playout delay (fixed) or the largest delay (adaptive), ms.
    pub size_ms: u32,
    /// Lateness/earliness beyond which the buffer re-anchors its playout clock, ms.
    pub resync_ms: u32,
    /// Adaptive (delay follows the observed jitter) instead of fixed.
    pub adaptive: bool,
}

impl JitterBufferConfig {
    /// F1: fixed 50 ms, resync threshold 100 ms.
    pub const F1: Self = Self {
        size_ms: 50,
        resync_ms: 100,
        adaptive: false,
    };
    /// F2: fixed 200 ms, resync threshold 200 ms.
    pub const F2: Self = Self {
        size_ms: 200,
        resync_ms: 200,
        adaptive: false,
    };
    /// Adaptive up to 500 ms, resync threshold 500 ms.
    pub const ADAPTIVE: Self = Self {
        size_ms: 500,
        resync_ms: 500,
        adaptive: true,
    };
}

/// Safety margin the adaptive buffer adds to the observed delay spread (Asterisk's
/// `JB_TARGET_EXTRA`).
pub const ADAPTIVE_EXTRA_US: i64 = 40_000;
const WINDOW: i64 = 128;
const MAX_ARRIVAL_US: u64 = 1 << 53;
const REBASE_TS: i64 = 1 << 46;

/// One simulated playout buffer and its MOS intervals.
#[derive(Debug, Clone)]
pub struct JitterBufferSim {
    cfg: JitterBufferConfig,
    started: bool,
    ptime_ts: i64,
    ptime_us: i64,
    rate: i64,
    last_seq: u16,
    last_ts: u32,
    last_ts_ext: i64,
    frame0_ts: i64,
    /// Transit reference: frame `f` is pulled at `anchor + delay + f × ptime`.
    anchor_us: i64,
    /// Adaptive: decaying maximum transit.
    tmax_us: i64,
    delay_us: i64,
    next_frame: i64,
    /// Bit `i`: frame `next_frame + i` is in the buffer.
    window: u128,
    burst: u64,
    interval_frames: u32,
    interval_lost: u32,
    interval_bursts: u32,
    frames: u64,
    lost: u64,
    resyncs: u32,
    burst_hist: [u32; 11],
    summary: MosSummary,
}

impl JitterBufferSim {
    /// A buffer that starts with the first packet given to [`JitterBufferSim::put`].
    pub fn new(cfg: JitterBufferConfig) -> Self {
        Self {
            cfg,
            started: false,
            ptime_ts: 160,
            ptime_us: 20_000,
            rate: 8000,
            last_seq: 0,
            last_ts: 0,
            last_ts_ext: 0,
            frame0_ts: 0,
            anchor_us: 0,
            tmax_us: 0,
            delay_us: i64::from(cfg.size_ms) * 1000,
            next_frame: 0,
            window: 0,
            burst: 0,
            interval_frames: 0,
            interval_lost: 0,
            interval_bursts: 0,
            frames: 0,
            lost: 0,
            resyncs: 0,
            burst_hist: [0; 11],
            summary: MosSummary::default(),
        }
    }

    /// Feeds one voice packet. `ptime_ts` (timestamp units per frame) and `rate` (Hz) are
    /// taken from the first call; both must be non-zero.
    pub fn put(&mut self, arrival_us: u64, seq: u16, ts: u32, ptime_ts: u32, rate: u32) {
        // 2^53 µs is 285 years: keeps every sum below in range whatever the input.
        let a = arrival_us.min(MAX_ARRIVAL_US) as i64;
        if !self.started {
            self.started = true;
            self.rate = i64::from(rate.clamp(1000, 1_000_000));
            self.ptime_ts = i64::from(ptime_ts.max(1));
            self.ptime_us = (self.ptime_ts * 1_000_000 / self.rate).max(1);
            self.last_seq = seq;
            self.last_ts = ts;
            self.last_ts_ext = 0;
            self.resync(a, 0);
            return;
        }
        let dseq = i64::from(seq.wrapping_sub(self.last_seq) as i16);
        let ts_ext = self.last_ts_ext + i64::from(ts.wrapping_sub(self.last_ts) as i32);
        if dseq > 0 {
            // Timestamps ahead of what the sequence implies are silence (DTX), not loss:
            // renumber frames by sequence and move the playout clock by the silence.
            let mismatch = (ts_ext - self.last_ts_ext) - dseq * self.ptime_ts;
            if mismatch > self.ptime_ts / 2 {
                self.frame0_ts += mismatch;
                let shift = (i128::from(mismatch) * 1_000_000 / i128::from(self.rate)) as i64;
                self.anchor_us += shift;
                self.tmax_us += shift;
            } else if mismatch < -self.ptime_ts / 2 {
                // Timestamps went backwards against the sequence: a new source clock.
                self.last_seq = seq;
                self.last_ts = ts;
                self.last_ts_ext = ts_ext;
                self.pull_due(a);
                self.frame0_ts = ts_ext - self.next_frame * self.ptime_ts;
                self.resync(a, self.next_frame);
                return;
            }
            self.last_seq = seq;
            self.last_ts = ts;
            self.last_ts_ext = ts_ext;
            if ts_ext.abs() > REBASE_TS {
                // Only differences matter: translate to keep extended timestamps small.
                self.frame0_ts -= ts_ext;
                self.last_ts_ext = 0;
            }
        }
        let ts_ext = self.last_ts_ext + i64::from(ts.wrapping_sub(self.last_ts) as i32);
        let f = div_round(ts_ext - self.frame0_ts, self.ptime_ts);
        self.pull_due(a);
        let transit = a - f * self.ptime_us;
        let resync_us = i64::from(self.cfg.resync_ms) * 1000;
        if self.cfg.adaptive {
            let max_delay = i64::from(self.cfg.size_ms) * 1000;
            if transit - self.anchor_us > max_delay + resync_us {
                self.resync(a, f);
                return;
            }
            self.anchor_us = self.anchor_us.min(transit);
            self.tmax_us -= (self.tmax_us - self.anchor_us) >> 8;
            self.tmax_us = self.tmax_us.max(transit);
            self.delay_us = (self.tmax_us - self.anchor_us + ADAPTIVE_EXTRA_US).min(max_delay);
        } else {
            let offset = transit - self.anchor_us;
            if offset > resync_us || -offset > self.delay_us + resync_us {
                self.resync(a, f);
                return;
            }
        }
        let rel = f - self.next_frame;
        if rel >= WINDOW {
            self.resync(a, f);
        } else if rel >= 0 {
            self.window |= 1u128 << rel;
        }
    }

    /// Re-anchors the playout clock so that frame `f`, arriving now, plays after the delay.
    fn resync(&mut self, a: i64, f: i64) {
        self.resyncs += 1;
        self.anchor_us = a - f * self.ptime_us;
        self.tmax_us = self.anchor_us;
        if self.cfg.adaptive {
            self.delay_us = ADAPTIVE_EXTRA_US.min(i64::from(self.cfg.size_ms) * 1000);
        }
        if f >= self.next_frame + WINDOW || f < self.next_frame - WINDOW || self.frames == 0 {
            self.next_frame = f;
            self.window = 1;
        } else if f >= self.next_frame {
            self.window |= 1u128 << (f - self.next_frame);
        }
    }

    /// Plays every frame whose playout time is not after `a`.
    fn pull_due(&mut self, a: i64) {
        loop {
            let due = self.anchor_us + self.delay_us + self.next_frame * self.ptime_us;
            if due > a {
                return;
            }
            if self.window == 0 {
                // Nothing buffered: everything due is lost, in one step.
                let n = (a - due) / self.ptime_us + 1;
                self.next_frame += n;
                self.account(n, false);
                return;
            }
            let present = self.window & 1 != 0;
            self.window >>= 1;
            self.next_frame += 1;
            self.account(1, present);
        }
    }

    fn account(&mut self, n: i64, present: bool) {
        let n32 = u32::try_from(n).unwrap_or(u32::MAX);
        self.frames += n as u64;
        self.interval_frames = self.interval_frames.saturating_add(n32);
        if present {
            if self.burst > 0 {
                self.burst_hist[self.burst.min(10) as usize] += 1;
                self.burst = 0;
            }
        } else {
            if self.burst == 0 {
                self.interval_bursts += 1;
            }
            self.burst += n as u64;
            self.lost += n as u64;
            self.interval_lost = self.interval_lost.saturating_add(n32);
        }
    }

    /// Ends the current MOS interval (of `duration_us`) and starts the next.
    pub fn close_interval(&mut self, duration_us: u64) {
        let mos = interval_mos(
            self.interval_frames,
            self.interval_lost,
            self.interval_bursts,
        );
        self.summary.record(mos, duration_us);
        self.interval_frames = 0;
        self.interval_lost = 0;
        // A burst running across the boundary is also a burst of the next interval.
        self.interval_bursts = u32::from(self.burst > 0);
    }

    /// The interval MOS values so far.
    pub fn mos(&self) -> &MosSummary {
        &self.summary
    }

    /// Frames played or concealed since the start.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames missing at their playout time since the start.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Finished loss bursts by length (index 10 = ten or more; index 0 unused).
    pub fn burst_histogram(&self) -> &[u32; 11] {
        &self.burst_hist
    }

    /// Times the playout clock was re-anchored (the first packet counts once).
    pub fn resyncs(&self) -> u32 {
        self.resyncs
    }

    /// Current playout delay in ms.
    pub fn delay_ms(&self) -> f64 {
        self.delay_us as f64 / 1000.0
    }
}

fn div_round(n: i64, d: i64) -> i64 {
    (n + d.signum() * d / 2).div_euclid(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds packets i = 0..n (20 ms, +160) with per-packet extra delay (ms), skipping `drop`.
    fn run(
        cfg: JitterBufferConfig,
        n: u32,
        delay_ms: impl Fn(u32) -> u64,
        drop: impl Fn(u32) -> bool,
    ) -> JitterBufferSim {
        let mut jb = JitterBufferSim::new(cfg);
        let mut pkts: Vec<(u64, u32)> = (0..n)
            .filter(|&i| !drop(i))
            .map(|i| (u64::from(i) * 20_000 + delay_ms(i) * 1000, i))
            .collect();
        pkts.sort_by_key(|p| p.0);
        for (at, i) in pkts {
            jb.put(at, i as u16, i * 160, 160, 8000);
        }
        jb
    }

    #[test]
    fn steady_stream_loses_nothing() {
        for cfg in [
            JitterBufferConfig::F1,
            JitterBufferConfig::F2,
            JitterBufferConfig::ADAPTIVE,
        ] {
            let jb = run(cfg, 1000, |_| 0, |_| false);
            assert_eq!(jb.lost(), 0, "{cfg:?}");
            assert!(jb.frames() >= 990, "{cfg:?}: {}", jb.frames());
            assert_eq!(jb.resyncs(), 1);
        }
    }

    #[test]
    fn network_loss_is_concealed_loss() {
        let jb = run(
            JitterBufferConfig::F2,
            1000,
            |_| 0,
            |i| i % 100 == 50 || (300..303).contains(&i),
        );
        assert_eq!(jb.lost(), 10 + 3);
        assert_eq!(jb.burst_histogram()[1], 10);
        assert_eq!(jb.burst_histogram()[3], 1);
    }

    #[test]
    fn late_packets_depend_on_buffer_size() {
        // Every 10th packet 80 ms late: too late for F1 (50 ms), fine for F2 and adaptive.
        let late = |i: u32| if i % 10 == 5 { 80 } else { 0 };
        assert_eq!(
            run(JitterBufferConfig::F1, 1000, late, |_| false).lost(),
            100
        );
        assert_eq!(run(JitterBufferConfig::F2, 1000, late, |_| false).lost(), 0);
        let ad = run(JitterBufferConfig::ADAPTIVE, 1000, late, |_| false);
        assert!(ad.lost() <= 2, "adaptive learns the spread: {}", ad.lost());
        assert!(ad.delay_ms() > 80.0 && ad.delay_ms() <= 500.0);
    }

    #[test]
    fn silence_is_not_loss() {
        // Talkspurt of 100 packets, 3 s of silence (timestamps jump, sequence does not).
        let mut jb = JitterBufferSim::new(JitterBufferConfig::F1);
        for i in 0..200u32 {
            let gap = if i >= 100 { 3_000_000 } else { 0 };
            jb.put(
                u64::from(i) * 20_000 + gap,
                i as u16,
                i * 160 + gap as u32 * 8 / 1000,
                160,
                8000,
            );
        }
        assert_eq!(jb.lost(), 0);
    }

    #[test]
    fn delay_step_resyncs_fixed_buffer() {
        // After packet 500 the network delay grows by 300 ms for good.
        let jb = run(
            JitterBufferConfig::F1,
            1000,
            |i| if i >= 500 { 300 } else { 0 },
            |_| false,
        );
        assert!(jb.resyncs() >= 2);
        assert!(jb.lost() < 20, "{}", jb.lost());
    }

    #[test]
    fn intervals_feed_the_summary() {
        let mut jb = run(JitterBufferConfig::F1, 520, |_| 0, |i| i % 50 == 7);
        jb.close_interval(10_000_000);
        assert_eq!(jb.mos().intervals(), 1);
        assert_eq!(jb.mos().listcalls_mult10(), [39, 39, 39]);
    }
}
