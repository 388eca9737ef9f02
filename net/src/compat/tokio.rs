//! `tokio::io::{AsyncRead, AsyncWrite}` (feature `tokio-compat`).

use std::io;
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Receives into the unfilled part of `buf` with `recv` and marks what arrived as filled.
fn read_into(buf: &mut ReadBuf<'_>, recv: impl FnOnce(&mut [u8]) -> Poll<io::Result<usize>>) -> Poll<io::Result<()>> {
    // SAFETY: the slice is only handed to recv(2), which writes bytes and never reads them, so
    // nothing de-initialises it; only the bytes recv reports are marked initialised below.
    // tokio's own sockets read into `unfilled_mut` the same way.
    let slice = unsafe { &mut *(buf.unfilled_mut() as *mut [MaybeUninit<u8>] as *mut [u8]) };
    let n = ready!(recv(slice))?;
    // SAFETY: recv wrote the first n bytes of the unfilled region.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Poll::Ready(Ok(()))
}

macro_rules! impl_tokio {
    ($stream:ty) => {
        impl_tokio!(@impl $stream, $stream);
        impl_tokio!(@impl &$stream, $stream);
    };
    (@impl $ty:ty, $stream:ty) => {
        #[cfg_attr(docsrs, doc(cfg(feature = "tokio-compat")))]
        impl AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                let stream: &$stream = &self;
                read_into(buf, |slice| stream.poll_read(cx, slice))
            }
        }

        #[cfg_attr(docsrs, doc(cfg(feature = "tokio-compat")))]
        impl AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                let stream: &$stream = &self;
                stream.poll_write(cx, buf)
            }

            /// Sockets have no user-space buffer: written bytes are already the kernel's.
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            /// Sends FIN (shutdown of the write half); the read half stays open.
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                let stream: &$stream = &self;
                Poll::Ready(stream.shutdown(Shutdown::Write))
            }
        }
    };
}

super::for_each_stream!(impl_tokio);
