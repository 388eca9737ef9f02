//! A pool that runs dry: readers that hold more buffers than the core's pool can lend fall
//! back to buffers of their own, and every byte still arrives, in order. Its own test binary:
//! the pool's size comes from the environment, read once per core.

mod support;

use std::time::Duration;

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::time::timeout;
use support::*;

#[test]
fn a_dry_pool_loses_no_byte() {
    const CONNS: usize = 8;
    // 64 buffers for the whole core.
    std::env::set_var("RINGPOLL_POOL_BUFFERS", "64");
    assert_no_fd_leak(|| {
        ringpoll::try_block_on(driver(), async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut tasks = Vec::new();
            for c in 0..CONNS {
                let client = TcpStream::connect(addr).await.unwrap();
                let (server, _) = listener.accept().await.unwrap();
                let writer = ringpoll::spawn(async move {
                    client.write_all(payload(PER_CONN, c as u8)).await.0.unwrap();
                    client
                });
                tasks.push((writer, ringpoll::spawn(async move { hold_everything(server).await })));
            }
            // Every buffer stays held until all connections are read: 8 x 32 or more of
            // them, four times the pool.
            let all = async {
                let mut held = Vec::new();
                for (c, (writer, reader)) in tasks.into_iter().enumerate() {
                    held.push((c, reader.await.unwrap()));
                    drop(writer.await.unwrap());
                }
                held
            };
            let held = timeout(Duration::from_secs(60), all).await.expect("every connection in time");
            for (c, bufs) in held {
                let got: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                assert!(got == payload(PER_CONN, c as u8), "connection {c}: bytes differ");
            }
        })
        .expect("block_on");
    });
}

/// Reads the whole pattern and returns every buffer it came in.
async fn hold_everything(server: TcpStream) -> Vec<ringpoll::net::PooledBuf> {
    let mut held = Vec::new();
    let mut len = 0;
    while len < PER_CONN {
        let buf = server.read_pooled().await.unwrap();
        assert!(!buf.is_empty(), "early end of stream");
        len += buf.len();
        held.push(buf);
    }
    held
}

const PER_CONN: usize = 512 * 1024;
