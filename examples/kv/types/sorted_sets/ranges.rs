//! The sorted set commands on a range of ranks, scores or members: ZRANGE (by rank, BYSCORE
//! or BYLEX; REV, LIMIT, WITHSCORES), ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE,
//! ZRANGEBYLEX, ZREVRANGEBYLEX, ZCOUNT, ZLEXCOUNT, ZREMRANGEBYSCORE, ZREMRANGEBYRANK and
//! ZREMRANGEBYLEX, their options read in the order redis-server 7.0's `zrangeGenericCommand`
//! reads them, so a call with several faults gets its error.
//!
//! A score range is a range of the tree's (score, member) keys, from the first key in it to
//! the first past it (an exclusive bound becomes the next double up), so it costs a descent
//! and a walk of what it takes (and of LIMIT's offset), never a scan of the set. Lex ranges
//! are [`lex`](super::lex)'s.

use std::ops::Bound;

use super::super::super::replies::{self, Protocol};
use super::super::{index_range, integer, Command, Found, NOT_AN_INTEGER, SYNTAX};
use super::lex::LexRange;
use super::{score_reply, Key, Score, SortedSet};

/// Redis' error for a score bound it cannot read.
const NOT_A_FLOAT_RANGE: &str = "ERR min or max is not a float";
/// Redis' error for a lex bound it cannot read.
const NOT_A_LEX_RANGE: &str = "ERR min or max not valid string range item";

/// One end of a score range: the score, and whether it is left out (`(` before it).
#[derive(Debug, Clone, Copy, PartialEq)]
struct End {
    score: f64,
    exclusive: bool,
}

/// The scores a range takes, as ZRANGEBYSCORE's `min max` give them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ScoreRange {
    min: End,
    max: End,
}

impl ScoreRange {
    /// Reads `min` and `max` as Redis' `zslParseRange` does; `None` if either is not a
    /// score.
    fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        Some(ScoreRange { min: end(min)?, max: end(max)? })
    }

    /// The tree's keys the range takes: from the first (included) to the first past it
    /// (excluded; unbounded past `+inf`). `None` if it takes none (`BTreeSet::range`
    /// panics on a start past its end).
    fn keys(&self) -> Option<(Bound<Key>, Bound<Key>)> {
        let first = match self.min.exclusive {
            true => above(self.min.score)?,
            false => self.min.score,
        };
        let past = match self.max.exclusive {
            true => Some(self.max.score),
            false => above(self.max.score),
        };
        if past.is_some_and(|past| Score(first) >= Score(past)) {
            return None;
        }
        let past = past.map_or(Bound::Unbounded, |past| Bound::Excluded((Score(past), Vec::new())));
        Some((Bound::Included((Score(first), Vec::new())), past))
    }
}

/// The smallest double above `score`; `None` above `+inf`. -0 and 0 both lead to the
/// smallest subnormal (a score is never -0, and they compare equal).
fn above(score: f64) -> Option<f64> {
    (score != f64::INFINITY).then(|| score.next_up())
}

/// One bound as `zslParseRange` reads it: an optional `(`, then a double as C's `strtod`
/// reads the rest, which must be all of it. So `(` alone and the empty text are 0, leading
/// white space is skipped, `1e500` is `inf` and `1e-500` 0 (out of range is no error
/// here, unlike ZADD's scores); NaN is refused. Hexadecimal (`0x10`), which `strtod` takes,
/// is not.
fn end(text: &[u8]) -> Option<End> {
    let (exclusive, number) = match text.split_first() {
        Some((b'(', rest)) => (true, rest),
        _ => (false, text),
    };
    Some(End { score: strtod_whole(number)?, exclusive })
}

/// `number` as `strtod` reads it when the whole text must be taken, as a C string: up to
/// its first NUL (Redis checks that the end pointer is at one, not at the argument's end).
/// C's white space first is skipped, but not white space alone; nothing at all is 0 (no
/// conversion leaves the end pointer at the text's start, there a NUL).
fn strtod_whole(number: &[u8]) -> Option<f64> {
    let number = number.split(|&b| b == 0).next().unwrap_or_default();
    if number.is_empty() {
        return Some(0.0);
    }
    let start = number.iter().position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let score: f64 = std::str::from_utf8(&number[start..]).ok()?.parse().ok()?;
    (!score.is_nan()).then_some(score)
}

/// How a call reads its range: its name says, or (ZRANGE) its options.
#[derive(Debug, Clone, Copy, PartialEq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// A ZRANGE-family call's options.
struct Options {
    by: By,
    /// Whether REV: `None` until the name or a REV says (a REV after either is a syntax
    /// error).
    rev: Option<bool>,
    with_scores: bool,
    /// LIMIT's offset and count; a count of -1 is Redis' "no LIMIT" (so `LIMIT 5 -1` passes
    /// with a rank range, where any other LIMIT is refused), a negative count all.
    offset: i64,
    count: i64,
}

impl Options {
    /// No option: the whole range, lowest score first.
    const ALL: Options = Options { by: By::Rank, rev: None, with_scores: false, offset: 0, count: -1 };

    /// The options after `min max`, read one by one as Redis does (LIMIT's numbers as they
    /// come), the defaults filled in, the conflicts refused. ZRANGESTORE's (`store`) take
    /// no WITHSCORES: a syntax error where it stands, as in Redis.
    fn read(command: Command, words: &[&[u8]], store: bool) -> Result<Options, &'static str> {
        // How the range reads, `None` until the name or BYSCORE/BYLEX says (a second BY is
        // refused); only the options read keep it so.
        let (mut by, rev) = match command {
            Command::Zrange => (None, None),
            Command::Zrevrange => (Some(By::Rank), Some(true)),
            Command::Zrangebyscore => (Some(By::Score), Some(false)),
            Command::Zrevrangebyscore => (Some(By::Score), Some(true)),
            Command::Zrangebylex => (Some(By::Lex), Some(false)),
            _ => (Some(By::Lex), Some(true)),
        };
        let mut options = Options { by: By::Rank, rev, with_scores: false, offset: 0, count: -1 };
        let mut at = 0;
        while let Some(word) = words.get(at) {
            match word.to_ascii_lowercase().as_slice() {
                b"withscores" if !store => options.with_scores = true,
                b"limit" if words.len() - at > 2 => {
                    let read = |n: &[u8]| integer(n).ok_or(NOT_AN_INTEGER);
                    (options.offset, options.count) = (read(words[at + 1])?, read(words[at + 2])?);
                    at += 2;
                }
                b"rev" if options.rev.is_none() => options.rev = Some(true),
                b"bylex" if by.is_none() => by = Some(By::Lex),
                b"byscore" if by.is_none() => by = Some(By::Score),
                _ => return Err(SYNTAX),
            }
            at += 1;
        }
        let by = by.unwrap_or(By::Rank);
        if options.count != -1 && by == By::Rank {
            return Err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
        }
        if options.with_scores && by == By::Lex {
            return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        }
        Ok(Options { by, ..options })
    }

    fn rev(&self) -> bool {
        self.rev.unwrap_or(false)
    }
}

/// A ZRANGE-family call's range, read from its two bounds.
enum Range {
    Ranks(i64, i64),
    Scores(ScoreRange),
    Members(LexRange),
}

impl Range {
    /// Reads `first` and `second`, the bounds in the order a forward range gives them
    /// (min, max), as `by` says; Redis' error if they do not read so.
    fn read(by: By, first: &[u8], second: &[u8]) -> Result<Range, &'static str> {
        match by {
            By::Rank => match (integer(first), integer(second)) {
                (Some(start), Some(end)) => Ok(Range::Ranks(start, end)),
                _ => Err(NOT_AN_INTEGER),
            },
            By::Score => ScoreRange::parse(first, second).map(Range::Scores).ok_or(NOT_A_FLOAT_RANGE),
            By::Lex => LexRange::parse(first, second).map(Range::Members).ok_or(NOT_A_LEX_RANGE),
        }
    }
}

/// ZRANGE, ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX and ZREVRANGEBYLEX: the
/// options, then the bounds (a reversed score or lex range gives max first), then the key
/// (none: an empty array).
pub(super) fn zrange(
    command: Command,
    args: &[&[u8]],
    found: Found<'_, SortedSet>,
    protocol: Protocol,
    out: &mut Vec<u8>,
) {
    let Ok((range, options)) = read_range(command, args, false, out) else { return };
    let Ok(zset) = found.mine(out) else { return };
    let taken = zset.map_or_else(Vec::new, |zset| zset.taken(&range, &options));
    write_members(out, &taken, options.with_scores, protocol);
}

/// A ZRANGE-family call's options, then its bounds, read in Redis' order (a reversed score
/// or lex range gives max first); Redis' error written to `out` if they do not read.
fn read_range(command: Command, args: &[&[u8]], store: bool, out: &mut Vec<u8>) -> Result<(Range, Options), ()> {
    let options = Options::read(command, &args[2..], store).map_err(|error| replies::error(out, error))?;
    let swapped = options.rev() && options.by != By::Rank;
    let (first, second) = if swapped { (args[1], args[0]) } else { (args[0], args[1]) };
    let range = Range::read(options.by, first, second).map_err(|error| replies::error(out, error))?;
    Ok((range, options))
}

/// ZRANGESTORE's source side (`args`: min, max and the options, as ZRANGE's but for
/// WITHSCORES): the members the range takes from `found`, as a sorted set of their own
/// (empty for no key); `Err` with Redis' error written to `out`.
pub fn zrange_store(args: &[&[u8]], found: Found<'_, SortedSet>, out: &mut Vec<u8>) -> Result<SortedSet, ()> {
    let (range, options) = read_range(Command::Zrange, args, true, out)?;
    let zset = found.mine(out)?;
    let mut taken = SortedSet::default();
    for (score, member) in zset.map_or_else(Vec::new, |zset| zset.taken(&range, &options)) {
        taken.put(member, score.0);
    }
    Ok(taken)
}

impl SortedSet {
    /// The members `range` takes, in the order a reply gives them (REV: highest first),
    /// LIMIT applied to a score or lex range: a negative offset takes none, as Redis'
    /// countdown of it never ends; a negative count takes all.
    fn taken(&self, range: &Range, options: &Options) -> Vec<&Key> {
        match *range {
            Range::Members(ref members) => self.lex_taken(members, options.rev(), options.offset, options.count),
            Range::Ranks(start, end) => {
                let ranks = index_range(self.ordered.len(), start, end);
                match options.rev() {
                    false => self.ordered.iter().skip(ranks.start).take(ranks.len()).collect(),
                    true => self.ordered.iter().rev().skip(ranks.start).take(ranks.len()).collect(),
                }
            }
            Range::Scores(scores) => {
                let Some(keys) = scores.keys() else { return Vec::new() };
                let Ok(offset) = usize::try_from(options.offset) else { return Vec::new() };
                let count = usize::try_from(options.count).unwrap_or(usize::MAX);
                let in_range = self.ordered.range(keys);
                match options.rev() {
                    false => in_range.skip(offset).take(count).collect(),
                    true => in_range.rev().skip(offset).take(count).collect(),
                }
            }
        }
    }

    /// The members in `range` (of scores or members), counted: a walk of them, no more.
    fn count_in(&self, range: &Range) -> usize {
        match range {
            Range::Scores(scores) => scores.keys().map_or(0, |keys| self.ordered.range(keys).count()),
            _ => self.taken(range, &Options::ALL).len(),
        }
    }

    /// Removes the (score, member) keys `doomed` names; how many.
    fn remove_keys(&mut self, doomed: Vec<Key>) -> usize {
        for key in &doomed {
            self.ordered.remove(key);
            self.forget(&key.1);
        }
        doomed.len()
    }
}

/// Members, each with its score if asked: RESP3 pairs them, RESP2 lists them one after
/// another.
fn write_members(out: &mut Vec<u8>, members: &[&Key], with_scores: bool, protocol: Protocol) {
    let pairs = with_scores && protocol == Protocol::Resp3;
    replies::array(out, members.len() * if with_scores && !pairs { 2 } else { 1 });
    for (score, member) in members {
        if pairs {
            replies::array(out, 2);
        }
        replies::bulk(out, member);
        if with_scores {
            score_reply(out, score.0, protocol);
        }
    }
}

/// ZCOUNT and ZLEXCOUNT: the bounds, then the key (none: 0); the members in the range.
pub(super) fn zcount(command: Command, args: &[&[u8]], found: Found<'_, SortedSet>, out: &mut Vec<u8>) {
    let by = if command == Command::Zlexcount { By::Lex } else { By::Score };
    let range = match Range::read(by, args[0], args[1]) {
        Ok(range) => range,
        Err(error) => return replies::error(out, error),
    };
    if let Ok(zset) = found.mine(out) {
        replies::int(out, zset.map_or(0, |z| z.count_in(&range)) as i64);
    }
}

/// ZREMRANGEBYRANK, ZREMRANGEBYSCORE and ZREMRANGEBYLEX: the bounds, then the key (none:
/// 0); the members removed. The caller deletes a key left empty.
pub(super) fn zremrange(command: Command, args: &[&[u8]], found: Found<'_, SortedSet>, out: &mut Vec<u8>) {
    let by = match command {
        Command::Zremrangebyrank => By::Rank,
        Command::Zremrangebyscore => By::Score,
        _ => By::Lex,
    };
    let range = match Range::read(by, args[0], args[1]) {
        Ok(range) => range,
        Err(error) => return replies::error(out, error),
    };
    let Ok(zset) = found.mine(out) else { return };
    let removed = zset.map_or(0, |zset| {
        // Copied out first: the tree cannot be walked and changed at once.
        let doomed = zset.taken(&range, &Options::ALL).into_iter().cloned().collect();
        zset.remove_keys(doomed)
    });
    replies::int(out, removed as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(min: &str, max: &str) -> Option<ScoreRange> {
        ScoreRange::parse(min.as_bytes(), max.as_bytes())
    }

    const fn at(score: f64, exclusive: bool) -> End {
        End { score, exclusive }
    }

    /// Each as redis-server 7.0.15 took it, or refused it ("min or max is not a float").
    #[test]
    fn bounds_are_read_as_strtod_reads_them() {
        let read = |text: &str| end(text.as_bytes());
        assert_eq!(read("1.5"), Some(at(1.5, false)));
        assert_eq!(read("(1.5"), Some(at(1.5, true)));
        assert_eq!(read("-inf"), Some(at(f64::NEG_INFINITY, false)));
        assert_eq!(read("+inf"), Some(at(f64::INFINITY, false)));
        assert_eq!(read("(inf"), Some(at(f64::INFINITY, true)));
        assert_eq!(read("Infinity"), Some(at(f64::INFINITY, false)));
        assert_eq!(read("1e500"), Some(at(f64::INFINITY, false)));
        assert_eq!(read("-1e500"), Some(at(f64::NEG_INFINITY, false)));
        assert_eq!(read("1e-500"), Some(at(0.0, false)));
        assert_eq!(read(""), Some(at(0.0, false)));
        assert_eq!(read("("), Some(at(0.0, true)));
        assert_eq!(read(" 1"), Some(at(1.0, false)));
        assert_eq!(read("+1"), Some(at(1.0, false)));
        for (text, score) in [("1.", 1.0), (".5", 0.5), ("+.5", 0.5), ("-.5e1", -5.0), ("INF", f64::INFINITY)] {
            assert_eq!(read(text), Some(at(score, false)), "{text:?}");
        }
        assert_eq!(read("(-Infinity"), Some(at(f64::NEG_INFINITY, true)));
        assert_eq!(read("\t\x0b1"), Some(at(1.0, false)));
        assert_eq!(read("1\0x"), Some(at(1.0, false)), "a C string ends at its NUL");
        assert_eq!(read("(\0abc"), Some(at(0.0, true)));
        for refused in ["x", "nan", "(nan", "((1", "1 ", " ", "-", "1e", "1,5", "infinit", "1\t"] {
            assert_eq!(read(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn exclusive_bounds_take_the_next_double() {
        let keys = |min, max| range(min, max).unwrap().keys();
        let first = |score: f64| Bound::Included((Score(score), Vec::new()));
        let past = |score: f64| Bound::Excluded((Score(score), Vec::new()));
        assert_eq!(keys("1", "2"), Some((first(1.0), past(2.0f64.next_up()))));
        assert_eq!(keys("(1", "(2"), Some((first(1.0f64.next_up()), past(2.0))));
        assert_eq!(keys("-inf", "+inf"), Some((first(f64::NEG_INFINITY), Bound::Unbounded)));
        assert_eq!(keys("(-inf", "inf"), Some((first(f64::MIN), Bound::Unbounded)));
        assert_eq!(keys("(0", "1"), Some((first(f64::from_bits(1)), past(1.0f64.next_up()))));
        assert_eq!(keys("(-0", "1"), keys("(0", "1"), "-0 is 0");
        for empty in [("2", "1"), ("(1", "1"), ("1", "(1"), ("(inf", "inf"), ("-inf", "(-inf")] {
            assert_eq!(keys(empty.0, empty.1), None, "{empty:?}");
        }
        assert!(keys("1", "1").is_some() && keys("inf", "inf").is_some());
    }
}
