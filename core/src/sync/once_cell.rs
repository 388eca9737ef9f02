//! A cell set once, whose async initialiser runs once however many tasks of the core ask.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;

use super::Semaphore;

/// A value set once and then shared by the tasks of one core, with an async initialiser: as
/// tokio's `OnceCell`, but `!Sync` and without atomics.
///
/// When several tasks call [`OnceCell::get_or_init`] on an empty cell, the first runs its
/// initialiser and the others wait, then all get its value. If the running initialiser's
/// future is dropped (its task aborted, a timeout around it) or, in
/// [`OnceCell::get_or_try_init`], fails, the longest-waiting caller runs its own next: an
/// abandoned initialisation never leaves the others waiting for ever.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use ringpoll::sync::OnceCell;
///
/// ringpoll::block_on(async {
///     let (config, loads) = (Rc::new(OnceCell::new()), Rc::new(Cell::new(0)));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let (config, loads) = (config.clone(), loads.clone());
///             ringpoll::spawn(async move {
///                 let load = || async {
///                     loads.set(loads.get() + 1);
///                     ringpoll::yield_now().await; // the other tasks wait meanwhile
///                     42
///                 };
///                 *config.get_or_init(load).await
///             })
///         })
///         .collect();
///     for t in tasks {
///         assert_eq!(t.await.unwrap(), 42);
///     }
///     assert_eq!(loads.get(), 1, "one initialiser ran");
/// });
/// ```
pub struct OnceCell<T> {
    value: std::cell::OnceCell<T>,
    /// One permit: its holder is the one initialiser running. Closed once the value is set,
    /// which wakes every waiting initialiser at once to read it.
    init: Semaphore,
}

/// Why [`OnceCell::set`] gave its value back.
#[derive(Clone, PartialEq, Eq)]
pub enum SetError<T> {
    /// The cell already holds a value (tokio's `AlreadyInitializedError`).
    AlreadyInitialized(T),
    /// An initialiser is running (tokio's `InitializingError`).
    Initializing(T),
}

impl<T> OnceCell<T> {
    /// An empty cell.
    pub fn new() -> OnceCell<T> {
        OnceCell { value: std::cell::OnceCell::new(), init: Semaphore::new(1) }
    }

    /// A cell holding `value`, if there is one.
    pub fn new_with(value: Option<T>) -> OnceCell<T> {
        let cell = OnceCell::new();
        if let Some(value) = value {
            cell.store(value);
        }
        cell
    }

    /// The value, if it is set.
    pub fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// The value, through an exclusive borrow, if it is set.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.value.get_mut()
    }

    /// Whether the value is set.
    pub fn initialized(&self) -> bool {
        self.value.get().is_some()
    }

    /// Sets the value unless it is set or an initialiser is running (then `value` comes back
    /// in the error).
    ///
    /// ```
    /// use ringpoll::sync::{OnceCell, SetError};
    ///
    /// let cell = OnceCell::new();
    /// assert!(cell.set(1).is_ok());
    /// assert!(matches!(cell.set(2), Err(SetError::AlreadyInitialized(2))));
    /// assert_eq!(cell.get(), Some(&1));
    /// ```
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        if self.initialized() {
            return Err(SetError::AlreadyInitialized(value));
        }
        match self.init.try_acquire() {
            Some(permit) => {
                permit.forget();
                self.store(value);
                Ok(())
            }
            None => Err(SetError::Initializing(value)),
        }
    }

    /// The value, running `init` to set it if it is not set and no other initialiser is
    /// running; otherwise waits for the one running (and runs `init` if that one gives up).
    /// `init` must not wait on this same cell: it would wait for itself.
    pub async fn get_or_init<F, Fut>(&self, init: F) -> &T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let infallible = || async { Ok::<T, Infallible>(init().await) };
        match self.get_or_try_init(infallible).await {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// As [`OnceCell::get_or_init`] with an initialiser that can fail: its error is returned
    /// to this caller only, the cell stays empty, and the next waiting caller runs its own.
    ///
    /// ```
    /// use ringpoll::sync::OnceCell;
    ///
    /// ringpoll::block_on(async {
    ///     let cell = OnceCell::new();
    ///     assert_eq!(cell.get_or_try_init(|| async { Err("down") }).await, Err("down"));
    ///     assert!(!cell.initialized());
    ///     assert_eq!(cell.get_or_try_init(|| async { Ok::<_, &str>(7) }).await, Ok(&7));
    /// });
    /// ```
    pub async fn get_or_try_init<E, F, Fut>(&self, init: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(value) = self.get() {
            return Ok(value);
        }
        // The turn to initialise. Closed means another initialiser set the value.
        let Ok(permit) = self.init.acquire().await else {
            return Ok(self.get().expect("the init semaphore closes only once the value is set"));
        };
        // On an error, or if this future is dropped while `init` runs, the permit goes back
        // and the next waiter runs its initialiser.
        let value = init().await?;
        permit.forget();
        Ok(self.store(value))
    }

    /// The value, if it is set, consuming the cell.
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }

    /// Takes the value out, leaving the cell empty (and settable again).
    pub fn take(&mut self) -> Option<T> {
        // Nobody waits on the semaphore (that needs a borrow of the cell): a fresh one
        // reopens the cell.
        self.init = Semaphore::new(1);
        self.value.take()
    }

    /// Sets the value and wakes every waiting initialiser to read it. Only the holder of the
    /// init permit calls this, so the cell is still empty.
    fn store(&self, value: T) -> &T {
        let value = self.value.get_or_init(|| value);
        self.init.close();
        value
    }
}

impl<T> Default for OnceCell<T> {
    fn default() -> OnceCell<T> {
        OnceCell::new()
    }
}

impl<T> From<T> for OnceCell<T> {
    fn from(value: T) -> OnceCell<T> {
        OnceCell::new_with(Some(value))
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell").field("value", &self.get()).finish()
    }
}

impl<T> SetError<T> {
    /// Whether the cell already held a value.
    pub fn is_already_init_err(&self) -> bool {
        matches!(self, SetError::AlreadyInitialized(_))
    }

    /// Whether an initialiser was running.
    pub fn is_initializing_err(&self) -> bool {
        matches!(self, SetError::Initializing(_))
    }

    /// The value that was not set.
    pub fn into_inner(self) -> T {
        match self {
            SetError::AlreadyInitialized(value) | SetError::Initializing(value) => value,
        }
    }
}

impl<T> fmt::Debug for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::AlreadyInitialized(_) => f.write_str("AlreadyInitialized(..)"),
            SetError::Initializing(_) => f.write_str("Initializing(..)"),
        }
    }
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::AlreadyInitialized(_) => f.write_str("the cell is already set"),
            SetError::Initializing(_) => f.write_str("the cell is being initialised"),
        }
    }
}

impl<T> std::error::Error for SetError<T> {}
