//! Synchronisation for the tasks of one core: [`Notify`], [`Mutex`], [`RwLock`], [`Semaphore`].
//!
//! Every type here is `!Send` and uses no atomics: the tasks that share one run on the same
//! thread, so the state is a `Cell`/`RefCell` and a wait is a waker in a FIFO queue. They are
//! for `!Send` state that is held across an `.await` (a shard's map while a reply is written,
//! a connection limit). Across cores, send messages instead (see [`crate::channel`]).
//!
//! Why not a crate: `async-lock` and `futures-intrusive` are built for many threads (atomics,
//! parking locks) and `local-sync` has channels and a semaphore but no mutex, lock or notify.
//! One fair semaphore gives all three here in a few hundred lines: a `Mutex` is one permit,
//! an `RwLock` is [`MAX_READERS`] permits of which a writer takes all.
//! Waiters are served first come, first served, so a writer is not starved by readers.

mod mutex;
mod notify;
mod rwlock;
mod semaphore;
mod waiters;

pub use mutex::{MappedMutexGuard, Mutex, MutexGuard, OwnedMutexGuard};
pub use notify::{Notified, Notify};
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, MAX_READERS,
};
pub use semaphore::{Acquire, AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit};
