//! The io_uring half of pooled reads: one multishot recv per connection, picking its buffers
//! from the core's [`BufRing`].
//!
//! Armed by the first pooled read, the recv yields a completion per buffer filled until it
//! ends (a completion without IORING_CQE_F_MORE); completions queue in the connection's
//! [`Multishot`] state, in order, whether or not a reader waits, and a reader that finds the
//! queue empty re-arms it. So an idle connection holds an armed recv and no buffer.
//!
//! - **-ENOBUFS** (the ring ran dry) ends the recv without losing a byte: the data waits in
//!   the socket. The next reader refills the ring (growing it if every buffer is lent) and
//!   re-arms, or, at the ring's capacity, falls back to a readiness read into a heap buffer.
//! - **A plain read** (`read(buf)`, `poll_read`) on the same socket retires the stream:
//!   what it queued, and what it receives until its cancel lands, goes to the stash, and a
//!   stream retired while its recv is in the kernel enters the source's receive gate until
//!   its last completion, so the plain read sees those bytes first, then the error that ended
//!   the recv, if any (a reset is reported once). One mechanism orders dropped reads and
//!   multishot leftovers alike. A live stream needs no place in the gate: nothing else
//!   receives on the source until it is retired, so an idle connection allocates no gate.
//! - **Closing the source** cancels the recv and gives every buffer back, queued or late.
//!
//! A retired stream's place in the gate and its source's descriptor are kept beside the
//! driver, under the recv's op id, not in the stream: every idle connection holds a stream,
//! few streams are ever retired, and the stream then fits the allocator's 80-byte class.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::{cqueue, opcode, types};

use super::buf_ring::{BufRing, GROUP};
use super::multishot::{After, Event, Multishot, Next};
use super::op_table::{Completion, OpId, Stream, NO_OP};
use super::receive_gate::{Receiving, SourceGate};
use super::Uring;
use crate::pool::PooledBuf;

/// Buffers a connection may have queued before its recv is paused (16 x 16 KiB).
const QUEUE_LIMIT: usize = 16;
/// [`RecvStream::id`] while the recv is not in the kernel.
const NOT_ARMED: OpId = NO_OP;

/// What a pooled read on io_uring comes to.
pub(crate) enum PooledRead {
    /// Bytes (empty: end of stream).
    Buf(PooledBuf),
    /// The ring is at capacity with every buffer lent: read with readiness instead.
    Fallback,
}

/// One connection's multishot recv. Its source's descriptor is the caller's to pass: the
/// stream holds only what every idle connection needs (see the module docs).
pub(crate) struct RecvStream {
    state: Multishot<(u16, u32), QUEUE_LIMIT>,
    /// The recv's id while it is in the kernel (to cancel it), else [`NOT_ARMED`]. A plain
    /// word, not an Option: the stream then fits the allocator's 80-byte class.
    id: OpId,
    /// The reader waiting for the next completion.
    waker: Option<Waker>,
}

/// A stream retired by a plain read while its recv was in the kernel, until the recv's last
/// completion: kept in [`Retired`] under the recv's op id.
pub(crate) struct Retirement {
    /// The retired stream's place in its source's gate: the plain read that retired it waits
    /// for the recv to settle.
    receiving: Receiving,
    /// The source, under which late results are stashed for the plain read.
    fd: RawFd,
}

/// The retirements of a core's streams whose recv is still in the kernel, by op id.
pub(crate) type Retired = HashMap<OpId, Retirement>;

impl RecvStream {
    pub(crate) fn new() -> RecvStream {
        RecvStream { state: Multishot::new(), id: NOT_ARMED, waker: None }
    }

    /// The reader waiting on this stream, if any.
    pub(crate) fn waker(&self) -> Option<Waker> {
        self.waker.clone()
    }

    /// Whether the recv is in the kernel.
    pub(crate) fn armed(&self) -> bool {
        self.id != NOT_ARMED
    }
}

impl Stream for RefCell<RecvStream> {
    fn deliver(&self, uring: &Uring, done: Completion) {
        uring.deliver(self, done);
    }
}

impl Uring {
    /// The next pooled read from `stream`, the recv of `fd`, arming it when nothing is
    /// queued. The caller has let earlier dropped reads settle and served what they left.
    pub(crate) fn poll_pooled(
        &self,
        fd: RawFd,
        stream: &Rc<RefCell<RecvStream>>,
        cx: &Context<'_>,
    ) -> Poll<io::Result<PooledRead>> {
        // A kernel without PBUF_RING (before 5.19): every pooled read goes by readiness.
        let Ok(ring) = self.buf_ring() else {
            return Poll::Ready(Ok(PooledRead::Fallback));
        };
        let mut s = stream.borrow_mut();
        match s.state.next() {
            Next::Ready(Ok((bid, len))) => Poll::Ready(Ok(PooledRead::Buf(PooledBuf::ring(ring, bid, len as usize)))),
            Next::Ready(Err(errno)) => Poll::Ready(Err(io::Error::from_raw_os_error(errno))),
            Next::Eof => Poll::Ready(Ok(PooledRead::Buf(PooledBuf::eof()))),
            Next::Arm { starved } => {
                if starved && !ring.refill() {
                    s.state.disarm();
                    return Poll::Ready(Ok(PooledRead::Fallback));
                }
                let entry = opcode::RecvMulti::new(types::Fd(fd), GROUP).build();
                s.waker = Some(cx.waker().clone());
                drop(s);
                let id = self.submit_stream(entry, stream.clone());
                stream.borrow_mut().id = id;
                Poll::Pending
            }
            Next::Wait => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// A completion of `stream`'s recv.
    pub(crate) fn deliver(&self, stream: &RefCell<RecvStream>, done: Completion) {
        let more = cqueue::more(done.flags);
        let event = self.decode(done);
        let mut s = stream.borrow_mut();
        let after = s.state.on_completion(event, more);
        // A late result of a retired stream goes to a plain read of the living source (the
        // recv still holds its place in the gate, so the source is known). Only a released
        // stream's results come back (Release, Failed): a live one costs no look-up.
        let id = s.id;
        let keep_for = || {
            let retired = self.retired.borrow();
            retired.get(&id).filter(|r| r.receiving.source_alive()).map(|r| r.fd)
        };
        let mut wake = None;
        match after {
            After::Wake => wake = s.waker.take(),
            After::Release((bid, len)) => self.release(bid, len, keep_for()),
            // The reset (say) reached the recv after the plain read retired it: the kernel
            // reports it once, so the plain read must get it from the stash.
            After::Failed(errno) => {
                if let Some(fd) = keep_for() {
                    self.stash.borrow_mut().push_error(fd, errno);
                }
            }
            After::Nothing => {}
        }
        if !more {
            s.id = NOT_ARMED;
            drop(s);
            // The last completion: a plain read waiting on the gate may go now. (Most recvs
            // end unretired: an empty map is not hashed into.)
            let retirement = {
                let mut retired = self.retired.borrow_mut();
                if retired.is_empty() {
                    None
                } else {
                    retired.remove(&id)
                }
            };
            drop(retirement);
        } else if s.state.wants_pause() {
            // The reader is behind: stop receiving until it catches up (re-armed when drained).
            let id = Some(s.id).filter(|&id| id != NOT_ARMED);
            drop(s);
            if let Some(id) = id {
                self.push_unawaited(opcode::AsyncCancel::new(id).build());
            }
        }
        if let Some(w) = wake {
            w.wake();
        }
    }

    /// Turns a completion into the stream's event, taking its buffer from the ring.
    fn decode(&self, done: Completion) -> Event<(u16, u32)> {
        let bid = cqueue::buffer_select(done.flags);
        let ring = self.buf_ring.borrow().clone();
        match (done.result, bid, ring) {
            (n, Some(bid), Some(ring)) => {
                if !ring.take(bid) {
                    return Event::Failed(libc::EIO);
                }
                if n > 0 {
                    return Event::Item((bid, n as u32));
                }
                ring.give_back(bid);
                if n == 0 {
                    Event::Eof
                } else {
                    Event::Failed(-n)
                }
            }
            (0, _, _) => Event::Eof,
            (n, _, _) if n < 0 => Event::Failed(-n),
            _ => Event::Failed(libc::EIO),
        }
    }

    /// Hands a buffer of a retired or closed stream back, its bytes first to the stash under
    /// `keep_for` if a plain read of that living source will want them.
    fn release(&self, bid: u16, len: u32, keep_for: Option<RawFd>) {
        let Some(ring) = self.buf_ring.borrow().clone() else { return };
        if let Some(fd) = keep_for {
            // SAFETY: the kernel wrote `len` bytes at the start of buffer `bid`, which is lent
            // to this stream until the give-back below.
            let bytes = unsafe { std::slice::from_raw_parts(ring.buf_ptr(bid), len as usize) };
            self.stash.borrow_mut().push_bytes(fd, bytes);
        }
        ring.give_back(bid);
    }

    /// Ends `stream`. Retired (a plain read of `fd` takes over; `retire` is its source's
    /// gate and `fd`), it keeps its bytes in the stash, and holds a place in the gate until
    /// its recv's last completion; otherwise (the source closes) they are dropped. Cancels
    /// the recv if it is armed.
    pub(crate) fn end_stream(&self, stream: &RefCell<RecvStream>, retire: Option<(&SourceGate, RawFd)>) {
        let mut s = stream.borrow_mut();
        if let Some((gate, fd)) = retire.filter(|_| s.armed()) {
            self.retired.borrow_mut().insert(s.id, Retirement { receiving: gate.enter(), fd });
        }
        let (cancel, queued) = s.state.close();
        let queued: Vec<_> = queued.collect();
        // A retiring stream's caller is a plain read of the living source, whether or not the
        // recv is still in the kernel: what the stream queued is the oldest data it will read.
        // (Deciding by the recv's place in the gate lost every buffer queued after the recv
        // had ended: at end of stream, -ENOBUFS or a pause.)
        let keep_for = retire.map(|(_, fd)| fd);
        for result in queued {
            match result {
                Ok((bid, len)) => self.release(bid, len, keep_for),
                // A queued error (a reset) ends the stream after its bytes. The kernel has
                // reported it to the recv and will not again: dropped, the plain read would
                // see end of stream where epoll sees the error. So it waits in the stash,
                // behind the bytes.
                Err(errno) => {
                    if let Some(fd) = keep_for {
                        self.stash.borrow_mut().push_error(fd, errno);
                    }
                }
            }
        }
        let id = Some(s.id).filter(|&id| cancel && id != NOT_ARMED);
        let waker = s.waker.take();
        drop(s);
        if let Some(id) = id {
            self.push_unawaited(opcode::AsyncCancel::new(id).build());
        }
        drop(waker);
    }

    /// The core's buffer ring, registered on first use.
    fn buf_ring(&self) -> io::Result<Rc<BufRing>> {
        if let Some(ring) = self.buf_ring.borrow().as_ref() {
            return Ok(ring.clone());
        }
        let ring = Rc::new(BufRing::register(&self.ring.borrow(), self.stats.clone())?);
        *self.buf_ring.borrow_mut() = Some(ring.clone());
        Ok(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_fits_the_80_byte_malloc_class() {
        // Every idle io_uring connection holds one, in an Rc<RefCell<..>> (16 + 8 bytes more):
        // glibc's 80-byte class takes up to 72.
        assert!(std::mem::size_of::<RefCell<RecvStream>>() + 16 <= 72, "{}", std::mem::size_of::<RecvStream>());
    }
}
