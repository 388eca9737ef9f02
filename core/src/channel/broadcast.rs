//! Every message to every receiver, on any cores or threads: invalidations, events, a
//! shutdown with a reason (as tokio's `sync::broadcast`).
//!
//! A ring of `capacity` slots; a send writes the next and never waits. Each receiver keeps
//! its own position, and a receiver more than `capacity` messages behind has lost the oldest:
//! its next receive says how many ([`RecvError::Lagged`]) and goes on from the oldest still
//! held. Each slot counts the receivers that have yet to read it; the last one to read (or to
//! skip it by dropping) drops the value, so a message lives no longer than its slowest reader
//! needs it, and what is left goes with the channel.
//!
//! Why it is `Send`: a sharded service sends from one core to the tasks of all the others,
//! and from plain threads. A receiver pays only for messages: a task in [`Receiver::recv`]
//! sleeps with its waker in the channel's wait list until a send wakes it, through its own
//! core's mailbox and deduplicated eventfd break (as a `cross_core` receiver), and each
//! waiting receiver is woken once per wait, outside every lock. A send with nobody waiting
//! costs its two short locks (the tail and the slot), a fence and a load.
//!
//! Each slot is a `Mutex` (tokio's are `RwLock`s with an unsafe drop of the last read): a
//! receive clones the value under it, so receivers reading the same message at the same
//! moment take turns for the length of a clone, and the last reader takes the value out
//! without `unsafe`.
//!
//! ```no_run
//! use ringpoll::channel::broadcast;
//! use ringpoll::Runtime;
//!
//! let rt = Runtime::builder().cores([0, 1]).build()?;
//! let (tx, rx0) = broadcast::channel::<&str>(16);
//! let rx1 = tx.subscribe();
//! let workers: Vec<_> = [(0, rx0), (1, rx1)]
//!     .into_iter()
//!     .map(|(core, mut rx)| {
//!         rt.spawn_on(core, move || async move {
//!             let mut seen = Vec::new();
//!             while let Ok(key) = rx.recv().await {
//!                 seen.push(key);
//!             }
//!             seen
//!         })
//!     })
//!     .collect();
//! tx.send("user:1").unwrap();
//! tx.send("user:2").unwrap();
//! drop(tx); // each receiver gets both, then `Closed`
//! for worker in workers {
//!     assert_eq!(worker.join().unwrap(), ["user:1", "user:2"]);
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Poll};

use ringpoll_reactor::budget;

use super::wait_list::{Slot as WaitSlot, WaitList, Waiting};
use super::SendError;

/// A broadcast channel keeping the last `capacity` messages for its slowest receiver: a
/// [`Sender`] and a first [`Receiver`]. Make more receivers with [`Sender::subscribe`].
///
/// # Panics
/// If `capacity` is 0.
///
/// ```
/// use ringpoll::channel::broadcast;
///
/// let (tx, mut rx) = broadcast::channel(8);
/// assert_eq!(tx.send(1), Ok(1), "one receiver got it");
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "a broadcast channel needs a capacity above 0");
    let capacity = capacity as u64;
    // Slot i starts as if it held message i - capacity: read as "one lap behind", empty.
    let ring =
        (0..capacity).map(|i| Mutex::new(RingSlot { pos: i.wrapping_sub(capacity), unread: 0, value: None })).collect();
    let shared = Arc::new(Shared {
        ring,
        capacity,
        tail: Mutex::new(Tail { pos: 0, receivers: 1, senders: 1 }),
        waiting: WaitList::default(),
    });
    let rx = Receiver { shared: shared.clone(), next: 0, slot: WaitSlot::default() };
    (Sender { shared }, rx)
}

/// Why [`Receiver::recv`] returned no message.
///
/// ```
/// use ringpoll::channel::broadcast::{self, RecvError};
///
/// let (tx, mut rx) = broadcast::channel::<u8>(1);
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// drop(tx);
/// assert_eq!(ringpoll::block_on(rx.recv()), Err(RecvError::Lagged(1)));
/// assert_eq!(ringpoll::block_on(rx.recv()), Ok(2));
/// assert_eq!(ringpoll::block_on(rx.recv()), Err(RecvError::Closed));
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvError {
    /// Every sender is gone, and this receiver has every message they sent.
    Closed,
    /// This receiver fell so far behind that this many of its messages were overwritten;
    /// the next receive returns the oldest one left.
    Lagged(u64),
}

/// Why [`Receiver::try_recv`] returned no message.
///
/// ```
/// use ringpoll::channel::broadcast::{self, TryRecvError};
///
/// let (tx, mut rx) = broadcast::channel::<u8>(4);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing new yet; senders remain.
    Empty,
    /// Every sender is gone, and this receiver has every message they sent.
    Closed,
    /// As [`RecvError::Lagged`].
    Lagged(u64),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Closed => f.write_str("channel closed"),
            RecvError::Lagged(n) => write!(f, "receiver lagged by {n} messages"),
        }
    }
}

impl std::error::Error for RecvError {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("channel empty"),
            TryRecvError::Closed => f.write_str("channel closed"),
            TryRecvError::Lagged(n) => write!(f, "receiver lagged by {n} messages"),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// What the ends of one channel share.
struct Shared<T> {
    ring: Box<[Mutex<RingSlot<T>>]>,
    capacity: u64,
    /// Locked first (before a slot) by whoever needs both.
    tail: Mutex<Tail>,
    /// Receivers in [`Receiver::recv`].
    waiting: WaitList,
}

/// One message of the ring.
struct RingSlot<T> {
    /// The message's position in the channel (wrapping); `pos % capacity` is the slot's.
    pos: u64,
    /// Receivers that have yet to read it; the one that takes it to 0 drops the value.
    unread: usize,
    value: Option<T>,
}

/// Where the next send goes, and who is there to see it.
struct Tail {
    pos: u64,
    receivers: usize,
    /// Senders alive; once 0 it stays 0 (a sender is cloned from a live one): closed.
    senders: usize,
}

/// What a receive found at a receiver's position.
enum Found<R> {
    Message(R),
    Empty,
    Closed,
    Lagged(u64),
}

impl<T> Shared<T> {
    fn tail(&self) -> MutexGuard<'_, Tail> {
        // Nothing panics while holding it; a poisoned tail is still consistent.
        self.tail.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn slot(&self, pos: u64) -> MutexGuard<'_, RingSlot<T>> {
        // A panic in a `Clone` poisons it before anything changed.
        self.ring[(pos % self.capacity) as usize].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the message at `*next` with `read` and moves past it, or says why not.
    fn take<R>(&self, next: &mut u64, read: impl FnOnce(&T) -> R) -> Found<R> {
        let slot = self.slot(*next);
        if slot.pos == *next {
            return Found::Message(Self::read(slot, next, read));
        }
        drop(slot);
        // Not there: look again with the tail held, for a view no send changes meanwhile.
        let tail = self.tail();
        let slot = self.slot(*next);
        if slot.pos == *next {
            drop(tail);
            return Found::Message(Self::read(slot, next, read));
        }
        if slot.pos.wrapping_add(self.capacity) == *next {
            // The slot still holds the message one lap before: nothing new.
            return if tail.senders == 0 { Found::Closed } else { Found::Empty };
        }
        // Overwritten: go on from the oldest message the ring still holds.
        let oldest = tail.pos - self.capacity;
        let missed = oldest - *next;
        *next = oldest;
        Found::Lagged(missed)
    }

    /// Reads the message in `slot` (at `*next`), and drops it if this was its last reader
    /// (after the lock: a value's drop may take long).
    fn read<R>(mut slot: MutexGuard<'_, RingSlot<T>>, next: &mut u64, read: impl FnOnce(&T) -> R) -> R {
        let out = read(slot.value.as_ref().expect("a written slot holds its value"));
        *next = next.wrapping_add(1);
        slot.unread -= 1;
        let last = if slot.unread == 0 { slot.value.take() } else { None };
        drop(slot);
        drop(last);
        out
    }

    /// A receiver at the tail: it gets the messages sent from now on.
    fn subscribe(self: &Arc<Self>) -> Receiver<T> {
        let mut tail = self.tail();
        tail.receivers += 1;
        Receiver { shared: self.clone(), next: tail.pos, slot: WaitSlot::default() }
    }
}

/// The sending half of a broadcast channel: `Send + Sync`, clone it for more senders. Sends
/// never wait: a full ring overwrites its oldest message. The last sender's drop closes the
/// channel: receivers get what they have left, then [`RecvError::Closed`].
///
/// ```
/// use ringpoll::channel::broadcast;
///
/// let (tx, mut rx) = broadcast::channel(4);
/// let tx2 = tx.clone();
/// std::thread::spawn(move || tx2.send("from a thread").unwrap()).join().unwrap();
/// assert_eq!(rx.try_recv(), Ok("from a thread"));
/// # drop(tx);
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Sends `value` to every receiver there is now; returns how many. Fails, handing it
    /// back, if there is none (a receiver subscribed later would not see it either).
    ///
    /// ```
    /// use ringpoll::channel::broadcast;
    ///
    /// let (tx, rx) = broadcast::channel(4);
    /// let _rx2 = tx.subscribe();
    /// assert_eq!(tx.send("hello"), Ok(2));
    /// drop((rx, _rx2));
    /// assert_eq!(tx.send("anyone?").unwrap_err().into_inner(), "anyone?");
    /// ```
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut tail = self.shared.tail();
        if tail.receivers == 0 {
            return Err(SendError(value));
        }
        let pos = tail.pos;
        let overwritten = {
            let mut slot = self.shared.slot(pos);
            slot.pos = pos;
            slot.unread = tail.receivers;
            slot.value.replace(value)
        };
        tail.pos = pos.wrapping_add(1);
        let receivers = tail.receivers;
        drop(tail);
        drop(overwritten);
        self.shared.waiting.notify_all();
        Ok(receivers)
    }

    /// A receiver of the messages sent from now on.
    ///
    /// ```
    /// use ringpoll::channel::broadcast;
    ///
    /// let (tx, _rx) = broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// let mut late = tx.subscribe();
    /// tx.send(2).unwrap();
    /// assert_eq!(late.try_recv(), Ok(2), "what was sent before it is not its");
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.subscribe()
    }

    /// Live receivers.
    ///
    /// ```
    /// use ringpoll::channel::broadcast;
    ///
    /// let (tx, _rx) = broadcast::channel::<()>(4);
    /// let _rx2 = tx.subscribe();
    /// assert_eq!(tx.receiver_count(), 2);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.shared.tail().receivers
    }

    /// Messages held for some receiver that has yet to read them (at most the capacity).
    ///
    /// ```
    /// use ringpoll::channel::broadcast;
    ///
    /// let (tx, mut rx) = broadcast::channel(4);
    /// let mut rx2 = tx.subscribe();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// rx.try_recv().unwrap();
    /// assert_eq!(tx.len(), 2, "rx2 has read neither");
    /// rx2.try_recv().unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        let tail = self.shared.tail();
        // Receivers read in order: the held ones are the newest, back to the first read by all.
        let newest_first = (1..=self.shared.capacity).map_while(|back| tail.pos.checked_sub(back));
        newest_first
            .take_while(|&pos| {
                let slot = self.shared.slot(pos);
                slot.pos == pos && slot.unread > 0
            })
            .count()
    }

    /// Whether no receiver has a message left to read.
    ///
    /// ```
    /// use ringpoll::channel::broadcast;
    ///
    /// let (tx, mut rx) = broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// assert!(!tx.is_empty());
    /// rx.try_recv().unwrap();
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.tail().senders += 1;
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut tail = self.shared.tail();
        tail.senders -= 1;
        if tail.senders == 0 {
            // Receivers drain what they have left, then see the close.
            drop(tail);
            self.shared.waiting.notify_all();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = self.shared.tail();
        f.debug_struct("broadcast::Sender").field("sent", &tail.pos).field("receivers", &tail.receivers).finish()
    }
}

/// A receiving half of a broadcast channel: `Send + Sync`, at its own position in the ring.
/// Not `Clone` (where would the clone start?): [`resubscribe`](Receiver::resubscribe) makes
/// one at the tail. Dropped, it passes the messages it had yet to read, so their last reader
/// is not waited for.
///
/// ```
/// use ringpoll::channel::broadcast;
///
/// let (tx, mut rx) = broadcast::channel(4);
/// tx.send(1).unwrap();
/// let got = std::thread::spawn(move || rx.try_recv()).join().unwrap();
/// assert_eq!(got, Ok(1));
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The position of the next message it reads.
    next: u64,
    /// Its place in the channel's wait list.
    slot: WaitSlot,
}

impl<T: Clone> Receiver<T> {
    /// The next message, waiting for it; `Lagged(n)` if `n` were overwritten before this
    /// receiver got to them (the next call returns the oldest left); `Closed` once every
    /// sender is gone and this receiver has every message.
    ///
    /// Cancel safe: dropped while waiting, it took nothing. Each message taken counts
    /// against the task's operation budget (`ringpoll_reactor::budget`), as a `cross_core`
    /// receive does.
    ///
    /// ```no_run
    /// use ringpoll::channel::broadcast::{self, RecvError};
    /// use ringpoll::Runtime;
    ///
    /// let rt = Runtime::builder().cores([0, 1]).build()?;
    /// let (tx, mut rx) = broadcast::channel::<u64>(2);
    /// for n in 0..5 {
    ///     tx.send(n).unwrap(); // nobody reads yet: 0, 1 and 2 are overwritten
    /// }
    /// drop(tx);
    /// let got = rt.spawn_on(1, move || async move {
    ///     let lagged = rx.recv().await;
    ///     (lagged, rx.recv().await, rx.recv().await, rx.recv().await)
    /// });
    /// assert_eq!(got.join().unwrap(), (Err(RecvError::Lagged(3)), Ok(3), Ok(4), Err(RecvError::Closed)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        let Receiver { shared, next, slot } = self;
        // Takes the waker back out when the wait ends, done or dropped.
        let mut wait = Waiting::new(&shared.waiting, slot);
        poll_fn(|cx| {
            ready!(budget::poll_proceed(cx));
            let taken = match shared.take(next, T::clone) {
                Found::Empty => {
                    wait.park(cx.waker());
                    shared.take(next, T::clone)
                }
                found => found,
            };
            match taken {
                Found::Message(value) => Poll::Ready(Ok(value)),
                Found::Empty => Poll::Pending,
                Found::Closed => Poll::Ready(Err(RecvError::Closed)),
                Found::Lagged(n) => Poll::Ready(Err(RecvError::Lagged(n))),
            }
        })
        .await
    }

    /// The next message, if one is there now (errors as [`recv`](Receiver::recv)'s).
    ///
    /// ```
    /// use ringpoll::channel::broadcast::{self, TryRecvError};
    ///
    /// let (tx, mut rx) = broadcast::channel(4);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send('a').unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok('a'));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.shared.take(&mut self.next, T::clone) {
            Found::Message(value) => Ok(value),
            Found::Empty => Err(TryRecvError::Empty),
            Found::Closed => Err(TryRecvError::Closed),
            Found::Lagged(n) => Err(TryRecvError::Lagged(n)),
        }
    }
}

impl<T> Receiver<T> {
    /// A new receiver at the tail: the messages sent from now on, not this one's backlog.
    ///
    /// ```
    /// use ringpoll::channel::broadcast;
    ///
    /// let (tx, rx) = broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// let mut fresh = rx.resubscribe();
    /// tx.send(2).unwrap();
    /// assert_eq!(fresh.try_recv(), Ok(2));
    /// assert_eq!(rx.len(), 2);
    /// ```
    pub fn resubscribe(&self) -> Receiver<T> {
        self.shared.subscribe()
    }

    /// Messages sent that this receiver has yet to receive, overwritten ones included.
    ///
    /// ```
    /// use ringpoll::channel::broadcast;
    ///
    /// let (tx, rx) = broadcast::channel(2);
    /// (0..3).for_each(|n| assert_eq!(tx.send(n), Ok(1)));
    /// assert_eq!(rx.len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        (self.shared.tail().pos - self.next) as usize
    }

    /// Whether this receiver has received every message sent.
    ///
    /// ```
    /// use ringpoll::channel::broadcast;
    ///
    /// let (_tx, rx) = broadcast::channel::<u8>(2);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live receivers, this one included.
    ///
    /// ```
    /// use ringpoll::channel::broadcast;
    ///
    /// let (_tx, rx) = broadcast::channel::<u8>(2);
    /// assert_eq!(rx.receiver_count(), 1);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.shared.tail().receivers
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.waiting.release(&mut self.slot);
        let end = {
            let mut tail = self.shared.tail();
            tail.receivers -= 1;
            tail.pos
        };
        // The messages it had yet to read counted it: pass them, so the last reader of each
        // drops it. Those sent from here on do not count it, and a lap meanwhile may carry it
        // past `end` (to the oldest message left): it stops there, before taking others' reads.
        while self.next < end {
            if let Found::Empty | Found::Closed = self.shared.take(&mut self.next, |_| ()) {
                break;
            }
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Receiver").field("next", &self.next).field("behind", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringpoll_reactor::counting_waker::WakeCount;
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Context;

    /// Drop-counted values, to see none leaked or dropped twice.
    #[derive(Clone)]
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn each_value_goes_with_its_last_reader_or_an_overwrite() {
        let drops = Arc::new(AtomicUsize::new(0));
        let dropped = || drops.load(Ordering::SeqCst);
        let (tx, mut a) = channel(2);
        let mut b = tx.subscribe();
        tx.send(Counted(drops.clone())).unwrap();
        drop(a.try_recv().unwrap()); // a's clone
        assert_eq!(dropped(), 1, "b has yet to read it: the channel's copy stays");
        drop(b.try_recv().unwrap());
        assert_eq!(dropped(), 3, "b's clone and, b being the last reader, the channel's copy");

        for _ in 0..3 {
            tx.send(Counted(drops.clone())).unwrap(); // the third overwrites the first
        }
        assert_eq!(dropped(), 4);
        drop(b); // it had two unread: it passes them
        assert_eq!(dropped(), 4, "a has yet to read them");
        assert!(matches!(a.try_recv(), Err(TryRecvError::Lagged(1))));
        drop(a.try_recv().unwrap());
        assert_eq!(dropped(), 6);
        drop(a); // its last unread message goes with it
        assert_eq!(dropped(), 7);
        assert!(tx.send(Counted(drops.clone())).is_err());
        assert_eq!(dropped(), 8, "the value handed back, dropped by the test");
        assert!(tx.is_empty());
    }

    #[test]
    fn a_waiting_receiver_is_woken_once_per_wait_and_by_the_close() {
        let (tx, mut rx) = channel::<u32>(8);
        let (count, waker) = WakeCount::waker();
        let mut cx = Context::from_waker(&waker);
        {
            let mut recv = std::pin::pin!(rx.recv());
            assert!(recv.as_mut().poll(&mut cx).is_pending());
            assert!(recv.as_mut().poll(&mut cx).is_pending(), "polled again: still one waker");
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            assert_eq!(count.get(), 1, "a burst to a waiting receiver costs one wake");
            assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
        }
        assert_eq!(rx.try_recv(), Ok(2));
        {
            let mut recv = std::pin::pin!(rx.recv());
            assert!(recv.as_mut().poll(&mut cx).is_pending());
            drop(tx);
            assert_eq!(count.get(), 2, "the last sender's drop wakes it");
            assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(Err(RecvError::Closed)));
        }
    }

    #[test]
    fn a_dropped_wait_takes_its_waker_back() {
        let (tx, mut rx) = channel::<u32>(8);
        let (count, waker) = WakeCount::waker();
        let mut recv = Box::pin(rx.recv());
        assert!(recv.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        drop(recv);
        tx.send(1).unwrap();
        assert_eq!(count.get(), 0, "no wake for a receive that was cancelled");
        assert_eq!(rx.try_recv(), Ok(1), "and it took nothing");
    }
}
