//! A caller's own non-blocking syscall ([`Source::retry`](crate::Source::retry)): readiness
//! only, on both drivers.

use std::io;
use std::os::fd::RawFd;

use super::Syscall;
use crate::interest::Interest;

/// Any syscall that may fail with EAGAIN, waiting on `interest`; its value lands in `out`.
pub(crate) struct Custom<F, T> {
    pub(crate) interest: Interest,
    pub(crate) syscall: F,
    pub(crate) out: Option<T>,
}

impl<F: FnMut() -> io::Result<T>, T> Syscall for Custom<F, T> {
    fn interest(&self) -> Interest {
        self.interest
    }

    fn call(&mut self, _fd: RawFd) -> io::Result<usize> {
        self.out = Some((self.syscall)()?);
        Ok(0)
    }
}
