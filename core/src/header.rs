//! The shared, thread-safe part of a task: what its `Waker` and `JoinHandle` point to.
//!
//! A task is one allocation (see `task`): this header, its joiner's waker, then the future (and
//! then its output). Other threads touch the header (a reference count and the join flags,
//! where the task lives: its core's mailbox and its slab key, and the functions that know the
//! future's type) and, by the join protocol, the joiner's waker and the output. A wake on
//! the owning core pushes onto the local run queue with no atomic read-modify-write; a wake
//! from elsewhere goes through the mailbox and the eventfd.
//!
//! The future itself never leaves its core: only the core's own reference (the task's slot,
//! a `LocalTask`) drops it, so the last reference, which frees the memory, may go on any
//! thread.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicU8, Ordering::*};
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use ringpoll_reactor::slab::Key;

use crate::mailbox::{Mailbox, Msg};
use crate::scheduler;

/// A task's id before its core has inserted it. No slab key packs to it: a slab never hands
/// out a generation of `u32::MAX`.
const UNASSIGNED: u64 = u64::MAX;

/// What only the task's concrete type knows.
pub(crate) struct TaskVtable {
    /// Polls the future (owning core only, future live).
    pub(crate) poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<()>,
    /// Drops the future and, unless it finished, reports `Cancelled` (owning core only, once).
    pub(crate) drop_future: unsafe fn(NonNull<Header>),
    /// Frees the allocation (the last reference, on any thread; the future is gone).
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Where the allocation keeps its future, and then its output, from the header's start.
    pub(crate) output_offset: usize,
}

pub(crate) struct Header {
    /// References: the core's slot, the JoinHandle, wakers, a spawn in flight. 32 bits, so
    /// the join flags share its word.
    refs: AtomicU32,
    /// The join slot's flags (see `join`).
    join: AtomicU8,
    /// The task's slab key ([`Key::to_u64`]), set once by the owning core.
    id: AtomicU64,
    mailbox: Arc<Mailbox>,
    pub(crate) vtable: &'static TaskVtable,
}

impl Header {
    /// A header with one reference, for a task not inserted yet.
    pub(crate) fn new(mailbox: Arc<Mailbox>, vtable: &'static TaskVtable) -> Header {
        Header { refs: AtomicU32::new(1), join: AtomicU8::new(0), id: AtomicU64::new(UNASSIGNED), mailbox, vtable }
    }

    /// Records the task's key. Wakes before this are dropped: harmless, as a task is queued
    /// when it is inserted and its first poll sees whatever they announced.
    pub(crate) fn assign(&self, key: Key) {
        self.id.store(key.to_u64(), SeqCst);
    }

    /// Takes one more reference.
    pub(crate) fn retain(&self) {
        // Relaxed, as Arc::clone: a new reference is made from one already held.
        if self.refs.fetch_add(1, Relaxed) > i32::MAX as u32 {
            std::process::abort();
        }
    }

    /// Drops one reference; the last frees the task.
    ///
    /// # Safety
    /// `header` is live and the caller owns the reference it gives up.
    pub(crate) unsafe fn release(header: NonNull<Header>) {
        // SAFETY: the caller's reference keeps the header alive until the decrement.
        let h = unsafe { header.as_ref() };
        if h.refs.fetch_sub(1, Release) != 1 {
            return;
        }
        // As Arc's drop: every other reference's uses happen before the free.
        fence(Acquire);
        // SAFETY: that was the last reference, and `vtable.dealloc` matches the allocation.
        unsafe { (h.vtable.dealloc)(header) };
    }

    /// The join slot's flags.
    pub(crate) fn join_state(&self) -> &AtomicU8 {
        &self.join
    }

    /// Schedules the task: on its own core directly, from elsewhere through the mailbox.
    pub(crate) fn wake_by_ref(&self) {
        let id = self.id.load(SeqCst);
        if id == UNASSIGNED || scheduler::wake_local(&self.mailbox, Key::from_u64(id)) {
            return;
        }
        self.mailbox.send(Msg::Wake(Key::from_u64(id)));
    }
}

/// A waker of the task behind `header` that owns one reference.
///
/// # Safety
/// The caller gives that reference up to the waker.
pub(crate) unsafe fn owned_waker(header: NonNull<Header>) -> Waker {
    // SAFETY: the vtable's functions honour RawWaker's contract for a counted header pointer,
    // and the header is Sync: its fields are atomics, an Arc and a static.
    unsafe { Waker::from_raw(RawWaker::new(header.as_ptr().cast_const().cast(), &WAKER_VTABLE)) }
}

static WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

fn header(data: *const ()) -> NonNull<Header> {
    // SAFETY (of the callers): `data` is a live header pointer made by `owned_waker`.
    NonNull::new(data.cast_mut().cast()).expect("a waker's header pointer is never null")
}

unsafe fn clone_waker(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned holds a reference.
    unsafe { header(data).as_ref() }.retain();
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: the waker holds a reference, given up here.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the waker holds a reference.
    unsafe { header(data).as_ref() }.wake_by_ref();
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the waker's reference is given up.
    unsafe { Header::release(header(data)) };
}

/// A waker in one word, for a join slot: a task's waker is its header pointer (holding a
/// reference, as the waker did), which is what a joiner on a ringpoll core has; any other
/// waker is boxed, tagged by the pointer's low bit (a `Box<Waker>` is 8-aligned).
pub(crate) struct PackedWaker(NonNull<()>);

/// The tag of a boxed foreign waker.
const BOXED: usize = 1;

impl PackedWaker {
    /// A clone of `waker`, packed.
    pub(crate) fn new(waker: &Waker) -> PackedWaker {
        if std::ptr::eq(waker.vtable(), &WAKER_VTABLE) {
            // SAFETY: a waker with this vtable holds a reference to a live header; the clone
            // takes one more, which the packed waker owns.
            unsafe { header(waker.data()).as_ref() }.retain();
            return PackedWaker(header(waker.data()).cast());
        }
        let boxed = NonNull::from(Box::leak(Box::new(waker.clone())));
        PackedWaker(boxed.cast::<()>().map_addr(|a| a | BOXED))
    }

    /// Whether `waker` would wake the same task as this one.
    pub(crate) fn will_wake(&self, waker: &Waker) -> bool {
        if self.0.addr().get() & BOXED == 0 {
            return std::ptr::eq(waker.vtable(), &WAKER_VTABLE) && waker.data() == self.0.as_ptr().cast_const();
        }
        // SAFETY: a tagged pointer is a live `Box<Waker>` this value owns.
        unsafe { &*self.0.as_ptr().map_addr(|a| a & !BOXED).cast::<Waker>() }.will_wake(waker)
    }

    /// The waker again.
    pub(crate) fn into_waker(self) -> Waker {
        let ptr = ManuallyDrop::new(self).0;
        if ptr.addr().get() & BOXED == 0 {
            // SAFETY: an untagged pointer is a header whose reference this value owned; the
            // waker takes it over.
            return unsafe { owned_waker(ptr.cast()) };
        }
        // SAFETY: a tagged pointer is the `Box<Waker>` this value owned, given up here.
        *unsafe { Box::from_raw(ptr.as_ptr().map_addr(|a| a & !BOXED).cast::<Waker>()) }
    }
}

impl Drop for PackedWaker {
    fn drop(&mut self) {
        // SAFETY: `self` is not used again; `into_waker` takes over what it owned once.
        drop(unsafe { std::ptr::read(self) }.into_waker());
    }
}
