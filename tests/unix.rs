//! Unix stream sockets on whichever driver RINGPOLL_DRIVER picks: bytes compared both ways,
//! half-close, errors of the right kind, and no descriptor left open.

use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::path::PathBuf;
use std::time::Duration;

mod support;

use ringpoll::net::{UnixListener, UnixStream};
use support::*;

/// A socket path unique to this test and process, removed first if a previous run left it.
fn socket_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ringpoll-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Reads until EOF.
async fn read_to_end(stream: &UnixStream) -> Vec<u8> {
    let mut all = Vec::new();
    loop {
        let (n, buf) = bounded(stream.read(Vec::with_capacity(64 * 1024))).await;
        if n.unwrap() == 0 {
            return all;
        }
        all.extend_from_slice(&buf);
    }
}

#[test]
fn accept_connect_and_move_mibs_both_ways_with_half_close() {
    let path = socket_path("mibs");
    run_leak_free(async {
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(listener.local_addr().unwrap().as_unix_path().unwrap(), path);
        let up = payload(3 << 20, 1);
        let down = payload(2 << 20, 2);
        let (up2, down2) = (up.clone(), down.clone());
        let server = ringpoll::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let s = std::rc::Rc::new(s);
            let writer = s.clone();
            let send = ringpoll::spawn(async move {
                let (res, _) = writer.write_all(down2).await;
                res.unwrap();
                writer.shutdown(Shutdown::Write).unwrap();
            });
            let got = read_to_end(&s).await;
            send.await.unwrap();
            got
        });
        let c = std::rc::Rc::new(UnixStream::connect(&path).await.unwrap());
        let writer = c.clone();
        let send = ringpoll::spawn(async move {
            let (res, _) = writer.write_all(up2).await;
            res.unwrap();
            writer.shutdown(Shutdown::Write).unwrap();
        });
        let got_down = read_to_end(&c).await;
        send.await.unwrap();
        assert!(got_down == down, "server -> client bytes differ");
        assert!(server.await.unwrap() == up, "client -> server bytes differ");
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn connecting_to_nothing_is_not_found_or_refused() {
    let missing = socket_path("missing");
    let not_socket = socket_path("plain-file");
    let stale = socket_path("stale");
    run_leak_free(async {
        // Written inside `run`, whose lock keeps other tests from counting descriptors meanwhile.
        std::fs::write(&not_socket, b"not a socket").unwrap();
        let err = UnixStream::connect(&missing).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let err = UnixStream::connect(&not_socket).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        // A socket file whose listener is gone refuses connections.
        drop(UnixListener::bind(&stale).unwrap());
        let err = UnixStream::connect(&stale).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    });
    std::fs::remove_file(&not_socket).unwrap();
    std::fs::remove_file(&stale).unwrap();
}

#[test]
fn bad_paths_are_errors_not_panics() {
    let taken = socket_path("taken");
    run_leak_free(async {
        let _listener = UnixListener::bind(&taken).unwrap();
        assert_eq!(UnixListener::bind(&taken).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        let long = "x".repeat(300);
        assert_eq!(UnixListener::bind(&long).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(UnixStream::connect(&long).await.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(UnixStream::connect("nul\0byte").await.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    });
    std::fs::remove_file(&taken).unwrap();
}

#[test]
fn a_path_holding_nul_is_refused_by_bind_as_by_connect() {
    let dir = std::env::temp_dir();
    let name = format!("ringpoll-{}-nul", std::process::id());
    let truncated = dir.join(&name);
    let _ = std::fs::remove_file(&truncated);
    let interior = dir.join(format!("{name}\0rest"));
    let abstract_name = format!("\0{name}");
    run_leak_free(async {
        // std refuses both ("paths must not contain interior null bytes"); socket2 alone would
        // bind the path cut at the NUL, or an abstract name that connect cannot reach.
        for path in [interior.as_path(), abstract_name.as_ref()] {
            assert_eq!(UnixListener::bind(path).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{path:?}");
            assert_eq!(UnixStream::connect(path).await.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        }
    });
    assert!(!truncated.exists(), "bind created {truncated:?}, the path cut at its NUL");
}

#[test]
fn listeners_and_streams_move_to_and_from_std_with_bytes_intact() {
    use std::io::{Read, Write};
    let path = socket_path("std");
    run_leak_free(async {
        let listener = UnixListener::from_std(std::os::unix::net::UnixListener::bind(&path).unwrap()).unwrap();
        let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let (server, _) = bounded(listener.accept()).await.unwrap();
        client.write_all(b"to ringpoll").unwrap();
        let (n, buf) = bounded(server.read(Vec::with_capacity(64))).await;
        assert_eq!(&buf[..n.unwrap()], b"to ringpoll");

        let mut server = server.into_std().unwrap();
        server.set_nonblocking(false).unwrap();
        server.write_all(b"from std").unwrap();
        let mut got = [0u8; 8];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"from std");
        let back = UnixStream::from_std(server).unwrap();
        drop(client);
        assert!(read_to_end(&back).await.is_empty());

        let listener = listener.into_std().unwrap();
        listener.set_nonblocking(false).unwrap();
        let _client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        listener.accept().expect("the std listener still listens");
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn pair_poll_read_and_poll_write_move_bytes_without_owned_buffers() {
    run_leak_free(async {
        let (a, b) = UnixStream::pair().unwrap();
        let sent = payload(1 << 20, 9);
        let writer = ringpoll::spawn(async move {
            let mut rest = &sent[..];
            while !rest.is_empty() {
                let n = poll_fn(|cx| a.poll_write(cx, rest)).await.unwrap();
                rest = &rest[n..];
            }
            a.shutdown(Shutdown::Write).unwrap();
            sent
        });
        let mut got = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = poll_fn(|cx| b.poll_read(cx, &mut buf)).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got == writer.await.unwrap(), "bytes differ");
    });
}

#[test]
fn writes_to_a_closed_peer_fail_with_broken_pipe() {
    run_leak_free(async {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let (res, _) = a.write_all(vec![1u8; 1024]).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        let (n, _) = a.read(Vec::with_capacity(16)).await;
        assert_eq!(n.unwrap(), 0);
    });
}

#[test]
fn a_graceful_shutdown_stops_unix_listeners_too() {
    assert_no_fd_leak(|| {
        let rt = one_core_runtime();
        let path = socket_path("drain");
        let server = {
            let path = path.clone();
            rt.spawn_on(0, move || async move {
                let listener = UnixListener::bind(&path)?;
                loop {
                    listener.accept().await?;
                }
                #[allow(unreachable_code)]
                Ok::<(), io::Error>(())
            })
        };
        while !path.exists() {
            std::thread::yield_now();
        }
        assert_eq!(rt.shutdown_gracefully(Duration::from_secs(2)), 0);
        let err = server.join().unwrap().unwrap_err();
        assert!(ringpoll::shutdown::is_shutting_down(&err), "{err}");
        let _ = std::fs::remove_file(&path);
    });
}

const BACKOFF_CHILD: &str = "RINGPOLL_TEST_UNIX_BACKOFF_CHILD";

/// The CPU time this process has used: from the clock, as /proc would need a descriptor.
fn process_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec, which `now` is.
    assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) }, 0);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The child's part: out of descriptors, `accept` fails with EMFILE but `accept_backoff`
/// waits, sleeping rather than spinning, and once descriptors are free it returns the
/// connection that queued meanwhile, bytes intact.
fn accept_backoff_rides_out_exhaustion() {
    ringpoll::try_block_on(driver(), async {
        let path = socket_path("backoff");
        let listener = std::rc::Rc::new(UnixListener::bind(&path).unwrap());
        let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        io::Write::write_all(&mut client, b"waited out EMFILE").unwrap();
        let mut held = exhaust_descriptors();
        // The exhaustion is real: a plain accept gives up on it.
        let err = bounded(listener.accept()).await.expect_err("accept with no descriptor left");
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
        let accepting = ringpoll::spawn({
            let listener = listener.clone();
            async move { listener.accept_backoff().await }
        });
        let before = process_cpu_time();
        ringpoll::time::sleep(Duration::from_secs(1)).await;
        let spent = process_cpu_time() - before;
        assert!(!accepting.is_finished(), "accept_backoff returned while out of descriptors");
        // A loop retrying at once would burn about one CPU second; backing off, next to none.
        assert!(spent <= Duration::from_millis(200), "{spent:?} of CPU in 1 s while out of descriptors");
        held.truncate(held.len() - 4);
        let (stream, _) = bounded(accepting).await.unwrap().expect("accepts once descriptors are free");
        let (n, buf) = bounded(stream.read(Vec::with_capacity(32))).await;
        assert_eq!(&buf[..n.unwrap()], b"waited out EMFILE");
        let _ = std::fs::remove_file(&path);
    })
    .unwrap();
    println!("backed off and recovered");
}

/// As `TcpListener::accept_backoff` (tests/hostile.rs), for Unix listeners. In a child
/// process, so the lowered descriptor limit touches no other test.
#[test]
fn accept_backoff_waits_out_descriptor_exhaustion_without_spinning() {
    if std::env::var_os(BACKOFF_CHILD).is_some() {
        return accept_backoff_rides_out_exhaustion();
    }
    // Its pipes to the child must not look like a neighbour's leak.
    let _serial = fd_lock();
    let (status, out) =
        rerun_as_child("accept_backoff_waits_out_descriptor_exhaustion_without_spinning", BACKOFF_CHILD, 60);
    assert!(status.success(), "the child failed: {status:?}, said {out:?}");
    assert!(out.contains("backed off and recovered"), "the child's part did not run: {out:?}");
}
