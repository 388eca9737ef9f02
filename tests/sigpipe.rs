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

/// Raises SIGPIPE on the calling thread, as the kernel does for a write into a shut socket.
fn raise_sigpipe_on_this_thread() {
    // SAFETY: signals the calling thread, which is alive; SIGPIPE is a valid signal.
    assert_eq!(unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGPIPE) }, 0);
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
        raise_sigpipe_on_this_thread();
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
