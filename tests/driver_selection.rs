//! Driver selection: `auto` falls back to epoll where io_uring is forbidden, and forcing
//! `uring` there is an error from `build()`, not a panic.
//!
//! The forbidding is real: a child process installs a seccomp filter that makes the io_uring
//! syscalls fail with EPERM (as Docker's default profile and some sandboxes do), then runs the
//! checks in `forbidden_child`.

mod support;

use std::io::ErrorKind;
use std::process::Command;

use ringpoll::{DriverChoice, DriverKind, Runtime};
use support::*;

const CHILD_ENV: &str = "RINGPOLL_TEST_SECCOMP_CHILD";

/// Makes io_uring_setup, io_uring_enter and io_uring_register fail with EPERM in this process.
fn forbid_io_uring() {
    let deny = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    let stmt = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let jeq = |k: i64, jt: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf: 0,
        k: k as u32,
    };
    let filter = [
        // Load the syscall number (offset 0 of struct seccomp_data).
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        jeq(libc::SYS_io_uring_setup, 3),
        jeq(libc::SYS_io_uring_enter, 2),
        jeq(libc::SYS_io_uring_register, 1),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(libc::BPF_RET | libc::BPF_K, deny),
    ];
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut _ };
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments only.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }, 0);
    // SAFETY: `prog` points at `filter`, both alive for the call; the kernel copies them.
    let rc = unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog) };
    assert_eq!(rc, 0, "seccomp: {}", std::io::Error::last_os_error());
}

fn forbidden_child() {
    forbid_io_uring();
    let (kind, reason) = DriverChoice::Auto.resolve().unwrap();
    assert_eq!(kind, DriverKind::Epoll);
    assert_eq!(reason.expect("auto says why it fell back").kind(), ErrorKind::PermissionDenied);

    let err = Runtime::builder().cores([0]).driver(DriverChoice::Uring).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(err.to_string().contains("io_uring"), "the error names io_uring: {err}");

    let rt = Runtime::builder().cores([0]).driver(DriverChoice::Auto).build().unwrap();
    assert_eq!(rt.driver(), DriverKind::Epoll);
    let echoed = echo_on_core0(&rt, b"epoll after all");
    assert_eq!(echoed, b"epoll after all");
    // A second runtime does not repeat the fallback notice.
    drop(Runtime::builder().cores([0]).build().unwrap());
}

#[test]
fn auto_falls_back_to_epoll_when_io_uring_is_forbidden() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return forbidden_child();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["auto_falls_back_to_epoll_when_io_uring_is_forbidden", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env_remove("RINGPOLL_DRIVER")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stderr}\n{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stderr.matches("using epoll").count(), 1, "the fallback is reported once:\n{stderr}");
}

#[test]
fn the_driver_asked_for_is_the_driver_that_runs() {
    let rt = Runtime::builder().cores([0]).driver(DriverChoice::Epoll).build().unwrap();
    assert_eq!(rt.driver(), DriverKind::Epoll);
    drop(rt);
    if DriverChoice::Uring.resolve().is_ok() {
        let rt = Runtime::builder().cores([0]).driver(DriverChoice::Uring).build().unwrap();
        assert_eq!(rt.driver(), DriverKind::Uring);
    }
    assert_eq!("io_uring".parse::<DriverChoice>().unwrap(), DriverChoice::Uring);
    assert_eq!(" EPOLL ".parse::<DriverChoice>().unwrap(), DriverChoice::Epoll);
}
