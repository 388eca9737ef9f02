//! ringpoll::fs on the driver under test: bytes intact, errors of the right kind, no
//! descriptor leaked by a dropped future, ring ops on io_uring and the pool on epoll.

mod support;

use std::future::Future;
use std::io::{ErrorKind, SeekFrom};
use std::time::{Duration, Instant};

use ringpoll::fs::{self, File, OpenOptions};
use ringpoll::{DriverKind, Runtime};
use support::*;

// Every test holds `fd_lock` (or `assert_no_fd_leak`): the descriptor counts of one must not
// see another's files.
fn run<F: Future>(f: F) -> F::Output {
    ringpoll::try_block_on(driver(), f).expect("block_on")
}

/// Waits (bounded) until the process has at most `expected` descriptors: ops of dropped
/// futures finish on the ring or the pool a little later.
async fn settle_fds(expected: usize) -> usize {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        let now = open_fds();
        if now <= expected || Instant::now() > give_up {
            return now;
        }
        ringpoll::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn whole_file_write_read_and_read_to_string_keep_every_byte() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-whole");
    run(async {
        let data = payload(3 * 1024 * 1024 + 7, 5);
        let path = dir.join("data.bin");
        fs::write(&path, data.clone()).await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), data);
        assert_eq!(std::fs::read(&path).unwrap(), data, "std sees the same bytes");

        fs::write(dir.join("empty"), Vec::new()).await.unwrap();
        assert!(fs::read(dir.join("empty")).await.unwrap().is_empty());

        fs::write(dir.join("text"), "héllo\n").await.unwrap();
        assert_eq!(fs::read_to_string(dir.join("text")).await.unwrap(), "héllo\n");
        fs::write(dir.join("bad"), vec![0xff, 0xfe]).await.unwrap();
        assert_eq!(fs::read_to_string(dir.join("bad")).await.unwrap_err().kind(), ErrorKind::InvalidData);
    });
}

#[test]
fn positional_and_cursor_io_on_one_file() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-cursor");
    run(async {
        let file = File::create(dir.join("f")).await.unwrap();
        let (res, _) = file.write_all(b"hello ".to_vec()).await;
        res.unwrap();
        let (res, _) = file.write_all(b"world".to_vec()).await;
        res.unwrap();
        assert_eq!(file.position(), 11);
        let (res, _) = file.write_all_at(b"W".to_vec(), 6).await;
        res.unwrap();

        let (n, buf) = file.read_at(Vec::with_capacity(64), 0).await;
        assert_eq!(&buf[..n.unwrap()], b"hello World");
        let (n, buf) = file.read_at(Vec::with_capacity(64), 11).await;
        assert_eq!((n.unwrap(), buf.len()), (0, 0), "EOF is Ok(0)");

        assert_eq!(file.seek(SeekFrom::Start(2)).await.unwrap(), 2);
        let (n, buf) = file.read(Vec::with_capacity(3)).await;
        assert_eq!(&buf[..n.unwrap()], b"llo");
        assert_eq!(file.seek(SeekFrom::Current(1)).await.unwrap(), 6);
        assert_eq!(file.seek(SeekFrom::End(-2)).await.unwrap(), 9);
        let (n, buf) = file.read(vec![0u8; 16]).await;
        assert_eq!(&buf[..n.unwrap()], b"ld");
        assert_eq!(file.seek(SeekFrom::Current(-100)).await.unwrap_err().kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn append_writes_go_to_the_end() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-append");
    run(async {
        let path = dir.join("log");
        fs::write(&path, b"one\n".to_vec()).await.unwrap();
        let log = OpenOptions::new().append(true).open(&path).await.unwrap();
        for line in ["two\n", "three\n"] {
            let (res, _) = log.write_all(line).await;
            res.unwrap();
        }
        drop(log);
        assert_eq!(fs::read_to_string(&path).await.unwrap(), "one\ntwo\nthree\n");
    });
}

#[test]
fn from_std_goes_on_at_the_std_files_offset_and_keeps_its_append_mode() {
    use std::io::{Read, Seek};
    let _serial = fd_lock();
    let dir = TempDir::new("fs-from_std");
    let path = dir.join("f");
    std::fs::write(&path, b"header|body").unwrap();
    run(async {
        // A header read through std, the rest through ringpoll, as with tokio's from_std.
        let mut std_file = std::fs::File::open(&path).unwrap();
        std_file.read_exact(&mut [0u8; 7]).unwrap();
        let file = File::from_std(std_file);
        assert_eq!(file.position(), 7);
        let (n, buf) = file.read(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..n.unwrap()], b"body");

        let mut std_file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        std_file.seek(SeekFrom::End(0)).unwrap();
        let (res, _) = File::from_std(std_file).write_all(b"+tail".to_vec()).await;
        res.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"header|body+tail", "the write overwrote the header");

        let std_file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        let log = File::from_std(std_file);
        let (res, _) = log.write_all(b"!".to_vec()).await;
        res.unwrap();
        assert_eq!(log.position(), 0, "append writes leave the cursor alone, as OpenOptions::append");
        assert_eq!(std::fs::read(&path).unwrap(), b"header|body+tail!");

        // A pipe has no offset: its cursor starts at 0.
        let (reader, _writer) = std::io::pipe().unwrap();
        let file = File::from_std(std::fs::File::from(std::os::fd::OwnedFd::from(reader)));
        assert_eq!(file.position(), 0);
    });
}

#[test]
fn a_fifo_is_read_and_written_as_std_does_it() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-fifo");
    let fifo = dir.fifo("fifo");
    let data = payload(200 * 1024 + 3, 9);

    let (path, sent) = (fifo.clone(), data.clone());
    let writer = std::thread::spawn(move || std::fs::write(path, sent).unwrap());
    let got = within(10, {
        let fifo = fifo.clone();
        move || run(fs::read(fifo)).expect("fs::read of a FIFO (it has no offset)")
    });
    writer.join().unwrap();
    assert!(got == data, "read {} bytes of {}", got.len(), data.len());

    let path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read(path).unwrap());
    within(10, {
        let data = data.clone();
        move || {
            run(async move {
                let file = OpenOptions::new().write(true).open(&fifo).await.unwrap();
                let (res, _) = file.write_all(data).await;
                res.expect("cursor writes to a FIFO");
            })
        }
    });
    assert!(reader.join().unwrap() == data);
}

/// One layer down, the OpenAt op itself, which `OpenOptions::open` only calls: a FIFO's write
/// end with no reader comes back from the ring (io_uring's non-blocking try said ENXIO, which
/// open(2) would not) on both drivers, and its blocking half waits for the reader, as open(2)
/// does; asked for with O_NONBLOCK, the ENXIO stands.
#[test]
fn the_open_op_hands_a_fifo_write_end_without_reader_to_its_blocking_half() {
    use ringpoll_reactor::file::{c_path, submit, FileOp, OpenAt};
    let _serial = fd_lock();
    let dir = TempDir::new("fs-open-op-fifo");
    let fifo = dir.fifo("fifo");
    let open = |flags| OpenAt::new(c_path(&fifo).unwrap(), flags, 0);

    let nonblocking = run(async {
        match submit(open(libc::O_WRONLY | libc::O_NONBLOCK)).await {
            Ok(out) => out,
            Err(op) => op.run_blocking(),
        }
    });
    assert_eq!(nonblocking.expect_err("no reader").raw_os_error(), Some(libc::ENXIO));

    let op = run(submit(open(libc::O_WRONLY))).expect_err("handed back, to wait for a reader");
    let reader = std::thread::spawn({
        let fifo = fifo.clone();
        move || {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::read(fifo)
        }
    });
    let writer = within(10, move || op.run_blocking()).expect("the blocking open, once the reader came");
    std::io::Write::write_all(&mut std::fs::File::from(writer), b"through the fifo").unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), b"through the fifo");
}

#[test]
fn sync_set_len_and_metadata() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-meta");
    run(async {
        let path = dir.join("f");
        let file = File::create(&path).await.unwrap();
        let (res, _) = file.write_all(payload(1000, 1)).await;
        res.unwrap();
        file.sync_all().await.unwrap();
        file.sync_data().await.unwrap();
        let meta = file.metadata().await.unwrap();
        assert!(meta.is_file() && !meta.is_dir() && !meta.is_symlink());
        assert_eq!(meta.len(), 1000);
        assert!(meta.modified() > std::time::SystemTime::UNIX_EPOCH);

        file.set_len(10).await.unwrap();
        assert_eq!(fs::metadata(&path).await.unwrap().len(), 10);
        file.set_len(4096).await.unwrap();
        let (n, buf) = file.read_at(vec![1u8; 16], 4080).await;
        assert_eq!(&buf[..n.unwrap()], &[0u8; 16], "extended with zeroes");

        let dir_meta = fs::metadata(&dir.0).await.unwrap();
        assert!(dir_meta.is_dir());
        std::os::unix::fs::symlink(&path, dir.join("link")).unwrap();
        assert!(fs::symlink_metadata(dir.join("link")).await.unwrap().is_symlink());
        assert!(fs::metadata(dir.join("link")).await.unwrap().is_file());
    });
}

#[test]
fn directories_rename_and_remove() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-dirs");
    run(async {
        let deep = dir.join("a/b/c");
        fs::create_dir_all(&deep).await.unwrap();
        fs::create_dir_all(&deep).await.unwrap();
        assert!(fs::metadata(&deep).await.unwrap().is_dir());
        fs::write(dir.join("a/file"), b"x".to_vec()).await.unwrap();
        let err = fs::create_dir_all(dir.join("a/file/sub")).await.unwrap_err();
        assert_ne!(err.kind(), ErrorKind::NotFound, "a file in the way is not 'missing': {err}");
        assert_eq!(fs::create_dir(&deep).await.unwrap_err().kind(), ErrorKind::AlreadyExists);

        fs::rename(dir.join("a/file"), dir.join("a/b/moved")).await.unwrap();
        assert_eq!(fs::read(dir.join("a/b/moved")).await.unwrap(), b"x");
        assert_eq!(fs::metadata(dir.join("a/file")).await.unwrap_err().kind(), ErrorKind::NotFound);

        fs::remove_file(dir.join("a/b/moved")).await.unwrap();
        assert_eq!(fs::remove_file(dir.join("a/b/moved")).await.unwrap_err().kind(), ErrorKind::NotFound);
        fs::remove_dir(&deep).await.unwrap();
        assert!(fs::remove_dir(dir.join("a")).await.is_err(), "not empty");
    });
}

#[test]
fn bad_opens_fail_with_the_right_kind() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-errors");
    run(async {
        assert_eq!(File::open(dir.join("missing")).await.unwrap_err().kind(), ErrorKind::NotFound);
        fs::write(dir.join("exists"), b"1".to_vec()).await.unwrap();
        let new = OpenOptions::new().write(true).create_new(true).open(dir.join("exists")).await;
        assert_eq!(new.unwrap_err().kind(), ErrorKind::AlreadyExists);
        let nothing = OpenOptions::new().open(dir.join("exists")).await;
        assert_eq!(nothing.unwrap_err().kind(), ErrorKind::InvalidInput);
        let create_ro = OpenOptions::new().read(true).create(true).open(dir.join("x")).await;
        assert_eq!(create_ro.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(File::open("bad\0path").await.unwrap_err().kind(), ErrorKind::InvalidInput);
        let ro = File::open(dir.join("exists")).await.unwrap();
        let (res, _) = ro.write_at(b"no".to_vec(), 0).await;
        assert!(res.is_err(), "a read-only file refuses writes");
        let (res, _) = File::open(&dir.0).await.unwrap().read_at(Vec::with_capacity(8), 0).await;
        assert!(res.is_err(), "reading a directory fails");
    });
}

/// `open_beneath` opens what lies under its directory, through relative symlinks that stay
/// there too, with the bytes intact; every way out (`..` above it, an absolute path, a
/// symlink out or an absolute one, a mount point) is EXDEV, checked by the kernel, and a
/// /proc magic link ELOOP.
/// Dropped opens and the directory dropped mid-open leak no descriptor, and creating under
/// the directory works (openat2 takes a mode only then).
#[test]
fn open_beneath_stays_under_its_directory() {
    // The lock first, so it is dropped last: removing the tree opens its directories.
    let _guard = fd_lock();
    let dir = TempDir::new("fs-beneath");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/inside.bin"), payload(10_000, 5)).unwrap();
    std::fs::write(dir.join("secret"), b"no").unwrap();
    std::os::unix::fs::symlink("sub/inside.bin", tree.join("rel-in")).unwrap();
    std::os::unix::fs::symlink("../secret", tree.join("rel-out")).unwrap();
    std::os::unix::fs::symlink(tree.join("sub/inside.bin"), tree.join("abs-in")).unwrap();
    std::os::unix::fs::symlink(dir.join("secret"), tree.join("abs-out")).unwrap();
    run(async {
        let before = open_fds();
        let root = OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(&tree).await.unwrap();
        let mut read = OpenOptions::new();
        read.read(true);
        for inside in ["sub/inside.bin", "./sub/../sub/inside.bin", "rel-in"] {
            let file = read.open_beneath(&root, inside).await.unwrap_or_else(|e| panic!("{inside}: {e}"));
            let (n, buf) = file.read_at(Vec::with_capacity(20_000), 0).await;
            assert!(buf[..n.unwrap()] == payload(10_000, 5), "{inside}: the bytes differ");
        }
        for way_out in
            ["../secret", "sub/../../secret", "rel-out", "abs-out", "abs-in", "/etc/hostname", "/proc/self/fd/0"]
        {
            let err = read.open_beneath(&root, way_out).await.unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EXDEV), "{way_out}: {err}");
            assert_eq!(err.kind(), ErrorKind::CrossesDevices, "{way_out}");
        }
        // A mount point is a way out too (what is opened lies on the directory's file
        // system), and /proc's magic links are refused (ELOOP) even where reached beneath.
        let slash = OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open("/").await.unwrap();
        let err = read.open_beneath(&slash, "proc/self/status").await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EXDEV), "into /proc's mount: {err}");
        let proc_self = OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open("/proc/self").await.unwrap();
        for magic in ["fd/0", "cwd", "exe"] {
            let err = read.open_beneath(&proc_self, magic).await.unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{magic}: {err}");
        }
        drop((slash, proc_self));
        let missing = read.open_beneath(&root, "sub/missing").await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        // A mode with its file-type bits, which open(2) ignores and openat2 alone would refuse.
        let created =
            OpenOptions::new().write(true).create_new(true).mode(0o100600).open_beneath(&root, "sub/new").await;
        let (res, _) = created.unwrap().write_at(b"made".to_vec(), 0).await;
        res.unwrap();
        assert_eq!(std::fs::read(tree.join("sub/new")).unwrap(), b"made");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(tree.join("sub/new")).unwrap().permissions().mode() & 0o777, 0o600);
        for _ in 0..20 {
            poll_once_then_drop(read.open_beneath(&root, "sub/inside.bin")).await;
        }
        // The op holds the directory: dropping it with an open in flight closes it later.
        poll_once_then_drop(read.open_beneath(&root, "sub/inside.bin")).await;
        drop(root);
        // `<=`: a neighbour's late closes (a runtime's threads exiting) may land meanwhile.
        let settled = settle_fds(before).await;
        assert!(settled <= before, "a dropped open_beneath leaked a descriptor: {settled} > {before}");
    });
}

/// Polled off any core (a plain thread, no runtime), `open_beneath` of a cached path opens
/// on the calling thread, as `open` does, instead of panicking for want of a blocking pool.
#[test]
fn open_beneath_off_a_core_opens_or_says_why() {
    let _guard = fd_lock();
    let dir = TempDir::new("fs-beneath-off-core");
    std::fs::write(dir.join("f"), b"abc").unwrap();
    let root = dir.0.clone();
    let opened = std::thread::spawn(move || {
        poll_to_the_end(async move {
            let dir = OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(&root).await?;
            OpenOptions::new().read(true).open_beneath(&dir, "f").await.map(drop)
        })
    })
    .join()
    .expect("no panic off a core");
    match opened {
        Ok(()) => {}
        Err(e) => assert!(e.to_string().contains("outside a ringpoll core"), "{e}"),
    }
}

/// Polls `f` on this thread with a waker that does nothing, until it is ready (5 s at most).
fn poll_to_the_end<T>(f: impl Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        assert!(Instant::now() < give_up, "still pending after 5 s");
        std::thread::yield_now();
    }
}

/// A lookup beneath a directory that goes through `..` meets renames made anywhere in the
/// system with EAGAIN from openat2, which it retries: under a storm of renames, 20,000 opens
/// through such a symlink all succeed, none says `WouldBlock`.
#[test]
fn open_beneath_retries_what_a_rename_race_refused() {
    // The lock first, so it is dropped last: removing the tree opens its directories.
    let _guard = fd_lock();
    let dir = TempDir::new("fs-beneath-race");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("a/b/c")).unwrap();
    std::fs::write(tree.join("x.txt"), b"x").unwrap();
    std::os::unix::fs::symlink("../../../x.txt", tree.join("a/b/c/up")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renamer = {
        let (stop, one, two) = (stop.clone(), dir.join("r1"), dir.join("r2"));
        std::fs::write(&one, b"").unwrap();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::rename(&one, &two).unwrap();
                std::fs::rename(&two, &one).unwrap();
            }
        })
    };
    let failures = run(async {
        let root = OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(&tree).await.unwrap();
        let mut read = OpenOptions::new();
        read.read(true);
        let mut failures = Vec::new();
        for _ in 0..20_000 {
            if let Err(e) = read.open_beneath(&root, "a/b/c/up").await {
                failures.push(e.to_string());
            }
        }
        failures
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    renamer.join().unwrap();
    assert!(failures.is_empty(), "{} opens failed, e.g. {:?}", failures.len(), failures.first());
}

#[test]
fn dropped_file_futures_lose_nothing_and_leak_no_descriptor() {
    let dir = TempDir::new("fs-drop");
    let _guard = fd_lock();
    run(async {
        let data = payload(256 * 1024, 9);
        let path = dir.join("f");
        fs::write(&path, data.clone()).await.unwrap();
        let before = open_fds();

        // A dropped open: what it opens late is closed.
        for _ in 0..20 {
            poll_once_then_drop(File::open(&path)).await;
        }
        assert_eq!(settle_fds(before).await, before, "a dropped open leaked its descriptor");

        // A dropped cursor read moves nothing: the next read returns the same bytes.
        let file = File::open(&path).await.unwrap();
        // (On epoll a cached read completes inline, or the pool finishes it, before its one
        // poll: then it was delivered, and the cursor rightly moved past it. The test below
        // makes the read wait.)
        let first = poll_once_then_drop(file.read(Vec::with_capacity(4096))).await;
        let skip = first.map_or(0, |(n, _)| n.unwrap());
        let (n, buf) = file.read(Vec::with_capacity(4096)).await;
        assert_eq!(&buf[..n.unwrap()], &data[skip..skip + 4096]);

        // A dropped read, then the file dropped at once: closed once the op is done.
        poll_once_then_drop(file.read_at(Vec::with_capacity(64 * 1024), 0)).await;
        drop(file);
        // A dropped write still lands (or not at all); the file stays whole either way.
        let out = File::create(dir.join("w")).await.unwrap();
        poll_once_then_drop(out.write_at(payload(8192, 3), 0)).await;
        drop(out);
        assert_eq!(settle_fds(before).await, before, "descriptors leaked by dropped ops");
        let written = std::fs::read(dir.join("w")).unwrap();
        assert!(written.is_empty() || written == payload(8192, 3), "a torn write: {} bytes", written.len());
    });
}

/// Drops `file`'s pages from the page cache (they must be clean: synced first), so a read
/// cannot be served from it on the core: on epoll it goes to the pool.
fn evict(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain call on a descriptor the file keeps open; no pointers.
    let err = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(err, 0, "posix_fadvise");
}

#[test]
fn a_dropped_cursor_read_that_completes_later_moves_nothing() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-late-read");
    let path = dir.join("f");
    let data = payload(64 * 1024, 4);
    std::fs::write(&path, &data).unwrap();
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_threads(1).build().unwrap();
    rt.spawn_on(0, move || async move {
        let file = File::open(&path).await.unwrap();
        file.sync_all().await.unwrap();
        // The pool's one thread is held, so a read sent to the pool waits in its queue: its
        // one poll is Pending for certain, and it runs only after its future is dropped.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let blocker = ringpoll::spawn_blocking(move || held.recv_timeout(Duration::from_secs(10)));
        // On epoll an uncached read goes to the pool. Now and then the pages are back (or
        // were not dropped) by the time it runs, so it reads inline and is delivered, which
        // rightly moves the cursor: reset and retry (1 in 20 runs under load needs a retry,
        // and under heavy load 100 tries once all found the pages back).
        let mut pending = false;
        for _ in 0..1000 {
            evict(&file);
            if poll_once_then_drop(file.read(Vec::with_capacity(4096))).await.is_none() {
                pending = true;
                break;
            }
            file.seek(SeekFrom::Start(0)).await.unwrap();
            ringpoll::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(pending, "a read of evicted pages was never pending");
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        // Queued after the dropped read's job on the one thread: once it returns, that job
        // has run (epoll). On io_uring the ring op completes or is cancelled meanwhile.
        ringpoll::spawn_blocking(|| ()).await.unwrap();
        ringpoll::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(file.position(), 0, "a dropped read moved the cursor");
        let (n, buf) = file.read(Vec::with_capacity(4096)).await;
        assert_eq!(&buf[..n.unwrap()], &data[..4096], "the next read starts where the dropped one did");
        assert_eq!(file.position(), 4096);
    })
    .join()
    .unwrap();
}

#[test]
fn many_opens_leave_no_descriptor_behind() {
    let dir = TempDir::new("fs-churn");
    assert_no_fd_leak(|| {
        run(async {
            fs::write(dir.join("f"), b"abc".to_vec()).await.unwrap();
            for _ in 0..200 {
                let f = File::open(dir.join("f")).await.unwrap();
                let (n, _) = f.read_at(Vec::with_capacity(8), 0).await;
                assert_eq!(n.unwrap(), 3);
            }
        })
    });
}

/// Pool threads named `prefix` alive in this process.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// A file opened beneath a directory on a local file system has its metadata read on the
/// core itself, on both drivers: no pool thread on epoll, and on io_uring no io-wq worker
/// (`iou-wrk-<core tid>`, which the ring's STATX would start: io_uring never runs it
/// inline), and the record is right. A file opened by path is not known to be local: its
/// metadata leaves the core (a pool thread on epoll), as a network file system may block.
#[test]
fn a_local_files_metadata_is_read_on_the_core() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-statx");
    if !on_a_local_fs(&dir.0) {
        eprintln!("skipped: the temp dir is not on ext4, XFS, Btrfs or tmpfs");
        return;
    }
    std::fs::write(dir.join("f"), payload(12_345, 1)).unwrap();
    // Pool threads retire at once when idle, so any job after they have gone starts one.
    let rt = Runtime::builder()
        .cores([0])
        .driver(driver())
        .blocking_thread_name("fs-statx")
        .blocking_keep_alive(Duration::from_millis(1))
        .build()
        .unwrap();
    let root = dir.0.clone();
    let core_tid = rt
        .spawn_on(0, move || async move {
            let dir = OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(&root).await.unwrap();
            let f = OpenOptions::new().read(true).open_beneath(&dir, "f").await.unwrap();
            // Finding out that the directory's file system is local took the pool, once.
            let give_up = Instant::now() + Duration::from_secs(5);
            while threads_named("fs-statx") > 0 && Instant::now() < give_up {
                ringpoll::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(threads_named("fs-statx"), 0, "the pool's threads did not retire");
            for _ in 0..50 {
                let meta = f.metadata().await.unwrap();
                assert_eq!((meta.len(), meta.is_file()), (12_345, true));
            }
            assert_eq!(threads_named("fs-statx"), 0, "metadata went to the blocking pool");
            // SAFETY: gettid takes nothing and only returns this thread's id.
            unsafe { libc::gettid() }
        })
        .join()
        .unwrap();
    assert_eq!(threads_named(&format!("iou-wrk-{core_tid}")), 0, "metadata went to an io-wq worker");
    if rt.driver() == DriverKind::Epoll {
        let rt = Runtime::builder().cores([0]).driver(driver()).blocking_thread_name("fs-path").build().unwrap();
        let path = dir.join("f");
        rt.spawn_on(0, move || async move { File::open(&path).await.unwrap().metadata().await.unwrap() })
            .join()
            .unwrap();
        assert_eq!(threads_named("fs-path"), 1, "a file opened by path had its metadata on the core");
    }
}

/// Whether `path` is on a file system `File::metadata` trusts to answer from memory.
fn on_a_local_fs(path: &std::path::Path) -> bool {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: a live C string and a live statfs buffer the kernel fills.
    if unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: statfs succeeded, so it filled `st`.
    let f_type = unsafe { st.assume_init() }.f_type as u32;
    [0xef53, 0x5846_5342, 0x9123_683e, 0x0102_1994].contains(&f_type)
}

#[test]
fn io_uring_cores_use_ring_ops_and_epoll_cores_the_pool() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-where");
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_thread_name("fs-where").build().unwrap();
    let path = dir.join("f");
    rt.spawn_on(0, move || async move {
        fs::write(&path, b"data".to_vec()).await.unwrap();
        let f = File::open(&path).await.unwrap();
        f.metadata().await.unwrap();
        f.sync_all().await.unwrap();
        let (n, _) = f.read_at(Vec::with_capacity(8), 0).await;
        assert_eq!(n.unwrap(), 4);
        fs::rename(&path, path.with_extension("x")).await.unwrap();
        fs::remove_file(path.with_extension("x")).await.unwrap();
    })
    .join()
    .unwrap();
    let pool_threads = threads_named("fs-where");
    match rt.driver() {
        DriverKind::Uring => assert_eq!(pool_threads, 0, "an io_uring core ran file ops on the pool"),
        DriverKind::Epoll => assert!(pool_threads > 0, "an epoll core ran file ops without the pool"),
    }
}

#[test]
fn file_ops_on_two_cores_at_once() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-cores");
    let rt = two_core_runtime();
    let base = dir.0.clone();
    let handles = rt.run_on_each_core(move |core| {
        let path = base.join(format!("core-{core}"));
        async move {
            for round in 0..20u8 {
                let data = payload(10_000 + round as usize, round);
                fs::write(&path, data.clone()).await?;
                assert_eq!(fs::read(&path).await?, data);
            }
            std::io::Result::Ok(ringpoll::current_core())
        }
    });
    for (core, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap().unwrap(), Some(core));
    }
}

#[test]
fn cached_opens_and_reads_never_wait_for_a_pool_thread() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-cached");
    let path = dir.join("hot");
    std::fs::write(&path, payload(100_000, 2)).unwrap();
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_thread_name("fs-hot").build().unwrap();
    let read = rt
        .spawn_on(0, move || async move {
            let file = File::open(&path).await.unwrap();
            let (n, buf) = file.read_at(Vec::with_capacity(200_000), 0).await;
            buf[..n.unwrap()].to_vec()
        })
        .join()
        .unwrap();
    assert_eq!(read, payload(100_000, 2));
    assert_eq!(threads_named("fs-hot"), 0, "a cached open or read went through the pool");
}

/// A position past `i64::MAX` is `InvalidInput`, as std's `read_at`/`write_at` make it. The
/// kernel reads io_uring's offset -1 (`u64::MAX`) as "at the descriptor's own offset",
/// which cursor I/O never moves (it uses positioned reads and writes): `write_at(buf,
/// u64::MAX)` wrote over the start of the file, and `read_at` read it.
#[test]
fn positions_past_i64_max_are_invalid_not_the_descriptors_offset() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-far");
    run(async {
        let path = dir.join("f");
        fs::write(&path, b"0123456789".to_vec()).await.unwrap();
        let file = OpenOptions::new().read(true).write(true).open(&path).await.unwrap();
        for pos in [u64::MAX, i64::MAX as u64 + 1] {
            let (res, buf) = file.read_at(Vec::with_capacity(16), pos).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput, "read_at {pos}");
            assert!(buf.is_empty());
            let (res, _) = file.write_at(b"XX".to_vec(), pos).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput, "write_at {pos}");
            let (res, _) = file.write_all_at(b"XX".to_vec(), pos).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput, "write_all_at {pos}");
        }
        assert_eq!(file.seek(SeekFrom::Start(u64::MAX)).await.unwrap(), u64::MAX);
        let (res, _) = file.read(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput, "a cursor read at u64::MAX");
        let (res, _) = file.write(b"YY".to_vec()).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput, "a cursor write at u64::MAX");
        assert_eq!(std::fs::read(&path).unwrap(), b"0123456789", "nothing was written anywhere");
    });
}

/// One 100-byte record per `write_all`, each naming its writer and its number.
fn record(writer: u8, n: u8) -> Vec<u8> {
    let mut rec = vec![b'a' + writer; 100];
    rec[0] = n;
    rec
}

/// Tasks sharing one `File` (an `Rc<File>`, as a log shared by connections) take turns at
/// its cursor: every `write_all` lands whole, after the one before, and cursor reads hand
/// out each chunk once. Before, each write read the cursor when it started, so writes in
/// flight at once landed at the same offset: 4 tasks x 50 records of 100 bytes left about
/// 5,000 bytes of the 20,000 on both drivers.
#[test]
fn tasks_sharing_a_file_take_turns_at_its_cursor() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-turns");
    run(async {
        let path = dir.join("log");
        let file = std::rc::Rc::new(File::create(&path).await.unwrap());
        let writers: Vec<_> = (0..4u8)
            .map(|w| {
                let file = file.clone();
                ringpoll::spawn(async move {
                    for n in 0..50 {
                        let (res, _) = file.write_all(record(w, n)).await;
                        res.unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            bounded(writer).await.unwrap();
        }
        assert_eq!(file.position(), 20_000);
        let mut written: Vec<Vec<u8>> = std::fs::read(&path).unwrap().chunks(100).map(<[u8]>::to_vec).collect();
        written.sort();
        let mut expected: Vec<Vec<u8>> = (0..4).flat_map(|w| (0..50).map(move |n| record(w, n))).collect();
        expected.sort();
        assert!(written == expected, "records lost or torn: {} of 200 whole", written.len());

        // Readers sharing the file get each 100-byte record once.
        assert_eq!(file.seek(SeekFrom::Start(0)).await.unwrap(), 0);
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let file = file.clone();
                ringpoll::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        let (n, buf) = file.read(Vec::with_capacity(100)).await;
                        match n.unwrap() {
                            0 => return got,
                            n => got.push(buf[..n].to_vec()),
                        }
                    }
                })
            })
            .collect();
        let mut read = Vec::new();
        for reader in readers {
            read.extend(bounded(reader).await.unwrap());
        }
        read.sort();
        assert!(read == expected, "records read twice or skipped: {} reads", read.len());
    });
}

/// A cursor op dropped while it waits for its turn does not keep the others waiting. (The
/// dropped op is a read: had the writer finished first, a dropped write would have started
/// at once and might land after the next one, as `File`'s docs warn; a read lands nothing.)
#[test]
fn a_cursor_op_dropped_while_waiting_for_its_turn_blocks_nothing() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-turn-drop");
    run(async {
        let file = std::rc::Rc::new(File::create(dir.join("f")).await.unwrap());
        let first = file.clone();
        let holder = ringpoll::spawn(async move { first.write_all(payload(1 << 20, 4)).await.0 });
        ringpoll::yield_now().await;
        // Waits behind the holder's write (or runs at once, at the end, if that was done).
        poll_once_then_drop(file.read(Vec::with_capacity(64))).await;
        bounded(holder).await.unwrap().unwrap();
        let (res, _) = bounded(file.write_all(b"tail".to_vec())).await;
        res.unwrap();
        let written = std::fs::read(dir.join("f")).unwrap();
        assert_eq!(written.len(), (1 << 20) + 4);
        assert!(written.ends_with(b"tail"), "the write after the dropped read ran at the cursor");
    });
}

/// A file without an offset (a FIFO here; a pipe, a terminal, a serial port) has no cursor to
/// take turns at: a task's read that waits for data must not keep another task's write on
/// the same `File` waiting, or neither ever finishes.
#[test]
fn a_read_waiting_on_a_fifo_does_not_hold_up_a_write_to_it() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-fifo-rw");
    let fifo = dir.fifo("fifo");
    within(10, move || {
        run(async move {
            // Read and write: the open needs no other end.
            let file = std::rc::Rc::new(OpenOptions::new().read(true).write(true).open(&fifo).await.unwrap());
            let reader = file.clone();
            let read = ringpoll::spawn(async move { reader.read(Vec::with_capacity(16)).await });
            ringpoll::time::sleep(Duration::from_millis(20)).await; // the read now waits
            let (res, _) = bounded(file.write_all(b"ping".to_vec())).await;
            res.unwrap();
            let (n, buf) = bounded(read).await.unwrap();
            assert_eq!(&buf[..n.unwrap()], b"ping");
        })
    });
}

/// Turns go in call order: a task taking turns in a loop does not keep a task that asked
/// meanwhile waiting until the loop ends. The loop seeks to the end, a statx on the ring or
/// the pool; the pool's one thread is kept busy until both tasks have asked, so on epoll too
/// the first seek holds its turn while the write asks for one.
#[test]
fn cursor_turns_go_in_call_order() {
    let _serial = fd_lock();
    let dir = TempDir::new("fs-turn-order");
    let path = dir.join("f");
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_threads(1).build().unwrap();
    let task = rt.spawn_on(0, move || async move {
        let file = std::rc::Rc::new(File::create(&path).await.unwrap());
        let (open_gate, gate) = std::sync::mpsc::channel::<()>();
        let busy = ringpoll::spawn_blocking(move || gate.recv_timeout(Duration::from_secs(10)));
        let seeks = std::rc::Rc::new(std::cell::Cell::new(0));
        let (looping, done) = (file.clone(), seeks.clone());
        let a = ringpoll::spawn(async move {
            for _ in 0..20 {
                looping.seek(SeekFrom::End(0)).await.unwrap();
                done.set(done.get() + 1);
            }
        });
        // Spawned second, so it asks for its turn while the loop's first seek waits.
        let b = ringpoll::spawn(async move {
            let (res, _) = file.write_all(record(1, 0)).await;
            res.map(|()| seeks.get())
        });
        ringpoll::time::sleep(Duration::from_millis(20)).await;
        open_gate.send(()).unwrap();
        bounded(busy).await.unwrap().unwrap();
        let seeks_before = bounded(b).await.unwrap().unwrap();
        bounded(a).await.unwrap();
        seeks_before
    });
    let seeks_before = join_within(task, 20);
    assert!(seeks_before <= 1, "the write waited behind {seeks_before} of the loop's 20 seeks");
}

/// `into_std` hands the file to std where the cursor is (cursor I/O never moves the
/// descriptor's offset, so without setting it std would start at 0), keeps append mode, and
/// hands a pipe over as it is. The mirror of `from_std`, as tokio's `into_std`.
#[test]
fn into_std_goes_on_where_the_cursor_is() {
    use std::io::{Read, Write};
    let _serial = fd_lock();
    let dir = TempDir::new("fs-into_std");
    let path = dir.join("f");
    std::fs::write(&path, b"header|body").unwrap();
    run(async {
        let file = OpenOptions::new().read(true).write(true).open(&path).await.unwrap();
        let (n, buf) = file.read(vec![0u8; 7]).await;
        assert_eq!(&buf[..n.unwrap()], b"header|");
        let mut std_file = file.into_std().unwrap();
        let mut rest = String::new();
        std_file.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "body", "std goes on where the cursor was");
        std_file.write_all(b"+std").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"header|body+std");

        let log = OpenOptions::new().append(true).open(&path).await.unwrap();
        let mut std_log = log.into_std().unwrap();
        std_log.write_all(b"!").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"header|body+std!", "still appends");

        let (reader, mut writer) = std::io::pipe().unwrap();
        let pipe = File::from_std(std::fs::File::from(std::os::fd::OwnedFd::from(reader)));
        writer.write_all(b"piped").unwrap();
        drop(writer);
        let mut got = String::new();
        pipe.into_std().unwrap().read_to_string(&mut got).unwrap();
        assert_eq!(got, "piped");
    });
}

/// `try_clone` makes a second descriptor of the same open file: its own cursor, starting
/// where the original's is once the cursor operation in flight is done; it outlives the
/// original; append mode is shared. `AsFd` lends the descriptor.
#[test]
fn try_clone_starts_at_the_cursor_and_outlives_the_original() {
    use std::os::fd::{AsFd, AsRawFd};
    let _serial = fd_lock();
    let dir = TempDir::new("fs-try_clone");
    let path = dir.join("f");
    run(async {
        let file = File::create(&path).await.unwrap();
        assert_eq!(file.as_fd().as_raw_fd(), file.as_raw_fd());
        let (res, _) = file.write_all(b"hello world".to_vec()).await;
        res.unwrap();
        assert_eq!(file.seek(SeekFrom::Start(0)).await.unwrap(), 0);
        // A seek to the end asks for the size, holding the cursor's turn meanwhile: the clone
        // waits for it and starts where it leaves it. The size comes from a ring op on
        // io_uring, always in flight after one poll; on epoll from the pool, or from statx on
        // the core once the file's directory is known to be on a local file system (found on
        // the pool, so now and then already by this first seek): then nothing is in flight.
        let clone = {
            let mut seek = std::pin::pin!(file.seek(SeekFrom::End(0)));
            let first = std::future::poll_fn(|cx| std::task::Poll::Ready(seek.as_mut().poll(cx))).await;
            let mut clone = std::pin::pin!(file.try_clone());
            let end = match first {
                std::task::Poll::Ready(end) => end.unwrap(),
                std::task::Poll::Pending => {
                    assert!(!poll_once(clone.as_mut()).await, "the clone waits for the seek's turn");
                    bounded(seek).await.unwrap()
                }
            };
            assert_eq!(end, 11);
            bounded(clone).await.unwrap()
        };
        assert_ne!(clone.as_raw_fd(), file.as_raw_fd(), "a descriptor of its own");
        assert_eq!(clone.position(), 11);

        // The cursors move apart.
        assert_eq!(clone.seek(SeekFrom::Start(6)).await.unwrap(), 6);
        let (n, buf) = clone.read(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"world");
        assert_eq!(file.position(), 11, "reading the clone moved the original's cursor");
        let (res, _) = file.write_all(b"!".to_vec()).await;
        res.unwrap();
        assert_eq!(clone.position(), 11);

        // The clone outlives the original.
        drop(file);
        let (n, buf) = clone.read_at(Vec::with_capacity(16), 0).await;
        assert_eq!(&buf[..n.unwrap()], b"hello world!");

        // Append mode belongs to the open file: the clone appends too.
        let log = OpenOptions::new().append(true).open(&path).await.unwrap();
        let log_clone = log.try_clone().await.unwrap();
        drop(log);
        let (res, _) = log_clone.write_all(b"+clone".to_vec()).await;
        res.unwrap();
        drop((clone, log_clone));
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world!+clone");
    });
}

/// The descriptors `try_clone` and `into_std` make or pass on are closed with their owners.
#[test]
fn try_clone_and_into_std_leak_no_descriptor() {
    let dir = TempDir::new("fs-clone-leak");
    let path = dir.join("f");
    std::fs::write(&path, b"x").unwrap();
    assert_no_fd_leak(|| {
        run(async {
            let file = File::open(&path).await.unwrap();
            let clone = file.try_clone().await.unwrap();
            drop(file.into_std().unwrap());
            drop(clone.into_std().unwrap());
        })
    });
}
