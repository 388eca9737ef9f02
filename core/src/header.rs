//! The shared, thread-safe part of a task: what a `Waker` points to.
//!
//! The future itself stays in its core's task slab and never leaves that thread; the header
//! only knows where the task lives (its core's mailbox and its slab id), so a waker can be
//! sent anywhere. A wake on the owning core pushes onto the local run queue with no atomic
//! read-modify-write; a wake from elsewhere goes through the mailbox and the eventfd.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::Arc;
use std::task::Wake;

use crate::executor;
use crate::mailbox::{Mailbox, Msg};

/// A task's id before its core has inserted it.
pub(crate) const UNASSIGNED: u64 = u64::MAX;

pub(crate) struct Header {
    pub(crate) mailbox: Arc<Mailbox>,
    /// Slab index (low 32 bits) and generation (high 32 bits), set once by the owning core.
    id: AtomicU64,
    aborted: AtomicBool,
}

impl Header {
    pub(crate) fn new(mailbox: Arc<Mailbox>) -> Arc<Header> {
        Arc::new(Header { mailbox, id: AtomicU64::new(UNASSIGNED), aborted: AtomicBool::new(false) })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id.load(SeqCst)
    }

    pub(crate) fn assign(&self, id: u64) {
        self.id.store(id, SeqCst);
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(SeqCst)
    }

    /// Marks the task aborted and schedules it so its core drops it. A task not yet inserted
    /// (UNASSIGNED) is checked for the flag when it is: store-then-load on both sides.
    pub(crate) fn abort(self: &Arc<Self>) {
        self.aborted.store(true, SeqCst);
        self.wake_by_ref();
    }
}

impl Wake for Header {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let id = self.id();
        if id == UNASSIGNED || executor::wake_local(&self.mailbox, id) {
            return;
        }
        self.mailbox.send(Msg::Wake(id));
    }
}
