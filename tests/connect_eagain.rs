//! A TCP connect(2) failing with EAGAIN (Linux: no free local port or routing entry) ends the
//! connect with an error instead of waiting for a readiness that never means it: before, the
//! readiness loop took it for "would block" and waited on an unconnected socket (spinning, or
//! hanging once its edge was used). The EAGAIN is injected with a seccomp filter in a child
//! process, which reaches the syscall (epoll); io_uring's IORING_OP_CONNECT never makes one,
//! so there the connect goes through and the test says so.

mod support;

use std::io::ErrorKind;
use std::time::Duration;

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::DriverKind;
use support::*;

const CHILD: &str = "RINGPOLL_TEST_CONNECT_EAGAIN_CHILD";

/// Makes every later connect(2) of this thread (and of threads it starts) fail with EAGAIN.
fn connect_fails_with_eagain() {
    let filter = [
        // The syscall number, at offset 0 of `struct seccomp_data`.
        bpf(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        jump_if(libc::SYS_connect as u32, 0, 1),
        bpf(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ERRNO | libc::EAGAIN as u32),
        bpf(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    // SAFETY: prctl with integer arguments; then with a pointer to a live filter program.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog), 0);
    }
}

fn bpf(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter { code: code as u16, jt: 0, jf: 0, k }
}

fn jump_if(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, jt, jf, k }
}

/// The child's part: a listener is there, but connect(2) says EAGAIN.
fn connect_with_eagain() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    connect_fails_with_eagain();
    run(async move {
        let kind = ringpoll::io::Reactor::current().unwrap().kind();
        let res = ringpoll::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .expect("the connect ended within 5 s (it waited on an unconnected socket)");
        match (kind, res) {
            (DriverKind::Epoll, Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::AddrNotAvailable, "{e}");
                println!("connect failed: {e}");
            }
            (DriverKind::Uring, Ok(_)) => println!("connect failed: not reached (the ring's CONNECT)"),
            (kind, res) => panic!("{kind:?}: {res:?}"),
        }
        drop(TcpListener::from_std(listener).unwrap());
    });
}

#[test]
fn a_tcp_connect_failing_with_eagain_is_an_error_not_a_wait() {
    if std::env::var_os(CHILD).is_some() {
        return connect_with_eagain();
    }
    // Its pipes to the child must not look like a neighbour's leak.
    let _serial = fd_lock();
    let (status, out) = rerun_as_child("a_tcp_connect_failing_with_eagain_is_an_error_not_a_wait", CHILD, 60);
    assert!(status.success(), "the child failed: {status:?}, said {out:?}");
    assert!(out.contains("connect failed"), "the child's part did not run: {out:?}");
}
