//! Asking the kernel what its io_uring can do, on a thread of its own.
//!
//! Closing a ring does not end it: the kernel finishes the teardown later, from a worker that
//! sends task work to every thread that used the ring, with TWA_SIGNAL. A thread that probed
//! and then made a blocking call with a timeout (a socket with SO_RCVTIMEO, a `connect`)
//! saw that call fail with EINTR, though no signal was sent. So the probe's ring is made,
//! asked and closed on a short-lived thread whose exit takes the task work; the thread that
//! builds a runtime never touches a ring it does not keep. (A core keeps its ring for its
//! life, and its thread ends with it; `block_on`'s thread is the one exception, see there.)

use std::io;
use std::sync::OnceLock;
use std::thread;

use io_uring::{opcode, IoUring, Probe};

/// Opcodes the driver needs; without any of them `auto` picks epoll.
const REQUIRED: [(u8, &str); 10] = [
    (opcode::Recv::CODE, "RECV"),
    (opcode::Send::CODE, "SEND"),
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::Read::CODE, "READ"),
    (opcode::PollAdd::CODE, "POLL_ADD"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::RecvMsg::CODE, "RECVMSG"),
];

/// Whether this process may use io_uring here: setup, the opcodes, and timed waits.
pub(crate) fn probe() -> io::Result<()> {
    on_own_thread(required_here)
}

/// Whether this kernel's io_uring has opcode `code`, probed once per process: optional ops
/// (file ops a kernel may lack, such as FTRUNCATE before 6.9) ask before submitting.
pub(crate) fn supports(code: u8) -> bool {
    static SUPPORTED: OnceLock<[bool; 256]> = OnceLock::new();
    SUPPORTED.get_or_init(|| on_own_thread(opcodes_here).unwrap_or([false; 256]))[usize::from(code)]
}

/// Runs `probe` on a new thread and returns what it found (see the module docs).
fn on_own_thread<T: Send + 'static>(probe: fn() -> io::Result<T>) -> io::Result<T> {
    let prober = thread::Builder::new().name("ringpoll-probe".into()).spawn(probe)?;
    prober.join().unwrap_or_else(|_| Err(io::Error::other("the io_uring probe panicked")))
}

fn required_here() -> io::Result<()> {
    let ring = IoUring::new(8)?;
    if !ring.params().is_feature_ext_arg() {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "kernel lacks IORING_FEAT_EXT_ARG"));
    }
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    match REQUIRED.iter().find(|(code, _)| !probe.is_supported(*code)) {
        Some((_, name)) => Err(io::Error::new(io::ErrorKind::Unsupported, format!("kernel lacks IORING_OP_{name}"))),
        None => Ok(()),
    }
}

fn opcodes_here() -> io::Result<[bool; 256]> {
    let mut probe = Probe::new();
    IoUring::new(2)?.submitter().register_probe(&mut probe)?;
    Ok(std::array::from_fn(|code| probe.is_supported(code as u8)))
}
