//! Lists: LPUSH, RPUSH, LPOP, RPOP (with a count, Redis 6.2's), LLEN, LRANGE, LINDEX, LSET,
//! LTRIM and LREM, answered as redis-server 7.0 answers them, on a `VecDeque` (both ends
//! O(1)).

use std::collections::VecDeque;

use super::super::replies::{self, Protocol};
use super::{count, index_range, integer, Command, Found, NOT_AN_INTEGER};

/// One key's elements, head first.
#[derive(Debug, Default)]
pub struct List {
    elements: VecDeque<Vec<u8>>,
}

impl List {
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
