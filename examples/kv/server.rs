//! The commands about the server rather than its keys: TIME, COMMAND (COUNT, and empty
//! answers for the listings redis-cli asks for at start-up), and SHUTDOWN's options.

use super::replies::{self, Protocol};
use super::session::unknown_subcommand;
use super::store::unix_now;

/// Every command kv answers (COMMAND COUNT counts them; a test checks each is known).
pub const COMMANDS: [&str; 114] = [
    "append",
    "auth",
    "client",
    "command",
    "config",
    "copy",
    "dbsize",
    "decr",
    "decrby",
    "del",
    "echo",
    "exists",
    "expire",
    "expireat",
    "expiretime",
    "flushall",
    "flushdb",
    "get",
    "getdel",
    "getex",
    "getrange",
    "getset",
    "hdel",
    "hello",
    "hexists",
    "hget",
    "hgetall",
    "hincrby",
    "hincrbyfloat",
    "hkeys",
    "hlen",
    "hmget",
    "hmset",
    "hscan",
    "hset",
    "hsetnx",
    "hstrlen",
    "hvals",
    "incr",
    "incrby",
    "incrbyfloat",
    "info",
    "keys",
    "lindex",
    "linsert",
    "llen",
    "lpop",
    "lpos",
    "lpush",
    "lrange",
    "lrem",
    "lset",
    "ltrim",
    "memory",
    "mget",
    "mset",
    "msetnx",
    "persist",
    "pexpire",
    "pexpireat",
    "pexpiretime",
    "ping",
    "psetex",
    "pttl",
    "quit",
    "randomkey",
    "rename",
    "renamenx",
    "rpop",
    "rpush",
    "sadd",
    "scan",
    "scard",
    "select",
    "set",
    "setex",
    "setnx",
    "setrange",
    "shutdown",
    "sismember",
    "smembers",
    "spop",
    "srandmember",
    "srem",
    "sscan",
    "strlen",
    "substr",
    "time",
    "touch",
    "ttl",
    "type",
    "unlink",
    "zadd",
    "zcard",
    "zcount",
    "zincrby",
    "zlexcount",
    "zpopmax",
    "zpopmin",
    "zrange",
    "zrangebylex",
    "zrangebyscore",
    "zrangestore",
    "zrank",
    "zrem",
    "zremrangebylex",
    "zremrangebyrank",
    "zremrangebyscore",
    "zrevrange",
    "zrevrangebylex",
    "zrevrangebyscore",
    "zrevrank",
    "zscan",
    "zscore",
];

/// TIME: the wall clock's Unix seconds and the microseconds past them, as two bulk strings.
pub fn time(out: &mut Vec<u8>) {
    let now = unix_now();
    replies::array(out, 2);
    replies::bulk(out, now.as_secs().to_string().as_bytes());
    replies::bulk(out, now.subsec_micros().to_string().as_bytes());
}

/// Redis 7.0.15's COMMAND HELP, line for line (an array of statuses), though kv answers only
/// COUNT, DOCS, INFO (those two with no entries) and HELP.
const HELP: [&str; 21] = [
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

/// COMMAND (`args` after the name): HELP, COUNT, the commands kv answers; bare, INFO and DOCS
/// answer with no entries (kv keeps no descriptions; redis-cli asks for DOCS to offer
/// hints, and does without), DOCS' being a map (Redis' is one in RESP3, by name); the rest
/// as Redis 7 refuses them.
pub fn command(args: &[&[u8]], protocol: Protocol, out: &mut Vec<u8>) {
    let Some((sub, rest)) = args.split_first() else { return replies::array(out, 0) };
    let lower = sub.to_ascii_lowercase();
    match (lower.as_slice(), rest) {
        (b"count", []) => replies::int(out, COMMANDS.len() as i64),
        (b"count", _) => replies::error(out, "ERR wrong number of arguments for 'command|count' command"),
        (b"docs", _) => replies::map(out, 0, protocol),
        (b"info", _) => replies::array(out, 0),
        (b"help", []) => replies::help(out, &HELP),
        (b"help", _) => replies::error(out, "ERR wrong number of arguments for 'command|help' command"),
        _ => replies::error_bytes(out, &unknown_subcommand(sub, "COMMAND")),
    }
}

/// SHUTDOWN's options (`args` after the name) as Redis 7.0 reads them: NOSAVE or SAVE
/// (nothing is kept on disk here, so both stop alike), NOW, FORCE, or ABORT alone; `Ok`
/// with whether to stop (ABORT does not), else Redis' syntax error.
pub fn shutdown_options(args: &[&[u8]]) -> Result<bool, &'static str> {
    let (mut save, mut nosave, mut abort, mut other) = (false, false, false, false);
    for option in args {
        let is = |word: &[u8]| option.eq_ignore_ascii_case(word);
        if is(b"nosave") {
            nosave = true;
        } else if is(b"save") {
            save = true;
        } else if is(b"abort") {
            abort = true;
        } else if is(b"now") || is(b"force") {
            other = true;
        } else {
            return Err("ERR syntax error");
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return Err("ERR syntax error");
    }
    Ok(!abort)
}

#[cfg(test)]
mod tests {
    use super::super::command::{plan, Plan};
    use super::*;

    #[test]
    fn every_command_counted_is_one_kv_knows() {
        for name in COMMANDS {
            let mut out = Vec::new();
            // Arguments no command takes alone: each is refused or run, never unknown.
            let plan = plan(&[name.as_bytes(), b"k"], 2, &mut out);
            let said = String::from_utf8_lossy(&out);
            assert!(!said.contains("unknown command"), "{name}: {said}");
            assert!(!matches!(plan, Plan::Shutdown), "{name} k is no SHUTDOWN");
        }
        for command in super::super::types::Command::ALL {
            assert!(COMMANDS.contains(&command.name()), "{command:?} is counted");
        }
        let mut out = Vec::new();
        plan(&[b"nosuch"], 2, &mut out);
        assert!(String::from_utf8_lossy(&out).contains("unknown command"));
    }

    #[test]
    fn shutdown_options_are_read_as_redis_7_reads_them() {
        let read = |words: &[&str]| shutdown_options(&words.iter().map(|w| w.as_bytes()).collect::<Vec<_>>());
        for stops in [&[][..], &["NOSAVE"], &["save", "now", "force"], &["nosave", "NOW"]] {
            assert_eq!(read(stops), Ok(true), "SHUTDOWN {stops:?}");
        }
        assert_eq!(read(&["abort"]), Ok(false));
        for refused in [&["foo"][..], &["nosave", "save"], &["abort", "now"], &["save", "abort"]] {
            assert_eq!(read(refused), Err("ERR syntax error"), "SHUTDOWN {refused:?}");
        }
    }
}
