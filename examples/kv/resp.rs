//! RESP2, the Redis protocol: requests in (arrays of bulk strings, or inline), replies out.
//!
//! The parser never trusts a length before the bytes are there: a declared array or bulk
//! length only bounds a loop, nothing is allocated from it, and lengths past the limits below
//! are a protocol error (Redis answers those the same way and closes the connection).

use std::fmt;

/// The largest bulk string accepted (Redis' default is 512 MiB; a shard of RAM is smaller).
pub const MAX_BULK: usize = 16 * 1024 * 1024;
/// The largest request, all of its bulk strings together.
pub const MAX_REQUEST: usize = 64 * 1024 * 1024;
/// The most arguments in one request.
pub const MAX_ARGS: usize = 1024 * 1024;
/// The longest line (an inline request, or a header) before its CRLF.
pub const MAX_LINE: usize = 64 * 1024;

/// Malformed input: the connection gets `-ERR Protocol error: ...` and is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub &'static str);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Protocol error: {}", self.0)
    }
}

/// One request: its arguments, and how many bytes of the input it used.
pub type Parsed = (Vec<Vec<u8>>, usize);

/// Parses the first request in `buf`: `Ok(None)` if it is not complete yet. An empty
/// argument list (`*0`, a blank inline line) is a request to skip.
pub fn parse_request(buf: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_array(buf),
        Some(_) => parse_inline(buf),
    }
}

fn parse_array(buf: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
    let Some((header, mut at)) = line(buf, 0)? else {
        return Ok(None);
    };
    let count = integer(&header[1..]).ok_or(ProtocolError("invalid multibulk length"))?;
    if count <= 0 {
        return Ok(Some((Vec::new(), at)));
    }
    if count as u64 > MAX_ARGS as u64 {
        return Err(ProtocolError("invalid multibulk length"));
    }
    let mut args = Vec::with_capacity((count as usize).min(16));
    let mut declared = 0usize;
    for _ in 0..count {
        let Some((header, body)) = line(buf, at)? else {
            return Ok(None);
        };
        if header.first() != Some(&b'$') {
            return Err(ProtocolError("expected '$'"));
        }
        let len = integer(&header[1..]).ok_or(ProtocolError("invalid bulk length"))?;
        if len < 0 || len as u64 > MAX_BULK as u64 {
            return Err(ProtocolError("invalid bulk length"));
        }
        let len = len as usize;
        declared += len;
        if declared > MAX_REQUEST {
            return Err(ProtocolError("request too large"));
        }
        let end = body + len;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(ProtocolError("bulk string not followed by CRLF"));
        }
        args.push(buf[body..end].to_vec());
        at = end + 2;
    }
    Ok(Some((args, at)))
}

/// `PING\r\n`, `SET k v\n`: words split on spaces and tabs (what a person types in telnet).
fn parse_inline(buf: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
    let Some(nl) = buf.iter().take(MAX_LINE + 1).position(|&b| b == b'\n') else {
        return if buf.len() > MAX_LINE { Err(ProtocolError("too big inline request")) } else { Ok(None) };
    };
    let text = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    let args = text.split(|&b| b == b' ' || b == b'\t').filter(|w| !w.is_empty()).map(<[u8]>::to_vec).collect();
    Ok(Some((args, nl + 1)))
}

/// The line starting at `at` (without its CRLF) and where the next one starts.
fn line(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let rest = &buf[at..];
    match rest.windows(2).take(MAX_LINE).position(|w| w == b"\r\n") {
        Some(end) => Ok(Some((&rest[..end], at + end + 2))),
        None if rest.len() > MAX_LINE => Err(ProtocolError("header line too long")),
        None => Ok(None),
    }
}

/// A strict decimal integer: an optional '-', then digits, within i64.
pub fn integer(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0i64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        // Accumulate negatively for a '-' so i64::MIN parses too.
        n.checked_mul(10).and_then(|n| if negative { n.checked_sub(d) } else { n.checked_add(d) })
    })
}

/// A reply, as RESP2 encodes it. `Send`: replies come back from other cores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+text`
    Status(&'static str),
    /// `-text`
    Error(String),
    /// `:n`
    Int(i64),
    /// `$len` and the bytes
    Bulk(Vec<u8>),
    /// `$-1`
    Nil,
    /// `*n` and the elements
    Array(Vec<Reply>),
}

impl Reply {
    /// An error reply.
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into())
    }

    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Status(s) => push_line(out, b'+', s.as_bytes()),
            Reply::Error(e) => push_line(out, b'-', e.as_bytes()),
            Reply::Int(n) => push_number(out, b':', *n),
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::Bulk(b) => {
                push_number(out, b'$', b.len() as i64);
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Array(items) => {
                push_number(out, b'*', items.len() as i64);
                items.iter().for_each(|r| r.encode(out));
            }
        }
    }
}

/// `kind`, the decimal `n`, CRLF: written in place, no allocation.
fn push_number(out: &mut Vec<u8>, kind: u8, n: i64) {
    use std::io::Write;
    out.push(kind);
    let _ = write!(out, "{n}\r\n"); // writing to a Vec cannot fail
}

/// A status or error line; CR and LF inside would end it early, so they become spaces.
fn push_line(out: &mut Vec<u8>, kind: u8, text: &[u8]) {
    out.push(kind);
    out.extend(text.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    out.extend_from_slice(b"\r\n");
}
