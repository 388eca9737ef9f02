#!/usr/bin/env bash
# redis-benchmark against redis-server and the kv example (one core, then two), in one run.
#
#   bash benches/kv_vs_redis.sh                      # 3 interleaved rounds, a few minutes
#   ROUNDS=1 N16=100000 N1=20000 bash benches/kv_vs_redis.sh
#
# Servers run on CPU 0, redis-benchmark on CPU 1, 50 clients, `-t set,get -r 100000`,
# pipelines of 16 and of 1. kv runs with one shard (`--cores 0`), with two shards on CPU 0
# (`--cores 0,0`: two core threads, half the keys forwarded to the other one, and the client
# still alone on CPU 1), and with two shards on CPUs 0 and 1 (sharing CPU 1 with the client,
# whose loopback traffic the kernel then partly charges to the server). CPU per request is
# the server's utime + stime from /proc/PID/stat over the run, divided by the requests; the
# client's is shown beside it. kv's threads are moved to SCHED_BATCH (`chrt -b`; SCHED=normal
# keeps kv's own normal policy): a woken shard then waits for its CPU's turn instead of
# preempting the client or the other shard there, which saves CPU per request, at a cost in
# latency when the CPUs run other work (see examples/kv/main.rs). redis-server keeps the
# default policy: alone on CPU 0, a server has no one to preempt, so the policy only matters
# where kv's shards share a CPU.
# Needs redis-server and redis-benchmark (apt-get install redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in redis-server redis-benchmark redis-cli taskset; do # a missing one would leave the run waiting, not failing
    command -v "$tool" >/dev/null || { echo "$0 needs $tool (apt-get install redis-server redis-tools valgrind)" >&2; exit 1; }
done
ROUNDS=${ROUNDS:-3}
N16=${N16:-200000} # requests per test (SET, then GET) with -P 16
N1=${N1:-50000}    # and with -P 1
if [ -z "${KV:-}" ]; then # KV=PATH measures another build of kv (before and after a change)
    cargo build --release --example kv >/dev/null
    KV=target/release/examples/kv
fi
TICK_US=$((1000000 / $(getconf CLK_TCK)))

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

taskset -c 0 redis-server --port 16379 --save '' --appendonly no --bind 127.0.0.1 >/dev/null &
pids+=($!); redis_pid=$!
$KV --addr 127.0.0.1:16380 --cores 0 >/dev/null 2>&1 &
pids+=($!); kv1_pid=$!
$KV --addr 127.0.0.1:16381 --cores 0,1 >/dev/null 2>&1 &
pids+=($!); kv2_pid=$!
$KV --addr 127.0.0.1:16382 --cores 0,0 >/dev/null 2>&1 &
pids+=($!); kv20_pid=$!
for port in 16379 16380 16381 16382; do
    for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "no server answers on port $port" >&2; exit 1; }
done
if [ "${SCHED:-batch}" = batch ]; then
    for pid in $kv1_pid $kv2_pid $kv20_pid; do chrt -b -a -p 0 "$pid" >/dev/null; done
fi
echo "kv's scheduling policy: ${SCHED:-batch}" >&2

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run NAME PID PORT PIPELINE -> "name pipeline set_rps get_rps cpu_ns_per_req client_cpu_ns_per_req"
# The client's CPU (redis-benchmark's utime + stime, from `times` in the subshell that ran it)
# is there to tell savings from shifts: where a server shares a CPU with the client, the
# kernel charges loopback work to whichever of them runs, so their sum is the fairer total.
run() {
    local name=$1 pid=$2 port=$3 pipeline=$4
    local before after out n
    n=$([ "$pipeline" = 1 ] && echo "$N1" || echo "$N16")
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 1 redis-benchmark -p "$port" -c 50 -n "$n" -r 100000 -P "$pipeline" -t set,get --csv 2>/dev/null; times)
    after=$(cpu_ticks "$pid")
    local set get client
    set=$(echo "$out" | awk -F'"' '/^"SET"/ {print $4}')
    get=$(echo "$out" | awk -F'"' '/^"GET"/ {print $4}')
    # `times`' last line: the children's user and system time, as 0m1.234s 0m0.567s.
    client=$(echo "$out" | tail -1 | tr 'ms' '  ' | awk -v n="$n" '{printf "%d", ($1 * 60 + $2 + $3 * 60 + $4) * 1e9 / (2 * n)}')
    echo "$name $pipeline $set $get $(( (after - before) * TICK_US * 1000 / (2 * n) )) $client"
}

results=$(mktemp)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS" >&2
    for pipeline in 16 1; do
        run redis-server $redis_pid 16379 $pipeline >>"$results"
        run kv-1-core $kv1_pid 16380 $pipeline >>"$results"
        run kv-2-shards-cpu0 $kv20_pid 16382 $pipeline >>"$results"
        run kv-2-cores $kv2_pid 16381 $pipeline >>"$results"
    done
done
redis-cli -p 16382 info | grep -E '^(# core|keys|ops_)' >&2 || true

echo
echo "| server | pipeline | SET req/s | GET req/s | CPU ns/req | client CPU ns/req |"
echo "|---|---:|---:|---:|---:|---:|"
# Medians over the rounds, per server and pipeline.
sort -k1,1 -k2,2n "$results" | awk '
function median(list, n,   a, i, j, t) { split(list, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
{ key = $1 " | " $2; n[key]++; s[key] = s[key] " " $3; g[key] = g[key] " " $4; c[key] = c[key] " " $5; l[key] = l[key] " " $6 }
END { for (k in n) printf "| %s | %.0f | %.0f | %d | %d |\n", k, median(s[k], n[k]), median(g[k], n[k]), median(c[k], n[k]), median(l[k], n[k]) }' | sort
echo
# Same-run ratios from the medians: kv's CPU per request against redis-server's (goal: below
# 1), and two shards' efficiency against one shard's (one's CPU per request over two's; goal:
# at least 0.9), with the keys spread across both and half the requests forwarded.
sort -k1,1 -k2,2n "$results" | awk '
function median(list, n,   a, i, j, t) { split(list, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
{ key = $1 " " $2; n[key]++; c[key] = c[key] " " $5; t[key] = t[key] " " ($5 + $6) }
END {
    for (p = 16; p >= 1; p -= 15) {
        one = median(c["kv-1-core " p], n["kv-1-core " p]); redis = median(c["redis-server " p], n["redis-server " p])
        two = median(c["kv-2-shards-cpu0 " p], n["kv-2-shards-cpu0 " p])
        cores = median(c["kv-2-cores " p], n["kv-2-cores " p])
        printf "P%d: kv one shard CPU/req vs redis-server = %.2fx; efficiency vs one shard: two shards on CPU 0 = %.2fx, on CPUs 0 and 1 = %.2fx", p, one / redis, one / two, one / cores
        one = median(t["kv-1-core " p], n["kv-1-core " p]); cores = median(t["kv-2-cores " p], n["kv-2-cores " p])
        printf " (server + client CPU: %.2fx)\n", one / cores
    }
}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$results"
