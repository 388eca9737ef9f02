//! A pooled read on either driver: the one place that chooses between io_uring's multishot
//! recv into the core's buffer ring (see `uring::recv_stream`) and the readiness path of
//! [`RecvPooled`] (readiness, then `recv` into a pool buffer: epoll, and io_uring's fallback).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use super::{readiness, Driver, Parts, Registration};
use crate::op::RecvPooled;
use crate::pool::{HeapPool, PooledBuf};
use crate::target::Target;

impl Driver {
    /// Whether a pooled read is this driver's cheapest read: io_uring's multishot recv fills
    /// pool buffers with no syscall per read; on epoll a pooled read is a `recv` like any
    /// other, into a pool buffer, which a caller holding a buffer would then copy from.
    pub(crate) fn prefers_pooled_reads(&self) -> bool {
        matches!(self, Driver::Uring(_))
    }

    /// A pooled read on the source: io_uring's multishot recv into its buffer ring, or
    /// readiness and `recv` into a buffer of `pool` (epoll, and io_uring's fallback).
    #[inline]
    pub(crate) fn read_pooled<'a>(&'a self, target: Target<'a, Registration>, pool: Rc<HeapPool>) -> ReadPooled<'a> {
        let driver = self.parts(target);
        let multishot = matches!(driver, Parts::Uring(..));
        ReadPooled { driver, target, multishot, op: Some(RecvPooled::new(pool)), waiting: false }
    }
}

/// The future of [`Driver::read_pooled`].
pub(crate) struct ReadPooled<'a> {
    driver: Parts<'a>,
    target: Target<'a, Registration>,
    /// io_uring's multishot recv serves the read, until it asks for the readiness path.
    multishot: bool,
    /// The readiness path's op.
    op: Option<RecvPooled>,
    /// The readiness path's last try met EAGAIN.
    waiting: bool,
}

impl Future for ReadPooled<'_> {
    type Output = io::Result<PooledBuf>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let op = this.op.as_mut().expect("driver::ReadPooled polled after completion");
        let res = match this.driver {
            Parts::Epoll(d, r) => ready!(readiness::poll_syscall(d, this.target.with(r), cx, op, &mut this.waiting)),
            Parts::Uring(d, r) => {
                let target = this.target.with(r);
                if this.multishot {
                    // Served from buffers the kernel filled already: take a unit of the
                    // task's budget, as a readiness read does (`crate::budget`).
                    ready!(crate::budget::poll_proceed(cx));
                    if let Some(res) = ready!(d.poll_read_pooled(target, cx)) {
                        return Poll::Ready(res);
                    }
                    this.multishot = false;
                }
                ready!(readiness::poll_syscall(d, target, cx, op, &mut this.waiting))
            }
        };
        Poll::Ready(this.op.take().expect("taken once").finish(res))
    }
}
