//! The hyper example's server, run in-process on a ringpoll Runtime (every core, one
//! SO_REUSEPORT listener each), answered by real HTTP clients: hyper's client on tokio, and
//! hyper's client on ringpoll through the example's runtime glue, on whichever driver
//! RINGPOLL_DRIVER picks.

#[path = "../examples/http.rs"]
#[allow(dead_code)]
mod http_example;
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

use http_example::{CoreExecutor, HyperIo};
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
fn hyper_client_on_ringpoll_through_the_example_glue() {
    let rt = Runtime::builder().build().unwrap();
    let addr = start_server(&rt);
    run(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo(stream)).await.unwrap();
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
