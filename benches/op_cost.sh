#!/bin/sh
# Instructions per echo round trip (both sides, user space) on each driver: the op_cost
# bench under callgrind at two round-trip counts, setup cancelled out. See benches/op_cost.rs.
#
#   benches/op_cost.sh            # from the workspace root; needs valgrind
set -eu
cargo bench -p ringpoll-benches --bench op_cost --no-run 2>/dev/null
bin=$(ls -t target/release/deps/op_cost-* | grep -v '\.d$' | head -1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for driver in epoll uring; do
    for n in 2000 12000; do
        RINGPOLL_DRIVER=$driver valgrind --tool=callgrind --callgrind-out-file="$out/$driver.$n" \
            "$bin" "$n" >"$out/$driver.$n.stdout" 2>"$out/$driver.$n.log"
    done
    lo=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out/$driver.2000.log")
    hi=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out/$driver.12000.log")
    echo "$driver: $(( (hi - lo) / 10000 )) Ir per round trip"
done
sed '$d' "$out/epoll.2000.stdout"
