//! The hyper example's server, run in-process on a ringpoll Runtime (every core, one
//! SO_REUSEPORT listener each), answered by real HTTP clients: hyper's client on tokio, and
//! hyper's client on ringpoll through ringpoll::hyper, on whichever driver
//! RINGPOLL_DRIVER picks.

#[path = "../examples/http.rs"]
#[allow(dead_code)]
mod http_example;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::rt::Executor;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::Runtime;

use ringpoll::hyper::{CoreExecutor, Io};
use support::run;

/// Starts the example's server on every core of `rt`; returns its address.
fn start_server(rt: &Runtime) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    let first = rt.spawn_on(0, move || async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        tx.send(listener.local_addr().unwrap()).unwrap();
        http_example::serve(listener).await
    });
    first.detach();
    let addr = rx.recv_timeout(Duration::from_secs(10)).expect("server address");
    for core in 1..rt.core_count() {
        rt.spawn_on(core, move || async move { http_example::serve(TcpListener::bind(addr)?).await }).detach();
    }
    addr
}

fn get(addr: SocketAddr, path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).header("host", addr.to_string()).body(Empty::new()).unwrap()
}

/// Several keep-alive connections, many requests each, through hyper's client on tokio.
async fn tokio_client(addr: SocketAddr, connections: usize, requests: usize) {
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
            tokio::spawn(conn);
            for i in 0..requests {
                let resp = sender.send_request(get(addr, &format!("/req/{i}"))).await.unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(&body[..], b"Hello, World!");
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
}

#[test]
fn hyper_client_on_tokio_gets_hello_world_from_every_connection() {
    let rt = Runtime::builder().build().unwrap();
    let addr = start_server(&rt);
    let client = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let bounded =
        client.block_on(async { tokio::time::timeout(Duration::from_secs(60), tokio_client(addr, 8, 50)).await });
    bounded.expect("client finished in time");
    rt.shutdown();
}

#[test]
fn hyper_client_on_ringpoll_through_ringpoll_hyper() {
    let rt = Runtime::builder().build().unwrap();
    let addr = start_server(&rt);
    run(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(Io::new(stream)).await.unwrap();
        CoreExecutor.execute(conn);
        for i in 0..100 {
            let resp = sender.send_request(get(addr, &format!("/{i}"))).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.headers()["content-length"], "13");
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"Hello, World!");
        }
    });
    rt.shutdown();
}

/// Reads one raw HTTP exchange with a blocking socket (bounded by a read timeout).
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn malformed_requests_get_400_and_the_server_keeps_serving() {
    let rt = Runtime::builder().build().unwrap();
    let addr = start_server(&rt);
    let bad = raw_exchange(addr, b"THIS IS NOT HTTP\r\n\r\n");
    assert!(bad.starts_with("HTTP/1.1 400"), "got {bad:?}");
    let good = raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(good.starts_with("HTTP/1.1 200 OK"), "got {good:?}");
    assert!(good.ends_with("Hello, World!"), "got {good:?}");
    // Two pipelined requests on one connection come back in order.
    let two = raw_exchange(
        addr,
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(two.matches("Hello, World!").count(), 2, "got {two:?}");
    rt.shutdown();
}

/// `CoreTimer` drives hyper's header read timeout: a client that never finishes its headers
/// is cut off after the timeout, not held forever.
#[test]
fn core_timer_cuts_off_a_client_that_stalls_in_its_headers() {
    use hyper::server::conn::http1;
    use ringpoll::hyper::CoreTimer;

    let rt = Runtime::builder().cores([0]).build().unwrap();
    let (tx, rx) = mpsc::channel();
    rt.spawn_on(0, move || async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        tx.send(listener.local_addr().unwrap()).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let service = hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
            Ok::<_, std::convert::Infallible>(hyper::Response::new(String::from("late")))
        });
        let conn = http1::Builder::new()
            .timer(CoreTimer)
            .header_read_timeout(Duration::from_millis(300))
            .serve_connection(Io::new(stream), service);
        drop(conn.await);
    })
    .detach();
    let addr = rx.recv_timeout(Duration::from_secs(10)).expect("server address");
    let started = std::time::Instant::now();
    let reply = raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n"); // no blank line: unfinished
    let waited = started.elapsed();
    assert!(!reply.contains("late"), "the service ran: {reply:?}");
    assert!(waited >= Duration::from_millis(250), "cut off after {waited:?}, before the timeout");
    assert!(waited < Duration::from_secs(8), "cut off after {waited:?}");
    rt.shutdown();
}

/// `Io` over a Unix stream: hyper's client and server on the two ends of a socketpair.
#[test]
fn hyper_over_a_unix_socketpair() {
    use hyper::server::conn::http1;
    use ringpoll::net::UnixStream;

    run(async {
        let (client, server) = UnixStream::pair().unwrap();
        let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
            Ok::<_, std::convert::Infallible>(hyper::Response::new(format!("path {}", req.uri().path())))
        });
        CoreExecutor
            .execute(async move { drop(http1::Builder::new().serve_connection(Io::new(server), service).await) });
        let (mut sender, conn) = hyper::client::conn::http1::handshake(Io::new(client)).await.unwrap();
        CoreExecutor.execute(conn);
        for i in 0..10 {
            let req = Request::get(format!("/{i}")).header("host", "unix").body(Empty::<Bytes>::new()).unwrap();
            let resp = sender.send_request(req).await.unwrap();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], format!("path /{i}").as_bytes());
        }
    });
}

/// Bodies larger than a pooled buffer and than hyper's read buffer, on keep-alive: every byte
/// comes back in order (on io_uring `Io` reads pooled and keeps what hyper had no room for).
#[test]
fn large_bodies_echo_intact_through_io() {
    use http_body_util::Full;
    use hyper::server::conn::http1;

    run(async {
        let (client, server) = support::pair().await;
        let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
            let body = req.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>(hyper::Response::new(Full::new(body)))
        });
        CoreExecutor
            .execute(async move { drop(http1::Builder::new().serve_connection(Io::new(server), service).await) });
        let (mut sender, conn) = hyper::client::conn::http1::handshake(Io::new(client)).await.unwrap();
        CoreExecutor.execute(conn);
        let exchanges = async {
            for (i, len) in [1, 100, 20_000, 300_000, 16 * 1024, 70_001, 5].into_iter().enumerate() {
                let data = Bytes::from(support::payload(len, i as u8));
                let req = Request::post("/").header("host", "x").body(Full::new(data.clone())).unwrap();
                let resp = sender.send_request(req).await.unwrap();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(body.len(), len, "request {i}: no byte lost or repeated");
                assert!(body == data, "request {i}: bytes in order");
            }
        };
        ringpoll::time::timeout(Duration::from_secs(60), exchanges).await.expect("every exchange in time");
    });
}

/// `Io::into_parts` hands back what a read took off the socket and hyper had no room for.
#[test]
fn into_parts_returns_the_bytes_no_read_returned() {
    use hyper::rt::{Read as _, ReadBuf};

    run(async {
        let (client, server) = support::pair().await;
        let data = support::payload(40_000, 5);
        client.write_all(data.clone()).await.0.unwrap();
        let mut io = Io::new(server);
        let mut got = Vec::new();
        for _ in 0..3 {
            let mut small = [0u8; 100];
            let mut buf = ReadBuf::new(&mut small);
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut io).poll_read(cx, buf.unfilled())).await.unwrap();
            assert!(!buf.filled().is_empty(), "bytes were waiting");
            got.extend_from_slice(buf.filled());
        }
        let (server, unread) = io.into_parts();
        got.extend_from_slice(&unread);
        while got.len() < data.len() {
            let read = server.read(Vec::with_capacity(64 * 1024));
            let (n, buf) = ringpoll::time::timeout(Duration::from_secs(10), read).await.expect("the rest in time");
            assert!(n.unwrap() > 0, "early end of stream");
            got.extend_from_slice(&buf);
        }
        assert!(got == data, "bytes in order, none lost or repeated");
    });
}

/// The example that can listen on no core (an address not on this host) exits with the
/// error, instead of waiting for a signal with nothing listening.
#[test]
fn the_example_exits_when_no_core_can_listen() {
    let argv = ["--addr", "192.0.2.1:80", "--cores", "0"];
    let args = http_example::parse_args(&mut http_example::cli::Flags::new(argv.map(String::from))).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(http_example::run(args)));
    let res = rx.recv_timeout(Duration::from_secs(10)).expect("exits instead of waiting for a signal");
    let err = res.expect_err("nothing listens");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrNotAvailable, "{err}");
}

/// A client that half-closes after its request (`shutdown(Write)`, as `nc -N` or a script
/// does) still gets its response, then the close, on both drivers. On io_uring the
/// multishot recv hands hyper the request and the end of stream together, and hyper without
/// `half_close` took that end for an abort and dropped the response (most of the time; on
/// epoll and tokio, seldom).
#[test]
fn a_client_that_half_closes_after_its_request_gets_the_response() {
    let rt = Runtime::builder().build().unwrap();
    let addr = start_server(&rt);
    for i in 0..40 {
        let started = std::time::Instant::now();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("Hello, World!"), "request {i}: got {out:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "request {i}: the server closes after answering");
    }
    rt.shutdown();
}
