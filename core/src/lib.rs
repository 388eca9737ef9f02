//! ringpoll-core: the per-core executor and the thread-per-core [`Runtime`].
//!
//! Each core thread owns a task slab, a run queue and a reactor
//! ([`ringpoll_reactor::Reactor`]). Tasks are `!Send` and never move; a [`JoinHandle`] can be
//! awaited from any core. Wakes from the owning core go straight onto its run queue; wakes,
//! spawns and messages from other threads go through the core's mailbox and its eventfd,
//! deduplicated so a burst costs one write.
//!
//! Beside the executor: [`Handle`] (a cloneable, `Send + Sync` reference to a runtime),
//! [`channel`] (local and cross-core channels) and [`sync`] (single-core Notify, Mutex,
//! RwLock, Semaphore). They sit on top of the modules below and nothing below uses them.
//!
//! Modules depend one way, each only on those listed before it:
//! `mailbox` (messages to a core) <- `scheduler` (task slots, run queue, local wakes) <-
//! `header` (what a task's waker points to) <- `join` (a task's output and its handle) <-
//! `task` (a task's one allocation, with its future) <- `executor` (the core's loop) <- `spawn` <- `runtime`
//! <- `block_on`.
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code))))]

mod block_on;
mod blocking;
pub mod channel;
mod deadline;
mod executor;
mod handle;
mod header;
mod join;
mod mailbox;
mod runtime;
mod sched_policy;
mod scheduler;
mod scoped;
mod spawn;
pub mod sync;
mod task;

pub use block_on::{block_on, resolve_driver, try_block_on};
pub use blocking::spawn_blocking;
pub use handle::Handle;
pub use join::{park_on, JoinError, JoinHandle};
pub use runtime::{Builder, Runtime};
pub use spawn::{current_core, spawn, yield_now};

pub use ringpoll_reactor::time;
pub use ringpoll_reactor::{DriverChoice, DriverKind, StatsSnapshot};
