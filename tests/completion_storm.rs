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
