//! A task's one allocation: its header, its joiner's waker, and its future, which its output
//! replaces.
//!
//! `spawn` allocates a [`TaskCell`] once; the waker, the `JoinHandle` and the core's slot all
//! point into it, counted by the header. Nothing else is allocated per task, and the join
//! slot costs one word beside the header: its flags share the header's reference-count word,
//! and the output is written where the future was, once the future has been dropped. So a
//! task's fixed cost is 40 bytes whatever its output, and a detached task (its handle
//! dropped) drops its output as soon as it is made.
//!
//! Who may touch what:
//! - the header: any thread (atomics, see `header`);
//! - the joiner's waker and the output: the join protocol (see `join`): the task side (the
//!   core, or the spawn in flight) writes the output once, the handle reads it;
//! - the future: the owning core only, through its [`LocalTask`]. It is dropped where it lies
//!   when it finishes, or by the `LocalTask`'s drop. So the allocation's last reference, which
//!   frees it, may be dropped on any thread: by then nothing `!Send` is left in it.
//!
//! [`LocalTask::poll`] turns a panic into [`JoinError::Panic`] so the core survives it, and
//! a task dropped unfinished (abort, shutdown) reports [`JoinError::Cancelled`] (or the
//! panic of its future's destructor, which is caught for the same reason). An aborted
//! task finishes without polling its future again, so its core drops it.

use std::any::Any;
use std::cell::UnsafeCell;
use std::future::Future;
use std::mem::{offset_of, ManuallyDrop};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::header::{owned_waker, Header, TaskVtable};
use crate::join::{Join, JoinError, JoinHandle, Shared, TaskRef, FUTURE_GONE};
use crate::mailbox::Mailbox;

/// The whole allocation.
#[repr(C)]
struct TaskCell<F: Future> {
    shared: Shared,
    /// The future once it exists (at once for a local spawn; on its core for a spawn from
    /// elsewhere), then the output. Neither is dropped with the cell: the core drops the
    /// future, the join protocol moves or drops the output.
    stage: UnsafeCell<Stage<F>>,
}

/// The future while it runs, the output after: the two never live at once.
#[repr(C)]
union Stage<F: Future> {
    future: ManuallyDrop<F>,
    output: ManuallyDrop<Result<F::Output, JoinError>>,
}

impl<F: Future + 'static> TaskCell<F> {
    const VTABLE: TaskVtable = TaskVtable {
        poll: poll::<F>,
        drop_future: drop_future::<F>,
        dealloc: dealloc::<F>,
        output_offset: offset_of!(TaskCell<F>, stage),
    };
}

impl<F: Future> TaskCell<F> {
    /// The join slot, task side.
    fn join(&self) -> Join<'_, F::Output> {
        // The output goes where the future was: a union field, at the union's start.
        let output = NonNull::new(self.stage.get()).expect("a field is never null").cast();
        // SAFETY: this task's parts; the task side completes the slot only once the future is
        // gone (`poll`, `drop_future`) or was never written (`Unstarted`).
        unsafe { Join::new(self.shared.header.join_state(), &self.shared.joiner, output) }
    }

    /// Drops the future where it lies, once; its storage is then free for the output.
    /// Returns the panic of a destructor that panicked.
    ///
    /// # Safety
    /// The owning core, with the future started.
    unsafe fn drop_future_once(&self) -> Option<Box<dyn Any + Send>> {
        // Marked first: a future whose drop panics is not dropped again.
        let state = self.shared.header.join_state();
        if state.fetch_or(FUTURE_GONE, Relaxed) & FUTURE_GONE != 0 {
            return None;
        }
        // Caught, as tokio does: unwinding from here would leave the core's loop (stopping
        // the core, its other tasks with it) before the task's handle is completed, so the
        // handle would wait forever.
        catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: started, and not dropped yet (FUTURE_GONE was clear); only the owning
            // core touches it.
            unsafe { ManuallyDrop::drop(&mut (*self.stage.get()).future) }
        }))
        .err()
    }
}

/// Allocates a task whose future comes later, on its core (see [`Unstarted::start`]).
pub(crate) fn allocate<F: Future + 'static>(mailbox: Arc<Mailbox>) -> Unstarted<F> {
    let cell = Box::new(TaskCell::<F> {
        shared: Shared { header: Header::new(mailbox, &TaskCell::<F>::VTABLE), joiner: UnsafeCell::new(None) },
        stage: UnsafeCell::new(Stage { output: ManuallyDrop::new(Err(JoinError::Cancelled)) }),
    });
    Unstarted { cell: NonNull::from(Box::leak(cell)) }
}
/// Allocates a task for `future`, on the calling core: its slot's task and its handle.
pub(crate) fn new_local<F: Future + 'static>(future: F, mailbox: Arc<Mailbox>) -> (LocalTask, JoinHandle<F::Output>) {
    let unstarted = allocate::<F>(mailbox);
    let handle = JoinHandle::task(unstarted.handle());
    (unstarted.start(future), handle)
}

/// A task allocated before its future exists; holds one reference.
pub(crate) struct Unstarted<F: Future> {
    cell: NonNull<TaskCell<F>>,
}

// SAFETY: an unstarted task holds no future yet; what other threads may reach through it is
// the header and the join slot, whose output is `Send` by the bound.
unsafe impl<F: Future> Send for Unstarted<F> where F::Output: Send {}

impl<F: Future> Unstarted<F> {
    fn cell(&self) -> &TaskCell<F> {
        // SAFETY: this reference keeps the cell alive.
        unsafe { self.cell.as_ref() }
    }

    /// The join slot, for reporting an outcome without running (a panic making the future,
    /// a core that never ran it): no future was written, so the output's storage is free.
    pub(crate) fn join(&self) -> Join<'_, F::Output> {
        self.cell().join()
    }

    /// One more reference, for the task's handle.
    pub(crate) fn handle(&self) -> TaskRef<F::Output> {
        self.cell().shared.header.retain();
        // SAFETY: the reference just taken is the TaskRef's; `Shared` starts the cell.
        unsafe { TaskRef::from_raw(self.cell.cast()) }
    }

    /// Stores the future; the reference becomes the core's. Called on the owning core.
    pub(crate) fn start(self, future: F) -> LocalTask {
        let this = ManuallyDrop::new(self);
        // SAFETY: the future is written once, before any poll, by the only owner of the cell
        // that may touch it.
        unsafe { (*this.cell.as_ref().stage.get()).future = ManuallyDrop::new(future) };
        LocalTask { header: this.cell.cast() }
    }
}

impl<F: Future> Drop for Unstarted<F> {
    fn drop(&mut self) {
        // SAFETY: this reference is owned; no future was written, so nothing `!Send` is left.
        unsafe { Header::release(self.cell.cast()) };
    }
}

/// A task as its core keeps it: the reference that owns the future. Dropping it drops the
/// future (reporting `Cancelled` if it had not finished).
pub(crate) struct LocalTask {
    header: NonNull<Header>,
}

impl LocalTask {
    /// Records the task's slab key, for its wakers.
    pub(crate) fn assign(&self, key: ringpoll_reactor::slab::Key) {
        // SAFETY: this reference keeps the cell alive.
        unsafe { self.header.as_ref() }.assign(key);
    }

    /// Polls the future once. Ready: it finished (its output is in the join slot), panicked
    /// or was aborted; the caller drops the task.
    pub(crate) fn poll(&mut self) -> Poll<()> {
        // Lent, not counted: the waker borrows this task's reference for the poll, so no poll
        // touches the reference count. Never dropped, so it never gives the reference up.
        // SAFETY: the reference outlives the poll; ManuallyDrop keeps it from being released.
        let waker = ManuallyDrop::new(unsafe { owned_waker(self.header) });
        let waker: &Waker = &waker;
        // SAFETY: a LocalTask holds a started future and lives on its core.
        unsafe { (self.header.as_ref().vtable.poll)(self.header, &mut Context::from_waker(waker)) }
    }
}

impl Drop for LocalTask {
    fn drop(&mut self) {
        // SAFETY: the future was started and is dropped once, here, on its core; then the
        // core's reference goes.
        unsafe {
            (self.header.as_ref().vtable.drop_future)(self.header);
            Header::release(self.header);
        }
    }
}

unsafe fn cell<'a, F: Future>(header: NonNull<Header>) -> &'a TaskCell<F> {
    // SAFETY (of the callers): `header` starts a live TaskCell<F> (repr(C): offset 0).
    unsafe { header.cast::<TaskCell<F>>().as_ref() }
}

unsafe fn poll<F: Future>(header: NonNull<Header>, cx: &mut Context<'_>) -> Poll<()> {
    // SAFETY: the vtable of a TaskCell<F>, called by its LocalTask.
    let cell = unsafe { cell::<F>(header) };
    if cell.join().is_aborted() {
        return Poll::Ready(());
    }
    // SAFETY: the future was written by `start`, is only touched by the owning core, and
    // never moves: it lives in the allocation until it is dropped, and it is not polled after
    // it finished (the core drops a task that returned Ready).
    let future = unsafe { Pin::new_unchecked(&mut *(*cell.stage.get()).future) };
    let out = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
        Ok(Poll::Pending) => return Poll::Pending,
        Ok(Poll::Ready(out)) => Ok(out),
        Err(panic) => Err(JoinError::Panic(panic)),
    };
    // SAFETY: the owning core, the future started; the output then takes its storage. The
    // output was made, so it is what the handle gets even if the destructor panicked (tokio).
    drop(unsafe { cell.drop_future_once() });
    // A detached task's output is dropped in here, on the core: a destructor that panics is
    // caught for the same reason as the future's. The slot is consistent by then (VALUE and
    // TAKEN are set before the drop), so there is nothing to undo.
    let _ = catch_unwind(AssertUnwindSafe(|| cell.join().complete(out)));
    Poll::Ready(())
}

unsafe fn drop_future<F: Future>(header: NonNull<Header>) {
    // SAFETY: the vtable of a TaskCell<F>, called once by its LocalTask.
    let cell = unsafe { cell::<F>(header) };
    // SAFETY: the owning core, the future started (and perhaps dropped by `poll` already).
    let panicked = unsafe { cell.drop_future_once() };
    // Only the task side completes the slot, and this is the task side: no race. A
    // destructor's panic is the handle's error, as tokio reports it.
    if !cell.join().is_complete() {
        cell.join().complete(Err(panicked.map_or(JoinError::Cancelled, JoinError::Panic)));
    }
}

unsafe fn dealloc<F: Future>(header: NonNull<Header>) {
    // SAFETY: the last reference to a TaskCell<F> made by `allocate` from a Box; its future
    // is gone and its output moved or dropped by the join protocol (Stage drops neither).
    drop(unsafe { Box::from_raw(header.cast::<TaskCell<F>>().as_ptr()) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::join::JoinHandle;
    use ringpoll_reactor::Break;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn mailbox() -> Arc<Mailbox> {
        Mailbox::new(Arc::new(Break::new(true).expect("eventfd"))).0
    }

    fn join_poll<T>(handle: &mut JoinHandle<T>) -> Poll<Result<T, JoinError>> {
        Pin::new(handle).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_panic_becomes_a_join_error() {
        let (mut task, mut handle) = new_local(async { panic!("in the task") }, mailbox());
        assert!(task.poll().is_ready());
        match join_poll(&mut handle) {
            Poll::Ready(Err(e)) => assert!(e.is_panic()),
            _ => panic!("the panic must reach the handle"),
        }
    }

    #[test]
    fn dropping_an_unfinished_task_cancels_its_handle() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Guard;
        impl Drop for Guard {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::SeqCst);
            }
        }
        let guard = Guard;
        let (mut task, mut handle) = new_local(
            async move {
                let _g = guard;
                std::future::pending::<()>().await
            },
            mailbox(),
        );
        assert!(task.poll().is_pending());
        drop(task);
        assert_eq!(DROPS.load(Ordering::SeqCst), 1, "the future's state is dropped");
        assert!(matches!(join_poll(&mut handle), Poll::Ready(Err(JoinError::Cancelled))));
    }

    #[test]
    fn an_aborted_task_finishes_without_polling_its_future_and_reports_cancelled() {
        let polled = Arc::new(AtomicUsize::new(0));
        let seen = polled.clone();
        let (mut task, mut handle) = new_local(
            std::future::poll_fn(move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
                Poll::<()>::Pending
            }),
            mailbox(),
        );
        assert!(task.poll().is_pending());
        handle.abort();
        assert!(task.poll().is_ready(), "an aborted task is done");
        assert_eq!(polled.load(Ordering::SeqCst), 1, "its future is not polled again");
        assert!(join_poll(&mut handle).is_pending(), "cancelled once dropped, not before");
        drop(task);
        assert!(matches!(join_poll(&mut handle), Poll::Ready(Err(JoinError::Cancelled))));
    }

    #[test]
    fn a_detached_task_drops_its_output_at_once_and_the_last_waker_frees_it() {
        let out = Arc::new(());
        let kept = out.clone();
        // A waker kept past the task's end (as a timer or another thread may).
        let slot = Arc::new(std::sync::Mutex::new(None::<Waker>));
        let grabbed = slot.clone();
        let (mut task, handle) = new_local(
            std::future::poll_fn(move |cx| {
                *grabbed.lock().unwrap() = Some(cx.waker().clone());
                Poll::Ready(kept.clone())
            }),
            mailbox(),
        );
        drop(handle);
        assert!(task.poll().is_ready());
        assert_eq!(
            Arc::strong_count(&out),
            1,
            "no handle: the output is dropped when made, the finished future before it"
        );
        drop(task);
        let waker = slot.lock().unwrap().take().expect("the future kept its waker");
        waker.wake_by_ref();
        drop(waker);
    }

    #[test]
    fn a_joining_task_gets_the_output_through_its_packed_waker() {
        let (mut worker, handle) = new_local(async { String::from("done") }, mailbox());
        let (mut joiner, mut joined) = new_local(handle, mailbox());
        // The joiner parks in the handle, leaving its own (packed, counted) waker there.
        assert!(joiner.poll().is_pending());
        assert!(worker.poll().is_ready(), "the worker finishes and wakes the joiner");
        drop(worker);
        assert!(joiner.poll().is_ready());
        drop(joiner);
        match join_poll(&mut joined) {
            Poll::Ready(Ok(Ok(out))) => assert_eq!(out, "done"),
            _ => panic!("the output passes through both slots"),
        }
        assert!(matches!(join_poll(&mut joined), Poll::Ready(Err(JoinError::Cancelled))), "taken once");
    }

    #[test]
    fn an_output_larger_than_its_future_is_kept_whole() {
        let (mut task, mut handle) = new_local(async { [7u8; 500] }, mailbox());
        assert!(task.poll().is_ready());
        drop(task);
        match join_poll(&mut handle) {
            Poll::Ready(Ok(out)) => assert!(out.iter().all(|&b| b == 7)),
            _ => panic!("the output is ready"),
        }
    }

    #[test]
    fn an_output_never_awaited_is_dropped_with_the_handle() {
        let out = Arc::new(());
        let kept = out.clone();
        let (mut task, handle) = new_local(async move { kept }, mailbox());
        assert!(task.poll().is_ready());
        drop(task);
        assert_eq!(Arc::strong_count(&out), 2, "stored for the handle");
        drop(handle);
        assert_eq!(Arc::strong_count(&out), 1, "dropped by the handle that never asked");
    }

    #[test]
    fn one_allocation_holds_header_join_slot_and_future() {
        // The layout the idle-memory budget counts on: the header and the joiner's waker, then
        // the future, whose storage the output reuses: nothing beside it.
        type Fut = std::future::Ready<std::io::Result<()>>;
        let overhead = std::mem::size_of::<TaskCell<Fut>>() - std::mem::size_of::<Stage<Fut>>();
        assert_eq!(overhead, 40, "a task's fixed cost");
        // A future of 288 bytes (the echo example's) fits a 336-byte malloc chunk.
        type Echo = std::future::Ready<[u64; 35]>;
        assert_eq!(std::mem::size_of::<Echo>(), 288);
        assert_eq!(std::mem::size_of::<TaskCell<Echo>>(), 328);
    }
}
