//! Go-style deadlines on streams and listeners, on both drivers.

mod support;

use std::io::ErrorKind;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::time::sleep;
use support::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_passed_read_deadline_fails_reads_until_cleared() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let start = Instant::now();
            server.set_read_deadline(Some(start + ms(20)));
            let (res, buf) = server.read(Vec::with_capacity(16)).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
            assert!(start.elapsed() >= ms(20), "never before the deadline");
            assert_eq!(buf.capacity(), 16, "the buffer comes back");
            // Later reads fail at once while the deadline stands, even with data waiting.
            let (w, _) = client.write_all(b"kept".to_vec()).await;
            w.unwrap();
            let (res, _) = server.read(Vec::with_capacity(16)).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
            // Clearing it lets the data through: nothing was lost.
            server.set_read_deadline(None);
            assert_eq!(server.read_deadline(), None);
            let (n, buf) = server.read(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..n.unwrap()], b"kept");
        });
    });
}

#[test]
fn a_deadline_set_while_a_read_waits_cuts_it_off() {
    assert_no_fd_leak(|| {
        run(async {
            let (_client, server) = pair().await;
            let server = Rc::new(server);
            let reader = {
                let server = server.clone();
                ringpoll::spawn(async move { server.read(Vec::with_capacity(8)).await.0 })
            };
            sleep(ms(5)).await;
            assert!(!reader.is_finished(), "no data, no deadline: the read waits");
            server.set_read_deadline(Some(Instant::now() + ms(10)));
            assert_eq!(reader.await.unwrap().unwrap_err().kind(), ErrorKind::TimedOut);
        })
    });
}

#[test]
fn moving_or_clearing_the_deadline_lets_a_waiting_read_finish() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let server = Rc::new(server);
            for clear in [false, true] {
                server.set_read_deadline(Some(Instant::now() + ms(15)));
                let reader = {
                    let server = server.clone();
                    ringpoll::spawn(async move {
                        let (n, buf) = server.read(Vec::with_capacity(8)).await;
                        n.map(|n| buf[..n].to_vec())
                    })
                };
                sleep(ms(5)).await;
                if clear {
                    server.set_read_deadline(None);
                } else {
                    server.set_read_deadline(Some(Instant::now() + Duration::from_secs(30)));
                }
                sleep(ms(30)).await;
                assert!(!reader.is_finished(), "the old deadline no longer applies");
                let (w, _) = client.write_all(vec![clear as u8]).await;
                w.unwrap();
                assert_eq!(reader.await.unwrap().unwrap(), vec![clear as u8]);
            }
        })
    });
}

#[test]
fn a_write_deadline_stops_a_write_to_a_peer_that_never_reads() {
    assert_no_fd_leak(|| {
        run(async {
            let (_client, server) = pair().await;
            server.set_write_deadline(Some(Instant::now() + ms(50)));
            // Far more than the socket buffers hold: the write must stall, then time out.
            let (res, buf) = server.write_all(vec![7u8; 64 << 20]).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
            assert_eq!(buf.len(), 64 << 20, "the buffer comes back whole");
        });
    });
}

#[test]
fn an_accept_deadline_times_out_then_clears() {
    assert_no_fd_leak(|| {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_accept_deadline(Some(Instant::now() + ms(10)));
            assert_eq!(listener.accept().await.unwrap_err().kind(), ErrorKind::TimedOut);
            listener.set_accept_deadline(None);
            let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
        });
    });
}
