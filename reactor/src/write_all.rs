//! `write_all`: sends until every byte of a buffer went out, and the error that says how many
//! did when it stops part way.
//!
//! Written out rather than an async fn over `write`, so a connection's task stores one send
//! in flight and nothing else: the send whose op owns the buffer (a [`Slice`] from the first
//! unsent byte), which also knows its source for the next one.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::buf::{BufResult, IoBuf, Slice};
use crate::driver::Run;
use crate::op::Send;
use crate::source::Source;
use crate::turn::Turned;

/// The error of a [`Source::write_all`] that stopped part way, with how many bytes went out
/// before it (Go's `Write` returns `n` with its error). Its [`io::ErrorKind`] is the cause's;
/// find it with [`PartialWrite::of`].
#[derive(Debug)]
pub struct PartialWrite {
    /// Bytes sent before the error.
    pub written: usize,
    /// What stopped the write.
    pub cause: io::Error,
}

impl PartialWrite {
    /// How many bytes a failed `write_all` had sent, if `err` came from one that sent any.
    pub fn of(err: &io::Error) -> Option<usize> {
        err.get_ref().and_then(|e| e.downcast_ref::<PartialWrite>()).map(|p| p.written)
    }

    /// The error of a `write_all` that `cause` stopped after `written` bytes: `cause` itself
    /// if none went out, else `cause`'s kind carrying the count. For a `write_all` of one's
    /// own (the child process' pipes have one) to fail as [`Source::write_all`] does.
    pub fn after(written: usize, cause: io::Error) -> io::Error {
        match written {
            0 => cause,
            _ => io::Error::new(cause.kind(), PartialWrite { written, cause }),
        }
    }
}

impl fmt::Display for PartialWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} after {} bytes were written", self.cause, self.written)
    }
}

impl std::error::Error for PartialWrite {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

/// The future of [`Source::write_all`].
pub(crate) struct WriteAll<'a, B: IoBuf> {
    /// The source is the send's (`Turned::owner`): not kept twice, as every connection's task
    /// stores this future.
    state: State<'a, B>,
}

enum State<'a, B: IoBuf> {
    /// The send of the bytes from the slice's start on.
    Sending(Turned<'a, Run<'a, Send<Slice<B>>>>),
    /// Nothing to send (an empty buffer), or already returned (None).
    Done(Option<B>),
}

impl<'a, B: IoBuf> WriteAll<'a, B> {
    #[inline]
    pub(crate) fn new(source: &'a Source, buf: B) -> WriteAll<'a, B> {
        let state = match buf.bytes_init() {
            0 => State::Done(Some(buf)),
            _ => State::Sending(source.send(buf.slice(..))),
        };
        WriteAll { state }
    }
}

// The send's future is Unpin; the buffer is moved by value, never pinned.
impl<B: IoBuf> Unpin for WriteAll<'_, B> {}

impl<B: IoBuf> Future for WriteAll<'_, B> {
    type Output = BufResult<(), B>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BufResult<(), B>> {
        let this = self.get_mut();
        loop {
            let send = match &mut this.state {
                State::Sending(send) => send,
                State::Done(buf) => {
                    return Poll::Ready((Ok(()), buf.take().expect("write_all polled after completion")))
                }
            };
            let (res, sent) = ready!(Pin::new(&mut *send).poll(cx));
            let (begin, whole) = (sent.begin(), sent.into_inner());
            let err = match res {
                Ok(0) => io::ErrorKind::WriteZero.into(),
                Ok(n) if begin + n < whole.bytes_init() => {
                    let rest = whole.slice(begin + n..);
                    // On the same turn: a write_all queued meanwhile must not slip its
                    // bytes in between this buffer's.
                    let source = send.owner();
                    this.state = State::Sending(send.continue_with(source.run_on_turn_held(source.send_op(rest))));
                    continue;
                }
                Ok(_) => return Poll::Ready((Ok(()), whole)),
                Err(e) => e,
            };
            this.state = State::Done(None);
            return Poll::Ready((Err(PartialWrite::after(begin, err)), whole));
        }
    }
}
