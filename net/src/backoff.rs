//! Riding out descriptor exhaustion in an accept loop, shared by every listener type.

use std::future::Future;
use std::io;
use std::time::Duration;

use ringpoll_reactor::drain::until_draining;

/// The first pause after an exhaustion error; it doubles up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Calls `accept` until it yields something other than a resource-exhaustion error, sleeping
/// between tries (5 ms, doubling up to 1 s) as Go's `http.Server` does: retrying at once
/// would spin on the error, and giving up would end a server that a moment later could go
/// on. The sleep ends early with the shutdown error once the runtime drains.
pub(crate) async fn retry_when_exhausted<T, F, Fut>(mut accept: F) -> io::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut delay = FIRST_DELAY;
    loop {
        match accept().await {
            Err(e) if is_resource_exhaustion(&e) => {
                let pause = async {
                    ringpoll_reactor::time::sleep(delay).await;
                    Ok(())
                };
                until_draining(pause).await?;
                delay = (delay * 2).min(MAX_DELAY);
            }
            other => return other,
        }
    }
}

/// Errors that go away when descriptors or memory are freed.
fn is_resource_exhaustion(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}
