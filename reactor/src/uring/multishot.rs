//! The state of one multishot receive (a recv or an accept), with no kernel.
//!
//! A multishot op is armed once and yields completions until one comes without
//! IORING_CQE_F_MORE. Its results arrive whether or not a reader waits, so they queue here, in
//! order, and the reader takes them one at a time: a reader that was not waiting, or whose
//! future was dropped, loses nothing. The op is re-armed only by a reader that finds the queue
//! empty, so an idle connection has an armed op and no buffer, and a reader that stops reading
//! stops the op ([`Multishot::wants_pause`]) instead of letting the queue grow without bound.
//!
//! The transitions:
//! - `Idle` -> `Armed`: a reader found nothing queued ([`Next::Arm`]; the caller submits).
//! - `Armed` -> `Cancelling`: the queue reached its limit; the caller cancels the op. Results
//!   that beat the cancel still queue.
//! - `Armed` | `Cancelling` -> `Idle`: a completion without F_MORE (end of stream, an error,
//!   -ENOBUFS, the cancel).
//! - End of stream is sticky: every later read sees it without arming again.
//! - -ENOBUFS is not an error: the bytes wait in the socket. The next reader is told the op
//!   starved ([`Next::Arm`] with `starved`), so it can grow the pool or fall back first.
//! - -ECANCELED that nobody asked for (the kernel ended the op: it consumed nothing, so
//!   nothing is lost and a socket error stays in the socket) re-arms like any other end,
//!   once: a second in a row, with no result between, reaches the reader as an error, so a
//!   kernel that cancels every arm (a ring being torn down) cannot keep a reader re-arming
//!   forever.
//! - Once closed, results are handed back for release ([`After::Release`]), never queued;
//!   so is the error that ends the op ([`After::Failed`]): queued or late, an error is a
//!   result too (a recv's reset is reported once, and its owner's successor must see it).
//!
//! The queue keeps its first result inline and allocates only for the ones behind it, freed
//! once drained: a connection read as fast as it receives (nearly all of them, and every idle
//! one) never allocates for it.

use std::collections::VecDeque;

/// Whether the op is in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arm {
    /// Not submitted (never, or it ended).
    Idle,
    /// Submitted and yielding.
    Armed,
    /// A cancel was submitted; the final completion has not come.
    Cancelling,
}

/// One completion, decoded by the op that knows its meaning.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event<T> {
    /// A result: a received buffer, an accepted socket.
    Item(T),
    /// The peer closed (a recv of 0 bytes).
    Eof,
    /// `-errno`'s errno.
    Failed(i32),
}

/// What the caller does after [`Multishot::on_completion`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum After<T> {
    /// Nothing (a completion after close that holds no result).
    Nothing,
    /// Something was queued or the op ended: wake the reader.
    Wake,
    /// Closed: release this result (give the buffer back, close the socket).
    Release(T),
    /// Closed: the op ended with this errno (not its cancel, not -ENOBUFS), which the
    /// owner's successor may want after the released results.
    Failed(i32),
}

/// Why the last run ended, where the next arm needs to know (one field for both, so the
/// state keeps its size: every idle connection has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastEnd {
    /// Nothing the next arm needs to know.
    Plain,
    /// -ENOBUFS: told to the next reader that arms ([`Next::Arm`]'s `starved`).
    Starved,
    /// A cancel nobody asked for, with no result since: another one reaches the reader.
    UnaskedCancel,
}

/// What a reader gets from [`Multishot::next`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next<T> {
    /// The oldest queued result.
    Ready(Result<T, i32>),
    /// The peer closed; sticky.
    Eof,
    /// Nothing queued and the op is not in the kernel: the caller submits it (the state is
    /// `Armed` already) and waits. `starved`: the last run ended with -ENOBUFS.
    Arm {
        /// The last run ended for want of buffers.
        starved: bool,
    },
    /// The op is in the kernel: wait for its next completion.
    Wait,
}

/// One multishot op's queue and arm state; `LIMIT` results queued at most, beyond which the
/// op is paused (a parameter of the type, not a field: every idle connection has one).
#[derive(Debug)]
pub(crate) struct Multishot<T, const LIMIT: usize> {
    arm: Arm,
    /// The queue's oldest result, inline; the rest follow in `spill`, allocated only while
    /// there are any (fields of their own, so the flags share their padding).
    first: Option<Result<T, i32>>,
    // One word instead of a VecDeque's four: the spill is rare, the inline space is not.
    #[allow(clippy::box_collection)]
    spill: Option<Box<VecDeque<Result<T, i32>>>>,
    eof: bool,
    last_end: LastEnd,
    closed: bool,
}

impl<T, const LIMIT: usize> Multishot<T, LIMIT> {
    /// An idle op.
    pub(crate) const fn new() -> Multishot<T, LIMIT> {
        Multishot { arm: Arm::Idle, first: None, spill: None, eof: false, last_end: LastEnd::Plain, closed: false }
    }

    /// Whether the op is in the kernel.
    #[cfg(test)]
    pub(crate) fn arm(&self) -> Arm {
        self.arm
    }

    /// Results waiting for a reader.
    pub(crate) fn queued(&self) -> usize {
        usize::from(self.first.is_some()) + self.spill.as_ref().map_or(0, |s| s.len())
    }

    fn push_back(&mut self, result: Result<T, i32>) {
        match &mut self.first {
            None => self.first = Some(result),
            Some(_) => self.spill.get_or_insert_with(Default::default).push_back(result),
        }
    }

    fn pop_front(&mut self) -> Option<Result<T, i32>> {
        let result = self.first.take()?;
        if let Some(spill) = &mut self.spill {
            self.first = spill.pop_front();
            if spill.is_empty() {
                self.spill = None;
            }
        }
        Some(result)
    }

    /// A completion of the op; `more` is IORING_CQE_F_MORE.
    pub(crate) fn on_completion(&mut self, event: Event<T>, more: bool) -> After<T> {
        let cancelling = self.arm == Arm::Cancelling;
        if !more {
            self.arm = Arm::Idle;
        }
        if self.closed {
            return match event {
                Event::Item(item) => After::Release(item),
                Event::Failed(libc::ENOBUFS | libc::ECANCELED) | Event::Eof => After::Nothing,
                Event::Failed(errno) => After::Failed(errno),
            };
        }
        match event {
            Event::Item(item) => {
                if self.last_end == LastEnd::UnaskedCancel {
                    self.last_end = LastEnd::Plain;
                }
                self.push_back(Ok(item));
            }
            Event::Eof => self.eof = true,
            Event::Failed(libc::ENOBUFS) => self.last_end = LastEnd::Starved,
            // The pause landed; a reader that drained the queue meanwhile waits for this
            // to re-arm, so it is woken like any other end.
            Event::Failed(libc::ECANCELED) if cancelling => {}
            // The kernel ended the op (nothing consumed): re-armed by the next reader, once.
            Event::Failed(libc::ECANCELED) if !more && self.last_end != LastEnd::UnaskedCancel => {
                self.last_end = LastEnd::UnaskedCancel;
            }
            Event::Failed(errno) => {
                self.last_end = LastEnd::Plain;
                self.push_back(Err(errno));
            }
        }
        After::Wake
    }

    /// The reader's turn: see [`Next`].
    pub(crate) fn next(&mut self) -> Next<T> {
        if let Some(result) = self.pop_front() {
            return Next::Ready(result);
        }
        if self.eof {
            return Next::Eof;
        }
        match self.arm {
            Arm::Idle => {
                self.arm = Arm::Armed;
                let starved = self.last_end == LastEnd::Starved;
                if starved {
                    self.last_end = LastEnd::Plain;
                }
                Next::Arm { starved }
            }
            Arm::Armed | Arm::Cancelling => Next::Wait,
        }
    }

    /// Undoes the `Armed` of [`Next::Arm`] when the caller did not submit after all (it
    /// fell back to a one-shot read).
    pub(crate) fn disarm(&mut self) {
        if self.arm == Arm::Armed {
            self.arm = Arm::Idle;
        }
    }

    /// Whether the caller should cancel the op now: it is armed and the reader is behind.
    /// The state becomes `Cancelling` when this says yes.
    pub(crate) fn wants_pause(&mut self) -> bool {
        if self.arm == Arm::Armed && self.queued() >= LIMIT.max(1) {
            self.arm = Arm::Cancelling;
            return true;
        }
        false
    }

    /// The owner is gone: returns whether a cancel must be submitted, and hands back every
    /// queued result, errors included, in order, for release. Later completions come back as
    /// [`After::Release`] and [`After::Failed`].
    pub(crate) fn close(&mut self) -> (bool, impl Iterator<Item = Result<T, i32>>) {
        self.closed = true;
        let cancel = self.arm == Arm::Armed;
        if cancel {
            self.arm = Arm::Cancelling;
        }
        let first = self.first.take();
        let spill = self.spill.take().map(|s| *s).unwrap_or_default();
        (cancel, first.into_iter().chain(spill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arms_once_and_delivers_in_order() {
        let mut ms = Multishot::<_, 8>::new();
        assert_eq!(ms.next(), Next::Arm { starved: false });
        assert_eq!(ms.next(), Next::Wait, "armed: no second submission");
        assert_eq!(ms.on_completion(Event::Item(1), true), After::Wake);
        assert_eq!(ms.on_completion(Event::Item(2), true), After::Wake);
        assert_eq!(ms.next(), Next::Ready(Ok(1)));
        assert_eq!(ms.next(), Next::Ready(Ok(2)));
        assert_eq!(ms.next(), Next::Wait);
        assert_eq!(ms.arm(), Arm::Armed);
    }

    #[test]
    fn an_end_without_more_rearms_only_once_drained() {
        let mut ms = Multishot::<_, 8>::new();
        ms.next();
        ms.on_completion(Event::Item(7), false);
        assert_eq!(ms.arm(), Arm::Idle);
        assert_eq!(ms.next(), Next::Ready(Ok(7)), "queued data first");
        assert_eq!(ms.next(), Next::Arm { starved: false });
    }

    #[test]
    fn eof_is_sticky_and_comes_after_the_data() {
        let mut ms = Multishot::<_, 8>::new();
        ms.next();
        ms.on_completion(Event::Item(1), true);
        ms.on_completion(Event::Eof, false);
        assert_eq!(ms.next(), Next::Ready(Ok(1)));
        assert_eq!(ms.next(), Next::Eof);
        assert_eq!(ms.next(), Next::Eof, "never re-armed after the end of stream");
    }

    #[test]
    fn enobufs_loses_nothing_and_tells_the_next_reader() {
        let mut ms = Multishot::<_, 8>::new();
        ms.next();
        ms.on_completion(Event::Item(1), true);
        assert_eq!(ms.on_completion(Event::Failed(libc::ENOBUFS), false), After::Wake);
        assert_eq!(ms.next(), Next::Ready(Ok(1)));
        assert_eq!(ms.next(), Next::Arm { starved: true });
        ms.disarm();
        assert_eq!(ms.next(), Next::Arm { starved: false }, "told once");
    }

    #[test]
    fn errors_are_delivered_in_place() {
        let mut ms = Multishot::<_, 8>::new();
        ms.next();
        ms.on_completion(Event::Item(1), true);
        ms.on_completion(Event::Failed(libc::ECONNRESET), false);
        assert_eq!(ms.next(), Next::Ready(Ok(1)));
        assert_eq!(ms.next(), Next::Ready(Err(libc::ECONNRESET)));
        assert_eq!(ms.next(), Next::Arm { starved: false });
    }

    #[test]
    fn a_slow_reader_pauses_the_op_and_keeps_late_results() {
        let mut ms = Multishot::<_, 2>::new();
        ms.next();
        ms.on_completion(Event::Item(1), true);
        assert!(!ms.wants_pause());
        ms.on_completion(Event::Item(2), true);
        assert!(ms.wants_pause());
        assert!(!ms.wants_pause(), "one cancel");
        assert_eq!(ms.on_completion(Event::Item(3), true), After::Wake, "beat the cancel");
        assert_eq!(ms.on_completion(Event::Failed(libc::ECANCELED), false), After::Wake, "a waiting reader re-arms");
        assert_eq!(ms.queued(), 3, "the cancel itself is no error");
        for want in 1..=3 {
            assert_eq!(ms.next(), Next::Ready(Ok(want)));
        }
        assert_eq!(ms.next(), Next::Arm { starved: false });
    }

    #[test]
    fn the_queue_allocates_only_behind_its_first_result_and_frees_once_drained() {
        let mut ms = Multishot::<_, 8>::new();
        ms.next();
        ms.on_completion(Event::Item(1), true);
        assert!(ms.spill.is_none(), "one result is kept inline");
        assert_eq!(ms.next(), Next::Ready(Ok(1)));
        for item in 2..=4 {
            ms.on_completion(Event::Item(item), true);
        }
        assert!(ms.spill.is_some());
        assert_eq!(ms.queued(), 3);
        for want in 2..=4 {
            assert_eq!(ms.next(), Next::Ready(Ok(want)));
        }
        assert!(ms.spill.is_none(), "drained: the spill is freed");
        ms.on_completion(Event::Item(5), true);
        ms.on_completion(Event::Item(6), true);
        let (_, released) = ms.close();
        assert_eq!(released.collect::<Vec<_>>(), [Ok(5), Ok(6)], "closing hands back both, in order");
    }

    #[test]
    fn closing_releases_queued_and_late_results() {
        let mut ms = Multishot::<_, 8>::new();
        ms.next();
        ms.on_completion(Event::Item(1), true);
        ms.on_completion(Event::Failed(libc::ECONNRESET), true);
        let (cancel, released) = ms.close();
        assert!(cancel);
        assert_eq!(released.collect::<Vec<_>>(), [Ok(1), Err(libc::ECONNRESET)], "the error too, after the data");
        assert_eq!(ms.on_completion(Event::Item(2), true), After::Release(2));
        assert_eq!(ms.on_completion(Event::Failed(libc::EPIPE), true), After::Failed(libc::EPIPE), "a late error too");
        assert_eq!(ms.on_completion(Event::Failed(libc::ENOBUFS), true), After::Nothing, "not an error");
        assert_eq!(ms.on_completion(Event::Failed(libc::ECANCELED), false), After::Nothing);
        assert_eq!(ms.arm(), Arm::Idle);
        let (cancel, released) = ms.close();
        assert!(!cancel, "an ended op needs no cancel");
        assert_eq!(released.count(), 0);
    }

    #[test]
    fn a_cancel_nobody_asked_for_rearms_once_then_reaches_the_reader() {
        let mut ms = Multishot::<_, 8>::new();
        ms.next();
        assert_eq!(ms.on_completion(Event::Failed(libc::ECANCELED), false), After::Wake, "the waiting reader");
        assert_eq!(ms.next(), Next::Arm { starved: false }, "nothing was consumed: armed again");
        ms.on_completion(Event::Item(1), true);
        assert_eq!(ms.on_completion(Event::Failed(libc::ECANCELED), false), After::Wake);
        assert_eq!(ms.next(), Next::Ready(Ok(1)));
        assert_eq!(ms.next(), Next::Arm { starved: false }, "a result came between: armed again");
        ms.on_completion(Event::Failed(libc::ECANCELED), false);
        assert_eq!(ms.next(), Next::Ready(Err(libc::ECANCELED)), "twice in a row: the reader is told");
        assert_eq!(ms.next(), Next::Arm { starved: false });
        ms.on_completion(Event::Failed(libc::ECANCELED), false);
        assert_eq!(ms.next(), Next::Arm { starved: false }, "the error reset the count");
    }
}
