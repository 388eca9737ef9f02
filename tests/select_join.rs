//! `join!`, `try_join!` and `select!`: concurrency shown by futures that would deadlock if
//! polled one after the other, cancellation by drop guards, and `select!`'s branch rules.

mod support;

use std::cell::Cell;
use std::future::{pending, ready, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use ringpoll::channel::local;
use ringpoll::sync::Notify;
use ringpoll::time::sleep;
use support::*;

/// Runs `test` on a core of the driver under test, failing if it takes more than 10 s (a
/// branch that is never disabled, a future that is never woken).
fn check<F: Future>(test: F) -> F::Output {
    run(bounded(test))
}

/// Sets its flag when dropped: shows that a future holding it was dropped, and when.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A flag and the guard that sets it.
fn drop_flag() -> (Rc<Cell<bool>>, DropFlag) {
    let flag = Rc::new(Cell::new(false));
    (flag.clone(), DropFlag(flag))
}

/// A future that never completes and sets `flag` when dropped.
async fn pending_until_dropped(guard: DropFlag) {
    let _guard = guard;
    pending::<()>().await;
}

/// Counts its polls and is never ready.
struct CountPolls(Rc<Cell<u32>>);

impl Future for CountPolls {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.0.set(self.0.get() + 1);
        Poll::Pending
    }
}

/// Counts its polls and is ready at once with `value`.
struct ReadyCounting<T>(Rc<Cell<u32>>, Option<T>);

impl<T: Unpin> Future for ReadyCounting<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
        self.0.set(self.0.get() + 1);
        Poll::Ready(self.1.take().expect("polled after it completed"))
    }
}

/// Two futures that each go on only after the other has started: awaited one after the other
/// they deadlock (the first waits for the second, which nobody polls), so finishing at all
/// shows they were polled together.
fn handshake() -> (impl Future<Output = &'static str>, impl Future<Output = u32>) {
    let (a_go, b_go) = (Rc::new(Notify::new()), Rc::new(Notify::new()));
    let a = {
        let (a_go, b_go) = (a_go.clone(), b_go.clone());
        async move {
            b_go.notify_one();
            a_go.notified().await;
            "a"
        }
    };
    let b = async move {
        b_go.notified().await;
        a_go.notify_one();
        2
    };
    (a, b)
}

#[test]
fn join_polls_its_futures_concurrently() {
    check(async {
        let (a, b) = handshake();
        let out = ringpoll::join!(a, b);
        assert_eq!(out, ("a", 2));
    });
}

#[test]
fn join_is_not_sequential_awaits() {
    // The control for the test above: the same pair awaited in turn never finishes.
    check(async {
        let (a, b) = handshake();
        let sequential = async { (a.await, b.await) };
        assert!(ringpoll::time::timeout(Duration::from_millis(20), sequential).await.is_err());
    });
}

#[test]
fn join_takes_any_number_of_futures_borrowing_locals() {
    check(async {
        let name = String::from("local");
        let rc = Rc::new(5); // !Send futures are fine
        let (a, b, c) = ringpoll::join!(async { name.len() }, async { *rc }, ready('c'),);
        assert_eq!((a, b, c), (5, 5, 'c'));
        let (one,) = ringpoll::join!(async { 1 });
        assert_eq!(one, 1);
        let () = ringpoll::join!();
    });
}

#[test]
fn join_drops_a_completed_future_before_the_others_finish() {
    check(async {
        let (dropped, guard) = drop_flag();
        let seen = Cell::new(false);
        let first = async move {
            let _guard = guard;
        };
        let second = async {
            ringpoll::yield_now().await;
            seen.set(dropped.get());
        };
        ringpoll::join!(first, second);
        assert!(seen.get(), "the finished future was still alive while the other ran");
    });
}

#[test]
fn try_join_returns_every_value_when_all_succeed() {
    check(async {
        let (a, b) = handshake();
        let out: Result<_, String> = ringpoll::try_join!(async { Ok(a.await) }, async { Ok(b.await) });
        assert_eq!(out, Ok(("a", 2)));
    });
}

#[test]
fn try_join_stops_at_the_first_error_and_drops_the_others() {
    check(async {
        let (dropped, guard) = drop_flag();
        let waiting = async move {
            pending_until_dropped(guard).await;
            Ok::<u32, &str>(1)
        };
        let failing = async {
            ringpoll::yield_now().await;
            Err::<u32, &str>("boom")
        };
        let out = ringpoll::try_join!(waiting, failing);
        assert_eq!(out, Err("boom"));
        assert!(dropped.get(), "the future still running was not dropped");
    });
}

#[test]
fn select_takes_the_ready_branch() {
    check(async {
        for _ in 0..50 {
            let got = ringpoll::select! {
                _ = pending::<()>() => 0,
                n = ready(7) => n,
                _ = sleep(Duration::from_secs(10)) => 1,
            };
            assert_eq!(got, 7);
        }
    });
}

#[test]
fn select_waits_for_the_branch_that_becomes_ready() {
    check(async {
        let (tx, mut rx) = local::unbounded();
        ringpoll::spawn(async move {
            ringpoll::yield_now().await;
            tx.send("late").await.unwrap();
        })
        .detach();
        let got = ringpoll::select! {
            Some(msg) = rx.recv() => msg,
            _ = sleep(Duration::from_secs(10)) => "timer",
        };
        assert_eq!(got, "late");
    });
}

#[test]
fn select_drops_the_losers_before_the_handler_runs() {
    check(async {
        let (first, guard1) = drop_flag();
        let (second, guard2) = drop_flag();
        let seen = ringpoll::select! {
            _ = pending_until_dropped(guard1) => unreachable!(),
            _ = pending_until_dropped(guard2) => unreachable!(),
            () = ringpoll::yield_now() => (first.get(), second.get()),
        };
        assert_eq!(seen, (true, true));
    });
}

#[test]
fn select_handlers_may_use_what_the_futures_borrowed() {
    check(async {
        let (tx, mut rx) = local::unbounded::<u32>();
        tx.send(3).await.unwrap();
        // `rx.recv()` borrows `rx` mutably; the handler uses `rx` again. This compiles only
        // because the futures are gone when a handler runs.
        let got = ringpoll::select! {
            Some(n) = rx.recv() => {
                rx.close();
                n
            }
        };
        assert_eq!(got, 3);
    });
}

#[test]
fn a_pattern_mismatch_disables_the_branch_and_the_others_go_on() {
    check(async {
        let (mismatched, waiting) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let got = ringpoll::select! {
            biased;
            Some(n) = ReadyCounting(mismatched.clone(), Some(None::<u32>)) => n,
            () = CountPolls(waiting.clone()) => 0,
            n = async { ringpoll::yield_now().await; 9 } => n,
        };
        assert_eq!(got, 9);
        // The first branch completed with None on the first turn and was not polled again;
        // the second was polled on both turns.
        assert_eq!((mismatched.get(), waiting.get()), (1, 2));
    });
}

#[test]
fn else_runs_when_every_pattern_fails() {
    check(async {
        let got = ringpoll::select! {
            Some(n) = ready(None::<u32>) => n,
            Ok(n) = async { ringpoll::yield_now().await; Err::<u32, ()>(()) } => n,
            else => 42,
        };
        assert_eq!(got, 42);
    });
}

#[test]
fn else_runs_when_every_precondition_is_false_and_nothing_is_polled() {
    check(async {
        let polls = Rc::new(Cell::new(0));
        let evaluated = Cell::new(0);
        let got = ringpoll::select! {
            _ = { evaluated.set(evaluated.get() + 1); CountPolls(polls.clone()) }, if false => 1,
            _ = { evaluated.set(evaluated.get() + 1); CountPolls(polls.clone()) }, if 1 > 2 => 2,
            else => { 3 }
        };
        assert_eq!(got, 3);
        assert_eq!(evaluated.get(), 2, "disabled branches' futures are evaluated, as in tokio");
        assert_eq!(polls.get(), 0, "and never polled");
    });
}

#[test]
#[should_panic(expected = "all branches are disabled and there is no else branch")]
fn no_else_with_every_branch_disabled_panics() {
    check(async {
        ringpoll::select! {
            Some(()) = ready(None) => {}
            _ = pending::<()>(), if false => {}
        }
    });
}

#[test]
fn a_false_precondition_skips_a_ready_branch() {
    check(async {
        for _ in 0..50 {
            let take_first = false;
            let got = ringpoll::select! {
                n = ready(1), if take_first => n,
                n = async { ringpoll::yield_now().await; 2 } => n,
            };
            assert_eq!(got, 2);
        }
    });
}

#[test]
fn biased_polls_in_the_written_order() {
    check(async {
        let polled_second = Rc::new(Cell::new(0));
        for _ in 0..1000 {
            let got = ringpoll::select! {
                biased;
                n = ready(1) => n,
                () = CountPolls(polled_second.clone()) => 0,
                n = ready(3) => n,
            };
            assert_eq!(got, 1);
        }
        assert_eq!(polled_second.get(), 0, "a later branch was polled");
    });
}

#[test]
fn unbiased_select_shares_out_two_always_ready_branches() {
    check(async {
        let mut picks = [0u32; 2];
        for _ in 0..1000 {
            let branch = ringpoll::select! {
                () = ready(()) => 0,
                () = ready(()) => 1,
            };
            picks[branch] += 1;
        }
        // A fair coin gives 500 each, with a standard deviation of 16: 300 is 12 of them away.
        assert!(picks.iter().all(|&p| p >= 300), "picks {picks:?}");
    });
}

#[test]
fn unbiased_start_covers_every_branch() {
    check(async {
        let mut picks = [0u32; 5];
        for _ in 0..1000 {
            let branch = ringpoll::select! {
                () = ready(()) => 0,
                () = ready(()) => 1,
                () = ready(()) => 2,
                () = ready(()) => 3,
                () = ready(()) => 4,
            };
            picks[branch] += 1;
        }
        // 200 expected each, standard deviation 12.6.
        assert!(picks.iter().all(|&p| p >= 100), "picks {picks:?}");
    });
}

#[test]
fn handlers_run_in_the_enclosing_function() {
    async fn first_even(values: &[u32]) -> Result<u32, String> {
        let (tx, mut rx) = local::unbounded();
        for &v in values {
            tx.send(v).await.unwrap();
        }
        drop(tx);
        loop {
            ringpoll::select! {
                Some(v) = rx.recv() => {
                    if v == 0 {
                        continue;
                    }
                    if v % 2 == 0 {
                        return Ok(v);
                    }
                    if v > 100 {
                        Err(format!("{v} is too big"))?;
                    }
                }
                else => break,
            }
        }
        Err("none".into())
    }
    check(async {
        assert_eq!(first_even(&[0, 1, 3, 4, 6]).await, Ok(4));
        assert_eq!(first_even(&[1, 101, 4]).await, Err("101 is too big".into()));
        assert_eq!(first_even(&[1, 3]).await, Err("none".into()));
    });
}

#[test]
fn patterns_may_bind_mutably_and_or_alternatives() {
    check(async {
        let got = ringpoll::select! {
            mut v = ready(vec![1]) => {
                v.push(2);
                v
            }
        };
        assert_eq!(got, [1, 2]);
        let got = ringpoll::select! {
            Ok(n) | Err(n) = ready(Err::<u8, u8>(4)) => n,
        };
        assert_eq!(got, 4);
        let got = ringpoll::select! {
            (a, Some(b)) = ready((1, Some(String::from("x")))) => format!("{a}{b}"),
        };
        assert_eq!(got, "1x");
    });
}

#[test]
fn select_takes_sixty_four_branches() {
    macro_rules! sixty_four {
        ($($n:literal)*) => {
            ringpoll::select! {
                $( n = async { if $n == 63 { $n } else { pending().await } } => n, )*
            }
        };
    }
    check(async {
        let got = sixty_four!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28
            29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58
            59 60 61 62 63);
        assert_eq!(got, 63);
    });
}

#[test]
fn a_tcp_read_races_a_timer() {
    check(async {
        let (client, server) = pair().await;

        // Nothing to read: the timer wins, and the read is dropped in flight.
        let got = ringpoll::select! {
            (n, _) = server.read(Vec::with_capacity(16)) => Some(n.map_err(|e| e.to_string())),
            () = sleep(Duration::from_millis(20)) => None,
        };
        assert_eq!(got, None);

        // Bytes on the way: the read wins over a timer that would take 10 s, and the stream
        // is still whole after the cancelled read.
        let (w, _) = client.write_all(b"ping".to_vec()).await;
        w.unwrap();
        let got = ringpoll::select! {
            (n, buf) = server.read(Vec::with_capacity(16)) => buf[..n.unwrap()].to_vec(),
            () = sleep(Duration::from_secs(10)) => panic!("the read lost the race to a 10 s timer"),
        };
        assert_eq!(got, b"ping");
    });
}

#[test]
fn the_macros_names_do_not_shadow_the_callers() {
    check(async {
        // Every name the expansions use for their own locals, as the caller's.
        let (future, out, cx, done) = (1, 2, 3, 4);
        let (disabled, start, branches, matched, output, all, step) = (5, 6, 7, 8, 9, 10, 11);
        let joined = ringpoll::join!(async { future + out }, async { cx + done });
        assert_eq!(joined, (3, 7));
        let tried: Result<_, ()> = ringpoll::try_join!(async { Ok(future) }, async { Ok(out) });
        assert_eq!(tried, Ok((1, 2)));
        let selected = ringpoll::select! {
            n = ready(disabled), if start == 6 => n + branches + matched + output + all + step,
            _ = pending::<()>() => 0,
        };
        assert_eq!(selected, 5 + 7 + 8 + 9 + 10 + 11);
    });
}

#[test]
fn select_yields_once_the_task_budget_is_spent() {
    check(async {
        // Cross-core receives take the task's budget; `ready(())` takes none. Once 128
        // receives have spent the budget of one poll, the receive answers `Pending`: a
        // select! that went on would pick the idle branch until the task happened to yield.
        let (tx, mut rx) = ringpoll::channel::cross_core::unbounded();
        for i in 0..1000 {
            tx.try_send(i).unwrap();
        }
        let (mut received, mut idle) = (0, 0);
        for _ in 0..1000 {
            ringpoll::select! {
                biased;
                Some(_) = rx.recv() => received += 1,
                () = ready(()) => idle += 1,
            }
        }
        assert_eq!((received, idle), (1000, 0));
    });
}
