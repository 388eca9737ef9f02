//! What a driver is given of a source for one call: its descriptor, its registration with
//! that driver, and its deadlines. Drivers see sources only through this view, so the driver
//! layer never imports `source.rs`, which imports it.

use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll};

use crate::deadline::{self, Deadlines};
use crate::interest::Interest;

/// A source as a driver sees it; `R` is the registration type of the driver at hand.
pub(crate) struct Target<'a, R> {
    pub(crate) fd: RawFd,
    pub(crate) registration: &'a R,
    pub(crate) deadlines: &'a Deadlines,
}

impl<R> Clone for Target<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Target<'_, R> {}

impl<'a, R> Target<'a, R> {
    /// The same source with a driver's own registration.
    #[inline]
    pub(crate) fn with<S>(self, registration: &'a S) -> Target<'a, S> {
        Target { fd: self.fd, registration, deadlines: self.deadlines }
    }

    /// `TimedOut` if the deadline of `interest` has passed.
    #[inline]
    pub(crate) fn check_deadline(self, interest: Interest) -> io::Result<()> {
        match self.deadlines.expired(interest) {
            true => Err(deadline::exceeded()),
            false => Ok(()),
        }
    }

    /// Ready with `TimedOut` once the deadline of `interest` has passed; until then a timer
    /// wakes `cx` then.
    #[inline]
    pub(crate) fn poll_deadline(self, interest: Interest, cx: &mut Context<'_>) -> Poll<io::Error> {
        self.deadlines.poll_expired(interest, cx).map(|()| deadline::exceeded())
    }
}
