//! MEMORY HELP, DOCTOR and STATS, answered as redis-server 7.0.15 answers them, from what kv
//! knows: each shard's keys and the bytes they take (`Op::MemoryStats`), and the process's
//! resident bytes. The allocator's own figures (fragmentation, peaks) are not kept here, so
//! STATS gives a subset of Redis' fields, in Redis' order.

use super::info::{field_values, resident_bytes};
use super::replies::{self, Protocol};

/// Redis 7.0.15's MEMORY HELP, line for line (an array of statuses).
const HELP: [&str; 14] = [
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

/// Below this much data Redis' doctor declines to diagnose (its 5 MiB of `total_allocated`;
/// here the keys' bytes, as kv's process always holds more than that).
const DOCTOR_MIN_BYTES: u64 = 5 * 1024 * 1024;

const DOCTOR_EMPTY: &str = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n";

/// What Redis' doctor says when it finds no issue: none of the issues it looks for (peaks,
/// fragmentation, replicas' buffers) is kept track of here.
const DOCTOR_FINE: &str =
    "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n";

/// MEMORY HELP: Redis' lines, though kv answers only USAGE, STATS, DOCTOR and HELP (a client
/// compares the text, not the server's abilities).
pub fn help(out: &mut Vec<u8>) {
    replies::help(out, &HELP);
}

/// The keys and their bytes, summed over the shards' answers.
fn totals(shards: &[&[u8]]) -> (u64, u64) {
    let sum = |name| shards.iter().flat_map(|s| field_values(s, name)).sum::<u64>();
    (sum("keys"), sum("dataset_bytes"))
}

/// MEMORY DOCTOR from the shards' answers: Redis' text for too little data, else its text
/// for no issue found (a verbatim string in RESP3, as Redis gives it).
pub fn doctor(out: &mut Vec<u8>, shards: &[&[u8]], protocol: Protocol) {
    let (_, bytes) = totals(shards);
    replies::verbatim(out, if bytes < DOCTOR_MIN_BYTES { DOCTOR_EMPTY } else { DOCTOR_FINE }.as_bytes(), protocol);
}

/// MEMORY STATS from the shards' answers: `total.allocated` is the process's resident bytes (INFO's `used_memory` too),
/// `dataset.bytes` the keys' entries and allocations (MEMORY USAGE's measure, summed), and
/// `keys.bytes-per-key` their quotient; a map in RESP3, as Redis gives it.
pub fn stats(out: &mut Vec<u8>, shards: &[&[u8]], protocol: Protocol) {
    let (keys, bytes) = totals(shards);
    let fields = [
        ("total.allocated", resident_bytes()),
        ("keys.count", keys),
        ("keys.bytes-per-key", bytes.checked_div(keys).unwrap_or(0)),
        ("dataset.bytes", bytes),
    ];
    replies::map(out, fields.len(), protocol);
    for (name, value) in fields {
        replies::bulk(out, name.as_bytes());
        replies::int(out, value as i64);
    }
}
