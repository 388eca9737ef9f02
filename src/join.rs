//! `join!` and `try_join!`: several futures awaited together on the current task.
//!
//! Each future is pinned on the stack of the task (it may be `!Unpin` and `!Send`) and set to
//! `None` as soon as it completes, so what it held is released then, not when the last one
//! finishes. The macros name each future with an identifier made in a step of their own
//! recursion: `macro_rules!` hygiene keeps those apart, where a declarative macro could not
//! make up distinct names otherwise.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Polls `future` unless it is done, moving its output to `out` when it completes. True once
/// `out` holds the output.
pub fn poll_join<F: Future>(
    mut future: Pin<&mut Option<F>>,
    out: &mut Option<F::Output>,
    cx: &mut Context<'_>,
) -> bool {
    if let Some(running) = future.as_mut().as_pin_mut() {
        if let Poll::Ready(value) = running.poll(cx) {
            *out = Some(value);
            future.set(None);
        }
    }
    out.is_some()
}

/// As [`poll_join`] for a future of `Result`s: an `Ok` goes to `out`, an `Err` is returned.
pub fn poll_try_join<F, T, E>(
    mut future: Pin<&mut Option<F>>,
    out: &mut Option<T>,
    cx: &mut Context<'_>,
) -> Result<bool, E>
where
    F: Future<Output = Result<T, E>>,
{
    if let Some(running) = future.as_mut().as_pin_mut() {
        if let Poll::Ready(result) = running.poll(cx) {
            future.set(None);
            *out = Some(result?);
        }
    }
    Ok(out.is_some())
}

/// Waits for several futures at once on the current task and returns their outputs as a
/// tuple, in the order the futures are written.
///
/// The futures run concurrently, not in parallel: each poll of the task polls every future
/// that has not finished yet, in order. They are neither spawned nor moved, so they may borrow
/// locals and be `!Send` or `!Unpin`. Each is dropped as soon as it completes. `join!` must be
/// used inside an `async` context, like `.await`; with one future the output is a one-element
/// tuple, with none it is `()`.
///
/// To run futures in parallel on other cores, spawn them there ([`Handle::spawn_on`]) and
/// join their handles with this macro.
///
/// [`Handle::spawn_on`]: crate::Handle::spawn_on
///
/// ```
/// use std::time::Duration;
///
/// ringpoll::block_on(async {
///     let (a, b) = ringpoll::join!(
///         async {
///             ringpoll::time::sleep(Duration::from_millis(5)).await;
///             1
///         },
///         async { "two" },
///     );
///     assert_eq!((a, b), (1, "two"));
/// });
/// ```
#[macro_export]
macro_rules! join {
    ($($future:expr),* $(,)?) => {
        $crate::__join_bind!(join [] $($future,)*)
    };
}

/// Waits for several futures of `Result`s at once on the current task: `Ok` with the tuple of
/// their values if all succeed, or the first `Err` as soon as it comes.
///
/// As [`join!`], the futures run concurrently on the current task and may be `!Send` or
/// `!Unpin`. On the first error the others are dropped, cancelled where they stand, before
/// `try_join!` returns. Every future's error type must be the same.
///
/// ```
/// use std::io;
///
/// async fn fetch(n: u32) -> io::Result<u32> {
///     Ok(n * 10)
/// }
///
/// async fn fail() -> io::Result<u32> {
///     Err(io::Error::other("no"))
/// }
///
/// ringpoll::block_on(async {
///     let (a, b) = ringpoll::try_join!(fetch(1), fetch(2))?;
///     assert_eq!((a, b), (10, 20));
///
///     let failed = ringpoll::try_join!(fetch(3), fail());
///     assert_eq!(failed.unwrap_err().to_string(), "no");
///     io::Result::Ok(())
/// })
/// .unwrap();
/// ```
#[macro_export]
macro_rules! try_join {
    ($($future:expr),* $(,)?) => {
        $crate::__join_bind!(try_join [] $($future,)*)
    };
}

/// The recursion behind [`join!`] and [`try_join!`]: pins one future per step, under the names
/// `future` and `out` made in that step (hygiene keeps each step's apart), then polls them all.
#[doc(hidden)]
#[macro_export]
macro_rules! __join_bind {
    (join []) => {
        ()
    };
    (join [$(($future:ident $out:ident))*]) => {{
        ::core::future::poll_fn(|cx| {
            let mut done = true;
            $( done &= $crate::__macros::poll_join($future.as_mut(), &mut $out, cx); )*
            if !done {
                return ::core::task::Poll::Pending;
            }
            ::core::task::Poll::Ready(($(
                $out.take().expect("ringpoll::join!: output taken twice"),
            )*))
        })
        .await
    }};
    (try_join []) => {
        ::core::result::Result::Ok(())
    };
    (try_join [$(($future:ident $out:ident))*]) => {{
        ::core::future::poll_fn(|cx| {
            let mut done = true;
            $(
                match $crate::__macros::poll_try_join($future.as_mut(), &mut $out, cx) {
                    ::core::result::Result::Ok(finished) => done &= finished,
                    ::core::result::Result::Err(e) => return ::core::task::Poll::Ready(::core::result::Result::Err(e)),
                }
            )*
            if !done {
                return ::core::task::Poll::Pending;
            }
            ::core::task::Poll::Ready(::core::result::Result::Ok(($(
                $out.take().expect("ringpoll::try_join!: output taken twice"),
            )*)))
        })
        .await
    }};
    ($mode:ident [$($bound:tt)*] $head:expr, $($rest:expr,)*) => {{
        let mut future = ::core::pin::pin!(::core::option::Option::Some(::core::future::IntoFuture::into_future($head)));
        let mut out = ::core::option::Option::None;
        $crate::__join_bind!($mode [$($bound)* (future out)] $($rest,)*)
    }};
}
