//! INFO's head: the server-wide fields tools read (redis-cli --stat takes the first
//! `name:` it finds in the text), summed from the shards' sections that follow it.

use std::fmt::Write;

/// The head for the shards' INFO `sections`, in Redis' field names: `connected_clients`
/// (every core's connections that CLIENT LIST lists), `blocked_clients` (0: no command blocks here),
/// `total_connections_received` (accepted), `total_commands_processed` (requests run),
/// `used_memory` (the process's resident bytes: no allocator count is kept here), and the
/// keyspace line, `db0:keys=`.
pub fn head(sections: &[&[u8]]) -> String {
    let sum = |name: &str| -> u64 { sections.iter().flat_map(|s| field_values(s, name)).sum() };
    let mut head = String::new();
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
