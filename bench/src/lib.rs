//! Shared code of the voipsensor bench tools.
//!
//! * [`traffic`] — the deterministic synthetic SIP/RTP capture generator behind `gen-traffic`.

pub mod traffic;
