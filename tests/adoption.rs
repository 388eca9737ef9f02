//! What a new user trips on first, found by writing programs against the public docs alone
//! (a chat server, sharded counters, UDP + Unix + files): every public type prints with
//! `{:?}`, Unix addresses print and test as paths or unnamed, a misplaced `spawn` blames the
//! caller's line, a blocking wait on a core panics instead of stalling it, and signals are
//! named without a `libc` dependency.

mod support;

use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringpoll::net::{UnixListener, UnixStream};
use ringpoll::signal::{Signal, SIGUSR2};
use ringpoll::sync::{Notify, RwLock, Semaphore};
use support::*;

fn debug_of<T: Debug>(value: &T) -> String {
    format!("{value:?}")
}

#[test]
fn sync_futures_and_guards_print_with_debug() {
    let _serial = fd_lock();
    run(async {
        let lock = RwLock::new(7u32);
        assert_eq!(debug_of(&lock.read().await), "7");
        assert_eq!(debug_of(&lock.write().await), "7");

        let notify = Notify::new();
        let notified = notify.notified();
        assert!(debug_of(&notified).starts_with("Notified"), "{notified:?}");

        let sem = Semaphore::new(1);
        let acquire = sem.acquire_many(1);
        assert!(debug_of(&acquire).contains("permits: 1"), "{acquire:?}");
    });
    fn is_debug<T: Debug>() {}
    is_debug::<ringpoll::io::EnterGuard>();
}

#[test]
fn unix_addresses_print_as_paths_or_unnamed() {
    let dir = TempDir::new("adoption-unix");
    let path = dir.path().join("s.sock");
    run_leak_free(async {
        let listener = UnixListener::bind(&path).unwrap();
        let bound = listener.local_addr().unwrap();
        assert!(!bound.is_unnamed());
        assert_eq!(debug_of(&bound), format!("SockAddr(unix {path:?})"));

        let client = UnixStream::connect(&path).await.unwrap();
        let (_server, peer) = bounded(listener.accept()).await.unwrap();
        assert!(peer.is_unnamed(), "a client that bound no path: {peer:?}");
        assert_eq!(debug_of(&peer), "SockAddr(unix unnamed)");
        assert!(client.local_addr().unwrap().is_unnamed());
        assert!(!client.peer_addr().unwrap().is_unnamed());

        let (a, _b) = UnixStream::pair().unwrap();
        assert!(a.local_addr().unwrap().is_unnamed());
        assert!(a.peer_addr().unwrap().is_unnamed());

        let inet = ringpoll::net::SockAddr::from_inet("127.0.0.1:80".parse().unwrap());
        assert!(!inet.is_unnamed());
        assert_eq!(debug_of(&inet), "127.0.0.1:80");
    });
}

/// Where a panic was raised. The hook is process-wide, so the tests of this file take turns
/// (`fd_lock`, which the descriptor counts need too).
fn panic_location(f: impl FnOnce()) -> String {
    let location = Arc::new(Mutex::new(String::new()));
    let seen = location.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        *seen.lock().unwrap() = info.location().map(|l| l.file().to_owned()).unwrap_or_default();
    }));
    let result = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    assert!(result.is_err(), "expected a panic");
    let file = location.lock().unwrap().clone();
    file
}

#[test]
fn spawn_and_handle_outside_a_core_blame_the_callers_line() {
    let _serial = fd_lock();
    let file = within(10, || panic_location(|| drop(ringpoll::spawn(async {}))));
    assert!(file.ends_with("adoption.rs"), "ringpoll::spawn's panic points at {file}");
    let file = within(10, || panic_location(|| drop(ringpoll::Handle::current())));
    assert!(file.ends_with("adoption.rs"), "Handle::current's panic points at {file}");
}

#[test]
fn blocking_waits_on_a_core_panic_instead_of_stalling_it() {
    // The trap: `signals.wait()` in `#[ringpoll::main]`'s body parked the core, so the
    // server it had spawned never ran until the signal came.
    let mut files = Vec::new();
    assert_no_fd_leak(|| {
        let signals = ringpoll::signal::ShutdownSignals::install().unwrap();
        files.push(within(10, move || {
            panic_location(|| {
                run(async { signals.wait() });
            })
        }));
        files.push(within(10, || panic_location(|| run(async { ringpoll::park_on(std::future::ready(())) }))));
        let (tx, _rx) = ringpoll::channel::cross_core::unbounded::<u8>();
        files.push(within(10, move || panic_location(|| run(async move { tx.send_blocking(1).unwrap() }))));
    });
    for file in files {
        assert!(file.ends_with("adoption.rs"), "the panic points at {file}");
    }
    assert_eq!(within(10, || ringpoll::park_on(std::future::ready(7))), 7, "off the cores it still runs");
}

#[test]
fn signals_are_named_without_libc() {
    let _serial = fd_lock();
    run(async {
        let mut signal = Signal::new(SIGUSR2).unwrap();
        assert_eq!(signal.signo(), SIGUSR2);
        // SAFETY: raise takes no pointers; the handler is installed, so the process lives on.
        assert_eq!(unsafe { libc::raise(libc::SIGUSR2) }, 0);
        let got = ringpoll::time::timeout(Duration::from_secs(10), signal.recv()).await;
        assert_eq!(got, Ok(1), "the SIGUSR2 raised was seen");
    });
}
