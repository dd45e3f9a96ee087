//! RTP and RTCP for the sensor: zero-copy packet views and per-stream statistics — sequence
//! loss, jitter, MOS from simulated jitter buffers, RTCP report blocks — without I/O.
//!
//! Nothing here reads a clock: every packet comes with its arrival time in microseconds of
//! packet time, and no per-packet call allocates. Which call and stream a packet belongs to
//! (SDP association, SSRC lookup) is the caller's business.
//!
//! - [`rtp`] — [`RtpPacket`] (one checked constructor; CSRCs, extension and padding handled)
//!   and the [`looks_like_rtp`] heuristic; [`payload`]: payload types and clock rates.
//! - [`rtcp`] — compound RTCP iteration, SR/RR views with [`rtcp::ReportBlock`]s; SDES, BYE,
//!   APP, feedback and XR are walked over. [`rtcp_stats`]: the `rtcp_*` values per stream.
//! - [`stream`] — [`StreamStats`] ties together [`seq`] (RFC 3550 A.1), [`jitter`],
//!   [`jitterbuffer`] and [`mos`].
//!
//! # Counting (behaviour spec §3.10)
//!
//! RFC 3550 A.1 with probation 2: the first two packets of a stream are not counted, so
//! [`StreamStats::received`] is N − 2 for N packets, as listcalls shows (the CDR adds 2).
//! Lost = expected − received per sequence epoch, summed, never negative. A new epoch starts
//! on a confirmed restart (jump ≥ 3000), on a forward gap of more than 200 packets within
//! 1 s of the previous packet, and after [`StreamStats::mark_reset`]; such jumps are not
//! loss. Exact duplicates (tracked over the last 128 sequence numbers) are not counted again,
//! so duplicates cannot hide loss. After each counted packet an increase of the loss count by
//! n is a loss event of length n (bucket 10 = ≥ 10), a decrease counts as reordered.
//! Jitter: D from arrival ms and timestamp / (rate / 1000), J += (|D| − J) / 16, |D| > 5 s
//! → 0; telephone events, duplicates and the first packet after a codec change give no sample.
//!
//! # MOS model (behaviour spec §3.11)
//!
//! Three playout buffers are simulated per stream — **F1** fixed 50 ms (resync 100 ms),
//! **F2** fixed 200 ms (resync 200 ms), **adaptive** up to 500 ms (resync 500 ms). The
//! reference uses Asterisk's buffers driven by packet time; those are only partly specified,
//! so this crate implements a small, deterministic model in their spirit:
//!
//! - **Frames.** The packetisation interval (ptime) is learned from the first two voice
//!   packets with consecutive sequence numbers (timestamp delta ≤ 200 ms); the buffers start
//!   with that packet. A packet's frame number is its timestamp offset / ptime, rounded.
//! - **Playout clock.** Frame `f` is pulled at `anchor + delay + f × ptime`. Fixed buffers
//!   anchor on the first packet's transit (arrival − f × ptime), so delay = buffer size, as in
//!   Asterisk's fixed buffer. The adaptive buffer anchors on the *minimum* transit seen and
//!   sets delay = (decaying maximum transit − minimum) + 40 ms, capped at its size; the
//!   maximum decays by 1/256 of the spread per packet (half-life ≈ 3.5 s at 20 ms). 40 ms is
//!   Asterisk's `JB_TARGET_EXTRA`.
//! - **Pulls** are performed lazily: when a packet arrives at time *a*, every frame due at or
//!   before *a* is pulled first; a frame not in the buffer then is lost (network loss, or
//!   later than the buffer allows). Consecutive losses form a burst; finished bursts feed a
//!   histogram (bucket 10 = ≥ 10). After the last packet nothing more is pulled, so the end
//!   of a stream is not loss.
//! - **Silence.** When the timestamp advances more than the sequence number implies (by more
//!   than half a frame), the difference is silence (DTX/VAD): the playout clock moves by it
//!   and frames stay numbered by sequence, so silence is never loss. A timestamp going
//!   backwards against the sequence re-anchors the buffer (new source clock).
//! - **Resync.** A fixed buffer re-anchors (frame plays after `delay` from now) when a packet
//!   is later than its anchor transit by more than the resync threshold, or earlier by more
//!   than delay + threshold — a step in network delay is then a short loss burst, not the
//!   rest of the call. The adaptive buffer re-anchors when a packet is later than
//!   size + threshold. A frame more than 128 frames ahead also re-anchors (bounded state:
//!   presence is a 128-bit window).
//! - **Intervals.** The first interval starts with the first buffered packet; an interval
//!   closes at the first packet at least 10 s of packet time after its start that is also at
//!   least its 20th packet. Its MOS (per model) is [`mos::interval_mos`]: < 5 frames lost →
//!   4.5, else ppl = lost / frames pulled, BurstR = (lost / bursts) × (1 − ppl) ≥ 1,
//!   ppl > 0.5 → 1.0, else Ie = 95·100ppl / (100ppl / BurstR + 17.2647),
//!   R = 93.2062077233 − Ie and MOS = 2.06405 + 0.031738 R − 0.000356641 R² +
//!   2.93143·10⁻⁶ R³ clamped to [1, 4.5]. A burst running over a boundary counts as a burst
//!   in both intervals. [`StreamStats::close_interval`] evaluates a partial last interval
//!   (the reference does so only when it writes graphs).
//! - **Summary** per model ([`mos::MosSummary`]): last interval, time-weighted average
//!   (weights = interval durations), minimum. As listcalls ×10 integers (rounded): before the
//!   first interval `45, 0, 45`; a disabled model stays there.
//!
//! Not modelled: the G.729 PESQ table (`mos_g729`), the "unanswered call with < 100 packets
//! → 4.5" rule (the caller knows the call state), clock drift beyond the resync rules, and
//! changes of ptime within a stream (the first one learned is kept).
//!
//! # RTCP (behaviour spec §3.12)
//!
//! [`rtcp_stats::RtcpStats`] keeps the last cumulative lost (signed 24-bit), max and mean
//! fraction lost, report jitter converted to ms with the stream's clock rate (values at or
//! above `ignorertcpjitter` skipped) and the round trip A − LSR − DLSR, where A is the arrival
//! time in NTP middle-32 units ([`rtcp_stats::ntp_middle32_from_unix_us`]); negative or
//! > 30 s round trips are discarded.

pub mod jitter;
pub mod jitterbuffer;
pub mod mos;
pub mod payload;
pub mod rtcp;
pub mod rtcp_stats;
pub mod rtp;
pub mod seq;
pub mod stream;

pub use payload::{ClockRates, PayloadType};
pub use rtp::{RtpError, RtpPacket, Ssrc, looks_like_rtp};
pub use seq::SeqOutcome;
pub use stream::{MosConfig, MosModel, StreamConfig, StreamStats};
