#!/usr/bin/env bash
# Instructions per request (callgrind), kv against redis-server: repeatable on a loaded
# machine where timings are not.
#
#   bash benches/kv_instructions.sh
#   N16=40000 N1=20000 bash benches/kv_instructions.sh
#   KV=/path/to/other/kv bash benches/kv_instructions.sh
#
# Each server runs under `valgrind --tool=callgrind`: redis-server 7, kv with one shard
# (`--cores 0`) and kv with two shards on CPU 0 (`--cores 0,0`, half the keys forwarded).
# The keys are written once first (so GETs find values), then for pipelines of 16 and of 1
# the counters are zeroed (`callgrind_control -z`), `redis-benchmark -c 50 -r 100000
# -t set,get -P P` runs, and the dump's total (user-space instructions of every thread) is
# divided by the requests. Kernel work is not in it: for kv the runtime's counters (reactor
# polls and eventfd writes, from INFO) per request are printed beside it, the proxy for the
# syscalls and wakes a request costs. kv runs the epoll driver: valgrind does not know
# io_uring's system calls. With DUMPS=DIR the callgrind dumps are kept there (for
# callgrind_annotate), named after the server and the pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in redis-server redis-benchmark redis-cli valgrind callgrind_control; do # a missing one would leave the run waiting, not failing
    command -v "$tool" >/dev/null || { echo "$0 needs $tool (apt-get install redis-server redis-tools valgrind)" >&2; exit 1; }
done
N16=${N16:-20000} # requests per test (SET, then GET) with -P 16
N1=${N1:-10000}   # and with -P 1
if [ -z "${KV:-}" ]; then # KV=PATH counts another build of kv (before and after a change)
    cargo build --release --example kv >/dev/null
    KV=target/release/examples/kv
fi
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

# counters PORT -> "reactor_polls eventfd_writes", summed over kv's cores (0 0 for redis)
counters() {
    redis-cli -p "$1" info 2>/dev/null | tr -d '\r' |
        awk -F: '/^reactor_polls:/ {p += $2} /^eventfd_writes:/ {e += $2} END {print p + 0, e + 0}'
}

# measure NAME PORT CMD... -> one line per pipeline: "name P instructions/req polls/req eventfd/req"
measure() {
    local name=$1 port=$2
    shift 2
    valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$dir/$name.%p" "$@" >/dev/null 2>"$dir/$name.log" &
    pid=$!
    for _ in $(seq 300); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "no server answers on port $port" >&2; exit 1; }
    redis-benchmark -p "$port" -c 50 -n 100000 -r 100000 -P 16 -t set --csv >/dev/null 2>&1
    for pipeline in 16 1; do
        local n before after dump
        n=$([ "$pipeline" = 1 ] && echo "$N1" || echo "$N16")
        read -r -a before < <(counters "$port")
        callgrind_control -z "$pid" >/dev/null 2>&1
        redis-benchmark -p "$port" -c 50 -n "$n" -r 100000 -P "$pipeline" -t set,get --csv >/dev/null 2>&1
        callgrind_control -d "$pid" >/dev/null 2>&1
        read -r -a after < <(counters "$port")
        dump=$(ls -t "$dir/$name".*.* | head -1)
        awk -v name="$name" -v p="$pipeline" -v n=$((2 * n)) \
            -v polls=$((after[0] - before[0])) -v wakes=$((after[1] - before[1])) \
            '/^totals:/ {printf "%s %s %d %.3f %.3f\n", name, p, $2 / n, polls / n, wakes / n}' "$dump"
        if [ -n "${DUMPS:-}" ]; then mkdir -p "$DUMPS" && cp "$dump" "$DUMPS/$name.P$pipeline.callgrind"; fi
    done
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}

results=$dir/results
measure redis-server 16479 redis-server --port 16479 --save '' --appendonly no --bind 127.0.0.1 >>"$results"
measure kv-1-shard 16480 "$KV" --addr 127.0.0.1:16480 --cores 0 --driver epoll >>"$results"
measure kv-2-shards-cpu0 16481 "$KV" --addr 127.0.0.1:16481 --cores 0,0 --driver epoll >>"$results"

echo "| server | pipeline | instructions/req | reactor polls/req | eventfd writes/req |"
echo "|---|---:|---:|---:|---:|"
sort -k2,2nr -k1,1 "$results" | awk '{ if ($1 == "redis-server") $4 = $5 = "-"; printf "| %s | %s | %d | %s | %s |\n", $1, $2, $3, $4, $5 }'
echo
# Ratios in the same run: kv against redis, and two shards' efficiency against one.
awk '{ir[$1 " " $2] = $3}
END {
    for (p = 16; p >= 1; p -= 15) {
        printf "P%d: kv-1-shard / redis-server = %.2f; kv-1-shard / kv-2-shards-cpu0 (efficiency, goal >= 0.9) = %.2f\n",
            p, ir["kv-1-shard " p] / ir["redis-server " p], ir["kv-1-shard " p] / ir["kv-2-shards-cpu0 " p]
    }
}' "$results"
