//! SCAN's arguments, read as redis-server 7.0.15 reads them, and its cursor. The cursor
//! names a shard (a core) and a place in that shard's table: each call walks the table from
//! there, as Redis' `dictScan` walks its buckets, until it has taken COUNT keys (before MATCH
//! filters them) or looked at ten times as many buckets, and answers with the cursor of
//! where it stopped, the next shard's start after the shard's last bucket, and 0 after the
//! last shard's. Deletes and writes leave the other entries where they are, so a key present
//! for the whole iteration is met once its bucket is reached, as Redis promises; a table
//! that grows or rehashes moves its entries, and the cursor carries the table's layout
//! epoch (`Store::layout_epoch`) so that a cursor from before the move starts its shard
//! again (keys may come twice, which Redis allows too). Once only: a cursor that started its
//! shard again and meets another move gets the rest of the shard, all of its keys, in that
//! one call. Writers adding keys faster than a scan reads them would otherwise move the
//! table before every pass could end, and the scan would never end; this way a shard takes
//! two passes and one call at most, and a scan ends however fast the tables grow.
//!
//! HSCAN, SSCAN and ZSCAN walk a collection's table ([`ScanTable`]) the same way, with the
//! same cursor for a store of one shard, and so promise the same: an element present for
//! the whole scan is returned at least once, however the collection grows or shrinks in
//! between (twice or more if its table moved); a collection Redis keeps small (a listpack,
//! an intset) is answered whole, with cursor 0, in one call, as Redis answers it.

use std::ops::Deref;

use hashbrown::HashTable;

use super::replies;
use super::resp::integer;

/// One SCAN call, its arguments checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan<'a> {
    /// The cursor as the client sent it ([`Cursor::decode`] reads it).
    pub cursor: u64,
    /// COUNT (10 without one, as in Redis): how many keys a call takes before MATCH.
    pub count: u64,
    /// MATCH's pattern (`*` without one).
    pub pattern: &'a [u8],
    /// TYPE's type name as given (the last, if given twice); `None` without TYPE.
    pub only: Option<&'a [u8]>,
}

/// Redis' COUNT when none is given.
const DEFAULT_COUNT: u64 = 10;

const INVALID_CURSOR: &str = "ERR invalid cursor";
const SYNTAX: &str = "ERR syntax error";
const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";

/// Reads `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]` (`args` after the name, at
/// least one): the cursor first, then the options in order, the first bad one's error
/// winning; an option given twice counts its last.
pub fn parse<'a>(args: &[&'a [u8]]) -> Result<Scan<'a>, &'static str> {
    let (cursor, options) = args.split_first().ok_or(SYNTAX)?;
    parse_options(parse_cursor(cursor)?, options, true)
}

/// A cursor as Redis reads it, or its error.
pub fn parse_cursor(text: &[u8]) -> Result<u64, &'static str> {
    cursor_value(text).ok_or(INVALID_CURSOR)
}

/// Reads the options after the cursor `cursor` (`[MATCH pattern] [COUNT n]`, and `[TYPE
/// type]` if `with_type`: Redis takes it for SCAN alone, and a syntax error elsewhere).
pub fn parse_options<'a>(cursor: u64, mut options: &[&'a [u8]], with_type: bool) -> Result<Scan<'a>, &'static str> {
    let mut scan = Scan { cursor, count: DEFAULT_COUNT, pattern: b"*", only: None };
    while let Some((option, rest)) = options.split_first() {
        let [value, rest @ ..] = rest else { return Err(SYNTAX) };
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        if is(b"count") {
            match integer(value) {
                Some(count @ 1..) => scan.count = count.unsigned_abs(),
                Some(_) => return Err(SYNTAX),
                None => return Err(NOT_AN_INTEGER),
            }
        } else if is(b"match") {
            scan.pattern = value;
        } else if is(b"type") && with_type {
            scan.only = Some(value);
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

/// Where a scan is: the shard, the bucket of its table to look at next, the table's layout
/// epoch when the cursor was given (the low 16 bits: a cursor 65,536 moves old is taken for
/// a current one, which no scan lives to see), and whether this pass over the shard is its
/// second, the first cut short by a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub shard: usize,
    pub position: u64,
    pub epoch: u16,
    pub restarted: bool,
}

impl Cursor {
    /// The start of shard `shard`'s table.
    pub fn start(shard: usize) -> Cursor {
        Cursor { shard, position: 0, epoch: 0, restarted: false }
    }

    /// The cursor a client sent, for a store of `shards` shards: any number is one (a
    /// position past the table ends the shard), so a made-up cursor cannot go wrong.
    pub fn decode(raw: u64, shards: usize) -> Cursor {
        let shards = shards.max(1) as u64;
        let rest = raw / shards;
        let restarted = rest >> 16 & 1 == 1;
        Cursor { shard: (raw % shards) as usize, position: rest >> 17, epoch: rest as u16, restarted }
    }

    /// The number the client gets: 0 only for the start of shard 0, which is where a scan
    /// starts and never a place it stops at. A table's buckets are far fewer than 2^40, so
    /// the position, shifted and multiplied by the shards, fits.
    pub fn encode(self, shards: usize) -> u64 {
        let rest = self.position << 17 | u64::from(self.restarted) << 16 | u64::from(self.epoch);
        rest * shards as u64 + self.shard as u64
    }
}

/// The head of SCAN's reply: a two-element array whose first element is the `next` cursor,
/// as a bulk string; the array of keys follows.
pub fn reply_head(out: &mut Vec<u8>, next: u64) {
    replies::array(out, 2);
    replies::bulk(out, next.to_string().as_bytes());
}

/// HSCAN's, SSCAN's and ZSCAN's reply for a key that does not exist: cursor 0, no element.
pub fn empty_reply(out: &mut Vec<u8>) {
    reply_head(out, 0);
    replies::array(out, 0);
}

/// A hashbrown table that counts the moves of its entries (its layout epoch, as the store
/// counts its own), so that a collection's scan walks its buckets with a [`Cursor`] as SCAN
/// walks a shard's. Reads go to the table (`Deref`); the writes are these methods, which
/// either move no entry (removals) or note the move ([`ScanTable::insert_unique`]).
#[derive(Debug)]
pub struct ScanTable<T> {
    table: HashTable<T>,
    epoch: u16,
}

impl<T> Default for ScanTable<T> {
    fn default() -> ScanTable<T> {
        ScanTable { table: HashTable::new(), epoch: 0 }
    }
}

impl<T> Deref for ScanTable<T> {
    type Target = HashTable<T>;

    fn deref(&self) -> &HashTable<T> {
        &self.table
    }
}

impl<'a, T> IntoIterator for &'a ScanTable<T> {
    type Item = &'a T;
    type IntoIter = hashbrown::hash_table::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.table.iter()
    }
}

impl<T> ScanTable<T> {
    /// An empty table with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> ScanTable<T> {
        ScanTable { table: HashTable::with_capacity(capacity), epoch: 0 }
    }

    /// Files `value`, not in the table yet. hashbrown moves the entries only when an insert
    /// finds no room left (it grows, or rehashes in place), and leaves room after it: that
    /// is a new epoch (`Store::insert_entry` reasons the same way).
    pub fn insert_unique(&mut self, hash: u64, value: T, hasher: impl Fn(&T) -> u64) {
        let full = self.table.capacity() == self.table.len();
        self.table.insert_unique(hash, value, hasher);
        if full && self.table.capacity() > self.table.len() {
            self.epoch = self.epoch.wrapping_add(1);
        }
    }

    /// The entry `eq` picks, to change in place (never its hash).
    pub fn find_mut(&mut self, hash: u64, eq: impl FnMut(&T) -> bool) -> Option<&mut T> {
        self.table.find_mut(hash, eq)
    }

    /// Removes the entry `eq` picks, if any (the others stay where they are).
    pub fn remove(&mut self, hash: u64, eq: impl FnMut(&T) -> bool) -> Option<T> {
        self.table.find_entry(hash, eq).ok().map(|entry| entry.remove().0)
    }

    /// Removes the entry in bucket `at`, if any.
    pub fn remove_bucket(&mut self, at: usize) -> Option<T> {
        self.table.get_bucket_entry(at).ok().map(|entry| entry.remove().0)
    }

    /// One call of a scan from the client's cursor `raw` ([`walk`]): the entries of the
    /// buckets walked and the cursor to go on from (0 at the end); a restarted pass that
    /// meets another move takes every entry, and ends.
    pub fn scan(&self, raw: u64, count: u64) -> (u64, Vec<&T>) {
        match walk(&self.table, self.epoch, Cursor::decode(raw, 1), count) {
            Walk::Whole => (0, self.table.iter().collect()),
            Walk::Part(found, next) => (next.map_or(0, |cursor| cursor.encode(1)), found),
        }
    }
}

/// What one call of a scan takes from a table: SCAN's over a shard's keys (`store.rs`),
/// HSCAN's, SSCAN's and ZSCAN's over a collection's ([`ScanTable`]).
pub enum Walk<'a, T> {
    /// A restarted pass met another move of the entries: the caller takes every entry, and
    /// the table's scan ends.
    Whole,
    /// The entries of the buckets walked, and the cursor to go on from (`None` at the
    /// table's end).
    Part(Vec<&'a T>, Option<Cursor>),
}

/// Walks `table` (whose moves `epoch` counts) from `cursor`'s bucket, or from the first if
/// the table moved its entries since the cursor was given (the pass restarts): `count`
/// entries, or as many as ten times as many buckets hold if the table is sparse there, as
/// Redis' SCAN bounds its work.
pub fn walk<T>(table: &HashTable<T>, epoch: u16, cursor: Cursor, count: u64) -> Walk<'_, T> {
    let buckets = table.num_buckets();
    let moved = cursor.position != 0 && cursor.epoch != epoch;
    if moved && cursor.restarted {
        return Walk::Whole;
    }
    let mut at = if moved { 0 } else { cursor.position.min(buckets as u64) as usize };
    let count = count.min(buckets as u64) as usize;
    let (mut looked, mut found) = (0, Vec::new());
    while at < buckets && found.len() < count && looked < count.saturating_mul(10) {
        found.extend(table.get_bucket(at));
        (at, looked) = (at + 1, looked + 1);
    }
    let restarted = cursor.restarted || moved;
    let next = (at < buckets).then_some(Cursor { shard: cursor.shard, position: at as u64, epoch, restarted });
    Walk::Part(found, next)
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
        let all = Scan { cursor: 0, count: 10, pattern: b"*", only: None };
        assert_eq!(scan(&["0"]), Ok(all));
        assert_eq!(
            scan(&["1", "MATCH", "a*", "count", "2147483648", "Type", "STRING"]),
            Ok(Scan { cursor: 1, count: 2147483648, pattern: b"a*", only: Some(b"STRING") })
        );
        assert_eq!(scan(&["0", "match", "a*", "match", "b*"]), Ok(Scan { pattern: b"b*", ..all }));
        assert_eq!(scan(&["0", "type", "string", "type", "hash"]), Ok(Scan { only: Some(b"hash"), ..all }));
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
    fn cursors_round_trip_and_any_number_is_one() {
        for shards in [1, 2, 3, 64] {
            for cursor in [
                Cursor::start(0),
                Cursor::start(shards - 1),
                Cursor { shard: shards - 1, position: 1, epoch: 0, restarted: true },
                Cursor { shard: 0, position: 1 << 38, epoch: u16::MAX, restarted: false },
            ] {
                assert_eq!(Cursor::decode(cursor.encode(shards), shards), cursor, "{shards} shards");
            }
            assert_eq!(Cursor::start(0).encode(shards), 0, "the start is 0");
            assert!(Cursor::decode(u64::MAX, shards).shard < shards, "a made-up cursor names a shard");
        }
        assert_eq!(Cursor::decode(7, 2), Cursor { shard: 1, position: 0, epoch: 3, restarted: false });
        assert_eq!(Cursor::decode(7 + (1 << 17), 2), Cursor { shard: 1, position: 0, epoch: 3, restarted: true });
    }
}
