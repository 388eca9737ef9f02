//! Channels between cores (and plain threads): `Send` ends, one receiving task.
//!
//! The queue is `concurrent-queue`'s (lock-free, bounded or not, closable; from smol-rs).
//! What makes it cross-core here is the waker it is given: the receiving task's, which points
//! at the receiver's core. A send from another core pushes the message, then wakes that task
//! through the core's mailbox and deduplicated eventfd break, and only if the receiver waits
//! (`ReceiverWait`): a burst of sends costs one wake, and none while the receiver is busy.
//! A sender waiting on a full channel (`Room`) is woken the same way, on its own core.
//!
//! Why not `async-channel` (which this module used before): its `event-listener` takes a lock
//! on every send and every receive, and the receiver's wait took the lock each send took, so
//! between two cores it was contended (futex calls in the round-trip benchmark, where tokio's
//! channel, whose one receiver waits on an atomic waker, was faster). With one receiver the
//! wait needs no listener list, and only full channels need one for senders.
//!
//! No `reserve`/`Permit` here (the [`local`](super::local) channels have them): a slot held
//! ahead of its value needs every send to count against the holds atomically, and the
//! queue's slots are claimed by its own tail counter, which knows nothing of them. tokio pays
//! for it with a semaphore word that each send and each receive update, one more cache line
//! going back and forth between the two cores per message; [`Sender::send`] waits for room
//! instead, and [`Sender::closed`] and [`Sender::capacity`] cover the other uses.

mod oneshot;
mod receiver_wait;
mod room;

pub use oneshot::{oneshot, OneshotReceiver, OneshotSender};

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use concurrent_queue::{ConcurrentQueue, PopError, PushError};
use ringpoll_reactor::budget;

use receiver_wait::ReceiverWait;
use room::Room;

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
    pair(ConcurrentQueue::bounded(capacity))
}

/// A channel without a bound: [`Sender::send`] never waits.
pub fn unbounded<T: Send>() -> (Sender<T>, Receiver<T>) {
    pair(ConcurrentQueue::unbounded())
}

fn pair<T>(queue: ConcurrentQueue<T>) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        queue,
        senders: AtomicUsize::new(1),
        receiver: ReceiverWait::default(),
        room: Room::default(),
        closing: Room::default(),
    });
    (Sender { shared: shared.clone() }, Receiver { shared, registered: None })
}

/// What the ends of one channel share.
struct Shared<T> {
    queue: ConcurrentQueue<T>,
    /// Live [`Sender`]s; the last one's drop closes the queue.
    senders: AtomicUsize,
    receiver: ReceiverWait,
    room: Room,
    /// Senders waiting in [`Sender::closed`]: woken only by the close, so a send or a
    /// receive never looks at it.
    closing: Room,
}

impl<T> Shared<T> {
    /// Free slots now: the bound less the messages queued, `usize::MAX` unbounded.
    fn capacity(&self) -> usize {
        self.queue.capacity().map_or(usize::MAX, |bound| bound.saturating_sub(self.queue.len()))
    }

    /// The bound the channel was made with, `usize::MAX` unbounded.
    fn max_capacity(&self) -> usize {
        self.queue.capacity().unwrap_or(usize::MAX)
    }

    /// Closes the queue for senders (the receiver still takes what it holds) and wakes those
    /// waiting for room, which then fail, and those waiting for the close.
    fn close(&self) {
        if self.queue.close() {
            self.room.notify_all();
            self.closing.notify_all();
        }
    }
}

/// The sending half of a cross-core channel: `Send + Sync`, clone it for more senders.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room in a bounded channel. Fails, returning the value, if
    /// the receiver is closed or dropped (also while waiting).
    ///
    /// Cancel safe: dropped while waiting, it sent nothing (and the value is dropped with it),
    /// and a wake for room it was given goes to the next waiting sender.
    ///
    /// Each send counts against the task's operation budget (`ringpoll_reactor::budget`), as
    /// a receive does: a task sending in a loop into a channel with room still lets the other
    /// tasks of its core run. [`try_send`](Sender::try_send) takes nothing from it.
    pub async fn send(&self, mut value: T) -> Result<(), SendError<T>> {
        budget::proceed().await;
        loop {
            match self.try_send(value) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(v)) => return Err(SendError(v)),
                Err(TrySendError::Full(v)) => value = v,
            }
            let queue = &self.shared.queue;
            self.shared.room.wait(|| !queue.is_full() || queue.is_closed()).await;
        }
    }

    /// Sends `value` if there is room now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.shared.queue.push(value) {
            Ok(()) => {
                self.shared.receiver.notify();
                Ok(())
            }
            Err(PushError::Full(v)) => Err(TrySendError::Full(v)),
            Err(PushError::Closed(v)) => Err(TrySendError::Closed(v)),
        }
    }

    /// Sends `value` from a thread that is not a ringpoll core, blocking it while the
    /// channel is full.
    ///
    /// # Panics
    /// On a ringpoll core, whose other tasks it would stop (as [`park_on`](crate::park_on)).
    #[track_caller]
    pub fn send_blocking(&self, value: T) -> Result<(), SendError<T>> {
        crate::park_on(self.send(value))
    }

    /// Whether the receiver is closed or dropped.
    pub fn is_closed(&self) -> bool {
        self.shared.queue.is_closed()
    }

    /// Completes once the receiver is closed or dropped, on whichever core or thread: for a
    /// producer that should stop working when nobody listens any more, without a message to
    /// try. Any number of senders may wait on it, on any cores; the close wakes each on its
    /// own core. Sends and receives never look at these waiters: only the close does.
    ///
    /// ```no_run
    /// use ringpoll::channel::cross_core;
    /// use ringpoll::Runtime;
    ///
    /// let rt = Runtime::builder().cores([0, 1]).build()?;
    /// let (tx, rx) = cross_core::channel::<u64>(64);
    /// let producer = rt.spawn_on(0, move || async move {
    ///     tx.closed().await;
    ///     tx.is_closed()
    /// });
    /// rt.spawn_on(1, move || async move { drop(rx) }).detach();
    /// assert!(producer.join().unwrap());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn closed(&self) {
        let queue = &self.shared.queue;
        while !queue.is_closed() {
            self.shared.closing.wait(|| queue.is_closed()).await;
        }
    }

    /// Free slots now: the bound less the messages queued (`usize::MAX` for an unbounded
    /// channel). A snapshot: other cores may take or free slots at any time.
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// The bound the channel was made with (`usize::MAX` for an unbounded channel).
    pub fn max_capacity(&self) -> usize {
        self.shared.max_capacity()
    }

    /// Whether `other` sends to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// How many senders the channel has (this one among them); others may come and go
    /// meanwhile.
    pub fn strong_count(&self) -> usize {
        self.shared.senders.load(Ordering::Relaxed)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last one: the receiver drains what is queued, then sees the close.
            self.shared.close();
            self.shared.receiver.notify();
        }
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
    shared: Arc<Shared<T>>,
    /// The waker last left in `shared.receiver`, to leave it again only if it changed.
    registered: Option<Waker>,
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
    /// once.
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
        if let Ok(taken) = self.take() {
            return Poll::Ready(taken);
        }
        self.shared.receiver.park(cx.waker(), &mut self.registered);
        match self.take() {
            Ok(taken) => {
                self.shared.receiver.unpark();
                Poll::Ready(taken)
            }
            Err(PopError::Empty) => Poll::Pending,
            Err(PopError::Closed) => unreachable!("take reports a closed queue as Ok(None)"),
        }
    }

    /// Moves up to `limit` queued messages to the end of `buffer`, waiting for one if none
    /// is queued, and returns how many. 0 only once the channel has ended (as
    /// [`recv`](Receiver::recv)'s `None`), or at once if `limit` is 0. One budget unit per
    /// call, however many it moves; each message taken frees its slot for a waiting sender
    /// at once, as [`recv`](Receiver::recv) does.
    ///
    /// ```no_run
    /// use ringpoll::channel::cross_core;
    /// use ringpoll::Runtime;
    ///
    /// let rt = Runtime::builder().cores([0, 1]).build()?;
    /// let (tx, mut rx) = cross_core::channel::<u64>(64);
    /// let batches = rt.spawn_on(1, move || async move {
    ///     let (mut batch, mut sum) = (Vec::with_capacity(16), 0);
    ///     while rx.recv_many(&mut batch, 16).await > 0 {
    ///         sum += batch.drain(..).sum::<u64>();
    ///     }
    ///     sum
    /// });
    /// rt.spawn_on(0, move || async move {
    ///     for n in 1..=100 {
    ///         tx.send(n).await.unwrap();
    ///     }
    /// }).detach();
    /// assert_eq!(batches.join().unwrap(), 5050);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        std::future::poll_fn(|cx| self.poll_recv_many(cx, buffer, limit)).await
    }

    /// The poll behind [`recv_many`](Receiver::recv_many): `Ready(n)` with `n` messages
    /// moved to `buffer`, `Pending` with `cx`'s waker registered for the next send.
    pub fn poll_recv_many(&mut self, cx: &mut Context<'_>, buffer: &mut Vec<T>, limit: usize) -> Poll<usize> {
        if limit == 0 {
            return Poll::Ready(0);
        }
        // The first through `poll_recv` (its budget unit, and its look, park, look), the rest
        // only if already queued.
        let Some(first) = ready!(self.poll_recv(cx)) else { return Poll::Ready(0) };
        buffer.push(first);
        let mut moved = 1;
        while moved < limit {
            let Ok(Some(value)) = self.take() else { break };
            buffer.push(value);
            moved += 1;
        }
        Poll::Ready(moved)
    }

    /// The next message from a thread that is not a ringpoll core, blocking it until one
    /// comes: `None` once every sender is gone (or the receiver closed) and the queue is
    /// empty. The send that wakes it unparks the thread.
    ///
    /// # Panics
    /// On a ringpoll core, whose other tasks it would stop (as [`park_on`](crate::park_on);
    /// tokio's `blocking_recv` panics inside a runtime too): there, `.await`
    /// [`recv`](Receiver::recv) instead.
    ///
    /// ```
    /// use ringpoll::channel::cross_core;
    ///
    /// let (tx, mut rx) = cross_core::channel::<u32>(4);
    /// let consumer = std::thread::spawn(move || {
    ///     let mut got = Vec::new();
    ///     while let Some(n) = rx.blocking_recv() {
    ///         got.push(n);
    ///     }
    ///     got
    /// });
    /// for n in 0..10 {
    ///     tx.send_blocking(n).unwrap();
    /// }
    /// drop(tx);
    /// assert_eq!(consumer.join().unwrap(), (0..10).collect::<Vec<_>>());
    /// ```
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Option<T> {
        crate::park_on(self.recv())
    }

    /// The next message (`Ok(None)` once the channel is closed and drained), or `Empty`.
    fn take(&mut self) -> Result<Option<T>, PopError> {
        match self.shared.queue.pop() {
            Ok(value) => {
                // Only a bounded queue has senders waiting for room.
                if self.shared.queue.capacity().is_some() {
                    self.shared.room.notify_one();
                }
                Ok(Some(value))
            }
            Err(PopError::Closed) => Ok(None),
            Err(PopError::Empty) => Err(PopError::Empty),
        }
    }

    /// The next message, if one is queued.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.take() {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(TryRecvError::Closed),
            Err(_) => Err(TryRecvError::Empty),
        }
    }

    /// Closes the channel: sends fail from now on (waiting ones too), and senders waiting in
    /// [`Sender::closed`] wake; messages already queued can still be received.
    pub fn close(&mut self) {
        self.shared.close();
    }

    /// Free slots now, as [`Sender::capacity`].
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// The bound the channel was made with (`usize::MAX` for an unbounded channel).
    pub fn max_capacity(&self) -> usize {
        self.shared.max_capacity()
    }

    /// Whether nothing more can be sent: every sender is gone, or [`close`](Receiver::close)
    /// was called. Messages may still be queued.
    pub fn is_closed(&self) -> bool {
        self.shared.queue.is_closed()
    }

    /// Messages queued now.
    pub fn len(&self) -> usize {
        self.shared.queue.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.shared.queue.is_empty()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Senders see the close at once; the messages go now, not with the last sender.
        self.shared.close();
        while self.shared.queue.pop().is_ok() {}
        self.shared.receiver.forget();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("cross_core::Receiver").field("queued", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringpoll_reactor::counting_waker::WakeCount;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs `f` on a thread; fails if it does not finish in 20 s (a lost wake hangs).
    fn bounded<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        let (done, result) = mpsc::channel();
        std::thread::spawn(move || done.send(f()).unwrap());
        result.recv_timeout(Duration::from_secs(20)).expect("a wake was lost: the channel hung")
    }

    #[test]
    fn senders_on_many_threads_and_a_tiny_bound_lose_no_message_and_no_wake() {
        const SENDERS: u64 = 4;
        const EACH: u64 = 20_000;
        let received = bounded(|| {
            let (tx, mut rx) = channel::<(u64, u64)>(2);
            for sender in 0..SENDERS {
                let tx = tx.clone();
                std::thread::spawn(move || (0..EACH).for_each(|n| tx.send_blocking((sender, n)).unwrap()));
            }
            drop(tx);
            let mut next = [0; SENDERS as usize];
            while let Some((sender, n)) = crate::park_on(rx.recv()) {
                assert_eq!(n, next[sender as usize], "each sender's messages in order");
                next[sender as usize] += 1;
            }
            next
        });
        assert_eq!(received, [EACH; SENDERS as usize], "every message, then the close");
    }

    #[test]
    fn a_receiver_that_waits_between_messages_is_woken_for_each() {
        let got = bounded(|| {
            let (tx, mut rx) = unbounded::<u32>();
            std::thread::spawn(move || {
                for n in 0..2_000 {
                    tx.try_send(n).unwrap();
                    if n % 7 == 0 {
                        std::thread::yield_now(); // let the receiver empty the queue and wait
                    }
                }
            });
            let mut sum = 0u64;
            while let Some(n) = crate::park_on(rx.recv()) {
                sum += u64::from(n);
            }
            sum
        });
        assert_eq!(got, 1_999 * 2_000 / 2);
    }

    /// Drop-counted values, to see none lost, duplicated or leaked.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<F: Future + Unpin>(f: &mut F, count: &Arc<WakeCount>) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(&Waker::from(count.clone())))
    }

    #[test]
    fn a_waiting_receiver_is_woken_once_per_wait_and_by_the_last_sender_going() {
        let (tx, mut rx) = unbounded::<u32>();
        let count = Arc::new(WakeCount::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(rx.poll_recv(&mut cx).is_pending());
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(count.get(), 1, "a burst to a waiting receiver costs one wake");
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(1)));
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(2)));
        assert!(rx.poll_recv(&mut cx).is_pending());
        let tx2 = tx.clone();
        drop(tx);
        assert_eq!(count.get(), 1, "a sender remains");
        drop(tx2);
        assert_eq!(count.get(), 2, "the last sender's drop wakes the receiver");
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn waiting_sends_get_room_in_order_pass_it_on_when_dropped_and_fail_on_close() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let value = || Counted(dropped.clone());
        let (tx, mut rx) = channel::<Counted>(1);
        tx.try_send(value()).unwrap();
        let counts: Vec<_> = (0..4).map(|_| Arc::new(WakeCount::default())).collect();
        let mut sends: Vec<_> = (0..4).map(|_| Box::pin(tx.send(value()))).collect();
        for (send, count) in sends.iter_mut().zip(&counts) {
            assert!(poll(send, count).is_pending(), "the channel is full");
        }
        let woken = || counts.iter().map(|c| c.get()).collect::<Vec<_>>();

        drop(rx.try_recv().unwrap());
        assert_eq!(woken(), [1, 0, 0, 0], "room goes to the first to wait");
        drop(sends.remove(0)); // cancelled after its wake, before its poll: its value goes
        assert_eq!(woken(), [1, 1, 0, 0], "and is passed on");
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
        assert!(matches!(poll(&mut sends[0], &counts[1]), Poll::Ready(Ok(()))));
        drop(sends.remove(0));
        assert_eq!(woken(), [1, 1, 0, 0], "a used grant is not passed on");

        rx.close(); // the rest fail, with their values back
        assert_eq!(woken(), [1, 1, 1, 1]);
        for (send, count) in sends.iter_mut().zip(&counts[2..]) {
            let Poll::Ready(Err(SendError(back))) = poll(send, count) else { panic!("closed") };
            drop(back);
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 4);
        drop(rx); // the one queued goes with the receiver
        assert_eq!(dropped.load(Ordering::SeqCst), 5, "every value dropped once");
    }

    #[test]
    fn closing_the_receiver_fails_waiting_and_later_sends() {
        let (tx, mut rx) = channel::<u8>(1);
        tx.try_send(1).unwrap();
        let waiting = std::thread::spawn({
            let tx = tx.clone();
            move || tx.send_blocking(2)
        });
        std::thread::sleep(Duration::from_millis(20)); // most likely parked by now; either way
        rx.close();
        assert_eq!(waiting.join().unwrap(), Err(SendError(2)), "the waiting send fails");
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(3), Err(TrySendError::Closed(3))));
        assert_eq!(rx.try_recv(), Ok(1), "what was queued is still received");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }
}
