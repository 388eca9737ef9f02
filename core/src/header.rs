//! The shared, thread-safe part of a task: what its `Waker` points to.
//!
//! The future itself stays in its core's task slab and never leaves that thread; the header
//! only knows where the task lives (its core's mailbox and its slab key), so a waker can be
//! sent anywhere. A wake on the owning core pushes onto the local run queue with no atomic
//! read-modify-write; a wake from elsewhere goes through the mailbox and the eventfd.

use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::task::Wake;

use ringpoll_reactor::slab::Key;

use crate::mailbox::{Mailbox, Msg};
use crate::scheduler;

/// A task's id before its core has inserted it. No slab key packs to it: a slab never hands
/// out a generation of `u32::MAX`.
const UNASSIGNED: u64 = u64::MAX;

pub(crate) struct Header {
    mailbox: Arc<Mailbox>,
    /// The task's slab key ([`Key::to_u64`]), set once by the owning core.
    id: AtomicU64,
}

impl Header {
    pub(crate) fn new(mailbox: Arc<Mailbox>) -> Arc<Header> {
        Arc::new(Header { mailbox, id: AtomicU64::new(UNASSIGNED) })
    }

    /// Records the task's key. Wakes before this are dropped: harmless, as a task is queued
    /// when it is inserted and its first poll sees whatever they announced.
    pub(crate) fn assign(&self, key: Key) {
        self.id.store(key.to_u64(), SeqCst);
    }
}

impl Wake for Header {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let id = self.id.load(SeqCst);
        if id == UNASSIGNED || scheduler::wake_local(&self.mailbox, Key::from_u64(id)) {
            return;
        }
        self.mailbox.send(Msg::Wake(Key::from_u64(id)));
    }
}
