//! Hashes (fields and their values under one key): HSET, HMSET, HGET, HMGET, HGETALL, HDEL,
//! HLEN, HEXISTS, HKEYS, HVALS, HINCRBY, HINCRBYFLOAT (Redis' `long double` arithmetic,
//! `float.rs`), HSETNX and HSTRLEN, answered as redis-server 7.0 answers them.
//!
//! A hash is kept as Redis keeps it, so HGETALL, HKEYS and HVALS answer in Redis' order where
//! it has one (clients and their tests compare the lists): a small hash (at most 512 fields,
//! none and no value over 64 bytes: redis-server's `hash-max-listpack-entries` and
//! `hash-max-listpack-value` defaults) is a list of its pairs in the order their fields came
//! (overwriting a value keeps its place, HDEL closes the gap), each lookup a scan of at most
//! 512 fields, as Redis scans its listpack; a hash that grows past either limit becomes a
//! table, for good (Redis never converts back, so neither does a hash here that shrinks),
//! whose order, like Redis' hashtable's, is none in particular.

use rustc_apfloat::Float;

use super::super::float;
use super::super::glob;
use super::super::hash::hash;
use super::super::replies::{self, Protocol};
use super::super::scan::{self, Scan, ScanTable};
use super::{integer, scan_collection, Command, Found, NOT_AN_INTEGER};

/// The most fields a hash holds as a list (redis-server's `hash-max-listpack-entries`
/// default): one more makes it a table.
const LISTED_MOST_FIELDS: usize = 512;

/// The longest field or value a hash holds as a list (redis-server's
/// `hash-max-listpack-value` default): a longer one makes it a table.
const LISTED_LONGEST: usize = 64;

/// The control bytes hashbrown keeps past a table's last bucket (one SSE2 group's), so a
/// probe starting near the end reads a whole group.
const CONTROL_GROUP: usize = 16;

/// A field and its value.
type Pair = (Vec<u8>, Vec<u8>);

/// One key's fields.
#[derive(Debug, Default)]
pub struct Hash {
    fields: Fields,
}

/// A hash's pairs, as Redis would encode them.
#[derive(Debug)]
enum Fields {
    /// Redis' listpack: in the order their fields came, found by a scan.
    Listed(Vec<Pair>),
    /// Redis' hashtable: fields hashed with the keys' keyed hash (`hash.rs`: fields are
    /// client-chosen too), in no particular order; HSCAN walks its buckets.
    Hashed(ScanTable<Pair>),
}

impl Default for Fields {
    fn default() -> Fields {
        Fields::Listed(Vec::new())
    }
}

impl Hash {
    /// Whether it has no field left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its allocations: the list's pairs or the table's buckets (a pair and a control byte
    /// each, and a group's worth of control bytes past the end), and each field's and
    /// value's bytes.
    pub fn footprint(&self) -> usize {
        let pair = std::mem::size_of::<Pair>();
        let slots = match &self.fields {
            Fields::Listed(pairs) => pairs.capacity() * pair,
            Fields::Hashed(table) if table.capacity() == 0 => 0,
            Fields::Hashed(table) => table.num_buckets() * (pair + 1) + CONTROL_GROUP,
        };
        let bytes: usize = self.pairs().map(|(f, v)| f.capacity() + v.capacity()).sum();
        std::mem::size_of::<Hash>() + slots + bytes
    }

    fn len(&self) -> usize {
        match &self.fields {
            Fields::Listed(pairs) => pairs.len(),
            Fields::Hashed(table) => table.len(),
        }
    }

    /// Its pairs: in the order their fields came while it is a list.
    fn pairs(&self) -> impl Iterator<Item = &Pair> {
        let (listed, hashed) = match &self.fields {
            Fields::Listed(pairs) => (Some(pairs), None),
            Fields::Hashed(table) => (None, Some(table)),
        };
        listed.into_iter().flatten().chain(hashed.into_iter().flatten())
    }

    /// The value of `field`, if it has one.
    fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let pair = match &self.fields {
            Fields::Listed(pairs) => pairs.iter().find(|(f, _)| f == field),
            Fields::Hashed(table) => table.find(hash(field), |(f, _)| f == field),
        };
        pair.map(|(_, value)| value.as_slice())
    }

    /// Sets each (field, value) pair of `pairs`; how many fields are new.
    fn set(&mut self, pairs: &[&[u8]]) -> usize {
        pairs.chunks_exact(2).filter(|pair| self.set_one(pair[0], pair[1])).count()
    }

    /// Sets `field` to `value`, in place if it has one (a listed field keeps its place), last
    /// if not; whether it is new. A field or value too long for a list, or one field more
    /// than a list holds, makes the hash a table first, as Redis converts (its HSET looks at
    /// every argument before it sets any, but what it converts ends a table either way).
    fn set_one(&mut self, field: &[u8], value: &[u8]) -> bool {
        if field.len() > LISTED_LONGEST || value.len() > LISTED_LONGEST {
            self.hash_fields();
        }
        let added = match &mut self.fields {
            Fields::Listed(pairs) => match pairs.iter_mut().find(|(f, _)| f == field) {
                Some((_, old)) => overwrite(old, value),
                None => {
                    pairs.push((field.to_vec(), value.to_vec()));
                    true
                }
            },
            Fields::Hashed(table) => {
                let h = hash(field);
                match table.find_mut(h, |(f, _)| f == field) {
                    Some((_, old)) => overwrite(old, value),
                    None => {
                        table.insert_unique(h, (field.to_vec(), value.to_vec()), |(f, _)| hash(f));
                        true
                    }
                }
            }
        };
        if self.len() > LISTED_MOST_FIELDS {
            self.hash_fields();
        }
        added
    }

    /// Removes `field`; whether it was there. A listed hash keeps its other fields' order.
    fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.fields {
            Fields::Listed(pairs) => pairs.iter().position(|(f, _)| f == field).map(|at| pairs.remove(at)).is_some(),
            Fields::Hashed(table) => table.remove(hash(field), |(f, _)| f == field).is_some(),
        }
    }

    /// Makes a listed hash a table (a table stays one).
    fn hash_fields(&mut self) {
        let Fields::Listed(pairs) = &mut self.fields else { return };
        let mut table = ScanTable::with_capacity(pairs.len());
        for pair in pairs.drain(..) {
            table.insert_unique(hash(&pair.0), pair, |(f, _)| hash(f));
        }
        self.fields = Fields::Hashed(table);
    }
}

impl Hash {
    /// Its pairs, field then value, packed (`types::pack`): what COPY carries.
    pub fn pack(&self) -> Vec<u8> {
        let words: Vec<&[u8]> = self.pairs().flat_map(|(f, v)| [&f[..], &v[..]]).collect();
        super::pack(&words)
    }

    /// The hash [`Hash::pack`] packed (its pairs set in order, as HSET sets them).
    pub fn unpack(packed: &[u8]) -> Option<Hash> {
        let words = super::unpack(packed)?;
        let mut hash = Hash::default();
        hash.set(&words);
        Some(hash)
    }

    /// One HSCAN call: a listed hash whole (Redis' listpack: in its order, cursor 0), a
    /// table from the cursor on (`ScanTable::scan`); the fields that match the pattern, each
    /// followed by its value.
    fn scan(&self, options: Scan<'_>, out: &mut Vec<u8>) {
        let (next, pairs) = match &self.fields {
            Fields::Listed(pairs) => (0, pairs.iter().collect()),
            Fields::Hashed(table) => table.scan(options.cursor, options.count),
        };
        let matching: Vec<&Pair> = pairs.into_iter().filter(|(f, _)| glob::matches(options.pattern, f)).collect();
        scan::reply_head(out, next);
        replies::array(out, 2 * matching.len());
        for (field, value) in matching {
            replies::bulk(out, field);
            replies::bulk(out, value);
        }
    }
}

/// Replaces `old`'s bytes with `value`'s, in `old`'s allocation when it is big enough; false
/// (the field is not new).
fn overwrite(old: &mut Vec<u8>, value: &[u8]) -> bool {
    old.clear();
    old.extend_from_slice(value);
    false
}

/// Runs a hash command (`args` after the key) on `found`; the new hash if there was none
/// and the command made one.
pub fn run(
    command: Command,
    args: &[&[u8]],
    found: Found<'_, Hash>,
    protocol: Protocol,
    out: &mut Vec<u8>,
) -> Option<Hash> {
    use Command::*;
    // HSET's arity is odd: field value pairs after the key. HINCRBY reads its amount first.
    match command {
        Hset | Hmset if !args.len().is_multiple_of(2) => {
            let text = format!("ERR wrong number of arguments for '{}' command", command.name());
            replies::error(out, &text);
            return None;
        }
        _ => {}
    }
    if command == Hscan {
        scan_collection(args, found, out, Hash::scan);
        return None;
    }
    let by = match command {
        Hincrby => match integer(args[1]) {
            Some(by) => by,
            None => {
                replies::error(out, NOT_AN_INTEGER);
                return None;
            }
        },
        _ => 0,
    };
    let by_float = match command {
        Hincrbyfloat => match float::parse(args[1]) {
            Some(by) if !by.is_infinite() => Some(by),
            refused => {
                let text =
                    if refused.is_some() { "ERR value is NaN or Infinity" } else { "ERR value is not a valid float" };
                replies::error(out, text);
                return None;
            }
        },
        _ => None,
    };
    let Ok(hash) = found.mine(out) else { return None };
    match (command, hash) {
        (Hset | Hmset, hash) => {
            let mut fresh = None;
            let hash = hash.unwrap_or_else(|| fresh.insert(Hash::default()));
            let added = hash.set(args);
            match command {
                Hset => replies::int(out, added as i64),
                _ => replies::ok(out),
            }
            fresh
        }
        (Hsetnx, Some(hash)) if hash.get(args[0]).is_some() => {
            replies::int(out, 0);
            None
        }
        (Hsetnx, hash) => {
            let mut fresh = None;
            hash.unwrap_or_else(|| fresh.insert(Hash::default())).set(args);
            replies::int(out, 1);
            fresh
        }
        (Hincrby, hash) => {
            let mut fresh = None;
            let hash = hash.unwrap_or_else(|| fresh.insert(Hash::default()));
            let current = match hash.get(args[0]) {
                None => 0,
                Some(value) => match integer(value) {
                    Some(n) => n,
                    None => {
                        replies::error(out, "ERR hash value is not an integer");
                        return None;
                    }
                },
            };
            let Some(next) = current.checked_add(by) else {
                replies::error(out, "ERR increment or decrement would overflow");
                return None;
            };
            hash.set(&[args[0], next.to_string().as_bytes()]);
            replies::int(out, next);
            fresh
        }
        (Hincrbyfloat, hash) => {
            let by = by_float.expect("read above");
            let mut fresh = None;
            let hash = hash.unwrap_or_else(|| fresh.insert(Hash::default()));
            let Some(current) = float::parse(hash.get(args[0]).unwrap_or(b"0")) else {
                replies::error(out, "ERR hash value is not a float");
                return None;
            };
            let Some(sum) = float::add(current, by) else {
                replies::error(out, "ERR increment would produce NaN or Infinity");
                return None;
            };
            hash.set(&[args[0], sum.as_bytes()]);
            replies::bulk(out, sum.as_bytes());
            fresh
        }
        (Hget, hash) => {
            match hash.and_then(|h| h.get(args[0])) {
                Some(value) => replies::bulk(out, value),
                None => replies::null(out, protocol),
            }
            None
        }
        (Hmget, hash) => {
            replies::array(out, args.len());
            for field in args {
                match hash.as_ref().and_then(|h| h.get(field)) {
                    Some(value) => replies::bulk(out, value),
                    None => replies::null(out, protocol),
                }
            }
            None
        }
        (Hgetall, hash) => {
            replies::map(out, hash.as_ref().map_or(0, |h| h.len()), protocol);
            for (field, value) in hash.iter().flat_map(|h| h.pairs()) {
                replies::bulk(out, field);
                replies::bulk(out, value);
            }
            None
        }
        (Hkeys | Hvals, hash) => {
            replies::array(out, hash.as_ref().map_or(0, |h| h.len()));
            for (field, value) in hash.iter().flat_map(|h| h.pairs()) {
                replies::bulk(out, if command == Hkeys { field } else { value });
            }
            None
        }
        (Hdel, hash) => {
            let removed = hash.map_or(0, |h| args.iter().filter(|f| h.remove(f)).count());
            replies::int(out, removed as i64);
            None
        }
        (Hlen | Hexists | Hstrlen, hash) => {
            let n = match command {
                Hlen => hash.map_or(0, |h| h.len()),
                Hexists => usize::from(hash.is_some_and(|h| h.get(args[0]).is_some())),
                _ => hash.and_then(|h| h.get(args[0])).map_or(0, <[u8]>::len),
            };
            replies::int(out, n as i64);
            None
        }
        _ => unreachable!("{command:?} is no hash command"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::Run;
    use super::super::WRONGTYPE;
    use super::*;

    /// RESP2's array of `items`, as HKEYS and HGETALL write one.
    fn bulks(items: &[&str]) -> String {
        let bulk = |item: &&str| format!("${}\r\n{item}\r\n", item.len());
        format!("*{}\r\n{}", items.len(), items.iter().map(bulk).collect::<String>())
    }

    /// The hash `key` holds.
    fn hash_of(key: &Run) -> &Hash {
        match &key.value {
            Some(super::super::Value::Hash(hash)) => hash,
            other => panic!("no hash: {other:?}"),
        }
    }

    fn is_listed(key: &Run) -> bool {
        matches!(hash_of(key).fields, Fields::Listed(_))
    }

    /// Fields in insertion order, whatever the command that brought them, overwrites and
    /// increments in place, deletions closing the gap: redis-server 7.0.15's HGETALL, HKEYS
    /// and HVALS after the same commands (tests/kv_types.rs checks its table against one).
    #[test]
    fn a_small_hash_answers_in_the_order_its_fields_came() {
        let mut key = Run::default();
        for words in [
            "hset h c 1 a 2 b 3",
            "hset h a 9 d 4",
            "hsetnx h z 1",
            "hsetnx h a 7",
            "hincrby h y 5",
            "hincrby h b 5",
            "hincrbyfloat h x 1.5",
            "hincrbyfloat h c 0.25",
            "hdel h c q",
            "hset h c 0 a 1 a 2",
            "hmset h e 1 b 0",
        ] {
            key.run(words);
        }
        let want = ["a", "2", "b", "0", "d", "4", "z", "1", "y", "5", "x", "1.5", "c", "0", "e", "1"];
        assert_eq!(key.run("hgetall h"), bulks(&want));
        assert_eq!(key.run("hkeys h"), bulks(&want.iter().copied().step_by(2).collect::<Vec<_>>()));
        assert_eq!(key.run("hvals h"), bulks(&want.iter().copied().skip(1).step_by(2).collect::<Vec<_>>()));
        assert!(is_listed(&key));
    }

    /// A hash is a list up to Redis' listpack limits, 512 fields and 64 bytes, and a table
    /// past either, for good; what does not set a field (HSETNX of one it has, an increment
    /// refused) converts nothing, as in redis-server 7.0.15 (OBJECT ENCODING told).
    #[test]
    fn a_hash_becomes_a_table_where_redis_converts_its_listpack() {
        let long = "x".repeat(LISTED_LONGEST + 1);
        let longest = "x".repeat(LISTED_LONGEST);
        let mut key = Run::default();
        let fields: Vec<String> = (0..LISTED_MOST_FIELDS).rev().map(|n| format!("f{n}")).collect();
        for field in &fields {
            key.run(&format!("hset h {field} {longest}"));
        }
        key.run(&format!("hset h {} 1", fields[7]));
        key.run(&format!("hsetnx h {} {long}", fields[9]));
        key.run(&format!("hincrby h {long} x"));
        assert!(is_listed(&key), "512 fields of 64 bytes");
        let keys: Vec<&str> = fields.iter().map(String::as_str).collect();
        assert_eq!(key.run("hkeys h"), bulks(&keys), "the overwritten field in its place");
        key.run("hset h one-more 1");
        assert!(!is_listed(&key), "513 fields");
        assert_eq!(key.run(&format!("hdel h one-more {}", keys[1..].join(" "))), ":512\r\n");
        assert_eq!(key.run("hgetall h"), bulks(&[keys[0], &longest]));
        assert!(!is_listed(&key), "a table stays one");
        for words in [format!("hset h a {long}"), format!("hset h {long} 1"), format!("hincrby h {long} 1")] {
            let mut key = Run::default();
            key.run("hset h z 1 y 2");
            key.run(&words);
            assert!(!is_listed(&key), "{words}");
            assert_eq!(key.run("hlen h"), ":3\r\n", "{words}");
        }
    }

    /// Past the list's limit each lookup is a table's: 20,000 fields set and read back (a
    /// scan per lookup would be 200 million comparisons, seconds; this is milliseconds).
    #[test]
    fn a_big_hash_is_a_table() {
        let mut hash = Hash::default();
        let fields: Vec<String> = (0..20_000).map(|n| format!("field:{n}")).collect();
        for field in &fields {
            assert_eq!(hash.set(&[field.as_bytes(), b"v"]), 1);
        }
        assert!(matches!(hash.fields, Fields::Hashed(_)));
        assert!(fields.iter().all(|f| hash.get(f.as_bytes()) == Some(&b"v"[..])));
        assert_eq!(hash.len(), 20_000);
        assert!(fields.iter().all(|f| hash.remove(f.as_bytes())));
        assert!(hash.is_empty());
    }

    /// The footprint counts the pairs' bytes and their slots: a list's fewer than a table's.
    #[test]
    fn the_footprint_counts_the_pairs_and_a_list_is_the_smaller() {
        let mut listed = Hash::default();
        let pairs: Vec<Vec<u8>> = (0..100).map(|n| format!("{n:032}").into_bytes()).collect();
        let pairs: Vec<&[u8]> = pairs.iter().map(Vec::as_slice).collect();
        listed.set(&pairs);
        let bytes = 100 * 32;
        let slots = 50 * std::mem::size_of::<Pair>();
        assert!(listed.footprint() >= bytes + slots, "{}", listed.footprint());
        let mut hashed = Hash::default();
        hashed.set(&pairs);
        hashed.hash_fields();
        assert!(hashed.footprint() > listed.footprint(), "{} {}", hashed.footprint(), listed.footprint());
        assert!(hashed.footprint() < 4 * listed.footprint(), "{} {}", hashed.footprint(), listed.footprint());
    }

    #[test]
    fn hset_counts_new_fields_and_the_readers_find_them() {
        let mut key = Run::default();
        assert_eq!(key.run("hset h a 1 b 2"), ":2\r\n");
        assert_eq!(key.run("hset h a 3 c 4"), ":1\r\n", "a overwritten, c new");
        assert_eq!(key.run("hget h a"), "$1\r\n3\r\n");
        assert_eq!(key.run("hget h x"), "$-1\r\n");
        assert_eq!(key.run("hmget h a x c"), "*3\r\n$1\r\n3\r\n$-1\r\n$1\r\n4\r\n");
        assert_eq!(key.run("hlen h"), ":3\r\n");
        assert_eq!(key.run("hexists h b"), ":1\r\n");
        assert_eq!(key.run("hstrlen h b"), ":1\r\n");
        assert_eq!(key.run("hmset h d 5"), "+OK\r\n");
        assert_eq!(key.run("hgetall h"), bulks(&["a", "3", "b", "2", "c", "4", "d", "5"]));
        assert_eq!(key.run("hkeys h"), bulks(&["a", "b", "c", "d"]));
        assert_eq!(key.run("hset h a"), "-ERR wrong number of arguments for 'hset' command\r\n");
    }

    #[test]
    fn hdel_empties_the_hash_and_hsetnx_and_hincrby_answer_as_redis_does() {
        let mut key = Run::default();
        assert_eq!(key.run("hsetnx h a 1"), ":1\r\n");
        assert_eq!(key.run("hsetnx h a 2"), ":0\r\n");
        assert_eq!(key.run("hincrby h a 10"), ":11\r\n");
        assert_eq!(key.run("hincrby h n -3"), ":-3\r\n");
        assert_eq!(key.run("hincrby h a x"), format!("-{NOT_AN_INTEGER}\r\n"));
        assert_eq!(key.run(&format!("hincrby h a {}", i64::MAX)), "-ERR increment or decrement would overflow\r\n");
        assert_eq!(key.run("hset h s abc"), ":1\r\n");
        assert_eq!(key.run("hincrby h s 1"), "-ERR hash value is not an integer\r\n");
        assert_eq!(key.run("hincrbyfloat h f 10.5"), "$4\r\n10.5\r\n");
        assert_eq!(key.run("hincrbyfloat h f 0.1"), "$4\r\n10.6\r\n", "long double, as Redis adds");
        assert_eq!(key.run("hincrbyfloat h f inf"), "-ERR value is NaN or Infinity\r\n");
        assert_eq!(key.run("hincrbyfloat h f x"), "-ERR value is not a valid float\r\n");
        assert_eq!(key.run("hincrbyfloat h s 1"), "-ERR hash value is not a float\r\n");
        assert_eq!(key.run("hdel h a n s x f"), ":4\r\n");
        assert!(key.value.is_none(), "the last field gone, the key with it");
        assert_eq!(key.run("hgetall h"), "*0\r\n");
        assert_eq!(key.run("hdel h a"), ":0\r\n");
    }

    #[test]
    fn a_key_of_another_type_is_wrongtype_after_the_amount_is_read() {
        let mut key = Run::string();
        assert_eq!(key.run("hget h a"), format!("-{WRONGTYPE}\r\n"));
        assert_eq!(key.run("hset h a 1"), format!("-{WRONGTYPE}\r\n"));
        assert_eq!(key.run("hincrby h a x"), format!("-{NOT_AN_INTEGER}\r\n"), "the amount first");
        assert_eq!(key.run("hlen h"), format!("-{WRONGTYPE}\r\n"));
    }
}
