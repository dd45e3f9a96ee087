//! Sequence-number tracking after RFC 3550 appendix A.1, with the sensor's additions:
//! cumulative counters across resynchronisations, duplicate suppression, the loss-event
//! histogram and the "> 200 lost within < 1 s is a reset" rule.

/// Packets in sequence needed before a source is counted (the first ones are not counted).
pub const MIN_SEQUENTIAL: u8 = 2;
/// Largest forward jump still treated as loss rather than a restart.
pub const MAX_DROPOUT: u16 = 3000;
/// Largest backward distance still treated as a late packet.
pub const MAX_MISORDER: u16 = 100;
/// A forward gap of more than this many packets within [`RESET_WINDOW_US`] is a reset.
pub const RESET_GAP: u16 = 200;
/// See [`RESET_GAP`].
pub const RESET_WINDOW_US: u64 = 1_000_000;

/// What the tracker did with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqOutcome {
    /// Still in probation: not counted.
    Probation,
    /// Counted as received.
    Counted,
    /// Counted as received and started a new sequence epoch (restart, reset or re-INVITE):
    /// the jump was not counted as loss.
    Resynced,
    /// Same sequence number as a packet already counted: not counted again.
    Duplicate,
    /// A large jump waiting for confirmation, or a late packet from before the current epoch.
    Ignored,
}

/// Per-stream RFC 3550 A.1 sequence state.
#[derive(Debug, Clone)]
pub struct SequenceTracker {
    started: bool,
    probation_enabled: bool,
    reset_pending: bool,
    probation: u8,
    max_seq: u16,
    cycles: u32,
    bad_seq: u32,
    base_ext: i64,
    /// Bit `i` set: extended sequence `max − i` was counted in this epoch.
    window: u128,
    epoch_received: u32,
    received: u32,
    prior_lost: i64,
    last_lost: i64,
    loss_events: [u32; 11],
    reordered: u32,
    duplicates: u32,
    last_arrival_us: u64,
}

impl Default for SequenceTracker {
    fn default() -> Self {
        Self::new(true)
    }
}

impl SequenceTracker {
    /// A tracker for a new source; `probation = false` counts from the first packet
    /// (`disable_rtp_seq_probation`).
    pub fn new(probation: bool) -> Self {
        Self {
            started: false,
            probation_enabled: probation,
            reset_pending: false,
            probation: 0,
            max_seq: 0,
            cycles: 0,
            bad_seq: u32::MAX,
            base_ext: 0,
            window: 0,
            epoch_received: 0,
            received: 0,
            prior_lost: 0,
            last_lost: 0,
            loss_events: [0; 11],
            reordered: 0,
            duplicates: 0,
            last_arrival_us: 0,
        }
    }

    /// Marks a reset point (re-INVITE): the next packet starts a new epoch without loss.
    pub fn mark_reset(&mut self) {
        self.reset_pending = true;
    }

    /// Feeds one packet's sequence number and arrival time.
    pub fn update(&mut self, seq: u16, arrival_us: u64) -> SeqOutcome {
        let since_last = arrival_us.saturating_sub(self.last_arrival_us);
        self.last_arrival_us = arrival_us;
        if !self.started {
            self.started = true;
            self.max_seq = seq;
            if self.probation_enabled {
                self.probation = MIN_SEQUENTIAL;
                return SeqOutcome::Probation;
            }
            self.new_epoch(seq);
            return SeqOutcome::Counted;
        }
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.new_epoch(seq);
                    return SeqOutcome::Counted;
                }
            } else {
                self.probation = MIN_SEQUENTIAL;
                self.max_seq = seq;
            }
            return SeqOutcome::Probation;
        }
        if self.reset_pending {
            self.reset_pending = false;
            self.new_epoch(seq);
            return SeqOutcome::Resynced;
        }
        let udelta = seq.wrapping_sub(self.max_seq);
        if udelta == 0 {
            self.duplicates = self.duplicates.saturating_add(1);
            return SeqOutcome::Duplicate;
        }
        if udelta < MAX_DROPOUT {
            if udelta - 1 > RESET_GAP && since_last < RESET_WINDOW_US {
                self.new_epoch(seq);
                return SeqOutcome::Resynced;
            }
            if seq < self.max_seq {
                self.cycles = self.cycles.saturating_add(1);
            }
            self.max_seq = seq;
            self.window = if udelta >= 128 {
                0
            } else {
                self.window << udelta
            };
            self.window |= 1;
        } else if u32::from(udelta) <= 65536 - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                self.new_epoch(seq);
                return SeqOutcome::Resynced;
            }
            self.bad_seq = (u32::from(seq) + 1) & 0xffff;
            return SeqOutcome::Ignored;
        } else {
            let back = 65536 - u32::from(udelta);
            if i64::from(back) > self.extended_max() - self.base_ext {
                return SeqOutcome::Ignored;
            }
            let bit = 1u128 << back;
            if self.window & bit != 0 {
                self.duplicates = self.duplicates.saturating_add(1);
                return SeqOutcome::Duplicate;
            }
            self.window |= bit;
        }
        self.count();
        SeqOutcome::Counted
    }

    fn new_epoch(&mut self, seq: u16) {
        self.prior_lost += self.epoch_lost().max(0);
        self.max_seq = seq;
        self.cycles = 0;
        self.base_ext = i64::from(seq);
        self.bad_seq = u32::MAX;
        self.window = 1;
        self.epoch_received = 0;
        self.last_lost = 0;
        self.count();
    }

    fn count(&mut self) {
        self.epoch_received = self.epoch_received.saturating_add(1);
        self.received = self.received.saturating_add(1);
        let lost = self.epoch_lost();
        if lost > self.last_lost {
            let n = (lost - self.last_lost).min(10) as usize;
            self.loss_events[n] = self.loss_events[n].saturating_add(1);
        } else if lost < self.last_lost {
            self.reordered = self.reordered.saturating_add(1);
        }
        self.last_lost = lost;
    }

    fn epoch_lost(&self) -> i64 {
        if self.epoch_received == 0 {
            return 0;
        }
        self.extended_max() - self.base_ext + 1 - i64::from(self.epoch_received)
    }

    /// Highest sequence number seen, extended with the wrap count (of the current epoch).
    pub fn extended_max(&self) -> i64 {
        i64::from(self.cycles) * 65536 + i64::from(self.max_seq)
    }

    /// Packets counted (probation packets and duplicates excluded): listcalls' `received`.
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Packets lost: expected − received, summed over epochs, never negative.
    pub fn lost(&self) -> u32 {
        let total = self.prior_lost + self.epoch_lost().max(0);
        u32::try_from(total.max(0)).unwrap_or(u32::MAX)
    }

    /// Loss events by length: index `n` (1–9) counts gaps of `n` packets, index 10 gaps of
    /// ten or more; index 0 is always 0.
    pub fn loss_events(&self) -> &[u32; 11] {
        &self.loss_events
    }

    /// Times the loss count went down (a late packet filled a gap).
    pub fn reordered(&self) -> u32 {
        self.reordered
    }

    /// Packets whose sequence number was already counted.
    pub fn duplicates(&self) -> u32 {
        self.duplicates
    }

    /// Wraps of the 16-bit sequence number in the current epoch.
    pub fn cycles(&self) -> u32 {
        self.cycles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(t: &mut SequenceTracker, seqs: impl IntoIterator<Item = u16>) {
        for (i, s) in seqs.into_iter().enumerate() {
            t.update(s, i as u64 * 20_000);
        }
    }

    #[test]
    fn probation_skips_two() {
        let mut t = SequenceTracker::default();
        assert_eq!(t.update(10, 0), SeqOutcome::Probation);
        assert_eq!(t.update(11, 20_000), SeqOutcome::Probation);
        assert_eq!(t.update(12, 40_000), SeqOutcome::Counted);
        assert_eq!((t.received(), t.lost()), (1, 0));
        let mut t = SequenceTracker::new(false);
        assert_eq!(t.update(10, 0), SeqOutcome::Counted);
        assert_eq!(t.received(), 1);
    }

    #[test]
    fn probation_restarts_on_gap() {
        let mut t = SequenceTracker::default();
        feed(&mut t, [10, 12, 13, 14, 15]);
        assert_eq!(t.received(), 2);
    }

    #[test]
    fn swap_is_a_transient_loss_event() {
        let mut t = SequenceTracker::default();
        feed(&mut t, [1, 2, 3, 4, 6, 5, 7]);
        assert_eq!((t.received(), t.lost(), t.reordered()), (5, 0, 1));
        assert_eq!(t.loss_events()[1], 1);
    }

    #[test]
    fn duplicates_not_counted() {
        let mut t = SequenceTracker::default();
        feed(&mut t, [1, 2, 3, 4, 4, 5, 3, 6]);
        assert_eq!((t.received(), t.lost(), t.duplicates()), (4, 0, 2));
    }

    #[test]
    fn gap_lengths_histogram() {
        let mut t = SequenceTracker::default();
        feed(&mut t, [1, 2, 3, 7, 20, 21]);
        assert_eq!(t.lost(), 3 + 12);
        assert_eq!(t.loss_events()[3], 1);
        assert_eq!(t.loss_events()[10], 1);
    }

    #[test]
    fn restart_after_big_jump() {
        let mut t = SequenceTracker::default();
        feed(&mut t, [1, 2, 3, 4, 30_000, 30_001, 30_002]);
        // 30 000 waits for confirmation, 30 001 resyncs, 30 002 counts.
        assert_eq!((t.received(), t.lost()), (4, 0));
    }

    #[test]
    fn fast_gap_over_200_is_reset_slow_gap_is_loss() {
        let mut t = SequenceTracker::default();
        feed(&mut t, [1, 2, 3, 500, 501]);
        assert_eq!((t.received(), t.lost()), (3, 0));
        let mut t = SequenceTracker::default();
        for (s, at) in [
            (1, 0),
            (2, 20_000),
            (3, 40_000),
            (500, 10_040_000),
            (501, 10_060_000),
        ] {
            t.update(s, at);
        }
        assert_eq!((t.received(), t.lost()), (3, 496));
        let mut t = SequenceTracker::default();
        feed(&mut t, [1, 2, 3, 204, 205]);
        assert_eq!(t.lost(), 200, "exactly 200 lost is loss");
    }

    #[test]
    fn reset_point_is_not_loss() {
        let mut t = SequenceTracker::default();
        feed(&mut t, [1, 2, 3, 4]);
        t.mark_reset();
        assert_eq!(t.update(100, 1_000_000), SeqOutcome::Resynced);
        t.update(101, 1_020_000);
        assert_eq!((t.received(), t.lost()), (4, 0));
        assert_eq!(
            t.update(50, 1_040_000),
            SeqOutcome::Ignored,
            "before the new epoch"
        );
    }
}
