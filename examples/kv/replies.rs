//! Replies, written straight into a connection's output (no reply values in between), in
//! the protocol it speaks (RESP2, or RESP3 once it sent `HELLO 3`), and the combining of
//! several shards' encoded replies into one (MGET, DEL, DBSIZE, INFO, CLIENT LIST).
//!
//! What kv answers differs between the two only where redis-server 7.0.15's answers do: a
//! null is `_` (not `$-1`), a map (HELLO, CONFIG GET, MEMORY STATS, COMMAND DOCS) is `%n`
//! pairs (not an array of `2n`), and a text for people to read (INFO, CLIENT LIST and INFO,
//! MEMORY DOCTOR) is a verbatim string, `=len` then `txt:` and the text (not a bulk string).

/// The protocol a connection speaks: RESP2 until HELLO picks another (`session.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

impl Protocol {
    /// Its version, as HELLO names it.
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// How the replies of one request's operations make the client's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// The one operation's reply.
    Single,
    /// The sum of integer replies (DEL, EXISTS with several keys, DBSIZE).
    Sum,
    /// An array of the replies (MGET).
    Array,
    /// `+OK` once every operation said OK (MSET, FLUSHALL).
    AllOk,
    /// INFO's sections asked for, of the Redis sections summed from the bulk strings (each
    /// shard's INFO section) and those strings (`info.rs`).
    Info(super::info::Sections),
    /// One array of every array's elements, in order (KEYS).
    Flatten,
    /// MEMORY STATS from each shard's keys and bytes (`memory.rs`).
    MemoryStats,
    /// MEMORY DOCTOR, likewise.
    MemoryDoctor,
    /// One of the shards' keys (each shard answered with one of its own), picked at random
    /// among the shards that have one, evenly rather than by their key counts; nil if none
    /// has (RANDOMKEY).
    AnyOne,
    /// `+OK` if any shard's count is more than 0, else `-ERR No such client` (CLIENT KILL's
    /// old form, `kill.rs`).
    Killed,
    /// Every core's lines of CLIENT LIST, as one bulk string in order (`clients.rs`).
    ClientList,
    /// One array of the arrays' bulk strings, each once, in the order first seen (PUBSUB
    /// CHANNELS: a channel may have subscribers on several cores).
    Distinct,
    /// How many bulk strings the arrays hold, each counted once (PUBSUB NUMPAT).
    DistinctCount,
    /// PUBSUB NUMSUB: `[channel, count]` pairs, the given number of cores' replies in a row
    /// for each channel, as one flat array of each channel and its counts' sum.
    NumSub(usize),
}

/// `+text`
pub fn status(out: &mut Vec<u8>, text: &str) {
    line(out, b'+', text.as_bytes());
}

/// `+OK`, written in one piece (SET's reply: `status` looks at each byte).
#[inline]
pub fn ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b"+OK\r\n");
}

/// `-text`; CR and LF inside would end it early, so they become spaces.
pub fn error(out: &mut Vec<u8>, text: &str) {
    line(out, b'-', text.as_bytes());
}

/// `-text` for a text that quotes a client's bytes (see [`c_text`]): not necessarily UTF-8;
/// CR and LF become spaces, as Redis makes them.
pub fn error_bytes(out: &mut Vec<u8>, text: &[u8]) {
    line(out, b'-', text);
}

/// How many bytes of a client's name Redis quotes in an error (`%.128s`): of an unknown
/// command's or subcommand's name, and of an unknown command's arguments together.
pub const QUOTED: usize = 128;

/// A client's bytes as Redis quotes them in an error, through C's `%.*s`: at most `max`
/// bytes, and none from the first NUL on (Redis' strings are NUL-terminated for printf).
/// Other bytes, controls and invalid UTF-8 included, go out as they came.
pub fn c_text(bytes: &[u8], max: usize) -> &[u8] {
    let end = bytes.iter().take(max).position(|&b| b == 0).unwrap_or(bytes.len().min(max));
    &bytes[..end]
}

/// A HELP subcommand's answer: an array of `lines`, each a status.
pub fn help(out: &mut Vec<u8>, lines: &[&str]) {
    array(out, lines.len());
    lines.iter().for_each(|line| status(out, line));
}

/// `:n`
pub fn int(out: &mut Vec<u8>, n: i64) {
    number(out, b':', n);
}

/// `$len`, the bytes, CRLF. `#[inline]`, as `hash::hash` is, for GET's path.
#[inline]
pub fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    number(out, b'$', bytes.len() as i64);
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// No value: `$-1` in RESP2, `_` in RESP3. Each written whole, a copy of known length (one
/// slice of either length cost a GET of a missing key a call to memcpy).
#[inline]
pub fn null(out: &mut Vec<u8>, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => out.extend_from_slice(b"$-1\r\n"),
        Protocol::Resp3 => out.extend_from_slice(b"_\r\n"),
    }
}

/// A map of `pairs` pairs, each a key's reply and then its value's, to follow: `%pairs` in
/// RESP3; in RESP2, an array of them one after another.
pub fn map(out: &mut Vec<u8>, pairs: usize, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => array(out, 2 * pairs),
        Protocol::Resp3 => number(out, b'%', pairs as i64),
    }
}

/// A text for people to read (INFO's, CLIENT LIST's): in RESP3 a verbatim string of format
/// `txt`, as Redis marks its texts, in RESP2 a bulk string.
pub fn verbatim(out: &mut Vec<u8>, text: &[u8], protocol: Protocol) {
    verbatim_parts(out, &[text], protocol);
}

/// [`verbatim`] of `parts` joined, written without joining them first (INFO's sections).
pub fn verbatim_parts(out: &mut Vec<u8>, parts: &[&[u8]], protocol: Protocol) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    match protocol {
        Protocol::Resp2 => number(out, b'$', len as i64),
        Protocol::Resp3 => {
            number(out, b'=', (VERBATIM_TXT.len() + len) as i64);
            out.extend_from_slice(VERBATIM_TXT);
        }
    }
    parts.iter().for_each(|p| out.extend_from_slice(p));
    out.extend_from_slice(b"\r\n");
}

/// A verbatim string's format and the colon after it, before its text.
const VERBATIM_TXT: &[u8] = b"txt:";

/// `*n`, to be followed by `n` replies.
pub fn array(out: &mut Vec<u8>, n: usize) {
    number(out, b'*', n as i64);
}

/// The head of a set of `n` members, to be followed by them (SMEMBERS, SPOP with a count):
/// `~n` in RESP3; in RESP2, an array.
pub fn set(out: &mut Vec<u8>, n: usize, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => array(out, n),
        Protocol::Resp3 => number(out, b'~', n as i64),
    }
}

/// The head of a pub/sub frame of `n` parts (a message, a (un)subscription's confirmation):
/// a push (`>n`) in RESP3; in RESP2, an array.
pub fn push(out: &mut Vec<u8>, n: usize, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => array(out, n),
        Protocol::Resp3 => number(out, b'>', n as i64),
    }
}

/// No array (LPOP and RPOP with a count, on no key): `*-1` in RESP2, `_` in RESP3.
pub fn null_array(out: &mut Vec<u8>, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => out.extend_from_slice(b"*-1\r\n"),
        Protocol::Resp3 => null(out, protocol),
    }
}

/// A floating-point number written as `text` (a sorted set's score): a double (`,text`) in
/// RESP3; in RESP2, a bulk string.
pub fn double(out: &mut Vec<u8>, text: &[u8], protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => bulk(out, text),
        Protocol::Resp3 => line(out, b',', text),
    }
}

/// `kind`, the decimal `n`, CRLF; digits written by hand (`write!` costs more than the rest
/// of a GET's reply).
fn number(out: &mut Vec<u8>, kind: u8, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.push(kind);
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

fn line(out: &mut Vec<u8>, kind: u8, text: &[u8]) {
    out.push(kind);
    out.extend(text.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    out.extend_from_slice(b"\r\n");
}

/// Appends to `out` the one reply that `parts` (each one encoded reply, from this server's
/// own encoder, in `protocol`) make, as `how` says, in `protocol`. Outside an array, the
/// first error wins.
pub fn combine<'a>(
    how: Combine,
    protocol: Protocol,
    parts: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
    out: &mut Vec<u8>,
) {
    if how != Combine::Array {
        if let Some(err) = parts.clone().find(|p| p.first() == Some(&b'-')) {
            out.extend_from_slice(err);
            return;
        }
    }
    match how {
        Combine::Single => parts.for_each(|p| out.extend_from_slice(p)),
        Combine::Array => {
            array(out, parts.len());
            parts.for_each(|p| out.extend_from_slice(p));
        }
        Combine::AllOk => ok(out),
        Combine::Sum => int(out, parts.filter_map(integer_reply).sum()),
        Combine::Killed if parts.clone().filter_map(integer_reply).any(|n| n > 0) => ok(out),
        Combine::Killed => error(out, "ERR No such client"),
        Combine::Info(asked) => {
            let bodies: Vec<&[u8]> = parts.filter_map(bulk_body).collect();
            verbatim(out, &super::info::text(&bodies, asked), protocol);
        }
        Combine::ClientList => {
            let bodies: Vec<&[u8]> = parts.filter_map(bulk_body).collect();
            super::clients::join_lists(&bodies, protocol, out);
        }
        Combine::MemoryStats | Combine::MemoryDoctor => {
            let bodies: Vec<&[u8]> = parts.filter_map(bulk_body).collect();
            let write = if how == Combine::MemoryStats { super::memory::stats } else { super::memory::doctor };
            write(out, &bodies, protocol);
        }
        Combine::AnyOne => {
            // A key is a bulk string; a shard without one answered with a null.
            let found: Vec<&[u8]> = parts.filter(|p| p.first() == Some(&b'$') && !p.starts_with(b"$-1")).collect();
            match found.get(super::store::random_below(found.len())) {
                Some(key) => out.extend_from_slice(key),
                None => null(out, protocol),
            }
        }
        Combine::Distinct | Combine::DistinctCount => {
            let mut seen = std::collections::HashSet::new();
            let mut names = Vec::new();
            for (_, mut elements) in parts.filter_map(array_elements) {
                while let Some((name, rest)) = split_bulk(elements) {
                    elements = rest;
                    if seen.insert(name) {
                        names.push(name);
                    }
                }
            }
            if how == Combine::DistinctCount {
                return int(out, names.len() as i64);
            }
            array(out, names.len());
            names.iter().for_each(|name| bulk(out, name));
        }
        Combine::NumSub(cores) => {
            let pairs: Vec<(&[u8], i64)> = parts
                .filter_map(|part| {
                    let (name, count) = split_bulk(array_elements(part)?.1)?;
                    Some((name, integer_reply(count)?))
                })
                .collect();
            array(out, 2 * pairs.len() / cores.max(1));
            for channel in pairs.chunks(cores.max(1)) {
                bulk(out, channel[0].0);
                int(out, channel.iter().map(|(_, n)| n).sum());
            }
        }
        Combine::Flatten => {
            let arrays: Vec<(usize, &[u8])> = parts.filter_map(array_elements).collect();
            array(out, arrays.iter().map(|(n, _)| n).sum());
            arrays.iter().for_each(|(_, elements)| out.extend_from_slice(elements));
        }
    }
}

/// The `n` of `:n\r\n`.
fn integer_reply(reply: &[u8]) -> Option<i64> {
    super::resp::integer(reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?)
}

/// The `n` and the encoded elements of `*n\r\nelements`.
fn array_elements(reply: &[u8]) -> Option<(usize, &[u8])> {
    let rest = reply.strip_prefix(b"*")?;
    let header_end = rest.iter().position(|&b| b == b'\r')?;
    let n = super::resp::integer(&rest[..header_end])?;
    Some((usize::try_from(n).ok()?, rest.get(header_end + 2..)?))
}

/// The bytes of the bulk string at the front of `replies`, and the replies after it.
fn split_bulk(replies: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = replies.strip_prefix(b"$")?;
    let header_end = rest.iter().position(|&b| b == b'\r')?;
    let len = usize::try_from(super::resp::integer(&rest[..header_end])?).ok()?;
    let body = rest.get(header_end + 2..)?;
    Some((body.get(..len)?, body.get(len + 2..)?))
}

/// The bytes of `$len\r\nbytes\r\n`.
fn bulk_body(reply: &[u8]) -> Option<&[u8]> {
    split_bulk(reply).map(|(body, _)| body)
}

#[cfg(test)]
mod tests {
    use super::super::info::Sections;
    use super::*;

    fn encoded(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out);
        out
    }

    #[test]
    fn numbers_encode_as_redis_does() {
        for n in [0, 7, -1, 42, 1_000_000, i64::MAX, i64::MIN] {
            assert_eq!(encoded(|o| int(o, n)), format!(":{n}\r\n").into_bytes());
        }
    }

    #[test]
    fn replies_combine_as_their_command_says() {
        let (one, two, nil_, ok) = (b":1\r\n".as_slice(), b":2\r\n".as_slice(), b"$-1\r\n".as_slice(), b"+OK\r\n");
        let err = b"-ERR boom\r\n".as_slice();
        assert_eq!(encoded(|o| combine(Combine::Sum, Protocol::Resp2, [one, two].into_iter(), o)), b":3\r\n");
        assert_eq!(encoded(|o| combine(Combine::Sum, Protocol::Resp2, [one, err].into_iter(), o)), err);
        assert_eq!(
            encoded(|o| combine(Combine::Array, Protocol::Resp2, [one, nil_, err].into_iter(), o)),
            b"*3\r\n:1\r\n$-1\r\n-ERR boom\r\n"
        );
        assert_eq!(
            encoded(|o| combine(Combine::AllOk, Protocol::Resp2, [ok.as_slice(), ok].into_iter(), o)),
            b"+OK\r\n"
        );
        let (a, b) = (b"$2\r\nab\r\n".as_slice(), b"$3\r\nc\r\n\r\n".as_slice());
        let info = encoded(|o| combine(Combine::Info(Sections::ALL), Protocol::Resp2, [a, b].into_iter(), o));
        assert!(
            info.ends_with(b"\r\n\r\nab\r\nc\r\n\r\n") && info.starts_with(b"$"),
            "each core's section after Redis'"
        );
        let (two_keys, none, one_key) =
            (b"*2\r\n$1\r\na\r\n$1\r\nb\r\n".as_slice(), b"*0\r\n".as_slice(), b"*1\r\n$2\r\ncd\r\n");
        assert_eq!(
            encoded(|o| combine(Combine::Flatten, Protocol::Resp2, [two_keys, none, one_key].into_iter(), o)),
            b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$2\r\ncd\r\n"
        );
        assert_eq!(encoded(|o| error(o, "bad\r\nline")), b"-bad  line\r\n");
    }

    /// The shapes RESP3 changes, byte for byte as redis-server 7.0.15 writes them, and the
    /// RESP2 ones they replace.
    #[test]
    fn resp3_shapes_encode_as_redis_does() {
        let (two, three) = (Protocol::Resp2, Protocol::Resp3);
        assert_eq!(encoded(|o| null(o, two)), b"$-1\r\n");
        assert_eq!(encoded(|o| null(o, three)), b"_\r\n");
        assert_eq!(encoded(|o| map(o, 7, two)), b"*14\r\n");
        assert_eq!(encoded(|o| map(o, 7, three)), b"%7\r\n");
        assert_eq!(encoded(|o| map(o, 0, three)), b"%0\r\n");
        assert_eq!(encoded(|o| verbatim(o, b"a\nb", two)), b"$3\r\na\nb\r\n");
        assert_eq!(encoded(|o| verbatim(o, b"a\nb", three)), b"=7\r\ntxt:a\nb\r\n");
        assert_eq!(encoded(|o| verbatim(o, b"", three)), b"=4\r\ntxt:\r\n", "CLIENT LIST of nobody");
        assert_eq!(encoded(|o| verbatim_parts(o, &[b"ab", b"", b"c"], three)), b"=7\r\ntxt:abc\r\n");
    }

    /// What the asking core makes of the shards' parts for a RESP3 connection: the parts
    /// are in its protocol already (an array's nulls too); the texts and maps it writes are
    /// RESP3's.
    #[test]
    fn replies_combine_in_the_connections_protocol() {
        let three = Protocol::Resp3;
        let (value, null_) = (b"$1\r\nv\r\n".as_slice(), b"_\r\n".as_slice());
        assert_eq!(
            encoded(|o| combine(Combine::Array, three, [value, null_].into_iter(), o)),
            b"*2\r\n$1\r\nv\r\n_\r\n"
        );
        assert_eq!(encoded(|o| combine(Combine::AnyOne, three, [null_, null_].into_iter(), o)), b"_\r\n");
        assert_eq!(encoded(|o| combine(Combine::AnyOne, three, [null_, value].into_iter(), o)), value);
        let (a, b) = (b"$2\r\nab\r\n".as_slice(), b"$3\r\nc\r\n\r\n".as_slice());
        let info = String::from_utf8(encoded(|o| combine(Combine::Info(Sections::ALL), three, [a, b].into_iter(), o)))
            .unwrap();
        let (len, text) = info.strip_prefix('=').and_then(|i| i.split_once("\r\n")).unwrap();
        assert!(text.starts_with("txt:# Server\r\n") && text.ends_with("\r\n\r\nab\r\nc\r\n\r\n"), "{info}");
        assert_eq!(len.parse::<usize>().unwrap(), text.len() - 2);
        let stats = b"$27\r\nkeys:2\r\ndataset_bytes:100\r\n\r\n".as_slice();
        let memory =
            String::from_utf8(encoded(|o| combine(Combine::MemoryStats, three, [stats].into_iter(), o))).unwrap();
        assert!(memory.starts_with("%4\r\n$15\r\ntotal.allocated\r\n:"), "{memory}");
        assert!(memory.ends_with(
            "$10\r\nkeys.count\r\n:2\r\n$18\r\nkeys.bytes-per-key\r\n:50\r\n$13\r\ndataset.bytes\r\n:100\r\n"
        ));
        let doctor = encoded(|o| combine(Combine::MemoryDoctor, three, [stats].into_iter(), o));
        assert!(doctor.starts_with(b"=272\r\ntxt:Hi Sam, this instance is empty"), "Redis' length for the same text");
    }
}
