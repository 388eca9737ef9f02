//! The `tokio-compat` and `futures-io` features: ringpoll streams driven through those
//! crates' `AsyncRead`/`AsyncWrite` extension methods, bytes compared, on either driver.
//! (This crate turns both features on.)
//!
//! The streams' own owned-buffer methods (`read`, `write_all`, `shutdown`) shadow the
//! extension traits' methods of the same names, so those are called through the trait.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::rc::Rc;

use ringpoll::net::{TcpStream, UnixStream};
use support::*;

mod tokio_compat {
    use tokio::io::{AsyncReadExt as Read, AsyncWriteExt as Write};

    use super::*;

    /// Echoes everything until EOF, then shuts down its write half.
    async fn echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S) -> usize {
        let mut buf = vec![0u8; 8192];
        let mut total = 0;
        loop {
            let n = Read::read(&mut s, &mut buf).await.unwrap();
            if n == 0 {
                Write::shutdown(&mut s).await.unwrap();
                return total;
            }
            Write::write_all(&mut s, &buf[..n]).await.unwrap();
            total += n;
        }
    }

    #[test]
    fn tcp_echo_through_tokio_traits() {
        run(async {
            let (client, server) = pair().await;
            let echoed = ringpoll::spawn(echo(server));
            let client = Rc::new(client);
            let sent = payload(2 << 20, 1);
            let (writer, data) = (client.clone(), sent.clone());
            let send = ringpoll::spawn(async move {
                let mut w: &TcpStream = &writer;
                Write::write_all(&mut w, &data).await.unwrap();
                Write::shutdown(&mut w).await.unwrap();
            });
            let mut got = Vec::new();
            let mut r: &TcpStream = &client;
            Read::read_to_end(&mut r, &mut got).await.unwrap();
            send.await.unwrap();
            assert_eq!(echoed.await.unwrap(), sent.len());
            assert!(got == sent, "echoed bytes differ");
        });
    }

    #[test]
    fn unix_read_exact_and_eof_through_tokio_traits() {
        run(async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let sent = payload(300_000, 2);
            let data = sent.clone();
            let send = ringpoll::spawn(async move {
                Write::write_all(&mut a, &data).await.unwrap();
                Write::shutdown(&mut a).await.unwrap();
            });
            let mut got = vec![0u8; sent.len()];
            Read::read_exact(&mut b, &mut got).await.unwrap();
            assert!(got == sent, "bytes differ");
            assert_eq!(Read::read(&mut b, &mut [0u8; 16]).await.unwrap(), 0, "EOF after shutdown");
            send.await.unwrap();
        });
    }

    /// A child's pipes through tokio's traits: 1 MiB into `cat` with `write_all` while
    /// `read_to_end` takes it back, then end of file on both.
    #[test]
    fn child_pipes_through_tokio_traits() {
        use std::process::Stdio;

        run(async {
            let mut child =
                ringpoll::process::Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
            let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
            let sent = payload(1 << 20, 3);
            let data = sent.clone();
            let send = ringpoll::spawn(async move {
                Write::write_all(&mut stdin, &data).await.unwrap();
                Write::shutdown(&mut stdin).await.unwrap();
                // Dropped: cat reads end of file.
            });
            let mut got = Vec::new();
            bounded(Read::read_to_end(&mut stdout, &mut got)).await.unwrap();
            bounded(send).await.unwrap();
            assert!(got == sent, "the bytes came back changed");
            assert!(bounded(child.wait()).await.unwrap().success());
        });
    }
}

mod futures_io {
    use futures_lite::io::{AsyncReadExt as Read, AsyncWriteExt as Write};

    use super::*;

    #[test]
    fn tcp_echo_through_futures_io_traits() {
        run(async {
            let (client, server) = pair().await;
            let echoed = ringpoll::spawn(async move {
                let mut s = server;
                let mut all = Vec::new();
                Read::read_to_end(&mut s, &mut all).await.unwrap();
                Write::write_all(&mut s, &all).await.unwrap();
                Write::close(&mut s).await.unwrap();
                all.len()
            });
            let sent = payload(1 << 20, 3);
            let mut c = client;
            Write::write_all(&mut c, &sent).await.unwrap();
            Write::close(&mut c).await.unwrap();
            let mut got = Vec::new();
            Read::read_to_end(&mut c, &mut got).await.unwrap();
            assert_eq!(echoed.await.unwrap(), sent.len());
            assert!(got == sent, "echoed bytes differ");
        });
    }

    #[test]
    fn unix_shared_reference_reads_while_another_task_writes() {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let a = Rc::new(a);
            let sent = payload(500_000, 4);
            let (writer, data) = (a.clone(), sent.clone());
            let send = ringpoll::spawn(async move {
                let mut w: &UnixStream = &writer;
                Write::write_all(&mut w, &data).await.unwrap();
                Write::close(&mut w).await.unwrap();
            });
            let mut b = b;
            let mut got = Vec::new();
            Read::read_to_end(&mut b, &mut got).await.unwrap();
            send.await.unwrap();
            assert!(got == sent, "bytes differ");
        });
    }
}
