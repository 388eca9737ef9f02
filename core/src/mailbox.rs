//! Mailbox: how other threads reach a core (netpollBreak's message half).

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
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
    /// Set after every send, cleared by the core before it takes its messages: the core asks
    /// "any mail?" several times a turn, and one load answers where the channel's `is_empty`
    /// is an out-of-line call (about 22 instructions, 2-3 times per turn).
    has_mail: AtomicBool,
}

impl Mailbox {
    pub(crate) fn new(brk: Arc<Break>) -> (Arc<Mailbox>, Inbox) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mailbox = Arc::new(Mailbox { tx, brk, has_mail: AtomicBool::new(false) });
        (mailbox.clone(), Inbox { rx, mailbox })
    }

    /// Publishes `msg`, then wakes the core if it sleeps. A core that has exited drops it.
    pub(crate) fn send(&self, msg: Msg) {
        if self.tx.send(msg).is_ok() {
            // After the message, before the break looks at `parked`: a core that parks and
            // then finds no mail is seen parked here, and woken (see `Inbox::is_empty`).
            self.has_mail.store(true, SeqCst);
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

/// The receiving side of a core's mailbox, owned by the core.
pub(crate) struct Inbox {
    rx: Receiver<Msg>,
    mailbox: Arc<Mailbox>,
}

impl Inbox {
    /// Whether no message has come since the last [`Inbox::take`] began. SeqCst, paired with
    /// the store in [`Mailbox::send`]: the core marks itself parked, then asks this; a sender
    /// publishes the flag, then asks whether the core is parked. One of them sees the other.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        !self.mailbox.has_mail.load(SeqCst)
    }

    /// Takes every message sent so far. The flag is cleared first, so a message sent while
    /// this runs either is taken here or sets the flag again (then a later `take` finds
    /// nothing, or it).
    pub(crate) fn take(&self) -> impl Iterator<Item = Msg> + '_ {
        self.mailbox.has_mail.store(false, SeqCst);
        self.rx.try_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "makes an eventfd")]
    fn the_flag_follows_the_messages_and_a_parked_core_is_woken() {
        let brk = Arc::new(Break::new(true).unwrap());
        let (mailbox, inbox) = Mailbox::new(brk.clone());
        assert!(inbox.is_empty(), "no mail yet");
        assert_eq!(inbox.take().count(), 0);

        brk.park();
        mailbox.send(Msg::Drain);
        assert!(!inbox.is_empty(), "a send shows");
        assert_eq!(brk.writes(), 1, "and wakes the parked core");
        brk.unpark();

        let taken: Vec<Msg> = inbox.take().collect();
        assert!(matches!(taken[..], [Msg::Drain]), "the message is taken once");
        assert!(inbox.is_empty(), "taking clears the flag");

        // A message sent while the core is taking its mail is taken then or flagged again.
        let mut take = inbox.take();
        mailbox.send(Msg::Shutdown);
        assert!(matches!(take.next(), Some(Msg::Shutdown)));
        assert!(!inbox.is_empty(), "flagged again: a later take finds nothing, harmlessly");
        assert_eq!(inbox.take().count(), 0);
        assert!(inbox.is_empty());
    }
}
