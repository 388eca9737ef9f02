//! Zero-copy writes (`send_file`, `splice(2)`, IORING_OP_SPLICE) into a socket that can no
//! longer send are errors, not death by SIGPIPE, in a process that leaves SIGPIPE at its
//! default action (a C host, a binary built to die on a broken pipe). `send` passes
//! MSG_NOSIGNAL (tests/adversarial.rs); sendfile(2) and splice(2) take no such flag.

mod support;

use std::io::ErrorKind;
use std::net::Shutdown;

use ringpoll::io::Pipe;
use ringpoll::net::TcpStream;
use support::*;

const CHILD: &str = "RINGPOLL_TEST_ZERO_COPY_SIGPIPE_CHILD";

/// A connected pair whose first stream has shut its sending side: every write to it is
/// EPIPE, which without MSG_NOSIGNAL also raises SIGPIPE.
async fn shut_pair() -> (TcpStream, TcpStream) {
    let (a, b) = pair().await;
    a.shutdown(Shutdown::Write).unwrap();
    (a, b)
}

/// A pipe holding `n` bytes, to splice from.
fn full_pipe(n: usize) -> Pipe {
    let pipe = Pipe::new().unwrap();
    let bytes = vec![7u8; n];
    // SAFETY: writes `n` bytes from a live buffer to the pipe's write end.
    let wrote = unsafe { libc::write(pipe.writer().fd(), bytes.as_ptr().cast(), n) };
    assert_eq!(wrote, n as isize);
    pipe
}

fn assert_broken_pipe(what: &str, res: std::io::Result<impl std::fmt::Debug>) {
    let err = res.expect_err(what);
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{what}: {err}");
    println!("{what}: {err}");
}

/// Which of the calling thread's signal sets [`sigpipe_in`] looks at.
enum SigSet {
    Blocked,
    Pending,
}

/// Whether SIGPIPE is in the calling thread's blocked or pending set.
fn sigpipe_in(which: SigSet) -> bool {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: each call writes one sigset_t into `set` (a null new mask only queries).
    let ok = unsafe {
        match which {
            SigSet::Blocked => libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), set.as_mut_ptr()),
            SigSet::Pending => libc::sigpending(set.as_mut_ptr()),
        }
    };
    assert_eq!(ok, 0);
    // SAFETY: the call above filled `set` in.
    unsafe { libc::sigismember(set.as_ptr(), libc::SIGPIPE) == 1 }
}

/// The child's part: SIGPIPE at its default action, each zero-copy path writes to a stream
/// that shut its sending side.
fn zero_copy_writes_with_sigpipe_at_default() {
    // SAFETY: setting a signal's disposition to its default has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let dir = TempDir::new("sigpipe");
    let path = dir.join("f");
    std::fs::write(&path, vec![1u8; 4096]).unwrap();
    run(async {
        let file = ringpoll::fs::File::open(&path).await.unwrap();
        let (a, _b) = shut_pair().await;
        assert_broken_pipe("send_file", bounded(a.send_file(&file, 0, 4096)).await);

        let (a, _b) = shut_pair().await;
        let pipe = full_pipe(100);
        assert_broken_pipe("splice_to", bounded(pipe.reader().splice_to(a.as_source(), 100)).await);

        let (a, _b) = shut_pair().await;
        let pipe = full_pipe(100);
        assert_broken_pipe("splice_op_to", bounded(pipe.reader().splice_op_to(a.as_source(), 100)).await);
        // Still here, and the core's thread as it was: SIGPIPE neither blocked nor pending.
        assert!(!sigpipe_in(SigSet::Blocked), "SIGPIPE left blocked");
        assert!(!sigpipe_in(SigSet::Pending), "a SIGPIPE left pending");
    });
    println!("survived every zero-copy write");
}

#[test]
fn zero_copy_writes_to_a_shut_socket_are_broken_pipe_even_with_sigpipe_at_its_default() {
    if std::env::var_os(CHILD).is_some() {
        return zero_copy_writes_with_sigpipe_at_default();
    }
    // Its pipes to the child must not look like a neighbour's leak.
    let _serial = fd_lock();
    let (status, out) =
        rerun_as_child("zero_copy_writes_to_a_shut_socket_are_broken_pipe_even_with_sigpipe_at_its_default", CHILD, 60);
    assert!(status.success(), "the child died: {status:?}, said {out:?}");
    assert!(out.contains("survived every zero-copy write"), "the child's part did not run: {out:?}");
}

const CHILD_DIRECT: &str = "RINGPOLL_TEST_WITHOUT_SIGPIPE_CHILD";

/// Writes a byte into a pipe whose read end is closed: `EPIPE`, and the kernel raises SIGPIPE
/// on the calling thread exactly as for a zero-copy write into a shut socket.
fn write_into_a_broken_pipe() -> std::io::Error {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a live array of the two ints pipe fills.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: each descriptor is ours, closed once; the write reads one live byte.
    unsafe {
        libc::close(fds[0]);
        let wrote = libc::write(fds[1], b"x".as_ptr().cast(), 1);
        let err = std::io::Error::last_os_error();
        libc::close(fds[1]);
        assert_eq!(wrote, -1);
        err
    }
}

/// The child's part: SIGPIPE at its default action, `without_sigpipe` around a call that
/// raised SIGPIPE yet succeeded, then around one that panics.
fn without_sigpipe_with_sigpipe_at_default() {
    use ringpoll_reactor::sigpipe::without_sigpipe;
    // SAFETY: setting a signal's disposition to its default has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // sendfile and splice loop inside the kernel: bytes sent, then EPIPE on the next chunk,
    // return the count sent, with the SIGPIPE that EPIPE raised pending.
    let sent = without_sigpipe(|| {
        assert_eq!(write_into_a_broken_pipe().raw_os_error(), Some(libc::EPIPE));
        Ok(5)
    });
    assert_eq!(sent.unwrap(), 5);
    assert!(!sigpipe_in(SigSet::Pending), "a SIGPIPE left pending after a partial write");
    assert!(!sigpipe_in(SigSet::Blocked), "SIGPIPE left blocked after a partial write");
    println!("survived a partial write that raised SIGPIPE");
    std::panic::set_hook(Box::new(|_| {})); // the panic below is the test's own
    let panicked = std::panic::catch_unwind(|| without_sigpipe::<()>(|| panic!("inside the call")));
    drop(std::panic::take_hook());
    assert!(panicked.is_err());
    assert!(!sigpipe_in(SigSet::Blocked), "SIGPIPE left blocked by a call that panicked");
    println!("SIGPIPE unblocked after a panic");
}

#[test]
fn without_sigpipe_discards_a_sigpipe_of_a_call_that_succeeded_and_unblocks_after_a_panic() {
    if std::env::var_os(CHILD_DIRECT).is_some() {
        return without_sigpipe_with_sigpipe_at_default();
    }
    let _serial = fd_lock();
    let name = "without_sigpipe_discards_a_sigpipe_of_a_call_that_succeeded_and_unblocks_after_a_panic";
    let (status, out) = rerun_as_child(name, CHILD_DIRECT, 60);
    assert!(status.success(), "the child died: {status:?}, said {out:?}");
    assert!(out.contains("survived a partial write that raised SIGPIPE"), "{out:?}");
    assert!(out.contains("SIGPIPE unblocked after a panic"), "{out:?}");
}

const CHILD_FOREIGN: &str = "RINGPOLL_TEST_FOREIGN_SIGPIPE_CHILD";

/// What the child's SIGPIPE handler saw: how many, and the last one's sender and code.
static DELIVERED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static LAST_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
static LAST_CODE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn count_sigpipe(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    use std::sync::atomic::Ordering::SeqCst;
    // SAFETY: SA_SIGINFO handlers get a valid siginfo; its pid field is read as the kernel
    // wrote it (all of this is async-signal-safe: atomics only).
    let (pid, code) = unsafe { ((*info).si_pid(), (*info).si_code) };
    LAST_PID.store(pid, SeqCst);
    LAST_CODE.store(code, SeqCst);
    DELIVERED.fetch_add(1, SeqCst);
}

/// Queues SIGPIPE on the calling thread as sent by process `pid` with `code` (`SI_USER`:
/// `kill(2)`, `SI_QUEUE`: `sigqueue(3)`). The kernel lets a thread queue any siginfo to itself,
/// so this is a signal from another party that landed on this thread, the one thread not
/// blocking it.
fn as_if_sent_by(pid: libc::pid_t, code: libc::c_int) {
    // SAFETY: a zeroed siginfo is valid; the fields set are the ones kill(2) fills in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    info.si_signo = libc::SIGPIPE;
    info.si_code = code;
    // The sender's pid opens the union after the three ints, aligned as a pointer (the
    // kernel's layout); libc offers a reader but no writer, so the read checks the write.
    let at = (3 * std::mem::size_of::<libc::c_int>()).next_multiple_of(std::mem::align_of::<*const u8>());
    // SAFETY: `at` is within the siginfo (128 bytes) and aligned for a pid_t.
    unsafe { (&raw mut info).cast::<u8>().add(at).cast::<libc::pid_t>().write(pid) };
    // SAFETY: the siginfo is initialised; for SI_USER its union holds the sender's pid.
    assert_eq!(unsafe { info.si_pid() }, pid);
    // SAFETY: `info` is live; the target is this thread.
    let rc = unsafe {
        libc::syscall(libc::SYS_rt_tgsigqueueinfo, libc::getpid(), libc::gettid(), libc::SIGPIPE, &raw const info)
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

/// The child's part: a handler counts SIGPIPEs; `without_sigpipe` takes the one its own write
/// raised and leaves the ones sent by others.
fn foreign_sigpipes_with_a_handler() {
    use ringpoll_reactor::sigpipe::without_sigpipe;
    use std::sync::atomic::Ordering::SeqCst;
    // SAFETY: a zeroed sigaction with a valid SA_SIGINFO handler and an empty mask.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = count_sigpipe as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGPIPE, &action, std::ptr::null_mut()), 0);
    }
    let own = without_sigpipe(|| Err::<(), _>(write_into_a_broken_pipe()));
    assert_eq!(own.unwrap_err().raw_os_error(), Some(libc::EPIPE));
    assert_eq!(DELIVERED.load(SeqCst), 0, "the write's own SIGPIPE reached the handler");

    // A kill from another process during a call that raised nothing.
    let sent = without_sigpipe(|| {
        as_if_sent_by(1, libc::SI_USER);
        Ok(5)
    });
    assert_eq!(sent.unwrap(), 5);
    assert_eq!(DELIVERED.load(SeqCst), 1, "a kill(2) during the call was swallowed");
    assert_eq!(LAST_PID.load(SeqCst), 1, "the kill's sender was lost");
    println!("a kill during the call was delivered");

    // A sigqueue during a call whose own write then raised SIGPIPE: the two merge (a standard
    // signal is pending once per thread), and what is pending is the sigqueue's. (A tgkill
    // would do, but some kernels give it the siginfo of a kill from this very process, which
    // is what the kernel's own SIGPIPE has too.)
    let own = without_sigpipe(|| {
        as_if_sent_by(std::process::id() as libc::pid_t, libc::SI_QUEUE);
        Err::<(), _>(write_into_a_broken_pipe())
    });
    assert_eq!(own.unwrap_err().raw_os_error(), Some(libc::EPIPE));
    assert_eq!(DELIVERED.load(SeqCst), 2, "a sigqueue during the call was swallowed");
    assert_eq!(LAST_CODE.load(SeqCst), libc::SI_QUEUE);
    assert!(!sigpipe_in(SigSet::Pending), "a SIGPIPE left pending");
    assert!(!sigpipe_in(SigSet::Blocked), "SIGPIPE left blocked");
    println!("a sigqueue during the call was delivered");
}

#[test]
fn without_sigpipe_takes_only_its_own_sigpipe_and_leaves_those_others_send() {
    if std::env::var_os(CHILD_FOREIGN).is_some() {
        return foreign_sigpipes_with_a_handler();
    }
    let _serial = fd_lock();
    let name = "without_sigpipe_takes_only_its_own_sigpipe_and_leaves_those_others_send";
    let (status, out) = rerun_as_child(name, CHILD_FOREIGN, 60);
    assert!(status.success(), "the child failed: {status:?}, said {out:?}");
    assert!(out.contains("a kill during the call was delivered"), "{out:?}");
    assert!(out.contains("a sigqueue during the call was delivered"), "{out:?}");
}
