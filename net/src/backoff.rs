//! Riding out descriptor exhaustion in an accept loop, shared by every listener type.

use std::future::{poll_fn, Future};
use std::io;
use std::task::{ready, Poll};
use std::time::{Duration, Instant};

use ringpoll_reactor::drain::until_draining;
use ringpoll_reactor::{Interest, Source};

/// The first pause after an exhaustion error; it doubles up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Calls `accept` until it yields something other than a resource-exhaustion error, sleeping
/// between tries (5 ms, doubling up to 1 s) as Go's `http.Server` does: retrying at once
/// would spin on the error, and giving up would end a server that a moment later could go
/// on. The sleep ends early with the shutdown error once the runtime drains, and with
/// `TimedOut` at the accept deadline of `listener`: an accept with a deadline returns by it,
/// out of descriptors or not, also when the deadline is set or moved during a pause.
pub(crate) async fn retry_when_exhausted<T, F, Fut>(listener: &Source, mut accept: F) -> io::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut delay = FIRST_DELAY;
    loop {
        match accept().await {
            Err(e) if is_resource_exhaustion(&e) => {
                pause(delay, listener).await?;
                delay = (delay * 2).min(MAX_DELAY);
            }
            other => return other,
        }
    }
}

/// Sleeps for `delay`, or until the accept deadline of `listener` if that comes first, the
/// deadline as it is now, not as it was when the pause began: fails with `TimedOut` once it
/// has passed, and with the shutdown error once the runtime drains.
async fn pause(delay: Duration, listener: &Source) -> io::Result<()> {
    let wake = Instant::now() + delay;
    let mut sleep = ringpoll_reactor::time::sleep_until(wake);
    until_draining(poll_fn(move |cx| {
        let deadline = listener.watch_deadline(Interest::Read, cx);
        let until = deadline.map_or(wake, |at| at.min(wake));
        if sleep.deadline() != until {
            sleep.reset(until);
        }
        ready!(sleep.poll_elapsed(cx));
        Poll::Ready(listener.check_deadline(Interest::Read))
    }))
    .await
}

/// Errors that go away when descriptors or memory are freed.
fn is_resource_exhaustion(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exhaustion_errno_backs_off_and_nothing_else_does() {
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert!(is_resource_exhaustion(&io::Error::from_raw_os_error(errno)), "errno {errno}");
        }
        for errno in [libc::ECONNABORTED, libc::EINVAL, libc::EBADF, libc::EPERM, libc::EAGAIN] {
            assert!(!is_resource_exhaustion(&io::Error::from_raw_os_error(errno)), "errno {errno}");
        }
        assert!(!is_resource_exhaustion(&io::Error::other("no errno")));
    }
}
