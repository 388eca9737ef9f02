//! INFO's head: the server-wide fields tools read (redis-cli --stat takes the first
//! `name:` it finds in the text), summed from the shards' sections that follow it, after the
//! Server section that names what kv answers as: the Redis version and role libraries check.

use std::fmt::Write;

/// The Redis version kv answers as (INFO, HELLO): the one whose replies it gives.
pub const REDIS_VERSION: &str = "7.0.15";

/// The head for the shards' INFO `sections`, in Redis' field names: the Server section's
/// `redis_version`, `redis_mode`, `arch_bits`, `process_id` and uptime, then `connected_clients`
/// (every core's connections that CLIENT LIST lists), `blocked_clients` (0: no command blocks here),
/// `total_connections_received` (accepted), `total_commands_processed` (requests run),
/// `used_memory` (the process's resident bytes: no allocator count is kept here), and the
/// keyspace line, `db0:keys=`, with Replication's `role:master` before it.
pub fn head(sections: &[&[u8]]) -> String {
    let sum = |name: &str| -> u64 { sections.iter().flat_map(|s| field_values(s, name)).sum() };
    let uptime = uptime_secs();
    let mut head = format!(
        "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\narch_bits:{}\r\n\
         process_id:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n",
        usize::BITS,
        std::process::id(),
        uptime / 86_400,
    );
    let (clients, memory) =
        ([("connected_clients", sum("connections")), ("blocked_clients", 0)], [("used_memory", resident_bytes())]);
    let stats = [("total_connections_received", sum("accepted")), ("total_commands_processed", sum("commands"))];
    let groups: [(&str, &[(&str, u64)]); 3] = [("Clients", &clients), ("Memory", &memory), ("Stats", &stats)];
    for (section, fields) in groups {
        let _ = write!(head, "# {section}\r\n");
        for (name, value) in fields {
            let _ = write!(head, "{name}:{value}\r\n");
        }
    }
    let _ = write!(head, "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n");
    let _ = write!(head, "# Keyspace\r\ndb0:keys={}\r\n", sum("keys"));
    head
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
    use super::head;

    #[test]
    fn the_head_sums_the_sections() {
        let core0 = b"# core0\r\nkeys:3\r\ncommands:10\r\nconnections:1\r\naccepted:4\r\n";
        let core1 = b"# core1\r\nkeys:5\r\ncommands:2\r\nconnections:2\r\naccepted:4\r\n";
        let head = head(&[core0, core1]);
        for line in [
            "connected_clients:3\r\n",
            "blocked_clients:0\r\n",
            "total_connections_received:8\r\n",
            "total_commands_processed:12\r\n",
            "db0:keys=8\r\n",
        ] {
            assert!(head.contains(line), "{line:?} in {head:?}");
        }
        let memory = head.split("used_memory:").nth(1).and_then(|rest| rest.split('\r').next()).unwrap();
        assert!(memory.parse::<u64>().unwrap() > 0, "resident bytes: {memory}");
    }
}
