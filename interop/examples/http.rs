//! "Hello, World!" over HTTP/1.1 with hyper 1.x on every chosen core, one SO_REUSEPORT
//! listener per core.
//!
//! ringpoll provides hyper's runtime pieces itself: [`HyperIo`] (hyper's `Read`/`Write` over a
//! `TcpStream`, readiness plus one non-blocking syscall into hyper's buffer, no copy),
//! [`CoreExecutor`] (spawns on the current core) and [`CoreTimer`] (ringpoll's timers).
//!
//! ```text
//! cargo run --release -p ringpoll-interop --example http -- [--addr HOST:PORT] [--cores 0,1] [--driver uring|epoll|auto]
//! ```
//! Runs until SIGINT or SIGTERM, then stops every core and exits.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::rt::{Executor, ReadBufCursor};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::signal::ShutdownSignals;
use ringpoll::{DriverChoice, Runtime};

/// hyper's I/O traits over a ringpoll `TcpStream`.
pub struct HyperIo(pub TcpStream);

impl hyper::rt::Read for HyperIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, mut buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        // SAFETY: the bytes are only handed to recv(2), which writes and never reads them, so
        // nothing uninitialised is read; only the `n` bytes recv reports are advanced over.
        let n = ready!(self.0.poll_read(cx, unsafe { as_bytes(buf.as_mut()) }))?;
        // SAFETY: recv initialised the first n bytes of the cursor's unfilled part.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

/// Views a slice of maybe-uninitialised bytes as bytes, for a syscall to write into.
///
/// # Safety
/// The caller must not read bytes of the result that nothing has written.
unsafe fn as_bytes(buf: &mut [MaybeUninit<u8>]) -> &mut [u8] {
    // SAFETY: MaybeUninit<u8> has u8's layout; reads are excluded by the caller's contract.
    unsafe { &mut *(buf as *mut [MaybeUninit<u8>] as *mut [u8]) }
}

impl hyper::rt::Write for HyperIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.0.poll_write(cx, buf)
    }

    /// Sockets keep no user-space buffer: written bytes are already the kernel's.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.0.shutdown(Shutdown::Write))
    }
}

/// hyper's executor: runs futures as tasks on the current core (they need not be `Send`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CoreExecutor;

impl<F> Executor<F> for CoreExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        ringpoll::spawn(future).detach();
    }
}

/// hyper's timer, on the current core's timers (header read timeouts, keep-alive).
#[derive(Debug, Clone, Copy, Default)]
pub struct CoreTimer;

/// A ringpoll sleep as hyper's `Sleep`.
struct CoreSleep(ringpoll::time::Sleep);

impl Future for CoreSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.poll_elapsed(cx)
    }
}

impl hyper::rt::Sleep for CoreSleep {}

impl hyper::rt::Timer for CoreTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CoreSleep(ringpoll::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CoreSleep(ringpoll::time::sleep_until(deadline)))
    }

    /// Moves our own sleeps in place instead of allocating a new one per keep-alive request.
    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<CoreSleep>() {
            Some(ours) => ours.get_mut().0.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
}

/// Serves HTTP/1.1 on `listener` forever, one task per connection.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of descriptors: back off instead of spinning; connections free them.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                ringpoll::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let _ = stream.set_nodelay(true);
        let conn = http1::Builder::new().timer(CoreTimer).serve_connection(HyperIo(stream), service_fn(hello));
        // A connection's error (a reset, a malformed request) ends that connection only.
        CoreExecutor.execute(async move { drop(conn.await) });
    }
}

#[path = "../../examples/cli/mod.rs"]
mod cli;

const USAGE: &str = "usage: http [--addr HOST:PORT] [--cores LIST] [--driver uring|epoll|auto]
  --addr HOST:PORT     where every core listens (default 127.0.0.1:8080; names are resolved)
  --cores LIST         CPUs to run on, e.g. 0,1 (default: every CPU)
  --driver KIND        uring, epoll or auto (default: RINGPOLL_DRIVER, else auto)";

struct Args {
    addr: SocketAddr,
    cores: Option<Vec<usize>>,
    driver: DriverChoice,
}

fn parse_args(flags: &mut cli::Flags) -> Result<Args, cli::Stop> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let driver = DriverChoice::from_env().map_err(|e| cli::Stop::Bad(e.to_string()))?;
    let mut args = Args { addr, cores: None, driver };
    while let Some(flag) = flags.next_flag()? {
        match flag.as_str() {
            "--addr" => args.addr = flags.addr()?,
            "--cores" => args.cores = Some(flags.cores()?),
            "--driver" => args.driver = flags.value()?,
            _ => return Err(flags.unknown()),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = cli::parse("http", USAGE, parse_args);
    cli::exit("http", run(args))
}

fn run(args: Args) -> io::Result<()> {
    let signals = ShutdownSignals::install()?;
    let mut builder = Runtime::builder().driver(args.driver);
    if let Some(cores) = args.cores {
        builder = builder.cores(cores);
    }
    let rt = builder.build()?;
    let (addr, driver) = (args.addr, rt.driver());
    let servers = rt.run_on_each_core(move |core| async move {
        let listener = TcpListener::bind(addr).inspect_err(|e| eprintln!("core {core}: {addr}: {e}"))?;
        println!("core {core}: driver {driver}, http on {addr}");
        serve(listener).await
    });
    let sig = signals.wait();
    eprintln!("http: signal {sig}, shutting down");
    drop(servers);
    rt.shutdown();
    Ok(())
}
