//! INFO: the sections Redis 7 names, as redis-server 7.0.15 writes them (a `# Name` line,
//! `name:value` lines, a blank line between sections, CRLF endings: what redis-py's `info()`
//! and redis-cli read), holding the fields tools read (redis-cli --stat takes the first `name:`
//! it finds), summed from the cores' own sections, which follow them.
//!
//! The sections, in the order written: Server (the Redis version and mode libraries check),
//! Clients, Memory, Stats, Replication (`role:master`), Keyspace (`db0:keys=..,expires=..,
//! avg_ttl=..`, no line with no keys), then `cores`, kv's own: a `# coreN` section per core,
//! its keys, connections, requests and runtime counters. `INFO` alone, `INFO default`, `all`
//! or `everything` give them all; `INFO name ...` the sections named (any case, each once, in
//! that order); a name kv has no section for (Redis' CPU, Persistence, ...) gives nothing,
//! as an unknown one gives an empty text in Redis.

/// The Redis version kv answers as (INFO, HELLO): the one whose replies it gives.
pub const REDIS_VERSION: &str = "7.0.15";

/// The sections INFO writes, in order, as their headers name them; `INFO` takes each name in
/// any case. The last is the cores' own sections, each with its own header.
const SECTIONS: [&str; 7] = ["Server", "Clients", "Memory", "Stats", "Replication", "Keyspace", "Cores"];

/// The index in [`SECTIONS`] of the cores' own sections.
const CORES: usize = SECTIONS.len() - 1;

/// The sections an INFO asked for, a bit for each of [`SECTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sections(u8);

impl Sections {
    /// Every section: INFO's default, and `all` and `everything` (kv has no section that
    /// Redis leaves out of its default).
    pub const ALL: Sections = Sections((1 << SECTIONS.len()) - 1);

    /// The sections INFO's arguments `args` name: all for none, as Redis answers a bare INFO.
    pub fn asked(args: &[&[u8]]) -> Sections {
        if args.is_empty() {
            return Sections::ALL;
        }
        Sections(args.iter().fold(0, |bits, name| bits | Sections::named(name).0))
    }

    /// The section called `name` (or all, for the names of every section); none for a name kv
    /// has no section for.
    fn named(name: &[u8]) -> Sections {
        if [&b"default"[..], b"all", b"everything"].iter().any(|every| name.eq_ignore_ascii_case(every)) {
            return Sections::ALL;
        }
        let at = SECTIONS.iter().position(|section| name.eq_ignore_ascii_case(section.as_bytes()));
        Sections(at.map_or(0, |at| 1 << at))
    }

    fn has(self, at: usize) -> bool {
        self.0 & (1 << at) != 0
    }
}

/// INFO's text: the `asked` sections of Redis' (their fields summed from `cores`, each core's
/// own section), each under its header, then the cores' sections if asked; a blank line
/// between sections, as Redis writes them. The Server section's `redis_version`,
/// `redis_mode`, `arch_bits`, `process_id` and uptime; Clients' `connected_clients` (every
/// core's connections that CLIENT LIST lists) and `blocked_clients` (0: no command blocks
/// here); Memory's `used_memory` (the process's resident bytes: no allocator count is kept
/// here); Stats' `total_connections_received` (accepted) and `total_commands_processed`
/// (requests run); Replication's `role:master`; Keyspace's db0 line.
pub fn text(cores: &[&[u8]], asked: Sections) -> Vec<u8> {
    let sum = |name: &str| -> u64 { cores.iter().flat_map(|s| field_values(s, name)).sum() };
    let fields = |fields: &[(&str, u64)]| fields.iter().map(|(name, value)| format!("{name}:{value}\r\n")).collect();
    let uptime = uptime_secs();
    let bodies: [String; CORES] = [
        format!(
            "redis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\narch_bits:{}\r\nprocess_id:{}\r\n\
             uptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n",
            usize::BITS,
            std::process::id(),
            uptime / 86_400,
        ),
        fields(&[("connected_clients", sum("connections")), ("blocked_clients", 0)]),
        fields(&[("used_memory", resident_bytes())]),
        fields(&[("total_connections_received", sum("accepted")), ("total_commands_processed", sum("commands"))]),
        "role:master\r\nconnected_slaves:0\r\n".to_owned(),
        keyspace(cores),
    ];
    let mut text = Vec::new();
    let mut section = |header: &[u8], body: &[u8]| {
        if !text.is_empty() {
            text.extend_from_slice(b"\r\n");
        }
        text.extend_from_slice(header);
        text.extend_from_slice(body);
    };
    for (at, body) in bodies.iter().enumerate().filter(|(at, _)| asked.has(*at)) {
        section(format!("# {}\r\n", SECTIONS[at]).as_bytes(), body.as_bytes());
    }
    if asked.has(CORES) {
        cores.iter().for_each(|core| section(b"", core));
    }
    text
}

/// The Keyspace section's line, as Redis writes it: the keys of database 0, those with an
/// expiry time, and the average time they have left in milliseconds (each core's average,
/// weighed by its count); none when there are no keys.
fn keyspace(cores: &[&[u8]]) -> String {
    let first = |core: &[u8], name| field_values(core, name).next().unwrap_or(0);
    let keys: u64 = cores.iter().map(|core| first(core, "keys")).sum();
    let expires: u64 = cores.iter().map(|core| first(core, "expires")).sum();
    let left: u128 =
        cores.iter().map(|core| u128::from(first(core, "expires")) * u128::from(first(core, "avg_ttl"))).sum();
    let avg_ttl = left.checked_div(u128::from(expires)).unwrap_or(0);
    match keys {
        0 => String::new(),
        _ => format!("db0:keys={keys},expires={expires},avg_ttl={avg_ttl}\r\n"),
    }
}

/// The values of the lines `name:value` in `section`.
pub fn field_values<'a>(section: &'a [u8], name: &'a str) -> impl Iterator<Item = u64> + 'a {
    section.split(|&b| b == b'\n').filter_map(move |line| {
        let value = line.strip_prefix(name.as_bytes())?.strip_prefix(b":")?;
        std::str::from_utf8(value).ok()?.trim_end().parse().ok()
    })
}

/// How long the process has run, in whole seconds (`/proc`: its start, in clock ticks since
/// boot, against the time since boot), 0 if unknown.
fn uptime_secs() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Field 22, counted past the command name, which is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let started_ticks: u64 = after_name.split_whitespace().nth(19).and_then(|n| n.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_sec = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(0).max(1);
    let since_boot = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    let since_boot: f64 = since_boot.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    (since_boot as u64).saturating_sub(started_ticks / ticks_per_sec)
}

/// The process's resident set size (`/proc/self/statm`), 0 if unknown.
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::{text, Sections};

    const CORE0: &[u8] =
        b"# core0\r\nkeys:3\r\nexpires:1\r\navg_ttl:1000\r\ncommands:10\r\nconnections:1\r\naccepted:4\r\n";
    const CORE1: &[u8] =
        b"# core1\r\nkeys:5\r\nexpires:3\r\navg_ttl:5000\r\ncommands:2\r\nconnections:2\r\naccepted:4\r\n";

    /// INFO's text for `args`, from the two cores above.
    fn info(args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        String::from_utf8(text(&[CORE0, CORE1], Sections::asked(&args))).unwrap()
    }

    /// The section headers of `text`, in order.
    fn headers(text: &str) -> Vec<&str> {
        text.split("\r\n").filter_map(|line| line.strip_prefix("# ")).collect()
    }

    #[test]
    fn the_sections_sum_the_cores() {
        let all = info(&[]);
        for line in [
            "connected_clients:3\r\n",
            "blocked_clients:0\r\n",
            "total_connections_received:8\r\n",
            "total_commands_processed:12\r\n",
            // 4 keys with a time: one with 1 s left on average, three with 5 s.
            "\r\n# Keyspace\r\ndb0:keys=8,expires=4,avg_ttl=4000\r\n\r\n# core0\r\n",
        ] {
            assert!(all.contains(line), "{line:?} in {all:?}");
        }
        let memory = all.split("used_memory:").nth(1).and_then(|rest| rest.split('\r').next()).unwrap();
        assert!(memory.parse::<u64>().unwrap() > 0, "resident bytes: {memory}");
    }

    /// Every line is a `# Section` header, a `name:value` field, or the one blank line
    /// between two sections, each ended by CRLF: what redis-py's parser reads.
    #[test]
    fn every_line_is_a_header_a_field_or_a_sections_end() {
        let all = info(&["everything"]);
        assert!(all.ends_with("\r\n") && !all.ends_with("\r\n\r\n"), "{all:?}");
        let lines: Vec<&str> = all.strip_suffix("\r\n").unwrap().split("\r\n").collect();
        for (i, line) in lines.iter().enumerate() {
            assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
            match line {
                l if l.starts_with("# ") => assert!(i == 0 || lines[i - 1].is_empty(), "a blank line before {l}"),
                &"" => assert!(lines[i + 1].starts_with("# "), "a blank line only before a section"),
                l => assert!(l.split_once(':').is_some_and(|(name, _)| !name.is_empty()), "{l:?}"),
            }
        }
        let expected = ["Server", "Clients", "Memory", "Stats", "Replication", "Keyspace", "core0", "core1"];
        assert_eq!(headers(&all), expected);
        for every in [&[][..], &["default"], &["ALL"], &["server", "all"]] {
            assert_eq!(steady(&info(every)), steady(&all), "{every:?}");
        }
    }

    /// `text` without its lines that change from one call to the next (the uptime, the
    /// resident bytes).
    fn steady(text: &str) -> String {
        let changing = ["uptime_in_seconds:", "used_memory:"];
        text.split("\r\n").filter(|l| !changing.iter().any(|c| l.starts_with(c))).collect::<Vec<_>>().join("\r\n")
    }

    #[test]
    fn sections_named_come_alone_each_once_in_order() {
        let server = info(&["server"]);
        assert!(server.starts_with("# Server\r\nredis_version:7.0.15\r\n") && !server.contains("\r\n\r\n"), "{server}");
        assert_eq!(headers(&server), ["Server"]);
        assert_eq!(headers(&info(&["KeySpace", "SERVER", "server"])), ["Server", "Keyspace"], "Redis' order, once");
        assert_eq!(headers(&info(&["cores"])), ["core0", "core1"]);
        assert_eq!(
            info(&["cores"]),
            format!("{}\r\n{}", std::str::from_utf8(CORE0).unwrap(), std::str::from_utf8(CORE1).unwrap())
        );
        assert_eq!(headers(&info(&["nosuch", "clients"])), ["Clients"]);
        for nothing in [&["nosuch"][..], &["cpu"], &[""], &["nosuch", "persistence"]] {
            assert_eq!(info(nothing), "", "{nothing:?}: an empty text, as Redis gives");
        }
    }

    /// No keys, no db0 line: the Keyspace section is its header alone, as in Redis.
    #[test]
    fn no_keys_no_keyspace_line() {
        let empty = b"# core0\r\nkeys:0\r\nexpires:0\r\navg_ttl:0\r\n";
        let keyspace = text(&[empty, empty], Sections::asked(&[b"keyspace"]));
        assert_eq!(keyspace, b"# Keyspace\r\n");
        let plain = b"# core0\r\nkeys:2\r\nexpires:0\r\navg_ttl:0\r\n";
        let keyspace = text(&[plain, empty], Sections::asked(&[b"keyspace"]));
        assert_eq!(keyspace, b"# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n");
    }
}
