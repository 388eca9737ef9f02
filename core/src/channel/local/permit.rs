//! A slot of a local channel taken ahead of its value ([`Sender::reserve`]).

use std::fmt;

use super::Sender;

/// One slot of a local channel, held for a value: [`Permit::send`] neither waits nor fails.
/// Dropped unused, it gives the slot back and the next waiting sender gets it.
///
/// Made by [`Sender::reserve`] and [`Sender::try_reserve`]; it borrows the sender, as
/// tokio's `Permit` does.
#[must_use = "dropping a permit gives its slot back at once"]
pub struct Permit<'a, T> {
    sender: &'a Sender<T>,
}

impl<'a, T> Permit<'a, T> {
    /// Counts the permit, whose slot the caller took already.
    pub(super) fn new(sender: &'a Sender<T>) -> Permit<'a, T> {
        let chan = &sender.chan;
        chan.permits.set(chan.permits.get() + 1);
        Permit { sender }
    }

    /// Queues `value` in the slot held. If the receiver is gone (dropped, not just closed)
    /// the value is dropped here: nobody would read it.
    pub fn send(self, value: T) {
        let chan = &self.sender.chan;
        chan.permits.set(chan.permits.get() - 1);
        std::mem::forget(self); // the slot goes with the value; the receive gives it back
        if chan.receiver_gone.get() {
            drop(value);
            return;
        }
        chan.push(value);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        let chan = &self.sender.chan;
        chan.permits.set(chan.permits.get() - 1);
        if let Some(slots) = &chan.slots {
            slots.add_permits(1);
        }
        if chan.closed.get() {
            // A closed receiver may be waiting for the last permit before it reports the end.
            chan.wake_receiver();
        }
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local::Permit").finish_non_exhaustive()
    }
}
