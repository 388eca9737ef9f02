//! Gathered writes: every buffer's bytes in order, and a list longer than the kernel takes in
//! one call (UIO_MAXIOV, 1,024) written in part, as std's `write_vectored` does, not refused.

mod support;

use ringpoll::net::UnixStream;
use support::*;

/// `count` three-byte buffers, each filled with its index (mod 256).
fn numbered(count: usize) -> Vec<Vec<u8>> {
    (0..count).map(|i| vec![i as u8; 3]).collect()
}

#[test]
fn writev_sends_every_buffer_in_order() {
    run_leak_free(async {
        let (client, server) = pair().await;
        let (n, bufs) = client.writev(numbered(10)).await;
        assert_eq!(n.unwrap(), 30);
        let (res, got) = read_exact(&server, 30).await;
        res.unwrap();
        assert_eq!(got, bufs.concat());
    });
}

#[test]
fn writev_past_uio_maxiov_writes_the_first_1024_buffers() {
    run_leak_free(async {
        let (client, server) = pair().await;
        let (n, bufs) = client.writev(numbered(2000)).await;
        // Loopback takes 3 KiB at once: the whole first 1,024 buffers go.
        assert_eq!(n.expect("a long list is a partial write, not EMSGSIZE"), 1024 * 3);
        let (res, got) = read_exact(&server, 1024 * 3).await;
        res.unwrap();
        assert_eq!(got, bufs[..1024].concat());

        let (a, b) = UnixStream::pair().unwrap();
        let (n, _) = a.writev(numbered(2000)).await;
        assert_eq!(n.expect("the same on a Unix stream"), 1024 * 3);
        drop(b);
    });
}

/// Reads exactly `len` bytes, each read bounded in time.
async fn read_exact(stream: &ringpoll::net::TcpStream, len: usize) -> (std::io::Result<()>, Vec<u8>) {
    let mut all = Vec::new();
    while all.len() < len {
        let (n, buf) = bounded(stream.read(Vec::with_capacity(len - all.len()))).await;
        match n {
            Ok(0) => return (Err(std::io::ErrorKind::UnexpectedEof.into()), all),
            Ok(_) => all.extend_from_slice(&buf),
            Err(e) => return (Err(e), all),
        }
    }
    (Ok(()), all)
}
