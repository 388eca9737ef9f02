//! Reading one request head.

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

/// The Range, If-Range, If-None-Match and If-Modified-Since fields as sent. A field sent
/// twice is kept as its lines joined with ", " (RFC 9110 §5.3): two If-None-Match lines are
/// one list, as the RFC means; two Range lines are a multi-range request and two dates no
/// date, both served whole.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    /// `Range`.
    pub range: Option<String>,
    /// `If-Range`.
    pub if_range: Option<String>,
    /// `If-None-Match`.
    pub if_none_match: Option<String>,
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
        } else if name.eq_ignore_ascii_case("if-none-match") {
            &mut self.if_none_match
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
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
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
