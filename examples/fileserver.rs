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
//! One byte range per request (RFC 9110 §14), so `curl -r 0-99`, resumed downloads
//! (`curl -C -`) and video players seeking (`Range: bytes=N-`) work: `bytes=a-b`, `bytes=a-`
//! and `bytes=-n` get 206 with `Content-Range`, the part sent by the same `sendfile` from
//! its offset; a range starting past the end gets 416 (`Content-Range: bytes */len`). Several
//! ranges, or a Range this server cannot read, get the whole file with 200, as the RFC
//! allows. Files carry `Accept-Ranges: bytes` and `Last-Modified` (their mtime); a request
//! whose `If-Modified-Since` is not older than that gets 304 with no body, and one whose
//! `If-Range` date is not that exactly gets the whole file (the copy it would resume changed).
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
        /// The conditional and range fields this server acts on.
        pub conditions: Conditions,
    }

    /// The Range, If-Range and If-Modified-Since fields as sent. A field sent twice is kept
    /// as its lines joined with ", " (RFC 9110 §5.3), which no parser here takes: two Range
    /// lines are then a multi-range request, two dates no date, both served whole.
    #[derive(Debug, Default, PartialEq, Eq)]
    pub struct Conditions {
        /// `Range`.
        pub range: Option<String>,
        /// `If-Range`.
        pub if_range: Option<String>,
        /// `If-Modified-Since`.
        pub if_modified_since: Option<String>,
    }

    impl Conditions {
        /// Keeps `value` if `name` is one of the fields; whether it was.
        fn take(&mut self, name: &str, value: &str) -> bool {
            // Compared in place: lower-casing every header line would allocate for each.
            let slot = if name.eq_ignore_ascii_case("range") {
                &mut self.range
            } else if name.eq_ignore_ascii_case("if-range") {
                &mut self.if_range
            } else if name.eq_ignore_ascii_case("if-modified-since") {
                &mut self.if_modified_since
            } else {
                return false;
            };
            match slot {
                Some(joined) => *joined = format!("{joined}, {value}"),
                None => *slot = Some(value.into()),
            }
            true
        }
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
        let Some(Fields { keep_alive, has_body, conditions }) = fields(lines, http11) else {
            return Parse::Invalid;
        };
        let request = Request { method: method.into(), target: target.into(), keep_alive, has_body, conditions };
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
        conditions: Conditions,
    }

    /// Reads the header lines; `None` if the request must be refused.
    fn fields<'h>(lines: impl Iterator<Item = &'h str>, http11: bool) -> Option<Fields> {
        let mut fields = Fields { keep_alive: http11, has_body: false, conditions: Conditions::default() };
        let (mut hosts, mut bad_host) = (0, false);
        for line in lines {
            // A name with whitespace in it ("Content-Length : 5", or a folded line's
            // continuation) is refused, not skipped: skipping it would take a body for the
            // next request (RFC 9112 §5.1, §5.2).
            let (name, value) = line.split_once(':').filter(|(name, _)| is_token(name))?;
            let value = value.trim();
            if fields.conditions.take(name, value) {
                continue;
            }
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

/// Which bytes of a file a `Range` field asks for (RFC 9110 §14), one range only.
pub mod range {
    /// What to send of a file.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Selection {
        /// The whole file, with 200: no Range, or one this server ignores (several ranges,
        /// a malformed field, another unit), which RFC 9110 §14.2 allows.
        Whole,
        /// Bytes `first..=last`, with 206.
        Part { first: u64, last: u64 },
        /// A range that starts at or past the end, with 416 (§15.5.17).
        Unsatisfiable,
    }

    /// What `field` (the Range value, if any) selects of a file of `len` bytes.
    pub fn select(field: Option<&str>, len: u64) -> Selection {
        let Some(spec) = field.and_then(one_range) else {
            return Selection::Whole;
        };
        match spec {
            // `bytes=-n`: the last n bytes, all of them if the file is shorter (§14.1.2).
            (None, Some(0)) => Selection::Unsatisfiable,
            // An empty file has no last bytes a Content-Range could name: send it whole.
            (None, Some(_)) if len == 0 => Selection::Whole,
            (None, Some(n)) => Selection::Part { first: len.saturating_sub(n), last: len - 1 },
            (Some(first), _) if first >= len => Selection::Unsatisfiable,
            // A last past the end means the end (§14.1.2).
            (Some(first), last) => Selection::Part { first, last: last.map_or(len - 1, |l| l.min(len - 1)) },
            (None, None) => Selection::Whole,
        }
    }

    /// `bytes=first-[last]` or `bytes=-suffix` as (first, last-or-suffix); `None` for
    /// anything else, a list of ranges included, and for a last before its first, which
    /// §14.1.1 makes invalid.
    fn one_range(field: &str) -> Option<(Option<u64>, Option<u64>)> {
        let (unit, spec) = field.split_once('=')?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let (first, last) = (number(first)?, number(last)?);
        match (first, last) {
            (None, None) => None,
            (Some(f), Some(l)) if l < f => None,
            spec => Some(spec),
        }
    }

    /// `Some(None)` for an empty part, `Some(Some(n))` for digits only (no sign, no space,
    /// no comma: a list is refused here), `None` otherwise (past u64 too).
    fn number(part: &str) -> Option<Option<u64>> {
        if part.is_empty() {
            return Some(None);
        }
        part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?.map(Some)
    }
}

/// HTTP dates (RFC 9110 §5.6.7), written as IMF-fixdate and read in all three forms, as
/// seconds since the Unix epoch. Written here rather than taken from a crate: it is some
/// forty lines, and the example needs no dependency for it.
pub mod http_date {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    /// `secs` as an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn format(secs: u64) -> String {
        let (days, time) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days as i64);
        let weekday = DAYS[(days % 7) as usize];
        let (h, m, s) = (time / 3600, time / 60 % 60, time % 60);
        format!("{weekday}, {day:02} {} {year:04} {h:02}:{m:02}:{s:02} GMT", MONTHS[month as usize - 1])
    }

    /// The seconds an HTTP-date names: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the
    /// obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) or asctime's
    /// (`Sun Nov  6 08:49:37 1994`), which §5.6.7 says a recipient must all accept. The
    /// weekday is not checked; `None` for anything else, or a date before 1970.
    pub fn parse(text: &str) -> Option<u64> {
        let words: Vec<&str> = text.split([' ', ',', '-']).filter(|w| !w.is_empty()).collect();
        let (day, month, year, time) = match words[..] {
            [_, day, month, year, time, "GMT"] => (day, month, year, time),
            [_, month, day, time, year] => (day, month, year, time),
            _ => return None,
        };
        let month = MONTHS.iter().position(|&m| m == month)? as i64 + 1;
        let year: i64 = match (year.len(), year.parse().ok()?) {
            // RFC 850's two digits: 70-99 the 1900s, else the 2000s (no date here is older).
            (2, yy) if yy >= 70 => 1900 + yy,
            (2, yy) => 2000 + yy,
            (4, yyyy) => yyyy,
            _ => return None,
        };
        let day: i64 = two_digits(day, 1, 31)?;
        let mut hms = time.split(':');
        let (h, m, s) = (hms.next()?, hms.next()?, hms.next()?);
        let (h, m, s) = (two_digits(h, 0, 23)?, two_digits(m, 0, 59)?, two_digits(s, 0, 60)?);
        if hms.next().is_some() || year < 1970 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
    }

    /// One or two digits (asctime pads the day with a space, not a zero), within bounds.
    fn two_digits(text: &str, min: i64, max: i64) -> Option<i64> {
        let ok = (1..=2).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| text.parse().ok()).flatten().filter(|n| (min..=max).contains(n))
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm:
    /// years start in March, so the leap day ends one).
    fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date (year, month 1-12, day 1-31) `days` after 1970-01-01; the inverse of
    /// [`days_from_civil`].
    fn civil_from_days(days: i64) -> (i64, i64, i64) {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        (yoe + era * 400 + i64::from(month <= 2), month, day)
    }
}

/// Serving connections.
pub mod serve {
    use super::*;

    use std::os::fd::AsRawFd;
    use std::time::{Instant, SystemTime};

    use ringpoll::fs::{File, OpenOptions};

    use super::http_date;
    use super::range::{self, Selection};
    use super::request::{self, Conditions, Parse, Request};
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
            Ok(Found::File(file, meta)) => match answer(&request.conditions, &meta) {
                Answer::NotModified => not_modified(stream, head).await.map(|()| head.keep_alive),
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

    /// The answer to a request for a file, in RFC 9110 §13.2.2's order: If-Modified-Since
    /// first, then Range, which If-Range may turn off.
    enum Answer {
        /// 304: the client's copy is current.
        NotModified,
        /// The file, whole or a part, or 416.
        Send(Selection),
    }

    /// What the request's conditions and Range make of the file `meta` describes.
    fn answer(conditions: &Conditions, meta: &FileMeta) -> Answer {
        let since = conditions.if_modified_since.as_deref().and_then(http_date::parse);
        // Not newer: compared in whole seconds, as Last-Modified says them.
        if since.zip(meta.modified).is_some_and(|(since, modified)| modified <= since) {
            return Answer::NotModified;
        }
        // If-Range: send the part only if the client's copy is the one we have (its date is
        // our Last-Modified exactly, §13.1.5), else the whole file, so that a resumed download
        // of a changed file is not stitched from two. No ETag is sent, so a tag never matches.
        let current = match (&conditions.if_range, meta.modified) {
            (None, _) => true,
            (Some(date), Some(modified)) => *date == http_date::format(modified),
            (Some(_), None) => false,
        };
        let range = conditions.range.as_deref().filter(|_| current);
        Answer::Send(range::select(range, meta.len))
    }

    /// 304 Not Modified: no content, so no Content-Length either (RFC 9110 §15.4.5).
    async fn not_modified(stream: &TcpStream, head: Head) -> io::Result<()> {
        let text = format!("HTTP/1.1 304 Not Modified\r\nConnection: {}\r\n\r\n", head.connection());
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
        let len = meta.len;
        let (status, range, first, count) = match selection {
            Selection::Part { first, last } => (
                "206 Partial Content",
                format!("Content-Range: bytes {first}-{last}/{len}\r\n"),
                first,
                last - first + 1,
            ),
            _ => ("200 OK", String::new(), 0, len),
        };
        let modified = meta.modified.map(|secs| format!("Last-Modified: {}\r\n", http_date::format(secs)));
        // The head goes out within the deadline the response started with.
        let text = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {count}\r\nContent-Type: {}\r\nAccept-Ranges: bytes\r\n{range}{}Connection: {}\r\n\r\n",
            content_type(&meta.rel),
            modified.unwrap_or_default(),
            head.connection(),
        );
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

    /// What a file's response says of it beside its bytes.
    struct FileMeta {
        /// Its length.
        len: u64,
        /// Its mtime in whole seconds since the epoch, never later than now (RFC 9110
        /// §8.8.2.1); `None` before 1970.
        modified: Option<u64>,
        /// Its path relative to the root (for its Content-Type).
        rel: PathBuf,
    }

    /// What a path under the root names.
    enum Found {
        /// A regular file and what its response says of it.
        File(File, FileMeta),
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
            (true, _) => {
                let modified = meta.modified().min(SystemTime::now());
                let modified = modified.duration_since(SystemTime::UNIX_EPOCH).ok().map(|d| d.as_secs());
                Ok(Found::File(file, FileMeta { len: meta.len(), modified, rel }))
            }
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
            416 => "Range Not Satisfiable",
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
