//! COPY and ZRANGESTORE: a value lifted from one key and put down at another, which another
//! core may own. Both keys on one core: one operation there (`Op::Lift` with `here`), as
//! RENAME is. On two: the source's core lifts the value and answers with it, packed (a
//! [`payload`]: its type, its expiry as a Unix time, its elements), and the destination's
//! core puts it down (`Op::Put`) and gives the client's reply. The connection's pipeline
//! runs the two in order (`pipeline.rs`: the requests after them wait for the lift, so they
//! see the copy), and a lift that fails (WRONGTYPE, a bad range, no source for COPY) carries
//! its reply instead of a value.
//!
//! What travels is the value's elements, not its layout: a copied hash of at most 512
//! fields is a list again, in its table's order (Redis copies the encoding as it is).

use super::resp::integer;
use super::types::{self, Value, NOT_AN_INTEGER, SYNTAX};

/// What a lift takes and how its value is put down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// COPY: the source's value and expiry, written only where there is no key, unless
    /// REPLACE; `:1` if written, else `:0`.
    Copy { replace: bool },
    /// ZRANGESTORE: the members a ZRANGE of the source takes, as a sorted set without an
    /// expiry, replacing whatever the destination held (deleted if none is taken); their
    /// count.
    RangeStore,
}

impl Transfer {
    /// Two bits: 0 COPY, 1 COPY REPLACE, 2 ZRANGESTORE.
    pub fn bits(self) -> u8 {
        match self {
            Transfer::Copy { replace } => u8::from(replace),
            Transfer::RangeStore => 2,
        }
    }

    /// The inverse of [`Transfer::bits`]; `None` for bits it never writes.
    pub fn from_bits(bits: u8) -> Option<Transfer> {
        match bits {
            0 | 1 => Some(Transfer::Copy { replace: bits == 1 }),
            2 => Some(Transfer::RangeStore),
            _ => None,
        }
    }
}

/// What a lift answers with: the client's reply as it is, or a value.
pub mod payload {
    use super::Value;

    const REPLY: u8 = b'R';
    const VALUE: u8 = b'V';
    /// The expiry of a value that has none.
    const NO_EXPIRY: u64 = u64::MAX;

    /// A lift's payload, read.
    pub enum Lifted<'p> {
        /// The client's reply: the lift ended the command.
        Reply(&'p [u8]),
        /// A value, and the Unix time in milliseconds it expires at, if it does.
        Value(Value, Option<u64>),
    }

    /// Appends the payload for the client's reply `reply` (an error, or COPY's `:0`).
    pub fn reply(out: &mut Vec<u8>, reply: &[u8]) {
        out.push(REPLY);
        out.extend_from_slice(reply);
    }

    /// Appends the payload for `value`, expiring at Unix time `expires` (milliseconds).
    pub fn value(out: &mut Vec<u8>, value: &Value, expires: Option<u64>) {
        out.push(VALUE);
        out.push(value.type_number());
        out.extend_from_slice(&expires.unwrap_or(NO_EXPIRY).to_le_bytes());
        out.extend_from_slice(&value.pack());
    }

    /// The client's reply a payload carries, if it carries one and not a value (an
    /// unreadable payload: an error).
    pub fn reply_of(payload: &[u8]) -> Option<&[u8]> {
        match payload.split_first() {
            Some((&REPLY, reply)) => Some(reply),
            Some((&VALUE, _)) => None,
            _ => Some(b"-ERR unreadable operation\r\n"),
        }
    }

    /// The payload [`reply`] or [`value`] wrote; `None` if it was not written so.
    pub fn read(payload: &[u8]) -> Option<Lifted<'_>> {
        match payload.split_first()? {
            (&REPLY, reply) => Some(Lifted::Reply(reply)),
            (&VALUE, rest) => {
                let (&type_number, rest) = rest.split_first()?;
                let (expires, packed) = rest.split_first_chunk::<8>()?;
                let expires = Some(u64::from_le_bytes(*expires)).filter(|&at| at != NO_EXPIRY);
                Some(Lifted::Value(Value::unpack(type_number, packed)?, expires))
            }
            _ => None,
        }
    }
}

/// Reads `COPY source destination [DB db] [REPLACE]` (`args` after the name, at least two)
/// as Redis 7.0 reads it: the options in order (REPLACE any number of times, DB's index a C
/// int, an option it does not know a syntax error), then the database, which must be 0
/// (kv has no other: SELECT's error), then the keys, which must differ. Whether to replace.
pub fn copy_options(args: &[&[u8]]) -> Result<bool, &'static str> {
    let [source, destination, options @ ..] = args else { return Err(SYNTAX) };
    let (mut replace, mut db, mut at) = (false, 0, 0);
    while let Some(option) = options.get(at) {
        if option.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if option.eq_ignore_ascii_case(b"db") && at + 1 < options.len() {
            at += 1;
            db = match integer(options[at]).map(i32::try_from) {
                Some(Ok(db)) => db,
                Some(Err(_)) => return Err(OUT_OF_INT_RANGE),
                None => return Err(NOT_AN_INTEGER),
            };
        } else {
            return Err(SYNTAX);
        }
        at += 1;
    }
    if db != 0 {
        return Err("ERR DB index is out of range");
    }
    if source == destination {
        return Err("ERR source and destination objects are the same");
    }
    Ok(replace)
}

/// A lift's destination and its other arguments (ZRANGESTORE's range and options), packed
/// together (`types::pack`) as an [`Op::Lift`] carries them.
pub fn pack_lift(destination: &[u8], args: &[&[u8]]) -> Vec<u8> {
    types::pack(&[&[destination][..], args].concat())
}

/// The destination and the other arguments [`pack_lift`] packed; `None` if not so packed.
pub fn unpack_lift(packed: &[u8]) -> Option<(&[u8], Vec<&[u8]>)> {
    let mut args = types::unpack(packed)?;
    (!args.is_empty()).then(|| (args.remove(0), args))
}

/// Redis' `getIntFromObjectOrReply` error for an integer past a C int.
const OUT_OF_INT_RANGE: &str = "ERR value is out of range, value must between -2147483648 and 2147483647";

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(words: &[&'static str]) -> Result<bool, &'static str> {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        copy_options(&args)
    }

    /// COPY's options and refusals as redis-server 7.0.15 gave them (DB 1 aside: Redis has
    /// 16 databases, kv one).
    #[test]
    fn copy_reads_its_options_as_redis_does() {
        assert_eq!(copy(&["a", "b"]), Ok(false));
        assert_eq!(copy(&["a", "b", "REPLACE", "replace", "db", "0"]), Ok(true));
        assert!(copy(&["a", "b", "DB", "-0"]).is_err(), "-0 is no integer Redis reads");
        let cases: [(&[&str], &str); 8] = [
            (&["a", "b", "db"], SYNTAX),
            (&["a", "b", "foo"], SYNTAX),
            (&["a", "b", "db", "x", "foo"], NOT_AN_INTEGER),
            (&["a", "b", "db", "2147483648"], OUT_OF_INT_RANGE),
            (&["a", "b", "db", "1"], "ERR DB index is out of range"),
            (&["a", "b", "db", "-1"], "ERR DB index is out of range"),
            (&["a", "a"], "ERR source and destination objects are the same"),
            (&["a", "a", "db", "5"], "ERR DB index is out of range"),
        ];
        for (words, want) in cases {
            assert_eq!(copy(words).err(), Some(want), "COPY {words:?}");
        }
    }

    #[test]
    fn a_lift_packs_its_destination_first() {
        let packed = pack_lift(b"dst", &[b"0", b"-1"]);
        assert_eq!(unpack_lift(&packed), Some((&b"dst"[..], vec![&b"0"[..], &b"-1"[..]])));
        assert_eq!(unpack_lift(&types::pack(&[])), None);
    }

    #[test]
    fn transfers_round_trip_through_their_bits() {
        for how in [Transfer::Copy { replace: false }, Transfer::Copy { replace: true }, Transfer::RangeStore] {
            assert_eq!(Transfer::from_bits(how.bits()), Some(how));
        }
        assert_eq!(Transfer::from_bits(3), None);
    }
}
