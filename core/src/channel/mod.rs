//! Channels between tasks: [`local`] ones for the tasks of one core, [`cross_core`] ones for
//! messages between cores (and threads).
//!
//! | | same core | across cores |
//! |---|---|---|
//! | many senders, one receiver | [`local::channel`], [`local::unbounded`] | [`cross_core::channel`], [`cross_core::unbounded`] |
//! | one value, one reply | [`local::oneshot`] | [`cross_core::oneshot`] |
//! | the latest value, to many receivers | (the cross-core one) | [`watch::channel`] |
//! | every message, to many receivers | (the cross-core one) | [`broadcast::channel`] |
//!
//! Local channels are `!Send` and use no atomics. Cross-core channels are `Send`; a receiver
//! waits with its task's waker, so a send from another core wakes exactly the receiver's
//! core, through its mailbox and its deduplicated eventfd break: a burst of sends to a
//! parked receiver costs one wake, and none if the receiving core is busy.
//!
//! Bounded channels make senders wait while the channel is full (backpressure). Closing either
//! end is seen by the other: a send to a closed or dropped receiver fails and hands the value
//! back; a receive returns `None` once every sender is gone and the queue is empty.
//!
//! [`watch`] and [`broadcast`] push one sender's news (config, shutdown, invalidations) to
//! receivers on every core. They are `Send` too, with waiting receivers in a list that a send
//! wakes each once, outside its lock; a receiver costs nothing while nothing is sent.

pub mod broadcast;
pub mod cross_core;
mod error;
pub mod local;
mod wait_list;
pub mod watch;

pub use error::{RecvError, SendError, TryRecvError, TrySendError};
