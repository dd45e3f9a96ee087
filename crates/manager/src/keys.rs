//! Where the server gets its manager key, and how it slows down peers whose encrypted requests
//! keep failing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use voipsensor_manager_proto::aes::KeyMaterial;

/// The manager key as the server sees it.
///
/// `current` is called on every encrypted request and must not block; `reload` re-reads the
/// key from its source (a database) and may block, so the server calls it on a blocking thread,
/// only when a request fails to decrypt and for `exists_aes_key`. Implementations rate-limit
/// their reloads and keep the key they have when the source fails (fail closed).
pub trait KeyProvider: Send + Sync + std::fmt::Debug + 'static {
    /// Whether plaintext requests for protected commands are refused over TCP. True whenever
    /// a key exists or is expected (the database being unreachable does not turn it off).
    fn encryption_required(&self) -> bool;
    /// The key in force, from memory.
    fn current(&self) -> Option<Arc<KeyMaterial>>;
    /// Re-reads the key; returns the key in force afterwards.
    fn reload(&self) -> Option<Arc<KeyMaterial>>;
}

/// A fixed key (from the configuration), or none at all (encryption off).
#[derive(Debug, Clone, Default)]
pub struct StaticKey(pub Option<Arc<KeyMaterial>>);

impl KeyProvider for StaticKey {
    fn encryption_required(&self) -> bool {
        self.0.is_some()
    }
    fn current(&self) -> Option<Arc<KeyMaterial>> {
        self.0.clone()
    }
    fn reload(&self) -> Option<Arc<KeyMaterial>> {
        self.0.clone()
    }
}

/// Failures a peer may have within [`WINDOW`] before its failure replies are delayed.
const FREE_FAILURES: u32 = 5;
/// The window failures are counted in.
const WINDOW: Duration = Duration::from_secs(60);
/// Extra delay per failure beyond the free ones, and its cap.
const STEP: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Peers tracked at most (memory stays bounded whatever the number of attackers).
const MAX_PEERS: usize = 10_000;

/// Counts decryption failures per peer address and says how long to wait before answering.
///
/// Every failure gets the same reply; this only makes guessing (keys, padding) slow.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    peers: Mutex<HashMap<Option<IpAddr>, (u32, Instant)>>,
}

impl FailureLimiter {
    /// Records a failure from `peer` (`None`: a Unix socket client) at `now`; returns the delay
    /// to apply before replying.
    pub fn record(&self, peer: Option<IpAddr>, now: Instant) -> Duration {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            peers.retain(|_, (_, start)| now.duration_since(*start) < WINDOW);
            if peers.len() >= MAX_PEERS {
                peers.clear();
            }
        }
        let entry = peers.entry(peer).or_insert((0, now));
        if now.duration_since(entry.1) >= WINDOW {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(1);
        let excess = entry.0.saturating_sub(FREE_FAILURES);
        STEP.saturating_mul(excess).min(MAX_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slows_down_repeated_failures_per_peer() {
        let limiter = FailureLimiter::default();
        let t0 = Instant::now();
        let a: Option<IpAddr> = Some("127.0.0.2".parse().expect("ip"));
        let b: Option<IpAddr> = Some("127.0.0.3".parse().expect("ip"));
        for _ in 0..FREE_FAILURES {
            assert_eq!(limiter.record(a, t0), Duration::ZERO);
        }
        assert_eq!(limiter.record(a, t0), STEP);
        assert_eq!(limiter.record(a, t0), STEP * 2);
        assert_eq!(
            limiter.record(b, t0),
            Duration::ZERO,
            "other peers are not affected"
        );
        for _ in 0..100 {
            limiter.record(a, t0);
        }
        assert_eq!(limiter.record(a, t0), MAX_DELAY);
        assert_eq!(
            limiter.record(a, t0 + WINDOW),
            Duration::ZERO,
            "a new window starts fresh"
        );
    }

    #[test]
    fn memory_is_bounded() {
        let limiter = FailureLimiter::default();
        let t0 = Instant::now();
        for i in 0..(MAX_PEERS as u32 + 10) {
            limiter.record(Some(IpAddr::from(i.to_be_bytes())), t0);
        }
        assert!(limiter.peers.lock().expect("lock").len() <= MAX_PEERS);
    }
}
