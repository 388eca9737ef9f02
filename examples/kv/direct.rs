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

/// Sends what the socket takes of `bytes` in one call, without blocking; how much that was
/// (0 on any error: the connection then writes it all and meets the error itself). One call
/// only: a reply the socket does not take at once is no longer worth this core's time.
fn send_now(fd: &OwnedFd, bytes: &[u8]) -> usize {
    loop {
        // SAFETY: `fd` is an open descriptor owned by `fd` for the whole call, and the
        // pointer and length describe `bytes`, a live slice. MSG_DONTWAIT keeps a blocking
        // socket from blocking this core; MSG_NOSIGNAL turns a closed peer into EPIPE.
        let n = unsafe {
            libc::send(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        };
        match n {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            n => return n.max(0) as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::pin::pin;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use super::*;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Count {
        fn get(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn pair() -> (UnixStream, UnixStream) {
        let (origin, client) = UnixStream::pair().unwrap();
        client.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        (origin, client)
    }

    fn settled_now(direct: &mut Direct, waker: &Waker) -> Poll<Option<Vec<u8>>> {
        pin!(direct.settled()).as_mut().poll(&mut Context::from_waker(waker))
    }

    /// Everything `client` can read now, without waiting.
    fn drain(client: &mut UnixStream) -> Vec<u8> {
        client.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = [0; 64 * 1024];
        while let Ok(n @ 1..) = client.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    #[test]
    fn a_written_reply_reaches_the_client_and_settles_without_a_wake() {
        let (origin, mut client) = pair();
        let mut direct = Direct::new(&origin).unwrap();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let reply = direct.send();
        assert!(direct.in_flight());
        assert!(direct.poll_returned(&Context::from_waker(&waker)).is_pending());
        reply.write(b"$5\r\nhello\r\n");
        let mut got = [0; 11];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"$5\r\nhello\r\n");
        assert_eq!(count.get(), 0, "the read's completion, not a wake, finds a written reply");
        assert!(direct.poll_returned(&Context::from_waker(&waker)).is_pending());
        assert_eq!(settled_now(&mut direct, &waker), Poll::Ready(None));
        assert!(!direct.in_flight());
    }

    #[test]
    fn a_connection_waiting_to_settle_is_woken_by_the_write() {
        let (origin, mut client) = pair();
        let mut direct = Direct::new(&origin).unwrap();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let reply = direct.send();
        assert_eq!(settled_now(&mut direct, &waker), Poll::Pending);
        reply.write(b"+OK\r\n");
        assert_eq!(count.get(), 1);
        assert_eq!(settled_now(&mut direct, &waker), Poll::Ready(None));
        assert_eq!(drain(&mut client), b"+OK\r\n");
    }

    #[test]
    fn what_the_socket_does_not_take_comes_back_in_order() {
        let (origin, mut client) = pair();
        let mut direct = Direct::new(&origin).unwrap();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        // Far more than a socket buffer holds: the owning core writes a part, and the rest
        // wakes the connection waiting in its read.
        let big: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        let reply = direct.send();
        assert!(direct.poll_returned(&Context::from_waker(&waker)).is_pending());
        reply.write(&big);
        assert_eq!(count.get(), 1);
        let Poll::Ready(rest) = direct.poll_returned(&Context::from_waker(&waker)) else {
            panic!("the rest did not come back")
        };
        assert!(!direct.in_flight());
        assert!(!rest.is_empty() && rest.len() < big.len(), "a part was written: {}", rest.len());
        let mut got = drain(&mut client);
        got.extend_from_slice(&rest);
        assert_eq!(got, big, "the part written and the rest make the reply");
    }

    #[test]
    fn a_reply_dropped_unserved_answers_with_an_error() {
        let (origin, mut client) = pair();
        let mut direct = Direct::new(&origin).unwrap();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        assert!(direct.poll_returned(&Context::from_waker(&waker)).is_pending());
        drop(direct.send()); // the owning core shut down with it queued
        assert_eq!(count.get(), 1);
        let want = b"-ERR the shard owning this key is shutting down\r\n".to_vec();
        assert_eq!(settled_now(&mut direct, &waker), Poll::Ready(Some(want)));
        assert!(drain(&mut client).is_empty(), "nothing reached the client itself");
    }

    #[test]
    fn a_closed_connection_number_reused_by_another_socket_gets_nothing() {
        let (origin, mut client) = pair();
        let direct = Direct::new(&origin).unwrap();
        let reply = direct.send();
        drop(origin); // the connection closed with the reply in flight
        let (mut reused, mut other_client) = pair();
        reply.write(b"late");
        assert_eq!(drain(&mut client), b"late", "still written to its own client");
        assert!(drain(&mut other_client).is_empty(), "nothing for whoever has the number now");
        assert!(drain(&mut reused).is_empty());
        // The duplicate goes with the last holder: the client then sees the close.
        drop(direct);
        client.set_nonblocking(false).unwrap();
        assert_eq!(client.read(&mut [0; 8]).unwrap(), 0, "the duplicate was closed");
    }
}
