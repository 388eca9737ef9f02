//! Synchronisation for the tasks of one core, after `tokio::sync`:
//!
//! - [`Notify`]: wake one waiting task (oldest, or newest with `notify_last`), or all;
//! - [`Mutex`], with borrowed, owned (`lock_owned`, on an `Rc`) and mapped guards;
//! - [`RwLock`]: many readers or one writer, with borrowed and owned guards;
//! - [`Semaphore`]: a fair counting semaphore, with borrowed and owned permits (an owned
//!   permit moves into a spawned task: a connection limit);
//! - [`OnceCell`]: a value set once by an async initialiser, which runs once however many
//!   tasks ask (and is taken over by the next if it is dropped or fails);
//! - [`Barrier`]: `n` tasks wait for each other, generation after generation.
//!
//! Every type here is `!Sync` and uses no atomics: the tasks that share one run on the same
//! thread, so the state is a `Cell`/`RefCell` and a wait is a waker in a FIFO queue. They are
//! for `!Send` state that is held across an `.await` (a shard's map while a reply is written,
//! a connection limit). Across cores, send messages instead (see [`crate::channel`]).
//! Every `try_*` is as fair as the waits: it fails while anybody is queued ahead.
//!
//! Why not a crate: `async-lock` and `futures-intrusive` are built for many threads (atomics,
//! parking locks), `local-sync` has channels, a semaphore and a `OnceCell` but no mutex, lock,
//! notify or barrier, and `std::cell::OnceCell` cannot wait for an async initialiser. One
//! fair semaphore gives most of them here in a few hundred lines: a `Mutex` is one permit, an
//! `RwLock` is [`MAX_READERS`] permits of which a writer takes all, a `OnceCell`'s right to
//! initialise is one permit (closed once the value is set). `Notify` and `Barrier` share its
//! waiter queue. Waiters are served first come, first served, so a writer is not starved by
//! readers.

mod barrier;
mod mutex;
mod notify;
mod once_cell;
mod rwlock;
mod semaphore;
mod waiters;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult};
pub use mutex::{MappedMutexGuard, Mutex, MutexGuard, OwnedMutexGuard};
pub use notify::{Notified, Notify};
pub use once_cell::{OnceCell, SetError};
pub use rwlock::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, MAX_READERS};
pub use semaphore::{Acquire, AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit};
