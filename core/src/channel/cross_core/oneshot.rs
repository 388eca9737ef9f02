//! A cross-core oneshot: one value, typically a reply, from any thread to one waiting task.
//!
//! One value crosses, once, so a small mutex is enough; the receiver's waker sends the wake
//! to the receiver's core (mailbox and break), never to another.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::channel::{RecvError, TryRecvError};

struct Slot<T> {
    value: Option<T>,
    receiver: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
}

struct Shared<T>(Mutex<Slot<T>>);

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // Nothing panics while holding it; a poisoned slot is still consistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A channel for one value between cores: the reply half of a request sent to another
/// core. The receiver is a future; it fails with [`RecvError`] if the sender is dropped
/// without sending (the other core shut down, or its task was cancelled).
///
/// ```no_run
/// use ringpoll::channel::cross_core;
/// use ringpoll::Runtime;
///
/// let rt = Runtime::builder().cores([0, 1]).build()?;
/// let (reply, answer) = cross_core::oneshot();
/// rt.spawn_on(1, move || async move { reply.send(42).unwrap() }).detach();
/// let got = rt.spawn_on(0, move || answer);
/// assert_eq!(got.join().unwrap(), Ok(42));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn oneshot<T: Send>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let slot = Slot { value: None, receiver: None, sender_alive: true, receiver_alive: true };
    let shared = Arc::new(Shared(Mutex::new(slot)));
    (OneshotSender { shared: shared.clone() }, OneshotReceiver { shared })
}

/// Sends the one value of a cross-core [`oneshot`]; `Send`.
pub struct OneshotSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> OneshotSender<T> {
    /// Sends `value`; gives it back if the receiver is gone.
    pub fn send(self, value: T) -> Result<(), T> {
        let mut slot = self.shared.lock();
        if !slot.receiver_alive {
            return Err(value);
        }
        slot.value = Some(value);
        Ok(())
        // Dropping self wakes the receiver.
    }

    /// Whether the receiver is gone (closed or dropped).
    pub fn is_closed(&self) -> bool {
        !self.shared.lock().receiver_alive
    }
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.shared.lock();
            slot.sender_alive = false;
            slot.receiver.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for OneshotSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("cross_core::OneshotSender").field("closed", &self.is_closed()).finish()
    }
}

/// Receives the one value of a cross-core [`oneshot`]: await it.
pub struct OneshotReceiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> OneshotReceiver<T> {
    /// The value, if it was sent.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut slot = self.shared.lock();
        match slot.value.take() {
            Some(v) => Ok(v),
            None if slot.sender_alive => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Closed),
        }
    }

    /// Refuses the value: a later `send` fails and gives it back.
    pub fn close(&mut self) {
        self.shared.lock().receiver_alive = false;
    }
}

impl<T> Future for OneshotReceiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.shared.lock();
        match slot.value.take() {
            Some(v) => Poll::Ready(Ok(v)),
            None if !slot.sender_alive => Poll::Ready(Err(RecvError)),
            None => {
                match &mut slot.receiver {
                    Some(w) => w.clone_from(cx.waker()),
                    None => slot.receiver = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for OneshotReceiver<T> {
    fn drop(&mut self) {
        let value = {
            let mut slot = self.shared.lock();
            slot.receiver_alive = false;
            slot.value.take()
        };
        drop(value);
    }
}

impl<T> fmt::Debug for OneshotReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("cross_core::OneshotReceiver").finish_non_exhaustive()
    }
}
