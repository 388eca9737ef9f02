//! An async reader-writer lock for `!Send` state on one core.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;

use super::Semaphore;

/// How many readers may hold an [`RwLock`] at once; a writer takes all of them.
pub const MAX_READERS: usize = u32::MAX as usize;

/// A reader-writer lock for the tasks of one core: many readers or one writer, guards may
/// be held across `.await`. Fair: a waiting writer is served before readers who came after
/// it, so a stream of readers cannot starve it.
///
/// ```
/// use ringpoll::sync::RwLock;
///
/// ringpoll::block_on(async {
///     let lock = RwLock::new(1);
///     {
///         let (a, b) = (lock.read().await, lock.read().await);
///         assert_eq!(*a + *b, 2);
///     }
///     *lock.write().await += 1;
///     assert_eq!(*lock.read().await, 2);
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    sem: Semaphore,
    value: UnsafeCell<T>,
}

impl<T> RwLock<T> {
    /// A lock holding `value`.
    pub fn new(value: T) -> RwLock<T> {
        RwLock { sem: Semaphore::new(MAX_READERS), value: UnsafeCell::new(value) }
    }

    /// The value, when the lock is no longer shared.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits for shared access.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        self.sem.acquire().await.expect("an RwLock's semaphore is never closed").forget();
        RwLockReadGuard { lock: self }
    }

    /// Waits for exclusive access.
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.sem.acquire_many(MAX_READERS).await.expect("an RwLock's semaphore is never closed").forget();
        RwLockWriteGuard { lock: self }
    }

    /// Shared access if no writer holds the lock and nobody waits for it (so a reader does
    /// not pass a waiting writer here either).
    ///
    /// ```
    /// use ringpoll::sync::RwLock;
    ///
    /// ringpoll::block_on(async {
    ///     let lock = RwLock::new(0);
    ///     let reader = lock.try_read().expect("free");
    ///     assert!(lock.try_read().is_some(), "readers share");
    ///     assert!(lock.try_write().is_none(), "a reader holds it");
    ///     drop(reader);
    ///     *lock.try_write().expect("free again") += 1;
    ///     assert_eq!(*lock.read().await, 1);
    /// });
    /// ```
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.sem.try_acquire()?.forget();
        Some(RwLockReadGuard { lock: self })
    }

    /// Exclusive access if nobody holds the lock or waits for it.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.sem.try_acquire_many(MAX_READERS)?.forget();
        Some(RwLockWriteGuard { lock: self })
    }

    /// Waits for shared access, held through an `Rc` of the lock so the guard can move into
    /// a spawned task (see [`Mutex::lock_owned`](super::Mutex::lock_owned)).
    ///
    /// ```
    /// use std::rc::Rc;
    /// use ringpoll::sync::RwLock;
    ///
    /// ringpoll::block_on(async {
    ///     let config = Rc::new(RwLock::new("v1"));
    ///     let reader = config.clone().read_owned().await;
    ///     let task = ringpoll::spawn(async move { *reader });
    ///     assert_eq!(task.await.unwrap(), "v1");
    ///     *config.clone().write_owned().await = "v2";
    ///     assert_eq!(*config.read().await, "v2");
    /// });
    /// ```
    pub async fn read_owned(self: Rc<Self>) -> OwnedRwLockReadGuard<T> {
        self.sem.acquire().await.expect("an RwLock's semaphore is never closed").forget();
        OwnedRwLockReadGuard { lock: self }
    }

    /// Waits for exclusive access, held through an `Rc` (see [`RwLock::read_owned`]).
    pub async fn write_owned(self: Rc<Self>) -> OwnedRwLockWriteGuard<T> {
        self.sem.acquire_many(MAX_READERS).await.expect("an RwLock's semaphore is never closed").forget();
        OwnedRwLockWriteGuard { lock: self }
    }

    /// Shared access, owned, if [`RwLock::try_read`] would give it.
    pub fn try_read_owned(self: Rc<Self>) -> Option<OwnedRwLockReadGuard<T>> {
        self.sem.try_acquire()?.forget();
        Some(OwnedRwLockReadGuard { lock: self })
    }

    /// Exclusive access, owned, if [`RwLock::try_write`] would give it.
    pub fn try_write_owned(self: Rc<Self>) -> Option<OwnedRwLockWriteGuard<T>> {
        self.sem.try_acquire_many(MAX_READERS)?.forget();
        Some(OwnedRwLockWriteGuard { lock: self })
    }

    /// The value, through an exclusive borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").field("free_permits", &self.sem.available_permits()).finish_non_exhaustive()
    }
}

/// Shared access to an [`RwLock`]'s value.
#[must_use = "dropping the guard unlocks at once"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a reader holds one permit, so no writer (who needs all of them) holds the
        // lock; the lock is !Sync, so only this thread reaches the value.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.add_permits(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]'s value.
#[must_use = "dropping the guard unlocks at once"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the writer holds every permit, so no other guard exists; !Sync as above.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.add_permits(MAX_READERS);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Shared access to an [`RwLock`] behind an `Rc` (see [`RwLock::read_owned`]).
#[must_use = "dropping the guard unlocks at once"]
pub struct OwnedRwLockReadGuard<T: ?Sized> {
    lock: Rc<RwLock<T>>,
}

impl<T: ?Sized> Deref for OwnedRwLockReadGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: as for `RwLockReadGuard`: one permit held, so no writer; one thread.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for OwnedRwLockReadGuard<T> {
    fn drop(&mut self) {
        self.lock.sem.add_permits(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedRwLockReadGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`] behind an `Rc` (see [`RwLock::write_owned`]).
#[must_use = "dropping the guard unlocks at once"]
pub struct OwnedRwLockWriteGuard<T: ?Sized> {
    lock: Rc<RwLock<T>>,
}

impl<T: ?Sized> Deref for OwnedRwLockWriteGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: as for `RwLockWriteGuard`: every permit held, so no other guard; one thread.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedRwLockWriteGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for OwnedRwLockWriteGuard<T> {
    fn drop(&mut self) {
        self.lock.sem.add_permits(MAX_READERS);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedRwLockWriteGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
