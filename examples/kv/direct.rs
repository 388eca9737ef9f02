//! One hop instead of two: when a read holds one request and its key lives on another core,
//! that core writes the reply straight to the client's socket instead of sending it back
//! (`shard.rs`), and the connection goes back to reading at once. This is the pipeline-of-one
//! case, where the answer's trip back cost a message, a wake and a turn of this core.
//!
//! A connection has at most one such reply in flight, and writes nothing itself until it has
//! settled: the next read's replies wait for it ([`Direct::settled`]). The owning core writes
//! without blocking; whatever it cannot write (a full socket buffer, an error, or a core gone
//! before it got there) comes back here through [`Direct::poll_returned`], and the connection
//! writes it itself, even while its read waits. The owning core writes to a duplicate of the
//! connection's descriptor owned by this shared state, so the number it writes to names this
//! socket for as long as anyone may write: the connection may close (or its task be cut off)
//! at any time and its number be reused without a byte reaching another client.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use super::replies;

/// No reply in flight.
const IDLE: u8 = 0;
/// A reply is in flight; the connection waits for its read, and only needs waking if the
/// reply comes back.
const SENT: u8 = 1;
/// A reply is in flight and the connection waits for it to settle either way.
const WATCHED: u8 = 2;
/// The owning core wrote the whole reply.
const WRITTEN: u8 = 3;
/// The owning core handed the reply (or an error in its place) back in `returned`.
const RETURNED: u8 = 4;

/// What a connection and the core writing its reply share.
struct Shared {
    fd: OwnedFd,
    state: AtomicU8,
    /// What the owning core could not write, for the connection to write.
    returned: Mutex<Vec<u8>>,
    /// The connection's task, registered before it looks at `state`.
    waker: Mutex<Option<Waker>>,
}

/// A connection's side channel for replies other cores write for it, one at a time.
pub struct Direct {
    shared: Arc<Shared>,
    /// The waker last registered, to register again only if the task's changes.
    registered: Option<Waker>,
}

impl Direct {
    /// The side channel of the connection on `socket`; fails if its descriptor cannot be
    /// duplicated (then the connection does without).
    pub fn new(socket: &impl AsFd) -> io::Result<Direct> {
        let shared = Shared {
            fd: socket.as_fd().try_clone_to_owned()?,
            state: AtomicU8::new(IDLE),
            returned: Mutex::default(),
            waker: Mutex::default(),
        };
        Ok(Direct { shared: Arc::new(shared), registered: None })
    }

    /// Whether a reply is in flight, or settled and not yet seen here.
    pub fn in_flight(&self) -> bool {
        self.shared.state.load(Ordering::Relaxed) != IDLE
    }

    /// Marks a reply in flight and gives the token the owning core answers through. The
    /// previous reply must have settled (`in_flight()` false).
    pub fn send(&self) -> DirectReply {
        debug_assert!(!self.in_flight());
        // Relaxed: the message carrying the token publishes it to the owning core.
        self.shared.state.store(SENT, Ordering::Relaxed);
        DirectReply { shared: Some(self.shared.clone()) }
    }

    /// While the connection's read waits: ready with the bytes the owning core handed back,
    /// which the connection must write before anything else. The reply then counts as
    /// settled.
    pub fn poll_returned(&mut self, cx: &Context<'_>) -> Poll<Vec<u8>> {
        self.register(cx);
        if self.shared.state.load(Ordering::Acquire) == RETURNED {
            return Poll::Ready(self.take_returned());
        }
        Poll::Pending
    }

    /// Once the read is done: waits for the reply in flight to settle, and gives what came
    /// back to be written, if anything did.
    pub async fn settled(&mut self) -> Option<Vec<u8>> {
        std::future::poll_fn(|cx| loop {
            match self.shared.state.load(Ordering::Acquire) {
                IDLE => return Poll::Ready(None),
                WRITTEN => {
                    self.shared.state.store(IDLE, Ordering::Relaxed);
                    return Poll::Ready(None);
                }
                RETURNED => return Poll::Ready(Some(self.take_returned())),
                WATCHED => return Poll::Pending,
                _ => {
                    // Still in flight: from now on the owning core wakes us either way.
                    self.register(cx);
                    let _ = self.shared.state.compare_exchange(SENT, WATCHED, Ordering::AcqRel, Ordering::Acquire);
                }
            }
        })
        .await
    }

    fn take_returned(&self) -> Vec<u8> {
        let bytes = std::mem::take(&mut *lock(&self.shared.returned));
        self.shared.state.store(IDLE, Ordering::Relaxed);
        bytes
    }

    fn register(&mut self, cx: &Context<'_>) {
        if !self.registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            let waker = cx.waker().clone();
            *lock(&self.shared.waker) = Some(waker.clone());
            self.registered = Some(waker);
        }
    }
}

impl Shared {
    /// Settles the reply in flight as `state`, waking the connection if it waits for that.
    fn settle(&self, state: u8) {
        let before = self.state.swap(state, Ordering::AcqRel);
        // A return is always awaited (the client waits for those bytes); a write only once
        // the connection's read is done. Taking the waker's lock after the swap orders it
        // against `register`: either the waker is there, or the connection sees the state.
        if state == RETURNED || before == WATCHED {
            if let Some(w) = lock(&self.waker).as_ref() {
                w.wake_by_ref();
            }
        }
    }

    /// Hands `bytes` back for the connection to write.
    fn give_back(&self, bytes: impl FnOnce(&mut Vec<u8>)) {
        bytes(&mut lock(&self.returned));
        self.settle(RETURNED);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The owning core's right to answer one connection's request by writing to its socket.
/// Dropped unused (the core shut down with it queued), it answers with an error instead.
pub struct DirectReply {
    shared: Option<Arc<Shared>>,
}

impl DirectReply {
    /// Writes `reply` to the client without blocking; what is not written goes back to the
    /// connection, which writes it itself.
    pub fn write(mut self, reply: &[u8]) {
        let Some(shared) = self.shared.take() else { return };
        let written = send_now(&shared.fd, reply);
        if written == reply.len() {
            shared.settle(WRITTEN);
        } else {
            shared.give_back(|out| out.extend_from_slice(&reply[written..]));
        }
    }
}

impl Drop for DirectReply {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.give_back(|out| replies::error(out, "ERR the shard owning this key is shutting down"));
        }
    }
}

/// Sends as much of `bytes` as the socket takes now; how much that was (0 on any error: the
/// connection then writes it all and meets the error itself).
fn send_now(fd: &OwnedFd, bytes: &[u8]) -> usize {
    let mut sent = 0;
    while sent < bytes.len() {
        let rest = &bytes[sent..];
        // SAFETY: `fd` is an open descriptor owned by `fd` for the whole call, and the
        // pointer and length describe `rest`, a live slice. MSG_DONTWAIT keeps a blocking
        // socket from blocking this core; MSG_NOSIGNAL turns a closed peer into EPIPE.
        let n = unsafe {
            libc::send(fd.as_raw_fd(), rest.as_ptr().cast(), rest.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        };
        match n {
            n if n > 0 => sent += n as usize,
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            // Would block, an error, or nothing taken: the connection carries on from here.
            _ => break,
        }
    }
    sent
}
