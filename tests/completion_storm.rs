//! A deliberately tiny io_uring (4 SQ entries, 16 CQ entries) under a storm of accepts and
//! multishot receives: the completion queue overflows, and nothing is lost. On epoll the
//! same load runs as a plain stress test. Its own test binary: the ring size comes from the
//! environment, read as each core starts.

mod support;

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
            // Several accepts in flight at once, each connection echoed with pooled reads.
            let accepters: Vec<_> = (0..ACCEPTERS)
                .map(|_| {
                    let listener = listener.clone();
                    ringpoll::spawn(async move {
                        let mut echoes = Vec::new();
                        while let Ok(Ok((stream, _))) = timeout(Duration::from_millis(500), listener.accept()).await {
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
