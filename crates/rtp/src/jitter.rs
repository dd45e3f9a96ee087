//! Interarrival jitter in milliseconds (RFC 3550 §6.4.1 as the sensor computes it) and the
//! d50…d300 delay-variation buckets.

/// A transit difference larger than this is a timestamp jump, counted as D = 0.
pub const MAX_DELTA_MS: f64 = 5000.0;

/// Lower bounds (ms) of the `d50`…`d300` buckets; `|D|` below 50 ms is not bucketed.
pub const DELAY_BUCKET_MS: [u32; 7] = [50, 70, 90, 120, 150, 200, 300];

/// Jitter state of one stream.
#[derive(Debug, Clone, Default)]
pub struct JitterEstimator {
    prev: Option<(u64, u32)>,
    jitter: f64,
    max: f64,
    sum: f64,
    samples: u32,
    delay_buckets: [u32; 7],
}

impl JitterEstimator {
    /// Feeds one voice packet: arrival time in µs, RTP timestamp and the clock rate in Hz.
    ///
    /// D = (arrival − previous arrival) in ms − (timestamp − previous timestamp) / (rate / 1000);
    /// J ← J + (|D| − J) / 16; |D| > 5000 ms counts as D = 0.
    pub fn update(&mut self, arrival_us: u64, timestamp: u32, clock_rate: u32) {
        self.samples += 1;
        let Some((prev_arrival, prev_ts)) = self.prev.replace((arrival_us, timestamp)) else {
            return;
        };
        let arrival_ms = (arrival_us as f64 - prev_arrival as f64) / 1000.0;
        let ts_delta = f64::from(timestamp.wrapping_sub(prev_ts) as i32);
        let mut d = (arrival_ms - ts_delta / (f64::from(clock_rate.max(1)) / 1000.0)).abs();
        if d > MAX_DELTA_MS {
            d = 0.0;
        }
        self.jitter += (d - self.jitter) / 16.0;
        self.max = self.max.max(self.jitter);
        self.sum += self.jitter;
        let d_int = d as u32;
        if let Some(i) = DELAY_BUCKET_MS.iter().rposition(|&lo| d_int >= lo) {
            self.delay_buckets[i] += 1;
        }
    }

    /// Forgets the previous packet (codec change, reset point): the next packet gives no D.
    pub fn restart_reference(&mut self) {
        self.prev = None;
    }

    /// Current J in ms.
    pub fn current_ms(&self) -> f64 {
        self.jitter
    }

    /// Largest J in ms.
    pub fn max_ms(&self) -> f64 {
        self.max
    }

    /// Mean of J over all voice packets; the first packet counts in the divisor but adds
    /// nothing to the sum (the reference's quirk).
    pub fn avg_ms(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.sum / f64::from(self.samples)
        }
    }

    /// Counts of |D| (integer ms) per bucket of [`DELAY_BUCKET_MS`].
    pub fn delay_buckets(&self) -> &[u32; 7] {
        &self.delay_buckets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn constant_delay_is_zero() {
        let mut j = JitterEstimator::default();
        for i in 0..500u32 {
            j.update(5_000_000 + u64::from(i) * 20_000, 1000 + i * 160, 8000);
        }
        assert_eq!((j.current_ms(), j.max_ms(), j.avg_ms()), (0.0, 0.0, 0.0));
    }

    #[test]
    fn one_late_packet() {
        // Behaviour spec case 32: 5 ms late → 0.3125, then 0.6055.
        let mut j = JitterEstimator::default();
        for (i, late) in [(0u32, 0u64), (1, 0), (2, 5_000), (3, 0)] {
            j.update(u64::from(i) * 20_000 + late, i * 160, 8000);
        }
        assert!(close(j.max_ms(), 0.3125 + (5.0 - 0.3125) / 16.0));
        assert!((j.current_ms() - 0.6055).abs() < 1e-4);
    }

    #[test]
    fn alternating_ten_ms() {
        let mut j = JitterEstimator::default();
        let mut expect = 0.0;
        for i in 0..200u32 {
            let offset = if i % 2 == 1 { 10_000 } else { 0 };
            j.update(u64::from(i) * 20_000 + offset, i * 160, 8000);
            if i > 0 {
                expect += (10.0 - expect) / 16.0;
                assert!(close(j.current_ms(), expect), "packet {i}");
            }
            match i {
                1 => assert!(close(j.current_ms(), 0.625)),
                2 => assert!(close(j.current_ms(), 1.2109375)),
                3 => assert!(close(j.current_ms(), 1.760_253_906_25)),
                _ => {}
            }
        }
        assert!(j.current_ms() > 9.99 && j.current_ms() < 10.0);
        assert_eq!(j.delay_buckets(), &[0; 7], "|D| = 10 is below 50");
    }

    #[test]
    fn timestamp_jump_and_wrap() {
        let mut j = JitterEstimator::default();
        j.update(0, u32::MAX - 79, 8000);
        j.update(20_000, 80, 8000); // wraps: +160
        assert_eq!(j.current_ms(), 0.0);
        j.update(40_000, 80 + 8000 * 60, 8000); // 60 s jump → D = 0
        assert_eq!(j.current_ms(), 0.0);
        j.update(160_000, 80 + 8000 * 60 + 160, 8000); // 100 ms late
        assert_eq!(j.current_ms(), 100.0 / 16.0);
        assert_eq!(j.delay_buckets(), &[0, 0, 1, 0, 0, 0, 0], "|D| = 100 → d90");
        assert!(close(j.avg_ms(), 6.25 / 4.0));
    }
}
