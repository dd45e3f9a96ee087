//! INVITE hops of a call's initial transactions: forking and proxies (behaviour spec §3.8).
//!
//! Every INVITE without a To-tag is one *hop*: its top Via branch, source and destination.
//! A retransmission is the same hop. Responses find their hop by their top Via branch (a
//! response travels back along the request's hop with the same top Via), else by address.
//!
//! * A hop is **forwarded** when a later INVITE carries the hop's branch below its own top
//!   Via: the hop's destination passed the INVITE on, so it is a proxy. A chain
//!   `A → P → B` therefore has one forwarded hop (`A → P`) and one *leaf* (`P → B`); parallel
//!   forking `P → B1`, `P → B2` has two leaves, and neither B1 nor B2 is a proxy.
//! * `sipproxies` = the sources of INVITEs other than the caller's ip:port, plus the
//!   destinations of forwarded hops, distinct, without the final `sipcalledip`.
//! * `sipcalledip` = the destination of the answered leaf; else of the leaf with the latest
//!   response; else of the latest leaf.
//! * A 3xx–6xx on a leaf finishes that branch only: the call's destroy timer starts when no
//!   leaf is still pending and none was answered.

use std::net::IpAddr;

use crate::Endpoint;

/// Most hops remembered per call; later new hops are not tracked.
pub(crate) const MAX_HOPS: usize = 16;

/// Where a hop's transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HopState {
    /// No response yet.
    Pending,
    /// A 1xx was seen.
    Early,
    /// A 2xx was seen.
    Answered,
    /// A 3xx–6xx was seen.
    Failed,
}

#[derive(Debug, Clone)]
pub(crate) struct Hop {
    /// FNV-1a of the top Via branch (0 when the INVITE had none).
    branch: u64,
    src: Endpoint,
    dst: Endpoint,
    forwarded: bool,
    state: HopState,
    /// Packet time of the latest response on this hop.
    confirmed_at: Option<u64>,
}

/// The hops of one call.
#[derive(Debug, Default)]
pub(crate) struct Hops {
    hops: Vec<Hop>,
}

/// FNV-1a, 64 bits: a compact, deterministic key for Via branches.
pub(crate) fn branch_key(branch: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in branch {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h | 1 // never 0, which means "no branch"
}

impl Hops {
    /// An INVITE without To-tag from `src` to `dst`, with the branch keys of its Via values
    /// top first. Returns `Some(index)` of a new hop, `None` for a retransmission (or when
    /// the hop table is full).
    pub(crate) fn invite(
        &mut self,
        src: Endpoint,
        dst: Endpoint,
        mut branches: impl Iterator<Item = u64>,
    ) -> Option<usize> {
        let top = branches.next().unwrap_or(0);
        if self
            .hops
            .iter()
            .any(|h| h.branch == top && h.src == src && h.dst == dst)
        {
            return None;
        }
        for below in branches {
            for h in &mut self.hops {
                if h.branch == below {
                    h.forwarded = true;
                }
            }
        }
        if self.hops.len() >= MAX_HOPS {
            return None;
        }
        // Most calls have one or two hops: grow one at a time (`push` would reserve four).
        self.hops.reserve_exact(1);
        self.hops.push(Hop {
            branch: top,
            src,
            dst,
            forwarded: false,
            state: HopState::Pending,
            confirmed_at: None,
        });
        Some(self.hops.len() - 1)
    }

    /// The hop a response to the initial INVITE belongs to: by top Via branch (preferring
    /// the hop whose destination sent it), else the latest hop whose destination sent it.
    pub(crate) fn find(&self, branch: Option<u64>, src: IpAddr) -> Option<usize> {
        let by_branch = |want_src: bool| {
            self.hops.iter().rposition(|h| {
                branch.is_some_and(|b| b == h.branch) && (!want_src || h.dst.ip == src)
            })
        };
        by_branch(true)
            .or_else(|| by_branch(false))
            .or_else(|| self.hops.iter().rposition(|h| h.dst.ip == src))
    }

    /// Records a response with `code` on hop `i`.
    pub(crate) fn respond(&mut self, i: usize, code: u16, now: u64) {
        let Some(h) = self.hops.get_mut(i) else {
            return;
        };
        h.confirmed_at = Some(now);
        h.state = match (h.state, code) {
            (HopState::Answered, _) => HopState::Answered,
            (_, 100..=199) if h.state == HopState::Failed => HopState::Failed,
            (_, 100..=199) => HopState::Early,
            (_, 200..=299) => HopState::Answered,
            _ => HopState::Failed,
        };
    }

    /// Whether hop `i` was passed on by its destination (a proxy).
    pub(crate) fn is_forwarded(&self, i: usize) -> bool {
        self.hops.get(i).is_some_and(|h| h.forwarded)
    }

    fn leaves(&self) -> impl Iterator<Item = &Hop> {
        self.hops.iter().filter(|h| !h.forwarded)
    }

    /// Whether a leaf still waits for its final response.
    pub(crate) fn leaf_pending(&self) -> bool {
        self.leaves()
            .any(|h| matches!(h.state, HopState::Pending | HopState::Early))
    }

    /// The callee's SIP address (`sipcalledip`), when any hop is known.
    pub(crate) fn called(&self) -> Option<Endpoint> {
        self.leaves()
            .find(|h| h.state == HopState::Answered)
            .or_else(|| {
                self.leaves()
                    .filter(|h| h.confirmed_at.is_some())
                    .max_by_key(|h| h.confirmed_at)
            })
            .or_else(|| self.leaves().last())
            .map(|h| h.dst)
    }

    /// Distinct proxy addresses seen between the ends, in order of appearance, without
    /// `called`.
    pub(crate) fn proxies(&self, caller: Endpoint, called: Option<IpAddr>) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for h in &self.hops {
            let srcs = (h.src != caller).then_some(h.src.ip);
            let dsts = h.forwarded.then_some(h.dst.ip);
            for ip in srcs.into_iter().chain(dsts) {
                if Some(ip) != called && !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ep(last: u8) -> Endpoint {
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            port: 5060,
        }
    }

    fn keys(branches: &[&str]) -> impl Iterator<Item = u64> {
        branches
            .iter()
            .map(|b| branch_key(b.as_bytes()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn chain_marks_the_middle_as_proxy() {
        let mut h = Hops::default();
        assert_eq!(h.invite(ep(1), ep(5), keys(&["a1"])), Some(0));
        assert_eq!(
            h.invite(ep(1), ep(5), keys(&["a1"])),
            None,
            "retransmission"
        );
        assert_eq!(h.invite(ep(5), ep(2), keys(&["p1", "a1"])), Some(1));
        assert_eq!(h.called(), Some(ep(2)));
        assert_eq!(h.proxies(ep(1), Some(ep(2).ip)), vec![ep(5).ip]);
        assert!(h.leaf_pending());
        let i = h
            .find(Some(branch_key(b"p1")), ep(2).ip)
            .expect("the leaf hop");
        assert_eq!(i, 1);
        h.respond(i, 486, 10);
        assert!(!h.leaf_pending(), "the forwarded hop is not a leaf");
    }

    #[test]
    fn parallel_fork_waits_for_every_leaf() {
        let mut h = Hops::default();
        h.invite(ep(1), ep(5), keys(&["a1"]));
        h.invite(ep(5), ep(2), keys(&["p1", "a1"]));
        h.invite(ep(5), ep(3), keys(&["p2", "a1"]));
        assert_eq!(h.proxies(ep(1), h.called().map(|e| e.ip)), vec![ep(5).ip]);
        h.respond(1, 180, 1);
        h.respond(2, 180, 2);
        assert_eq!(h.called(), Some(ep(3)), "latest confirmed leaf");
        h.respond(1, 486, 3);
        assert!(h.leaf_pending());
        assert_eq!(h.called(), Some(ep(2)), "B1 answered last");
        h.respond(2, 200, 4);
        assert_eq!(h.called(), Some(ep(3)), "the answered leaf wins");
        h.respond(2, 180, 5);
        assert_eq!(h.called(), Some(ep(3)));
        assert!(!h.leaf_pending());
    }

    #[test]
    fn response_without_branch_matches_by_address() {
        let mut h = Hops::default();
        h.invite(ep(1), ep(2), std::iter::empty());
        assert_eq!(h.find(None, ep(2).ip), Some(0));
        assert_eq!(h.find(None, ep(9).ip), None);
        assert_eq!(h.find(Some(branch_key(b"zz")), ep(2).ip), Some(0));
    }

    #[test]
    fn bounded() {
        let mut h = Hops::default();
        for i in 0..100u16 {
            h.invite(
                ep(1),
                Endpoint {
                    ip: ep(2).ip,
                    port: i,
                },
                keys(&["x"]),
            );
        }
        assert_eq!(h.hops.len(), MAX_HOPS);
    }

    #[test]
    fn branch_keys_differ_and_are_never_zero() {
        assert_ne!(branch_key(b"z9hG4bK1"), branch_key(b"z9hG4bK2"));
        assert_ne!(branch_key(b""), 0);
    }
}
