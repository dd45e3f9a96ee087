//! The interval MOS formula (behaviour spec §3.11) and the per-model summary
//! (last interval, time-weighted average, minimum).

/// MOS of a loss-free (or nearly loss-free) interval.
pub const MOS_MAX: f64 = 4.5;
/// Lowest MOS.
pub const MOS_MIN: f64 = 1.0;
/// Intervals with fewer lost frames than this score [`MOS_MAX`].
pub const MIN_LOST_FOR_PENALTY: u32 = 5;

/// MOS of one interval from its frame counts.
///
/// Fewer than 5 lost frames (or no frames) → 4.5; otherwise ppl = lost / frames,
/// BurstR = (lost / bursts) × (1 − ppl) clamped to ≥ 1, then [`mos_from_loss`].
pub fn interval_mos(frames: u32, lost: u32, bursts: u32) -> f64 {
    if lost < MIN_LOST_FOR_PENALTY || frames == 0 {
        return MOS_MAX;
    }
    let lost_f = f64::from(lost.min(frames));
    let ppl = lost_f / f64::from(frames);
    let burst_r = (lost_f / f64::from(bursts.max(1))) * (1.0 - ppl);
    mos_from_loss(ppl, burst_r)
}

/// MOS from the packet-loss probability `ppl` (0–1) and the burst ratio.
///
/// ppl > 0.5 → 1.0; else Ie = 95 × 100·ppl / (100·ppl / BurstR + 17.2647),
/// R = 93.2062077233 − Ie, MOS = 2.06405 + 0.031738 R − 0.000356641 R² + 2.93143·10⁻⁶ R³,
/// clamped to [1, 4.5]. ppl = 0 gives 4.5 (the fitted polynomial alone would give 4.30).
pub fn mos_from_loss(ppl: f64, burst_r: f64) -> f64 {
    if ppl <= 0.0 {
        return MOS_MAX;
    }
    if ppl > 0.5 {
        return MOS_MIN;
    }
    let burst_r = burst_r.max(1.0);
    let p = 100.0 * ppl;
    let ie = 95.0 * p / (p / burst_r + 17.2647);
    let r = 93.206_207_723_3 - ie;
    let mos = 2.06405 + 0.031738 * r - 0.000_356_641 * r * r + 2.93143e-6 * r * r * r;
    mos.clamp(MOS_MIN, MOS_MAX)
}

/// `value × 10` rounded to an integer, as in the `*_mult10` columns (4.5 → 45).
pub fn mult10(value: f64) -> u8 {
    (value * 10.0).round().clamp(0.0, 255.0) as u8
}

/// Interval MOS values of one jitter-buffer model.
#[derive(Debug, Clone, Copy, Default)]
pub struct MosSummary {
    last: f64,
    min: f64,
    weighted_sum: f64,
    weight: f64,
    intervals: u32,
}

impl MosSummary {
    /// No interval yet (what `default()` gives), for disabled models.
    pub(crate) const IDLE: Self = Self {
        last: 0.0,
        min: 0.0,
        weighted_sum: 0.0,
        weight: 0.0,
        intervals: 0,
    };

    /// Adds an interval's MOS, weighted by its duration in µs.
    pub fn record(&mut self, mos: f64, duration_us: u64) {
        let w = (duration_us as f64).max(1.0);
        self.min = if self.intervals == 0 {
            mos
        } else {
            self.min.min(mos)
        };
        self.last = mos;
        self.weighted_sum += mos * w;
        self.weight += w;
        self.intervals += 1;
    }

    /// Intervals evaluated so far.
    pub fn intervals(&self) -> u32 {
        self.intervals
    }

    /// Last interval's MOS, 4.5 before the first interval.
    pub fn last(&self) -> f64 {
        if self.intervals == 0 {
            MOS_MAX
        } else {
            self.last
        }
    }

    /// Time-weighted mean of the interval values, `None` before the first interval.
    pub fn average(&self) -> Option<f64> {
        (self.intervals > 0).then(|| self.weighted_sum / self.weight)
    }

    /// Lowest interval value, 4.5 before the first interval.
    pub fn minimum(&self) -> f64 {
        if self.intervals == 0 {
            MOS_MAX
        } else {
            self.min
        }
    }

    /// The listcalls triple (last, average, minimum) × 10: `45, 0, 45` before the first
    /// interval, exactly as the reference shows young streams.
    pub fn listcalls_mult10(&self) -> [u8; 3] {
        [
            mult10(self.last()),
            self.average().map_or(0, mult10),
            mult10(self.minimum()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_case_34() {
        let cases = [
            (0.0, 1.0, 45),
            (0.01, 1.0, 41),
            (0.02, 1.0, 39),
            (0.05, 1.0, 36),
            (0.05, 2.0, 35),
            (0.10, 1.0, 33),
            (0.20, 1.0, 30),
            (0.6, 1.0, 10),
        ];
        for (ppl, br, want) in cases {
            assert_eq!(mult10(mos_from_loss(ppl, br)), want, "ppl {ppl} burst {br}");
        }
        assert_eq!(interval_mos(500, 4, 4), 4.5);
        assert_eq!(interval_mos(0, 0, 0), 4.5);
    }

    #[test]
    fn two_percent_by_hand() {
        // ppl 0.02, BurstR = 1 × 0.98 → 1: Ie = 190 / 19.2647 = 9.86260, R = 83.34361,
        // MOS = 2.06405 + 2.64516 − 2.47728 + 1.69706 = 3.92898.
        let m = interval_mos(500, 10, 10);
        assert!((m - 3.92898).abs() < 1e-5, "{m}");
    }

    #[test]
    fn summary_weights_by_time() {
        let mut s = MosSummary::default();
        assert_eq!(s.listcalls_mult10(), [45, 0, 45]);
        s.record(4.5, 10_000_000);
        assert_eq!(s.listcalls_mult10(), [45, 45, 45]);
        s.record(3.0, 30_000_000);
        assert_eq!(s.last(), 3.0);
        assert_eq!(s.minimum(), 3.0);
        assert!((s.average().expect("two intervals") - 3.375).abs() < 1e-12);
        assert_eq!(s.listcalls_mult10(), [30, 34, 30]);
    }
}
