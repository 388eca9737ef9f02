//! A cross-core oneshot: one value, typically a reply, from any thread to one waiting task.
//!
//! Lock-free, as tokio's oneshot is: one state word says who may touch the value and the
//! receiver's waker, so each side pays one or two atomic operations where a mutex cost a lock
//! per poll, per send and per drop (five per request and reply), and the two cores could
//! meet on it. The receiver's waker sends the wake to the receiver's core (mailbox and
//! break), never to another.
//!
//! The protocol, on [`State`]'s bits:
//! - The sender writes the value, then sets `COMPLETE` (dropped unsent, it sets `COMPLETE`
//!   alone). It never sets it once `CLOSED` is up: it takes its value back instead. After
//!   `COMPLETE`, the sender touches only the waker, and only if `WAKER` was up when it set it.
//! - The receiver writes its waker while `WAKER` is down, then raises it; to change it, it
//!   takes `WAKER` down first, and if `COMPLETE` came up meanwhile it leaves the old waker
//!   alone (the sender may be waking it) and takes the value instead.
//! - The receiver reads the value only after seeing `COMPLETE`, which the sender set after
//!   writing it (release, acquire).
//! - [`OneshotSender::closed`] mirrors the receiver's waker with its own: the sender writes
//!   `sender_waker` while `SENDER_WAKER` is down, then raises it; the receiver, closing or
//!   dropped, wakes it if `SENDER_WAKER` was up (and `COMPLETE` down) when it raised
//!   `CLOSED`. To change it the sender takes `SENDER_WAKER` down first and, if `CLOSED` came
//!   up meanwhile, leaves the old waker alone and is done waiting. A send never looks at it.
//! - Value and wakers are dropped with the shared allocation, when both ends are gone.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{
    AtomicU8,
    Ordering::{AcqRel, Acquire},
};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::channel::{RecvError, TryRecvError};

/// The sender is done: the value is in place, or it was dropped without one.
const COMPLETE: u8 = 1;
/// `Shared::waker` holds the receiver's waker, for the sender to wake.
const WAKER: u8 = 2;
/// The receiver closed or was dropped: the sender keeps its value.
const CLOSED: u8 = 4;
/// `Shared::sender_waker` holds the task waiting in [`OneshotSender::closed`].
const SENDER_WAKER: u8 = 8;

struct Shared<T> {
    state: AtomicU8,
    value: UnsafeCell<Option<T>>,
    waker: UnsafeCell<Option<Waker>>,
    sender_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cells are only touched as the module's protocol allows (one side at a time,
// ordered by `state`); the value crosses threads, hence `T: Send`.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above: shared references from both threads never touch a cell at once.
unsafe impl<T: Send> Sync for Shared<T> {}

/// A channel for one value between cores: the reply half of a request sent to another
/// core. The receiver is a future; it fails with [`RecvError`] if the sender is dropped
/// without sending (the other core shut down, or its task was cancelled).
///
/// ```no_run
/// use ringpoll::channel::cross_core;
/// use ringpoll::Runtime;
///
/// let rt = Runtime::builder().cores([0, 1]).build()?;
/// let (reply, answer) = cross_core::oneshot();
/// rt.spawn_on(1, move || async move { reply.send(42).unwrap() }).detach();
/// let got = rt.spawn_on(0, move || answer);
/// assert_eq!(got.join().unwrap(), Ok(42));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn oneshot<T: Send>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let shared = Arc::new(Shared {
        state: AtomicU8::new(0),
        value: UnsafeCell::new(None),
        waker: UnsafeCell::new(None),
        sender_waker: UnsafeCell::new(None),
    });
    (OneshotSender { shared: Some(shared.clone()) }, OneshotReceiver { shared })
}

/// Sends the one value of a cross-core [`oneshot`]; `Send`.
pub struct OneshotSender<T> {
    /// `None` once sent (so the drop has nothing left to do).
    shared: Option<Arc<Shared<T>>>,
}

impl<T> OneshotSender<T> {
    /// Sends `value`; gives it back if the receiver is gone (closed or dropped).
    pub fn send(mut self, value: T) -> Result<(), T> {
        let shared = self.shared.take().expect("a sender holds its channel until it sends");
        // SAFETY: `COMPLETE` is down (only this sender sets it, once), so the receiver does not
        // read the value cell yet.
        unsafe { *shared.value.get() = Some(value) };
        if complete(&shared) {
            return Ok(());
        }
        // SAFETY: `CLOSED` kept `COMPLETE` down, so the receiver never reads the cell.
        Err(unsafe { (*shared.value.get()).take() }.expect("the value was just written"))
    }

    /// Whether the receiver is gone (closed or dropped).
    pub fn is_closed(&self) -> bool {
        self.shared.as_ref().is_none_or(|s| s.state.load(Acquire) & CLOSED != 0)
    }

    /// Completes once the receiver is closed or dropped, on whichever core or thread: for a
    /// task computing a reply that nobody may want any more. The close wakes it on its own
    /// core.
    ///
    /// ```no_run
    /// use ringpoll::channel::cross_core;
    /// use ringpoll::Runtime;
    ///
    /// let rt = Runtime::builder().cores([0, 1]).build()?;
    /// let (mut reply, answer) = cross_core::oneshot::<u64>();
    /// let worker = rt.spawn_on(1, move || async move {
    ///     reply.closed().await; // in practice, raced against the work
    ///     reply.send(1).is_err()
    /// });
    /// rt.spawn_on(0, move || async move { drop(answer) }).detach();
    /// assert!(worker.join().unwrap(), "the reply has nowhere to go");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub async fn closed(&mut self) {
        std::future::poll_fn(|cx| self.poll_closed(cx)).await
    }

    /// The poll behind [`closed`](OneshotSender::closed): `Pending` leaves `cx`'s waker for
    /// the receiver's close or drop.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(shared) = &self.shared else { return Poll::Ready(()) };
        let state = shared.state.load(Acquire);
        let waker = cx.waker();
        if state & CLOSED != 0 {
            return Poll::Ready(());
        }
        // SAFETY: the sender, through its `&mut`, with its cell's bits.
        if !unsafe { register(&shared.state, &shared.sender_waker, state, SENDER_WAKER, CLOSED, waker) } {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// Leaves `waker` in `cell` for the other side, which wakes it once it raises `done`;
/// `false` if `done` came up meanwhile. `mine` is the bit saying `cell` holds a waker: one
/// side's (`WAKER` and `COMPLETE` for the receiver, `SENDER_WAKER` and `CLOSED` for the
/// sender).
///
/// # Safety
/// Only the side that owns `cell` calls this, through its `&mut`, with `cell`'s own bits
/// (`mine`, `done`) of `state`: then nobody else writes `cell`, and the other side reads it
/// only while `mine` is up.
unsafe fn register(
    state: &AtomicU8,
    cell: &UnsafeCell<Option<Waker>>,
    seen: u8,
    mine: u8,
    done: u8,
    waker: &Waker,
) -> bool {
    if seen & mine != 0 {
        // SAFETY: reading only; the other side reads it too, nobody writes while `mine` is up.
        if unsafe { &*cell.get() }.as_ref().is_some_and(|w| w.will_wake(waker)) {
            return true;
        }
        if state.fetch_and(!mine, AcqRel) & done != 0 {
            return false; // the other side may be waking the old waker: leave it be
        }
    }
    // SAFETY: `mine` is down, so the other side does not read the cell; only its one owner,
    // the caller (the function's contract), writes it.
    unsafe { *cell.get() = Some(waker.clone()) };
    state.fetch_or(mine, AcqRel) & done == 0
}

/// Wakes the waker left in `cell`.
///
/// # Safety
/// The caller saw `cell`'s side's bit up in the same read-modify-write that raised its own
/// done bit (`COMPLETE`, `CLOSED`): from then on the owner no longer changes the waker (it
/// would take its bit down first and then see the done bit), and only reads it.
unsafe fn wake_registered(cell: &UnsafeCell<Option<Waker>>) {
    // SAFETY: the function's contract: nobody writes `cell` any more.
    if let Some(waker) = unsafe { &*cell.get() } {
        waker.wake_by_ref();
    }
}

/// Sets `COMPLETE` unless the receiver closed, and wakes it if it waits; `false` if closed.
fn complete<T>(shared: &Shared<T>) -> bool {
    let mut state = shared.state.load(Acquire);
    loop {
        if state & CLOSED != 0 {
            return false;
        }
        match shared.state.compare_exchange_weak(state, state | COMPLETE, AcqRel, Acquire) {
            Ok(_) => break,
            Err(now) => state = now,
        }
    }
    if state & WAKER != 0 {
        // SAFETY: `WAKER` was up as `COMPLETE` went up, in the exchange above.
        unsafe { wake_registered(&shared.waker) };
    }
    true
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            complete(shared); // without a value: the receiver gets RecvError
        }
    }
}

impl<T> fmt::Debug for OneshotSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("cross_core::OneshotSender").field("closed", &self.is_closed()).finish()
    }
}

/// Receives the one value of a cross-core [`oneshot`]: await it. Polled again after it
/// returned the value, it fails with [`RecvError`].
pub struct OneshotReceiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> OneshotReceiver<T> {
    /// The value, if it was sent; `Closed` if the sender was dropped without sending, or this
    /// receiver was closed before it sent.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let state = self.shared.state.load(Acquire);
        if state & COMPLETE != 0 {
            return self.take().ok_or(TryRecvError::Closed);
        }
        Err(if state & CLOSED != 0 { TryRecvError::Closed } else { TryRecvError::Empty })
    }

    /// Refuses the value: a later `send` fails and gives it back, and a sender waiting in
    /// [`OneshotSender::closed`] wakes. A value sent before stays receivable; otherwise
    /// awaiting the receiver fails with [`RecvError`].
    pub fn close(&mut self) {
        self.raise_closed();
    }

    /// Raises `CLOSED`, waking a sender waiting for it; the state before.
    fn raise_closed(&self) -> u8 {
        let before = self.shared.state.fetch_or(CLOSED, AcqRel);
        if before & (SENDER_WAKER | COMPLETE | CLOSED) == SENDER_WAKER {
            // SAFETY: `SENDER_WAKER` was up as `CLOSED` went up, in the fetch_or above.
            unsafe { wake_registered(&self.shared.sender_waker) };
        }
        before
    }

    /// The value from a thread that is not a ringpoll core, blocking it until the sender
    /// sends or is dropped.
    ///
    /// # Panics
    /// On a ringpoll core, whose other tasks it would stop (as [`park_on`](crate::park_on);
    /// tokio's `blocking_recv` panics inside a runtime too): there, `.await` the receiver.
    ///
    /// ```
    /// use ringpoll::channel::cross_core;
    ///
    /// let (reply, answer) = cross_core::oneshot();
    /// std::thread::spawn(move || reply.send("done").unwrap());
    /// assert_eq!(answer.blocking_recv(), Ok("done"));
    /// ```
    #[track_caller]
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        crate::park_on(self)
    }

    /// The value, once `COMPLETE` was seen (acquire).
    fn take(&mut self) -> Option<T> {
        // SAFETY: `COMPLETE` is up, so the sender is done with the value cell; `&mut self`
        // makes this the only reader.
        unsafe { (*self.shared.value.get()).take() }
    }
}

impl<T> Future for OneshotReceiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let state = this.shared.state.load(Acquire);
        if state & COMPLETE == 0 {
            if state & CLOSED != 0 {
                return Poll::Ready(Err(RecvError));
            }
            let shared = &*this.shared;
            // SAFETY: the receiver, through its `&mut`, with its cell's bits.
            if unsafe { register(&shared.state, &shared.waker, state, WAKER, COMPLETE, cx.waker()) } {
                return Poll::Pending;
            }
        }
        // Completed (its acquire was the load above or the register's read-modify-write).
        Poll::Ready(this.take().ok_or(RecvError))
    }
}

impl<T> Drop for OneshotReceiver<T> {
    fn drop(&mut self) {
        if self.raise_closed() & COMPLETE != 0 {
            drop(self.take()); // now, not when the sender's end goes
        }
    }
}

impl<T> fmt::Debug for OneshotReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("cross_core::OneshotReceiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringpoll_reactor::counting_waker::WakeCount;
    use std::time::Duration;

    fn poll<T>(rx: &mut OneshotReceiver<T>, count: &Arc<WakeCount>) -> Poll<Result<T, RecvError>> {
        Pin::new(rx).poll(&mut Context::from_waker(&Waker::from(count.clone())))
    }

    #[test]
    fn the_latest_waker_is_woken_once_and_the_value_arrives() {
        let (tx, mut rx) = oneshot::<u32>();
        let (first, second) = (Arc::new(WakeCount::default()), Arc::new(WakeCount::default()));
        assert!(poll(&mut rx, &first).is_pending());
        assert!(poll(&mut rx, &first).is_pending(), "the same waker again");
        assert!(poll(&mut rx, &second).is_pending(), "the receiver moved to another task");
        tx.send(7).unwrap();
        assert_eq!((first.get(), second.get()), (0, 1));
        assert_eq!(poll(&mut rx, &second), Poll::Ready(Ok(7)));
        assert_eq!(poll(&mut rx, &second), Poll::Ready(Err(RecvError)), "polled after its value");
    }

    #[test]
    fn closing_and_dropping_either_end_are_seen_by_the_other() {
        let count = Arc::new(WakeCount::default());
        let (tx, mut rx) = oneshot::<u8>();
        assert!(poll(&mut rx, &count).is_pending());
        drop(tx);
        assert_eq!(count.get(), 1, "a sender dropped unsent wakes the receiver");
        assert_eq!(poll(&mut rx, &count), Poll::Ready(Err(RecvError)));

        let (tx, mut rx) = oneshot::<u8>();
        rx.close();
        assert!(tx.is_closed());
        assert_eq!(tx.send(1), Err(1), "a closed receiver refuses the value, which comes back");
        assert_eq!(poll(&mut rx, &count), Poll::Ready(Err(RecvError)));

        let (tx, mut rx) = oneshot::<u8>();
        tx.send(2).unwrap();
        rx.close();
        assert_eq!(rx.try_recv(), Ok(2), "a value sent before the close stays");

        let value = Arc::new(());
        let (tx, rx) = oneshot::<Arc<()>>();
        tx.send(value.clone()).unwrap();
        drop(rx);
        assert_eq!(Arc::strong_count(&value), 1, "the receiver's drop drops an unread value");
        let (tx, rx) = oneshot::<u8>();
        drop(rx);
        assert!(tx.is_closed());
    }

    #[test]
    fn a_send_while_the_receiver_changes_its_waker_is_not_lost() {
        // The sender completes after the receiver looked at the state, before it took its
        // old waker down: the old one is woken, the new one is left alone, the value is there.
        let (tx, mut rx) = oneshot::<u32>();
        let ((old, old_waker), (new, new_waker)) = (WakeCount::waker(), WakeCount::waker());
        assert!(poll(&mut rx, &old).is_pending());
        let seen = rx.shared.state.load(Acquire);
        tx.send(5).unwrap();
        assert!(
            // SAFETY: each end is on this thread; the cell's owner's bits.
            !unsafe { register(&rx.shared.state, &rx.shared.waker, seen, WAKER, COMPLETE, &new_waker) },
            "the completion is seen when the waker comes down"
        );
        assert_eq!((old.get(), new.get()), (1, 0));
        // SAFETY: both ends are on this thread and the sender is done.
        let left = unsafe { &*rx.shared.waker.get() };
        assert!(left.as_ref().is_some_and(|w| w.will_wake(&old_waker)), "the sender may be reading it: untouched");
        assert_eq!(rx.try_recv(), Ok(5));

        // The sender completes after the old waker came down, before the new one goes up: it
        // wakes nobody, and the receiver sees the completion as it raises the new one.
        let (tx, mut rx) = oneshot::<u32>();
        assert!(poll(&mut rx, &old).is_pending());
        let seen = rx.shared.state.fetch_and(!WAKER, AcqRel) & !WAKER; // register's first step
        tx.send(6).unwrap();
        assert!(
            // SAFETY: each end is on this thread; the cell's owner's bits.
            !unsafe { register(&rx.shared.state, &rx.shared.waker, seen, WAKER, COMPLETE, &new_waker) },
            "the completion is seen when the waker goes up"
        );
        assert_eq!((old.get(), new.get()), (1, 0), "no wake: the receiver is running");
        assert_eq!(poll(&mut rx, &new), Poll::Ready(Ok(6)));
    }

    fn poll_closed(tx: &mut OneshotSender<u32>, count: &Arc<WakeCount>) -> Poll<()> {
        tx.poll_closed(&mut Context::from_waker(&Waker::from(count.clone())))
    }

    #[test]
    fn a_sender_waiting_for_the_close_is_woken_once_by_its_latest_waker() {
        let (mut tx, mut rx) = oneshot::<u32>();
        let (first, second) = (Arc::new(WakeCount::default()), Arc::new(WakeCount::default()));
        assert!(poll_closed(&mut tx, &first).is_pending());
        assert!(poll_closed(&mut tx, &first).is_pending(), "the same waker again");
        assert!(poll_closed(&mut tx, &second).is_pending(), "the sender moved to another task");
        rx.close();
        drop(rx); // a close then a drop: one wake
        assert_eq!((first.get(), second.get()), (0, 1));
        assert_eq!(poll_closed(&mut tx, &second), Poll::Ready(()));
        assert_eq!(tx.send(3), Err(3));

        // The value sent, the receiver's close wakes nobody: the sender is gone.
        let (mut tx, mut rx) = oneshot::<u32>();
        assert!(poll_closed(&mut tx, &first).is_pending());
        tx.send(4).unwrap();
        rx.close();
        assert_eq!(first.get(), 0);
        assert_eq!(rx.try_recv(), Ok(4));
    }

    #[test]
    fn a_close_while_the_sender_changes_its_waker_is_not_lost() {
        // The receiver closes after the sender looked at the state, before it took its old
        // waker down: the old one is woken, the new one is left alone.
        let (mut tx, rx) = oneshot::<u32>();
        let ((old, old_waker), (new, new_waker)) = (WakeCount::waker(), WakeCount::waker());
        assert!(poll_closed(&mut tx, &old).is_pending());
        let shared = tx.shared.clone().unwrap();
        let seen = shared.state.load(Acquire);
        drop(rx);
        assert!(
            // SAFETY: each end is on this thread; the cell's owner's bits.
            !unsafe { register(&shared.state, &shared.sender_waker, seen, SENDER_WAKER, CLOSED, &new_waker) },
            "the close is seen when the waker comes down"
        );
        assert_eq!((old.get(), new.get()), (1, 0));
        // SAFETY: both ends are on this thread; the receiver is gone.
        let left = unsafe { &*shared.sender_waker.get() };
        assert!(left.as_ref().is_some_and(|w| w.will_wake(&old_waker)), "the receiver may be reading it: untouched");

        // The receiver closes after the old waker came down, before the new one goes up: it
        // wakes nobody, and the sender sees the close as it raises the new one.
        let (mut tx, mut rx) = oneshot::<u32>();
        assert!(poll_closed(&mut tx, &old).is_pending());
        let shared = tx.shared.clone().unwrap();
        let seen = shared.state.fetch_and(!SENDER_WAKER, AcqRel) & !SENDER_WAKER;
        rx.close();
        assert!(
            // SAFETY: each end is on this thread; the cell's owner's bits.
            !unsafe { register(&shared.state, &shared.sender_waker, seen, SENDER_WAKER, CLOSED, &new_waker) },
            "the close is seen when the waker goes up"
        );
        assert_eq!((old.get(), new.get()), (1, 0), "no wake: the sender is running");
        assert_eq!(poll_closed(&mut tx, &new), Poll::Ready(()));
    }

    #[test]
    fn closes_from_other_threads_always_wake_the_waiting_sender() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for n in 0..20_000u32 {
                let (mut tx, mut rx) = oneshot::<u32>();
                let receiver = std::thread::spawn(move || {
                    (0..n % 64).for_each(|_| std::hint::spin_loop()); // vary the interleaving
                    if n % 2 == 0 {
                        rx.close()
                    }
                });
                crate::park_on(tx.closed());
                receiver.join().unwrap();
            }
            done.send(()).unwrap();
        });
        finished.recv_timeout(Duration::from_secs(60)).expect("a close's wake was lost");
    }

    #[test]
    fn the_value_is_dropped_once_whichever_end_goes_first() {
        let value = Arc::new(());
        // Sent, then the receiver dropped unread: its drop drops the value.
        let (tx, rx) = oneshot::<Arc<()>>();
        tx.send(value.clone()).unwrap();
        drop(rx);
        assert_eq!(Arc::strong_count(&value), 1);
        // The receiver dropped first: the send gives the value back, nothing stays inside.
        let (tx, rx) = oneshot::<Arc<()>>();
        drop(rx);
        let back = tx.send(value.clone()).unwrap_err();
        assert_eq!(Arc::strong_count(&value), 2);
        drop(back);
        assert_eq!(Arc::strong_count(&value), 1);
        // Received, then both ends dropped: nothing dropped twice (a double drop of an `Arc`
        // would underflow its count and abort here).
        let (tx, mut rx) = oneshot::<Arc<()>>();
        tx.send(value.clone()).unwrap();
        let got = rx.try_recv().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "taken once");
        drop((got, rx));
        assert_eq!(Arc::strong_count(&value), 1);
    }

    #[test]
    fn replies_across_threads_are_never_lost() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for n in 0..20_000u32 {
                let (tx, rx) = oneshot();
                let sender = std::thread::spawn(move || {
                    (0..n % 64).for_each(|_| std::hint::spin_loop()); // vary the interleaving
                    if n % 5 == 0 {
                        drop(tx)
                    } else {
                        tx.send(n).unwrap()
                    }
                });
                let got = crate::park_on(rx);
                assert_eq!(got, if n % 5 == 0 { Err(RecvError) } else { Ok(n) });
                sender.join().unwrap();
            }
            done.send(()).unwrap();
        });
        finished.recv_timeout(Duration::from_secs(60)).expect("a reply's wake was lost");
    }
}
