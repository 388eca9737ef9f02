//! Tasks: !Send futures, JoinHandles, abort, panics, cross-core spawns, fairness.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::{JoinError, Runtime};
use support::*;

#[test]
fn spawn_runs_not_send_futures_and_returns_their_output() {
    run(async {
        let shared = Rc::new(Cell::new(0));
        let s = shared.clone();
        let h = ringpoll::spawn(async move {
            s.set(s.get() + 1);
            ringpoll::yield_now().await;
            s.get() * 10
        });
        assert_eq!(h.await.unwrap(), 10);
        assert_eq!(shared.get(), 1);
        assert_eq!(ringpoll::current_core(), Some(0));
    });
}

#[test]
fn abort_cancels_a_pending_task_but_not_a_finished_one() {
    run(async {
        let flag = Rc::new(Cell::new(false));
        let f = flag.clone();
        let pending = ringpoll::spawn(async move {
            ringpoll::time::sleep(Duration::from_secs(60)).await;
            f.set(true);
        });
        ringpoll::yield_now().await;
        pending.abort();
        assert!(pending.await.unwrap_err().is_cancelled());
        assert!(!flag.get());

        let done = ringpoll::spawn(async { 5 });
        ringpoll::yield_now().await;
        ringpoll::yield_now().await;
        assert!(done.is_finished());
        done.abort();
        assert_eq!(done.await.unwrap(), 5);
    });
}

#[test]
fn a_detached_task_keeps_running() {
    run(async {
        let flag = Rc::new(Cell::new(false));
        let f = flag.clone();
        ringpoll::spawn(async move {
            ringpoll::time::sleep(Duration::from_millis(5)).await;
            f.set(true);
        })
        .detach();
        // Not one fixed sleep: on a loaded machine both timers can fall due in one turn, and
        // this future is polled before the task. Wait for the flag, bounded.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !flag.get() && std::time::Instant::now() < deadline {
            ringpoll::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(flag.get(), "the detached task ran to completion");
    });
}

#[test]
fn a_panicking_task_reports_it_and_its_core_keeps_serving() {
    let rt = one_core_runtime();
    let err = rt.spawn_on(0, || async { panic!("boom in a task") }).join().unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("boom in a task"), "{err}");
    // The same core still runs tasks and I/O.
    let echoed = echo_on_core0(&rt, b"still alive");
    assert_eq!(echoed, b"still alive");
}

#[test]
#[allow(unreachable_code)]
fn a_panic_while_making_a_remote_task_is_reported_and_the_core_survives() {
    let rt = one_core_runtime();
    let bad = rt.spawn_on(0, || -> std::future::Ready<u32> { panic!("no future for you") });
    assert!(bad.join().unwrap_err().is_panic());
    assert_eq!(rt.spawn_on(0, || async { 3 }).join().unwrap(), 3, "the core still runs tasks");
}

#[test]
fn spawn_on_another_core_is_awaitable_from_a_core() {
    let rt = two_core_runtime();
    let out = rt
        .spawn_on(0, || async {
            let here = ringpoll::current_core();
            // No Runtime handle on a core: hop through a handle made on the main thread instead.
            (here, 21)
        })
        .join()
        .unwrap();
    assert_eq!(out, (Some(0), 21));
    // The future holds an Rc (it is !Send); only its output crosses cores.
    let inner = rt.spawn_on(1, || async {
        let local = Rc::new(ringpoll::current_core());
        ringpoll::yield_now().await;
        *local
    });
    let outer = rt.spawn_on(0, move || async move { inner.await.unwrap() });
    assert_eq!(outer.join().unwrap(), Some(1), "awaited on core 0, ran on core 1");
}

#[test]
fn an_always_ready_task_cannot_starve_io_or_timers() {
    run(async {
        let spinner = ringpoll::spawn(async {
            loop {
                ringpoll::yield_now().await;
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        ringpoll::spawn(echo(server)).detach();
        let got = round_trip(client, payload(256 * 1024, 3)).await.unwrap();
        assert!(got == payload(256 * 1024, 3));
        ringpoll::time::sleep(Duration::from_millis(5)).await;
        spinner.abort();
        assert!(spinner.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn dropping_the_runtime_cancels_its_tasks() {
    let rt = one_core_runtime();
    let forever = rt.spawn_on(0, std::future::pending::<()>);
    drop(rt);
    assert!(matches!(forever.join(), Err(JoinError::Cancelled)));
}

#[test]
fn impossible_configurations_are_errors_not_panics() {
    let err = Runtime::builder().cores([100_000]).driver(driver()).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = Runtime::builder().cores([]).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = "kqueue".parse::<ringpoll::DriverChoice>().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
