#!/usr/bin/env bash
# Call table benchmarks (docs/benchmarks.md, "Call table: listcalls latency and memory per
# call"):
#   memory   target/release/call-memory: heap bytes (and RSS) per active call, answered calls
#            with RTP both ways, and per registration record; run for 10 000 and CALLS calls
#            (registrations: the same numbers). Also times `listcalls {}`: once cold, then
#            5 more (wall and on-CPU time, min and median).
#   latency  cargo bench --bench calltable: criterion, 10 samples per bench, groups
#            listcalls_10k and listcalls_100k with benches rows, render and dispatch.
# Targets (issue): listcalls of 100 000 calls < 100 ms; <= 1 KiB per active call.
#
# Usage: bash bench/calltable.sh            (from anywhere in the repository)
# Environment: CALLS (default 100000), BENCH (default 1; 0 skips criterion),
#              FILTER (criterion filter, default: all calltable benches).
set -euo pipefail

cd "$(dirname "$0")/.."
CALLS=${CALLS:-100000}
BENCH=${BENCH:-1}
FILTER=${FILTER:-}

echo "== build"
cargo build --release --locked -p voipsensor-bench --bin call-memory
MEM=target/release/call-memory
TIME=()
[ -x /usr/bin/time ] && TIME=(/usr/bin/time -f 'process: %e s wall, %M KB max RSS')

echo "== memory per active call and per registration record"
for n in 10000 "$CALLS"; do
    echo "-- $MEM --calls $n --registrations $n"
    "${TIME[@]}" "$MEM" --calls "$n" --registrations "$n"
done

if [ "$BENCH" != 0 ]; then
    echo "== listcalls latency (criterion: cargo bench -p voipsensor-bench --bench calltable)"
    LOG=$(mktemp "${TMPDIR:-/tmp}/voipsensor-calltable.XXXXXX")
    trap 'rm -f -- "$LOG"' EXIT
    # shellcheck disable=SC2086 # FILTER is empty or one word
    cargo bench --locked -p voipsensor-bench --bench calltable -- $FILTER 2>&1 | tee "$LOG"
    echo "== summary: criterion time [low estimate high]"
    grep -E '^listcalls_[0-9]+k: ' "$LOG" || true
    grep -E '^listcalls_[0-9]+k/[a-z]+ +time:' "$LOG" | sed -E 's/ +time: +/  /'
fi

echo "== machine"
model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "machine: nproc=$(nproc) cpu=\"$model\" kernel=$(uname -r) mem=$(free -m | awk '/^Mem:/ {print $2}')MiB" \
    "date=$(date -u +%Y-%m-%dT%H:%MZ) commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "dirty=$(git status --porcelain 2>/dev/null | grep -c . || true)"
