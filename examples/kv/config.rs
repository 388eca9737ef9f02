//! CONFIG GET, answered with the few parameters kv has a true value for, in Redis' names:
//! clients and tools ask these at start-up (redis-benchmark asks `save` and `appendonly`,
//! job queues ask `maxmemory-policy`). CONFIG SET (`config_set.rs`) changes `maxclients`
//! only.

use super::admission::Admission;
use super::config_set;
use super::glob;
use super::replies::{self, Protocol};
use super::resp::MAX_BULK;
use super::session::unknown_subcommand;

/// The parameters, in the order a pattern lists them: CONFIG GET answers each with
/// [`value`], CONFIG SET takes each at that value only but `maxclients` (`config_set.rs`).
pub const PARAMETERS: [&str; 8] =
    ["appendonly", "databases", "maxclients", "maxmemory", "maxmemory-policy", "proto-max-bulk-len", "save", "timeout"];

/// A parameter's value. kv keeps nothing on disk, never evicts, has one database, closes no
/// idle client, takes bulk strings up to `MAX_BULK`, and as many clients as `admission`
/// admits.
fn value(parameter: &str, admission: &Admission) -> String {
    match parameter {
        "maxclients" => admission.max().to_string(),
        "appendonly" => "no".into(),
        "databases" => "1".into(),
        "maxmemory" | "timeout" => "0".into(),
        "maxmemory-policy" => "noeviction".into(),
        "proto-max-bulk-len" => MAX_BULK.to_string(),
        _ => String::new(), // save: no snapshots
    }
}

/// Redis 7.0.15's CONFIG HELP, line for line (an array of statuses), though kv answers only
/// GET, SET (of the values it has) and HELP (as MEMORY HELP: a client reads the text, and the other subcommands' errors
/// say the rest).
const HELP: [&str; 11] = [
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

/// CONFIG (`args` after the name, at least one): GET (a map in RESP3, as Redis 7 answers),
/// SET, HELP, or Redis 7's errors, for a server on `cores` cores that admits clients by
/// `admission`.
pub fn answer(args: &[&[u8]], admission: &Admission, cores: usize, protocol: Protocol, out: &mut Vec<u8>) {
    let (sub, names) = args.split_first().expect("CONFIG's arity was checked");
    if sub.eq_ignore_ascii_case(b"help") {
        return match names {
            [] => replies::help(out, &HELP),
            _ => replies::error(out, "ERR wrong number of arguments for 'config|help' command"),
        };
    }
    if sub.eq_ignore_ascii_case(b"set") {
        return config_set::answer(names, admission, cores, out);
    }
    if !sub.eq_ignore_ascii_case(b"get") {
        return replies::error_bytes(out, &unknown_subcommand(sub, "CONFIG"));
    }
    if names.is_empty() {
        return replies::error(out, "ERR wrong number of arguments for 'config|get' command");
    }
    let pairs = get(names, admission);
    replies::map(out, pairs.len(), protocol);
    for (name, value) in pairs {
        replies::bulk(out, name);
        replies::bulk(out, value.as_bytes());
    }
}

/// CONFIG GET's pairs, as Redis 7.0 finds them: a name without `*`, `?` or `[` is looked up
/// in any case and answered under the name as given; a pattern matches in any case and
/// answers under the parameter's own name; each parameter once. (Redis lists what it found
/// in its hash table's order, which changes from run to run; here, as asked.)
fn get<'a>(names: &[&'a [u8]], admission: &Admission) -> Vec<(&'a [u8], String)> {
    let mut found: Vec<(&[u8], String)> = Vec::new();
    let mut taken = [false; PARAMETERS.len()];
    for name in names {
        let lower = name.to_ascii_lowercase();
        let is_pattern = name.iter().any(|b| b"*?[".contains(b));
        for (i, param) in PARAMETERS.iter().enumerate() {
            let hit = if is_pattern { glob::matches(&lower, param.as_bytes()) } else { lower == param.as_bytes() };
            if hit && !taken[i] {
                taken[i] = true;
                found.push((if is_pattern { param.as_bytes() } else { name }, value(param, admission)));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> String {
        config_in(Protocol::Resp2, args)
    }

    fn config_in(protocol: Protocol, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let mut out = Vec::new();
        answer(&args, &Admission::new(10_000), 2, protocol, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// The replies redis-server 7.0.15 gave a RESP3 client (`HELLO 3`): maps.
    #[test]
    fn get_answers_a_resp3_client_with_a_map() {
        let resp3 = |args: &[&str]| config_in(Protocol::Resp3, args);
        assert_eq!(resp3(&["GET", "maxmemory"]), "%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
        assert_eq!(resp3(&["GET", "nosuch"]), "%0\r\n");
        assert_eq!(resp3(&["GET", "*"]).lines().next(), Some("%8"));
        assert_eq!(resp3(&["SET", "maxmemory", "0"]), "+OK\r\n");
        assert!(resp3(&["HELP"]).starts_with("*11\r\n+CONFIG <subcommand>"));
    }

    #[test]
    fn get_answers_as_redis_7_answers() {
        // Each with the reply redis-server 7.0.15 gave (databases aside: kv has one).
        assert_eq!(config(&["GET", "maxmemory"]), "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
        assert_eq!(config(&["get", "save"]), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
        assert_eq!(config(&["GET", "appendonly"]), "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
        assert_eq!(config(&["GET", "databases"]), "*2\r\n$9\r\ndatabases\r\n$1\r\n1\r\n");
        assert_eq!(config(&["GET", "nosuch"]), "*0\r\n");
        assert_eq!(config(&["GET", "MAXMEMORY"]), "*2\r\n$9\r\nMAXMEMORY\r\n$1\r\n0\r\n");
        assert_eq!(config(&["GET", "maxmemory", "MaxMemory"]), "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
        assert_eq!(
            config(&["GET", "MAXMEM*", "maxmemory"]),
            "*4\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
        );
        assert_eq!(config(&["GET", "*"]).lines().next(), Some("*16"));
        assert_eq!(config(&["GET", "maxclients"]), "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n");
        assert_eq!(
            config(&["GET", "max*"]),
            "*6\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n\
             $16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
        );
        assert_eq!(config(&["GET"]), "-ERR wrong number of arguments for 'config|get' command\r\n");
        assert_eq!(config(&["SET", "maxmemory", "0"]), "+OK\r\n");
        assert_eq!(config(&["RESETSTAT"]), "-ERR unknown subcommand 'RESETSTAT'. Try CONFIG HELP.\r\n");
    }
}
