//! A fair, single-core async semaphore: permits are granted in the order they were asked for.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use super::waiters::Waiters;

/// A counting semaphore for the tasks of one core (`!Sync`, no atomics).
///
/// Waiters are served first come, first served: a large request at the front is not passed
/// by smaller ones behind it. A released or dropped [`SemaphorePermit`] gives its permits
/// back; a dropped [`Acquire`] leaves the queue (returning permits it had been granted).
///
/// ```
/// use ringpoll::sync::Semaphore;
///
/// ringpoll::block_on(async {
///     let limit = Semaphore::new(2);
///     let a = limit.acquire().await.unwrap();
///     let _b = limit.acquire().await.unwrap();
///     assert!(limit.try_acquire().is_none());
///     drop(a);
///     assert!(limit.try_acquire().is_some());
/// });
/// ```
pub struct Semaphore {
    state: RefCell<State>,
}

struct State {
    permits: usize,
    closed: bool,
    waiters: Waiters,
}

/// The semaphore was closed while (or before) waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireError;

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

impl Semaphore {
    /// A semaphore with `permits` available.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore { state: RefCell::new(State { permits, closed: false, waiters: Waiters::default() }) }
    }

    /// Permits available right now.
    pub fn available_permits(&self) -> usize {
        self.state.borrow().permits
    }

    /// Adds `n` permits, serving waiters in order. The count saturates at `usize::MAX`, so a
    /// semaphore made with `usize::MAX` permits ("no limit") takes permits back without
    /// overflowing (tokio's panics past its own maximum instead).
    pub fn add_permits(&self, n: usize) {
        let mut st = self.state.borrow_mut();
        st.permits = st.permits.saturating_add(n);
        let State { permits, waiters, .. } = &mut *st;
        for w in waiters.iter_mut().filter(|w| !w.served) {
            if w.wants > *permits {
                break; // strict FIFO: nobody passes the front
            }
            *permits -= w.wants;
            w.serve();
        }
    }

    /// Waits for one permit.
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits, all at once.
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire { sem: self, n, key: None }
    }

    /// One permit if it is available now and nobody is waiting ahead.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_acquire_many(1)
    }

    /// `n` permits if they are all available now and nobody is waiting ahead (a waiter is
    /// never passed, even by a request it leaves room for). `None` once closed.
    ///
    /// ```
    /// use ringpoll::sync::Semaphore;
    ///
    /// let sem = Semaphore::new(3);
    /// let two = sem.try_acquire_many(2).expect("3 free");
    /// assert!(sem.try_acquire_many(2).is_none(), "1 free");
    /// drop(two);
    /// assert_eq!(sem.try_acquire_many(3).map(|p| p.num_permits()), Some(3));
    /// ```
    pub fn try_acquire_many(&self, n: usize) -> Option<SemaphorePermit<'_>> {
        // Not `then_some`: a permit built and dropped on failure would add `n` permits.
        if self.try_take(n) {
            Some(SemaphorePermit { sem: self, n })
        } else {
            None
        }
    }

    /// Waits for one permit, held by an owned handle on the semaphore rather than a borrow:
    /// the permit can move into a spawned task (a connection limit, say) and is given back
    /// when that task drops it, or is dropped itself (aborted, or ends).
    ///
    /// ```
    /// use std::rc::Rc;
    /// use ringpoll::sync::Semaphore;
    ///
    /// ringpoll::block_on(async {
    ///     let connections = Rc::new(Semaphore::new(1));
    ///     let permit = connections.clone().acquire_owned().await.unwrap();
    ///     let task = ringpoll::spawn(async move {
    ///         let _permit = permit; // held while the "connection" is served
    ///     });
    ///     assert_eq!(connections.available_permits(), 0);
    ///     task.await.unwrap();
    ///     assert_eq!(connections.available_permits(), 1, "given back when the task ended");
    /// });
    /// ```
    pub async fn acquire_owned(self: Rc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_many_owned(1).await
    }

    /// Waits for `n` permits at once, as [`Semaphore::acquire_owned`].
    pub async fn acquire_many_owned(self: Rc<Self>, n: usize) -> Result<OwnedSemaphorePermit, AcquireError> {
        // The borrowed permit is turned into the owned one; dropping this future while it
        // waits drops the `Acquire`, which leaves the queue as ever.
        self.acquire_many(n).await?.forget();
        Ok(OwnedSemaphorePermit { sem: self, n })
    }

    /// One permit, owned (see [`Semaphore::acquire_owned`]), if [`Semaphore::try_acquire`]
    /// would give it.
    pub fn try_acquire_owned(self: Rc<Self>) -> Option<OwnedSemaphorePermit> {
        self.try_acquire_many_owned(1)
    }

    /// `n` permits, owned, if [`Semaphore::try_acquire_many`] would give them.
    pub fn try_acquire_many_owned(self: Rc<Self>, n: usize) -> Option<OwnedSemaphorePermit> {
        // The borrowed permit is turned into the owned one, as in `acquire_many_owned`.
        self.try_acquire_many(n)?.forget();
        Some(OwnedSemaphorePermit { sem: self, n })
    }

    /// Takes `n` permits if they are free, the semaphore open and nobody queued.
    fn try_take(&self, n: usize) -> bool {
        let mut st = self.state.borrow_mut();
        if st.closed || st.permits < n || st.waiters.first_unserved().is_some() {
            return false;
        }
        st.permits -= n;
        true
    }

    /// Closes the semaphore: waiting and future acquires fail with [`AcquireError`]; permits
    /// already held stay valid.
    pub fn close(&self) {
        let mut st = self.state.borrow_mut();
        st.closed = true;
        st.waiters.serve_all(|w| w.wants = 0); // tells poll_acquire and cancel that nothing was granted
    }

    /// Whether [`Semaphore::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    /// The state machine of an acquire, for futures that cannot borrow the semaphore
    /// (a channel's send holds it in an `Rc`). `key` is the waiter's place in the queue.
    pub(crate) fn poll_acquire(
        &self,
        n: usize,
        key: &mut Option<u64>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        let mut st = self.state.borrow_mut();
        if let Some(k) = *key {
            let served = ready!(st.waiters.poll_served(k, cx.waker()));
            *key = None;
            // close() serves with `wants` zeroed: no permits came with it.
            let granted = served.is_some_and(|w| w.wants == n);
            return Poll::Ready(if granted { Ok(()) } else { Err(AcquireError) });
        }
        if st.closed {
            return Poll::Ready(Err(AcquireError));
        }
        if n == 0 {
            return Poll::Ready(Ok(()));
        }
        if st.permits >= n && st.waiters.first_unserved().is_none() {
            st.permits -= n;
            return Poll::Ready(Ok(()));
        }
        *key = Some(st.waiters.push(n, cx.waker().clone()));
        Poll::Pending
    }

    /// A waiting acquire was dropped: leave the queue, give back what was granted, and let
    /// the waiters behind it try again.
    pub(crate) fn cancel(&self, n: usize, key: Option<u64>) {
        let Some(k) = key else {
            return;
        };
        let removed = self.state.borrow_mut().waiters.remove(k);
        match removed {
            Some(w) if w.served && w.wants == n => self.add_permits(n),
            _ => self.add_permits(0),
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Semaphore").field("permits", &st.permits).field("closed", &st.closed).finish()
    }
}

/// Permits held; dropping it gives them back.
#[must_use = "dropping a permit releases it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl SemaphorePermit<'_> {
    /// Keeps the permits taken for good (they are not given back on drop).
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.add_permits(self.n);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").field("permits", &self.n).finish()
    }
}

/// Permits held through an `Rc` of their semaphore (see [`Semaphore::acquire_owned`]), so
/// they may outlive the borrow that took them; dropping it gives them back.
#[must_use = "dropping a permit releases it at once"]
pub struct OwnedSemaphorePermit {
    sem: Rc<Semaphore>,
    n: usize,
}

impl OwnedSemaphorePermit {
    /// Keeps the permits taken for good (they are not given back on drop).
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// The semaphore the permits came from.
    pub fn semaphore(&self) -> &Rc<Semaphore> {
        &self.sem
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.add_permits(self.n);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit").field("permits", &self.n).finish()
    }
}

/// The future of [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    n: usize,
    key: Option<u64>,
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("permits", &self.n)
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let n = this.n;
        this.sem.poll_acquire(n, &mut this.key, cx).map(|r| r.map(|()| SemaphorePermit { sem: this.sem, n }))
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        self.sem.cancel(self.n, self.key.take());
    }
}
