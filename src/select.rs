//! `select!`: waits for the first of several futures whose output matches its pattern, on the
//! current task, and drops the rest.
//!
//! The macro's recursion reads one branch per step and names that branch's future and output
//! with identifiers made in the step: `macro_rules!` hygiene keeps them apart, so every future
//! is pinned on the task's stack under a name of its own, without `unsafe` and without a
//! procedural macro. The output waits in a local declared outside the block that holds the
//! futures, so they are dropped before the handler runs (it may then use what they borrowed).

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

thread_local! {
    /// The state of this thread's xorshift generator, seeded by std's random hash keys.
    static RNG: Cell<u64> = Cell::new(RandomState::new().hash_one(0u64) | 1);
}

/// A pseudo-random branch in `0..branches`: where an unbiased `select!` starts polling.
///
/// Random rather than rotating: a counter shared by every `select!` of the thread falls into
/// step with a loop that runs two of them in turn (each would always see the same start), and
/// a counter per call site does the same when tasks take turns at one site. A generator has no
/// such period to fall into.
pub fn start_branch(branches: usize) -> usize {
    RNG.with(|rng| {
        // xorshift64 (Marsaglia): three shifts, a full period over the nonzero states.
        let mut x = rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rng.set(x);
        // The high 32 bits scaled to the range, without a division (Lemire).
        (((x >> 32) * branches as u64) >> 32) as usize
    })
}

/// Waits on several futures at once and runs the handler of the first whose output matches
/// its pattern; the other futures are dropped, cancelled where they stand.
///
/// The syntax is tokio's:
///
/// ```text
/// ringpoll::select! {
///     biased;                                          // optional: poll in the written order
///     <pattern> = <future> => <handler>,
///     <pattern> = <future>, if <precondition> => <handler>,
///     else => <expression>                             // optional; it must come last
/// }
/// ```
///
/// A handler is an expression followed by a comma, or a block (the comma is optional then).
/// `select!` is an expression: its value is the handler's. It runs in the enclosing function,
/// so `return`, `?`, `break` and `continue` there act on that function and its loops, and it
/// must be used inside an `async` context, like `.await`.
///
/// What happens, in order:
///
/// 1. Every precondition is evaluated; a branch whose precondition is false is disabled.
/// 2. Every future expression is evaluated, a disabled branch's too (its future is never
///    polled). The futures are pinned on the task's stack: they may be `!Unpin` and `!Send`,
///    and may borrow locals.
/// 3. Each time the task is polled, so is every enabled branch's future, until one is ready.
///    If its output matches the pattern, `select!` drops every future and then runs that
///    branch's handler with the pattern's bindings. If it does not match, the branch is
///    disabled and the others go on.
/// 4. Once every branch is disabled, the `else` expression is the value of `select!`. Without
///    an `else` branch that is a panic: "all branches are disabled and there is no else
///    branch".
///
/// **Fairness.** Without `biased;`, each `select!` starts polling at a pseudo-random branch
/// (a per-thread xorshift generator) and goes on in order from there, so a branch that is
/// always ready does not starve the ones written after it. A random start is used rather than
/// a rotating one because a rotating counter can fall into step with the caller: two
/// `select!`s taking turns in a loop would each always see the same start. With `biased;`,
/// branches are polled in the order written, which suits a shutdown signal that must win over
/// work, at the price of that starvation if an early branch is always ready.
///
/// **Budget.** As tokio's, `select!` waits (and wakes its task at once) when the task has
/// spent its budget of I/O operations for this poll, instead of polling its branches: the
/// I/O branches would all wait then, and a branch that takes no budget (a ready future, a
/// local channel) would win every time, so a loop around `select!` would never yield.
///
/// **Limits.** One `select!` takes 1 to 64 branches, plus `else`; more is a compile error.
/// Only the handler of a matching branch runs, after all futures are dropped: a future's
/// output that matched no pattern is dropped with it.
///
/// Two channels read until both are closed, and a timer for a quiet spell:
///
/// ```
/// use std::time::Duration;
///
/// use ringpoll::channel::local;
/// use ringpoll::time::sleep;
///
/// ringpoll::block_on(async {
///     let (numbers, mut rx_numbers) = local::unbounded::<u32>();
///     let (words, mut rx_words) = local::unbounded::<&str>();
///     ringpoll::spawn(async move {
///         for n in 1..=3 {
///             numbers.send(n).await.unwrap();
///         }
///         words.send("four").await.unwrap();
///     })
///     .detach();
///
///     let (mut sum, mut seen) = (0, Vec::new());
///     loop {
///         ringpoll::select! {
///             // A closed channel gives `None`, which does not match: the branch is disabled
///             // for this pass of the loop.
///             Some(n) = rx_numbers.recv() => sum += n,
///             Some(word) = rx_words.recv() => seen.push(word),
///             // Both closed: every branch is disabled.
///             else => break,
///         }
///     }
///     assert_eq!((sum, seen), (6, vec!["four"]));
///
///     // A read that takes too long loses to a timer, and is dropped (cancelled).
///     let (_keep_open, mut idle) = local::unbounded::<u32>();
///     let got = ringpoll::select! {
///         Some(n) = idle.recv() => Some(n),
///         () = sleep(Duration::from_millis(10)) => None,
///     };
///     assert_eq!(got, None);
/// });
/// ```
///
/// A precondition, and `biased;` to check a shutdown flag first:
///
/// ```
/// use std::future::ready;
///
/// ringpoll::block_on(async {
///     let mut stopping = false;
///     let mut handled = 0;
///     for _ in 0..3 {
///         let done = ringpoll::select! {
///             biased;
///             _ = ready(()), if stopping => true,
///             job = ready(handled + 1) => {
///                 handled = job;
///                 stopping = handled == 2;
///                 false
///             }
///         };
///         if done {
///             break;
///         }
///     }
///     assert_eq!(handled, 2);
/// });
/// ```
///
/// A sixty-fifth branch does not compile:
///
/// ```compile_fail
/// macro_rules! many {
///     ($($n:literal)*) => {
///         ringpoll::block_on(async {
///             ringpoll::select! { $(_ = std::future::ready($n) => {})* }
///         })
///     };
/// }
/// many!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
///       32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60
///       61 62 63 64);
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__select_parse!(
            [$($tokens)*]
            // Unbiased unless the first tokens say otherwise.
            unbiased
            // The branch numbers not yet taken, one bit of the mask each.
            [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
             32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60
             61 62 63]
            // The branches read so far.
            []
        )
    };
}

/// The recursion behind [`select!`]: reads `biased;`, then one branch per step into the list
/// `(number future out (pattern) (future expression) (precondition) (handler))`, where
/// `future` and `out` are names made in that step; then hands the list to `__select_poll!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // `biased;` first.
    ([biased; $($rest:tt)*] unbiased $numbers:tt []) => {
        $crate::__select_parse!([$($rest)*] biased $numbers [])
    };

    // The end, with or without `else`.
    ([] $bias:ident $numbers:tt []) => {
        ::core::compile_error!("ringpoll::select! needs at least one branch besides `else`")
    };
    ([else => $else:expr $(,)?] $bias:ident $numbers:tt []) => {
        ::core::compile_error!("ringpoll::select! needs at least one branch besides `else`")
    };
    ([] $bias:ident $numbers:tt [$($branches:tt)*]) => {
        $crate::__select_poll!($bias [$($branches)*] {
            ::core::panic!("ringpoll::select!: all branches are disabled and there is no else branch")
        })
    };
    // Handlers and `else` go on as blocks: one in braces of ours would draw `unused_braces`.
    ([else => $else:block $(,)?] $bias:ident $numbers:tt [$($branches:tt)*]) => {
        $crate::__select_poll!($bias [$($branches)*] $else)
    };
    ([else => $else:expr $(,)?] $bias:ident $numbers:tt [$($branches:tt)*]) => {
        $crate::__select_poll!($bias [$($branches)*] { $else })
    };
    ([else => $($rest:tt)*] $bias:ident $numbers:tt $branches:tt) => {
        ::core::compile_error!("ringpoll::select!: `else` must be the last branch")
    };

    // A branch, when no number is left for it.
    ([$($rest:tt)+] $bias:ident [] $branches:tt) => {
        ::core::compile_error!("ringpoll::select! takes at most 64 branches")
    };

    // A branch with a precondition; a block handler needs no comma after it.
    ([$p:pat = $f:expr, if $c:expr => $h:block $(, $($rest:tt)*)?] $bias:ident [$n:tt $($numbers:tt)*] [$($branches:tt)*]) => {
        $crate::__select_parse!([$($($rest)*)?] $bias [$($numbers)*] [$($branches)* ($n future out ($p) ($f) ($c) ($h))])
    };
    ([$p:pat = $f:expr, if $c:expr => $h:block $($rest:tt)*] $bias:ident [$n:tt $($numbers:tt)*] [$($branches:tt)*]) => {
        $crate::__select_parse!([$($rest)*] $bias [$($numbers)*] [$($branches)* ($n future out ($p) ($f) ($c) ($h))])
    };
    ([$p:pat = $f:expr, if $c:expr => $h:expr $(, $($rest:tt)*)?] $bias:ident [$n:tt $($numbers:tt)*] [$($branches:tt)*]) => {
        $crate::__select_parse!([$($($rest)*)?] $bias [$($numbers)*] [$($branches)* ($n future out ($p) ($f) ($c) ({ $h }))])
    };

    // A branch without one.
    ([$p:pat = $f:expr => $h:block $(, $($rest:tt)*)?] $bias:ident [$n:tt $($numbers:tt)*] [$($branches:tt)*]) => {
        $crate::__select_parse!([$($($rest)*)?] $bias [$($numbers)*] [$($branches)* ($n future out ($p) ($f) (true) ($h))])
    };
    ([$p:pat = $f:expr => $h:block $($rest:tt)*] $bias:ident [$n:tt $($numbers:tt)*] [$($branches:tt)*]) => {
        $crate::__select_parse!([$($rest)*] $bias [$($numbers)*] [$($branches)* ($n future out ($p) ($f) (true) ($h))])
    };
    ([$p:pat = $f:expr => $h:expr $(, $($rest:tt)*)?] $bias:ident [$n:tt $($numbers:tt)*] [$($branches:tt)*]) => {
        $crate::__select_parse!([$($($rest)*)?] $bias [$($numbers)*] [$($branches)* ($n future out ($p) ($f) (true) ({ $h }))])
    };

    ([$($rest:tt)*] $($state:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "ringpoll::select!: expected `<pattern> = <future> => <handler>,` or `else => <expression>`, found `",
            ::core::stringify!($($rest)*),
            "`",
        ))
    };
}

/// The code of [`select!`], from the branches `__select_parse!` read.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_poll {
    ($bias:ident [$(($n:tt $future:ident $out:ident ($p:pat) ($f:expr) ($c:expr) ($h:block)))+] $else:block) => {{
        let all: u64 = 0 $(| 1 << $n)+;
        let branches: usize = [$($n),+].len();
        // Bit `n` set: branch `n` is disabled (precondition false, or its output matched no
        // pattern).
        let mut disabled: u64 = 0;
        $(
            if !$c {
                disabled |= 1 << $n;
            }
        )+
        $( let mut $out = ::core::option::Option::None; )+
        {
            $( let mut $future = ::core::pin::pin!(::core::future::IntoFuture::into_future($f)); )+
            let start = $crate::__select_start!($bias branches);
            ::core::future::poll_fn(|cx| {
                // A spent budget makes the I/O branches wait: yield rather than let a branch
                // that takes no budget win every time.
                if $crate::__macros::poll_budget_available(cx).is_pending() {
                    return ::core::task::Poll::Pending;
                }
                for step in 0..branches {
                    match (start + step) % branches {
                        $(
                            $n => {
                                if disabled & (1 << $n) != 0 {
                                    continue;
                                }
                                let ::core::task::Poll::Ready(output) =
                                    ::core::future::Future::poll($future.as_mut(), cx)
                                else {
                                    continue;
                                };
                                // Whether the output matches, without moving it: the guard
                                // runs only on a match, sees the bindings by reference, and
                                // fails, so the arm that would move them never runs.
                                let mut matched = false;
                                #[allow(unused_variables, unused_mut, clippy::match_single_binding)]
                                match output {
                                    $p if {
                                        matched = true;
                                        false
                                    } => ::core::unreachable!(),
                                    _ => {}
                                }
                                if matched {
                                    $out = ::core::option::Option::Some(output);
                                    return ::core::task::Poll::Ready(());
                                }
                                disabled |= 1 << $n;
                            }
                        )+
                        _ => ::core::unreachable!(),
                    }
                }
                if disabled == all {
                    ::core::task::Poll::Ready(())
                } else {
                    ::core::task::Poll::Pending
                }
            })
            .await;
        }
        // The futures are gone: run the handler of the branch that matched, if one did.
        $(
            if let ::core::option::Option::Some($p) = $out $h else
        )+
        $else
    }};
}

/// Where [`select!`] starts polling: the first branch when biased, a random one otherwise.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_start {
    (biased $branches:expr) => {
        0
    };
    (unbiased $branches:expr) => {
        $crate::__macros::start_branch($branches)
    };
}
