//! Hashes (fields and their values under one key): HSET, HMSET, HGET, HMGET, HGETALL, HDEL,
//! HLEN, HEXISTS, HKEYS, HVALS, HINCRBY, HINCRBYFLOAT (Redis' `long double` arithmetic,
//! `float.rs`), HSETNX and HSTRLEN, answered as redis-server 7.0 answers them. Fields come in no particular order (Redis' own order is its table's, once
//! a hash is past a few fields).

use std::collections::HashMap;

use rustc_apfloat::Float;

use super::super::float;
use super::super::replies::{self, Protocol};
use super::{integer, Command, Found, NOT_AN_INTEGER};

/// One key's fields.
#[derive(Debug, Default)]
pub struct Hash {
    fields: HashMap<Vec<u8>, Vec<u8>>,
}

impl Hash {
    /// Whether it has no field left.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Its allocations: the table's slots, and each field's and value's bytes.
    pub fn footprint(&self) -> usize {
        let slot = std::mem::size_of::<(Vec<u8>, Vec<u8>)>() + 1;
        let bytes: usize = self.fields.iter().map(|(f, v)| f.capacity() + v.capacity()).sum();
        std::mem::size_of::<Hash>() + self.fields.capacity() * slot + bytes
    }

    /// Sets each (field, value) pair of `pairs`; how many fields are new.
    fn set(&mut self, pairs: &[&[u8]]) -> usize {
        let mut added = 0;
        for pair in pairs.chunks_exact(2) {
            match self.fields.get_mut(pair[0]) {
                Some(value) => {
                    value.clear();
                    value.extend_from_slice(pair[1]);
                }
                None => {
                    self.fields.insert(pair[0].to_vec(), pair[1].to_vec());
                    added += 1;
                }
            }
        }
        added
    }
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
        (Hsetnx, Some(hash)) if hash.fields.contains_key(args[0]) => {
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
            let current = match hash.fields.get(args[0]) {
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
            let Some(current) = float::parse(hash.fields.get(args[0]).map_or(&b"0"[..], Vec::as_slice)) else {
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
            match hash.and_then(|h| h.fields.get(args[0])) {
                Some(value) => replies::bulk(out, value),
                None => replies::null(out, protocol),
            }
            None
        }
        (Hmget, hash) => {
            replies::array(out, args.len());
            for field in args {
                match hash.as_ref().and_then(|h| h.fields.get(*field)) {
                    Some(value) => replies::bulk(out, value),
                    None => replies::null(out, protocol),
                }
            }
            None
        }
        (Hgetall, hash) => {
            let fields = hash.map(|h| &h.fields);
            replies::map(out, fields.map_or(0, HashMap::len), protocol);
            for (field, value) in fields.into_iter().flatten() {
                replies::bulk(out, field);
                replies::bulk(out, value);
            }
            None
        }
        (Hkeys | Hvals, hash) => {
            let fields = hash.map(|h| &h.fields);
            replies::array(out, fields.map_or(0, HashMap::len));
            for (field, value) in fields.into_iter().flatten() {
                replies::bulk(out, if command == Hkeys { field } else { value });
            }
            None
        }
        (Hdel, hash) => {
            let removed = hash.map_or(0, |h| args.iter().filter(|f| h.fields.remove(**f).is_some()).count());
            replies::int(out, removed as i64);
            None
        }
        (Hlen | Hexists | Hstrlen, hash) => {
            let n = match command {
                Hlen => hash.map_or(0, |h| h.fields.len()),
                Hexists => usize::from(hash.is_some_and(|h| h.fields.contains_key(args[0]))),
                _ => hash.and_then(|h| h.fields.get(args[0])).map_or(0, Vec::len),
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
        let all = key.run("hgetall h");
        assert!(all.starts_with("*8\r\n") && all.contains("$1\r\nd\r\n$1\r\n5\r\n"), "{all}");
        assert_eq!(key.run("hkeys h").matches("$1\r\n").count(), 4);
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
