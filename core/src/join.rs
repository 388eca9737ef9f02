//! JoinHandle: the output of a task, awaitable from any core (or joined from any thread).
//!
//! The state is a one-shot slot with flag bits instead of a mutex: the task stores its
//! output then sets `VALUE`; the handle stores its waker then sets `WAKER`. Whoever sets its bit
//! second sees the other's and acts (tokio's oneshot protocol, reduced to one value). A third
//! bit, `ABORTED`, carries [`JoinHandle::abort`] to the task, which checks it before each poll.
//! A fourth, `DETACHED`, says the handle is gone: the output is then dropped as soon as it is
//! made, by whichever side sets its bit second, so a detached task keeps no output and no
//! output is ever dropped on a thread that did not hold it. `TAKEN` marks the stored output
//! moved out (or dropped), so it is dropped exactly once.
//!
//! The protocol ([`Join`]) works on parts that may live apart. A task keeps its flags in its
//! header, its joiner's waker in one word beside it, and its output where its future was: the
//! future is dropped when it finishes, so the output costs no bytes of its own (see `task`). A
//! blocking job's parts are one [`JoinState`] in an `Arc`.

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering::*};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use crate::header::{Header, PackedWaker};
use crate::scheduler;

const VALUE: u8 = 1;
const WAKER: u8 = 2;
const ABORTED: u8 = 4;
const DETACHED: u8 = 8;
/// The stored output was moved out or dropped (set by whichever side did it, once).
const TAKEN: u8 = 16;
/// Task side only: the future was dropped (see `task`), its storage free for the output.
pub(crate) const FUTURE_GONE: u8 = 32;

/// Why a task has no output.
pub enum JoinError {
    /// The task was aborted, or its core shut down first.
    Cancelled,
    /// The task panicked; the payload is the panic's.
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panic(_))
    }
    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }
    fn message(&self) -> &str {
        match self {
            JoinError::Cancelled => "cancelled",
            JoinError::Panic(p) => p
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("panic"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("JoinError::Cancelled"),
            JoinError::Panic(_) => write!(f, "JoinError::Panic({:?})", self.message()),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled"),
            JoinError::Panic(_) => write!(f, "task panicked: {}", self.message()),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
}

/// The join protocol over one slot's parts: its flags, its joiner's waker and its output's
/// storage (uninitialized until `VALUE`, moved out once `TAKEN`).
pub(crate) struct Join<'a, T> {
    state: &'a AtomicU8,
    waker: &'a UnsafeCell<Option<PackedWaker>>,
    value: NonNull<Result<T, JoinError>>,
    _value: PhantomData<&'a UnsafeCell<Result<T, JoinError>>>,
}

impl<'a, T> Join<'a, T> {
    /// # Safety
    /// The parts are one slot's, live for `'a`, and used only through this protocol; `value`
    /// is free for the output (no live future there) whenever `complete` is called.
    pub(crate) unsafe fn new(
        state: &'a AtomicU8,
        waker: &'a UnsafeCell<Option<PackedWaker>>,
        value: NonNull<Result<T, JoinError>>,
    ) -> Join<'a, T> {
        Join { state, waker, value, _value: PhantomData }
    }

    /// The task side: store the output and wake the handle. Called at most once.
    pub(crate) fn complete(&self, out: Result<T, JoinError>) {
        if self.state.load(Acquire) & DETACHED != 0 {
            // Nobody will ask: drop it here, where it was made.
            self.state.fetch_or(VALUE | TAKEN, AcqRel);
            drop(out);
            return;
        }
        // SAFETY: VALUE is not set yet, so the handle does not read `value`; only the task
        // side (this call, made once) writes it, and the storage is free (`Join::new`).
        unsafe { self.value.write(out) };
        let prev = self.state.fetch_or(VALUE, AcqRel);
        if prev & DETACHED != 0 {
            // The handle left before it could see VALUE, so it will not take the output.
            self.state.fetch_or(TAKEN, Relaxed);
            // SAFETY: DETACHED was set before VALUE: the handle never reads `value`, and the
            // output was written just above.
            drop(unsafe { self.value.read() });
            return;
        }
        if prev & WAKER != 0 {
            // SAFETY: WAKER was set, so the handle finished writing `waker` and will not touch
            // it again now that VALUE is set (it clears WAKER before writing).
            if let Some(w) = unsafe { (*self.waker.get()).take() } {
                w.into_waker().wake();
            }
        }
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.state.load(Acquire) & VALUE != 0
    }

    /// The handle side: asks the task to stop. SeqCst, as is the core's store of the task's
    /// key: either the abort's wake finds the key, or the task's first poll sees the flag.
    pub(crate) fn abort(&self) {
        self.state.fetch_or(ABORTED, SeqCst);
    }

    /// The task side, before each poll: whether the handle aborted it.
    pub(crate) fn is_aborted(&self) -> bool {
        self.state.load(SeqCst) & ABORTED != 0
    }

    /// The handle side, on drop: the output is not wanted. If it is there already, the handle
    /// drops it; otherwise the task side will (see [`Join::complete`]).
    fn detach(&self) {
        let prev = self.state.fetch_or(DETACHED, AcqRel);
        if prev & VALUE != 0 {
            drop(self.take());
        }
    }

    /// The handle side.
    fn poll(&self, cx: &Context<'_>) -> Poll<Result<T, JoinError>> {
        let state = self.state.load(Acquire);
        if state & VALUE != 0 {
            return Poll::Ready(self.take());
        }
        if state & WAKER != 0 {
            // A waker is stored, and the task may be taking it right now: peeking would race.
            // Clear WAKER to regain exclusive access; if VALUE got in first, the output is ready.
            let prev = self.state.fetch_and(!WAKER, AcqRel);
            if prev & VALUE != 0 {
                return Poll::Ready(self.take());
            }
        }
        // SAFETY: WAKER is clear, so the task side will not touch `waker`.
        let slot = unsafe { &mut *self.waker.get() };
        match slot {
            Some(stored) if stored.will_wake(cx.waker()) => {}
            _ => *slot = Some(PackedWaker::new(cx.waker())),
        }
        let prev = self.state.fetch_or(WAKER, AcqRel);
        if prev & VALUE != 0 {
            return Poll::Ready(self.take());
        }
        Poll::Pending
    }

    /// The handle side, once VALUE was observed (Acquire): the task's write is visible and
    /// done. The handle is the only reader; TAKEN makes a second take (a poll after Ready, a
    /// drop after the poll) see nothing.
    fn take(&self) -> Result<T, JoinError> {
        if self.state.fetch_or(TAKEN, Relaxed) & TAKEN != 0 {
            return Err(JoinError::Cancelled);
        }
        // SAFETY: VALUE without TAKEN: the output is stored and this is its one move out.
        unsafe { self.value.read() }
    }
}

/// A blocking job's slot, all parts together (a task keeps its own inside its allocation).
pub(crate) struct JoinState<T> {
    state: AtomicU8,
    waker: UnsafeCell<Option<PackedWaker>>,
    value: UnsafeCell<MaybeUninit<Result<T, JoinError>>>,
}

// SAFETY: the parts are used only through `Join`: `value` is written by the job before it
// publishes VALUE (Release) and read by the handle only after it observes VALUE (Acquire);
// `waker` is written by the handle only while WAKER is clear and read by the job only after it
// observes WAKER. T crosses threads, hence T: Send.
unsafe impl<T: Send> Send for JoinState<T> {}
// SAFETY: as above; no `&T` is ever handed out through a shared reference.
unsafe impl<T: Send> Sync for JoinState<T> {}

impl<T> JoinState<T> {
    pub(crate) const fn new() -> JoinState<T> {
        JoinState {
            state: AtomicU8::new(0),
            waker: UnsafeCell::new(None),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    fn join(&self) -> Join<'_, T> {
        // SAFETY: the parts are this slot's, borrowed with it; no future shares `value`.
        unsafe { Join::new(&self.state, &self.waker, NonNull::from(&self.value).cast()) }
    }

    /// See [`Join::complete`].
    pub(crate) fn complete(&self, out: Result<T, JoinError>) {
        self.join().complete(out)
    }

    /// See [`Join::is_aborted`].
    pub(crate) fn is_aborted(&self) -> bool {
        self.join().is_aborted()
    }
}

impl<T> Drop for JoinState<T> {
    fn drop(&mut self) {
        // Unreachable by the protocol (the handle takes or drops what was stored), but an
        // output must never leak: drop it if it is still there.
        if *self.state.get_mut() & (VALUE | TAKEN) == VALUE {
            // SAFETY: VALUE without TAKEN: stored and not moved out; `&mut self` is exclusive.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

/// The part of a task every reference sees, whatever the future's type: `repr(C)`, so a
/// pointer to it is a pointer to the header, and it starts every task's allocation
/// (`task::TaskCell`). The join flags are in the header; the output goes where the future was.
#[repr(C)]
pub(crate) struct Shared {
    pub(crate) header: Header,
    /// The handle's waker, while it waits for the output.
    pub(crate) joiner: UnsafeCell<Option<PackedWaker>>,
}

impl Shared {
    /// The join slot of the task at `shared`, for an output of type `T`. A raw pointer, not
    /// `&self`: the output lies beyond `Shared`, in the rest of the allocation.
    ///
    /// # Safety
    /// `shared` starts a live task allocation (with its provenance) whose output is `T`, for
    /// `'a`; the caller does not call `complete` (the task side has its own way in).
    pub(crate) unsafe fn join<'a, T>(shared: NonNull<Shared>) -> Join<'a, T> {
        // SAFETY: live for 'a (the caller).
        let this = unsafe { shared.as_ref() };
        // SAFETY: the vtable's offset is where this allocation keeps its future, and then
        // its output (`task::Stage`), within the allocation.
        let output = unsafe { shared.cast::<u8>().add(this.header.vtable.output_offset) };
        // SAFETY: the header's flags, the joiner word and the output storage are this task's;
        // the caller vouches for `T`, and the handle side never writes the output.
        unsafe { Join::new(this.header.join_state(), &this.joiner, output.cast()) }
    }
}

/// A counted reference to a task's shared part: what a `JoinHandle` holds.
pub(crate) struct TaskRef<T> {
    shared: NonNull<Shared>,
    /// The output type, not owned here (the join protocol moves it): a handle is `Unpin`
    /// and covariant whatever `T` is.
    _output: PhantomData<fn() -> T>,
}

// SAFETY: through a TaskRef only the header (atomics) and the join slot (its own protocol,
// `T: Send`) are reached; the future is never touched.
unsafe impl<T: Send> Send for TaskRef<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for TaskRef<T> {}

impl<T> TaskRef<T> {
    /// Wraps a reference the caller owns.
    ///
    /// # Safety
    /// `shared` is live, starts the allocation of a task whose output is `T`, and the caller
    /// gives up one reference.
    pub(crate) unsafe fn from_raw(shared: NonNull<Shared>) -> TaskRef<T> {
        TaskRef { shared, _output: PhantomData }
    }

    pub(crate) fn join(&self) -> Join<'_, T> {
        // SAFETY: this reference keeps the cell alive; its output type is T (`from_raw`), and
        // the handle side never calls `complete`.
        unsafe { Shared::join(self.shared) }
    }

    /// Schedules the task (an abort: its core then drops it).
    pub(crate) fn wake(&self) {
        // SAFETY: this reference keeps the cell alive.
        unsafe { self.shared.as_ref() }.header.wake_by_ref();
    }
}

impl<T> Drop for TaskRef<T> {
    fn drop(&mut self) {
        // SAFETY: this reference is owned.
        unsafe { Header::release(self.shared.cast()) };
    }
}

/// The handle of a spawned task: a future of its output.
///
/// Dropping it detaches the task, which keeps running. [`JoinHandle::abort`] cancels it. A
/// task that panicked yields [`JoinError::Panic`]; its core keeps running.
#[must_use = "dropping a JoinHandle detaches the task; await it or call .detach() to be explicit"]
pub struct JoinHandle<T> {
    inner: Inner<T>,
}

enum Inner<T> {
    /// A task's: its one allocation, whose waker `abort` uses to schedule the task so its
    /// core drops it.
    Task(TaskRef<T>),
    /// A blocking job's: the job checks the abort flag when a pool thread takes it.
    Blocking(Arc<JoinState<T>>),
}

impl<T> JoinHandle<T> {
    pub(crate) fn task(task: TaskRef<T>) -> JoinHandle<T> {
        JoinHandle { inner: Inner::Task(task) }
    }

    pub(crate) fn blocking(state: Arc<JoinState<T>>) -> JoinHandle<T> {
        JoinHandle { inner: Inner::Blocking(state) }
    }

    fn state(&self) -> Join<'_, T> {
        match &self.inner {
            Inner::Task(task) => task.join(),
            Inner::Blocking(state) => state.join(),
        }
    }

    /// Cancels the task: it is dropped at its core's next turn (at once if it has not
    /// started), and the handle yields [`JoinError::Cancelled`] unless it finished first.
    pub fn abort(&self) {
        self.state().abort();
        if let Inner::Task(task) = &self.inner {
            task.wake();
        }
    }

    /// Whether the task has finished (output ready, panicked or cancelled).
    pub fn is_finished(&self) -> bool {
        self.state().is_complete()
    }

    /// Lets the task run on without a handle.
    pub fn detach(self) {}

    /// Blocks the calling thread until the task finishes. For threads outside the runtime
    /// (main, tests); on a ringpoll core it would stall every task there, so it panics.
    #[track_caller]
    pub fn join(self) -> Result<T, JoinError> {
        assert!(!scheduler::on_core(), "JoinHandle::join would block a ringpoll core; .await the handle instead");
        park_on(self)
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.state().detach();
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.state().poll(cx)
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("finished", &self.is_finished()).finish()
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on the calling thread, parking the thread between wakes. There is no reactor
/// here: use it outside the runtime for futures other threads complete (a [`JoinHandle`], a
/// signal); I/O and timers need a core ([`block_on`](crate::block_on) or a `Runtime`).
///
/// # Panics
/// On a ringpoll core (a `Runtime` thread or inside `block_on`), where parking the thread
/// would stall every task of the core, the ones that should complete `fut` perhaps among
/// them: `.await` the future there instead.
#[track_caller]
pub fn park_on<F: Future>(fut: F) -> F::Output {
    assert!(!scheduler::on_core(), "ringpoll::park_on would block a ringpoll core; .await the future instead");
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringpoll_reactor::counting_waker::WakeCount;

    #[test]
    fn the_output_set_before_the_poll_is_ready_at_once() {
        let state = JoinState::new();
        state.complete(Ok(7));
        let waker = Waker::from(Arc::new(WakeCount::default()));
        assert!(matches!(state.join().poll(&Context::from_waker(&waker)), Poll::Ready(Ok(7))));
    }

    #[test]
    fn a_parked_handle_is_woken_once_by_completion() {
        let state = JoinState::<u32>::new();
        let count = Arc::new(WakeCount::default());
        let waker = Waker::from(count.clone());
        let cx = Context::from_waker(&waker);
        assert!(state.join().poll(&cx).is_pending());
        assert!(state.join().poll(&cx).is_pending(), "re-polling replaces the waker");
        state.complete(Err(JoinError::Cancelled));
        assert_eq!(count.get(), 1);
        assert!(matches!(state.join().poll(&cx), Poll::Ready(Err(JoinError::Cancelled))));
    }

    #[test]
    fn completion_racing_the_poll_from_another_thread_is_never_lost() {
        for _ in 0..50 {
            let state = Arc::new(JoinState::<String>::new());
            let count = Arc::new(WakeCount::default());
            let waker = Waker::from(count.clone());
            let remote = state.clone();
            let t = std::thread::spawn(move || remote.complete(Ok("done".to_string())));
            let cx = Context::from_waker(&waker);
            let out = loop {
                if let Poll::Ready(out) = state.join().poll(&cx) {
                    break out;
                }
                // Pending: the completion must wake us (or have done so already).
                while count.get() == 0 && !state.join().is_complete() {
                    std::thread::yield_now();
                }
            };
            t.join().unwrap();
            assert_eq!(out.unwrap(), "done");
        }
    }

    #[test]
    fn join_error_messages_carry_the_panic() {
        let err = JoinError::Panic(Box::new("bad input"));
        assert!(err.is_panic() && !err.is_cancelled());
        assert_eq!(err.to_string(), "task panicked: bad input");
        assert_eq!(std::io::Error::from(JoinError::Cancelled).to_string(), "task was cancelled");
    }

    #[test]
    fn a_handle_is_unpin_send_and_sync_whatever_its_output() {
        fn check<H: Unpin + Send + Sync>() {}
        check::<JoinHandle<std::marker::PhantomPinned>>();
    }
}
