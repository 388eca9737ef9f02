//! `futures_io::{AsyncRead, AsyncWrite}` (feature `futures-io`).

use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

macro_rules! impl_futures_io {
    ($stream:ty) => {
        impl_futures_io!(@impl $stream, $stream);
        impl_futures_io!(@impl &$stream, $stream);
    };
    (@impl $ty:ty, $stream:ty) => {
        #[cfg_attr(docsrs, doc(cfg(feature = "futures-io")))]
        impl AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                let stream: &$stream = &self;
                stream.poll_read(cx, buf)
            }
        }

        #[cfg_attr(docsrs, doc(cfg(feature = "futures-io")))]
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
            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                let stream: &$stream = &self;
                Poll::Ready(stream.shutdown(Shutdown::Write))
            }
        }
    };
}

super::for_each_stream!(impl_futures_io);
