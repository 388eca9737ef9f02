//! `tokio::io::AsyncWrite` for [`ChildStdin`], `tokio::io::AsyncRead` for [`ChildStdout`]
//! and [`ChildStderr`] (feature `tokio-compat`), as the sockets have them: each forwards to
//! the pipe's `poll_write`/`poll_read`, one non-blocking syscall straight into the caller's
//! buffer. The pipes' own owned-buffer `read`/`write`/`write_all` shadow the extension
//! traits' methods of those names: call those through the trait
//! (`tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut buf)`).

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{ChildStderr, ChildStdin, ChildStdout};

/// Reads into the unfilled part of `buf` with `read` and marks what arrived as filled.
fn read_into(buf: &mut ReadBuf<'_>, read: impl FnOnce(&mut [u8]) -> Poll<io::Result<usize>>) -> Poll<io::Result<()>> {
    // SAFETY: the slice is only handed to read(2), which writes bytes and never reads them,
    // so nothing de-initialises it; only the bytes it reports are marked initialised below.
    let slice = unsafe { &mut *(buf.unfilled_mut() as *mut [MaybeUninit<u8>] as *mut [u8]) };
    let n = ready!(read(slice))?;
    // SAFETY: read(2) wrote the first n bytes of the unfilled region.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Poll::Ready(Ok(()))
}

macro_rules! impl_async_read {
    ($($pipe:ty),*) => {$(
        #[cfg_attr(docsrs, doc(cfg(feature = "tokio-compat")))]
        impl AsyncRead for $pipe {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                read_into(buf, |slice| <$pipe>::poll_read(&self, cx, slice))
            }
        }
    )*};
}

impl_async_read!(ChildStdout, ChildStderr);

#[cfg_attr(docsrs, doc(cfg(feature = "tokio-compat")))]
impl AsyncWrite for ChildStdin {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ChildStdin::poll_write(&self, cx, buf)
    }

    /// A pipe has no user-space buffer: written bytes are already the kernel's.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Nothing to do: the child reads end of file when this end is dropped, which is the only
    /// way to close one end of a pipe.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
