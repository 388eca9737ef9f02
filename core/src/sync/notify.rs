//! Notify: wake one waiting task, or all of them, on one core.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::Waiters;

/// Marks a waiter served by `notify_one` (its notification moves on if it is dropped).
const BY_ONE: usize = 1;
/// Marks a waiter served by `notify_last` (likewise, to the newest waiter).
const BY_LAST: usize = 2;
/// Marks a waiter served by `notify_waiters`.
const BY_ALL: usize = 0;

/// Tells waiting tasks of one core that something happened (`!Sync`, no atomics).
///
/// [`Notify::notify_one`] wakes the longest-waiting task, or, if none waits, lets the next
/// [`Notify::notified`] complete at once (one stored permit, as tokio's `Notify`).
/// [`Notify::notify_waiters`] wakes every `Notified` that exists when it is called, polled
/// or not, and stores nothing: one made afterwards waits for the next notification (as
/// tokio's `Notify`, each `Notified` notes at creation how many `notify_waiters` calls came
/// before it). For [`Notify::notify_one`] a `Notified` counts as waiting from its first
/// poll; until then the notification is kept as the permit.
///
/// ```
/// use std::rc::Rc;
/// use ringpoll::sync::Notify;
///
/// ringpoll::block_on(async {
///     let ready = Rc::new(Notify::new());
///     let waiter = ringpoll::spawn({
///         let ready = ready.clone();
///         async move { ready.notified().await }
///     });
///     ready.notify_one();
///     waiter.await.unwrap();
/// });
/// ```
#[derive(Default)]
pub struct Notify {
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    permit: bool,
    /// How many `notify_waiters` calls there have been (wrapping). A `Notified` compares it
    /// with the count at its creation, so one made before a call but not yet polled (not in
    /// `waiters`) still sees that call.
    generation: u64,
    waiters: Waiters,
}

impl Notify {
    /// A notify with no stored permit.
    pub fn new() -> Notify {
        Notify::default()
    }

    /// Wakes the longest-waiting task, or stores a permit for the next `notified()`.
    pub fn notify_one(&self) {
        let mut st = self.state.borrow_mut();
        match st.waiters.first_unserved() {
            Some(w) => {
                w.wants = BY_ONE;
                w.serve();
            }
            None => st.permit = true,
        }
    }

    /// As [`Notify::notify_one`], but wakes the task that began waiting last (as tokio's);
    /// if that one's [`Notified`] is dropped unused, the notification goes to the next
    /// newest waiter.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use ringpoll::sync::Notify;
    ///
    /// ringpoll::block_on(async {
    ///     let (notify, woken) = (Rc::new(Notify::new()), Rc::new(RefCell::new(Vec::new())));
    ///     let waiters: Vec<_> = (0..2)
    ///         .map(|i| {
    ///             let (notify, woken) = (notify.clone(), woken.clone());
    ///             ringpoll::spawn(async move {
    ///                 notify.notified().await;
    ///                 woken.borrow_mut().push(i);
    ///             })
    ///         })
    ///         .collect();
    ///     ringpoll::yield_now().await; // both wait now, 0 first
    ///     notify.notify_last();
    ///     ringpoll::yield_now().await;
    ///     assert_eq!(*woken.borrow(), [1]);
    ///     notify.notify_last();
    ///     for w in waiters {
    ///         w.await.unwrap();
    ///     }
    ///     assert_eq!(*woken.borrow(), [1, 0]);
    /// });
    /// ```
    pub fn notify_last(&self) {
        let mut st = self.state.borrow_mut();
        match st.waiters.last_unserved() {
            Some(w) => {
                w.wants = BY_LAST;
                w.serve();
            }
            None => st.permit = true,
        }
    }

    /// Wakes every task waiting now, and completes every [`Notified`] made before this call
    /// that has not been polled yet; stores no permit.
    ///
    /// ```
    /// use ringpoll::sync::Notify;
    ///
    /// ringpoll::block_on(async {
    ///     let notify = Notify::new();
    ///     let before = notify.notified(); // made, not polled yet
    ///     notify.notify_waiters();
    ///     before.await; // completes: it existed when notify_waiters was called
    /// });
    /// ```
    pub fn notify_waiters(&self) {
        let mut st = self.state.borrow_mut();
        st.generation = st.generation.wrapping_add(1);
        st.waiters.serve_all(|w| w.wants = BY_ALL);
    }

    /// Waits for a notification: a `notify_waiters` call from now on, or a `notify_one`
    /// (one stored before counts).
    pub fn notified(&self) -> Notified<'_> {
        let generation = self.state.borrow().generation;
        Notified { notify: self, generation, key: None, done: false }
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify").field("permit", &self.state.borrow().permit).finish_non_exhaustive()
    }
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless awaited"]
pub struct Notified<'a> {
    notify: &'a Notify,
    /// `Notify`'s `notify_waiters` count when this was made.
    generation: u64,
    key: Option<u64>,
    done: bool,
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("waiting", &self.key.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        let mut st = self.notify.state.borrow_mut();
        let ready = match self.key {
            // A notify_waiters since creation counts before the permit, which then stays
            // for the next waiter (as tokio).
            None if st.generation != self.generation => true,
            None if std::mem::take(&mut st.permit) => true,
            None => {
                let key = st.waiters.push(BY_ALL, cx.waker().clone());
                drop(st);
                self.key = Some(key);
                return Poll::Pending;
            }
            // Served, or gone: ready either way.
            Some(key) => st.waiters.poll_served(key, cx.waker()).is_ready(),
        };
        drop(st);
        if ready {
            self.key = None;
            self.done = true;
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let removed = self.notify.state.borrow_mut().waiters.remove(key);
        if let Some(w) = removed {
            // A notify_one or notify_last this future never used goes to the next waiter.
            match (w.served, w.wants) {
                (true, BY_ONE) => self.notify.notify_one(),
                (true, BY_LAST) => self.notify.notify_last(),
                _ => {}
            }
        }
    }
}
