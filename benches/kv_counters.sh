#!/usr/bin/env bash
# Per-request kernel-side costs of the kv example: CPU, reactor polls, io_uring enters,
# cross-core wakes (eventfd writes + MSG_RINGs), context switches and task polls, from kv's
# INFO counters and /proc, around one redis-benchmark run per round. Pair it with
# kv_instructions.sh (user space, repeatable); these counts move with the load, since how
# many requests a turn holds depends on timing, so compare builds in alternation.
#
#   bash benches/kv_counters.sh                        # this build, --cores 0 and 0,0, uring
#   KV=/path/to/other/kv CORES="0 0,0 0,1" DRIVER=epoll P=1 N=100000 ROUNDS=3 bash benches/kv_counters.sh
#
# kv's threads run under SCHED_BATCH (`chrt -b`, as in kv_vs_redis.sh; SCHED=normal keeps
# kv's own normal policy). kv's core threads are pinned by --cores; redis-benchmark runs on CPU 1 (`taskset -c 1`,
# 50 clients, `-r 100000 -t set,get`), after a pipelined SET pass that fills the keys.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in redis-benchmark redis-cli; do # a missing one would leave the run waiting, not failing
    command -v "$tool" >/dev/null || { echo "$0 needs $tool (apt-get install redis-server redis-tools valgrind)" >&2; exit 1; }
done
if [ -z "${KV:-}" ]; then
    cargo build --release --example kv >/dev/null
    KV=target/release/examples/kv
fi
CORES=${CORES:-"0 0,0"}
DRIVER=${DRIVER:-uring}
P=${P:-1}
N=${N:-100000}
ROUNDS=${ROUNDS:-2}
TICK_NS=$((1000000000 / $(getconf CLK_TCK)))
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

# snap PORT -> "cpu_ticks enters polls wakes task_polls voluntary_cs involuntary_cs"
snap() {
    local counters switches
    counters=$(redis-cli -p "$1" info | tr -d '\r' | awk -F: '
        /^(tasks_polled|reactor_polls|uring_enters|eventfd_writes|ring_wakes):/ {s[$1] += $2}
        END {print s["uring_enters"] + 0, s["reactor_polls"] + 0, s["eventfd_writes"] + s["ring_wakes"], s["tasks_polled"] + 0}')
    switches=$(cat /proc/"$pid"/task/*/status | awk '/^voluntary_ctxt_switches/ {v += $2} /^nonvoluntary_ctxt_switches/ {n += $2} END {print v, n}')
    echo "$(awk '{print $14 + $15}' /proc/"$pid"/stat) $counters $switches"
}

echo "| cores | driver | P | CPU ns/req | enters/req | polls/req | wakes/req | voluntary cs/req | preemptions/req | task polls/req | GET req/s | load |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq "$ROUNDS"); do
    for cores in $CORES; do
        port=$((17000 + round * 10 + ${#cores}))
        "$KV" --addr 127.0.0.1:$port --cores "$cores" --driver "$DRIVER" >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
        redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "no server answers on port $port" >&2; exit 1; }
        # As benches/kv_vs_redis.sh: SCHED_BATCH unless SCHED=normal.
        [ "${SCHED:-batch}" = batch ] && chrt -b -a -p 0 "$pid" >/dev/null
        taskset -c 1 redis-benchmark -p $port -c 50 -n 100000 -r 100000 -P 16 -t set --csv >/dev/null 2>&1
        read -r -a a < <(snap $port)
        get=$(taskset -c 1 redis-benchmark -p $port -c 50 -n "$N" -r 100000 -P "$P" -t set,get --csv 2>/dev/null |
            awk -F'"' '/^"GET"/ {print $4}')
        read -r -a b < <(snap $port)
        awk -v n=$((2 * N)) -v t="$TICK_NS" -v c="$cores" -v d="$DRIVER" -v p="$P" -v get="$get" \
            -v l="$(cut -d' ' -f1 /proc/loadavg)" -v a="${a[*]}" -v b="${b[*]}" 'BEGIN {
            split(a, x, " "); split(b, y, " ");
            printf "| %s | %s | %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f | %.0f | %s |\n", c, d, p,
                (y[1] - x[1]) * t / n, (y[2] - x[2]) / n, (y[3] - x[3]) / n, (y[4] - x[4]) / n,
                (y[6] - x[6]) / n, (y[7] - x[7]) / n, (y[5] - x[5]) / n, get, l }'
        kill -INT "$pid"
        wait "$pid" 2>/dev/null || true
        pid=
    done
done
