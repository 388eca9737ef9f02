mod support;

use ringpoll::net::{TcpListener, TcpStream};
use support::run;

#[test]
fn smoke_echo() {
    run(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = ringpoll::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let (n, buf) = s.read(Vec::with_capacity(100)).await;
            let n = n.unwrap();
            let (r, _) = s.write_all(buf).await;
            r.unwrap();
            n
        });
        let c = TcpStream::connect(addr).await.unwrap();
        // A byte string literal is a buffer as it is (`&'static [u8; N]`), nothing copied.
        let (r, _) = c.write_all(b"hello").await;
        r.unwrap();
        let (n, buf) = c.read(Vec::with_capacity(100)).await;
        assert_eq!(&buf[..n.unwrap()], b"hello");
        assert_eq!(server.await.unwrap(), 5);
        ringpoll::time::sleep(std::time::Duration::from_millis(5)).await;
    });
}
