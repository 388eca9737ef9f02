//! Lexicographic ranges (ZRANGE BYLEX, ZRANGEBYLEX, ZREVRANGEBYLEX, ZLEXCOUNT,
//! ZREMRANGEBYLEX), meant by Redis for members of one score, ordered then by their bytes.
//!
//! On members of unequal scores Redis' answer is the walk its encoding makes: a small
//! sorted set's (a listpack: up to 128 members of up to 64 bytes) from the first member at
//! or past min, taking while at or before max, after a check of the first and last members;
//! a large one's depends on its skip list's random levels. The small walk is what is done
//! here, so the answer is Redis' whenever Redis' is fixed. When the first and last scores
//! are equal (all are), the walk starts where the tree's range does: a descent, not a scan.

use std::ops::Bound;

use super::{Key, Score, SortedSet};

/// One end of a lex range: `-` (below every member), `+` (above every member), or a member
/// with `[` (included) or `(` (excluded).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum LexEnd {
    Lowest,
    Highest,
    Member { bytes: Vec<u8>, exclusive: bool },
}

/// The members a lex range takes, as `min max` give them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LexRange {
    min: LexEnd,
    max: LexEnd,
}

/// Reads one end as Redis' `zslParseLexRangeItem` does: `+` or `-` alone (or before a NUL,
/// where Redis' C string ends), or `[` or `(` then the member's bytes.
fn lex_end(text: &[u8]) -> Option<LexEnd> {
    let alone = |rest: &[u8]| rest.first().is_none_or(|&b| b == 0);
    match text.split_first()? {
        (b'+', rest) if alone(rest) => Some(LexEnd::Highest),
        (b'-', rest) if alone(rest) => Some(LexEnd::Lowest),
        (b'[', member) => Some(LexEnd::Member { bytes: member.to_vec(), exclusive: false }),
        (b'(', member) => Some(LexEnd::Member { bytes: member.to_vec(), exclusive: true }),
        _ => None,
    }
}

/// Orders a member against an end, as Redis' `sdscmplex` does.
fn compare(member: &[u8], end: &LexEnd) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match end {
        LexEnd::Lowest => Greater,
        LexEnd::Highest => Less,
        LexEnd::Member { bytes, .. } => member.cmp(bytes),
    }
}

fn exclusive(end: &LexEnd) -> bool {
    // `-` and `+` are exclusive in Redis: no member equals them, so it shows only where two
    // ends are compared.
    !matches!(end, LexEnd::Member { exclusive: false, .. })
}

impl LexRange {
    /// Reads `min` and `max`; `None` if either is not a range item.
    pub(super) fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange { min: lex_end(min)?, max: lex_end(max)? })
    }

    /// Whether `member` is at or past min.
    fn at_or_past_min(&self, member: &[u8]) -> bool {
        match compare(member, &self.min) {
            std::cmp::Ordering::Equal => !exclusive(&self.min),
            order => order.is_gt(),
        }
    }

    /// Whether `member` is at or before max.
    fn at_or_before_max(&self, member: &[u8]) -> bool {
        match compare(member, &self.max) {
            std::cmp::Ordering::Equal => !exclusive(&self.max),
            order => order.is_lt(),
        }
    }

    /// Whether min is past max, or they meet and one is exclusive: Redis' check that the
    /// range can take nothing (`-` meeting `-` included), made before any member is.
    fn takes_nothing(&self) -> bool {
        let order = match (&self.min, &self.max) {
            (LexEnd::Lowest, LexEnd::Lowest) | (LexEnd::Highest, LexEnd::Highest) => std::cmp::Ordering::Equal,
            (LexEnd::Lowest, _) | (_, LexEnd::Highest) => std::cmp::Ordering::Less,
            (LexEnd::Highest, _) | (_, LexEnd::Lowest) => std::cmp::Ordering::Greater,
            (LexEnd::Member { bytes: min, .. }, LexEnd::Member { bytes: max, .. }) => min.cmp(max),
        };
        order.is_gt() || (order.is_eq() && (exclusive(&self.min) || exclusive(&self.max)))
    }

    /// The tree's keys at `score` from min on (`up`) or up to max: where a set of one score
    /// starts its walk.
    fn keys_at(&self, score: f64, up: bool) -> (Bound<Key>, Bound<Key>) {
        let key = |bytes: &[u8]| (Score(score), bytes.to_vec());
        match (up, &self.min, &self.max) {
            (true, LexEnd::Member { bytes, exclusive: true }, _) => (Bound::Excluded(key(bytes)), Bound::Unbounded),
            (true, LexEnd::Member { bytes, .. }, _) => (Bound::Included(key(bytes)), Bound::Unbounded),
            (false, _, LexEnd::Member { bytes, exclusive: true }) => (Bound::Unbounded, Bound::Excluded(key(bytes))),
            (false, _, LexEnd::Member { bytes, .. }) => (Bound::Unbounded, Bound::Included(key(bytes))),
            // `-` as min, `+` as max: from the end; the others take nothing (checked before).
            _ => (Bound::Unbounded, Bound::Unbounded),
        }
    }
}

impl SortedSet {
    /// The members `range` takes, walked as a small Redis sorted set walks them (see the
    /// module's docs): from the first at or past min (REV: from the last at or before max),
    /// none if that one is out of range, `offset` skipped, then up to `count` (negative:
    /// all) while in range. A negative offset takes none.
    pub(super) fn lex_taken(&self, range: &LexRange, rev: bool, offset: i64, count: i64) -> Vec<&Key> {
        let (Some(first), Some(last)) = (self.ordered.first(), self.ordered.last()) else { return Vec::new() };
        if range.takes_nothing() || !range.at_or_past_min(&last.1) || !range.at_or_before_max(&first.1) {
            return Vec::new();
        }
        let Ok(offset) = usize::try_from(offset) else { return Vec::new() };
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let one_score = first.0 == last.0;
        // Where the walk starts: with one score the tree finds it; else it is looked for.
        let walk: Box<dyn Iterator<Item = &Key>> = match (rev, one_score) {
            (false, true) => Box::new(self.ordered.range(range.keys_at(first.0 .0, true))),
            (false, false) => Box::new(self.ordered.iter().skip_while(|(_, m)| !range.at_or_past_min(m))),
            (true, true) => Box::new(self.ordered.range(range.keys_at(first.0 .0, false)).rev()),
            (true, false) => Box::new(self.ordered.iter().rev().skip_while(|(_, m)| !range.at_or_before_max(m))),
        };
        let in_range = |member: &[u8]| if rev { range.at_or_past_min(member) } else { range.at_or_before_max(member) };
        let mut walk = walk.peekable();
        if !walk.peek().is_some_and(|(_, m)| in_range(m)) {
            return Vec::new();
        }
        walk.skip(offset).take(count).take_while(|(_, m)| in_range(m)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(bytes: &str, exclusive: bool) -> LexEnd {
        LexEnd::Member { bytes: bytes.as_bytes().to_vec(), exclusive }
    }

    /// Each as redis-server 7.0.15 read it, or refused it ("min or max not valid string
    /// range item").
    #[test]
    fn ends_are_read_as_redis_reads_them() {
        assert_eq!(lex_end(b"-"), Some(LexEnd::Lowest));
        assert_eq!(lex_end(b"+"), Some(LexEnd::Highest));
        assert_eq!(lex_end(b"+\0x"), Some(LexEnd::Highest), "a C string ends at its NUL");
        assert_eq!(lex_end(b"[a b"), Some(member("a b", false)));
        assert_eq!(lex_end(b"(a"), Some(member("a", true)));
        assert_eq!(lex_end(b"["), Some(member("", false)));
        assert_eq!(lex_end(b"("), Some(member("", true)));
        for refused in [&b""[..], b"a", b"+x", b"--", b" [a"] {
            assert_eq!(lex_end(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn ranges_that_take_nothing_are_told_before_any_member() {
        let range = |min: &str, max: &str| LexRange::parse(min.as_bytes(), max.as_bytes()).unwrap();
        for empty in [("+", "-"), ("-", "-"), ("+", "+"), ("[b", "[a"), ("(a", "[a"), ("[a", "(a"), ("[a", "-")] {
            assert!(range(empty.0, empty.1).takes_nothing(), "{empty:?}");
        }
        for some in [("-", "+"), ("[a", "[a"), ("[a", "(b"), ("-", "[a"), ("[", "+")] {
            assert!(!range(some.0, some.1).takes_nothing(), "{some:?}");
        }
    }
}
