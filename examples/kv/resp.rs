//! The Redis protocol's requests (arrays of bulk strings, or inline: the same in RESP2 and
//! RESP3, which differ in replies only, `replies.rs`), parsed in place; only an inline
//! argument with quotes in it is decoded, into [`Decoded`].
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

/// Malformed input: the connection gets `-ERR Protocol error: ...` and is closed. Redis'
/// words for what is wrong, not necessarily UTF-8 (a byte of the input may be quoted in
/// them). One pointer and a length, built at compile time for every byte it may quote
/// ([`NOT_BULK`]): an enum that carried the byte made the parser's result bigger, and one
/// shard ~4 instructions per request dearer at pipeline 16 (callgrind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError(pub &'static [u8]);

impl ProtocolError {
    /// An array's element that does not start with `$`: Redis quotes its first byte.
    fn not_bulk(got: u8) -> ProtocolError {
        ProtocolError(&NOT_BULK[usize::from(got)])
    }

    /// The error's text as redis-server 7 sends it (without the `-` and the CRLF): cut at a
    /// NUL as C cuts its strings (Redis itself never quotes one: its search for the line's CR
    /// stops at it).
    pub fn text(&self) -> Vec<u8> {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        [&b"ERR Protocol error: "[..], &self.0[..end]].concat()
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.text()))
    }
}

/// Redis' `expected '$', got '%c'`, for each byte.
const NOT_BULK_TEMPLATE: &[u8; 21] = b"expected '$', got 'x'";
static NOT_BULK: [[u8; 21]; 256] = {
    let mut all = [*NOT_BULK_TEMPLATE; 256];
    let mut byte = 0;
    while byte < 256 {
        all[byte][19] = byte as u8;
        byte += 1;
    }
    all
};

/// Parses the first request in `buf` into `args` (cleared first), borrowing the arguments
/// in place, or from `decoded` for an inline argument with quotes in it: returns the bytes
/// it used, or `Ok(None)` if it is not complete yet. An empty argument list (`*0`, a blank
/// inline line) is a request to skip. One [`Decoded`] serves the requests of one input, so
/// each call after the first gets a suffix of the input the first call got.
pub fn parse_request<'a>(
    buf: &'a [u8],
    args: &mut Vec<&'a [u8]>,
    decoded: &mut Decoded<'a>,
) -> Result<Option<usize>, ProtocolError> {
    args.clear();
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_array(buf, args),
        Some(_) => parse_inline(buf, args, decoded),
    }
}

fn parse_array<'a>(buf: &'a [u8], args: &mut Vec<&'a [u8]>) -> Result<Option<usize>, ProtocolError> {
    let Some((count, mut at)) = array_header(buf)? else {
        return Ok(None);
    };
    let mut declared = 0usize;
    for _ in 0..count {
        let Some((body, len)) = bulk_at(buf, at, declared)? else {
            return Ok(None);
        };
        declared += len;
        args.push(&buf[body..body + len]);
        at = body + len + 2;
    }
    Ok(Some(at))
}

/// An array's header (`buf` starts with `*`): how many bulk strings follow (0 for `*0` or a
/// negative count, a request to skip) and where the first starts.
#[inline(always)]
fn array_header(buf: &[u8]) -> Result<Option<(usize, usize)>, ProtocolError> {
    let Some((header, at)) = line(buf, 0)? else {
        return Ok(None);
    };
    let count = integer(&header[1..]).ok_or(ProtocolError(b"invalid multibulk length"))?;
    if count > MAX_ARGS as i64 {
        return Err(ProtocolError(b"invalid multibulk length"));
    }
    Ok(Some((count.max(0) as usize, at)))
}

/// The bulk string whose header starts at `at`, after `declared` bytes of the request's
/// earlier ones: where its bytes start and how many there are, once they and the two bytes
/// after them have all arrived. Those two are skipped unread, as Redis skips them
/// (`processMultibulkBuffer`: `qb_pos += bulklen+2`): a CRLF from any client that follows
/// the protocol, and whatever they are, the request goes on after them. Always inlined: as
/// a call, the parser's loop cost ~60 more instructions per request
/// (`benches/kv_instructions.sh`, kv-1-shard, 1,081 against 1,017 at -P 16).
#[inline(always)]
fn bulk_at(buf: &[u8], at: usize, declared: usize) -> Result<Option<(usize, usize)>, ProtocolError> {
    let (len, body) = match bulk_header(buf, at) {
        Some(parsed) => parsed,
        None => {
            let Some((header, body)) = line(buf, at)? else {
                return Ok(None);
            };
            if header.first() != Some(&b'$') {
                return Err(ProtocolError::not_bulk(header.first().copied().unwrap_or(b'\r')));
            }
            let len = integer(&header[1..]).ok_or(ProtocolError(b"invalid bulk length"))?;
            if len < 0 || len as u64 > MAX_BULK as u64 {
                return Err(ProtocolError(b"invalid bulk length"));
            }
            (len as usize, body)
        }
    };
    if declared + len > MAX_REQUEST {
        return Err(ProtocolError(b"request too large"));
    }
    if buf.len() < body + len + 2 {
        return Ok(None);
    }
    Ok(Some((body, len)))
}

/// How far the first request of a growing input is known to have arrived, so that the
/// next look resumes there: a request of many arguments that comes over many reads is
/// scanned once, not again from its start at every read (a million-argument MGET sent in
/// 4 KiB pieces cost its core ~2 s of parsing that way, quadratic in its size).
#[derive(Debug, Default)]
pub struct Arrival {
    /// Where the next thing to look at starts: a bulk header, or the inline bytes not
    /// searched for a newline yet.
    at: usize,
    /// The bulk strings still to come, once the array's header has been read.
    left: Option<usize>,
    /// The bytes of the bulk strings seen (`MAX_REQUEST`).
    declared: usize,
}

impl Arrival {
    /// Whether [`parse_request`] would take a request from the front of `buf` or refuse
    /// it: `false` only while it would wait for more bytes. `buf` must be the input of the
    /// last call with bytes appended; start a new `Arrival` once its front is consumed.
    pub fn complete(&mut self, buf: &[u8]) -> bool {
        // A refusal is the parser's to report.
        self.resume(buf).unwrap_or(true)
    }

    fn resume(&mut self, buf: &[u8]) -> Result<bool, ProtocolError> {
        match buf.first() {
            None => return Ok(false),
            Some(b'*') => {}
            Some(_) => {
                // Inline: one line, and the bytes before `at` hold no newline.
                let searched = &buf[..buf.len().min(MAX_LINE + 1)];
                let whole = searched[self.at.min(searched.len())..].contains(&b'\n') || buf.len() > MAX_LINE;
                if !whole {
                    self.at = buf.len();
                }
                return Ok(whole);
            }
        }
        if self.left.is_none() {
            let Some((count, at)) = array_header(buf)? else {
                return Ok(false);
            };
            (self.at, self.left) = (at, Some(count));
        }
        while let Some(left @ 1..) = self.left {
            let Some((body, len)) = bulk_at(buf, self.at, self.declared)? else {
                return Ok(false);
            };
            self.declared += len;
            self.at = body + len + 2;
            self.left = Some(left - 1);
        }
        Ok(true)
    }
}

/// The common bulk header, `$` and up to 8 digits and CRLF, read in one pass: its length
/// and where the bytes start. Anything else (incomplete, malformed, more digits, past
/// MAX_BULK, a leading zero as in `$04`) returns `None` and goes the general way, which
/// decides what it is.
#[inline]
fn bulk_header(buf: &[u8], at: usize) -> Option<(usize, usize)> {
    let rest = buf.get(at..)?;
    if rest.first() != Some(&b'$') {
        return None;
    }
    let mut len = 0usize;
    for (i, &b) in rest.iter().enumerate().skip(1).take(9) {
        match b {
            // A digit after a leading zero is not taken here: `integer` refuses it, as Redis does.
            b'0'..=b'9' if i == 1 || len > 0 => len = len * 10 + usize::from(b - b'0'),
            b'\r' if i > 1 && rest.get(i + 1) == Some(&b'\n') => {
                return (len <= MAX_BULK).then_some((len, at + i + 2));
            }
            _ => return None,
        }
    }
    None
}

/// `PING\r\n`, `SET k "a b"\n`: a line of arguments split as Redis splits what a person
/// types in telnet (`sdssplitargs`).
fn parse_inline<'a>(
    buf: &'a [u8],
    args: &mut Vec<&'a [u8]>,
    decoded: &mut Decoded<'a>,
) -> Result<Option<usize>, ProtocolError> {
    let Some(nl) = buf.iter().take(MAX_LINE + 1).position(|&b| b == b'\n') else {
        return if buf.len() > MAX_LINE { Err(ProtocolError(b"too big inline request")) } else { Ok(None) };
    };
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    split_args(line, args, decoded, buf.len())?;
    Ok(Some(nl + 1))
}

/// Splits `line` into `args` as Redis does: arguments between blanks, each borrowed from the
/// line unless a quote in it makes it one to decode (`decoded`, sized once for the
/// `input_left` bytes from this request on). As in Redis, blanks are C's `isspace` between
/// arguments, but only space, tab and CR end an unquoted one; unlike Redis, whose line ends
/// at a NUL (it waits for a newline it never sees), a NUL is a byte like any other.
fn split_args<'a>(
    line: &'a [u8],
    args: &mut Vec<&'a [u8]>,
    decoded: &mut Decoded<'a>,
    input_left: usize,
) -> Result<(), ProtocolError> {
    let mut at = 0;
    loop {
        at += line[at..].iter().take_while(|&&b| is_blank(b)).count();
        if at == line.len() {
            return Ok(());
        }
        let word = &line[at..];
        let end = word.iter().position(|&b| ends_word(b) || b == b'"' || b == b'\'').unwrap_or(word.len());
        if matches!(word.get(end), Some(b'"' | b'\'')) {
            let (arg, next) = decoded.decode(line, at, input_left)?;
            args.push(arg);
            at = next;
        } else {
            args.push(&word[..end]);
            at += end;
        }
    }
}

/// C's `isspace`, which Redis skips between inline arguments.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What ends an unquoted inline argument in Redis (a vertical tab or form feed inside one
/// is kept).
fn ends_word(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

const UNBALANCED: ProtocolError = ProtocolError(b"unbalanced quotes in request");

/// Room for the inline arguments that quotes make unlike their bytes in the input
/// (`"a\tb"`, `'it\'s'`), which cannot be borrowed from it as the others are: one region,
/// handed out piece by piece for as long as the input is borrowed. It takes its buffer's
/// memory only when a quote is first met, then as much as the input has left from there,
/// which is more than what is decoded from it (an argument never grows), so nothing
/// handed out moves.
pub struct Decoded<'a> {
    /// The buffer, until a quote is met: an input without one allocates nothing.
    unused: Option<&'a mut Vec<u8>>,
    /// What is left of the buffer, once in use.
    free: &'a mut [u8],
}

impl<'a> Decoded<'a> {
    /// Decodes into `buf` (its contents replaced, its allocation reused).
    pub fn new(buf: &'a mut Vec<u8>) -> Decoded<'a> {
        Decoded { unused: Some(buf), free: &mut [] }
    }

    /// Decodes the argument at `line[at..]`, which holds a quote, as Redis does; returns it
    /// and where the line goes on. `input_left`: the bytes of the input from this request
    /// on, which bound what is decoded from here on.
    fn decode(&mut self, line: &[u8], at: usize, input_left: usize) -> Result<(&'a [u8], usize), ProtocolError> {
        if let Some(buf) = self.unused.take() {
            buf.clear();
            buf.resize(input_left, 0);
            self.free = buf.as_mut_slice();
        }
        // Only a caller that broke the one-input rule meets this, and not a panic.
        if self.free.len() < line.len() - at {
            return Err(ProtocolError(b"inline request parsed out of its input"));
        }
        let mut out = Unescaped { to: &mut *self.free, len: 0 };
        let next = unescape_arg(line, at, &mut out)?;
        let len = out.len;
        let (arg, rest) = std::mem::take(&mut self.free).split_at_mut(len);
        self.free = rest;
        Ok((arg, next))
    }
}

/// Bytes written to the front of a region at least as long as the input they come from
/// (every input byte writes one byte at most, so indexing never fails).
struct Unescaped<'s> {
    to: &'s mut [u8],
    len: usize,
}

impl Unescaped<'_> {
    fn push(&mut self, b: u8) {
        self.to[self.len] = b;
        self.len += 1;
    }
}

/// One argument of `line` from `at`, quoted parts unescaped into `out`: where the line goes
/// on after it. A closing quote must be followed by a blank or the line's end.
fn unescape_arg(line: &[u8], mut at: usize, out: &mut Unescaped<'_>) -> Result<usize, ProtocolError> {
    loop {
        match line.get(at) {
            None => return Ok(at),
            Some(&b) if ends_word(b) => return Ok(at),
            Some(&quote @ (b'"' | b'\'')) => {
                let close = unescape_quoted(line, at + 1, quote, out).ok_or(UNBALANCED)?;
                return match line.get(close + 1) {
                    Some(&b) if !is_blank(b) => Err(UNBALANCED),
                    _ => Ok(close + 1),
                };
            }
            Some(&b) => {
                out.push(b);
                at += 1;
            }
        }
    }
}

/// The inside of a quoted string from `at` (after its opening `quote`), unescaped into
/// `out`: where its closing quote is, or `None` if the line ends first. In double quotes
/// `\n \r \t \b \a`, `\xHH` and `\` before any other byte (that byte); in single
/// quotes only `\'`.
fn unescape_quoted(line: &[u8], mut at: usize, quote: u8, out: &mut Unescaped<'_>) -> Option<usize> {
    loop {
        let b = *line.get(at)?;
        let next = line.get(at + 1).copied();
        if b == b'\\' && quote == b'"' && next.is_some() {
            let (byte, used) = double_quoted_escape(&line[at + 1..]);
            out.push(byte);
            at += 1 + used;
        } else if b == b'\\' && quote == b'\'' && next == Some(b'\'') {
            out.push(b'\'');
            at += 2;
        } else if b == quote {
            return Some(at);
        } else {
            out.push(b);
            at += 1;
        }
    }
}

/// The byte an escape in double quotes stands for, from the bytes after its backslash (at
/// least one), and how many of them it takes.
fn double_quoted_escape(rest: &[u8]) -> (u8, usize) {
    let hex = |i: usize| rest.get(i).and_then(|&d| (d as char).to_digit(16));
    if let (b'x', Some(hi), Some(lo)) = (rest[0], hex(1), hex(2)) {
        return ((hi * 16 + lo) as u8, 3);
    }
    let byte = match rest[0] {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    };
    (byte, 1)
}

/// The header line starting at `at` (without its end) and where the next one starts. As
/// Redis reads a header (`processMultibulkBuffer`), the line ends at its first CR, which
/// takes the byte after it along, unread: the LF of a client that follows the protocol.
fn line(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let rest = &buf[at..];
    // Only a CR within the first MAX_LINE bytes counts (as before it, the line is too long).
    let window = &rest[..rest.len().min(MAX_LINE)];
    match window.iter().position(|&b| b == b'\r') {
        Some(cr) if cr + 1 < rest.len() => Ok(Some((&rest[..cr], at + cr + 2))),
        Some(_) => Ok(None),
        None if rest.len() > MAX_LINE => Err(ProtocolError(b"header line too long")),
        None => Ok(None),
    }
}

/// A strict decimal integer, as Redis reads one (`string2ll`): an optional '-', then digits,
/// with no leading zero ("0" alone, never "-0" or "007"), within i64.
pub fn integer(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    // A leading zero is a zero alone: not after '-', not before another digit.
    if digits.is_empty() || digits.len() > 19 || (digits[0] == b'0' && text.len() > 1) {
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

#[cfg(test)]
mod tests {
    use super::integer;

    #[test]
    fn integers_read_as_redis_reads_them() {
        let cases: [(&[u8], Option<i64>); 14] = [
            (b"0", Some(0)),
            (b"42", Some(42)),
            (b"-7", Some(-7)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"-9223372036854775809", None),
            (b"007", None),
            (b"-0", None),
            (b"-01", None),
            (b"+1", None),
            (b" 1", None),
            (b"-", None),
            (b"", None),
        ];
        for (text, want) in cases {
            assert_eq!(integer(text), want, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
