//! A value one sender updates and any number of receivers, on any cores or threads, read:
//! config, a shutdown flag, the latest of anything (as tokio's `sync::watch`).
//!
//! Receivers see the latest value, not every value: sends between two looks coalesce into
//! one change. The value sits behind a `RwLock` with a version counter beside it, bumped
//! under the write lock, so a read under the read lock sees a value and its version together.
//!
//! Why it is `Send` and not a per-core copy: a service pushes its config from one core to all
//! of them, so the ends must cross cores and plain threads. What keeps that cheap is that a
//! receiver pays only when something changed: [`Receiver::has_changed`] is one atomic load;
//! a task in [`Receiver::changed`] sleeps with its waker in the channel's wait list and is
//! never polled until a send wakes it, through its own core's mailbox and deduplicated
//! eventfd break (as a `cross_core` receiver). A send with nobody waiting costs a fence and a
//! load beside the write; with receivers waiting on several cores, each is woken once per
//! change, and none while the sender holds a lock.
//!
//! ```no_run
//! use ringpoll::channel::watch;
//! use ringpoll::Runtime;
//!
//! let rt = Runtime::builder().cores([0, 1]).build()?;
//! let (config, mut rx) = watch::channel(10u32);
//! let worker = rt.spawn_on(1, move || async move {
//!     // Wait for the sender to go, using the latest limit meanwhile.
//!     while rx.changed().await.is_ok() {}
//!     *rx.borrow()
//! });
//! config.send(20).unwrap();
//! drop(config);
//! assert_eq!(worker.join().unwrap(), 20);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::future::poll_fn;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::task::{ready, Poll};

use ringpoll_reactor::budget;

use super::wait_list::{OneWait, Slot, WaitList, Waiting};
use super::SendError;

/// The low bit of [`Shared::state`]: the sender is gone.
const CLOSED: u64 = 1;
/// What a send adds to [`Shared::state`]: the version lives above the closed bit.
const ONE_VERSION: u64 = 2;

/// A watch channel holding `init`: a [`Sender`] and its first [`Receiver`], which has seen
/// `init` already.
///
/// ```
/// use ringpoll::channel::watch;
///
/// let (tx, rx) = watch::channel("starting");
/// assert_eq!(*rx.borrow(), "starting");
/// tx.send("serving").unwrap();
/// assert!(rx.has_changed().unwrap());
/// ```
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(init),
        state: AtomicU64::new(0),
        receivers: AtomicUsize::new(1),
        changed: WaitList::default(),
        receivers_gone: WaitList::default(),
    });
    let rx = Receiver { shared: shared.clone(), seen: 0, slot: Slot::default() };
    (Sender { shared }, rx)
}

/// The sender is gone, and the receiver has seen the last value it sent.
///
/// ```
/// use ringpoll::channel::watch;
///
/// let (tx, mut rx) = watch::channel(0);
/// drop(tx);
/// assert_eq!(ringpoll::block_on(rx.changed()), Err(watch::RecvError));
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the watch sender was dropped")
    }
}

impl std::error::Error for RecvError {}

/// What the ends of one channel share.
struct Shared<T> {
    value: RwLock<T>,
    /// The version (bumped by [`ONE_VERSION`] under the write lock) and the [`CLOSED`] bit.
    state: AtomicU64,
    /// Live [`Receiver`]s.
    receivers: AtomicUsize,
    /// Receivers in [`Receiver::changed`].
    changed: WaitList,
    /// Senders in [`Sender::closed`].
    receivers_gone: WaitList,
}

impl<T> Shared<T> {
    fn read(&self) -> RwLockReadGuard<'_, T> {
        // A panic in `send_modify`'s closure poisons the lock; the value is still whole.
        self.value.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the value with `modify`, and if it says it changed, bumps the version and
    /// wakes the receivers waiting (after the lock is released).
    fn modify(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        {
            let mut value = self.value.write().unwrap_or_else(PoisonError::into_inner);
            if !modify(&mut value) {
                return false;
            }
            self.state.fetch_add(ONE_VERSION, Ordering::Release);
        }
        self.changed.notify_all();
        true
    }
}

/// The sending half of a watch channel: `Send + Sync`, one per channel. Its drop closes
/// the channel: receivers see the last value, then [`RecvError`].
///
/// ```
/// use ringpoll::channel::watch;
///
/// let (tx, rx) = watch::channel(0);
/// std::thread::spawn(move || tx.send(1).unwrap()).join().unwrap();
/// assert_eq!(*rx.borrow(), 1);
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Replaces the value and tells the receivers. Fails, handing `value` back, if there is
    /// no receiver (as tokio's): nobody would see it.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, rx) = watch::channel(1);
    /// assert!(tx.send(2).is_ok());
    /// drop(rx);
    /// assert_eq!(tx.send(3).unwrap_err().into_inner(), 3);
    /// assert_eq!(*tx.borrow(), 2);
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.receiver_count() == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value, with or without receivers, and returns the old one.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, _) = watch::channel(1);
    /// assert_eq!(tx.send_replace(2), 1);
    /// assert_eq!(*tx.borrow(), 2);
    /// ```
    pub fn send_replace(&self, value: T) -> T {
        let mut old = Some(value);
        self.shared.modify(|current| {
            old = Some(std::mem::replace(current, old.take().expect("modify runs once")));
            true
        });
        old.expect("modify runs once")
    }

    /// Changes the value in place and tells the receivers, with or without receivers. If
    /// `modify` panics, what it changed stays and the receivers are not told.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, rx) = watch::channel(vec!["a"]);
    /// tx.send_modify(|names| names.push("b"));
    /// assert_eq!(*rx.borrow(), ["a", "b"]);
    /// ```
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.shared.modify(|value| {
            modify(value);
            true
        });
    }

    /// Changes the value in place and tells the receivers only if `modify` returns `true`;
    /// returns what it returned.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, rx) = watch::channel(5);
    /// assert!(!tx.send_if_modified(|limit| std::mem::replace(limit, 5) != 5));
    /// assert!(!rx.has_changed().unwrap(), "the same limit: no change");
    /// ```
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        self.shared.modify(modify)
    }

    /// The current value, read-locked while the [`Ref`] lives: sends wait for it.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, _) = watch::channel(String::from("v1"));
    /// assert_eq!(tx.borrow().as_str(), "v1");
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref { value: self.shared.read(), has_changed: false }
    }

    /// A new receiver, which has seen the current value.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, rx) = watch::channel(0);
    /// drop(rx);
    /// let rx = tx.subscribe();
    /// tx.send(1).unwrap();
    /// assert!(rx.has_changed().unwrap());
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, Ordering::Relaxed);
        // Under the read lock: the version read is the value's.
        let _value = self.shared.read();
        let seen = self.shared.state.load(Ordering::Acquire) & !CLOSED;
        Receiver { shared: self.shared.clone(), seen, slot: Slot::default() }
    }

    /// Live receivers.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, rx) = watch::channel(());
    /// let _rx2 = rx.clone();
    /// assert_eq!(tx.receiver_count(), 2);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.load(Ordering::Acquire)
    }

    /// Whether every receiver is gone.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, rx) = watch::channel(());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Waits until every receiver is gone (at once if none is left), for a producer that
    /// should stop once nobody listens.
    ///
    /// ```no_run
    /// use ringpoll::channel::watch;
    /// use ringpoll::Runtime;
    ///
    /// let rt = Runtime::builder().cores([0, 1]).build()?;
    /// let (tx, rx) = watch::channel(0u64);
    /// rt.spawn_on(1, move || async move { drop(rx) }).detach();
    /// ringpoll::park_on(tx.closed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn closed(&self) {
        // A slot of its own: `closed` takes `&self`, so several may wait at once.
        let mut wait = OneWait::new(&self.shared.receivers_gone);
        poll_fn(|cx| {
            if self.is_closed() {
                return Poll::Ready(());
            }
            wait.park(cx.waker());
            if self.is_closed() {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.state.fetch_or(CLOSED, Ordering::Release);
        self.shared.changed.notify_all();
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender").field("value", &*self.borrow()).finish()
    }
}

/// A receiving half of a watch channel: `Send + Sync`; clone it for another one, which has
/// seen what this one has.
///
/// ```
/// use ringpoll::channel::watch;
///
/// let (tx, mut rx) = watch::channel(0);
/// tx.send(1).unwrap();
/// let other = rx.clone();
/// assert_eq!(*rx.borrow_and_update(), 1);
/// assert!(other.has_changed().unwrap(), "each clone keeps its own mark");
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The version this receiver last saw (without the closed bit).
    seen: u64,
    /// Its place in the channel's wait list.
    slot: Slot,
}

impl<T> Receiver<T> {
    /// The current value, read-locked while the [`Ref`] lives (sends wait for it: keep it
    /// short, and not across an `.await`). Does not mark it seen.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, rx) = watch::channel(1);
    /// tx.send(2).unwrap();
    /// let value = rx.borrow();
    /// assert_eq!((*value, value.has_changed()), (2, true));
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        let value = self.shared.read();
        let has_changed = self.version() != self.seen;
        Ref { value, has_changed }
    }

    /// The current value, marked seen: [`changed`](Receiver::changed) waits for the next.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, mut rx) = watch::channel(1);
    /// tx.send(2).unwrap();
    /// assert_eq!(*rx.borrow_and_update(), 2);
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let value = self.shared.read();
        let version = self.version();
        let has_changed = std::mem::replace(&mut self.seen, version) != version;
        Ref { value, has_changed }
    }

    /// Whether a value this receiver has not seen was sent; `Err` once the sender is gone
    /// (as tokio's, even with a change unseen). One atomic load.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, rx) = watch::channel(());
    /// assert_eq!(rx.has_changed(), Ok(false));
    /// drop(tx);
    /// assert!(rx.has_changed().is_err());
    /// ```
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let state = self.shared.state.load(Ordering::Acquire);
        if state & CLOSED != 0 {
            return Err(RecvError);
        }
        Ok(state != self.seen)
    }

    /// Waits for a value this receiver has not seen and marks it seen. Sends meanwhile
    /// coalesce: one change, the latest value. `Err` once the sender is gone and its last
    /// value was seen.
    ///
    /// Read the value with [`borrow_and_update`](Receiver::borrow_and_update): a send that
    /// lands between this and the read is then marked seen with what was read, not
    /// reported again by the next `changed` (a plain [`borrow`](Receiver::borrow) would).
    ///
    /// Cancel safe: dropped while waiting, nothing was marked seen.
    ///
    /// ```no_run
    /// use ringpoll::channel::watch;
    /// use ringpoll::Runtime;
    ///
    /// let rt = Runtime::builder().cores([0, 1]).build()?;
    /// let (shutdown, mut rx) = watch::channel(false);
    /// let server = rt.spawn_on(1, move || async move {
    ///     while !*rx.borrow_and_update() {
    ///         if rx.changed().await.is_err() {
    ///             break; // nobody left to say stop: stop anyway
    ///         }
    ///     }
    /// });
    /// shutdown.send(true).unwrap();
    /// server.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        let Receiver { shared, seen, slot } = self;
        // Takes the waker back out when the wait ends, done or dropped.
        let mut wait = Waiting::new(&shared.changed, slot);
        poll_fn(|cx| {
            ready!(budget::poll_proceed(cx));
            if let Some(done) = see_change(&shared.state, seen) {
                return Poll::Ready(done);
            }
            wait.park(cx.waker());
            match see_change(&shared.state, seen) {
                Some(done) => Poll::Ready(done),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Marks the current value unseen: the next [`changed`](Receiver::changed) returns at once.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (_tx, mut rx) = watch::channel(());
    /// rx.mark_changed();
    /// assert_eq!(rx.has_changed(), Ok(true));
    /// ```
    pub fn mark_changed(&mut self) {
        // No version is odd (the closed bit is apart): this one is never current.
        self.seen = self.version() ^ CLOSED;
    }

    /// Marks the current value seen, without reading it.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, mut rx) = watch::channel(());
    /// tx.send(()).unwrap();
    /// rx.mark_unchanged();
    /// assert_eq!(rx.has_changed(), Ok(false));
    /// ```
    pub fn mark_unchanged(&mut self) {
        self.seen = self.version();
    }

    /// Whether `self` and `other` watch the same channel.
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (_tx, rx) = watch::channel(());
    /// assert!(rx.same_channel(&rx.clone()));
    /// ```
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    fn version(&self) -> u64 {
        self.shared.state.load(Ordering::Acquire) & !CLOSED
    }
}

/// What [`Receiver::changed`] returns now, if it returns: a version unseen first (marked
/// seen), then the close.
fn see_change(state: &AtomicU64, seen: &mut u64) -> Option<Result<(), RecvError>> {
    let state = state.load(Ordering::Acquire);
    let version = state & !CLOSED;
    if version != *seen {
        *seen = version;
        return Some(Ok(()));
    }
    (state & CLOSED != 0).then_some(Err(RecvError))
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver { shared: self.shared.clone(), seen: self.seen, slot: Slot::default() }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.changed.release(&mut self.slot);
        if self.shared.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.receivers_gone.notify_all();
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver").field("value", &*self.borrow()).field("seen", &self.seen).finish()
    }
}

/// The value of a watch channel, read-locked: sends wait while it lives.
///
/// ```
/// use ringpoll::channel::watch;
///
/// let (_tx, rx) = watch::channel(vec![1, 2]);
/// let value = rx.borrow();
/// assert_eq!(value.len(), 2); // derefs to the value
/// ```
pub struct Ref<'a, T> {
    value: RwLockReadGuard<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether the receiver that borrowed it had not seen it before this borrow (always
    /// `false` from [`Sender::borrow`]).
    ///
    /// ```
    /// use ringpoll::channel::watch;
    ///
    /// let (tx, mut rx) = watch::channel(0);
    /// tx.send(1).unwrap();
    /// assert!(rx.borrow_and_update().has_changed());
    /// assert!(!rx.borrow_and_update().has_changed());
    /// ```
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringpoll_reactor::counting_waker::WakeCount;
    use std::future::Future;
    use std::task::Context;

    #[test]
    fn receivers_waiting_are_woken_once_per_wait_and_by_the_close() {
        let (tx, mut a) = channel(0);
        let mut b = a.clone();
        let ((a_count, a_waker), (b_count, b_waker)) = (WakeCount::waker(), WakeCount::waker());
        {
            let mut a_wait = std::pin::pin!(a.changed());
            let mut b_wait = std::pin::pin!(b.changed());
            assert!(a_wait.as_mut().poll(&mut Context::from_waker(&a_waker)).is_pending());
            assert!(a_wait.as_mut().poll(&mut Context::from_waker(&a_waker)).is_pending());
            assert!(b_wait.as_mut().poll(&mut Context::from_waker(&b_waker)).is_pending());
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            assert_eq!((a_count.get(), b_count.get()), (1, 1), "one wake each for a burst");
            assert_eq!(a_wait.as_mut().poll(&mut Context::from_waker(&a_waker)), Poll::Ready(Ok(())));
        } // b's wait is dropped unfinished: nothing marked seen
        assert_eq!((a.has_changed(), b.has_changed()), (Ok(false), Ok(true)));
        assert_eq!(*b.borrow_and_update(), 2);
        {
            let mut b_wait = std::pin::pin!(b.changed());
            assert!(b_wait.as_mut().poll(&mut Context::from_waker(&b_waker)).is_pending());
            drop(tx);
            assert_eq!(b_count.get(), 2, "the sender's drop wakes it");
            assert_eq!(b_wait.as_mut().poll(&mut Context::from_waker(&b_waker)), Poll::Ready(Err(RecvError)));
        }
        assert_eq!(a_count.get(), 1, "a did not wait: no wake");
    }

    #[test]
    fn a_dropped_wait_is_not_woken_and_closed_waits_for_the_last_receiver() {
        let (tx, mut rx) = channel(());
        let (count, waker) = WakeCount::waker();
        let mut wait = Box::pin(rx.changed());
        assert!(wait.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        drop(wait);
        tx.send(()).unwrap();
        assert_eq!(count.get(), 0);
        assert_eq!(tx.shared.changed.parked(), 0);

        let rx2 = rx.clone();
        let mut closed = Box::pin(tx.closed());
        assert!(closed.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        drop(rx);
        assert_eq!(count.get(), 0, "a receiver remains");
        drop(rx2);
        assert_eq!(count.get(), 1);
        assert!(closed.as_mut().poll(&mut Context::from_waker(&waker)).is_ready());
    }
}
