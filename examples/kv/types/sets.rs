//! Sets: SADD, SREM, SMEMBERS, SISMEMBER, SCARD, SPOP (a random member, or with a count
//! that many distinct ones) and SRANDMEMBER (likewise without removing them; a negative
//! count: that many, repeats allowed), answered as redis-server 7.0 answers them. A hashbrown table of
//! the members hashed with the keys' keyed hash (`hash.rs`: members are client-chosen too),
//! so that SPOP can pick a random bucket, as RANDOMKEY picks a key (`store.rs`).

use super::super::glob;
use super::super::hash::hash;
use super::super::replies::{self, Protocol};
use super::super::scan::{self, Scan, ScanTable};
use super::super::store::random_below;
use super::{count, integer, scan_collection, Command, Found, NOT_AN_INTEGER, SYNTAX};

/// The most members of a set of integers Redis keeps as an intset (`set-max-intset-entries`):
/// SSCAN answers such a set whole, in one call.
const INTSET_MOST_MEMBERS: usize = 512;

/// Random buckets SPOP looks in for a member before it walks the table.
const RANDOM_TRIES: usize = 64;

/// The most members SRANDMEMBER answers with: a negative count asks for that many, repeats
/// allowed, whatever the set's size, and a client asking for 2^62 would take the server's
/// memory (Redis would try). Past it, a range error.
const MOST_RANDOM: u64 = 1 << 24;

/// One key's members.
#[derive(Debug, Default)]
pub struct Set {
    members: ScanTable<Vec<u8>>,
}

impl Set {
    /// Whether it has no member left.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Its allocations: the table's slots and each member's bytes.
    pub fn footprint(&self) -> usize {
        let bytes: usize = self.members.iter().map(Vec::capacity).sum();
        std::mem::size_of::<Set>() + self.members.capacity() * (std::mem::size_of::<Vec<u8>>() + 1) + bytes
    }

    fn contains(&self, member: &[u8]) -> bool {
        self.members.find(hash(member), |m| m == member).is_some()
    }

    /// Adds `member`; whether it was new.
    fn add(&mut self, member: &[u8]) -> bool {
        let h = hash(member);
        if self.members.find(h, |m| m == member).is_some() {
            return false;
        }
        self.members.insert_unique(h, member.to_vec(), |m| hash(m));
        true
    }

    /// Removes `member`; whether it was there.
    fn remove(&mut self, member: &[u8]) -> bool {
        self.members.remove(hash(member), |m| m == member).is_some()
    }

    /// The bucket of a member picked at random, each as likely as any other (a random
    /// bucket holding one is a fair pick); `None` if empty.
    fn random_bucket(&self) -> Option<usize> {
        let buckets = self.members.num_buckets();
        let sampled =
            (0..RANDOM_TRIES).map(|_| random_below(buckets)).find(|&at| self.members.get_bucket(at).is_some());
        match sampled {
            Some(at) => Some(at),
            None => {
                let nth = random_below(self.members.len());
                (0..buckets).filter(|&at| self.members.get_bucket(at).is_some()).nth(nth)
            }
        }
    }

    /// Removes a member picked at random; `None` if empty.
    fn pop_random(&mut self) -> Option<Vec<u8>> {
        let at = self.random_bucket()?;
        self.members.remove_bucket(at)
    }

    /// A member picked at random; `None` if empty.
    fn random(&self) -> Option<&Vec<u8>> {
        self.members.get_bucket(self.random_bucket()?)
    }

    /// `count` distinct members picked at random (all of them if it has no more).
    fn distinct_random(&self, count: usize) -> Vec<&Vec<u8>> {
        let mut all: Vec<&Vec<u8>> = self.members.iter().collect();
        let count = count.min(all.len());
        for at in 0..count {
            let pick = at + random_below(all.len() - at);
            all.swap(at, pick);
        }
        all.truncate(count);
        all
    }
}

impl Set {
    /// Its members, packed (`types::pack`): what COPY carries.
    pub fn pack(&self) -> Vec<u8> {
        super::pack(&self.members.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    /// The set [`Set::pack`] packed.
    pub fn unpack(packed: &[u8]) -> Option<Set> {
        let mut set = Set::default();
        super::unpack(packed)?.into_iter().for_each(|m| _ = set.add(m));
        Some(set)
    }

    /// Whether Redis would keep it as an intset: at most 512 members, each an integer as
    /// Redis reads one (an i64 written plainly: no sign but `-`, no leading zero). Redis keeps
    /// a set that once outgrew that a table; kv, keeping no history, looks at the members.
    fn is_intset(&self) -> bool {
        self.members.len() <= INTSET_MOST_MEMBERS && self.members.iter().all(|m| integer(m).is_some())
    }

    /// One SSCAN call: an intset whole, in its order (ascending, cursor 0), as Redis
    /// answers it; any other set from the cursor on (`ScanTable::scan`); the members that
    /// match the pattern.
    fn scan(&self, options: Scan<'_>, out: &mut Vec<u8>) {
        let (next, mut members) = match self.is_intset() {
            true => {
                let mut all: Vec<&Vec<u8>> = self.members.iter().collect();
                all.sort_by_key(|m| integer(m));
                (0, all)
            }
            false => self.members.scan(options.cursor, options.count),
        };
        members.retain(|m| glob::matches(options.pattern, m));
        scan::reply_head(out, next);
        replies::array(out, members.len());
        members.iter().for_each(|m| replies::bulk(out, m));
    }
}

/// Runs a set command (`args` after the key) on `found`; the new set if there was none and
/// the command made one.
pub fn run(
    command: Command,
    args: &[&[u8]],
    found: Found<'_, Set>,
    protocol: Protocol,
    out: &mut Vec<u8>,
) -> Option<Set> {
    use Command::*;
    match command {
        Spop => return spop(args, found, protocol, out),
        Srandmember => return srandmember(args, found, protocol, out),
        Sscan => {
            scan_collection(args, found, out, Set::scan);
            return None;
        }
        _ => {}
    }
    let Ok(set) = found.mine(out) else { return None };
    match (command, set) {
        (Sadd, set) => {
            let mut fresh = None;
            let set = set.unwrap_or_else(|| fresh.insert(Set::default()));
            let added = args.iter().filter(|m| set.add(m)).count();
            replies::int(out, added as i64);
            return fresh;
        }
        (Srem, set) => {
            let removed = set.map_or(0, |s| args.iter().filter(|m| s.remove(m)).count());
            replies::int(out, removed as i64);
        }
        (Smembers, set) => {
            let members = set.map(|s| &s.members);
            replies::set(out, members.map_or(0, |m| m.len()), protocol);
            members.into_iter().flat_map(|m| m.iter()).for_each(|m| replies::bulk(out, m));
        }
        (Sismember, set) => replies::int(out, set.is_some_and(|s| s.contains(args[0])) as i64),
        (Scard, set) => replies::int(out, set.map_or(0, |s| s.members.len()) as i64),
        _ => unreachable!("{command:?} is no set command"),
    }
    None
}

/// SPOP: without a count, one member or nil; with one (read before the key is looked up),
/// a set of up to that many, empty for no key.
fn spop(args: &[&[u8]], found: Found<'_, Set>, protocol: Protocol, out: &mut Vec<u8>) -> Option<Set> {
    if args.len() > 1 {
        replies::error(out, SYNTAX);
        return None;
    }
    let Ok(count) = count(args.first(), out) else { return None };
    let Ok(set) = found.mine(out) else { return None };
    match (count, set) {
        (None, set) => match set.and_then(Set::pop_random) {
            Some(member) => replies::bulk(out, &member),
            None => replies::null(out, protocol),
        },
        (Some(_), None) => replies::set(out, 0, protocol),
        (Some(count), Some(set)) => {
            let popped: Vec<Vec<u8>> = std::iter::from_fn(|| set.pop_random()).take(count).collect();
            replies::set(out, popped.len(), protocol);
            popped.iter().for_each(|member| replies::bulk(out, member));
        }
    }
    None
}

/// SRANDMEMBER: without a count, a member or nil; with one (read first), an array: of up to
/// that many distinct members, or for a negative count that many, repeats allowed; empty
/// for no key.
fn srandmember(args: &[&[u8]], found: Found<'_, Set>, protocol: Protocol, out: &mut Vec<u8>) -> Option<Set> {
    let count = match args {
        [] => None,
        [count] => match integer(count) {
            Some(n) if n.unsigned_abs() <= MOST_RANDOM => Some(n),
            Some(_) => {
                replies::error(out, "ERR value is out of range");
                return None;
            }
            None => {
                replies::error(out, NOT_AN_INTEGER);
                return None;
            }
        },
        _ => {
            replies::error(out, SYNTAX);
            return None;
        }
    };
    let Ok(set) = found.mine(out) else { return None };
    match (count, set) {
        (None, set) => match set.and_then(|s| s.random()) {
            Some(member) => replies::bulk(out, member),
            None => replies::null(out, protocol),
        },
        (Some(_), None) => replies::array(out, 0),
        (Some(n), Some(set)) if n < 0 => {
            replies::array(out, n.unsigned_abs() as usize);
            for _ in 0..n.unsigned_abs() {
                replies::bulk(out, set.random().expect("a set is never empty"));
            }
        }
        (Some(n), Some(set)) => {
            let picked = set.distinct_random(n as usize);
            replies::array(out, picked.len());
            picked.iter().for_each(|member| replies::bulk(out, member));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::Run;
    use super::super::{Value, NOT_POSITIVE, WRONGTYPE};
    use super::*;

    #[test]
    fn members_come_and_go_as_in_redis() {
        let mut key = Run::default();
        assert_eq!(key.run("sadd s a b a"), ":2\r\n");
        assert_eq!(key.run("sadd s b c"), ":1\r\n");
        assert_eq!(key.run("scard s"), ":3\r\n");
        assert_eq!(key.run("sismember s c"), ":1\r\n");
        assert_eq!(key.run("sismember s x"), ":0\r\n");
        let members = key.run("smembers s");
        assert!(members.starts_with("*3\r\n") && members.contains("$1\r\nb\r\n"), "{members}");
        assert_eq!(key.run("srem s a x"), ":1\r\n");
        assert_eq!(key.run("spop s 0"), "*0\r\n");
        let popped = key.run("spop s 5");
        assert!(popped.starts_with("*2\r\n") && popped.contains("$1\r\nb\r\n") && popped.contains("$1\r\nc\r\n"));
        assert!(key.value.is_none(), "emptied: gone");
        assert_eq!(key.run("spop s"), "$-1\r\n");
        assert_eq!(key.run("spop s 3"), "*0\r\n");
        assert_eq!(key.run("spop s -1"), format!("-{NOT_POSITIVE}\r\n"));
        assert_eq!(key.run("spop s x"), format!("-{NOT_POSITIVE}\r\n"), "as Redis words it");
        assert_eq!(key.run("spop s 1 2"), format!("-{SYNTAX}\r\n"));
        assert_eq!(key.run("smembers s"), "*0\r\n");
    }

    #[test]
    fn spop_picks_every_member_about_as_often() {
        let mut seen = std::collections::HashMap::<String, u32>::new();
        for _ in 0..2000 {
            let mut key = Run::default();
            key.run("sadd s a b c d");
            let reply = key.run("spop s");
            *seen.entry(reply).or_default() += 1;
            let Some(Value::Set(set)) = &key.value else { panic!("three left") };
            assert_eq!(set.members.len(), 3);
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
        // 500 expected each; within 5 standard deviations (19).
        assert!(seen.values().all(|&n| (400..=600).contains(&n)), "uneven: {seen:?}");
    }

    #[test]
    fn srandmember_picks_without_removing() {
        let mut key = Run::default();
        assert_eq!(key.run("srandmember s"), "$-1\r\n");
        assert_eq!(key.run("srandmember s 2"), "*0\r\n");
        assert_eq!(key.run("srandmember s x"), "-ERR value is not an integer or out of range\r\n");
        assert_eq!(key.run("srandmember s 1 2"), format!("-{SYNTAX}\r\n"));
        assert_eq!(key.run("sadd s a b c"), ":3\r\n");
        let one = key.run("srandmember s");
        assert!(["a", "b", "c"].iter().any(|m| one == format!("$1\r\n{m}\r\n")), "{one}");
        let two = key.run("srandmember s 2");
        assert!(two.starts_with("*2\r\n") && two.matches("$1\r\n").count() == 2, "{two}");
        assert_ne!(two.split("\r\n").nth(2), two.split("\r\n").nth(4), "distinct: {two}");
        assert_eq!(key.run("srandmember s 10").matches("$1\r\n").count(), 3, "all, once each");
        assert_eq!(key.run("srandmember s -10").matches("$1\r\n").count(), 10, "repeats allowed");
        assert_eq!(key.run("srandmember s 0"), "*0\r\n");
        assert_eq!(key.run("scard s"), ":3\r\n", "nothing removed");
    }

    #[test]
    fn a_string_is_wrongtype() {
        let mut key = Run::string();
        let wrong = format!("-{WRONGTYPE}\r\n");
        for command in ["sadd s a", "srem s a", "smembers s", "sismember s a", "scard s", "spop s", "spop s 2"] {
            assert_eq!(key.run(command), wrong, "{command}");
        }
        assert_eq!(key.run("spop s -2"), format!("-{NOT_POSITIVE}\r\n"), "the count first");
    }
}
