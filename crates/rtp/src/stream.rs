//! [`StreamStats`]: everything the sensor tracks for one RTP stream (one SSRC in one call),
//! updated in place per packet without allocating.

use crate::jitter::JitterEstimator;
use crate::jitterbuffer::{JitterBufferConfig, JitterBufferSim};
use crate::mos::MosSummary;
use crate::payload::{ClockRates, PayloadType};
use crate::rtp::RtpPacket;
use crate::seq::{SeqOutcome, SequenceTracker};

/// Stream time after which an interval MOS is computed.
pub const MOS_INTERVAL_US: u64 = 10_000_000;
/// Packets an interval needs besides [`MOS_INTERVAL_US`].
pub const MOS_INTERVAL_MIN_PACKETS: u32 = 20;

/// The three jitter-buffer models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MosModel {
    /// Fixed 50 ms.
    F1,
    /// Fixed 200 ms.
    F2,
    /// Adaptive up to 500 ms.
    Adaptive,
}

impl MosModel {
    /// F1, F2, adaptive: the listcalls column order.
    pub const ALL: [Self; 3] = [Self::F1, Self::F2, Self::Adaptive];

    fn index(self) -> usize {
        self as usize
    }
}

/// Which buffers are simulated; `None` = the model is off and its MOS stays 4.5
/// (`jitterbuffer_f1 = no` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MosConfig {
    /// F1 parameters.
    pub f1: Option<JitterBufferConfig>,
    /// F2 parameters.
    pub f2: Option<JitterBufferConfig>,
    /// Adaptive parameters.
    pub adaptive: Option<JitterBufferConfig>,
}

impl Default for MosConfig {
    fn default() -> Self {
        Self {
            f1: Some(JitterBufferConfig::F1),
            f2: Some(JitterBufferConfig::F2),
            adaptive: Some(JitterBufferConfig::ADAPTIVE),
        }
    }
}

/// Per-stream settings, known when the stream is created.
#[derive(Debug, Clone, Copy)]
pub struct StreamConfig {
    /// RFC 3550 probation (`disable_rtp_seq_probation = yes` → false).
    pub probation: bool,
    /// Payload type of `telephone-event` from SDP: excluded from jitter, MOS and codec.
    pub telephone_event: Option<PayloadType>,
    /// Rates of dynamic payload types from `a=rtpmap`.
    pub clock_rates: ClockRates,
    /// Jitter-buffer models.
    pub mos: MosConfig,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            probation: true,
            telephone_event: None,
            clock_rates: ClockRates::default(),
            mos: MosConfig::default(),
        }
    }
}

/// Statistics of one RTP stream.
#[derive(Debug, Clone)]
pub struct StreamStats {
    telephone_event: Option<PayloadType>,
    clock_rates: ClockRates,
    seq: SequenceTracker,
    jitter: JitterEstimator,
    buffers: [Option<JitterBufferSim>; 3],
    packets: u64,
    first_payload_type: Option<PayloadType>,
    last_payload_type: Option<PayloadType>,
    prev_voice: Option<(u16, u32)>,
    ptime_ts: u32,
    ptime_rate: u32,
    interval_start_us: Option<u64>,
    interval_packets: u32,
    last_arrival_us: u64,
    recent: LossWindow,
}

impl StreamStats {
    /// A stream that has not seen a packet yet.
    pub fn new(config: &StreamConfig) -> Self {
        Self {
            telephone_event: config.telephone_event,
            clock_rates: config.clock_rates,
            seq: SequenceTracker::new(config.probation),
            jitter: JitterEstimator::default(),
            buffers: [
                config.mos.f1.map(JitterBufferSim::new),
                config.mos.f2.map(JitterBufferSim::new),
                config.mos.adaptive.map(JitterBufferSim::new),
            ],
            packets: 0,
            first_payload_type: None,
            last_payload_type: None,
            prev_voice: None,
            ptime_ts: 0,
            ptime_rate: 0,
            interval_start_us: None,
            interval_packets: 0,
            last_arrival_us: 0,
            recent: LossWindow::default(),
        }
    }

    /// Records the clock rate of a dynamic payload type (from a later SDP).
    pub fn set_clock_rate(&mut self, pt: PayloadType, rate: u32) {
        self.clock_rates.set(pt, rate);
    }

    /// Marks a reset point (re-INVITE media change): the next packet is not counted as loss
    /// and gives no jitter sample.
    pub fn mark_reset(&mut self) {
        self.seq.mark_reset();
        self.jitter.restart_reference();
    }

    /// Feeds one parsed packet that arrived at `arrival_us` (µs, packet time).
    pub fn handle_packet(&mut self, pkt: &RtpPacket<'_>, arrival_us: u64) -> SeqOutcome {
        self.update(
            pkt.sequence(),
            pkt.timestamp(),
            pkt.payload_type(),
            arrival_us,
        )
    }

    /// Feeds one packet by its header fields.
    pub fn update(&mut self, seq: u16, ts: u32, pt: PayloadType, arrival_us: u64) -> SeqOutcome {
        self.packets += 1;
        self.last_arrival_us = arrival_us;
        let (rx_before, lost_before) = (self.seq.received(), self.seq.lost());
        let outcome = self.seq.update(seq, arrival_us);
        self.recent.record(
            arrival_us,
            self.seq.received() - rx_before,
            i64::from(self.seq.lost()) - i64::from(lost_before),
        );
        if outcome == SeqOutcome::Duplicate || Some(pt) == self.telephone_event {
            return outcome;
        }
        if self.first_payload_type.is_none() {
            self.first_payload_type = Some(pt);
        }
        if self.last_payload_type.is_some_and(|last| last != pt) {
            // Timestamps of two codecs are not comparable.
            self.jitter.restart_reference();
        }
        self.last_payload_type = Some(pt);
        let rate = self.clock_rates.rate(pt);
        self.jitter.update(arrival_us, ts, rate);
        self.learn_ptime(seq, ts, rate);
        if self.ptime_ts == 0 {
            return outcome;
        }
        for jb in self.buffers.iter_mut().flatten() {
            jb.put(arrival_us, seq, ts, self.ptime_ts, self.ptime_rate);
        }
        let start = *self.interval_start_us.get_or_insert(arrival_us);
        self.interval_packets += 1;
        let elapsed = arrival_us.saturating_sub(start);
        if elapsed >= MOS_INTERVAL_US && self.interval_packets >= MOS_INTERVAL_MIN_PACKETS {
            self.close_interval_at(arrival_us);
        }
        outcome
    }

    fn learn_ptime(&mut self, seq: u16, ts: u32, rate: u32) {
        if self.ptime_ts == 0
            && let Some((prev_seq, prev_ts)) = self.prev_voice
            && seq == prev_seq.wrapping_add(1)
        {
            let delta = ts.wrapping_sub(prev_ts);
            if delta > 0 && delta <= rate / 5 {
                self.ptime_ts = delta;
                self.ptime_rate = rate;
            }
        }
        self.prev_voice = Some((seq, ts));
    }

    /// Evaluates the running (partial) MOS interval now, e.g. at call end.
    pub fn close_interval(&mut self) {
        if self.interval_start_us.is_some() && self.interval_packets > 0 {
            self.close_interval_at(self.last_arrival_us);
        }
    }

    fn close_interval_at(&mut self, now_us: u64) {
        let start = self.interval_start_us.unwrap_or(now_us);
        for jb in self.buffers.iter_mut().flatten() {
            jb.close_interval(now_us.saturating_sub(start));
        }
        self.interval_start_us = Some(now_us);
        self.interval_packets = 0;
    }

    /// All packets handed in, including probation, duplicates and telephone events.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Packets counted by the sequence tracker: listcalls `received` (N − 2 for N packets).
    pub fn received(&self) -> u32 {
        self.seq.received()
    }

    /// Packets lost (never negative).
    pub fn lost(&self) -> u32 {
        self.seq.lost()
    }

    /// lost / (received + lost) × 100; `None` before any counted packet.
    pub fn loss_percent(&self) -> Option<f64> {
        let total = f64::from(self.received()) + f64::from(self.lost());
        (total > 0.0).then(|| f64::from(self.lost()) * 100.0 / total)
    }

    /// Loss percent over packets that arrived in the 10 s up to `now_us` (whole seconds of
    /// packet time); `None` if none did. listcalls' `loss_last10sec` column is this × 10.
    pub fn loss_last_10s_percent(&self, now_us: u64) -> Option<f64> {
        self.recent.percent(now_us)
    }

    /// The sequence tracker (loss-event histogram, reordered, duplicates …).
    pub fn sequence(&self) -> &SequenceTracker {
        &self.seq
    }

    /// The jitter estimator (current, average, maximum, delay buckets).
    pub fn jitter(&self) -> &JitterEstimator {
        &self.jitter
    }

    /// Payload type of the first voice packet.
    pub fn first_payload_type(&self) -> Option<PayloadType> {
        self.first_payload_type
    }

    /// Payload type of the last voice packet (listcalls codec column).
    pub fn last_payload_type(&self) -> Option<PayloadType> {
        self.last_payload_type
    }

    /// Learned packetisation interval in ms, `None` until two consecutive packets were seen.
    pub fn ptime_ms(&self) -> Option<f64> {
        (self.ptime_ts != 0)
            .then(|| f64::from(self.ptime_ts) * 1000.0 / f64::from(self.ptime_rate.max(1)))
    }

    /// MOS intervals of one model; a disabled model reports no intervals (4.5).
    pub fn mos(&self, model: MosModel) -> &MosSummary {
        self.buffers[model.index()]
            .as_ref()
            .map_or(&MosSummary::IDLE, JitterBufferSim::mos)
    }

    /// The simulated buffer of one model, `None` when disabled.
    pub fn jitter_buffer(&self, model: MosModel) -> Option<&JitterBufferSim> {
        self.buffers[model.index()].as_ref()
    }
}

/// Received and lost packet counts per second of arrival time, for the last 10 seconds.
#[derive(Debug, Clone)]
struct LossWindow {
    second: [u64; 10],
    received: [u32; 10],
    lost: [i32; 10],
}

impl Default for LossWindow {
    fn default() -> Self {
        Self {
            second: [u64::MAX; 10],
            received: [0; 10],
            lost: [0; 10],
        }
    }
}

impl LossWindow {
    fn record(&mut self, arrival_us: u64, received: u32, lost: i64) {
        let s = arrival_us / 1_000_000;
        let slot = (s % 10) as usize;
        if self.second[slot] != s {
            self.second[slot] = s;
            self.received[slot] = 0;
            self.lost[slot] = 0;
        }
        self.received[slot] = self.received[slot].saturating_add(received);
        self.lost[slot] = self.lost[slot].saturating_add(lost.clamp(-1 << 30, 1 << 30) as i32);
    }

    fn percent(&self, now_us: u64) -> Option<f64> {
        let now = now_us / 1_000_000;
        let (mut rx, mut lost) = (0i64, 0i64);
        for i in 0..10 {
            let s = self.second[i];
            if s <= now && now - s < 10 {
                rx += i64::from(self.received[i]);
                lost += i64::from(self.lost[i]);
            }
        }
        let lost = lost.max(0);
        (rx + lost > 0).then(|| lost as f64 * 100.0 / (rx + lost) as f64)
    }
}
