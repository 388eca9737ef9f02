//! The file server example, run in-process on the driver under test and driven by real
//! sockets: bytes and lengths intact, keep-alive and pipelining, 404s, every way out of the
//! root refused, a client leaving mid-file, and the command line's conventions.

#[path = "../examples/fileserver/main.rs"]
#[allow(dead_code)]
mod fileserver;

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fileserver::args;
use fileserver::cli::{Flags, Stop};
use fileserver::request::{self, Parse};
use fileserver::root::Root;
use fileserver::target::{directory_location, relative_path, Refused};
use ringpoll::net::TcpListener;
use ringpoll::Runtime;
use support::*;

/// A served tree and a secret next to it: `root/{index.html, data.bin, big.bin, sub/,
/// in-link -> /abs/root/index.html, out-link -> /abs/secret.txt, out-dir -> /abs,
/// rel-link -> sub/index.html, rel-out -> ../secret.txt}`.
///
/// It holds `fd_lock` while it lives (and while it is removed, which opens its directories):
/// every test that serves a tree runs alone, so a count of open descriptors sees only its
/// own server, however long a neighbour's transfer takes under load.
struct Tree {
    base: PathBuf,
    root: PathBuf,
    /// Last: released after the tree is gone.
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Tree {
    fn new(name: &str) -> Tree {
        let serial = fd_lock();
        let base = std::env::temp_dir().join(format!("ringpoll-fileserver-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(base.join("secret.txt"), "SECRET").unwrap();
        std::fs::write(root.join("index.html"), "<h1>hi</h1>\n").unwrap();
        std::fs::write(root.join("sub/index.html"), "sub\n").unwrap();
        std::fs::write(root.join("data.bin"), payload(100_000, 3)).unwrap();
        std::fs::write(root.join("big.bin"), big()).unwrap();
        std::os::unix::fs::symlink(root.join("index.html"), root.join("in-link")).unwrap();
        std::os::unix::fs::symlink(base.join("secret.txt"), root.join("out-link")).unwrap();
        std::os::unix::fs::symlink(&base, root.join("out-dir")).unwrap();
        std::os::unix::fs::symlink("sub/index.html", root.join("rel-link")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", root.join("rel-out")).unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        Tree { base, root, _serial: serial }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// 16 MiB: more than loopback's socket buffers hold, so a client leaving early leaves the
/// server mid-file.
fn big() -> Vec<u8> {
    payload(64 * 1024, 4).repeat(256)
}

/// Starts the server on every core of a fresh runtime; returns it and the address.
fn start(tree: &Tree) -> (Runtime, SocketAddr) {
    start_with(tree, fileserver::serve::CLIENT_TIMEOUT)
}

/// [`start`], with the time a client has to send a request head or take a `SEND_CHUNK`.
/// Returns once every core listens, so that a test's count of open descriptors taken after
/// it already holds every listener.
fn start_with(tree: &Tree, timeout: Duration) -> (Runtime, SocketAddr) {
    serve_root(tree.root.clone(), timeout)
}

/// [`start_with`] serving `root` as it is given (a path through a symlink, say).
fn serve_root(root: PathBuf, timeout: Duration) -> (Runtime, SocketAddr) {
    let rt = two_core_runtime();
    let (tx, rx) = mpsc::channel();
    let first = root.clone();
    let bound = tx.clone();
    // Each core says it is ready once it listens and holds the root open: a test counts
    // descriptors from then.
    rt.spawn_on(0, move || async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let root = Rc::new(Root::open(&first).await.unwrap());
        bound.send(listener.local_addr().unwrap()).unwrap();
        fileserver::serve::accept(listener, root, timeout).await
    })
    .detach();
    let addr = rx.recv_timeout(Duration::from_secs(10)).expect("server address");
    for core in 1..rt.core_count() {
        let (root, bound) = (root.clone(), tx.clone());
        rt.spawn_on(core, move || async move {
            let listener = TcpListener::bind(addr).unwrap();
            let root = Rc::new(Root::open(&root).await.unwrap());
            bound.send(addr).unwrap();
            fileserver::serve::accept(listener, root, timeout).await
        })
        .detach();
    }
    for _ in 1..rt.core_count() {
        rx.recv_timeout(Duration::from_secs(10)).expect("every core listening");
    }
    (rt, addr)
}

fn client(addr: SocketAddr) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(stream)
}

/// One response: status, headers (lower-cased names) and body (none for HEAD).
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

fn read_response(conn: &mut BufReader<TcpStream>, head_only: bool) -> Response {
    let mut line = String::new();
    conn.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        conn.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
    }
    // A 304 has no content, so no length (RFC 9110 §15.4.5); every other answer has one.
    let len = headers.iter().find(|(n, _)| n == "content-length");
    let len: usize = match (status, len) {
        (304, None) => 0,
        (_, len) => len.unwrap_or_else(|| panic!("{status} without a length")).1.parse().unwrap(),
    };
    let mut body = vec![0; if head_only { 0 } else { len }];
    conn.read_exact(&mut body).unwrap();
    Response { status, headers, body }
}

fn get(conn: &mut BufReader<TcpStream>, target: &str) -> Response {
    write!(conn.get_mut(), "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    read_response(conn, false)
}

/// Asserts the server closed the connection (EOF, or a reset).
fn assert_closed(conn: &mut BufReader<TcpStream>) {
    let mut rest = Vec::new();
    match conn.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "bytes after the last response: {rest:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[test]
fn files_come_back_whole_over_one_keep_alive_connection() {
    let tree = Tree::new("whole");
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    let index = get(&mut conn, "/");
    assert_eq!((index.status, index.body.as_slice()), (200, &b"<h1>hi</h1>\n"[..]));
    assert_eq!(index.header("content-type"), Some("text/html; charset=utf-8"));
    let data = get(&mut conn, "/data.bin");
    assert_eq!(data.header("content-length"), Some("100000"));
    assert_eq!(data.body, payload(100_000, 3));
    let big = get(&mut conn, "/big.bin");
    assert!(big.body == self::big(), "16 MiB body differs");
    assert_eq!(get(&mut conn, "/sub/").body, b"sub\n");
    assert_eq!(get(&mut conn, "/sub").status, 301, "a directory without its slash is redirected");
    assert_eq!(get(&mut conn, "/in-link").body, b"<h1>hi</h1>\n", "an absolute symlink inside the root is served");
    assert_eq!(get(&mut conn, "/rel-link").body, b"sub\n", "a relative symlink inside the root is served");
    assert_eq!(get(&mut conn, "/data.bin?x=1#frag").body.len(), 100_000);
}

#[test]
fn pipelined_requests_head_and_connection_close() {
    let tree = Tree::new("pipeline");
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    conn.get_mut()
        .write_all(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\nHEAD /data.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut conn, false).body, b"<h1>hi</h1>\n");
    let head = read_response(&mut conn, true);
    assert_eq!((head.status, head.header("content-length")), (200, Some("100000")));
    assert_eq!(read_response(&mut conn, false).status, 404);
    write!(conn.get_mut(), "GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let last = read_response(&mut conn, false);
    assert_eq!((last.status, last.header("connection")), (200, Some("close")));
    assert_closed(&mut conn);

    let mut old = client(addr);
    write!(old.get_mut(), "GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut old, false).status, 200);
    assert_closed(&mut old);
}

#[test]
fn nothing_outside_the_root_is_served() {
    let tree = Tree::new("escape");
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    for (target, want) in [
        ("/../secret.txt", 403),
        ("/sub/../../secret.txt", 403),
        ("/%2e%2e/secret.txt", 403),
        ("/%2E%2E%2Fsecret.txt", 403),
        ("/sub/..%2f..%2fsecret.txt", 403),
        ("/out-link", 403),
        ("/rel-out", 403),
        ("/out-dir/secret.txt", 403),
        ("//etc/passwd", 404),
        ("/%2fetc%2fpasswd", 404),
        ("/missing.html", 404),
        // Absolute-form names a path under the root, like any other.
        ("http://host/etc/passwd", 404),
        ("http://host/../secret.txt", 403),
    ] {
        let res = get(&mut conn, target);
        assert_eq!(res.status, want, "{target}");
        assert!(!res.body.windows(6).any(|w| w == b"SECRET"), "{target} leaked the secret");
    }
    for target in ["/a%00b", "/bad%zz", "/trunc%2", "ftp://host/etc/passwd", "*"] {
        let mut conn = client(addr);
        assert_eq!(get(&mut conn, target).status, 400, "{target}");
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request without a Host, and any request with two Host lines
/// or a Host that is not one, get 400 and a close; HTTP/1.0 may send none. What curl and wrk
/// send (`Host: 127.0.0.1:8080`, `[::1]:8080`) is served, and so is an empty Host.
#[test]
fn a_request_needs_one_host_and_http_1_0_none() {
    let tree = Tree::new("host");
    let (_rt, addr) = start(&tree);
    for head in [
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
    ] {
        let mut conn = client(addr);
        conn.get_mut().write_all(head.as_bytes()).unwrap();
        assert_eq!(read_response(&mut conn, false).status, 400, "{head:?}");
        assert_closed(&mut conn);
    }
    for head in [
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
        "GET / HTTP/1.1\r\nHOST: [::1]:8080\r\n\r\n",
        "GET / HTTP/1.1\r\nHost:\r\n\r\n",
    ] {
        let mut conn = client(addr);
        conn.get_mut().write_all(head.as_bytes()).unwrap();
        assert_eq!(read_response(&mut conn, false).body, b"<h1>hi</h1>\n", "{head:?}");
    }
}

/// A directory named without its trailing slash is a 301 to its path with one (the query
/// kept), so relative links in its index page resolve inside it; with the slash, its
/// index.html is served as before. The Location is made from the path under the root, so a
/// `//name` target cannot redirect to another site.
#[test]
fn a_directory_without_its_slash_is_redirected_to_it() {
    let tree = Tree::new("dir-redirect");
    std::fs::create_dir(tree.root.join("a b")).unwrap();
    std::fs::write(tree.root.join("a b/index.html"), "spaced\n").unwrap();
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    for (target, location) in [
        ("/sub", "/sub/"),
        ("/sub?x=1&y=%20", "/sub/?x=1&y=%20"),
        ("/sub#frag", "/sub/"),
        ("//sub", "/sub/"),
        ("/./sub", "/sub/"),
        ("/a%20b", "/a%20b/"),
        ("http://host/sub?q", "/sub/?q"),
    ] {
        let res = get(&mut conn, target);
        assert_eq!((res.status, res.header("location")), (301, Some(location)), "{target}");
        assert_eq!(res.header("connection"), Some("keep-alive"), "{target}: the connection stays open");
    }
    assert_eq!(get(&mut conn, "/sub/").body, b"sub\n");
    assert_eq!(get(&mut conn, "/a%20b/").body, b"spaced\n");
    assert_eq!(get(&mut conn, "/").body, b"<h1>hi</h1>\n", "the root needs no redirect");
    assert_eq!(get(&mut conn, "/out-dir").status, 403, "a directory outside the root is refused, not redirected");
    write!(conn.get_mut(), "HEAD /sub HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let head = read_response(&mut conn, true);
    assert_eq!((head.status, head.header("location")), (301, Some("/sub/")));
    assert_eq!(get(&mut conn, "/sub/").body, b"sub\n", "the HEAD's answer had no body");
}

/// An answer to HEAD has no body, errors too: a client reads none (RFC 9110 §9.3.2), and
/// a body would be taken for the next response on the connection.
#[test]
fn an_error_answering_head_has_no_body() {
    let tree = Tree::new("head-error");
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    conn.get_mut()
        .write_all(b"HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\nHEAD /../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let missing = read_response(&mut conn, true);
    assert_eq!((missing.status, missing.header("content-length")), (404, Some("14")));
    assert_eq!(read_response(&mut conn, true).status, 403);
    assert_eq!(get(&mut conn, "/index.html").body, b"<h1>hi</h1>\n");
}

#[test]
fn bad_requests_get_an_answer_and_a_close() {
    let tree = Tree::new("bad");
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    conn.get_mut().write_all(b"NONSENSE\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut conn, false).status, 400);
    assert_closed(&mut conn);

    let mut conn = client(addr);
    write!(conn.get_mut(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc").unwrap();
    assert_eq!(read_response(&mut conn, false).status, 405);
    assert_closed(&mut conn);

    let mut conn = client(addr);
    write!(conn.get_mut(), "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut conn, false).status, 400);
    assert_closed(&mut conn);

    let mut conn = client(addr);
    write!(conn.get_mut(), "DELETE / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let res = read_response(&mut conn, false);
    assert_eq!((res.status, res.header("allow")), (405, Some("GET, HEAD")));

    // Too long: the target alone (414, which RFC 9112 §3 asks for), or the header fields
    // (431), as nginx answers them; sent whole, or cut off before the head ends.
    let max = fileserver::request::MAX_HEAD;
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(max));
    let long_field = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(max));
    for (head, status) in [(long_target.as_str(), 414), (&long_target[..max + 10], 414), (&long_field, 431)] {
        let mut conn = client(addr);
        let _ = conn.get_mut().write_all(head.as_bytes());
        assert_eq!(read_response(&mut conn, false).status, status, "{}...", &head[..40]);
    }
    assert_eq!(request::parse(&long_field.as_bytes()[..max + 10]), Parse::TooLarge(431));
}

/// The descriptors open once the server has served one request: the first starts what
/// serving needs once (epoll's blocking pool), so later counts compare against this. Taken
/// once the server has closed the warm-up connection, which the client sees as its end of
/// stream (a fixed sleep was too short on a loaded machine). Tests that do not take
/// [`fd_lock`] may open and close descriptors meanwhile: compare with `<=`.
fn warmed_fds(addr: SocketAddr) -> usize {
    let mut warm = client(addr);
    assert_eq!(get(&mut warm, "/index.html").status, 200);
    warm.get_mut().shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    warm.read_to_end(&mut rest).expect("the server closes a connection the client ended");
    drop(warm);
    open_fds()
}

/// A client that holds a connection without sending a whole head (idle from the start, a
/// head half sent, idle after a response) is closed once the head timeout passes, and its
/// descriptor comes back; one that finishes its head in time is served.
#[test]
fn connections_without_a_whole_head_in_time_are_closed() {
    let tree = Tree::new("head-timeout");
    let timeout = Duration::from_millis(400);
    let (_rt, addr) = start_with(&tree, timeout);
    let baseline = warmed_fds(addr);
    let started = Instant::now();
    let mut idle = client(addr);
    let mut half = client(addr);
    half.get_mut().write_all(b"GET /index.html HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut after_response = client(addr);
    assert_eq!(get(&mut after_response, "/index.html").status, 200);
    let mut slow = client(addr);
    slow.get_mut().write_all(b"GET /index.html HTTP/1.1\r\n").unwrap();
    std::thread::sleep(timeout / 2);
    slow.get_mut().write_all(b"Host: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut slow, false).body, b"<h1>hi</h1>\n", "a head finished in time is served");
    for conn in [&mut idle, &mut half, &mut after_response] {
        assert_closed(conn);
        assert!(started.elapsed() >= timeout - Duration::from_millis(50), "closed only once the time is up");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "each closed soon after its time was up");
    drop((idle, half, after_response, slow));
    let open = open_fds_settled(baseline);
    assert!(open <= baseline, "connections left open: {open} > {baseline}: {}", fd_listing());
}

/// A client that stops reading mid-file, and holds its connection, is closed once the
/// timeout passes without it taking another `SEND_CHUNK`: the server's socket and the file
/// come back while the client still holds its end. One that keeps reading gets every byte.
#[test]
fn a_client_that_stops_reading_is_closed_after_the_timeout() {
    let tree = Tree::new("send-timeout");
    let timeout = Duration::from_millis(400);
    let (_rt, addr) = start_with(&tree, timeout);
    let baseline = warmed_fds(addr);
    let mut stalled = client(addr);
    write!(stalled.get_mut(), "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = [0u8; 4096];
    stalled.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200 OK"));
    // Only the client's own socket stays: the server's and the file's are closed.
    let open = open_fds_settled(baseline + 1);
    assert!(
        open <= baseline + 1,
        "the server still holds the stalled connection or its file: {open} open: {}",
        fd_listing()
    );
    let mut rest = Vec::new();
    let _ = stalled.read_to_end(&mut rest);
    assert!(first.len() + rest.len() < big().len(), "the whole file came although the client stalled");
    drop(stalled);
    let mut steady = client(addr);
    assert_eq!(get(&mut steady, "/big.bin").body, big(), "a client that keeps reading gets every byte");
}

#[test]
fn a_client_leaving_mid_file_costs_nothing() {
    let tree = Tree::new("midfile");
    let (_rt, addr) = start(&tree);
    let baseline = warmed_fds(addr);
    for _ in 0..10 {
        let mut conn = client(addr);
        write!(conn.get_mut(), "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut first = [0u8; 4096];
        conn.read_exact(&mut first).unwrap();
        assert!(first.starts_with(b"HTTP/1.1 200 OK"));
        // Leave with most of the 16 MiB unread: the close is a reset under the server's send.
        drop(conn);
    }
    let open = open_fds_settled(baseline);
    assert!(open <= baseline, "connections or files left open: {open} > {baseline}: {}", fd_listing());
    let mut conn = client(addr);
    assert_eq!(get(&mut conn, "/data.bin").body, payload(100_000, 3), "the server serves on");
}

#[test]
fn request_targets_map_under_the_root() {
    assert_eq!(relative_path("/"), Ok("index.html".into()));
    assert_eq!(relative_path("/a/b.txt?q=1"), Ok("a/b.txt".into()));
    assert_eq!(relative_path("/a/./b/"), Ok("a/b/index.html".into()));
    assert_eq!(relative_path("/a%20b"), Ok("a b".into()));
    assert_eq!(relative_path("/a/%2e%2e/b"), Err(Refused::Forbidden));
    assert_eq!(relative_path("/a/../b"), Err(Refused::Forbidden));
    assert_eq!(relative_path("relative"), Err(Refused::BadRequest));
    assert_eq!(relative_path("/%"), Err(Refused::BadRequest));
    // Absolute-form, which RFC 9112 §3.2.2 says a server must accept.
    assert_eq!(relative_path("http://example.com/a/b.txt?q"), Ok("a/b.txt".into()));
    assert_eq!(relative_path("HTTPS://example.com"), Ok("index.html".into()));
    assert_eq!(relative_path("http://example.com/%2e%2e/x"), Err(Refused::Forbidden));
    assert_eq!(relative_path("ftp://example.com/x"), Err(Refused::BadRequest));
    // The authority ends at a query or a fragment too: the path of these is empty ("/").
    assert_eq!(relative_path("http://example.com?/sub/f.txt"), Ok("index.html".into()));
    assert_eq!(relative_path("http://example.com#/sub/f.txt"), Ok("index.html".into()));
    assert!(matches!(request::parse(b"GET / HTTP/1.1\r\n"), Parse::Partial));
    // Whitespace before a field's colon (so a `Content-Length : 5` body would be read as the
    // next request) and obsolete line folding are refused, as RFC 9112 §5.1 and §5.2 say.
    // So is a bare CR inside a line (§2.2), which a parser ending lines at CR would take
    // for the start of another header.
    let refused = [
        &b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: y\rContent-Length: 5\r\n\r\n",
        b"GET /\r HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for head in refused {
        assert_eq!(request::parse(head), Parse::Invalid, "{:?}", String::from_utf8_lossy(head));
    }
    assert_eq!(request::parse(b"GET / HTTP/1.1\r\n\r\n"), Parse::Invalid, "no Host");
    assert!(matches!(request::parse(b"GET / HTTP/1.0\r\n\r\n"), Parse::Complete(..)));
    assert_eq!(directory_location(Path::new("sub"), "/sub?q=1#f"), "/sub/?q=1");
    assert_eq!(directory_location(Path::new("a b/\u{e9}"), "/a%20b/%C3%A9"), "/a%20b/%C3%A9/");
    assert_eq!(directory_location(Path::new("sub"), "/sub?\u{e9} x"), "/sub/?%C3%A9%20x");
    let Parse::Complete(req, used) = request::parse(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET")
    else {
        panic!("a whole head");
    };
    assert_eq!((req.target.as_str(), req.keep_alive, used), ("/x", false, 47));
}

/// Lines that end in a bare LF, as `nc` sends what a person types (RFC 9112 §2.2 lets a
/// server take them), make a request like CRLF ones; mixed too.
#[test]
fn a_request_typed_with_bare_newlines_is_served() {
    let tree = Tree::new("bare-lf");
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    conn.get_mut().write_all(b"GET /index.html HTTP/1.1\nHost: x\n\nHEAD /sub/ HTTP/1.1\r\nHost: x\n\r\n").unwrap();
    assert_eq!(read_response(&mut conn, false).body, b"<h1>hi</h1>\n");
    let head = read_response(&mut conn, true);
    assert_eq!((head.status, head.header("content-length")), (200, Some("4")));
    let Parse::Complete(req, used) = request::parse(b"GET /x HTTP/1.0\nConnection: keep-alive\r\n\nGET") else {
        panic!("a whole head");
    };
    assert_eq!((req.target.as_str(), req.keep_alive, used), ("/x", true, 41));
    assert!(matches!(request::parse(b"GET / HTTP/1.1\nHost: x\n"), Parse::Partial));
}

#[test]
fn the_command_line_follows_the_example_conventions() {
    let argv = |a: &[&str]| args::parse(&mut Flags::new(a.iter().map(|s| s.to_string())));
    assert!(matches!(argv(&["--help"]), Err(Stop::Help)));
    let root = std::env::temp_dir();
    let parsed = argv(&["--root", root.to_str().unwrap(), "--addr", "localhost:0", "--cores", "0"]);
    assert!(parsed.expect("a host name in --addr is accepted").addr.ip().is_loopback());
    for bad in [&["--bogus"][..], &["--root"], &["--root", "/no/such/dir"], &["--addr", "nonsense"], &[]] {
        match argv(bad) {
            Err(Stop::Bad(reason)) => assert!(!reason.contains('\n'), "{bad:?}: not one line: {reason:?}"),
            other => panic!("{bad:?} was accepted: {other:?}"),
        }
    }
    // The built binary too, when `cargo test` built the examples beside this test.
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|deps| deps.parent()).map(|dir| dir.join("examples/fileserver"));
    if let Some(bin) = bin.filter(|b| b.exists()) {
        let help = Command::new(&bin).arg("--help").output().unwrap();
        assert_eq!(help.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: fileserver"));
        let bad = Command::new(&bin).arg("--bogus").output().unwrap();
        assert_eq!(bad.status.code(), Some(2));
        assert_eq!(String::from_utf8_lossy(&bad.stderr).lines().count(), 1);
    }
}

/// A file server that can listen on no core (an address not on this host) exits with the
/// error, instead of waiting for a signal with nothing listening.
#[test]
fn the_server_exits_when_no_core_can_listen() {
    let root = std::env::temp_dir();
    let argv = ["--root", root.to_str().unwrap(), "--addr", "192.0.2.1:80", "--cores", "0"];
    let args = args::parse(&mut Flags::new(argv.map(String::from))).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(fileserver::run(args)));
    let res = rx.recv_timeout(Duration::from_secs(10)).expect("exits instead of waiting for a signal");
    let err = res.expect_err("nothing listens");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrNotAvailable, "{err}");
}

/// A request for `target` with extra header lines (each ending in CRLF).
fn get_with(conn: &mut BufReader<TcpStream>, method: &str, target: &str, fields: &str) -> Response {
    write!(conn.get_mut(), "{method} {target} HTTP/1.1\r\nHost: x\r\n{fields}\r\n").unwrap();
    read_response(conn, method == "HEAD")
}

/// `GET /data.bin` with `Range: {range}`.
fn get_range(conn: &mut BufReader<TcpStream>, range: &str) -> Response {
    get_with(conn, "GET", "/data.bin", &format!("Range: {range}\r\n"))
}

/// One range comes back as 206 with exactly its bytes and its Content-Range: from the
/// start, the middle, the end (suffix, open-ended, the last byte, a last past the end), and
/// across several `SEND_CHUNK`s of a big file. All on one connection, so a byte too many or
/// too few would break the next response.
#[test]
fn a_range_comes_back_byte_exact() {
    let tree = Tree::new("range");
    let (_rt, addr) = start(&tree);
    let data = payload(100_000, 3);
    let mut conn = client(addr);
    let whole = get(&mut conn, "/data.bin");
    assert_eq!((whole.status, whole.header("accept-ranges")), (200, Some("bytes")));
    for (range, first, last) in [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=-500", 99_500, 99_999),
        ("bytes=-100000", 0, 99_999),
        ("bytes=-250000", 0, 99_999),
        ("bytes=99000-", 99_000, 99_999),
        ("bytes=0-", 0, 99_999),
        ("bytes=99999-99999", 99_999, 99_999),
        ("bytes=99990-200000", 99_990, 99_999),
        ("BYTES=5-5", 5, 5),
    ] {
        let res = get_range(&mut conn, range);
        assert_eq!(res.status, 206, "{range}");
        let want = format!("bytes {first}-{last}/100000");
        assert_eq!(res.header("content-range"), Some(want.as_str()), "{range}");
        assert_eq!(res.header("accept-ranges"), Some("bytes"), "{range}");
        assert!(res.body == data[first..=last], "{range}: the bytes differ");
    }
    let big = self::big();
    let (first, last) = (300_000, 900_000);
    let res = get_with(&mut conn, "GET", "/big.bin", &format!("Range: bytes={first}-{last}\r\n"));
    assert_eq!(res.status, 206);
    assert!(res.body == big[first..=last], "a part spanning several SEND_CHUNKs differs");
    assert_eq!(get(&mut conn, "/index.html").body, b"<h1>hi</h1>\n", "the connection serves on");
}

/// A range that starts at or past the end is 416 with `bytes */len`, and the connection
/// stays open; so is a suffix of no bytes.
#[test]
fn a_range_past_the_end_is_416() {
    let tree = Tree::new("range-416");
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    for range in ["bytes=100000-", "bytes=100000-100001", "bytes=250000-300000", "bytes=-0"] {
        let res = get_range(&mut conn, range);
        assert_eq!((res.status, res.header("content-range")), (416, Some("bytes */100000")), "{range}");
        assert_eq!(res.header("connection"), Some("keep-alive"), "{range}");
    }
    assert_eq!(get(&mut conn, "/index.html").body, b"<h1>hi</h1>\n", "the connection serves on");
}

/// Several ranges, and any Range this server does not read, get the whole file with 200
/// (RFC 9110 §14.2 lets a server ignore Range): never a panic, a hang or a wrong part.
#[test]
fn several_ranges_or_a_malformed_one_get_the_whole_file() {
    let tree = Tree::new("range-whole");
    let (_rt, addr) = start(&tree);
    let data = payload(100_000, 3);
    let mut conn = client(addr);
    for fields in [
        "Range: bytes=0-1,5-6\r\n",
        "Range: bytes=0-1, 5-6\r\n",
        "Range: bytes=0-1\r\nRange: bytes=5-6\r\n",
        "Range: bytes=5-1\r\n",
        "Range: bytes=abc\r\n",
        "Range: bytes=a-b\r\n",
        "Range: bytes=-\r\n",
        "Range: bytes=\r\n",
        "Range: bytes=0-1-2\r\n",
        "Range: bytes=+1-2\r\n",
        "Range: bytes=99999999999999999999999-\r\n",
        "Range: items=0-1\r\n",
        "Range: 0-1\r\n",
        "Range:\r\n",
    ] {
        let res = get_with(&mut conn, "GET", "/data.bin", fields);
        assert_eq!((res.status, res.header("content-range")), (200, None), "{fields:?}");
        assert!(res.body == data, "{fields:?}: not the whole file");
    }
}

/// HEAD with a Range answers as GET would, without the body: 206, the part's length and
/// its Content-Range (or 416), and nothing after the head.
#[test]
fn head_with_a_range_answers_as_get_without_the_body() {
    let tree = Tree::new("range-head");
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    let res = get_with(&mut conn, "HEAD", "/data.bin", "Range: bytes=10-109\r\n");
    assert_eq!(res.status, 206);
    assert_eq!(res.header("content-length"), Some("100"));
    assert_eq!(res.header("content-range"), Some("bytes 10-109/100000"));
    let res = get_with(&mut conn, "HEAD", "/data.bin", "Range: bytes=100000-\r\n");
    assert_eq!((res.status, res.header("content-range")), (416, Some("bytes */100000")));
    assert_eq!(get(&mut conn, "/index.html").body, b"<h1>hi</h1>\n", "neither HEAD sent a body");
}

/// Last-Modified is the file's mtime as an IMF-fixdate. If-Modified-Since not older than it
/// (in any of the three date forms) is 304 with no body, and comes before Range; an older
/// one, or one that is not a date, is 200 with the file. If-Range with that date exactly
/// lets a Range through; any other If-Range gets the whole file.
#[test]
fn if_modified_since_and_if_range_follow_the_files_mtime() {
    let tree = Tree::new("conditional");
    let data = payload(100_000, 3);
    let mtime = UNIX_EPOCH + Duration::from_secs(784_111_777);
    std::fs::File::options().write(true).open(tree.root.join("data.bin")).unwrap().set_modified(mtime).unwrap();
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    let lm = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert_eq!(get(&mut conn, "/data.bin").header("last-modified"), Some(lm));
    for since in [lm, "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Thu, 01 Jan 2099 00:00:00 GMT"] {
        for method in ["GET", "HEAD"] {
            let res = get_with(&mut conn, method, "/data.bin", &format!("If-Modified-Since: {since}\r\n"));
            assert_eq!((res.status, res.header("content-length")), (304, None), "{method} {since}");
        }
    }
    let fields = format!("If-Modified-Since: {lm}\r\nRange: bytes=0-9\r\n");
    assert_eq!(get_with(&mut conn, "GET", "/data.bin", &fields).status, 304, "304 comes before a Range");
    for since in ["Sun, 06 Nov 1994 08:49:36 GMT", "Sat, 01 Jan 1994 00:00:00 GMT", "yesterday", "Sun, 06 Nov 1994"] {
        let res = get_with(&mut conn, "GET", "/data.bin", &format!("If-Modified-Since: {since}\r\n"));
        assert_eq!(res.status, 200, "{since}");
        assert!(res.body == data, "{since}: not the whole file");
    }
    let res = get_with(&mut conn, "GET", "/data.bin", &format!("If-Range: {lm}\r\nRange: bytes=0-9\r\n"));
    assert_eq!((res.status, res.body.as_slice()), (206, &data[..10]), "If-Range with the date");
    for if_range in ["Sun, 06 Nov 1994 08:49:36 GMT", "\"some-etag\"", "garbage"] {
        let res = get_with(&mut conn, "GET", "/data.bin", &format!("If-Range: {if_range}\r\nRange: bytes=0-9\r\n"));
        assert_eq!(res.status, 200, "{if_range}");
        assert!(res.body == data, "{if_range}: not the whole file");
    }
    assert_eq!(get(&mut conn, "/index.html").body, b"<h1>hi</h1>\n", "no 304 had a body");
}

/// Every response carries a Date (RFC 9110 §6.6.1) within a few seconds of the clock: a
/// file, a part, a 304, a redirect, a 404, a 416, a 405, and a 400 that closes.
#[test]
fn every_response_has_a_date() {
    let tree = Tree::new("date");
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    let now = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let etag = get(&mut conn, "/data.bin").header("etag").expect("an ETag").to_owned();
    let before = now();
    let mut statuses = Vec::new();
    for (method, target, fields) in [
        ("GET", "/data.bin", String::new()),
        ("GET", "/data.bin", "Range: bytes=0-9\r\n".into()),
        ("GET", "/data.bin", format!("If-None-Match: {etag}\r\n")),
        ("GET", "/sub", String::new()),
        ("GET", "/missing", String::new()),
        ("GET", "/data.bin", "Range: bytes=100000-\r\n".into()),
        ("HEAD", "/data.bin", String::new()),
        ("DELETE", "/data.bin", String::new()),
        ("GET", "/data.bin", "Transfer-Encoding: chunked\r\n".into()),
    ] {
        let res = get_with(&mut conn, method, target, &fields);
        let date = res.header("date").unwrap_or_else(|| panic!("{method} {target} {fields:?}: no Date"));
        let secs = fileserver::http_date::parse(date).unwrap_or_else(|| panic!("{date:?} is no HTTP date"));
        assert!((before..=now()).contains(&secs), "{date} is not now");
        statuses.push(res.status);
    }
    assert_eq!(statuses, [200, 206, 304, 301, 404, 416, 200, 405, 400]);
}

/// Files carry a strong ETag that stays put while the file does and changes when it is
/// rewritten. If-None-Match holding it (alone, in a list, weakly marked, or `*`) is 304 with
/// the tag and no body, for GET and HEAD, and it turns If-Modified-Since off; any other tag,
/// or a list that does not parse, gets the file. If-Range takes the tag too, strongly
/// compared: a weak one gets the whole file.
#[test]
fn etags_answer_if_none_match_and_if_range() {
    let tree = Tree::new("etag");
    let data = payload(100_000, 3);
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    let first = get(&mut conn, "/data.bin");
    let tag = first.header("etag").expect("an ETag").to_owned();
    assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2, "a strong tag: {tag}");
    assert_eq!(get(&mut conn, "/data.bin").header("etag"), Some(tag.as_str()), "the same file, the same tag");
    assert_ne!(get(&mut conn, "/index.html").header("etag"), Some(tag.as_str()), "another file, another tag");
    let lm = first.header("last-modified").unwrap().to_owned();
    for field in [tag.clone(), format!("W/{tag}"), format!("\"x\", {tag}"), format!("\"x\",{tag} , \"y\""), "*".into()]
    {
        for method in ["GET", "HEAD"] {
            let res = get_with(&mut conn, method, "/data.bin", &format!("If-None-Match: {field}\r\n"));
            assert_eq!((res.status, res.header("content-length")), (304, None), "{method} {field}");
            assert_eq!(res.header("etag"), Some(tag.as_str()), "{method} {field}");
        }
    }
    let unquoted = tag.trim_matches('"').to_owned();
    for field in ["\"x\"".to_owned(), unquoted, format!("{tag}x"), format!("\"x{tag}"), "\"unclosed".into()] {
        // With an If-Modified-Since that alone would be 304: If-None-Match decides.
        let res =
            get_with(&mut conn, "GET", "/data.bin", &format!("If-None-Match: {field}\r\nIf-Modified-Since: {lm}\r\n"));
        assert_eq!(res.status, 200, "{field}");
        assert!(res.body == data, "{field}: not the whole file");
    }
    let res = get_with(&mut conn, "GET", "/data.bin", &format!("If-Range: {tag}\r\nRange: bytes=0-9\r\n"));
    assert_eq!((res.status, res.body.as_slice()), (206, &data[..10]), "If-Range with the tag");
    let res = get_with(&mut conn, "GET", "/data.bin", &format!("If-Range: W/{tag}\r\nRange: bytes=0-9\r\n"));
    assert_eq!(res.status, 200, "a weak tag never matches If-Range");
    assert!(res.body == data, "not the whole file");
    // A Last-Modified of the current second is weak (the file may change again within it,
    // keeping the date): If-Range with it gets the whole file. (A future mtime is served as
    // now, so this holds whenever the second turns.)
    let path = tree.root.join("data.bin");
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(SystemTime::now() + HOUR).unwrap();
    let lm = get(&mut conn, "/data.bin").header("last-modified").unwrap().to_owned();
    let res = get_with(&mut conn, "GET", "/data.bin", &format!("If-Range: {lm}\r\nRange: bytes=0-9\r\n"));
    assert_eq!((res.status, res.body.len()), (200, 100_000), "a date of this second matched If-Range");
    // Files dated before 1970 get tags of their own, not one per length.
    let (old, older) = (tree.root.join("old.bin"), tree.root.join("older.bin"));
    for (file, secs) in [(&old, 100), (&older, 200)] {
        std::fs::write(file, b"same").unwrap();
        let mtime = UNIX_EPOCH - Duration::from_secs(secs);
        std::fs::File::options().write(true).open(file).unwrap().set_modified(mtime).unwrap();
    }
    let old_tag = get(&mut conn, "/old.bin").header("etag").unwrap().to_owned();
    assert!(old_tag.starts_with("\"-"), "{old_tag}");
    assert_ne!(get(&mut conn, "/older.bin").header("etag"), Some(old_tag.as_str()));
    // Rewritten with other bytes of the same length, a second later: a new tag, and the old
    // one no longer matches either condition.
    std::fs::write(&path, payload(100_000, 4)).unwrap();
    let later = SystemTime::now() + Duration::from_secs(1);
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(later).unwrap();
    let res = get_with(&mut conn, "GET", "/data.bin", &format!("If-None-Match: {tag}\r\n"));
    assert_eq!(res.status, 200, "the old tag is stale");
    assert_ne!(res.header("etag"), Some(tag.as_str()), "a rewritten file gets a new tag");
    let res = get_with(&mut conn, "GET", "/data.bin", &format!("If-Range: {tag}\r\nRange: bytes=0-9\r\n"));
    assert_eq!((res.status, res.body.len()), (200, 100_000), "a stale tag gets the whole file");
}

/// curl, where installed, saves a file's ETag and then asks with it (`--etag-save`,
/// `--etag-compare`): the second download is a 304 with nothing written.
#[test]
fn curl_revalidates_with_the_etag() {
    if !curl_installed() {
        return;
    }
    let tree = Tree::new("curl-etag");
    let (_rt, addr) = start(&tree);
    let url = format!("http://{addr}/data.bin");
    let saved = tree.base.join("etag.txt");
    let mut first = curl(&["-w", "%{http_code}", "--etag-save", saved.to_str().unwrap(), &url]);
    assert_eq!(first.split_off(100_000), b"200");
    assert!(first == payload(100_000, 3), "the download differs");
    let second = curl(&["-w", "%{http_code}", "--etag-compare", saved.to_str().unwrap(), &url]);
    assert_eq!(second, b"304", "nothing but the status");
}

/// Whether curl is installed; says the test is skipped if not.
fn curl_installed() -> bool {
    let installed = Command::new("curl").arg("--version").output().is_ok();
    if !installed {
        eprintln!("skipped: curl is not installed");
    }
    installed
}

/// What curl writes to stdout with `args`, bounded in time; a failed transfer fails the test.
fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl").args(["-sS", "--max-time", "20"]).args(args).output().unwrap();
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// curl, where installed, gets a range (`-r`) and resumes a download (`-C -`) byte-exact.
#[test]
fn curl_gets_a_range_and_resumes_a_download() {
    if !curl_installed() {
        return;
    }
    let tree = Tree::new("curl");
    let (_rt, addr) = start(&tree);
    let url = format!("http://{addr}/big.bin");
    let big = self::big();
    assert_eq!(curl(&["--fail", "-r", "0-99", &url]), &big[..100]);
    assert_eq!(curl(&["--fail", "-r", "1000000-1999999", &url]), &big[1_000_000..2_000_000]);
    let partial = tree.base.join("partial.bin");
    std::fs::write(&partial, &big[..5_000_000]).unwrap();
    curl(&["--fail", "-C", "-", "-o", partial.to_str().unwrap(), &url]);
    assert!(std::fs::read(&partial).unwrap() == big, "the resumed download differs");
}

#[test]
fn range_fields_select_the_right_bytes() {
    use fileserver::range::{select, Selection::*};
    assert_eq!(select(None, 10), Whole);
    assert_eq!(select(Some("bytes=2-4"), 10), Part { first: 2, last: 4 });
    assert_eq!(select(Some("bytes=-3"), 10), Part { first: 7, last: 9 });
    assert_eq!(select(Some("bytes=7-"), 10), Part { first: 7, last: 9 });
    assert_eq!(select(Some("bytes=0-"), 0), Unsatisfiable);
    assert_eq!(select(Some("bytes=-3"), 0), Whole, "an empty file has no part to name");
    assert_eq!(select(Some("bytes=10-"), 10), Unsatisfiable);
    assert_eq!(select(Some("bytes=0-1,3-4"), 10), Whole);
    assert_eq!(select(Some("bytes=4-2"), 10), Whole);
    let Parse::Complete(req, _) = request::parse(b"GET / HTTP/1.1\r\nHost: x\r\nrange: bytes=1-2\r\nRange: bytes=3-4\r\nIf-Range: d\r\nIF-MODIFIED-SINCE: e\r\n\r\n") else {
        panic!("a whole head");
    };
    assert_eq!(req.conditions.range.as_deref(), Some("bytes=1-2, bytes=3-4"), "repeated lines are joined");
    assert_eq!(
        (req.conditions.if_range.as_deref(), req.conditions.if_modified_since.as_deref()),
        (Some("d"), Some("e"))
    );
}

#[test]
fn http_dates_are_written_and_read() {
    use fileserver::http_date::{format, parse};
    assert_eq!(format(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(format(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(format(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_eq!(format(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 GMT");
    for form in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
        assert_eq!(parse(form), Some(784_111_777), "{form}");
    }
    // Every day of some 220 years, and every second of a day, comes back as it went.
    for secs in (0..7_000_000_000u64).step_by(86_400 - 7).chain(0..86_400) {
        assert_eq!(parse(&format(secs)), Some(secs), "{}", format(secs));
    }
    for bad in [
        "",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nob 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08:49:37:01 GMT",
        "Sun, 06 Nov 1969 08:49:37 GMT",
        "Sun, 06 Nov 994 08:49:37 GMT",
    ] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
}

/// Pages, scripts, fonts, media and WebAssembly get their types, whatever the extension's
/// case; anything else (no extension, an unknown or overlong one) is a byte stream.
#[test]
fn content_types_follow_the_extension_without_case() {
    use fileserver::content_type::of;
    use std::path::Path;
    for (name, want) in [
        ("index.html", "text/html; charset=utf-8"),
        ("INDEX.HTM", "text/html; charset=utf-8"),
        ("app.mjs", "text/javascript"),
        ("module.wasm", "application/wasm"),
        ("font.woff2", "font/woff2"),
        ("photo.JPEG", "image/jpeg"),
        ("clip.webm", "video/webm"),
        ("sub.dir/README", "application/octet-stream"),
        ("archive.tar.gz", "application/gzip"),
        ("odd.verylongext", "application/octet-stream"),
        ("dot.", "application/octet-stream"),
        (".hidden", "application/octet-stream"),
    ] {
        assert_eq!(of(Path::new(name)), want, "{name}");
    }
}

/// A root replaced under its path (`mv root root.old && mv new root`, a deploy) is served
/// from the new tree within about a second, on a connection opened before, as nginx, which
/// resolves the root per request, would; nothing of the old tree is served after that.
#[test]
fn a_root_replaced_under_its_path_is_served_within_a_second() {
    let tree = Tree::new("replaced");
    let (_rt, addr) = start(&tree);
    let mut conn = client(addr);
    assert_eq!(get(&mut conn, "/index.html").body, b"<h1>hi</h1>\n");
    let new = tree.base.join("new");
    std::fs::create_dir(&new).unwrap();
    std::fs::write(new.join("index.html"), "v2\n").unwrap();
    std::fs::rename(&tree.root, tree.base.join("old")).unwrap();
    std::fs::rename(&new, &tree.root).unwrap();
    let give_up = Instant::now() + Duration::from_secs(5);
    let mut served = get(&mut conn, "/index.html").body;
    while served != b"v2\n" && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(50));
        served = get(&mut conn, "/index.html").body;
    }
    assert_eq!(served, b"v2\n", "the old tree is still served");
    assert_eq!(get(&mut conn, "/data.bin").status, 404, "the old tree's files are gone with it");
}

/// A root given through a symlink (`current -> releases/v1`) follows the symlink when a
/// deploy swaps it (`ln -sfn releases/v2 current`: a new link renamed over the old), within
/// about a second, as nginx resolving its root per request does; an absolute symlink inside
/// the new tree is served from it.
#[test]
fn a_root_given_through_a_swapped_symlink_follows_it() {
    let tree = Tree::new("symlink-deploy");
    let v2 = tree.base.join("v2");
    std::fs::create_dir(&v2).unwrap();
    std::fs::write(v2.join("index.html"), "v2\n").unwrap();
    std::os::unix::fs::symlink(v2.join("index.html"), v2.join("abs-link")).unwrap();
    let current = tree.base.join("current");
    std::os::unix::fs::symlink(&tree.root, &current).unwrap();
    let (_rt, addr) = serve_root(current.clone(), fileserver::serve::CLIENT_TIMEOUT);
    let mut conn = client(addr);
    assert_eq!(get(&mut conn, "/index.html").body, b"<h1>hi</h1>\n");
    let next = tree.base.join("current.next");
    std::os::unix::fs::symlink(&v2, &next).unwrap();
    std::fs::rename(&next, &current).unwrap();
    let give_up = Instant::now() + Duration::from_secs(5);
    let mut served = get(&mut conn, "/index.html").body;
    while served != b"v2\n" && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(50));
        served = get(&mut conn, "/index.html").body;
    }
    assert_eq!(served, b"v2\n", "the old release is still served");
    assert_eq!(get(&mut conn, "/abs-link").body, b"v2\n", "an absolute symlink inside the new tree");
    assert_eq!(get(&mut conn, "/data.bin").status, 404, "the old release's files are not served");
}

/// An hour.
const HOUR: Duration = Duration::from_secs(3600);

/// Set in the child process `out_of_descriptors_is_503_not_404` reruns itself in.
const EMFILE_CHILD: &str = "RINGPOLL_FILESERVER_EMFILE_CHILD";

/// A server out of descriptors answers an existing file with 503 and Retry-After, not 404
/// (which would tell the client, and any cache, that the file is gone), keeps the connection
/// open, and serves the file whole once descriptors are free again. Run in a child process:
/// it lowers the descriptor limit for the whole process.
#[test]
fn out_of_descriptors_is_503_not_404() {
    if std::env::var_os(EMFILE_CHILD).is_some() {
        let tree = Tree::new("emfile");
        let (_rt, addr) = start(&tree);
        let mut conn = client(addr);
        // A request that leaves no file open behind its response (a 200's file may still
        // be closing when the limit is taken, and free a descriptor for the next open).
        assert_eq!(get(&mut conn, "/missing").status, 404);
        let held = exhaust_descriptors();
        let res = get(&mut conn, "/data.bin");
        assert_eq!((res.status, res.header("retry-after")), (503, Some("1")), "out of descriptors");
        assert_eq!(res.header("connection"), Some("keep-alive"));
        drop(held);
        let res = get(&mut conn, "/data.bin");
        assert_eq!(res.status, 200, "descriptors are back");
        assert!(res.body == payload(100_000, 3), "the bytes differ");
        println!("503, then served");
        return;
    }
    // Its pipes to the child must not look like a neighbour's leak.
    let _serial = fd_lock();
    let (status, out) = rerun_as_child("out_of_descriptors_is_503_not_404", EMFILE_CHILD, 60);
    assert!(status.success(), "the child failed: {status:?}, said {out:?}");
    assert!(out.contains("503, then served"), "the child's part did not run: {out:?}");
}
