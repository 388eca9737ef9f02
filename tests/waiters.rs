//! Several tasks waiting on one direction of one socket: every one makes progress, and a
//! deadline, a shutdown or a hangup ends every one, on both drivers. (Operations take turns
//! per direction, as Go's fdMutex makes them: see `Source`.)

mod support;

use std::io::ErrorKind;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringpoll::net::{TcpListener, TcpStream, UdpSocket};
use ringpoll::time::sleep;
use support::*;

/// Lets every spawned task run up to its first wait.
async fn settle() {
    sleep(Duration::from_millis(20)).await;
}

#[test]
fn two_accepters_on_one_listener_both_get_a_connection() {
    assert_no_fd_leak(|| {
        run(async {
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let addr = listener.local_addr().unwrap();
            let accepters: Vec<_> = (0..2)
                .map(|_| {
                    let listener = listener.clone();
                    ringpoll::spawn(async move { bounded(listener.accept()).await.map(|(s, _)| s.peer_addr()) })
                })
                .collect();
            settle().await;
            let a = TcpStream::connect(addr).await.unwrap();
            let b = TcpStream::connect(addr).await.unwrap();
            let mut peers = Vec::new();
            for accepter in accepters {
                peers.push(bounded(accepter).await.unwrap().unwrap().unwrap());
            }
            peers.sort();
            let mut expected = vec![a.local_addr().unwrap(), b.local_addr().unwrap()];
            expected.sort();
            assert_eq!(peers, expected, "each accepter got one of the two connections");
        });
    });
}

#[test]
fn two_readers_of_one_stream_both_get_data() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let server = Rc::new(server);
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let server = server.clone();
                    ringpoll::spawn(async move {
                        let (n, buf) = bounded(server.read(Vec::with_capacity(1))).await;
                        assert_eq!(n.unwrap(), 1);
                        buf[0]
                    })
                })
                .collect();
            settle().await;
            for byte in [b'a', b'b'] {
                let (res, _) = client.write_all(vec![byte]).await;
                res.unwrap();
                sleep(Duration::from_millis(5)).await;
            }
            let mut got = Vec::new();
            for reader in readers {
                got.push(bounded(reader).await.unwrap());
            }
            got.sort();
            assert_eq!(got, b"ab", "each reader got one byte, none was lost");
        });
    });
}

#[test]
fn two_readers_of_one_udp_socket_both_get_a_datagram() {
    assert_no_fd_leak(|| {
        run(async {
            let sock = Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
            let to = sock.local_addr().unwrap();
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let sock = sock.clone();
                    ringpoll::spawn(async move {
                        let (res, buf) = bounded(sock.recv_from(Vec::with_capacity(64))).await;
                        res.unwrap();
                        buf
                    })
                })
                .collect();
            settle().await;
            let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
            for d in [&b"first"[..], b"second"] {
                let (res, _) = peer.send_to(d.to_vec(), to).await;
                res.unwrap();
            }
            let mut got = Vec::new();
            for reader in readers {
                got.push(bounded(reader).await.unwrap());
            }
            got.sort();
            assert_eq!(got, [b"first".to_vec(), b"second".to_vec()]);
        });
    });
}

#[test]
fn two_writers_of_one_stream_both_finish() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let client = Rc::new(client);
            const LEN: usize = 1 << 20;
            let writers: Vec<_> = (0..2u8)
                .map(|seed| {
                    let client = client.clone();
                    ringpoll::spawn(async move {
                        let (res, _) = bounded(client.write_all(payload(LEN, seed))).await;
                        res.unwrap();
                    })
                })
                .collect();
            // Read slowly at first, so both writers wait for room.
            settle().await;
            let mut total = 0;
            let mut buf = Vec::with_capacity(64 * 1024);
            while total < 2 * LEN {
                let (n, b) = bounded(server.read(buf)).await;
                total += n.unwrap();
                buf = b;
            }
            for writer in writers {
                bounded(writer).await.unwrap();
            }
            assert_eq!(total, 2 * LEN);
        });
    });
}

/// Spawns two readers of `server`, each returning its read's error kind (or the byte count).
fn spawn_readers(server: &Rc<TcpStream>) -> Vec<ringpoll::JoinHandle<Result<usize, ErrorKind>>> {
    (0..2)
        .map(|_| {
            let server = server.clone();
            ringpoll::spawn(async move {
                let (n, _) = bounded(server.read(Vec::with_capacity(16))).await;
                n.map_err(|e| e.kind())
            })
        })
        .collect()
}

#[test]
fn a_read_deadline_ends_every_waiting_reader() {
    assert_no_fd_leak(|| {
        run(async {
            let (_client, server) = pair().await;
            let server = Rc::new(server);
            let readers = spawn_readers(&server);
            settle().await;
            let start = Instant::now();
            server.set_read_deadline(Some(Instant::now() + Duration::from_millis(50)));
            for reader in readers {
                assert_eq!(bounded(reader).await.unwrap(), Err(ErrorKind::TimedOut));
            }
            assert!(start.elapsed() < Duration::from_secs(2), "the deadline, not the bound, ended them");
        });
    });
}

#[test]
fn an_accept_deadline_ends_every_waiting_accepter() {
    assert_no_fd_leak(|| {
        run(async {
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let accepters: Vec<_> = (0..2)
                .map(|_| {
                    let listener = listener.clone();
                    ringpoll::spawn(async move { bounded(listener.accept()).await.map(drop).map_err(|e| e.kind()) })
                })
                .collect();
            settle().await;
            listener.set_accept_deadline(Some(Instant::now() + Duration::from_millis(50)));
            for accepter in accepters {
                assert_eq!(bounded(accepter).await.unwrap(), Err(ErrorKind::TimedOut));
            }
        });
    });
}

#[test]
fn a_peer_hangup_ends_every_waiting_reader() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let server = Rc::new(server);
            let readers = spawn_readers(&server);
            settle().await;
            drop(client);
            for reader in readers {
                assert_eq!(bounded(reader).await.unwrap(), Ok(0), "EOF for every reader");
            }
        });
    });
}

#[test]
fn a_read_shutdown_ends_every_waiting_reader() {
    assert_no_fd_leak(|| {
        run(async {
            let (_client, server) = pair().await;
            let server = Rc::new(server);
            let readers = spawn_readers(&server);
            settle().await;
            server.shutdown(std::net::Shutdown::Read).unwrap();
            for reader in readers {
                assert_eq!(bounded(reader).await.unwrap(), Ok(0), "EOF for every reader");
            }
        });
    });
}
