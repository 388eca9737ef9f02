//! Polling a future once by hand, so its operation is submitted (io_uring) or parked (epoll).

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;

/// Polls `f` once from the calling task; true if that finished it.
pub async fn poll_once<F: Future + ?Sized>(mut f: Pin<&mut F>) -> bool {
    poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx).is_ready())).await
}

/// Polls `f` once and drops it, returning its output if that one poll finished it.
pub async fn poll_once_then_drop<F: Future>(f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    match poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// Polls `f` once, then drops it. Only for futures that cannot complete on their first poll
/// (nothing to receive yet).
pub async fn start_and_drop<F: Future>(f: F) {
    assert!(poll_once_then_drop(f).await.is_none(), "the future was expected to wait");
}
