//! Dropping futures with operations in flight: nothing lost, nothing leaked, on both drivers.

mod support;

use std::time::Duration;

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::time::{sleep, timeout};
use support::*;

#[test]
fn bytes_a_dropped_read_received_go_to_the_next_read() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            for i in 0..200u8 {
                // The read is in flight when the byte arrives; its future is dropped after the
                // completion came in but before anyone collected it.
                let mut read = Box::pin(server.read(Vec::with_capacity(1)));
                let _ = poll_once(read.as_mut()).await;
                let (w, _) = client.write_all(vec![i]).await;
                w.unwrap();
                sleep(Duration::from_millis(1)).await;
                drop(read);
                let (n, buf) = server.read(Vec::with_capacity(8)).await;
                assert_eq!(n.unwrap(), 1, "round {i}");
                assert_eq!(buf, [i], "round {i}: the byte is not lost");
            }
        });
    });
}

#[test]
fn a_read_cancelled_by_timeout_leaves_the_stream_usable() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            assert!(timeout(Duration::from_millis(5), server.read(Vec::with_capacity(16))).await.is_err());
            let (w, _) = client.write_all(b"after".to_vec()).await;
            w.unwrap();
            let (n, buf) = server.read(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..n.unwrap()], b"after");
        });
    });
}

#[test]
fn thousands_of_dropped_reads_and_accepts_leak_nothing() {
    const CONNS: usize = 2000;
    assert_no_fd_leak(|| {
        let rt = one_core_runtime();
        rt.spawn_on(0, || async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut pairs = Vec::with_capacity(CONNS);
            for _ in 0..CONNS {
                let client = TcpStream::connect(addr).await.unwrap();
                let (server, _) = listener.accept().await.unwrap();
                pairs.push((client, server));
            }
            for (_, server) in &pairs {
                start_and_drop(server.read(vec![0u8; 4096])).await;
            }
            for _ in 0..1000 {
                start_and_drop(listener.accept()).await;
            }
            // A dropped accept must not swallow the next connection.
            let late = TcpStream::connect(addr).await.unwrap();
            let (accepted, peer) = timeout(Duration::from_secs(5), listener.accept()).await.unwrap().unwrap();
            assert_eq!(peer, late.local_addr().unwrap());
            drop((late, accepted));
            drop(pairs);
        })
        .join()
        .unwrap();
        // Give the reactor turns to collect the cancellations.
        rt.spawn_on(0, || sleep(Duration::from_millis(50))).join().unwrap();
        let stats = rt.stats()[0];
        assert_eq!(stats.ops_in_flight, 0, "every cancelled op completed and was freed");
        assert_eq!(stats.sources_open, 0);
    });
}

/// A listener dropped while its multishot accept (io_uring) holds accepted connections in its
/// queue closes every one of them at once, with the runtime still running: the clients see
/// the end, and the descriptor count is back to its baseline. On epoll the connections wait
/// in the kernel's backlog, which the close resets.
#[test]
fn a_listener_dropped_with_connections_queued_closes_them() {
    const QUEUED: usize = 20;
    run_leak_free(async {
        let baseline = open_fds();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // One accept arms the listener's multishot accept.
        let first = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = timeout(Duration::from_secs(5), listener.accept()).await.unwrap().unwrap();
        drop(accepted);
        let mut clients: Vec<_> = (0..QUEUED).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
        clients.push(first);
        // Turns for the kernel to post the connections into the listener's queue.
        sleep(Duration::from_millis(50)).await;
        drop(listener);
        sleep(Duration::from_millis(50)).await;
        assert_eq!(open_fds(), baseline + QUEUED + 1, "only the clients' descriptors are open");
        for mut client in clients {
            client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut byte = [0u8; 1];
            match std::io::Read::read(&mut client, &mut byte) {
                Ok(0) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                other => panic!("a queued connection was left open: {other:?}"),
            }
        }
    });
}
