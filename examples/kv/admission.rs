//! How many clients the server takes at once, across its cores (Redis' `maxclients`).
//!
//! Past the limit a client is told so and closed, as Redis tells it: `-ERR max number of
//! clients reached`. Without a limit, a server out of descriptors can only stop accepting
//! (`accept_backoff`), and the clients past the limit wait in the listen queue, unanswered:
//! `redis-benchmark -c 150` against kv under a limit of 80 descriptors stalled for good once
//! its first clients had their connections, where redis-server's answer ended it at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::cli::fd_limit;

/// Redis' default `maxclients`.
pub const REDIS_MAX_CLIENTS: usize = 10_000;

/// Descriptors kept back from clients: Redis keeps 32 (`CONFIG_MIN_RESERVED_FDS`), and each
/// core holds a few of its own (its listener, its epoll or ring, eventfds, the signal pipe).
const RESERVED_FDS: u64 = 32;
const FDS_PER_CORE: u64 = 8;

/// The most clients a server on `cores` cores can hold within `fd_limit` descriptors, at
/// most `wanted`: a client of a sharded server takes two (its socket and the duplicate other
/// cores write direct replies to, see `direct.rs`), of one core one. At least one, so a
/// server under a tiny limit still answers someone.
pub fn max_clients(wanted: usize, fd_limit: u64, cores: usize) -> usize {
    let per_client = if cores > 1 { 2 } else { 1 };
    let room = fd_limit.saturating_sub(RESERVED_FDS + FDS_PER_CORE * cores as u64) / per_client;
    wanted.min(usize::try_from(room).unwrap_or(usize::MAX)).max(1)
}

/// The clients open on every core, against the limit (which CONFIG SET `maxclients` changes).
pub struct Admission {
    open: AtomicUsize,
    max: AtomicUsize,
}

/// One admitted client: counted open until dropped.
pub struct Admitted(Arc<Admission>);

/// What a client past the limit is told before its connection closes (Redis' words).
pub const REFUSAL: &[u8; 36] = b"-ERR max number of clients reached\r\n";

impl Admission {
    /// Admission of at most `max` clients at once.
    pub fn new(max: usize) -> Arc<Admission> {
        Arc::new(Admission { open: AtomicUsize::new(0), max: AtomicUsize::new(max) })
    }

    /// The limit now (CONFIG GET `maxclients`).
    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// Makes `max` the limit, as Redis' CONFIG SET `maxclients` does, if the limit on open
    /// descriptors allows that many clients of a server on `cores` cores; else `Err` with
    /// the most it allows. Clients open past a lowered limit stay (Redis 7.0 closes none);
    /// the next are refused.
    pub fn set_max(&self, max: usize, cores: usize) -> Result<(), usize> {
        let room = max_clients(max, fd_limit(), cores);
        if room < max {
            return Err(room);
        }
        self.max.store(max, Ordering::Relaxed);
        Ok(())
    }

    /// The clients open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Admits one more client, unless `max` are open.
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let admitted =
            self.open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| (open < self.max()).then_some(open + 1));
        admitted.ok().map(|_| Admitted(self.clone()))
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_leaves_descriptors_for_the_cores_and_counts_two_per_sharded_client() {
        assert_eq!(max_clients(REDIS_MAX_CLIENTS, 80, 2), (80 - 32 - 16) / 2);
        assert_eq!(max_clients(REDIS_MAX_CLIENTS, 80, 1), 80 - 32 - 8);
        assert_eq!(max_clients(REDIS_MAX_CLIENTS, 1_048_576, 2), REDIS_MAX_CLIENTS, "Redis' default caps it");
        assert_eq!(max_clients(5, 1_048_576, 2), 5, "asked for fewer");
        assert_eq!(max_clients(REDIS_MAX_CLIENTS, 10, 2), 1, "someone is answered");
    }

    #[test]
    fn admission_stops_at_the_limit_and_a_close_makes_room() {
        let admission = Admission::new(2);
        let (a, b) = (admission.admit(), admission.admit());
        assert!(a.is_some() && b.is_some());
        assert!(admission.admit().is_none(), "a third is refused");
        drop(a);
        assert!(admission.admit().is_some(), "a close made room");
        assert_eq!(admission.set_max(3, 1), Ok(()));
        assert!(admission.admit().is_some(), "a raised limit makes room");
        assert_eq!(admission.set_max(1, 1), Ok(()));
        assert!(admission.admit().is_none(), "a lowered one refuses the next");
        let most = max_clients(usize::MAX, fd_limit(), 2);
        assert_eq!(admission.set_max(most + 1, 2), Err(most), "past what the descriptors allow");
        assert_eq!(admission.max(), 1, "unchanged");
    }
}
