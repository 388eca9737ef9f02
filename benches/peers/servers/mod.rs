//! The echo servers compared, each run in a child process so its CPU time and memory can be
//! read from /proc without counting the load generator.

mod bare_epoll;
mod bare_uring;
mod monoio_echo;
mod ringpoll_echo;
mod tokio_echo;

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

/// Each server's per-connection read buffer for the throughput runs (the echo example's size).
pub const ECHO_BUF: usize = 16 * 1024;

/// One echo server implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// A tokio current_thread runtime per core, SO_REUSEPORT listeners.
    Tokio,
    /// monoio with its io_uring driver, a runtime per core.
    MonoioUring,
    /// monoio with its legacy (epoll) driver, a runtime per core.
    MonoioEpoll,
    /// An edge-triggered epoll loop per core, no runtime at all.
    BareEpoll,
    /// An io_uring loop per core, no runtime: multishot accept and recv, a provided-buffer ring.
    BareUring,
    /// `BareUring` on direct descriptors (accept into the registered file table, fixed-file ops).
    BareUringFixed,
    /// ringpoll with `DriverChoice::Epoll`.
    RingpollEpoll,
    /// ringpoll with `DriverChoice::Uring`.
    RingpollUring,
    /// ringpoll on epoll reading into a connection's own buffer (`read`, not `read_pooled`):
    /// the path a build from before pooled reads ran, to compare with a [`Baseline`](Self::BaselineEpoll).
    RingpollEpollVec,
    /// ringpoll on io_uring reading into a connection's own buffer.
    RingpollUringVec,
    /// `ringpoll-epoll` as served by another build of this bench, named by [`BASELINE_ENV`].
    BaselineEpoll,
    /// `ringpoll-uring` as served by another build of this bench, named by [`BASELINE_ENV`].
    BaselineUring,
}

/// The environment variable naming another build's `peers` executable (say, of the commit
/// before a change) whose `ringpoll-*` servers the `baseline-*` kinds run. Both builds then
/// face the same load in the same interleaved rounds, which is the only before/after
/// comparison this shared machine's noise allows.
pub const BASELINE_ENV: &str = "RINGPOLL_BENCH_BASELINE";

impl ServerKind {
    /// The servers compared when `--servers` is not given, in table order.
    pub const ALL: [ServerKind; 7] = [
        ServerKind::RingpollEpoll,
        ServerKind::RingpollUring,
        ServerKind::Tokio,
        ServerKind::MonoioEpoll,
        ServerKind::MonoioUring,
        ServerKind::BareEpoll,
        ServerKind::BareUring,
    ];

    /// The servers `--servers` can name besides [`ALL`](Self::ALL): variants for measuring a
    /// kernel feature or comparing builds.
    pub const VARIANTS: [ServerKind; 5] = [
        ServerKind::BareUringFixed,
        ServerKind::RingpollEpollVec,
        ServerKind::RingpollUringVec,
        ServerKind::BaselineEpoll,
        ServerKind::BaselineUring,
    ];

    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Tokio => "tokio",
            ServerKind::MonoioUring => "monoio-uring",
            ServerKind::MonoioEpoll => "monoio-epoll",
            ServerKind::BareEpoll => "bare-epoll",
            ServerKind::BareUring => "bare-uring",
            ServerKind::BareUringFixed => "bare-uring-fixed",
            ServerKind::RingpollEpoll => "ringpoll-epoll",
            ServerKind::RingpollUring => "ringpoll-uring",
            ServerKind::RingpollEpollVec => "ringpoll-epoll-vec",
            ServerKind::RingpollUringVec => "ringpoll-uring-vec",
            ServerKind::BaselineEpoll => "baseline-epoll",
            ServerKind::BaselineUring => "baseline-uring",
        }
    }

    /// The executable and the server name to run for this kind: this bench itself, or for a
    /// baseline kind the other build's, asked for its own `ringpoll-*` server.
    fn executable(self) -> io::Result<(std::path::PathBuf, ServerKind)> {
        let own = match self {
            ServerKind::BaselineEpoll => ServerKind::RingpollEpoll,
            ServerKind::BaselineUring => ServerKind::RingpollUring,
            _ => return Ok((std::env::current_exe()?, self)),
        };
        let path = std::env::var_os(BASELINE_ENV).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{} needs {BASELINE_ENV}=PATH", self.name()))
        })?;
        Ok((path.into(), own))
    }

    /// Parses a name printed by [`ServerKind::name`].
    pub fn parse(name: &str) -> io::Result<ServerKind> {
        ServerKind::ALL
            .into_iter()
            .chain(ServerKind::VARIANTS)
            .find(|k| k.name() == name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("unknown server {name:?}")))
    }
}

/// What a server child is told to do.
#[derive(Debug, Clone)]
pub struct ServeOpts {
    /// Where every core listens.
    pub addr: SocketAddr,
    /// One pinned server thread per CPU listed.
    pub cpus: Vec<usize>,
    /// Capacity of each connection's read buffer.
    pub buf: usize,
}

/// Runs `kind` in this process until killed. Prints `ready` on stdout once every core listens.
pub fn serve(kind: ServerKind, opts: &ServeOpts) -> io::Result<()> {
    // 8,000 idle connections need more descriptors than the usual soft limit of 1024.
    crate::sys::raise_nofile(20_000)?;
    let (ready_tx, ready_rx) = mpsc::channel();
    let cores = opts.cpus.len();
    let announce = std::thread::spawn(move || {
        let all_ready = (0..cores).all(|_| ready_rx.recv().is_ok());
        if all_ready {
            println!("ready");
        }
    });
    let result = match kind {
        ServerKind::Tokio => tokio_echo::serve(opts, ready_tx),
        ServerKind::MonoioUring => monoio_echo::serve::<monoio::IoUringDriver>(opts, ready_tx),
        ServerKind::MonoioEpoll => monoio_echo::serve::<monoio::LegacyDriver>(opts, ready_tx),
        ServerKind::BareEpoll => bare_epoll::serve(opts, ready_tx),
        ServerKind::BareUring => bare_uring::serve(opts, ready_tx, false),
        ServerKind::BareUringFixed => bare_uring::serve(opts, ready_tx, true),
        ServerKind::RingpollEpoll => ringpoll_echo::serve(opts, ringpoll::DriverChoice::Epoll, ready_tx),
        ServerKind::RingpollUring => ringpoll_echo::serve(opts, ringpoll::DriverChoice::Uring, ready_tx),
        ServerKind::RingpollEpollVec => ringpoll_echo::serve_vec(opts, ringpoll::DriverChoice::Epoll, ready_tx),
        ServerKind::RingpollUringVec => ringpoll_echo::serve_vec(opts, ringpoll::DriverChoice::Uring, ready_tx),
        ServerKind::BaselineEpoll | ServerKind::BaselineUring => {
            Err(io::Error::new(io::ErrorKind::InvalidInput, "a baseline server runs in the baseline's own executable"))
        }
    };
    let _ = announce.join();
    result
}

/// Runs one pinned thread per CPU of `opts`, each running `per_core(cpu, ready)`, and waits for
/// them (they serve until the process is killed).
fn thread_per_core<F>(opts: &ServeOpts, ready: mpsc::Sender<()>, per_core: F) -> io::Result<()>
where
    F: Fn(&ServeOpts, mpsc::Sender<()>) -> io::Result<()> + Send + Sync + Copy + 'static,
{
    let threads: Vec<_> = opts
        .cpus
        .iter()
        .map(|&cpu| {
            let (opts, ready) = (opts.clone(), ready.clone());
            std::thread::spawn(move || {
                crate::sys::pin_to(cpu)?;
                per_core(&opts, ready)
            })
        })
        .collect();
    drop(ready);
    for t in threads {
        t.join().map_err(|_| io::Error::other("server thread panicked"))??;
    }
    Ok(())
}

/// A server child process; killed and reaped on drop.
pub struct ServerProcess {
    child: Child,
}

impl ServerProcess {
    /// Starts `kind` in a child (this same executable with `--serve`, or a baseline's) and
    /// waits until it listens.
    pub fn launch(kind: ServerKind, opts: &ServeOpts) -> io::Result<ServerProcess> {
        let cpus: Vec<String> = opts.cpus.iter().map(|c| c.to_string()).collect();
        let (exe, served) = kind.executable()?;
        let child = Command::new(exe)
            .args(["--serve", served.name(), "--addr", &opts.addr.to_string(), "--cpus", &cpus.join(",")])
            .args(["--buf", &opts.buf.to_string()])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()?;
        let mut server = ServerProcess { child };
        let mut line = String::new();
        let stdout = server.child.stdout.take().ok_or_else(|| io::Error::other("no child stdout"))?;
        BufReader::new(stdout).read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(io::Error::other(format!("{} server did not start", kind.name())));
        }
        Ok(server)
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
