//! Mailbox: how other threads reach a core (netpollBreak's message half).

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use ringpoll_reactor::slab::Key;
use ringpoll_reactor::Break;

/// Work another thread hands to a core.
pub(crate) enum Msg {
    /// Run this on the core (spawn_on).
    Run(Box<dyn FnOnce() + Send>),
    /// Schedule the task with this key (a wake from another thread).
    Wake(Key),
    /// Start a graceful shutdown: listeners stop accepting, connections carry on.
    Drain,
    /// Stop the core: drop every task and return from its loop.
    Shutdown,
}

/// The sending side of a core's mailbox, shared by every thread that may wake it.
pub(crate) struct Mailbox {
    tx: Sender<Msg>,
    brk: Arc<Break>,
}

impl Mailbox {
    pub(crate) fn new(brk: Arc<Break>) -> (Arc<Mailbox>, Receiver<Msg>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (Arc::new(Mailbox { tx, brk }), rx)
    }

    /// Publishes `msg`, then wakes the core if it sleeps. A core that has exited drops it.
    pub(crate) fn send(&self, msg: Msg) {
        if self.tx.send(msg).is_ok() {
            self.brk.wake();
        }
    }

    /// Wakes the core without a message (a flag it checks was set).
    pub(crate) fn poke(&self) {
        self.brk.wake();
    }

    pub(crate) fn netpoll_break(&self) -> &Arc<Break> {
        &self.brk
    }
}
