//! `AsyncRead`/`AsyncWrite` of other ecosystems, behind cargo features.
//!
//! Every impl forwards to the stream's `poll_read`/`poll_write`: readiness plus one
//! non-blocking syscall straight into the caller's buffer, so there is no intermediate copy
//! on either driver. Impls exist for the stream and for a shared reference to it (as std does
//! for `&TcpStream`), so one task can read while another writes through an `Rc`.
//!
//! **Why these impls do not read pooled.** A pooled read (`read_pooled`) pays off where the
//! caller can take the bytes in the pool's buffer: an idle connection then holds no buffer,
//! and on io_uring the multishot recv needs no syscall per read. `AsyncRead` hands over the
//! caller's buffer instead, which the caller keeps (and pays for) while the read waits, so
//! there is no memory to save; and the bytes would land in a pool buffer first and be copied
//! into the caller's, a copy per read that a `recv` straight into the caller's buffer avoids.
//! On io_uring that copy buys back the `recv` syscall, which is why `ringpoll::hyper::Io`
//! reads pooled there (it also owns the place to keep what the caller's buffer had no room
//! for; these impls would have to hide such bytes in the stream). Code that can consume
//! `PooledBuf`s should call `read_pooled` directly.
//!
//! The streams' own owned-buffer methods (`read`, `write_all`, `shutdown`) shadow the
//! extension traits' methods of the same names: call those through the trait, e.g.
//! `tokio::io::AsyncReadExt::read(&mut stream, &mut buf)`, or hand the stream to code that is
//! generic over the traits (hyper-util's `TokioIo`, codecs, TLS).

#[cfg(feature = "futures-io")]
mod futures_io;
#[cfg(feature = "tokio-compat")]
mod tokio;

/// Stream types the compat impls cover: runs an impl macro once per type.
#[cfg(any(feature = "tokio-compat", feature = "futures-io"))]
macro_rules! for_each_stream {
    ($mac:ident) => {
        $mac!(crate::TcpStream);
        $mac!(crate::UnixStream);
    };
}
#[cfg(any(feature = "tokio-compat", feature = "futures-io"))]
pub(crate) use for_each_stream;
