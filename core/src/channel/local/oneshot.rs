//! A local oneshot: one value from one task to another on the same core.

use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::channel::{RecvError, TryRecvError};

struct Slot<T> {
    value: Option<T>,
    receiver: Option<Waker>,
    /// The sender's task, waiting in [`OneshotSender::closed`].
    sender: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
}

/// A channel for one value between tasks of one core (`!Send`, no atomics). The receiver is
/// a future; it fails with [`RecvError`] if the sender is dropped without sending.
///
/// ```
/// use ringpoll::channel::local;
///
/// ringpoll::block_on(async {
///     let (tx, rx) = local::oneshot();
///     ringpoll::spawn(async move { tx.send("done").unwrap() }).detach();
///     assert_eq!(rx.await, Ok("done"));
/// });
/// ```
pub fn oneshot<T>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let slot = Rc::new(RefCell::new(Slot {
        value: None,
        receiver: None,
        sender: None,
        sender_alive: true,
        receiver_alive: true,
    }));
    (OneshotSender { slot: slot.clone() }, OneshotReceiver { slot })
}

/// Sends the one value of a [`oneshot`].
pub struct OneshotSender<T> {
    slot: Rc<RefCell<Slot<T>>>,
}

impl<T> OneshotSender<T> {
    /// Sends `value`; gives it back if the receiver is gone.
    pub fn send(self, value: T) -> Result<(), T> {
        let mut slot = self.slot.borrow_mut();
        if !slot.receiver_alive {
            return Err(value);
        }
        slot.value = Some(value);
        Ok(())
        // Dropping self wakes the receiver.
    }

    /// Whether the receiver is gone (closed or dropped).
    pub fn is_closed(&self) -> bool {
        !self.slot.borrow().receiver_alive
    }

    /// Completes once the receiver is closed or dropped: for a task computing a reply that
    /// nobody may want any more.
    ///
    /// ```
    /// use ringpoll::channel::local;
    ///
    /// ringpoll::block_on(async {
    ///     let (mut tx, rx) = local::oneshot::<u32>();
    ///     let worker = ringpoll::spawn(async move {
    ///         tx.closed().await; // in practice, raced against the work
    ///         tx.send(1).is_err()
    ///     });
    ///     drop(rx);
    ///     assert!(worker.await.unwrap(), "the reply has nowhere to go");
    /// });
    /// ```
    pub async fn closed(&mut self) {
        poll_fn(|cx| self.poll_closed(cx)).await
    }

    /// The poll behind [`closed`](OneshotSender::closed): `Pending` leaves `cx`'s waker for
    /// the receiver's close or drop.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut slot = self.slot.borrow_mut();
        if !slot.receiver_alive {
            return Poll::Ready(());
        }
        slot.sender = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.slot.borrow_mut();
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
        f.debug_struct("local::OneshotSender").field("closed", &self.is_closed()).finish()
    }
}

/// Receives the one value of a [`oneshot`]: await it.
pub struct OneshotReceiver<T> {
    slot: Rc<RefCell<Slot<T>>>,
}

impl<T> OneshotReceiver<T> {
    /// The value, if it was sent; `Closed` if the sender was dropped without sending, or this
    /// receiver was closed before it sent.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut slot = self.slot.borrow_mut();
        match slot.value.take() {
            Some(v) => Ok(v),
            None if slot.sender_alive && slot.receiver_alive => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Closed),
        }
    }

    /// Refuses the value: a later `send` fails and gives it back. A value sent before stays
    /// receivable; otherwise awaiting the receiver fails with [`RecvError`] (as the
    /// cross-core oneshot's does).
    pub fn close(&mut self) {
        let waiting_sender = {
            let mut slot = self.slot.borrow_mut();
            slot.receiver_alive = false;
            slot.sender.take()
        };
        if let Some(w) = waiting_sender {
            w.wake();
        }
    }
}

impl<T> Future for OneshotReceiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.try_recv() {
            Ok(v) => Poll::Ready(Ok(v)),
            Err(TryRecvError::Closed) => Poll::Ready(Err(RecvError)),
            Err(TryRecvError::Empty) => {
                self.slot.borrow_mut().receiver = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for OneshotReceiver<T> {
    fn drop(&mut self) {
        self.close();
        let value = self.slot.borrow_mut().value.take();
        drop(value);
    }
}

impl<T> fmt::Debug for OneshotReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local::OneshotReceiver").finish_non_exhaustive()
    }
}
