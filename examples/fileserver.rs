//! A static HTTP/1.1 file server over one directory, on every chosen core.
//!
//! ```text
//! cargo run --release --example fileserver -- --root DIR [--addr HOST:PORT] [--cores LIST] [--driver uring|epoll|auto]
//! ```
//!
//! GET and HEAD, keep-alive (HTTP/1.1 by default, HTTP/1.0 on request), pipelined requests,
//! `Content-Length` from the file's metadata and the body sent with `sendfile(2)`
//! ([`TcpStream::send_file`]): no copy through user space, as nginx's `sendfile on`.
//! Opening and `statx` are `ringpoll::fs` calls: ring ops on io_uring, the blocking pool on
//! epoll, so a slow disk never stalls a core.
//!
//! Nothing outside the root is served: the URL is percent-decoded first and then split, so
//! an encoded `%2e%2e%2f` is a `..` like any other, and a `..` segment is 403; after opening,
//! the descriptor's real path (`/proc/self/fd/N`) must lie under the root, so a symlink out
//! of it is 403 as well. Missing files are 404. A directory's `index.html` is served for
//! its path with a trailing slash; without one, the answer is a 301 to it (as nginx does),
//! so the page's relative links resolve inside the directory. An HTTP/1.1 request without
//! a Host header, or one with two, is 400 (RFC 9112 §3.2); an answer to HEAD has no body,
//! errors included. A client that disconnects mid-file ends its connection's task with
//! nothing leaked; one that sends no whole request head for [`serve::CLIENT_TIMEOUT`] (idle
//! keep-alive included), or takes none of its response for as long (it stopped reading), is
//! closed, as nginx's `client_header_timeout` and `send_timeout` close them. Stops on SIGINT
//! or SIGTERM.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::signal::ShutdownSignals;

#[path = "cli/mod.rs"]
pub mod cli;

/// How long open connections may run on after SIGINT/SIGTERM.
const GRACE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let args = cli::parse("fileserver", args::USAGE, args::parse);
    cli::exit("fileserver", run(args))
}

/// Serves until SIGINT or SIGTERM; fails at once if no core can listen.
pub fn run(args: args::Args) -> io::Result<()> {
    let signals = ShutdownSignals::install()?;
    let rt = cli::runtime(args.cores, args.driver)?;
    let root = args.root;
    let (addr, mut servers) = cli::serve_on_each_core(&rt, args.addr, |_| {
        let root = root.clone();
        move |listener| serve::listen(listener, root.into(), serve::CLIENT_TIMEOUT)
    })?;
    for core in 0..rt.core_count() {
        println!("core {core}: cpu {}, driver {}, serving {} on {addr}", rt.cpu_of(core), rt.driver(), root.display());
    }
    // Nothing listens (the address, on every core): exit with why, not wait for a signal.
    let sig = cli::signal(&signals, &mut servers)?;
    eprintln!("fileserver: signal {sig}, shutting down");
    drop(servers);
    let stopping = std::time::Instant::now();
    let cancelled = rt.shutdown_gracefully(GRACE);
    eprintln!("fileserver: stopped in {:.1?} ({cancelled} tasks cut off by the {GRACE:?} grace)", stopping.elapsed());
    Ok(())
}

/// The command line (the examples' shared conventions, `examples/cli`).
pub mod args {
    use super::*;

    use super::cli::{Flags, Stop};

    /// What `--help` prints.
    pub const USAGE: &str = "usage: fileserver --root DIR [--addr HOST:PORT] [--cores LIST] [--driver uring|epoll|auto]
  --root DIR           the directory served (required)
  --addr HOST:PORT     where every core listens (default 127.0.0.1:8080; names are resolved)
  --cores LIST         CPUs to run on, e.g. 0,1 or 0-3 (default: every CPU)
  --driver KIND        uring, epoll or auto (default: RINGPOLL_DRIVER, else auto)";

    /// Parsed arguments.
    #[derive(Debug)]
    pub struct Args {
        /// Where to listen (host names resolved at start).
        pub addr: SocketAddr,
        /// The directory served, canonical.
        pub root: PathBuf,
        /// CPUs to run on (default: all).
        pub cores: Option<Vec<usize>>,
        /// The driver.
        pub driver: ringpoll::DriverChoice,
    }

    /// Reads the flags.
    pub fn parse(flags: &mut Flags) -> Result<Args, Stop> {
        let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
        let (mut root, mut cores) = (None, None);
        let mut driver = ringpoll::DriverChoice::from_env().map_err(|e| Stop::Bad(e.to_string()))?;
        while let Some(flag) = flags.next_flag()? {
            match flag.as_str() {
                "--addr" => addr = flags.addr()?,
                "--root" => {
                    let dir = flags.text()?;
                    root = Some(std::fs::canonicalize(&dir).map_err(|e| flags.bad(format!("{dir:?}: {e}")))?);
                }
                "--cores" => cores = Some(flags.cores()?),
                "--driver" => driver = flags.value()?,
                _ => return Err(flags.unknown()),
            }
        }
        let root = root.ok_or_else(|| Stop::Bad("--root DIR is required".into()))?;
        if !root.is_dir() {
            return Err(Stop::Bad(format!("--root: {} is not a directory", root.display())));
        }
        Ok(Args { addr, root, cores, driver })
    }
}

/// Reading one request head.
pub mod request {
    /// The longest request head accepted.
    pub const MAX_HEAD: usize = 16 * 1024;

    /// A parsed request head.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Request {
        /// GET, HEAD or another method (answered 405).
        pub method: String,
        /// The request target as sent (still percent-encoded).
        pub target: String,
        /// Whether the connection stays open after the response.
        pub keep_alive: bool,
        /// Whether a body follows (never read: the response closes the connection).
        pub has_body: bool,
    }

    /// What the bytes so far hold.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Parse {
        /// A whole head, and how many bytes it took.
        Complete(Request, usize),
        /// Not a whole head yet.
        Partial,
        /// Not HTTP/1.x.
        Invalid,
        /// Past [`MAX_HEAD`], with the status that says so: 414 (URI Too Long) if the request
        /// line alone is, which RFC 9112 §3 makes the answer to a target too long to parse,
        /// else 431 (Request Header Fields Too Large, RFC 6585 §5), as nginx answers them.
        TooLarge(u16),
    }

    /// Parses the head at the start of `buf`. Its lines end in CRLF or in a bare LF (what
    /// `nc` sends for a typed request; RFC 9112 §2.2 lets a server take it).
    pub fn parse(buf: &[u8]) -> Parse {
        let Some((end, used)) = head_end(buf) else {
            return if buf.len() > MAX_HEAD { too_large(buf) } else { Parse::Partial };
        };
        if end > MAX_HEAD {
            return too_large(buf);
        }
        let Ok(head) = std::str::from_utf8(&buf[..end]) else {
            return Parse::Invalid;
        };
        let mut lines = head.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));
        // A CR anywhere but before a line's LF is refused (§2.2): a parser that ends lines at
        // CR would see another header there, and the two would read different requests.
        if lines.clone().any(|line| line.contains('\r')) {
            return Parse::Invalid;
        }
        let mut parts = lines.next().unwrap_or("").split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Parse::Invalid;
        };
        let http11 = match version {
            "HTTP/1.1" => true,
            "HTTP/1.0" => false,
            _ => return Parse::Invalid,
        };
        let Some(Fields { keep_alive, has_body }) = fields(lines, http11) else {
            return Parse::Invalid;
        };
        let request = Request { method: method.into(), target: target.into(), keep_alive, has_body };
        Parse::Complete(request, used)
    }

    /// A head past [`MAX_HEAD`]: which of its parts is.
    fn too_large(buf: &[u8]) -> Parse {
        let line_ends = buf[..MAX_HEAD].contains(&b'\n');
        Parse::TooLarge(if line_ends { 431 } else { 414 })
    }

    /// What the header fields say that this server acts on.
    struct Fields {
        keep_alive: bool,
        has_body: bool,
    }

    /// Reads the header lines; `None` if the request must be refused.
    fn fields<'h>(lines: impl Iterator<Item = &'h str>, http11: bool) -> Option<Fields> {
        let mut fields = Fields { keep_alive: http11, has_body: false };
        let (mut hosts, mut bad_host) = (0, false);
        for line in lines {
            // A name with whitespace in it ("Content-Length : 5", or a folded line's
            // continuation) is refused, not skipped: skipping it would take a body for the
            // next request (RFC 9112 §5.1, §5.2).
            let (name, value) = line.split_once(':').filter(|(name, _)| is_token(name))?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        fields.keep_alive = false;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        fields.keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                || (name.eq_ignore_ascii_case("content-length") && value != "0")
            {
                fields.has_body = true;
            } else if name.eq_ignore_ascii_case("host") {
                hosts += 1;
                bad_host |= !is_host(value);
            }
        }
        // RFC 9112 §3.2 makes these a 400: an HTTP/1.1 request without a Host (an HTTP/1.0
        // client may send none), and any with two (a proxy and this server could each take
        // another) or with one that is not a host.
        let refused = bad_host || hosts > 1 || (hosts == 0 && http11);
        (!refused).then_some(fields)
    }

    /// A field name: one or more token characters (RFC 9110 §5.6.2).
    fn is_token(name: &str) -> bool {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    }

    /// A Host value: `uri-host [ ":" port ]` (RFC 9110 §7.2), empty included (a target
    /// without an authority), so a reg-name, an IP literal in brackets, or an address.
    fn is_host(value: &str) -> bool {
        value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b))
    }

    /// Where the head's last line ends (its LF) and the bytes the head takes with the empty
    /// line after it (CRLF or LF), if that has arrived.
    fn head_end(buf: &[u8]) -> Option<(usize, usize)> {
        let mut from = 0;
        while let Some(i) = buf[from..].iter().position(|&b| b == b'\n') {
            let lf = from + i;
            match &buf[lf + 1..] {
                [b'\n', ..] => return Some((lf, lf + 2)),
                [b'\r', b'\n', ..] => return Some((lf, lf + 3)),
                _ => from = lf + 1,
            }
        }
        None
    }
}

/// From a request target to a path under the root, refusing every way out of it.
pub mod target {
    use std::ffi::OsStr;
    use std::fmt::Write;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    /// Why a target is refused.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Refused {
        /// Malformed: not origin-form, bad percent-encoding, a NUL byte (400).
        BadRequest,
        /// A `..` segment, encoded or not (403).
        Forbidden,
    }

    /// The path, relative to the root, that `target` names; a directory (a trailing `/`, or
    /// the root) maps to its `index.html`.
    pub fn relative_path(target: &str) -> Result<PathBuf, Refused> {
        let target = origin_form(target);
        let path = target.split(['?', '#']).next().unwrap_or("");
        if !path.starts_with('/') {
            return Err(Refused::BadRequest);
        }
        // Decode first, split after: `%2f` separates and `%2e%2e` is `..` like any other.
        let decoded = percent_decode(path.as_bytes()).ok_or(Refused::BadRequest)?;
        if decoded.contains(&0) {
            return Err(Refused::BadRequest);
        }
        let mut rel = PathBuf::new();
        for segment in decoded.split(|&b| b == b'/') {
            match segment {
                b"" | b"." => {}
                b".." => return Err(Refused::Forbidden),
                name => rel.push(OsStr::from_bytes(name)),
            }
        }
        if decoded.ends_with(b"/") || rel.as_os_str().is_empty() {
            rel.push("index.html");
        }
        Ok(rel)
    }

    /// The path and query of an absolute-form target (`http://host/p?q`, which RFC 9112
    /// §3.2.2 says a server must accept; the host is not checked, one tree is served), or
    /// the target as it is.
    fn origin_form(target: &str) -> &str {
        let scheme = target.split_once("://").map(|(s, rest)| (s.to_ascii_lowercase(), rest));
        match scheme {
            // The authority ends at the first `/`, `?` or `#`; only a `/` starts a path.
            Some((scheme, rest)) if scheme == "http" || scheme == "https" => match rest.find(['/', '?', '#']) {
                Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
                _ => "/",
            },
            _ => target,
        }
    }

    /// Where a directory named without its trailing slash (`/sub?q`, `rel` being `sub`) is
    /// redirected: its path with the slash, and the query as sent, so that relative links
    /// in its index page resolve inside it (what nginx does). The path is made from `rel`,
    /// re-encoded, not copied from the target: `//host/x` there would name another site.
    pub fn directory_location(rel: &Path, target: &str) -> String {
        let mut location = String::from("/");
        for segment in rel.iter() {
            percent_encode(segment.as_bytes(), is_pchar, &mut location);
            location.push('/');
        }
        let query = origin_form(target).split('#').next().and_then(|t| t.split_once('?'));
        if let Some((_, query)) = query {
            location.push('?');
            // Sent as it came, escapes too; only what a header must not hold is encoded.
            percent_encode(query.as_bytes(), |b| b.is_ascii_graphic(), &mut location);
        }
        location
    }

    /// A byte a path segment may hold as it is (RFC 3986 §3.3, `pchar` but `%`).
    fn is_pchar(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)
    }

    fn percent_encode(bytes: &[u8], keep: impl Fn(u8) -> bool, out: &mut String) {
        for &b in bytes {
            if keep(b) {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}"); // a String takes every write
            }
        }
    }

    fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len());
        let mut bytes = input.iter();
        while let Some(&b) = bytes.next() {
            if b != b'%' {
                out.push(b);
                continue;
            }
            let hi = (*bytes.next()? as char).to_digit(16)?;
            let lo = (*bytes.next()? as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
        }
        Some(out)
    }
}

/// Serving connections.
pub mod serve {
    use super::*;

    use std::os::fd::AsRawFd;
    use std::time::Instant;

    use ringpoll::fs::{File, OpenOptions};

    use super::request::{self, Parse, Request};
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

    /// Accepts connections on `listener` and serves files under `root` (canonical) on this
    /// core until the listener fails (at shutdown), closing connections that send no whole
    /// head, or take no [`SEND_CHUNK`] of a response, within `timeout`.
    pub async fn listen(listener: TcpListener, root: Rc<Path>, timeout: Duration) -> io::Result<()> {
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
    pub async fn connection(stream: TcpStream, root: Rc<Path>, timeout: Duration) -> io::Result<()> {
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
    async fn respond(progress: Progress<'_>, root: &Path, request: &Request) -> io::Result<bool> {
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
            Ok(rel) => open_under(root, rel).await,
            Err(Refused::BadRequest) => Err(400),
            Err(Refused::Forbidden) => Err(403),
        };
        match found {
            Ok(Found::File(file, len, rel)) => send_file(progress, &file, len, &rel, head).await,
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

    /// Sends `file` (`len` bytes, named `rel`) with its head, each [`SEND_CHUNK`] within
    /// its own deadline; returns whether the connection stays open.
    async fn send_file(progress: Progress<'_>, file: &File, len: u64, rel: &Path, head: Head) -> io::Result<bool> {
        let stream = progress.stream;
        // The head goes out within the deadline the response started with.
        let text = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: {}\r\nConnection: {}\r\n\r\n",
            content_type(rel),
            head.connection(),
        );
        let (res, _) = stream.write_all(text.into_bytes()).await;
        res?;
        if head.only {
            return Ok(head.keep_alive);
        }
        let mut sent = 0;
        while sent < len {
            progress.next();
            let chunk = (len - sent).min(SEND_CHUNK);
            let n = stream.send_file(file, sent, chunk).await?;
            sent += n;
            if n < chunk {
                // The file shrank under us: the promised length cannot be kept; close.
                return Ok(false);
            }
        }
        Ok(head.keep_alive)
    }

    /// What a path under the root names.
    enum Found {
        /// A regular file, its length and its path relative to the root.
        File(File, u64, PathBuf),
        /// A directory named without its trailing slash (with one, the path is its
        /// `index.html`), by its path relative to the root.
        Directory(PathBuf),
    }

    /// Opens `rel` under `root`. The error is the HTTP status: 404 missing, 403 outside the
    /// root, unreadable or neither a file nor a directory.
    async fn open_under(root: &Path, rel: PathBuf) -> Result<Found, u16> {
        let file = open(&root.join(&rel)).await?;
        if !real_path_of(&file).is_some_and(|real| real.starts_with(root)) {
            return Err(403);
        }
        let meta = file.metadata().await.map_err(|_| 404u16)?;
        match (meta.is_file(), meta.is_dir()) {
            (true, _) => Ok(Found::File(file, meta.len(), rel)),
            (_, true) => Ok(Found::Directory(rel)),
            _ => Err(403),
        }
    }

    async fn open(path: &Path) -> Result<File, u16> {
        // O_NONBLOCK: opening a FIFO someone left in the tree must not wait for a writer.
        let opened = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).await;
        opened.map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => 403,
            _ => 404,
        })
    }

    /// Where the open descriptor really is, every symlink resolved (a procfs read: no disk).
    fn real_path_of(file: &File) -> Option<PathBuf> {
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
    }

    /// A status with a short text body (none for HEAD), and for 405 the methods allowed.
    async fn respond_status(stream: &TcpStream, status: u16, head: Head) -> io::Result<()> {
        let allow = if status == 405 { "Allow: GET, HEAD\r\n" } else { "" };
        respond_plain(stream, status, allow, head).await
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
            414 => "URI Too Long",
            431 => "Request Header Fields Too Large",
            _ => "Error",
        };
        let body = format!("{status} {reason}\n");
        let text = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n{fields}Connection: {}\r\n\r\n{}",
            body.len(),
            head.connection(),
            if head.only { "" } else { &body },
        );
        stream.write_all(text.into_bytes()).await.0
    }

    fn content_type(path: &Path) -> &'static str {
        match path.extension().and_then(|e| e.to_str()) {
            Some("html" | "htm") => "text/html; charset=utf-8",
            Some("txt") => "text/plain; charset=utf-8",
            Some("css") => "text/css",
            Some("js") => "text/javascript",
            Some("json") => "application/json",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("jpg" | "jpeg") => "image/jpeg",
            _ => "application/octet-stream",
        }
    }
}
