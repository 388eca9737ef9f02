//! Sorted sets: ZADD (NX, XX, GT, LT, CH, INCR), ZINCRBY, ZSCORE, ZCARD, ZREM, ZRANK,
//! ZREVRANK, ZPOPMIN and ZPOPMAX here; the range commands (ZRANGE by rank, BYSCORE or BYLEX
//! with REV, LIMIT and WITHSCORES; ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX,
//! ZREVRANGEBYLEX, ZCOUNT, ZLEXCOUNT, ZREMRANGEBYSCORE, ZREMRANGEBYRANK, ZREMRANGEBYLEX) in
//! [`ranges`] and [`lex`]; answered as redis-server 7.0 answers them. Members are ordered by score, then by their bytes, as Redis orders them: a
//! `BTreeSet` of (score, member), and a table of (member, score) for the lookups, which
//! ZSCAN walks past Redis' listpack sizes. Scores are written as Redis 7.0 writes them, C's `%.17g` ([`score_text`]).

mod lex;
mod ranges;

pub use ranges::zrange_store;

use std::cmp::Ordering;
use std::collections::BTreeSet;

use super::super::glob;
use super::super::hash::hash;
use super::super::replies::{self, Protocol};
use super::super::scan::{self, Scan, ScanTable};
use super::{count, scan_collection, Command, Found, SYNTAX};

/// The most members, and the longest member, of a sorted set Redis keeps as a listpack
/// (`zset-max-listpack-entries`, `zset-max-listpack-value`): ZSCAN answers such a one whole.
const LISTED_MOST_MEMBERS: usize = 128;
const LISTED_LONGEST: usize = 64;

const NOT_A_FLOAT: &str = "ERR value is not a valid float";

/// A score: never NaN (refused where it could arise), so it orders totally; -0 is stored
/// as 0, as Redis' small sorted sets store it.
#[derive(Debug, Clone, Copy)]
struct Score(f64);

impl PartialEq for Score {
    fn eq(&self, other: &Score) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Score) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Score) -> Ordering {
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

/// A (score, member) key of the tree: with no member, the first key of its score.
type Key = (Score, Vec<u8>);

/// One key's members and their scores.
#[derive(Debug, Default)]
pub struct SortedSet {
    ordered: BTreeSet<(Score, Vec<u8>)>,
    scores: ScanTable<(Vec<u8>, f64)>,
}

impl SortedSet {
    /// Whether it has no member left.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// How many members it has.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Its allocations, estimated: each member's bytes twice (the tree's copy and the
    /// map's), a tree slot and a map slot each.
    pub fn footprint(&self) -> usize {
        let bytes: usize = self.scores.iter().map(|(m, _)| 2 * m.capacity()).sum();
        let per_member = std::mem::size_of::<(Score, Vec<u8>)>() * 3 / 2 + std::mem::size_of::<(Vec<u8>, f64)>() + 1;
        std::mem::size_of::<SortedSet>() + self.scores.len() * per_member + bytes
    }

    /// Gives `member` the score `score` (not NaN), added if new; whether it was new.
    fn put(&mut self, member: &[u8], score: f64) -> bool {
        let score = score + 0.0; // -0 + 0 is 0
        match self.scores.find_mut(hash(member), |(m, _)| m == member).map(|(_, s)| s) {
            Some(old) => {
                let mut entry = self.ordered.take(&(Score(*old), member.to_vec())).expect("in both");
                entry.0 = Score(score);
                self.ordered.insert(entry);
                *old = score;
                false
            }
            None => {
                self.scores.insert_unique(hash(member), (member.to_vec(), score), |(m, _)| hash(m));
                self.ordered.insert((Score(score), member.to_vec()));
                true
            }
        }
    }

    /// Removes `member`; whether it was there.
    fn remove(&mut self, member: &[u8]) -> bool {
        match self.forget(member) {
            Some(score) => self.ordered.remove(&(Score(score), member.to_vec())),
            None => false,
        }
    }

    /// `member`'s place from the lowest score, if it is one: O(n), the tree keeps no counts.
    fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.ordered.range(..(Score(score), member.to_vec())).count())
    }

    /// Removes and gives the lowest (`min`) or highest member and its score.
    fn pop(&mut self, min: bool) -> Option<(Score, Vec<u8>)> {
        let popped = if min { self.ordered.pop_first() } else { self.ordered.pop_last() }?;
        self.forget(&popped.1);
        Some(popped)
    }

    /// Its members in order, each its score's 8 bytes (little-endian) then the member,
    /// packed (`types::pack`): what COPY and ZRANGESTORE carry, the scores exact.
    pub fn pack(&self) -> Vec<u8> {
        let scores: Vec<[u8; 8]> = self.ordered.iter().map(|(score, _)| score.0.to_le_bytes()).collect();
        let words: Vec<&[u8]> = scores.iter().zip(&self.ordered).flat_map(|(s, (_, m))| [&s[..], &m[..]]).collect();
        super::pack(&words)
    }

    /// The sorted set [`SortedSet::pack`] packed; `None` for a score that is no score.
    pub fn unpack(packed: &[u8]) -> Option<SortedSet> {
        let mut zset = SortedSet::default();
        for pair in super::unpack(packed)?.chunks(2) {
            let [score, member] = pair else { return None };
            let score = f64::from_le_bytes((*score).try_into().ok()?);
            if score.is_nan() {
                return None;
            }
            zset.put(member, score);
        }
        Some(zset)
    }

    /// `member`'s score, if it is one.
    fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.find(hash(member), |(m, _)| m == member).map(|&(_, score)| score)
    }

    /// Removes `member` from the lookup table (the tree is the caller's); its score, if it
    /// was one.
    fn forget(&mut self, member: &[u8]) -> Option<f64> {
        self.scores.remove(hash(member), |(m, _)| m == member).map(|(_, score)| score)
    }

    /// One ZSCAN call: a sorted set Redis keeps as a listpack whole, in its order (by score,
    /// cursor 0); a bigger one from the cursor on (`ScanTable::scan`); the members that
    /// match the pattern, each followed by its score as text.
    fn scan(&self, options: Scan<'_>, out: &mut Vec<u8>) {
        let listed =
            self.scores.len() <= LISTED_MOST_MEMBERS && self.scores.iter().all(|(m, _)| m.len() <= LISTED_LONGEST);
        let (next, members): (u64, Vec<(&[u8], f64)>) = match listed {
            true => (0, self.ordered.iter().map(|(score, m)| (&m[..], score.0)).collect()),
            false => {
                let (next, found) = self.scores.scan(options.cursor, options.count);
                (next, found.into_iter().map(|(m, score)| (&m[..], *score)).collect())
            }
        };
        let matching: Vec<_> = members.into_iter().filter(|(m, _)| glob::matches(options.pattern, m)).collect();
        scan::reply_head(out, next);
        replies::array(out, 2 * matching.len());
        for (member, score) in matching {
            replies::bulk(out, member);
            replies::bulk(out, score_text(score).as_bytes());
        }
    }
}

/// `score` as Redis 7.0 writes a double (`addReplyDouble`: `%.17g`, `inf` and `-inf`): 17
/// significant digits, trailing zeros cut, in exponent form below 1e-4 or from 1e17 on.
pub fn score_text(score: f64) -> String {
    if score.is_infinite() {
        return if score > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let scientific = format!("{score:.16e}"); // Rust rounds exactly, as glibc does
    let (mantissa, exponent) = scientific.split_once('e').expect("an exponent");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    if !(-4..17).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", cut_zeros(mantissa), exponent.unsigned_abs());
    }
    cut_zeros(&format!("{score:.*}", (16 - exponent) as usize)).to_owned()
}

/// A decimal's text without its fraction's trailing zeros, nor a point left bare.
fn cut_zeros(text: &str) -> &str {
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.'),
        false => text,
    }
}

/// A score as Redis reads one (`strtod`, the whole text): NaN refused, and what `strtod`
/// reports out of range, a finite text past the largest double or one so small it reads as
/// zero (a subnormal is taken). Hexadecimal (`0x10`), which `strtod` takes, is not.
fn parse_score(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?;
    if text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let score = text.parse::<f64>().ok().filter(|s| !s.is_nan())?;
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    let overflow = score.is_infinite() && !text.to_ascii_lowercase().contains("inf");
    let underflow = score == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
    (!overflow && !underflow).then_some(score)
}

/// A score's reply: a bulk string of its text (RESP3: a double).
fn score_reply(out: &mut Vec<u8>, score: f64, protocol: Protocol) {
    replies::double(out, score_text(score).as_bytes(), protocol);
}

/// Runs a sorted set command (`args` after the key) on `found`; the new sorted set if there
/// was none and the command made one.
pub fn run(
    command: Command,
    args: &[&[u8]],
    found: Found<'_, SortedSet>,
    protocol: Protocol,
    out: &mut Vec<u8>,
) -> Option<SortedSet> {
    use Command::*;
    match command {
        Zadd => return zadd(args, found, protocol, out),
        // ZADD INCR, as Redis runs it.
        Zincrby => return zadd(&[b"incr", args[0], args[1]], found, protocol, out),
        Zrange | Zrevrange | Zrangebyscore | Zrevrangebyscore | Zrangebylex | Zrevrangebylex => {
            ranges::zrange(command, args, found, protocol, out)
        }
        Zcount | Zlexcount => ranges::zcount(command, args, found, out),
        Zremrangebyscore | Zremrangebyrank | Zremrangebylex => ranges::zremrange(command, args, found, out),
        Zpopmin | Zpopmax => zpop(command == Zpopmin, args, found, protocol, out),
        Zscan => scan_collection(args, found, out, SortedSet::scan),
        _ => {
            let Ok(zset) = found.mine(out) else { return None };
            match command {
                Zscore => match zset.and_then(|z| z.score(args[0])) {
                    Some(score) => score_reply(out, score, protocol),
                    None => replies::null(out, protocol),
                },
                Zcard => replies::int(out, zset.map_or(0, |z| z.scores.len()) as i64),
                Zrank | Zrevrank => match zset.and_then(|z| Some((z.rank(args[0])?, z.scores.len()))) {
                    Some((rank, len)) => replies::int(out, if command == Zrank { rank } else { len - 1 - rank } as i64),
                    None => replies::null(out, protocol),
                },
                Zrem => {
                    let removed = zset.map_or(0, |z| args.iter().filter(|m| z.remove(m)).count());
                    replies::int(out, removed as i64);
                }
                _ => unreachable!("{command:?} is no sorted set command"),
            }
        }
    }
    None
}

/// ZADD's options, as Redis reads them before the scores.
#[derive(Default)]
struct AddIf {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// ZADD: the options, then every score (all read before the key is looked up), then the
/// writes; the members added (CH: and changed), or with INCR the new score (nil if a
/// condition kept it from being written).
fn zadd(args: &[&[u8]], found: Found<'_, SortedSet>, protocol: Protocol, out: &mut Vec<u8>) -> Option<SortedSet> {
    let mut how = AddIf::default();
    let mut at = 0;
    while let Some(option) = args.get(at) {
        let flag = match option.to_ascii_lowercase().as_slice() {
            b"nx" => &mut how.nx,
            b"xx" => &mut how.xx,
            b"gt" => &mut how.gt,
            b"lt" => &mut how.lt,
            b"ch" => &mut how.ch,
            b"incr" => &mut how.incr,
            _ => break,
        };
        *flag = true;
        at += 1;
    }
    let pairs = &args[at..];
    let refused = if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        Some(SYNTAX)
    } else if how.incr && pairs.len() > 2 {
        Some("ERR INCR option supports a single increment-element pair")
    } else if how.nx && how.xx {
        Some("ERR XX and NX options at the same time are not compatible")
    } else if (how.nx && (how.gt || how.lt)) || (how.gt && how.lt) {
        Some("ERR GT, LT, and/or NX options at the same time are not compatible")
    } else {
        None
    };
    if let Some(error) = refused {
        replies::error(out, error);
        return None;
    }
    let Some(scores) = pairs.chunks_exact(2).map(|pair| parse_score(pair[0])).collect::<Option<Vec<f64>>>() else {
        replies::error(out, NOT_A_FLOAT);
        return None;
    };
    let Ok(zset) = found.mine(out) else { return None };
    let mut fresh = None;
    let zset = match zset {
        Some(zset) => zset,
        None if how.xx => {
            match how.incr {
                true => replies::null(out, protocol),
                false => replies::int(out, 0),
            }
            return None;
        }
        None => fresh.insert(SortedSet::default()),
    };
    let (mut added, mut changed, mut last) = (0, 0, None);
    for (pair, mut score) in pairs.chunks_exact(2).zip(scores) {
        let member = pair[1];
        match zset.score(member) {
            Some(_) if how.nx => continue,
            Some(current) => {
                if how.incr {
                    score += current;
                    if score.is_nan() {
                        replies::error(out, "ERR resulting score is not a number (NaN)");
                        return fresh.filter(|z| !z.is_empty());
                    }
                }
                if (how.gt && score <= current) || (how.lt && score >= current) {
                    continue;
                }
                if score != current {
                    zset.put(member, score);
                    changed += 1;
                }
            }
            None if how.xx => continue,
            None => {
                zset.put(member, score);
                added += 1;
            }
        }
        last = Some(score + 0.0);
    }
    match (how.incr, last) {
        (true, Some(score)) => score_reply(out, score, protocol),
        (true, None) => replies::null(out, protocol),
        (false, _) => replies::int(out, if how.ch { added + changed } else { added }),
    }
    fresh.filter(|z| !z.is_empty())
}

/// ZPOPMIN and ZPOPMAX (`min`): the count first, then the key; member and score after
/// member and score, in one array.
fn zpop(min: bool, args: &[&[u8]], found: Found<'_, SortedSet>, protocol: Protocol, out: &mut Vec<u8>) {
    if args.len() > 1 {
        return replies::error(out, SYNTAX);
    }
    let Ok(count) = count(args.first(), out) else { return };
    let Ok(zset) = found.mine(out) else { return };
    let popped: Vec<(Score, Vec<u8>)> = match zset {
        Some(zset) => std::iter::from_fn(|| zset.pop(min)).take(count.unwrap_or(1)).collect(),
        None => Vec::new(),
    };
    // RESP3 pairs each member with its score when a count was given; RESP2 lists them one
    // after another (as RESP3 does the one pair popped without a count).
    let pairs = count.is_some() && protocol == Protocol::Resp3;
    replies::array(out, if pairs { popped.len() } else { popped.len() * 2 });
    for (score, member) in popped {
        if pairs {
            replies::array(out, 2);
        }
        replies::bulk(out, &member);
        score_reply(out, score.0, protocol);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::Run;
    use super::super::{NOT_AN_INTEGER, NOT_POSITIVE, WRONGTYPE};
    use super::*;

    #[test]
    fn scores_are_written_as_redis_7_0_writes_them() {
        let cases = [
            (1.0, "1"),
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (1e20, "1e+20"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (12345678901234567.0, "12345678901234568"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (0.0, "0"),
            (100.0, "100"),
            (3.0e-300, "3.0000000000000002e-300"),
            (1.5e-320, "1.4999833007740245e-320"),
        ];
        for (score, text) in cases {
            assert_eq!(score_text(score), text, "{score:e}");
        }
    }

    #[test]
    fn zadd_zscore_zrange_and_zpop_answer_as_redis_does() {
        let mut key = Run::default();
        assert_eq!(key.run("zadd z 1 a 1.5 b inf c"), ":3\r\n");
        assert_eq!(key.run("zadd z 2 a 0.5 d"), ":1\r\n", "a rescored, d new");
        assert_eq!(key.run("zscore z a"), "$1\r\n2\r\n");
        assert_eq!(key.run("zscore z x"), "$-1\r\n");
        assert_eq!(key.run("zcard z"), ":4\r\n");
        let all = "*4\r\n$1\r\nd\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nc\r\n";
        assert_eq!(key.run("zrange z 0 -1"), all);
        assert_eq!(key.run("zrange z 0 0 withscores"), "*2\r\n$1\r\nd\r\n$3\r\n0.5\r\n");
        assert_eq!(key.run("zrange z 0 0 rev WITHSCORES"), "*2\r\n$1\r\nc\r\n$3\r\ninf\r\n");
        assert_eq!(key.run("zrange z 0 1 foo"), format!("-{SYNTAX}\r\n"));
        assert_eq!(key.run("zrange z x 1"), format!("-{NOT_AN_INTEGER}\r\n"));
        assert_eq!(key.run("zadd z ch 2 a 3 b"), ":1\r\n", "b changed, a the same");
        assert_eq!(key.run("zadd z incr 5 a"), "$1\r\n7\r\n");
        assert_eq!(key.run("zadd z nx incr 5 a"), "$-1\r\n");
        assert_eq!(key.run("zadd z gt 1 a"), ":0\r\n");
        assert_eq!(key.run("zadd z gt ch 8 a"), ":1\r\n");
        assert_eq!(key.run("zadd z xx 1 new"), ":0\r\n");
        assert_eq!(key.run("zadd z 1 a 2"), format!("-{SYNTAX}\r\n"));
        for refused in ["nan", "1e500", "-1e500", "1e-500", "1x"] {
            assert_eq!(key.run(&format!("zadd z {refused} a")), format!("-{NOT_A_FLOAT}\r\n"), "{refused:?}");
        }
        assert_eq!(key.run("zadd z 0e10 zero -Infinity low"), ":2\r\n");
        assert_eq!(key.run("zrem z zero low"), ":2\r\n");
        assert_eq!(key.run("zadd z nx xx 1 a"), "-ERR XX and NX options at the same time are not compatible\r\n");
        assert_eq!(key.run("zadd z incr 1 a 2 b"), "-ERR INCR option supports a single increment-element pair\r\n");
        assert_eq!(key.run("zadd z incr -inf c"), "-ERR resulting score is not a number (NaN)\r\n");
        assert_eq!(key.run("zrem z b x"), ":1\r\n");
        assert_eq!(key.run("zpopmin z"), "*2\r\n$1\r\nd\r\n$3\r\n0.5\r\n");
        assert_eq!(key.run("zpopmax z 1"), "*2\r\n$1\r\nc\r\n$3\r\ninf\r\n");
        assert_eq!(key.run("zpopmin z 0"), "*0\r\n");
        assert_eq!(key.run("zpopmin z -1"), format!("-{NOT_POSITIVE}\r\n"));
        assert_eq!(key.run("zpopmin z 5"), "*2\r\n$1\r\na\r\n$1\r\n8\r\n");
        assert!(key.value.is_none(), "emptied: gone");
        assert_eq!(key.run("zpopmin z"), "*0\r\n");
        assert_eq!(key.run("zrange z 0 -1"), "*0\r\n");
        assert_eq!(key.run("zadd z xx 1 a"), ":0\r\n");
        assert!(key.value.is_none(), "XX on no key makes none");
        assert_eq!(key.run("zadd z -0 m"), ":1\r\n");
        assert_eq!(key.run("zscore z m"), "$1\r\n0\r\n", "as Redis' small sorted sets keep -0");
    }

    #[test]
    fn zincrby_zrank_and_zrevrange_answer_as_redis_does() {
        let mut key = Run::default();
        assert_eq!(key.run("zincrby z 2 a"), "$1\r\n2\r\n");
        assert_eq!(key.run("zincrby z x a"), format!("-{NOT_A_FLOAT}\r\n"));
        assert_eq!(key.run("zincrby z 0.5 a"), "$3\r\n2.5\r\n");
        assert_eq!(key.run("zadd z 1 b 3 c"), ":2\r\n");
        assert_eq!(key.run("zrank z a"), ":1\r\n");
        assert_eq!(key.run("zrevrank z a"), ":1\r\n");
        assert_eq!(key.run("zrank z c"), ":2\r\n");
        assert_eq!(key.run("zrevrank z c"), ":0\r\n");
        assert_eq!(key.run("zrank z x"), "$-1\r\n");
        assert_eq!(key.run("zrevrange z 0 0 withscores"), "*2\r\n$1\r\nc\r\n$1\r\n3\r\n");
        assert_eq!(key.run("zrevrange z 0 -1 rev"), format!("-{SYNTAX}\r\n"));
        assert_eq!(key.run("zincrby z -inf c"), "$4\r\n-inf\r\n");
        assert_eq!(key.run("zincrby z inf c"), "-ERR resulting score is not a number (NaN)\r\n");
        assert_eq!(key.run("zrank z c"), ":0\r\n");
    }

    #[test]
    fn equal_scores_order_by_member() {
        let mut key = Run::default();
        assert_eq!(key.run("zadd z 1 b 1 a 1 c 0 z"), ":4\r\n");
        assert_eq!(key.run("zrange z 0 -1"), "*4\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    }

    #[test]
    fn a_string_is_wrongtype_after_the_arguments_are_read() {
        let mut key = Run::string();
        let wrong = format!("-{WRONGTYPE}\r\n");
        for command in ["zadd z 1 a", "zscore z a", "zcard z", "zrem z a", "zrange z 0 -1", "zpopmin z"] {
            assert_eq!(key.run(command), wrong, "{command}");
        }
        assert_eq!(key.run("zadd z x a"), format!("-{NOT_A_FLOAT}\r\n"));
        assert_eq!(key.run("zpopmin z 0"), wrong);
        assert_eq!(key.run("zpopmin z x"), format!("-{NOT_POSITIVE}\r\n"), "the count first");
    }
}
