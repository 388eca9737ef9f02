//! `AsyncRead`/`AsyncWrite` of other ecosystems, behind cargo features.
//!
//! Every impl forwards to the stream's `poll_read`/`poll_write`: readiness plus one
//! non-blocking syscall straight into the caller's buffer, so there is no intermediate copy
//! on either driver. Impls exist for the stream and for a shared reference to it (as std does
//! for `&TcpStream`), so one task can read while another writes through an `Rc`.

#[cfg(feature = "futures-io")]
mod futures_io;
#[cfg(feature = "tokio-compat")]
mod tokio;

/// Stream types the compat impls cover; the macros below get this list.
#[allow(unused_macros)]
macro_rules! for_each_stream {
    ($mac:ident) => {
        $mac!(crate::TcpStream);
        $mac!(crate::UnixStream);
    };
}
#[allow(unused_imports)]
pub(crate) use for_each_stream;
