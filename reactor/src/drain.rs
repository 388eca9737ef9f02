//! Graceful shutdown, seen from inside a core: a flag, and the tasks waiting for it.
//!
//! When the runtime starts draining, listeners stop accepting (their accept fails with a
//! shutdown error) and any task awaiting [`draining`] wakes, while open connections carry on
//! until the grace period ends.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The drain state of one core.
pub(crate) struct Drain {
    /// The core's reactor id: a [`Draining`] moved to another core never touches this one.
    id: u64,
    started: Cell<bool>,
    waiters: RefCell<Waiters>,
}

thread_local! {
    /// The drain state of the reactor current on this thread (see `Reactor::enter`).
    static CURRENT: RefCell<Option<Rc<Drain>>> = const { RefCell::new(None) };
}

/// Makes `drain` the calling thread's current one; returns the one it replaces.
pub(crate) fn enter(drain: Option<Rc<Drain>>) -> Option<Rc<Drain>> {
    CURRENT.try_with(|c| std::mem::replace(&mut *c.borrow_mut(), drain)).ok().flatten()
}

fn with_current<R>(f: impl FnOnce(&Drain) -> R) -> Option<R> {
    CURRENT.try_with(|c| c.borrow().as_deref().map(f)).ok().flatten()
}

/// Wakers of pending [`Draining`] futures; each removes its own entry when dropped.
#[derive(Default)]
struct Waiters {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Drain {
    /// The drain state of the reactor with id `id`.
    pub(crate) fn new(id: u64) -> Drain {
        Drain { id, started: Cell::new(false), waiters: RefCell::default() }
    }

    pub(crate) fn start(&self) {
        self.started.set(true);
        let mut waiters = self.waiters.borrow_mut();
        let woken: Vec<Waker> = waiters.slots.iter_mut().filter_map(Option::take).collect();
        drop(waiters);
        woken.into_iter().for_each(Waker::wake);
    }

    pub(crate) fn is_started(&self) -> bool {
        self.started.get()
    }

    fn register(&self, key: &mut Option<usize>, waker: &Waker) {
        let mut w = self.waiters.borrow_mut();
        match *key {
            Some(k) => match &mut w.slots[k] {
                Some(old) if old.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            },
            None => {
                let k = match w.free.pop() {
                    Some(k) => k,
                    None => {
                        w.slots.push(None);
                        w.slots.len() - 1
                    }
                };
                w.slots[k] = Some(waker.clone());
                *key = Some(k);
            }
        }
    }

    fn unregister(&self, key: usize) {
        let mut w = self.waiters.borrow_mut();
        w.slots[key] = None;
        w.free.push(key);
    }
}

/// Completes when the current core's runtime starts a graceful shutdown. Outside a core it
/// never completes.
pub fn draining() -> Draining {
    Draining { key: None }
}

/// The future of [`draining`]. Like a timer, it belongs to the core that polls it: moved to
/// another core it registers there afresh and never touches the first core's entries.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Draining {
    /// The reactor registered with, and the slot there.
    key: Option<(u64, usize)>,
}

impl Future for Draining {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let started = with_current(|drain| {
            if drain.is_started() {
                return true;
            }
            let mut slot = this.key.filter(|&(reactor, _)| reactor == drain.id).map(|(_, k)| k);
            drain.register(&mut slot, cx.waker());
            this.key = slot.map(|k| (drain.id, k));
            false
        });
        match started {
            Some(true) => Poll::Ready(()),
            _ => Poll::Pending,
        }
    }
}

impl Drop for Draining {
    fn drop(&mut self) {
        if let Some((reactor, key)) = self.key.take() {
            with_current(|drain| {
                if drain.id == reactor {
                    drain.unregister(key);
                }
            });
        }
    }
}

/// Runs `accept` unless (or until) the current core starts draining; then fails with
/// [`shutting_down`]. Listeners wrap their accepts in it, so a graceful shutdown stops them.
pub async fn until_draining<T>(accept: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    let (mut accept, mut drain) = (pin!(accept), draining());
    std::future::poll_fn(|cx| {
        if Pin::new(&mut drain).poll(cx).is_ready() {
            return Poll::Ready(Err(shutting_down()));
        }
        accept.as_mut().poll(cx)
    })
    .await
}

/// The error an accept returns once its runtime is shutting down.
pub fn shutting_down() -> io::Error {
    io::Error::other(ShuttingDown)
}

/// Whether `err` says the runtime is shutting down (see [`shutting_down`]).
pub fn is_shutting_down(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<ShuttingDown>())
}

#[derive(Debug)]
struct ShuttingDown;

impl std::fmt::Display for ShuttingDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the runtime is shutting down: no new connections")
    }
}

impl std::error::Error for ShuttingDown {}
