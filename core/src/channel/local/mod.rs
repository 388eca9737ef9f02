//! Channels between the tasks of one core: `!Send`, no atomics.
//!
//! The queue is a `VecDeque` in a `RefCell`; a bounded channel counts its free slots with a
//! [`Semaphore`], so waiting senders are served in order and closing
//! the receiver fails every one of them at once.

mod oneshot;

pub use oneshot::{oneshot, OneshotReceiver, OneshotSender};

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

use ringpoll_reactor::budget;

use super::{SendError, TryRecvError, TrySendError};
use crate::sync::Semaphore;

struct Chan<T> {
    queue: RefCell<VecDeque<T>>,
    /// Free slots of a bounded channel; `None` for an unbounded one.
    slots: Option<Semaphore>,
    receiver: Cell<Option<Waker>>,
    senders: Cell<usize>,
    closed: Cell<bool>,
}

/// A channel holding at most `capacity` messages: [`Sender::send`] waits while it is full.
///
/// # Panics
/// If `capacity` is 0.
///
/// ```
/// use ringpoll::channel::local;
///
/// ringpoll::block_on(async {
///     let (tx, mut rx) = local::channel(1);
///     ringpoll::spawn(async move {
///         for i in 0..3 {
///             tx.send(i).await.unwrap(); // waits for the receiver after the first
///         }
///     }).detach();
///     let mut got = Vec::new();
///     while let Some(i) = rx.recv().await {
///         got.push(i);
///     }
///     assert_eq!(got, [0, 1, 2]);
/// });
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "a bounded channel needs a capacity above 0");
    make(Some(Semaphore::new(capacity)))
}

/// A channel without a bound: [`Sender::send`] never waits.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    make(None)
}

fn make<T>(slots: Option<Semaphore>) -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(Chan {
        queue: RefCell::new(VecDeque::new()),
        slots,
        receiver: Cell::new(None),
        senders: Cell::new(1),
        closed: Cell::new(false),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

impl<T> Chan<T> {
    fn push(&self, value: T) {
        self.queue.borrow_mut().push_back(value);
        if let Some(w) = self.receiver.take() {
            w.wake();
        }
    }
}

/// The sending half of a local channel; clone it for more senders.
pub struct Sender<T> {
    chan: Rc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room in a bounded channel. Fails, returning the value, if
    /// the receiver is closed or dropped (also while waiting).
    ///
    /// Each send counts against the task's operation budget (`ringpoll_reactor::budget`), as
    /// a receive does: a task sending in a loop into a channel with room still lets the other
    /// tasks of its core run, the receiver among them. [`try_send`](Sender::try_send) takes
    /// nothing from it.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        budget::proceed().await;
        if self.chan.closed.get() {
            return Err(SendError(value));
        }
        if let Some(slots) = &self.chan.slots {
            if (Reserve { slots, key: None }).await.is_err() {
                return Err(SendError(value));
            }
            // Room may have been granted (a receive freed a slot) just before the receiver
            // closed or left: close() fails only sends still waiting, so without this check
            // the value would go into a queue nobody reads and the send would claim success.
            if self.chan.closed.get() {
                return Err(SendError(value));
            }
        }
        self.chan.push(value);
        Ok(())
    }

    /// Sends `value` if there is room now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.chan.closed.get() {
            return Err(TrySendError::Closed(value));
        }
        if let Some(slots) = &self.chan.slots {
            match slots.try_acquire() {
                Some(slot) => slot.forget(),
                None => return Err(TrySendError::Full(value)),
            }
        }
        self.chan.push(value);
        Ok(())
    }

    /// Whether the receiver is closed or dropped.
    pub fn is_closed(&self) -> bool {
        self.chan.closed.get()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.senders.set(self.chan.senders.get() + 1);
        Sender { chan: self.chan.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let left = self.chan.senders.get() - 1;
        self.chan.senders.set(left);
        if left == 0 {
            if let Some(w) = self.chan.receiver.take() {
                w.wake();
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local::Sender").field("closed", &self.is_closed()).finish()
    }
}

/// Waits for one free slot of a bounded channel; leaves the queue if dropped.
struct Reserve<'a> {
    slots: &'a Semaphore,
    key: Option<u64>,
}

impl Future for Reserve<'_> {
    type Output = Result<(), crate::sync::AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.slots.poll_acquire(1, &mut this.key, cx)
    }
}

impl Drop for Reserve<'_> {
    fn drop(&mut self) {
        self.slots.cancel(1, self.key.take());
    }
}

/// The receiving half of a local channel.
pub struct Receiver<T> {
    chan: Rc<Chan<T>>,
}

impl<T> Receiver<T> {
    /// The next message; `None` once every sender is gone (or the receiver closed) and the
    /// queue is empty.
    ///
    /// A message already queued counts against the task's operation budget, as a socket read
    /// does (`ringpoll_reactor::budget`): draining a long queue still lets the other tasks of
    /// the core run.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            ready!(budget::poll_proceed(cx));
            match self.try_recv() {
                Ok(value) => Poll::Ready(Some(value)),
                Err(TryRecvError::Closed) => Poll::Ready(None),
                Err(TryRecvError::Empty) => {
                    self.chan.receiver.set(Some(cx.waker().clone()));
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// The next message, if one is queued.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let popped = self.chan.queue.borrow_mut().pop_front();
        match popped {
            Some(value) => {
                if let Some(slots) = &self.chan.slots {
                    slots.add_permits(1);
                }
                Ok(value)
            }
            None if self.chan.senders.get() == 0 || self.chan.closed.get() => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Closes the channel: sends fail from now on (waiting ones too); messages already queued
    /// can still be received.
    pub fn close(&mut self) {
        self.chan.closed.set(true);
        if let Some(slots) = &self.chan.slots {
            slots.close();
        }
    }

    /// Messages queued now.
    pub fn len(&self) -> usize {
        self.chan.queue.borrow().len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
        // Messages nobody will read are dropped now, not when the last sender goes.
        let queued = std::mem::take(&mut *self.chan.queue.borrow_mut());
        drop(queued);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local::Receiver").field("queued", &self.len()).finish()
    }
}
