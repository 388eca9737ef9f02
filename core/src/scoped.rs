//! A thread-local value set for a scope: the current handle of a blocking job's thread, the
//! blocking pool of a core or a job. What the thread had before comes back when the guard
//! drops, so scopes nest (a job's pool over a core's, under `block_on`).

use std::cell::RefCell;
use std::thread::LocalKey;

/// Sets `slot` to `value` until the returned guard drops.
pub(crate) fn set<T: 'static>(slot: &'static LocalKey<RefCell<Option<T>>>, value: Option<T>) -> Scoped<T> {
    let before = slot.try_with(|c| c.replace(value)).ok().flatten();
    Scoped { slot, before }
}

/// Puts back what [`set`] replaced.
pub(crate) struct Scoped<T: 'static> {
    slot: &'static LocalKey<RefCell<Option<T>>>,
    before: Option<T>,
}

impl<T> Drop for Scoped<T> {
    fn drop(&mut self) {
        let before = self.before.take();
        // The scope's value is dropped outside the borrow: it may be the last reference to a
        // pool, whose drop shuts the pool down.
        let _scoped = self.slot.try_with(|c| c.replace(before)).ok().flatten();
    }
}
