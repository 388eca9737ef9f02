//! What the harness reads about the server process from /proc: CPU time and resident memory.

use std::io;
use std::time::Duration;

/// User plus system CPU time of every thread of process `pid`, living or exited, from
/// fields 14 and 15 of /proc/PID/stat (clock ticks, usually 10 ms).
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its closing paren don't.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| bad(&stat))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field N is at index N - 3.
    let ticks = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).ok_or_else(|| bad(&stat));
    let total = ticks(14)? + ticks(15)?;
    Ok(Duration::from_secs_f64(total as f64 / clock_ticks_per_sec()))
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf takes no pointers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// Resident set size of process `pid` in bytes (VmRSS in /proc/PID/status).
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or_else(|| bad(&status))?;
    let kib: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).ok_or_else(|| bad(line))?;
    Ok(kib * 1024)
}

fn bad(text: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("unexpected /proc contents: {text:.80}"))
}

/// Task time summed over every CPU (user, nice, system, steal) from the first line of
/// /proc/stat: with the server's and the generator's own time subtracted, what else ran.
/// irq and softirq are left out: on loopback most softirq work is the benchmark's own
/// packets, which the kernel bills to neither process.
pub fn machine_busy() -> io::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().filter(|l| l.starts_with("cpu ")).ok_or_else(|| bad(&stat))?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    let busy: u64 = [0, 1, 2, 7].iter().map(|&i| ticks.get(i).copied().unwrap_or(0)).sum();
    Ok(Duration::from_secs_f64(busy as f64 / clock_ticks_per_sec()))
}
