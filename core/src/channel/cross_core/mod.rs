//! Channels between cores (and plain threads): `Send` ends, one receiving task.
//!
//! The queue is `async-channel`'s (a lock-free MPMC queue with async backpressure and close
//! on both ends, from smol-rs). What makes it cross-core here is the waker it is given: the
//! receiving task's, which points at the receiver's core. A send from another core pushes the
//! message, then wakes that task through the core's mailbox and deduplicated eventfd break,
//! and only if the receiver waits: a burst of sends costs one wake (and none while the
//! receiver is busy). A sender waiting on a full channel is woken the same way, on its own
//! core.
//!
//! With one receiver, its wait needs no list of listeners: the receiver leaves its waker and
//! raises a flag, a sender that finds the flag up takes it down and wakes it (see [`Wait`]).
//! That is a flag load per send, where `async-channel`'s own listener would cost a lock and
//! an allocation per wait and a lock per notification.

mod oneshot;

pub use oneshot::{oneshot, OneshotReceiver, OneshotSender};

use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

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
    pair(async_channel::bounded(capacity))
}

/// A channel without a bound: [`Sender::send`] never waits.
pub fn unbounded<T: Send>() -> (Sender<T>, Receiver<T>) {
    pair(async_channel::unbounded())
}

fn pair<T>((tx, rx): (async_channel::Sender<T>, async_channel::Receiver<T>)) -> (Sender<T>, Receiver<T>) {
    let wait = Arc::new(Wait::default());
    (Sender { tx: ManuallyDrop::new(tx), wait: wait.clone() }, Receiver { rx, wait, registered: None })
}

/// How the receiver waits. Both sides store, fence (`SeqCst`) and load, crossed (a sender:
/// the message, then `waiting`; the receiver: `waiting`, then the queue), so either the
/// receiver finds the message before it sleeps or the sender finds the flag up and wakes it.
#[derive(Default)]
struct Wait {
    /// The receiver found the queue empty and waits for a send (or the last sender's drop).
    waiting: AtomicBool,
    /// Its task, left before the flag goes up.
    waker: Mutex<Option<Waker>>,
}

impl Wait {
    /// After a message was pushed or a sender dropped: wakes the receiver if it waits.
    fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) && self.waiting.swap(false, Ordering::AcqRel) {
            if let Some(w) = self.waker.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
                w.wake_by_ref();
            }
        }
    }
}

/// The sending half of a cross-core channel: `Send + Sync`, clone it for more senders.
pub struct Sender<T> {
    /// Dropped by hand, before the receiver is told (it then sees the channel closed if this
    /// was the last sender).
    tx: ManuallyDrop<async_channel::Sender<T>>,
    wait: Arc<Wait>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room in a bounded channel. Fails, returning the value, if
    /// the receiver is closed or dropped (also while waiting).
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.tx.send(value).await.map_err(|e| SendError(e.into_inner()))?;
        self.wait.notify();
        Ok(())
    }

    /// Sends `value` if there is room now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.tx.try_send(value).map_err(|e| match e {
            async_channel::TrySendError::Full(v) => TrySendError::Full(v),
            async_channel::TrySendError::Closed(v) => TrySendError::Closed(v),
        })?;
        self.wait.notify();
        Ok(())
    }

    /// Sends `value` from a thread that is not a ringpoll core, blocking it while the
    /// channel is full. Do not call it on a core: it would stop the core's other tasks.
    pub fn send_blocking(&self, value: T) -> Result<(), SendError<T>> {
        self.tx.send_blocking(value).map_err(|e| SendError(e.into_inner()))?;
        self.wait.notify();
        Ok(())
    }

    /// Whether the receiver is closed or dropped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        Sender { tx: self.tx.clone(), wait: self.wait.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // SAFETY: `tx` is dropped once, here, and not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.tx) };
        // The receiver sees the close if this was the last sender; a wake when it was not
        // costs it one empty poll.
        self.wait.notify();
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
    /// Only ever asked without waiting (`try_recv`): waits go through `wait`.
    rx: async_channel::Receiver<T>,
    wait: Arc<Wait>,
    /// The waker last left in `wait`, to leave it again only if it changed.
    registered: Option<Waker>,
}

impl<T> Receiver<T> {
    /// The next message; `None` once every sender is gone (or the receiver closed) and the
    /// queue is empty.
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
        let mut waiting = false;
        loop {
            match self.rx.try_recv() {
                Ok(value) => {
                    if waiting {
                        self.wait.waiting.store(false, Ordering::Relaxed); // no wake needed
                    }
                    return Poll::Ready(Some(value));
                }
                Err(async_channel::TryRecvError::Closed) => return Poll::Ready(None),
                Err(async_channel::TryRecvError::Empty) if waiting => return Poll::Pending,
                Err(async_channel::TryRecvError::Empty) => {}
            }
            if !self.registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                let waker = cx.waker().clone();
                *self.wait.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(waker.clone());
                self.registered = Some(waker);
            }
            // Then the queue once more: a send from before the flag went up is found there.
            self.wait.waiting.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            waiting = true;
        }
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
        // Senders outliving it need not keep its task alive.
        self.wait.waker.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("cross_core::Receiver").field("queued", &self.len()).finish()
    }
}
