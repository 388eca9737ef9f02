//! A deliberately tiny io_uring (4 SQ entries, 16 CQ entries) under a storm of accepts and
//! multishot receives: the completion queue overflows, and nothing is lost. On epoll the
//! same load runs as a plain stress test. Its own test binary: the ring size comes from the
//! environment, read as each core starts.

mod support;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::time::timeout;
use support::*;

const CONNS: usize = 150;
const ACCEPTERS: usize = 6;
const PER_CONN: usize = 48 * 1024;

#[test]
fn an_overflowing_completion_queue_loses_no_connection_and_no_byte() {
    std::env::set_var("RINGPOLL_URING_ENTRIES", "4");
    assert_no_fd_leak(|| {
        ringpoll::try_block_on(driver(), async {
            let listener = std::rc::Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let addr = listener.local_addr().unwrap();
            // Several accepts in flight at once, each connection echoed with pooled reads. An
            // accepter stops once all CONNS are in, never on a quiet spell (a slow machine has
            // those); its accepts are dropped every 100 ms meanwhile, which must lose nothing.
            let accepted = Rc::new(Cell::new(0));
            let accepters: Vec<_> = (0..ACCEPTERS)
                .map(|_| {
                    let (listener, accepted) = (listener.clone(), accepted.clone());
                    ringpoll::spawn(async move {
                        let mut echoes = Vec::new();
                        while accepted.get() < CONNS {
                            let Ok(res) = timeout(Duration::from_millis(100), listener.accept()).await else {
                                continue;
                            };
                            let (stream, _) = res.expect("accept");
                            accepted.set(accepted.get() + 1);
                            echoes.push(ringpoll::spawn(async move {
                                loop {
                                    let buf = stream.read_pooled().await.expect("pooled read");
                                    if buf.is_empty() {
                                        return;
                                    }
                                    stream.write_all(buf).await.0.expect("echo write");
                                }
                            }));
                        }
                        for e in echoes {
                            e.await.unwrap();
                        }
                    })
                })
                .collect();
            let clients: Vec<_> = (0..CONNS)
                .map(|c| {
                    ringpoll::spawn(async move {
                        let stream = TcpStream::connect(addr).await.expect("connect");
                        let data = payload(PER_CONN, c as u8);
                        let stream = std::rc::Rc::new(stream);
                        let writer = stream.clone();
                        let sent = data.clone();
                        let send = ringpoll::spawn(async move {
                            writer.write_all(sent).await.0.expect("client write");
                            writer.shutdown(std::net::Shutdown::Write).expect("half-close");
                        });
                        let mut back = Vec::with_capacity(PER_CONN);
                        loop {
                            let (n, buf) = stream.read(Vec::with_capacity(16 * 1024)).await;
                            if n.expect("client read") == 0 {
                                break;
                            }
                            back.extend_from_slice(&buf);
                        }
                        send.await.unwrap();
                        assert!(back == data, "connection {c}: echo differs ({} of {PER_CONN} bytes)", back.len());
                    })
                })
                .collect();
            let all = async {
                for c in clients {
                    c.await.unwrap();
                }
                for a in accepters {
                    a.await.unwrap();
                }
            };
            timeout(Duration::from_secs(90), all).await.expect("the storm ends in time");
        })
        .expect("block_on");
    });
}

const CONNECTS: usize = 400;

/// 400 connections at once against a 16-entry CQ: the listener's multishot accept ends on a
/// full CQ (or overflows into the kernel's list) again and again, and must be re-armed every
/// time until every connection is in. Each connection proves it is itself by an echoed id.
#[test]
fn a_connect_storm_on_a_tiny_ring_accepts_every_connection() {
    std::env::set_var("RINGPOLL_URING_ENTRIES", "4");
    assert_no_fd_leak(|| {
        ringpoll::try_block_on(driver(), async {
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let addr = listener.local_addr().unwrap();
            let seen = Rc::new(RefCell::new(HashSet::new()));
            let server = {
                let (listener, seen) = (listener.clone(), seen.clone());
                ringpoll::spawn(async move {
                    let mut conns = Vec::new();
                    for _ in 0..CONNECTS {
                        let (stream, peer) = listener.accept().await.expect("accept");
                        assert!(peer.ip().is_loopback(), "the peer address of a multishot accept");
                        let seen = seen.clone();
                        conns.push(ringpoll::spawn(async move {
                            let id = read_id(&stream).await;
                            assert!(seen.borrow_mut().insert(id), "one connection accepted twice");
                            stream.write_all(id.to_vec()).await.0.expect("echo the id");
                        }));
                    }
                    for c in conns {
                        c.await.unwrap();
                    }
                })
            };
            let clients: Vec<_> = (0..CONNECTS as u32)
                .map(|c| {
                    ringpoll::spawn(async move {
                        let stream = TcpStream::connect(addr).await.expect("connect");
                        stream.write_all(c.to_le_bytes().to_vec()).await.0.expect("send the id");
                        assert_eq!(read_id(&stream).await, c.to_le_bytes(), "connection {c} got another's id");
                    })
                })
                .collect();
            let all = async {
                for c in clients {
                    c.await.unwrap();
                }
                server.await.unwrap();
            };
            timeout(Duration::from_secs(90), all).await.expect("every connection accepted in time");
            assert_eq!(seen.borrow().len(), CONNECTS);
            let reactor = ringpoll::io::Reactor::current().unwrap();
            let arms = reactor.stats().accept_arms.get();
            if reactor.kind() == ringpoll::DriverKind::Uring {
                assert!(arms >= 1, "io_uring accepts with a multishot accept");
            } else {
                assert_eq!(arms, 0);
            }
        })
        .expect("block_on");
    });
}

/// The 4-byte id sent on `stream`, however the bytes arrive.
async fn read_id(stream: &TcpStream) -> [u8; 4] {
    let mut id = Vec::with_capacity(4);
    while id.len() < 4 {
        let (n, buf) = stream.read(vec![0u8; 4 - id.len()]).await;
        let n = n.expect("read the id");
        assert!(n > 0, "the peer closed before the id was complete");
        id.extend_from_slice(&buf[..n]);
    }
    id.try_into().unwrap()
}

/// The kernel's overflow list is a FIFO that new completions join at the back, and an enter
/// moves one CQ's worth (16 here) out of it: a turn must keep entering until it is empty, or a
/// completion waits a turn per 16 ahead of it (under load, seconds: an accept sat 0.5-4 s
/// in it while 148 connections waited, and the storm above timed its accepters out). Here 200
/// receives complete while the core is blocked, so the next enter finds 16 in the CQ and 184
/// overflowed, and every receiver must have its datagram within a few turns.
#[test]
fn an_overflowed_storm_is_taken_in_within_a_few_turns() {
    std::env::set_var("RINGPOLL_URING_ENTRIES", "4");
    // Under the fd lock: the storm above counts the process's descriptors.
    assert_no_fd_leak(|| {
        const N: usize = 200;
        let rt = one_core_runtime();
        let (addrs_tx, addrs_rx) = std::sync::mpsc::channel();
        let (sent_tx, sent_rx) = std::sync::mpsc::channel::<()>();
        let storm = rt.spawn_on(0, move || async move {
            let sockets: Vec<_> = (0..N).map(|_| own_port_udp()).collect();
            addrs_tx.send(sockets.iter().map(|s| s.local_addr().unwrap()).collect::<Vec<_>>()).unwrap();
            let receivers: Vec<_> = sockets
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    ringpoll::spawn(async move {
                        let (res, buf) = s.recv_from(Vec::with_capacity(64)).await;
                        assert_eq!(res.expect("recv_from").0, 2);
                        assert_eq!(buf, (i as u16).to_le_bytes(), "receiver {i} got its own datagram");
                    })
                })
                .collect();
            // Every receive is in the kernel once the receivers have run up to their wait.
            ringpoll::time::sleep(Duration::from_millis(50)).await;
            // Block the core while every datagram arrives: they complete at its next enter.
            sent_rx.recv_timeout(Duration::from_secs(10)).expect("the datagrams were sent");
            for r in receivers {
                r.await.unwrap();
            }
        });
        let addrs = addrs_rx.recv_timeout(Duration::from_secs(10)).expect("the sockets are bound");
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        for (i, addr) in addrs.iter().enumerate() {
            sender.send_to(&(i as u16).to_le_bytes(), addr).unwrap();
        }
        let before = rt.stats()[0].reactor_polls;
        sent_tx.send(()).unwrap();
        join_within(storm, 30);
        let turns = rt.stats()[0].reactor_polls - before;
        // 5 here (the blocked turn, and 200 tasks at 128 polls a turn); 27 when a turn moved
        // only one CQ's worth of the overflow list.
        assert!(turns <= 8, "{turns} reactor turns to take in {N} completions");
    });
}

/// A UDP socket on a port of its own (`UdpSocket::bind` sets SO_REUSEPORT, with which the
/// kernel may hand one ephemeral port to two sockets).
fn own_port_udp() -> ringpoll::net::UdpSocket {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ringpoll::net::UdpSocket::from_std(socket).unwrap()
}
