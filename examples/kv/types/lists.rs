//! Lists: LPUSH, RPUSH, LPOP, RPOP (with a count, Redis 6.2's), LLEN, LRANGE, LINDEX, LSET,
//! LTRIM, LREM, LPOS (RANK, COUNT, MAXLEN) and LINSERT, answered as redis-server 7.0 answers
//! them, on a `VecDeque` (both ends O(1); LINSERT moves the shorter side, as its `insert`
//! does).

use std::collections::VecDeque;

use super::super::replies::{self, Protocol};
use super::{count, index_range, integer, Command, Found, NOT_AN_INTEGER, SYNTAX};

/// One key's elements, head first.
#[derive(Debug, Default)]
pub struct List {
    elements: VecDeque<Vec<u8>>,
}

impl List {
    /// Its elements, packed in order (`types::pack`): what COPY carries.
    pub fn pack(&self) -> Vec<u8> {
        super::pack(&self.elements.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    /// The list [`List::pack`] packed.
    pub fn unpack(packed: &[u8]) -> Option<List> {
        Some(List { elements: super::unpack(packed)?.into_iter().map(<[u8]>::to_vec).collect() })
    }

    /// Whether it has no element left.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// Its allocations: the ring's slots and each element's bytes.
    pub fn footprint(&self) -> usize {
        let bytes: usize = self.elements.iter().map(Vec::capacity).sum();
        std::mem::size_of::<List>() + self.elements.capacity() * std::mem::size_of::<Vec<u8>>() + bytes
    }
}

/// Runs a list command (`args` after the key) on `found`; the new list if there was none
/// and the command made one.
pub fn run(
    command: Command,
    args: &[&[u8]],
    found: Found<'_, List>,
    protocol: Protocol,
    out: &mut Vec<u8>,
) -> Option<List> {
    use Command::*;
    match command {
        Lpush | Rpush => {
            let Ok(list) = found.mine(out) else { return None };
            let mut fresh = None;
            let list = list.unwrap_or_else(|| fresh.insert(List::default()));
            for element in args {
                match command {
                    Lpush => list.elements.push_front(element.to_vec()),
                    _ => list.elements.push_back(element.to_vec()),
                }
            }
            replies::int(out, list.elements.len() as i64);
            fresh
        }
        Lpop | Rpop => {
            pop(command == Lpop, args, found, protocol, out);
            None
        }
        Llen => {
            if let Ok(list) = found.mine(out) {
                replies::int(out, list.map_or(0, |l| l.elements.len()) as i64);
            }
            None
        }
        Lrange => {
            let (Some(start), Some(end)) = (integer(args[0]), integer(args[1])) else {
                replies::error(out, NOT_AN_INTEGER);
                return None;
            };
            if let Ok(list) = found.mine(out) {
                let elements = list.map(|l| &l.elements);
                let range = index_range(elements.map_or(0, VecDeque::len), start, end);
                replies::array(out, range.len());
                for element in elements.into_iter().flat_map(|e| e.range(range.clone())) {
                    replies::bulk(out, element);
                }
            }
            None
        }
        // LINDEX looks the key up before it reads the index.
        Lindex => {
            match found.mine(out) {
                Ok(None) => replies::null(out, protocol),
                Ok(Some(list)) => match integer(args[0]) {
                    None => replies::error(out, NOT_AN_INTEGER),
                    Some(index) => {
                        let len = list.elements.len() as i64;
                        let at = if index < 0 { len + index } else { index };
                        match usize::try_from(at).ok().and_then(|at| list.elements.get(at)) {
                            Some(element) => replies::bulk(out, element),
                            None => replies::null(out, protocol),
                        }
                    }
                },
                Err(()) => {}
            }
            None
        }
        Lset => {
            set(args, found, out);
            None
        }
        Ltrim => {
            let (Some(start), Some(end)) = (integer(args[0]), integer(args[1])) else {
                replies::error(out, NOT_AN_INTEGER);
                return None;
            };
            if let Ok(list) = found.mine(out) {
                if let Some(list) = list {
                    let keep = index_range(list.elements.len(), start, end);
                    list.elements.truncate(keep.end);
                    list.elements.drain(..keep.start);
                }
                replies::ok(out);
            }
            None
        }
        Lrem => {
            let Some(count) = integer(args[0]) else {
                replies::error(out, NOT_AN_INTEGER);
                return None;
            };
            if let Ok(list) = found.mine(out) {
                let removed = list.map_or(0, |list| list.remove(args[1], count));
                replies::int(out, removed as i64);
            }
            None
        }
        Lpos => {
            lpos(args, found, protocol, out);
            None
        }
        Linsert => {
            linsert(args, found, out);
            None
        }
        _ => unreachable!("{command:?} is no list command"),
    }
}

/// LSET: the key looked up first (no key is an error), then the index read.
fn set(args: &[&[u8]], found: Found<'_, List>, out: &mut Vec<u8>) {
    let list = match found.mine(out) {
        Ok(Some(list)) => list,
        Ok(None) => return replies::error(out, "ERR no such key"),
        Err(()) => return,
    };
    let Some(index) = integer(args[0]) else { return replies::error(out, NOT_AN_INTEGER) };
    let len = list.elements.len() as i64;
    let at = if index < 0 { len + index } else { index };
    match usize::try_from(at).ok().and_then(|at| list.elements.get_mut(at)) {
        Some(element) => {
            element.clear();
            element.extend_from_slice(args[1]);
            replies::ok(out);
        }
        None => replies::error(out, "ERR index out of range"),
    }
}

impl List {
    /// LREM: removes the elements equal to `element`, the first `count` from the head (a
    /// negative count: from the tail; 0: all of them); how many.
    fn remove(&mut self, element: &[u8], count: i64) -> usize {
        let limit = if count == 0 { usize::MAX } else { usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX) };
        let from_tail = count < 0;
        if from_tail {
            self.elements.make_contiguous().reverse();
        }
        let mut removed = 0;
        self.elements.retain(|e| {
            let drop = removed < limit && e == element;
            removed += usize::from(drop);
            !drop
        });
        if from_tail {
            self.elements.make_contiguous().reverse();
        }
        removed
    }
}

/// LPOP and RPOP (`head`): the count read first, then the key (a missing key is nil, a
/// null array with a count); one element as a bulk string, or with a count an array of up
/// to that many.
fn pop(head: bool, args: &[&[u8]], found: Found<'_, List>, protocol: Protocol, out: &mut Vec<u8>) {
    if args.len() > 1 {
        let name = if head { "lpop" } else { "rpop" };
        return replies::error(out, &format!("ERR wrong number of arguments for '{name}' command"));
    }
    let Ok(count) = count(args.first(), out) else { return };
    let Ok(mut list) = found.mine(out) else { return };
    let exists = list.is_some();
    let mut take = || match list.as_deref_mut() {
        Some(list) if head => list.elements.pop_front(),
        Some(list) => list.elements.pop_back(),
        None => None,
    };
    match count {
        None => match take() {
            Some(element) => replies::bulk(out, &element),
            None => replies::null(out, protocol),
        },
        Some(_) if !exists => replies::null_array(out, protocol),
        Some(count) => {
            let popped: Vec<Vec<u8>> = std::iter::from_fn(take).take(count).collect();
            replies::array(out, popped.len());
            popped.iter().for_each(|element| replies::bulk(out, element));
        }
    }
}

/// LPOS's options, as Redis reads them (every one before the key is looked up).
struct Seek {
    /// Which match is the first answered: 1 the first from the head, -1 the first from the
    /// tail. Never 0; `i64::MIN` is taken, as Redis takes it (see [`List::positions`]).
    rank: i64,
    /// COUNT: `None` without it (one position or nil), `Some(0)` for every match.
    count: Option<i64>,
    /// MAXLEN: the elements compared at most, 0 for all.
    maxlen: i64,
}

impl Seek {
    /// Reads `RANK r`, `COUNT n` and `MAXLEN m` in any order (a later one wins), each error
    /// as Redis words it, at the first bad option.
    fn read(options: &[&[u8]]) -> Result<Seek, &'static str> {
        let mut seek = Seek { rank: 1, count: None, maxlen: 0 };
        let mut words = options.iter();
        while let Some(option) = words.next() {
            let name = option.to_ascii_lowercase();
            let Some(value) = words.next().filter(|_| matches!(name.as_slice(), b"rank" | b"count" | b"maxlen")) else {
                return Err(SYNTAX);
            };
            let value = integer(value);
            match name.as_slice() {
                b"rank" => {
                    seek.rank = value.ok_or(NOT_AN_INTEGER)?;
                    if seek.rank == 0 {
                        return Err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                    }
                }
                b"count" => seek.count = Some(value.filter(|&n| n >= 0).ok_or("ERR COUNT can't be negative")?),
                _ => seek.maxlen = value.filter(|&n| n >= 0).ok_or("ERR MAXLEN can't be negative")?,
            }
        }
        Ok(seek)
    }
}

/// LPOS: the options read first, then the key (none: nil, or with COUNT an empty array);
/// the position of the match `RANK` names, or with COUNT the positions of up to that many
/// matches from it on.
fn lpos(args: &[&[u8]], found: Found<'_, List>, protocol: Protocol, out: &mut Vec<u8>) {
    let seek = match Seek::read(&args[1..]) {
        Ok(seek) => seek,
        Err(error) => return replies::error(out, error),
    };
    let list = match found.mine(out) {
        Ok(Some(list)) => list,
        Ok(None) if seek.count.is_some() => return replies::array(out, 0),
        Ok(None) => return replies::null(out, protocol),
        Err(()) => return,
    };
    let positions = list.positions(args[0], &seek);
    match seek.count {
        Some(_) => {
            replies::array(out, positions.len());
            positions.iter().for_each(|&at| replies::int(out, at as i64));
        }
        None => match positions.first() {
            Some(&at) => replies::int(out, at as i64),
            None => replies::null(out, protocol),
        },
    }
}

/// LINSERT: BEFORE or AFTER read first, then the key (none: 0); the list's new length, or
/// -1 if no element equals the pivot (the first from the head is the one taken).
fn linsert(args: &[&[u8]], found: Found<'_, List>, out: &mut Vec<u8>) {
    let after = match args[0].to_ascii_lowercase().as_slice() {
        b"after" => true,
        b"before" => false,
        _ => return replies::error(out, SYNTAX),
    };
    let list = match found.mine(out) {
        Ok(Some(list)) => list,
        Ok(None) => return replies::int(out, 0),
        Err(()) => return,
    };
    match list.elements.iter().position(|e| e == args[1]) {
        Some(at) => {
            list.elements.insert(at + usize::from(after), args[2].to_vec());
            replies::int(out, list.elements.len() as i64);
        }
        None => replies::int(out, -1),
    }
}

impl List {
    /// LPOS's matches of `element` as `seek` picks them: walking from the head (a negative
    /// rank: from the tail) over at most MAXLEN elements, the positions (counted from the
    /// head) of the matches from the rank-th on, one without COUNT, else up to COUNT (0:
    /// all). Redis' arithmetic, wrapping where its `long`s wrap: a rank of `i64::MIN` stays
    /// negative when negated, so every match is at or past it, and COUNT never stops it.
    fn positions(&self, element: &[u8], seek: &Seek) -> Vec<usize> {
        let len = self.elements.len();
        let from_tail = seek.rank < 0;
        let rank = if from_tail { seek.rank.wrapping_neg() } else { seek.rank };
        let scanned = usize::try_from(seek.maxlen).ok().filter(|&m| m > 0).unwrap_or(usize::MAX);
        let (mut matches, mut found) = (0i64, Vec::new());
        for step in 0..len.min(scanned) {
            let at = if from_tail { len - 1 - step } else { step };
            if self.elements[at] != element {
                continue;
            }
            matches += 1;
            if matches < rank {
                continue;
            }
            found.push(at);
            match seek.count {
                None => break,
                Some(count) if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count => break,
                Some(_) => {}
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::Run;
    use super::super::{NOT_POSITIVE, WRONGTYPE};
    use super::*;

    #[test]
    fn pushes_pops_and_ranges_answer_as_redis_does() {
        let mut key = Run::default();
        assert_eq!(key.run("rpush l b c"), ":2\r\n");
        assert_eq!(key.run("lpush l a z"), ":4\r\n", "z then a... at the head: z a b c");
        assert_eq!(key.run("lrange l 0 -1"), "*4\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
        assert_eq!(key.run("lrange l -2 100"), "*2\r\n$1\r\nb\r\n$1\r\nc\r\n");
        assert_eq!(key.run("lrange l 3 1"), "*0\r\n");
        assert_eq!(key.run("lrange l x 1"), format!("-{NOT_AN_INTEGER}\r\n"));
        assert_eq!(key.run("lindex l -1"), "$1\r\nc\r\n");
        assert_eq!(key.run("lindex l 4"), "$-1\r\n");
        assert_eq!(key.run("lindex l x"), format!("-{NOT_AN_INTEGER}\r\n"));
        assert_eq!(key.run("llen l"), ":4\r\n");
        assert_eq!(key.run("lpop l"), "$1\r\nz\r\n");
        assert_eq!(key.run("rpop l 0"), "*0\r\n");
        assert_eq!(key.run("rpop l 2"), "*2\r\n$1\r\nc\r\n$1\r\nb\r\n");
        assert_eq!(key.run("lpop l -1"), format!("-{NOT_POSITIVE}\r\n"));
        assert_eq!(key.run("lpop l 1 2"), "-ERR wrong number of arguments for 'lpop' command\r\n");
        assert_eq!(key.run("lpop l 5"), "*1\r\n$1\r\na\r\n");
        assert!(key.value.is_none(), "emptied: the key is gone");
        assert_eq!(key.run("lpop l"), "$-1\r\n");
        assert_eq!(key.run("lpop l 2"), "*-1\r\n", "a count on no key: a null array");
        assert_eq!(key.run("lpop l 0"), "*-1\r\n");
        assert_eq!(key.run("lindex l x"), "$-1\r\n", "no key: looked up before the index is read");
        assert_eq!(key.run("llen l"), ":0\r\n");
    }

    #[test]
    fn lset_ltrim_and_lrem_answer_as_redis_does() {
        let mut key = Run::default();
        assert_eq!(key.run("lset l 0 x"), "-ERR no such key\r\n");
        assert_eq!(key.run("lset l x y"), "-ERR no such key\r\n", "the key looked up first");
        assert_eq!(key.run("rpush l a b c a b a"), ":6\r\n");
        assert_eq!(key.run("lset l x y"), format!("-{NOT_AN_INTEGER}\r\n"));
        assert_eq!(key.run("lset l 9 y"), "-ERR index out of range\r\n");
        assert_eq!(key.run("lset l -1 z"), "+OK\r\n");
        assert_eq!(key.run("lrem l x a"), format!("-{NOT_AN_INTEGER}\r\n"));
        assert_eq!(key.run("lrem l -1 a"), ":1\r\n", "the last a");
        assert_eq!(key.run("lrange l 0 -1"), "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\nz\r\n");
        assert_eq!(key.run("lrem l 0 a"), ":1\r\n");
        assert_eq!(key.run("lrem l 1 b"), ":1\r\n", "the first b");
        assert_eq!(key.run("ltrim l 1 -1"), "+OK\r\n");
        assert_eq!(key.run("lrange l 0 -1"), "*2\r\n$1\r\nb\r\n$1\r\nz\r\n");
        assert_eq!(key.run("ltrim l 5 1"), "+OK\r\n");
        assert!(key.value.is_none(), "trimmed to nothing: gone");
        assert_eq!(key.run("ltrim l 0 1"), "+OK\r\n");
        assert_eq!(key.run("lrem l 1 a"), ":0\r\n");
    }

    #[test]
    fn a_string_is_wrongtype_after_the_numbers_are_read() {
        let mut key = Run::string();
        let wrong = format!("-{WRONGTYPE}\r\n");
        assert_eq!(key.run("lpush l a"), wrong);
        assert_eq!(key.run("lpop l"), wrong);
        assert_eq!(key.run("lpop l -1"), format!("-{NOT_POSITIVE}\r\n"));
        assert_eq!(key.run("lrange l x 1"), format!("-{NOT_AN_INTEGER}\r\n"));
        assert_eq!(key.run("lindex l x"), wrong);
        assert_eq!(key.run("llen l"), wrong);
        assert_eq!(key.run("lset l x y"), wrong);
        assert_eq!(key.run("ltrim l x 1"), format!("-{NOT_AN_INTEGER}\r\n"));
        assert_eq!(key.run("lrem l x a"), format!("-{NOT_AN_INTEGER}\r\n"));
        assert_eq!(key.run("lrem l 1 a"), wrong);
    }
}
