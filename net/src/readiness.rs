//! tokio's readiness half of the socket API, written once for every socket type: wait with
//! `readable()`, `writable()` or `ready(interest)`, then move bytes with a `try_` method,
//! which never waits and says `WouldBlock` when the socket has nothing (or no room).
//!
//! The readiness a wait reports stays until a try of that direction meets `WouldBlock`
//! (tokio's rule), so a try that left bytes unread is followed by a wait that returns at
//! once; see `ringpoll_reactor`'s `try_io` for how both drivers keep it. Deadlines hold as
//! for every operation: past the read (write) deadline a wait or a try of that direction
//! fails with `TimedOut`. Each socket type expands the macros below, so a method and its
//! documentation exist once.

use std::future::{poll_fn, Future};
use std::io;
use std::ops::BitOr;
use std::pin::pin;
use std::task::Poll;

use ringpoll_reactor::Source;

/// A direction of a socket as the reactor names it (`Read`, `Write`).
type Direction = ringpoll_reactor::Interest;

/// Which directions [`ready`](crate::TcpStream::ready) waits for, as tokio's `Interest`:
/// [`READABLE`](Self::READABLE), [`WRITABLE`](Self::WRITABLE), or both
/// (`Interest::READABLE | Interest::WRITABLE`).
///
/// Not to be confused with `ringpoll::io::Interest`, which names the one direction of a raw
/// [`Source`] (its deadlines, its turns).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(u8);

const READ: u8 = 1;
const WRITE: u8 = 2;
const READ_CLOSED: u8 = 4;
const WRITE_CLOSED: u8 = 8;

impl Interest {
    /// Readable: data, end of stream, or an error.
    pub const READABLE: Interest = Interest(READ);
    /// Writable: room in the send buffer, or an error.
    pub const WRITABLE: Interest = Interest(WRITE);

    /// Whether it includes [`READABLE`](Self::READABLE).
    pub const fn is_readable(self) -> bool {
        self.0 & READ != 0
    }

    /// Whether it includes [`WRITABLE`](Self::WRITABLE).
    pub const fn is_writable(self) -> bool {
        self.0 & WRITE != 0
    }

    /// Both interests: `const` where `|` is not.
    // tokio's name for it; `Add` would not be `const` either.
    #[allow(clippy::should_implement_trait)]
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        self.add(other)
    }
}

impl std::fmt::Debug for Interest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            _ => f.write_str("WRITABLE"),
        }
    }
}

/// What [`ready`](crate::TcpStream::ready) found, as tokio's `Ready`: the directions ready,
/// and whether the driver has seen one closed (the peer hung up, the socket failed). A
/// readiness may be stale: the `try_` method that follows is what says for sure.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ready(u8);

impl Ready {
    /// Nothing is ready.
    pub const EMPTY: Ready = Ready(0);
    /// Readable.
    pub const READABLE: Ready = Ready(READ);
    /// Writable.
    pub const WRITABLE: Ready = Ready(WRITE);
    /// The peer closed its side, or the socket failed: reads return 0 or the error.
    pub const READ_CLOSED: Ready = Ready(READ_CLOSED);
    /// The connection is gone (a hangup or an error): writes fail.
    pub const WRITE_CLOSED: Ready = Ready(WRITE_CLOSED);

    /// Whether nothing is ready.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether a read would not wait: readable, or read-closed.
    pub const fn is_readable(self) -> bool {
        self.0 & (READ | READ_CLOSED) != 0
    }

    /// Whether a write would not wait: writable, or write-closed.
    pub const fn is_writable(self) -> bool {
        self.0 & (WRITE | WRITE_CLOSED) != 0
    }

    /// Whether the read side is closed.
    pub const fn is_read_closed(self) -> bool {
        self.0 & READ_CLOSED != 0
    }

    /// Whether the write side is closed.
    pub const fn is_write_closed(self) -> bool {
        self.0 & WRITE_CLOSED != 0
    }
}

/// tokio's form, `Ready { is_readable: true, .. }`: a log line says what was ready, where the
/// bits (`Ready(5)`) would not.
impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("is_readable", &self.is_readable())
            .field("is_writable", &self.is_writable())
            .field("is_read_closed", &self.is_read_closed())
            .field("is_write_closed", &self.is_write_closed())
            .finish()
    }
}

impl BitOr for Ready {
    type Output = Ready;

    fn bitor(self, other: Ready) -> Ready {
        Ready(self.0 | other.0)
    }
}

/// Waits until `source` is ready for any direction of `interest`, each on its own turn;
/// returns every direction found ready in the poll that ended the wait.
pub(crate) async fn ready(source: &Source, interest: Interest) -> io::Result<Ready> {
    let mut read = pin!(interest.is_readable().then(|| source.readiness(Direction::Read)));
    let mut write = pin!(interest.is_writable().then(|| source.readiness(Direction::Write)));
    poll_fn(|cx| {
        let mut found = Ready::EMPTY;
        if let Some(wait) = read.as_mut().as_pin_mut() {
            if wait.poll(cx)?.is_ready() {
                found = found | direction_ready(source, Direction::Read);
            }
        }
        if let Some(wait) = write.as_mut().as_pin_mut() {
            if wait.poll(cx)?.is_ready() {
                found = found | direction_ready(source, Direction::Write);
            }
        }
        match found.is_empty() {
            true => Poll::Pending,
            false => Poll::Ready(Ok(found)),
        }
    })
    .await
}

/// The one direction `interest` names, for a caller's own syscall: a syscall reads or writes,
/// so both directions (or none) is `InvalidInput`.
pub(crate) fn one_direction(interest: Interest) -> io::Result<Direction> {
    match (interest.is_readable(), interest.is_writable()) {
        (true, false) => Ok(Direction::Read),
        (false, true) => Ok(Direction::Write),
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "a syscall's interest is READABLE or WRITABLE, not both")),
    }
}

/// A ready direction, with its closed flag if the driver has seen it closed.
fn direction_ready(source: &Source, direction: Direction) -> Ready {
    let (ready, closed) = match direction {
        Direction::Read => (Ready::READABLE, Ready::READ_CLOSED),
        Direction::Write => (Ready::WRITABLE, Ready::WRITE_CLOSED),
    };
    match source.is_closed(direction) {
        true => ready | closed,
        false => ready,
    }
}

/// `readable`, `writable`, `ready` and their polls (`$poll_read`, `$poll_write`) for a socket
/// type with a `source` field; `$try_read`
/// and `$try_write` name its tries in the examples (`try_read` on a stream, `try_recv` on a
/// datagram socket).
macro_rules! impl_readiness {
    ($ty:ident, $try_read:ident, $try_write:ident, $poll_read:ident, $poll_write:ident) => {
        /// Waits until the socket may be read without waiting: data, end of stream or an
        /// error (a spurious wake is possible: the try then says `WouldBlock`). The readiness
        #[doc = concat!("stays until a `", stringify!($try_read), "` meets `WouldBlock`, so call one after each wait.")]
        /// Fails with `TimedOut` once the read deadline has passed. Several tasks waiting take
        /// turns; dropping the future leaves nothing behind.
        ///
        /// ```no_run
        #[doc = concat!("# async fn demo(socket: ringpoll::net::", stringify!($ty), ") -> std::io::Result<()> {")]
        /// let mut buf = [0u8; 4096];
        /// loop {
        ///     socket.readable().await?;
        #[doc = concat!("    match socket.", stringify!($try_read), "(&mut buf) {")]
        ///         Ok(n) => {
        ///             println!("{n} bytes");
        ///             return Ok(());
        ///         }
        ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
        ///         Err(e) => return Err(e),
        ///     }
        /// }
        /// # }
        /// ```
        pub async fn readable(&self) -> std::io::Result<()> {
            self.source.readiness(ringpoll_reactor::Interest::Read).await
        }

        /// Waits until the socket may be written without waiting: room in its send buffer,
        #[doc = concat!("or an error. As [`readable`](Self::readable), the readiness stays until a `", stringify!($try_write), "`")]
        /// meets `WouldBlock`; the write deadline bounds the wait.
        ///
        /// ```no_run
        #[doc = concat!("# async fn demo(socket: ringpoll::net::", stringify!($ty), ") -> std::io::Result<()> {")]
        /// loop {
        ///     socket.writable().await?;
        #[doc = concat!("    match socket.", stringify!($try_write), "(b\"hello\") {")]
        ///         Ok(n) => return Ok(println!("{n} bytes sent")),
        ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
        ///         Err(e) => return Err(e),
        ///     }
        /// }
        /// # }
        /// ```
        pub async fn writable(&self) -> std::io::Result<()> {
            self.source.readiness(ringpoll_reactor::Interest::Write).await
        }

        /// Waits until the socket is ready for any direction of `interest`, as tokio's
        /// `ready`; the [`Ready`](crate::Ready) says which (both, if both were), and whether a
        /// side is closed. As with [`readable`](Self::readable), a readiness stays until a try
        /// of its direction meets `WouldBlock`.
        ///
        /// ```no_run
        #[doc = concat!("# async fn demo(socket: ringpoll::net::", stringify!($ty), ") -> std::io::Result<()> {")]
        /// use ringpoll::net::Interest;
        ///
        /// let ready = socket.ready(Interest::READABLE | Interest::WRITABLE).await?;
        /// if ready.is_readable() {
        ///     let mut buf = [0u8; 1024];
        #[doc = concat!("    match socket.", stringify!($try_read), "(&mut buf) {")]
        ///         Ok(n) => println!("{n} bytes"),
        ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        ///         Err(e) => return Err(e),
        ///     }
        /// }
        /// if ready.is_writable() {
        #[doc = concat!("    match socket.", stringify!($try_write), "(b\"ping\") {")]
        ///         Ok(n) => println!("{n} bytes sent"),
        ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        ///         Err(e) => return Err(e),
        ///     }
        /// }
        /// # Ok(()) }
        /// ```
        pub async fn ready(&self, interest: crate::Interest) -> std::io::Result<crate::Ready> {
            crate::readiness::ready(&self.source, interest).await
        }

        /// [`readable`](Self::readable) as a poll, for a hand-written `Future` or `poll_`
        /// method, as tokio's: Ready while the socket is read-ready (until a
        #[doc = concat!("`", stringify!($try_read), "` meets `WouldBlock`); `TimedOut` past the read deadline.")]
        /// It takes no turn: only the task of the last poll is woken.
        ///
        /// ```no_run
        #[doc = concat!("# fn demo(socket: &ringpoll::net::", stringify!($ty), ", cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<usize>> {")]
        /// let mut buf = [0u8; 1024];
        /// loop {
        #[doc = concat!("    std::task::ready!(socket.", stringify!($poll_read), "(cx))?;")]
        #[doc = concat!("    match socket.", stringify!($try_read), "(&mut buf) {")]
        ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
        ///         res => return std::task::Poll::Ready(res),
        ///     }
        /// }
        /// # }
        /// ```
        pub fn $poll_read(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
            self.source.poll_readiness(ringpoll_reactor::Interest::Read, cx)
        }

        /// [`writable`](Self::writable) as a poll, as tokio's: Ready while the socket is
        #[doc = concat!("write-ready (until a `", stringify!($try_write), "` meets `WouldBlock`); `TimedOut` past the write deadline.")]
        /// It takes no turn: only the task of the last poll is woken.
        ///
        /// ```no_run
        #[doc = concat!("# fn demo(socket: &ringpoll::net::", stringify!($ty), ", cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<usize>> {")]
        /// loop {
        #[doc = concat!("    std::task::ready!(socket.", stringify!($poll_write), "(cx))?;")]
        #[doc = concat!("    match socket.", stringify!($try_write), "(b\"ping\") {")]
        ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
        ///         res => return std::task::Poll::Ready(res),
        ///     }
        /// }
        /// # }
        /// ```
        pub fn $poll_write(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
            self.source.poll_readiness(ringpoll_reactor::Interest::Write, cx)
        }

        /// Calls your own non-blocking `syscall` on the socket once, without waiting, as
        /// tokio's `try_io`: for what the socket type does not wrap (`recvmmsg`, the error
        /// queue, `MSG_*` flags). A `WouldBlock` from it clears the readiness of `interest`
        /// (`READABLE` or `WRITABLE`: both is `InvalidInput`), so the next
        /// [`ready`](Self::ready) waits for a fresh event; EINTR calls it again. The fd is
        /// non-blocking. Past the direction's deadline it fails with `TimedOut`, uncalled.
        ///
        /// ```no_run
        #[doc = concat!("# async fn demo(socket: ringpoll::net::", stringify!($ty), ") -> std::io::Result<()> {")]
        /// use std::os::fd::AsRawFd;
        /// use ringpoll::net::Interest;
        ///
        /// let mut buf = [0u8; 1024];
        /// socket.readable().await?;
        /// let n = socket.try_io(Interest::READABLE, || {
        ///     // SAFETY: `buf` is writable for its length during the call.
        ///     let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        ///     if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(n as usize) }
        /// })?;
        /// # let _ = n; Ok(()) }
        /// ```
        pub fn try_io<R>(
            &self,
            interest: crate::Interest,
            syscall: impl FnMut() -> std::io::Result<R>,
        ) -> std::io::Result<R> {
            self.source.try_io(crate::readiness::one_direction(interest)?, syscall)
        }

        /// Runs your own non-blocking `syscall` until it does not say `WouldBlock`, waiting
        /// for the readiness of `interest` between calls, as tokio's `async_io` (and as every
        /// built-in operation runs): on the direction's turn, bounded by its deadline.
        ///
        /// ```no_run
        #[doc = concat!("# async fn demo(socket: ringpoll::net::", stringify!($ty), ") -> std::io::Result<()> {")]
        /// use std::os::fd::AsRawFd;
        /// use ringpoll::net::Interest;
        ///
        /// let mut buf = [0u8; 1024];
        /// let n = socket
        ///     .async_io(Interest::READABLE, || {
        ///         // SAFETY: `buf` is writable for its length during the call.
        ///         let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        ///         if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(n as usize) }
        ///     })
        ///     .await?;
        /// # let _ = n; Ok(()) }
        /// ```
        pub async fn async_io<R>(
            &self,
            interest: crate::Interest,
            syscall: impl FnMut() -> std::io::Result<R>,
        ) -> std::io::Result<R> {
            self.source.retry(crate::readiness::one_direction(interest)?, syscall).await
        }
    };
}
pub(crate) use impl_readiness;

/// The tries of a byte stream (`TcpStream`, `UnixStream`).
macro_rules! impl_try_stream {
    ($ty:ident) => {
        crate::readiness::impl_readiness!($ty, try_read, try_write, poll_read_ready, poll_write_ready);

        /// Reads what the socket holds into `buf`, without waiting: `Ok(0)` is end of stream
        /// (or an empty `buf`); `WouldBlock` says nothing is there yet, and clears the
        /// readiness [`readable`](Self::readable) waits on. No internal copy, no turn taken.
        ///
        /// ```no_run
        #[doc = concat!("# async fn demo(stream: ringpoll::net::", stringify!($ty), ") -> std::io::Result<()> {")]
        /// let mut buf = vec![0u8; 4096];
        /// let mut got = Vec::new();
        /// loop {
        ///     stream.readable().await?;
        ///     match stream.try_read(&mut buf) {
        ///         Ok(0) => break, // the peer closed
        ///         Ok(n) => got.extend_from_slice(&buf[..n]),
        ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
        ///         Err(e) => return Err(e),
        ///     }
        /// }
        /// # Ok(()) }
        /// ```
        pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.source.try_recv(buf)
        }

        /// Reads into `bufs` in order, without waiting, as [`try_read`](Self::try_read).
        ///
        /// ```no_run
        #[doc = concat!("# async fn demo(stream: ringpoll::net::", stringify!($ty), ") -> std::io::Result<()> {")]
        /// use std::io::IoSliceMut;
        ///
        /// let (mut header, mut body) = ([0u8; 4], [0u8; 60]);
        /// stream.readable().await?;
        /// let n = stream.try_read_vectored(&mut [IoSliceMut::new(&mut header), IoSliceMut::new(&mut body)])?;
        /// println!("{n} bytes");
        /// # Ok(()) }
        /// ```
        pub fn try_read_vectored(&self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
            self.source.try_recv_vectored(bufs)
        }

        /// Writes as much of `buf` as the send buffer takes, without waiting; `WouldBlock`
        /// says it is full, and clears the readiness [`writable`](Self::writable) waits on.
        ///
        /// ```no_run
        #[doc = concat!("# async fn demo(stream: ringpoll::net::", stringify!($ty), ") -> std::io::Result<()> {")]
        /// let mut rest: &[u8] = b"a message longer than the send buffer holds";
        /// while !rest.is_empty() {
        ///     stream.writable().await?;
        ///     match stream.try_write(rest) {
        ///         Ok(n) => rest = &rest[n..],
        ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
        ///         Err(e) => return Err(e),
        ///     }
        /// }
        /// # Ok(()) }
        /// ```
        pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
            self.source.try_send(buf)
        }

        /// Writes from `bufs` in order in one gathered send, without waiting, as
        /// [`try_write`](Self::try_write) (at most the first 1,024 buffers).
        ///
        /// ```no_run
        #[doc = concat!("# async fn demo(stream: ringpoll::net::", stringify!($ty), ") -> std::io::Result<()> {")]
        /// use std::io::IoSlice;
        ///
        /// stream.writable().await?;
        /// let n = stream.try_write_vectored(&[IoSlice::new(b"head"), IoSlice::new(b"body")])?;
        /// println!("{n} bytes sent");
        /// # Ok(()) }
        /// ```
        pub fn try_write_vectored(&self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
            self.source.try_send_vectored(bufs)
        }
    };
}
pub(crate) use impl_try_stream;

/// The tries of a datagram socket's connected peer (`UdpSocket`, `UnixDatagram`).
macro_rules! impl_try_datagram {
    ($ty:ident) => {
        crate::readiness::impl_readiness!($ty, try_recv, try_send, poll_recv_ready, poll_send_ready);

        /// Receives one datagram into `buf` without waiting (the rest of a longer one is
        /// discarded); `WouldBlock` says none is queued, and clears the readiness
        /// [`readable`](Self::readable) waits on.
        ///
        /// ```no_run
        #[doc = concat!("# async fn demo(socket: ringpoll::net::", stringify!($ty), ") -> std::io::Result<()> {")]
        /// let mut buf = [0u8; 1500];
        /// socket.readable().await?;
        /// match socket.try_recv(&mut buf) {
        ///     Ok(n) => println!("a datagram of {n} bytes"),
        ///     Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        ///     Err(e) => return Err(e),
        /// }
        /// # Ok(()) }
        /// ```
        pub fn try_recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.source.try_recv(buf)
        }

        /// Sends `buf` as one datagram to the connected peer without waiting; `WouldBlock`
        /// says the send buffer is full, and clears the readiness
        /// [`writable`](Self::writable) waits on.
        ///
        /// ```no_run
        #[doc = concat!("# async fn demo(socket: ringpoll::net::", stringify!($ty), ") -> std::io::Result<()> {")]
        /// socket.writable().await?;
        /// let n = socket.try_send(b"ping")?;
        /// assert_eq!(n, 4);
        /// # Ok(()) }
        /// ```
        pub fn try_send(&self, buf: &[u8]) -> std::io::Result<usize> {
            self.source.try_send(buf)
        }
    };
}
pub(crate) use impl_try_datagram;
