//! Channels between cores (and plain threads): `Send` ends, one receiving task.
//!
//! The queue is `async-channel`'s (a lock-free MPMC queue with async backpressure and close
//! on both ends, from smol-rs). What makes it cross-core here is the waker it is given: the
//! receiving task's, which points at the receiver's core. A send from another core pushes the
//! message, then wakes that task through the core's mailbox and deduplicated eventfd break,
//! and only if the receiver is parked: `async-channel` notifies a waiting receiver once, not
//! once per message, so a burst of sends costs one wake (and none while the receiver is
//! busy). A sender waiting on a full channel is woken the same way, on its own core.

mod oneshot;

pub use oneshot::{oneshot, OneshotReceiver, OneshotSender};

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use ringpoll_reactor::budget;

use super::{SendError, TryRecvError, TrySendError};

/// A channel holding at most `capacity` messages: [`Sender::send`] waits while it is full.
///
/// # Panics
/// If `capacity` is 0.
///
/// ```no_run
/// use ringpoll::channel::cross_core;
/// use ringpoll::Runtime;
///
/// let rt = Runtime::builder().cores([0, 1]).build()?;
/// let (tx, mut rx) = cross_core::channel::<u64>(64);
/// let sum = rt.spawn_on(1, move || async move {
///     let mut sum = 0;
///     while let Some(n) = rx.recv().await {
///         sum += n;
///     }
///     sum
/// });
/// rt.spawn_on(0, move || async move {
///     for n in 1..=100 {
///         tx.send(n).await.unwrap();
///     }
/// }).detach();
/// assert_eq!(sum.join().unwrap(), 5050);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn channel<T: Send>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "a bounded channel needs a capacity above 0");
    let (tx, rx) = async_channel::bounded(capacity);
    (Sender { tx }, Receiver { rx: Box::pin(rx) })
}

/// A channel without a bound: [`Sender::send`] never waits.
pub fn unbounded<T: Send>() -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = async_channel::unbounded();
    (Sender { tx }, Receiver { rx: Box::pin(rx) })
}

/// The sending half of a cross-core channel: `Send + Sync`, clone it for more senders.
pub struct Sender<T> {
    tx: async_channel::Sender<T>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room in a bounded channel. Fails, returning the value, if
    /// the receiver is closed or dropped (also while waiting).
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.tx.send(value).await.map_err(|e| SendError(e.into_inner()))
    }

    /// Sends `value` if there is room now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.tx.try_send(value).map_err(|e| match e {
            async_channel::TrySendError::Full(v) => TrySendError::Full(v),
            async_channel::TrySendError::Closed(v) => TrySendError::Closed(v),
        })
    }

    /// Sends `value` from a thread that is not a ringpoll core, blocking it while the
    /// channel is full. Do not call it on a core: it would stop the core's other tasks.
    pub fn send_blocking(&self, value: T) -> Result<(), SendError<T>> {
        self.tx.send_blocking(value).map_err(|e| SendError(e.into_inner()))
    }

    /// Whether the receiver is closed or dropped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        Sender { tx: self.tx.clone() }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("cross_core::Sender").field("closed", &self.is_closed()).finish()
    }
}

/// The receiving half of a cross-core channel. It may be moved to the core that will read
/// from it; wakes go to whichever task waits on it.
pub struct Receiver<T> {
    /// Pinned (async-channel's receiver is `!Unpin` for its listener) so `poll_recv` can poll
    /// it as a Stream.
    rx: Pin<Box<async_channel::Receiver<T>>>,
}

impl<T> Receiver<T> {
    /// The next message; `None` once every sender is gone (or the receiver closed) and the
    /// queue is empty.
    ///
    /// A message already queued counts against the task's operation budget, as a socket read
    /// does (`ringpoll_reactor::budget`): a task receiving from a channel that other cores
    /// keep full still lets the other tasks of its core run.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next message: `Ready(None)` once every sender is gone (or the receiver
    /// closed) and the queue is empty; `Pending` registers `cx`'s waker, which the next send
    /// wakes. For a hand-written future that waits on this channel and on something else at
    /// once (a `recv()` future dropped while pending would forget its registration).
    ///
    /// ```no_run
    /// use std::future::poll_fn;
    /// use std::task::Poll;
    /// use ringpoll::channel::cross_core;
    /// use ringpoll::Runtime;
    ///
    /// let rt = Runtime::builder().cores([0, 1]).build()?;
    /// let (urgent_tx, mut urgent) = cross_core::unbounded::<&str>();
    /// let (tx, mut rx) = cross_core::unbounded::<&str>();
    /// let first = rt.spawn_on(1, move || async move {
    ///     // Whichever channel has a message first; the urgent one when both do.
    ///     poll_fn(|cx| match urgent.poll_recv(cx) {
    ///         Poll::Ready(msg) => Poll::Ready(msg),
    ///         Poll::Pending => rx.poll_recv(cx),
    ///     })
    ///     .await
    /// });
    /// tx.try_send("routine").unwrap();
    /// assert_eq!(first.join().unwrap(), Some("routine"));
    /// # drop(urgent_tx);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        ready!(budget::poll_proceed(cx));
        // async-channel's Stream keeps its listener inside the receiver between polls (this
        // receiver is its only one, so a poll dropped after a wake steals no other's).
        self.rx.as_mut().poll_next(cx)
    }

    /// The next message, if one is queued.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.rx.try_recv().map_err(|e| match e {
            async_channel::TryRecvError::Empty => TryRecvError::Empty,
            async_channel::TryRecvError::Closed => TryRecvError::Closed,
        })
    }

    /// Closes the channel: sends fail from now on (waiting ones too); messages already queued
    /// can still be received.
    pub fn close(&mut self) {
        self.rx.close();
    }

    /// Messages queued now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Senders see the close at once, not when the last clone of the queue goes.
        self.rx.close();
        while self.rx.try_recv().is_ok() {}
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("cross_core::Receiver").field("queued", &self.len()).finish()
    }
}
