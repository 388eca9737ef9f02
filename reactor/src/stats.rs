//! Per-core counters, written by the owning core and readable from any thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::netpoll_break::Break;

/// A counter with a single writer (the owning core) and any number of readers.
///
/// Updated with a load and a store rather than `fetch_add`: only one thread writes it, so the
/// read-modify-write needs no lock prefix, and readers still see whole values.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning core may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    /// Adds one. Only the owning core may call this.
    #[inline]
    pub fn bump(&self) {
        self.add(1);
    }
    /// Subtracts `n` from a gauge. Only the owning core may call this.
    #[inline]
    pub fn sub(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_sub(n), Relaxed);
    }
    /// Sets a gauge. Only the owning core may call this.
    #[inline]
    pub fn set(&self, n: u64) {
        self.0.store(n, Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// What one core's executor and reactor have done; see [`StatsSnapshot`] for the fields.
#[derive(Debug, Default)]
#[allow(missing_docs)]
pub struct Stats {
    pub tasks_spawned: Counter,
    pub tasks_polled: Counter,
    pub tasks_live: Counter,
    pub reactor_polls: Counter,
    pub reactor_events: Counter,
    pub uring_enters: Counter,
    pub uring_completions: Counter,
    pub accepted: Counter,
    pub accept_arms: Counter,
    pub sources_open: Counter,
    pub timers_live: Counter,
    pub ops_in_flight: Counter,
    pub spin_hits: Counter,
    pub pool_buffers: Counter,
    pub pool_trimmed_bytes: Counter,
}

/// A copy of one core's [`Stats`] at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Tasks spawned on the core.
    pub tasks_spawned: u64,
    /// Task polls run.
    pub tasks_polled: u64,
    /// Tasks alive now.
    pub tasks_live: u64,
    /// Calls into the reactor (epoll_wait or one io_uring turn).
    pub reactor_polls: u64,
    /// epoll events or io_uring completions handled.
    pub reactor_events: u64,
    /// io_uring_enter calls (0 on epoll).
    pub uring_enters: u64,
    /// io_uring completions reaped (0 on epoll).
    pub uring_completions: u64,
    /// Connections accepted by listeners on the core.
    pub accepted: u64,
    /// Multishot accepts submitted (io_uring): one per listener, plus one per re-arm after
    /// an end (an error, a pause, a full completion queue).
    pub accept_arms: u64,
    /// Sockets open on the core now.
    pub sources_open: u64,
    /// Armed timers now.
    pub timers_live: u64,
    /// io_uring ops awaiting their completion now, including abandoned ones and the idle
    /// timer of a core whose buffer ring wants a trim (0 on epoll).
    pub ops_in_flight: u64,
    /// Times the core found work while spinning before a sleep (see `spin_before_park`).
    pub spin_hits: u64,
    /// Buffers in the core's provided-buffer ring (io_uring pooled reads; 0 on epoll and
    /// before the first pooled read): the ring grows when readers hold every buffer.
    pub pool_buffers: u64,
    /// Bytes of idle pool buffers whose pages an idle core gave back to the kernel
    /// (io_uring; 0 on epoll, which holds no idle buffer).
    pub pool_trimmed_bytes: u64,
    /// Writes to the core's eventfd (netpollBreak) by other threads.
    pub eventfd_writes: u64,
    /// Wakes other io_uring cores posted into this core's ring (MSG_RING) instead.
    pub ring_wakes: u64,
}

impl Stats {
    /// Reads every counter; the wake counts come from the core's break, `brk`.
    pub fn snapshot(&self, brk: &Break) -> StatsSnapshot {
        StatsSnapshot {
            tasks_spawned: self.tasks_spawned.get(),
            tasks_polled: self.tasks_polled.get(),
            tasks_live: self.tasks_live.get(),
            reactor_polls: self.reactor_polls.get(),
            reactor_events: self.reactor_events.get(),
            uring_enters: self.uring_enters.get(),
            uring_completions: self.uring_completions.get(),
            accepted: self.accepted.get(),
            accept_arms: self.accept_arms.get(),
            sources_open: self.sources_open.get(),
            timers_live: self.timers_live.get(),
            ops_in_flight: self.ops_in_flight.get(),
            spin_hits: self.spin_hits.get(),
            pool_buffers: self.pool_buffers.get(),
            pool_trimmed_bytes: self.pool_trimmed_bytes.get(),
            eventfd_writes: brk.writes(),
            ring_wakes: brk.ring_wakes(),
        }
    }
}
