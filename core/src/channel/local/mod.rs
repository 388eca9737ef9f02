//! Channels between the tasks of one core: `!Send`, no atomics.
//!
//! The queue is a `VecDeque` in a `RefCell`; a bounded channel counts its free slots with a
//! [`Semaphore`], so waiting senders are served in order and closing
//! the receiver fails every one of them at once. [`Sender::reserve`] takes one of those
//! slots ahead of the value, as a [`Permit`].

mod oneshot;
mod permit;

pub use oneshot::{oneshot, OneshotReceiver, OneshotSender};
pub use permit::{OwnedPermit, Permit};

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

use ringpoll_reactor::budget;

use super::{SendError, TryRecvError, TrySendError};
use crate::sync::{Notify, Semaphore};

struct Chan<T> {
    queue: RefCell<VecDeque<T>>,
    /// Free slots of a bounded channel; `None` for an unbounded one.
    slots: Option<Semaphore>,
    /// The bound (`usize::MAX` for an unbounded channel).
    bound: usize,
    receiver: Cell<Option<Waker>>,
    senders: Cell<usize>,
    closed: Cell<bool>,
    /// The receiver is dropped (not just closed): a [`Permit`]'s value has nobody to go to.
    receiver_gone: Cell<bool>,
    /// [`Permit`]s not yet used or dropped: a closed receiver waits for them before it
    /// reports the end (as tokio's), since each may still send.
    permits: Cell<usize>,
    /// Wakes the senders waiting in [`Sender::closed`] when the receiver closes or goes.
    closing: Notify,
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
    make(Some(Semaphore::new(capacity)), capacity)
}

/// A channel without a bound: [`Sender::send`] never waits.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    make(None, usize::MAX)
}

fn make<T>(slots: Option<Semaphore>, bound: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(Chan {
        queue: RefCell::new(VecDeque::new()),
        slots,
        bound,
        receiver: Cell::new(None),
        senders: Cell::new(1),
        closed: Cell::new(false),
        receiver_gone: Cell::new(false),
        permits: Cell::new(0),
        closing: Notify::new(),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

impl<T> Chan<T> {
    fn push(&self, value: T) {
        self.queue.borrow_mut().push_back(value);
        self.wake_receiver();
    }

    fn wake_receiver(&self) {
        if let Some(w) = self.receiver.take() {
            w.wake();
        }
    }

    /// Waits for one free slot of a bounded channel (none to wait for in an unbounded one);
    /// fails if the receiver closes or is gone first.
    async fn take_slot(&self) -> Result<(), ()> {
        if self.closed.get() {
            return Err(());
        }
        if let Some(slots) = &self.slots {
            if (Reserve { slots, key: None }).await.is_err() {
                return Err(());
            }
            // Room may have been granted (a receive freed a slot) just before the receiver
            // closed or left: close() fails only sends still waiting, so without this check
            // the value would go into a queue nobody reads and the send would claim success.
            if self.closed.get() {
                slots.add_permits(1);
                return Err(());
            }
        }
        Ok(())
    }

    /// One free slot now, if there is one and the receiver is there.
    fn try_take_slot(&self) -> Result<(), TrySendError<()>> {
        if self.closed.get() {
            return Err(TrySendError::Closed(()));
        }
        if let Some(slots) = &self.slots {
            match slots.try_acquire() {
                Some(slot) => slot.forget(),
                None => return Err(TrySendError::Full(())),
            }
        }
        Ok(())
    }

    /// Whether the receiver will get nothing more: the senders are gone, or it closed and no
    /// [`Permit`] is left that could still send.
    fn ended(&self) -> bool {
        self.senders.get() == 0 || (self.closed.get() && self.permits.get() == 0)
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
        match self.chan.take_slot().await {
            Ok(()) => {
                self.chan.push(value);
                Ok(())
            }
            Err(()) => Err(SendError(value)),
        }
    }

    /// Sends `value` if there is room now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.chan.try_take_slot() {
            Ok(()) => {
                self.chan.push(value);
                Ok(())
            }
            Err(TrySendError::Full(())) => Err(TrySendError::Full(value)),
            Err(TrySendError::Closed(())) => Err(TrySendError::Closed(value)),
        }
    }

    /// Waits for a slot and keeps it for a value to come: [`Permit::send`] then neither
    /// waits nor fails, and a permit dropped unused gives the slot back (to the next waiting
    /// sender). Fails if the receiver closes or is gone first. An unbounded channel has no
    /// slots to wait for: its permits come at once.
    ///
    /// A receiver closed with permits out still waits for them (each may still send) before
    /// its `recv` reports the end, as tokio's does.
    ///
    /// Cancel safe: dropped while waiting, it holds no slot. Counts against the task's
    /// operation budget, as [`send`](Sender::send) does.
    ///
    /// ```
    /// use ringpoll::channel::local;
    ///
    /// ringpoll::block_on(async {
    ///     let (tx, mut rx) = local::channel(1);
    ///     let permit = tx.reserve().await.unwrap();
    ///     assert!(tx.try_send("late").is_err(), "the one slot is taken");
    ///     permit.send("first"); // no await, no error
    ///     assert_eq!(rx.recv().await, Some("first"));
    ///     drop(tx.reserve().await.unwrap()); // unused: the slot comes back
    ///     assert_eq!(tx.capacity(), 1);
    /// });
    /// ```
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        budget::proceed().await;
        self.chan.take_slot().await.map_err(|()| SendError(()))?;
        Ok(Permit::new(self))
    }

    /// A [`Permit`] if there is a free slot now.
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        self.chan.try_take_slot()?;
        Ok(Permit::new(self))
    }

    /// As [`reserve`](Sender::reserve), for a permit that owns the sender: one to move into
    /// another task, which gets the sender back from [`OwnedPermit::send`].
    ///
    /// ```
    /// use ringpoll::channel::local;
    ///
    /// ringpoll::block_on(async {
    ///     let (tx, mut rx) = local::channel(1);
    ///     let permit = tx.clone().reserve_owned().await.unwrap();
    ///     ringpoll::spawn(async move {
    ///         let tx = permit.send("from the task");
    ///         assert!(tx.try_send("no room").is_err());
    ///     })
    ///     .detach();
    ///     assert_eq!(rx.recv().await, Some("from the task"));
    /// });
    /// ```
    pub async fn reserve_owned(self) -> Result<OwnedPermit<T>, SendError<()>> {
        budget::proceed().await;
        self.chan.take_slot().await.map_err(|()| SendError(()))?;
        Ok(OwnedPermit::new(self))
    }

    /// An [`OwnedPermit`] if there is a free slot now; the sender comes back in the error
    /// otherwise.
    pub fn try_reserve_owned(self) -> Result<OwnedPermit<T>, TrySendError<Sender<T>>> {
        match self.chan.try_take_slot() {
            Ok(()) => Ok(OwnedPermit::new(self)),
            Err(TrySendError::Full(())) => Err(TrySendError::Full(self)),
            Err(TrySendError::Closed(())) => Err(TrySendError::Closed(self)),
        }
    }

    /// Completes once the receiver is closed or dropped: for a producer that should stop
    /// working when nobody listens any more, without a message to try. Any number of senders
    /// may wait on it; it costs the sends nothing.
    ///
    /// ```
    /// use ringpoll::channel::local;
    ///
    /// ringpoll::block_on(async {
    ///     let (tx, rx) = local::channel::<u32>(8);
    ///     let producer = ringpoll::spawn(async move {
    ///         tx.closed().await;
    ///         "receiver gone"
    ///     });
    ///     drop(rx);
    ///     assert_eq!(producer.await.unwrap(), "receiver gone");
    /// });
    /// ```
    pub async fn closed(&self) {
        loop {
            // Made before the look: a close right after it still completes this wait.
            let notified = self.chan.closing.notified();
            if self.chan.closed.get() {
                return;
            }
            notified.await;
        }
    }

    /// Whether the receiver is closed or dropped.
    pub fn is_closed(&self) -> bool {
        self.chan.closed.get()
    }

    /// Free slots now: the bound less the messages queued and the [`Permit`]s held
    /// (`usize::MAX` for an unbounded channel).
    pub fn capacity(&self) -> usize {
        self.chan.slots.as_ref().map_or(usize::MAX, Semaphore::available_permits)
    }

    /// The bound the channel was made with (`usize::MAX` for an unbounded channel).
    pub fn max_capacity(&self) -> usize {
        self.chan.bound
    }

    /// Whether `other` sends to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Rc::ptr_eq(&self.chan, &other.chan)
    }

    /// How many senders the channel has (this one among them).
    pub fn strong_count(&self) -> usize {
        self.chan.senders.get()
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
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next message: `Ready(None)` once every sender is gone (or the receiver
    /// closed) and the queue is empty; `Pending` leaves `cx`'s waker for the next send. For a
    /// hand-written future that waits on this channel and on something else at once.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        ready!(budget::poll_proceed(cx));
        match self.try_recv() {
            Ok(value) => Poll::Ready(Some(value)),
            Err(TryRecvError::Closed) => Poll::Ready(None),
            Err(TryRecvError::Empty) => {
                self.chan.receiver.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        }
    }

    /// Moves up to `limit` queued messages to the end of `buffer`, waiting for one if none
    /// is queued, and returns how many. 0 only once the channel has ended (as
    /// [`recv`](Receiver::recv)'s `None`), or at once if `limit` is 0. One budget unit per
    /// call, however many it moves: draining a burst in batches costs one check per batch.
    ///
    /// ```
    /// use ringpoll::channel::local;
    ///
    /// ringpoll::block_on(async {
    ///     let (tx, mut rx) = local::unbounded();
    ///     for n in 0..5 {
    ///         tx.try_send(n).unwrap();
    ///     }
    ///     drop(tx);
    ///     let mut batch = Vec::new();
    ///     assert_eq!(rx.recv_many(&mut batch, 3).await, 3);
    ///     assert_eq!(rx.recv_many(&mut batch, 3).await, 2);
    ///     assert_eq!(batch, [0, 1, 2, 3, 4]);
    ///     assert_eq!(rx.recv_many(&mut batch, 3).await, 0, "ended");
    /// });
    /// ```
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        poll_fn(|cx| self.poll_recv_many(cx, buffer, limit)).await
    }

    /// The poll behind [`recv_many`](Receiver::recv_many): `Ready(n)` with `n` messages
    /// moved to `buffer`, `Pending` with `cx`'s waker left for the next send.
    pub fn poll_recv_many(&mut self, cx: &mut Context<'_>, buffer: &mut Vec<T>, limit: usize) -> Poll<usize> {
        if limit == 0 {
            return Poll::Ready(0);
        }
        ready!(budget::poll_proceed(cx));
        let moved = {
            let mut queue = self.chan.queue.borrow_mut();
            let moved = limit.min(queue.len());
            buffer.extend(queue.drain(..moved));
            moved
        };
        if moved > 0 {
            if let Some(slots) = &self.chan.slots {
                slots.add_permits(moved);
            }
            return Poll::Ready(moved);
        }
        if self.chan.ended() {
            return Poll::Ready(0);
        }
        self.chan.receiver.set(Some(cx.waker().clone()));
        Poll::Pending
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
            None if self.chan.ended() => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Closes the channel: sends fail from now on (waiting ones too), and senders waiting in
    /// [`Sender::closed`] wake; messages already queued can still be received, and so can
    /// those sent through [`Permit`]s held at the close.
    pub fn close(&mut self) {
        if self.chan.closed.replace(true) {
            return;
        }
        if let Some(slots) = &self.chan.slots {
            slots.close();
        }
        self.chan.closing.notify_waiters();
    }

    /// Free slots now, as [`Sender::capacity`].
    pub fn capacity(&self) -> usize {
        self.chan.slots.as_ref().map_or(usize::MAX, Semaphore::available_permits)
    }

    /// The bound the channel was made with (`usize::MAX` for an unbounded channel).
    pub fn max_capacity(&self) -> usize {
        self.chan.bound
    }

    /// Whether nothing more can be sent: every sender is gone, or [`close`](Receiver::close)
    /// was called. Messages may still be queued.
    pub fn is_closed(&self) -> bool {
        self.chan.closed.get() || self.chan.senders.get() == 0
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
        self.chan.receiver_gone.set(true);
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
