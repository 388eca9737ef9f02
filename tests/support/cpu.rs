//! CPU time a process or thread has used, from procfs.

/// utime + stime, in clock ticks, from the stat file at `path` (`/proc/PID/stat`,
/// `/proc/self/task/TID/stat`).
pub fn cpu_ticks(path: &str) -> u64 {
    let stat = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // The command, in parentheses, may hold spaces: count the fields after its last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').expect("a stat line").1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line (11 and 12 after the command).
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}
