//! An async mutex for `!Send` state shared by the tasks of one core, held across awaits.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::rc::Rc;

use super::Semaphore;

/// A mutex whose guard may be held across `.await` by tasks of one core; waiters get the
/// lock in the order they asked. `!Sync`: only the tasks of one core share it.
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

    /// Waits for the lock, held through an `Rc` of the mutex rather than a borrow, so the
    /// guard can move into a spawned task; it unlocks when dropped, with that task if need be.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use ringpoll::sync::Mutex;
    ///
    /// ringpoll::block_on(async {
    ///     let log = Rc::new(Mutex::new(Vec::new()));
    ///     let mut guard = log.clone().lock_owned().await;
    ///     let writer = ringpoll::spawn(async move { guard.push("from the task") });
    ///     assert!(log.try_lock().is_none(), "the task holds it");
    ///     writer.await.unwrap();
    ///     assert_eq!(*log.lock().await, ["from the task"]);
    /// });
    /// ```
    pub async fn lock_owned(self: Rc<Self>) -> OwnedMutexGuard<T> {
        self.sem.acquire().await.expect("a mutex's semaphore is never closed").forget();
        OwnedMutexGuard { mutex: self }
    }

    /// The lock, owned (see [`Mutex::lock_owned`]), if it is free and nobody waits for it.
    pub fn try_lock_owned(self: Rc<Self>) -> Option<OwnedMutexGuard<T>> {
        self.sem.try_acquire()?.forget();
        Some(OwnedMutexGuard { mutex: self })
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

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// A guard of part of the value (a field, an element), which keeps the whole mutex
    /// locked until it is dropped. An associated function, as `MutexGuard::map(guard, f)`,
    /// so it does not shadow a method of `T`.
    ///
    /// ```
    /// use ringpoll::sync::{Mutex, MutexGuard};
    ///
    /// ringpoll::block_on(async {
    ///     let pair = Mutex::new((0, String::new()));
    ///     let mut name = MutexGuard::map(pair.lock().await, |(_, name)| name);
    ///     name.push_str("core 0");
    ///     assert!(pair.try_lock().is_none(), "still locked through the part");
    ///     drop(name);
    ///     assert_eq!(pair.lock().await.1, "core 0");
    /// });
    /// ```
    pub fn map<U: ?Sized>(this: Self, f: impl FnOnce(&mut T) -> &mut U) -> MappedMutexGuard<'a, U> {
        let mutex = this.mutex;
        // SAFETY: the permit `this` holds passes to the mapped guard, so this stays the
        // value's only borrow until that drops; the mutex is !Sync, so no other thread
        // reaches it. If `f` panics, `this` unlocks as it unwinds.
        let value = NonNull::from(f(unsafe { &mut *mutex.value.get() }));
        // The permit now belongs to the mapped guard, which gives it back.
        std::mem::forget(this);
        MappedMutexGuard { sem: &mutex.sem, value, borrow: PhantomData }
    }
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

/// The lock of a [`Mutex`] behind an `Rc` (see [`Mutex::lock_owned`]); dropping it unlocks.
#[must_use = "dropping the guard unlocks at once"]
pub struct OwnedMutexGuard<T: ?Sized> {
    mutex: Rc<Mutex<T>>,
}

impl<T: ?Sized> OwnedMutexGuard<T> {
    /// The mutex this guard locks.
    pub fn mutex(&self) -> &Rc<Mutex<T>> {
        &self.mutex
    }
}

impl<T: ?Sized> Deref for OwnedMutexGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: as for `MutexGuard`: this guard holds the only permit, on this thread.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.mutex.sem.add_permits(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A locked [`Mutex`]'s guard narrowed to part of the value (see [`MutexGuard::map`]).
#[must_use = "dropping the guard unlocks at once"]
pub struct MappedMutexGuard<'a, U: ?Sized> {
    sem: &'a Semaphore,
    /// A pointer, not `&'a mut U`: the borrow ends when the permit goes back, before `'a`.
    value: NonNull<U>,
    borrow: PhantomData<&'a mut U>,
}

impl<U: ?Sized> Deref for MappedMutexGuard<'_, U> {
    type Target = U;
    fn deref(&self) -> &U {
        // SAFETY: `value` came from the mutex's value under the permit this guard holds, so
        // it is valid and unaliased until the guard drops.
        unsafe { self.value.as_ref() }
    }
}

impl<U: ?Sized> DerefMut for MappedMutexGuard<'_, U> {
    fn deref_mut(&mut self) -> &mut U {
        // SAFETY: as in deref, and `&mut self` makes this the only borrow through the guard.
        unsafe { self.value.as_mut() }
    }
}

impl<U: ?Sized> Drop for MappedMutexGuard<'_, U> {
    fn drop(&mut self) {
        self.sem.add_permits(1);
    }
}

impl<U: ?Sized + fmt::Debug> fmt::Debug for MappedMutexGuard<'_, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
