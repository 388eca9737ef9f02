//! SCAN's arguments, read as redis-server 7.0.15 reads them. The cursor names the shard
//! (the core) to scan next: each call answers with every key of that shard that matches,
//! and the next shard's number, or 0 after the last. A key present for the whole iteration
//! is in its shard when that shard is scanned, so it is returned, as Redis promises; COUNT
//! is a hint in Redis, and here a shard's matches come whole (one pass over its table, as
//! KEYS makes).

use super::replies;
use super::resp::integer;

/// One SCAN call, its arguments checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan<'a> {
    /// The cursor: the shard to scan.
    pub cursor: u64,
    /// MATCH's pattern (`*` without one).
    pub pattern: &'a [u8],
    /// Whether TYPE lets strings through (no TYPE, or TYPE string): every key here is one,
    /// so any other type matches nothing.
    pub strings: bool,
}

const INVALID_CURSOR: &str = "ERR invalid cursor";
const SYNTAX: &str = "ERR syntax error";
const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";

/// Reads `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]` (`args` after the name, at
/// least one): the cursor first, then the options in order, the first bad one's error
/// winning; an option given twice counts its last.
pub fn parse<'a>(args: &[&'a [u8]]) -> Result<Scan<'a>, &'static str> {
    let (cursor, mut options) = args.split_first().ok_or(SYNTAX)?;
    let mut scan = Scan { cursor: cursor_value(cursor).ok_or(INVALID_CURSOR)?, pattern: b"*", strings: true };
    while let Some((option, rest)) = options.split_first() {
        let [value, rest @ ..] = rest else { return Err(SYNTAX) };
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        if is(b"count") {
            match integer(value) {
                Some(1..) => {}
                Some(_) => return Err(SYNTAX),
                None => return Err(NOT_AN_INTEGER),
            }
        } else if is(b"match") {
            scan.pattern = value;
        } else if is(b"type") {
            scan.strings = value.eq_ignore_ascii_case(b"string");
        } else {
            return Err(SYNTAX);
        }
        options = rest;
    }
    Ok(scan)
}

/// The cursor as Redis reads it (C's `strtoul` in base 10, refusing a leading space,
/// anything after the digits, and overflow): an optional sign, then digits; a `-` negates
/// modulo 2^64, and an empty cursor is 0.
fn cursor_value(text: &[u8]) -> Option<u64> {
    let (negative, digits) = match text {
        [] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let n = digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then_some(())?;
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    Some(if negative { n.wrapping_neg() } else { n })
}

/// The cursor that follows a scan of shard `cursor` of `shards`: the next shard's, or 0
/// after the last. A cursor past the last shard (not one this server gave) ends at once.
pub fn next(cursor: u64, shards: usize) -> u64 {
    match cursor.checked_add(1) {
        Some(next) if next < shards as u64 => next,
        _ => 0,
    }
}

/// The head of SCAN's reply: a two-element array whose first element is the `next` cursor,
/// as a bulk string; the array of keys follows.
pub fn reply_head(out: &mut Vec<u8>, next: u64) {
    replies::array(out, 2);
    replies::bulk(out, next.to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(words: &[&'static str]) -> Result<Scan<'static>, &'static str> {
        let words: Vec<&'static [u8]> = words.iter().map(|w| w.as_bytes()).collect();
        parse(&words)
    }

    /// Cursors as redis-server 7.0.15 took or refused them (`SCAN cursor`).
    #[test]
    fn cursors_read_as_redis_reads_them() {
        let cases: [(&str, Option<u64>); 14] = [
            ("0", Some(0)),
            ("00", Some(0)),
            ("007", Some(7)),
            ("+5", Some(5)),
            ("-0", Some(0)),
            ("-1", Some(u64::MAX)),
            ("", Some(0)),
            ("18446744073709551615", Some(u64::MAX)),
            ("-18446744073709551615", Some(1)),
            ("18446744073709551616", None),
            ("-", None),
            (" 0", None),
            ("1.5", None),
            ("abc", None),
        ];
        for (text, want) in cases {
            assert_eq!(cursor_value(text.as_bytes()), want, "SCAN {text:?}");
        }
    }

    #[test]
    fn options_read_as_redis_reads_them() {
        let all = Scan { cursor: 0, pattern: b"*", strings: true };
        assert_eq!(scan(&["0"]), Ok(all));
        assert_eq!(
            scan(&["1", "MATCH", "a*", "count", "2147483648", "Type", "STRING"]),
            Ok(Scan { cursor: 1, pattern: b"a*", ..all })
        );
        assert_eq!(scan(&["0", "match", "a*", "match", "b*"]), Ok(Scan { pattern: b"b*", ..all }));
        assert_eq!(scan(&["0", "type", "string", "type", "hash"]), Ok(Scan { strings: false, ..all }));
        assert_eq!(scan(&["0", "type", "nosuch"]), Ok(Scan { strings: false, ..all }));
        let errors: [(&[&str], &str); 11] = [
            (&["abc", "count", "0"], INVALID_CURSOR),
            (&["0", "count", "0"], SYNTAX),
            (&["0", "count", "-1"], SYNTAX),
            (&["0", "count", "abc"], NOT_AN_INTEGER),
            (&["0", "count", "+5"], NOT_AN_INTEGER),
            (&["0", "count", "007"], NOT_AN_INTEGER),
            (&["0", "count", "9223372036854775808"], NOT_AN_INTEGER),
            (&["0", "count", "abc", "foo"], NOT_AN_INTEGER),
            (&["0", "foo", "count", "0"], SYNTAX),
            (&["0", "count"], SYNTAX),
            (&["0", "COUNT", "5", "type"], SYNTAX),
        ];
        for (words, want) in errors {
            assert_eq!(scan(words), Err(want), "SCAN {words:?}");
        }
    }

    #[test]
    fn the_cursor_walks_the_shards_then_ends() {
        assert_eq!([0, 1, 2].map(|c| next(c, 3)), [1, 2, 0]);
        assert_eq!(next(0, 1), 0, "one shard: one call");
        assert_eq!([3, u64::MAX].map(|c| next(c, 3)), [0, 0], "past the last shard");
    }
}
