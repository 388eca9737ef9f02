//! This process's open descriptors, counted from /proc/self/fd.

use std::sync::{Mutex, MutexGuard};

/// Open descriptors of this process.
pub fn open_fds() -> usize {
    fd_dir().count()
}

/// What each open descriptor names (`7 -> socket:[123]`), for a failed count to show.
pub fn fd_listing() -> String {
    let mut fds: Vec<String> = fd_dir()
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some(format!("{} -> {}", e.file_name().to_string_lossy(), target.display()))
        })
        .collect();
    fds.sort();
    fds.join(", ")
}

/// Pipes among them (their links name `pipe:[inode]`).
pub fn open_pipes() -> usize {
    fd_dir()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("pipe:"))
        .count()
}

fn fd_dir() -> std::fs::ReadDir {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd")
}

/// Serialises the tests of one binary that compare fd counts, so a neighbour's sockets do not
/// show up as a leak.
pub fn fd_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// This process's open descriptors once they are down to `at_most`, or as they are after ten
/// seconds of waiting: for descriptors another thread (a server's core) closes in its own
/// time. The caller asserts on what it gets.
pub fn open_fds_settled(at_most: usize) -> usize {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while open_fds() > at_most && std::time::Instant::now() < give_up {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    open_fds()
}

/// Checks that `f` leaves no descriptor open. A neighbour test that does not take the lock
/// may close descriptors meanwhile, so fewer after is allowed.
pub fn assert_no_fd_leak(f: impl FnOnce()) {
    let _guard = fd_lock();
    let before = open_fds();
    f();
    let after = open_fds();
    assert!(after <= before, "descriptors leaked: {before} open before, {after} after");
}

/// Checks that `f` leaves exactly the descriptors it found: for binaries where every test
/// takes [`fd_lock`], so nothing else opens or closes one meanwhile.
pub fn assert_fds_restored(f: impl FnOnce()) {
    let _guard = fd_lock();
    let before = open_fds();
    f();
    assert_eq!(open_fds(), before, "descriptors leaked");
}

/// Takes every descriptor the process may still open (after lowering RLIMIT_NOFILE to a few
/// more than are open), holding them until dropped. The limit stays lowered: call it in a
/// child process ([`rerun_as_child`](super::rerun_as_child)), never beside other tests.
pub fn exhaust_descriptors() -> Vec<std::os::fd::OwnedFd> {
    lower_descriptor_limit(16);
    take_free_descriptors()
}

/// Lowers RLIMIT_NOFILE to `room` more than are open (in a child process only, as
/// [`exhaust_descriptors`]). An io_uring accept reads the limit when it is submitted, not
/// when it completes: one armed before the limit was lowered takes descriptors past it. A
/// test whose accepts are armed before it runs out of descriptors lowers the limit first,
/// then starts them, then takes the rest with [`take_free_descriptors`].
pub fn lower_descriptor_limit(room: usize) {
    let limit = (open_fds() + room) as u64;
    let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
    // SAFETY: setrlimit reads a live rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) }, 0);
}

/// Takes every descriptor the process may still open under its limit, holding them until
/// dropped.
pub fn take_free_descriptors() -> Vec<std::os::fd::OwnedFd> {
    let null: std::os::fd::OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    let mut held = vec![null];
    loop {
        match held[0].try_clone() {
            Ok(fd) => held.push(fd),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
                return held;
            }
        }
    }
}
