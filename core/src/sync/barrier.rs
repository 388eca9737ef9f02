//! A barrier: tasks of one core wait until a set number of them have arrived.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::waiters::Waiters;

/// Lets `n` tasks of one core wait for each other (`!Sync`, no atomics): each
/// [`Barrier::wait`] waits until `n` waits have arrived, then all of them complete, one of
/// them as the leader. Then the barrier is ready for the next `n` (the next generation).
///
/// A wait arrives when first polled. Unlike tokio's, a wait dropped before its generation
/// completes (a timeout around it, its task aborted) takes its arrival back, so the
/// generation still needs `n` waits that are there to see it complete.
///
/// ```
/// use std::rc::Rc;
/// use ringpoll::sync::Barrier;
///
/// ringpoll::block_on(async {
///     let barrier = Rc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = barrier.clone();
///             ringpoll::spawn(async move { barrier.wait().await.is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for t in tasks {
///         leaders += t.await.unwrap() as usize;
///     }
///     assert_eq!(leaders, 1);
/// });
/// ```
pub struct Barrier {
    n: usize,
    state: RefCell<State>,
}

struct State {
    /// Waits of the current generation that have arrived and not been dropped.
    arrived: usize,
    /// Those waits but the last, parked; served when their generation completes (served
    /// ones stay until their future sees it, among the next generation's unserved ones).
    waiters: Waiters,
}

impl Barrier {
    /// A barrier for `n` tasks; 0 counts as 1 (as tokio's), so every wait completes at once.
    pub fn new(n: usize) -> Barrier {
        Barrier { n: n.max(1), state: RefCell::new(State { arrived: 0, waiters: Waiters::default() }) }
    }

    /// Waits until `n` tasks wait here. The last to arrive is the leader, and completes at
    /// once; its arrival wakes the others.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait { barrier: self, stage: Stage::NotArrived }
    }

    /// Arrives: the leader if this completes the generation (which wakes the rest), else
    /// parked under the returned key.
    fn arrive(&self, cx: &mut Context<'_>) -> Result<BarrierWaitResult, u64> {
        let mut st = self.state.borrow_mut();
        st.arrived += 1;
        if st.arrived < self.n {
            return Err(st.waiters.push(0, cx.waker().clone()));
        }
        st.arrived = 0;
        st.waiters.serve_all(|_| ());
        Ok(BarrierWaitResult { leader: true })
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("n", &self.n).field("arrived", &self.state.borrow().arrived).finish()
    }
}

/// How a [`Barrier::wait`] completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this wait completed its generation: exactly one per generation is.
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

/// The future of [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    stage: Stage,
}

#[derive(Debug, Clone, Copy)]
enum Stage {
    NotArrived,
    /// Arrived and parked under this key.
    Waiting(u64),
    Done(BarrierWaitResult),
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let done = match self.stage {
            Stage::Done(result) => result,
            Stage::NotArrived => match self.barrier.arrive(cx) {
                Ok(leader) => leader,
                Err(key) => {
                    self.stage = Stage::Waiting(key);
                    return Poll::Pending;
                }
            },
            Stage::Waiting(key) => {
                let mut st = self.barrier.state.borrow_mut();
                ready!(st.waiters.poll_served(key, cx.waker())).expect("a parked wait stays queued until it leaves");
                BarrierWaitResult { leader: false }
            }
        };
        self.stage = Stage::Done(done);
        Poll::Ready(done)
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        let Stage::Waiting(key) = self.stage else {
            return;
        };
        let mut st = self.barrier.state.borrow_mut();
        let removed = st.waiters.remove(key);
        // Not served: its generation is still gathering, and it leaves it.
        if removed.is_some_and(|w| !w.served) {
            st.arrived -= 1;
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait").field("stage", &self.stage).finish_non_exhaustive()
    }
}
