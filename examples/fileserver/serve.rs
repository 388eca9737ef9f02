//! Serving connections.

use std::fmt::Write;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringpoll::fs::File;
use ringpoll::net::{TcpListener, TcpStream};

use super::content_type;
use super::etag;
use super::http_date;
use super::range::{self, Selection};
use super::request::{self, Conditions, Parse, Request};
use super::root::{FileMeta, Found, Root};
use super::target::{self, Refused};

/// How long a client has to send a whole request head, from the accept or the end of
/// the last response, and to take each [`SEND_CHUNK`] of a response: an idle keep-alive
/// connection, a head sent a byte at a time (slowloris), or a client that stopped reading
/// mid-response, is closed then rather than hold a descriptor (and a file) for ever.
/// Hyper's default `header_read_timeout`, which the `http` example has.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a file one write deadline covers: a client must take this much within
/// the timeout (some 8.7 KB/s at 30 s), and a faster one is never cut off, however big
/// the file.
pub const SEND_CHUNK: u64 = 256 * 1024;

/// Accepts connections on `listener` and serves files under `root` (absolute) on this
/// core until the listener fails (at shutdown), closing connections that send no whole
/// head, or take no [`SEND_CHUNK`] of a response, within `timeout`.
pub async fn listen(listener: TcpListener, root: Rc<Path>, timeout: Duration) -> io::Result<()> {
    accept(listener, Rc::new(Root::open(&root).await?), timeout).await
}

/// [`listen`] with the root already open on this core (a caller that reports the core
/// ready only once it holds all it will hold: the tests count descriptors from then).
pub async fn accept(listener: TcpListener, root: Rc<Root>, timeout: Duration) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept_backoff().await?;
        let root = root.clone();
        ringpoll::spawn(async move {
            // A client that resets, vanishes mid-response or runs out of time just ends
            // its connection.
            let _ = connection(stream, root, timeout).await;
        })
        .detach();
    }
}

/// Serves one connection: requests in order (pipelined ones too) until the client
/// closes, asks to close, sends something this server does not take, or takes longer
/// than `timeout` to send a request head or to take a [`SEND_CHUNK`] of a response
/// (`TimedOut`).
pub async fn connection(stream: TcpStream, root: Rc<Root>, timeout: Duration) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut pending = Vec::new();
    let mut chunk = Vec::with_capacity(8 * 1024);
    let progress = Progress { stream: &stream, timeout };
    loop {
        // Every read for this head fails with TimedOut past the deadline.
        stream.set_read_deadline(Instant::now().checked_add(timeout));
        let (request, used) = loop {
            let refused = match request::parse(&pending) {
                Parse::Complete(request, used) => break (request, used),
                Parse::Partial => None,
                Parse::Invalid => Some(400),
                Parse::TooLarge(status) => Some(status),
            };
            if let Some(status) = refused {
                progress.next();
                return respond_status(&stream, status, Head::close()).await;
            }
            let (n, c) = stream.read(chunk).await;
            chunk = c;
            match n? {
                0 => return Ok(()),
                n => pending.extend_from_slice(&chunk[..n]),
            }
        };
        pending.drain(..used);
        progress.next();
        if !respond(progress, &root, &request).await? {
            return Ok(());
        }
    }
}

/// Answers one request, each [`SEND_CHUNK`] of a file within its own deadline; returns
/// whether the connection stays open.
async fn respond(progress: Progress<'_>, root: &Root, request: &Request) -> io::Result<bool> {
    let stream = progress.stream;
    // A body is not read: answer, then close rather than parse it as the next request.
    let head_only = match (request.method.as_str(), request.has_body) {
        ("GET", false) => false,
        ("HEAD", false) => true,
        ("GET" | "HEAD", true) => return respond_status(stream, 400, Head::close()).await.map(|()| false),
        (_, body) => {
            let keep_alive = request.keep_alive && !body;
            return respond_status(stream, 405, Head { keep_alive, only: false }).await.map(|()| keep_alive);
        }
    };
    let head = Head { keep_alive: request.keep_alive, only: head_only };
    let found = match target::relative_path(&request.target) {
        Ok(rel) => root.find(rel).await,
        Err(Refused::BadRequest) => Err(400),
        Err(Refused::Forbidden) => Err(403),
    };
    match found {
        Ok(Found::File(file, meta)) => match answer(&request.conditions, &meta) {
            Answer::NotModified => not_modified(stream, &meta, head).await.map(|()| head.keep_alive),
            Answer::Send(Selection::Unsatisfiable) => {
                let fields = format!("Content-Range: bytes */{}\r\n", meta.len);
                respond_plain(stream, 416, &fields, head).await.map(|()| head.keep_alive)
            }
            Answer::Send(selection) => send_file(progress, &file, &meta, selection, head).await,
        },
        Ok(Found::Directory(rel)) => {
            let location = target::directory_location(&rel, &request.target);
            redirect(stream, &location, head).await.map(|()| head.keep_alive)
        }
        Err(status) => respond_status(stream, status, head).await.map(|()| head.keep_alive),
    }
}

/// How a response goes: whether the connection stays open after it, and whether it
/// is the answer to a HEAD (a head only: RFC 9110 §9.3.2 forbids the content, and a
/// client reading none would take it for the next response).
#[derive(Clone, Copy)]
struct Head {
    keep_alive: bool,
    only: bool,
}

impl Head {
    /// A response after which the connection closes.
    fn close() -> Head {
        Head { keep_alive: false, only: false }
    }

    fn connection(self) -> &'static str {
        if self.keep_alive {
            "keep-alive"
        } else {
            "close"
        }
    }
}

/// The write deadline of a response, moved on as the client takes it.
#[derive(Clone, Copy)]
struct Progress<'s> {
    stream: &'s TcpStream,
    timeout: Duration,
}

impl Progress<'_> {
    /// The client has `timeout` from now for what is written next.
    fn next(self) {
        self.stream.set_write_deadline(Instant::now().checked_add(self.timeout));
    }
}

/// The answer to a request for a file, in RFC 9110 §13.2.2's order: If-None-Match first
/// (which turns If-Modified-Since off, §13.1.3), else If-Modified-Since, then Range, which
/// If-Range may turn off.
enum Answer {
    /// 304: the client's copy is current.
    NotModified,
    /// The file, whole or a part, or 416.
    Send(Selection),
}

/// What the request's conditions and Range make of the file `meta` describes.
fn answer(conditions: &Conditions, meta: &FileMeta) -> Answer {
    let current = match &conditions.if_none_match {
        Some(tags) => etag::none_match_hits(tags, &meta.etag),
        // Not newer: compared in whole seconds, as Last-Modified says them.
        None => {
            let since = conditions.if_modified_since.as_deref().and_then(http_date::parse);
            since.zip(meta.modified).is_some_and(|(since, modified)| modified <= since)
        }
    };
    if current {
        return Answer::NotModified;
    }
    // If-Range: send the part only if the client's copy is the one we have (its tag is ours,
    // strongly compared, or its date is our Last-Modified exactly, §13.1.5), else the whole
    // file, so that a resumed download of a changed file is not stitched from two. A date
    // in the current second is a weak validator (§8.8.2.2: the file may change again within
    // it, keeping the date), so it never matches.
    let unchanged = match (&conditions.if_range, meta.modified) {
        (None, _) => true,
        (Some(tag), _) if etag::is_tag(tag) => etag::strong_match(tag, &meta.etag),
        (Some(date), Some(modified)) => modified < http_date::now_secs() && *date == http_date::format(modified),
        (Some(_), None) => false,
    };
    let range = conditions.range.as_deref().filter(|_| unchanged);
    Answer::Send(range::select(range, meta.len))
}

/// 304 Not Modified: no content, so no Content-Length either, and of the file's fields only
/// its ETag, which a 200 would have carried (RFC 9110 §15.4.5).
async fn not_modified(stream: &TcpStream, meta: &FileMeta, head: Head) -> io::Result<()> {
    let text = format!(
        "HTTP/1.1 304 Not Modified\r\nDate: {}\r\nETag: {}\r\nConnection: {}\r\n\r\n",
        http_date::now(),
        meta.etag,
        head.connection()
    );
    stream.write_all(text.into_bytes()).await.0
}

/// Sends the `selection` of `file` (whole or one part) with its head, each [`SEND_CHUNK`]
/// within its own deadline; returns whether the connection stays open.
async fn send_file(
    progress: Progress<'_>,
    file: &File,
    meta: &FileMeta,
    selection: Selection,
    head: Head,
) -> io::Result<bool> {
    let stream = progress.stream;
    let (status, first, count) = match selection {
        Selection::Part { first, last } => ("206 Partial Content", first, last - first + 1),
        _ => ("200 OK", 0, meta.len),
    };
    // Written into one string (which takes every write): the 200's head is on every
    // request's path.
    let mut text = String::with_capacity(320);
    let _ = write!(
        text,
        "HTTP/1.1 {status}\r\nDate: {}\r\nContent-Length: {count}\r\nContent-Type: {}\r\nAccept-Ranges: bytes\r\n",
        http_date::now(),
        content_type::of(&meta.rel),
    );
    if let Selection::Part { first, last } = selection {
        let _ = write!(text, "Content-Range: bytes {first}-{last}/{}\r\n", meta.len);
    }
    if let Some(secs) = meta.modified {
        let _ = write!(text, "Last-Modified: {}\r\n", http_date::Imf(secs));
    }
    let _ = write!(text, "ETag: {}\r\nConnection: {}\r\n\r\n", meta.etag, head.connection());
    // The head goes out within the deadline the response started with.
    let (res, _) = stream.write_all(text.into_bytes()).await;
    res?;
    if head.only {
        return Ok(head.keep_alive);
    }
    // The part goes by the same sendfile as a whole file, from its offset.
    let mut sent = 0;
    while sent < count {
        progress.next();
        let chunk = (count - sent).min(SEND_CHUNK);
        let n = stream.send_file(file, first + sent, chunk).await?;
        sent += n;
        if n < chunk {
            // The file shrank under us: the promised length cannot be kept; close.
            return Ok(false);
        }
    }
    Ok(head.keep_alive)
}

/// A status with a short text body (none for HEAD), for 405 the methods allowed, and for
/// 503 (out of descriptors or memory) when to come back.
async fn respond_status(stream: &TcpStream, status: u16, head: Head) -> io::Result<()> {
    let fields = match status {
        405 => "Allow: GET, HEAD\r\n",
        503 => "Retry-After: 1\r\n",
        _ => "",
    };
    respond_plain(stream, status, fields, head).await
}

/// 301 to `location`.
async fn redirect(stream: &TcpStream, location: &str, head: Head) -> io::Result<()> {
    respond_plain(stream, 301, &format!("Location: {location}\r\n"), head).await
}

/// A response whose body is its status line's text; `fields` are extra header lines.
async fn respond_plain(stream: &TcpStream, status: u16, fields: &str, head: Head) -> io::Result<()> {
    let reason = match status {
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let body = format!("{status} {reason}\n");
    let text = format!(
        "HTTP/1.1 {status} {reason}\r\nDate: {}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n{fields}Connection: {}\r\n\r\n{}",
        http_date::now(),
        body.len(),
        head.connection(),
        if head.only { "" } else { &body },
    );
    stream.write_all(text.into_bytes()).await.0
}
