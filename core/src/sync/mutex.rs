//! An async mutex for `!Send` state shared by the tasks of one core, held across awaits.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};

use super::Semaphore;

/// A mutex whose guard may be held across `.await` by tasks of one core; waiters get the
/// lock in the order they asked. `!Send` and `!Sync`: it never leaves its core.
///
/// ```
/// use std::rc::Rc;
/// use ringpoll::sync::Mutex;
///
/// ringpoll::block_on(async {
///     let shared = Rc::new(Mutex::new(Vec::new()));
///     let other = shared.clone();
///     let task = ringpoll::spawn(async move { other.lock().await.push(1) });
///     task.await.unwrap();
///     shared.lock().await.push(2);
///     assert_eq!(*shared.lock().await, [1, 2]);
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    sem: Semaphore,
    value: UnsafeCell<T>,
}

impl<T> Mutex<T> {
    /// A mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex { sem: Semaphore::new(1), value: UnsafeCell::new(value) }
    }

    /// The value, when the mutex is no longer shared.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        // The semaphore is never closed, so acquiring cannot fail.
        let permit = self.sem.acquire().await.expect("a mutex's semaphore is never closed");
        permit.forget();
        MutexGuard { mutex: self }
    }

    /// The lock, if it is free and nobody waits for it.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.sem.try_acquire().map(|permit| {
            permit.forget();
            MutexGuard { mutex: self }
        })
    }

    /// The value, through an exclusive borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").field("locked", &(self.sem.available_permits() == 0)).finish_non_exhaustive()
    }
}

/// The lock of a [`Mutex`]; dropping it unlocks and hands the lock to the next waiter.
#[must_use = "dropping the guard unlocks at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the mutex's only permit, so no other guard exists; the
        // mutex is !Sync, so no other thread can reach the value.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.sem.add_permits(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
