//! CONFIG SET, as Redis 7.0 answers it, for a server that can change one of its parameters,
//! `maxclients` (as Redis changes it: any count from 1 up that the limit on open descriptors
//! allows): setting another of kv's parameters (`config.rs`) to the value it has is `+OK`
//! (test suites and tools send `CONFIG SET save ""` or `appendonly no` before they start),
//! any other value Redis would take is refused in Redis' words with kv's reason, and what
//! Redis refuses is refused with Redis' error: a parameter kv does not have gets the error
//! Redis gives for one it does not know.

use super::admission::Admission;
use super::config::PARAMETERS;
use super::replies;
use super::resp::{integer, MAX_BULK};

/// Why a value Redis would take is refused.
const KV_KEEPS_IT: &str = "kv cannot change this parameter from its value";

const POLICIES: [&str; 8] = [
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// Redis' refusal of a `proto-max-bulk-len` outside its bounds (1mb up to `i64::MAX`).
const PROTO_MAX_BULK_LEN_BOUNDS: &str = "argument must be between 1048576 and 9223372036854775807 inclusive";

/// `CONFIG SET name value [name value ...]` (`args` after SET), checked as Redis'
/// `configSetCommand` checks it: the arity, then the names in order (the first unknown one
/// is the error, unless an immutable or repeated name came before it), then each value; then
/// applied (the one value kv changes, `maxclients`, for a server on `cores` cores admitting
/// clients by `admission`), or none if that fails.
pub fn answer(args: &[&[u8]], admission: &Admission, cores: usize, out: &mut Vec<u8>) {
    if args.len() < 2 {
        return replies::error(out, "ERR wrong number of arguments for 'config|set' command");
    }
    if !args.len().is_multiple_of(2) {
        return replies::error(out, "ERR syntax error");
    }
    let mut unknown: Option<&[u8]> = None;
    let mut seen = Vec::new();
    for pair in args.chunks_exact(2) {
        let Some(name) = PARAMETERS.iter().find(|n| pair[0].eq_ignore_ascii_case(n.as_bytes())) else {
            unknown.get_or_insert(pair[0]);
            continue;
        };
        if unknown.is_some() {
            continue;
        }
        if *name == "databases" {
            return failed(out, pair[0], "can't set immutable config");
        }
        if seen.contains(name) {
            return failed(out, pair[0], "duplicate parameter");
        }
        seen.push(name);
    }
    if let Some(name) = unknown {
        let text = [&b"ERR Unknown option or number of arguments for CONFIG SET - '"[..], c_string(name), b"'"];
        return replies::error_bytes(out, &text.concat());
    }
    let mut max_clients = None;
    for pair in args.chunks_exact(2) {
        let name = pair[0].to_ascii_lowercase();
        if name == b"maxclients" {
            match max_clients_value(pair[1]) {
                Ok(max) => max_clients = Some(max),
                Err(why) => return failed(out, pair[0], why),
            }
        } else if let Err(why) = check(&name, pair[1]) {
            return failed(out, pair[0], why);
        }
    }
    if let Some(max) = max_clients {
        // Redis' `updateMaxclients`, which names the parameter as Redis spells it.
        if let Err(most) = admission.set_max(max, cores) {
            let why =
                format!("The operating system is not able to handle the specified number of clients, try with {most}");
            return failed(out, b"maxclients", &why);
        }
    }
    replies::ok(out)
}

/// A `maxclients` value, as Redis reads one (an unsigned int, 1 up), or why not.
fn max_clients_value(value: &[u8]) -> Result<usize, &'static str> {
    match integer(value) {
        None => Err("argument couldn't be parsed into an integer"),
        Some(max @ 1..=4_294_967_295) => Ok(max as usize),
        Some(_) => Err("argument must be between 1 and 4294967295 inclusive"),
    }
}

/// `name`'s value `value`: fine if it is the one kv has, else why not.
fn check(name: &[u8], value: &[u8]) -> Result<(), &'static str> {
    let value_is = |v: &str| value.eq_ignore_ascii_case(v.as_bytes());
    let keeps = |same: bool| if same { Ok(()) } else { Err(KV_KEEPS_IT) };
    match name {
        b"appendonly" if value_is("no") || value_is("yes") => keeps(value_is("no")),
        b"appendonly" => Err("argument must be 'yes' or 'no'"),
        b"maxmemory" => keeps(memory(value).ok_or("argument must be a memory value")? == 0),
        b"proto-max-bulk-len" => match memory(value).ok_or("argument must be a memory value")? {
            bytes @ 1_048_576..=0x7fff_ffff_ffff_ffff => keeps(bytes == MAX_BULK as u64),
            _ => Err(PROTO_MAX_BULK_LEN_BOUNDS),
        },
        b"maxmemory-policy" if POLICIES.iter().any(|p| value_is(p)) => keeps(value_is("noeviction")),
        b"maxmemory-policy" => Err("argument(s) must be one of the following: volatile-lru, volatile-lfu, \
             volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"),
        b"save" => {
            let words: Vec<&[u8]> = value.split(|&b| b == b' ').filter(|w| !w.is_empty()).collect();
            let valid = words.len().is_multiple_of(2) && words.iter().all(|w| integer(w).is_some_and(|n| n >= 0));
            if valid {
                keeps(words.is_empty())
            } else {
                Err("Invalid save parameters")
            }
        }
        b"timeout" => match integer(value) {
            None => Err("argument couldn't be parsed into an integer"),
            Some(0..=2147483647) => keeps(value == b"0"),
            Some(_) => Err("argument must be between 0 and 2147483647 inclusive"),
        },
        _ => unreachable!("a name in PARAMETERS"),
    }
}

/// A memory value as Redis reads one: digits, then a unit of `b`, `k` (1000), `kb` (1024),
/// `m`, `mb`, `g` or `gb`, in any case, or none.
fn memory(value: &[u8]) -> Option<u64> {
    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
    let unit: u64 = match value[digits..].to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let number: u64 = std::str::from_utf8(&value[..digits]).ok()?.parse().ok()?;
    number.checked_mul(unit)
}

/// `ERR CONFIG SET failed (possibly related to argument 'NAME') - WHY`, the name as given.
fn failed(out: &mut Vec<u8>, name: &[u8], why: &str) {
    let text =
        [&b"ERR CONFIG SET failed (possibly related to argument '"[..], c_string(name), b"') - ", why.as_bytes()];
    replies::error_bytes(out, &text.concat());
}

/// A client's bytes as C's `%s` prints them: up to the first NUL.
fn c_string(bytes: &[u8]) -> &[u8] {
    replies::c_text(bytes, usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_set(args: &[&str]) -> String {
        config_set_on(&Admission::new(10_000), args)
    }

    fn config_set_on(admission: &Admission, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let mut out = Vec::new();
        answer(&args, admission, 2, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// `maxclients` as Redis 7.0.15 takes it: any count from 1 to `UINT_MAX` the descriptors
    /// allow, checked with the other values before any is applied.
    #[test]
    fn set_changes_maxclients_as_redis_does() {
        let failed =
            |why: &str| format!("-ERR CONFIG SET failed (possibly related to argument 'MaxClients') - {why}\r\n");
        let admission = Admission::new(10_000);
        let out_of_range = "argument must be between 1 and 4294967295 inclusive";
        for (value, why) in [
            ("0", out_of_range),
            ("-1", out_of_range),
            ("4294967296", out_of_range),
            ("ten", "argument couldn't be parsed into an integer"),
        ] {
            assert_eq!(config_set_on(&admission, &["MaxClients", value]), failed(why), "{value}");
        }
        assert_eq!(
            config_set_on(&admission, &["maxclients", "5", "maxmemory", "1gb"]),
            format!("-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - {KV_KEEPS_IT}\r\n")
        );
        assert_eq!(admission.max(), 10_000, "nothing applied");
        assert_eq!(config_set_on(&admission, &["maxclients", "5", "maxmemory", "0"]), "+OK\r\n");
        assert_eq!(admission.max(), 5);
        let past = config_set_on(&admission, &["MaxClients", "4294967295"]);
        assert!(
            past.starts_with("-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with "),
            "{past}"
        );
        assert_eq!(admission.max(), 5, "unchanged");
    }

    /// Each refusal with the reply redis-server 7.0.15 gave; the values kv has are `+OK`.
    #[test]
    fn set_answers_as_redis_7_answers_what_kv_cannot_change() {
        let failed = |name: &str, why: &str| {
            format!("-ERR CONFIG SET failed (possibly related to argument '{name}') - {why}\r\n")
        };
        let cases: [(&[&str], String); 22] = [
            (&["foo", "bar"], "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n".into()),
            (&[], "-ERR wrong number of arguments for 'config|set' command\r\n".into()),
            (&["maxmemory"], "-ERR wrong number of arguments for 'config|set' command\r\n".into()),
            (&["maxmemory", "0", "foo"], "-ERR syntax error\r\n".into()),
            (&["maxmemory", "abc"], failed("maxmemory", "argument must be a memory value")),
            (&["save", "x"], failed("save", "Invalid save parameters")),
            (&["appendonly", "maybe"], failed("appendonly", "argument must be 'yes' or 'no'")),
            (&["timeout", "-1"], failed("timeout", "argument must be between 0 and 2147483647 inclusive")),
            (&["timeout", "abc"], failed("timeout", "argument couldn't be parsed into an integer")),
            (&["proto-max-bulk-len", "100"], failed("proto-max-bulk-len", PROTO_MAX_BULK_LEN_BOUNDS)),
            (&["proto-max-bulk-len", "1m"], failed("proto-max-bulk-len", PROTO_MAX_BULK_LEN_BOUNDS)),
            (&["proto-max-bulk-len", "9223372036854775808"], failed("proto-max-bulk-len", PROTO_MAX_BULK_LEN_BOUNDS)),
            (&["maxmemory", "0", "maxmemory", "1"], failed("maxmemory", "duplicate parameter")),
            (&["databases", "2"], failed("databases", "can't set immutable config")),
            (
                &["foo", "bar", "databases", "2"],
                "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n".into(),
            ),
            (&["databases", "2", "foo", "bar"], failed("databases", "can't set immutable config")),
            (
                &["maxmemory", "abc", "foo", "bar"],
                "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n".into(),
            ),
            (&["MAXMEMORY", "0", "save", "", "appendonly", "NO", "timeout", "0"], "+OK\r\n".into()),
            (&["maxmemory", "0mb", "maxmemory-policy", "noeviction", "proto-max-bulk-len", "16mb"], "+OK\r\n".into()),
            // Values Redis would take, kv cannot.
            (&["maxmemory", "1gb"], failed("maxmemory", KV_KEEPS_IT)),
            (&["save", "3600 1 300 100"], failed("save", KV_KEEPS_IT)),
            (&["maxmemory-policy", "allkeys-lru"], failed("maxmemory-policy", KV_KEEPS_IT)),
        ];
        for (args, want) in cases {
            assert_eq!(config_set(args), want, "CONFIG SET {args:?}");
        }
    }
}
