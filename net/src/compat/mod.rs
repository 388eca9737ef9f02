//! `AsyncRead`/`AsyncWrite` of other ecosystems, behind cargo features.
//!
//! Every impl forwards to the stream's `poll_read`/`poll_write`: readiness plus one
//! non-blocking syscall straight into the caller's buffer, so there is no intermediate copy
//! on either driver. Impls exist for the stream and for a shared reference to it (as std does
//! for `&TcpStream`), so one task can read while another writes through an `Rc`.
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
