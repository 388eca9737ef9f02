//! A slot of a local channel taken ahead of its value ([`Sender::reserve`],
//! [`Sender::reserve_owned`]).

use std::fmt;

use super::{Chan, Sender};

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
        std::mem::forget(self); // the slot goes with the value; the receive gives it back
        chan.send_held(value);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.sender.chan.give_back();
    }
}

/// A [`Permit`] that owns its sender, to move into another task: made by
/// [`Sender::reserve_owned`] (and [`Sender::try_reserve_owned`]), as tokio's `OwnedPermit`.
/// [`OwnedPermit::send`] and [`OwnedPermit::release`] hand the sender back.
#[must_use = "dropping a permit gives its slot back at once"]
pub struct OwnedPermit<T> {
    /// `None` once sent or released (so the drop gives nothing back).
    sender: Option<Sender<T>>,
}

impl<T> OwnedPermit<T> {
    /// Counts the permit, whose slot the caller took already.
    pub(super) fn new(sender: Sender<T>) -> OwnedPermit<T> {
        let chan = &sender.chan;
        chan.permits.set(chan.permits.get() + 1);
        OwnedPermit { sender: Some(sender) }
    }

    /// Queues `value` in the slot held, as [`Permit::send`], and returns the sender.
    pub fn send(mut self, value: T) -> Sender<T> {
        let sender = self.sender.take().expect("a permit holds its sender until it is used");
        sender.chan.send_held(value);
        sender
    }

    /// Gives the slot back unused and returns the sender.
    pub fn release(mut self) -> Sender<T> {
        let sender = self.sender.take().expect("a permit holds its sender until it is used");
        sender.chan.give_back();
        sender
    }
}

impl<T> Drop for OwnedPermit<T> {
    fn drop(&mut self) {
        if let Some(sender) = &self.sender {
            sender.chan.give_back();
        }
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local::OwnedPermit").finish_non_exhaustive()
    }
}

impl<T> Chan<T> {
    /// A permit's value goes into the slot it held. If the receiver is gone (dropped, not
    /// just closed) the value is dropped here: nobody would read it.
    fn send_held(&self, value: T) {
        self.permits.set(self.permits.get() - 1);
        if self.receiver_gone.get() {
            drop(value);
            return;
        }
        self.push(value);
    }

    /// A permit dropped unused: its slot goes to the next waiting sender.
    fn give_back(&self) {
        self.permits.set(self.permits.get() - 1);
        if let Some(slots) = &self.slots {
            slots.add_permits(1);
        }
        if self.closed.get() {
            // A closed receiver may be waiting for the last permit before it reports the end.
            self.wake_receiver();
        }
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local::Permit").finish_non_exhaustive()
    }
}
