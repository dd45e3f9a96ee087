#!/usr/bin/env bash
# Requests per second of the manager API: `getversion` over loopback TCP, one connection per
# request, at concurrency 1, 4, 16 and 64, each run next to the same load against a trivial
# in-process baseline server (`manager-load --baseline`) so that the ratio voipsensor/baseline
# can be compared across machines and runs (absolute numbers on a noisy machine cannot).
#
# Usage: bash bench/manager_rps.sh            (from anywhere in the repository)
# Environment: DURATION (measured seconds per run, default 5), WARMUP (default 1),
#              CONCURRENCY (default "1 4 16 64"), COMMAND (default getversion).
# The load only ever goes to 127.0.0.1; the sensor is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONCURRENCY=${CONCURRENCY:-"1 4 16 64"}
COMMAND=${COMMAND:-getversion}

echo "== build"
cargo build --release -p voipsensor -p voipsensor-bench
SENSOR=target/release/voipsensor
LOAD=target/release/manager-load

# A TCP port nothing on 127.0.0.1 listens on (the sensor's bind is the real check).
port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 10000))
    if port_is_free "$p"; then PORT=$p; break; fi
done
[ -n "$PORT" ] || { echo "no free port found" >&2; exit 1; }

SENSOR_PID=""
stop_sensor() {
    if [ -n "$SENSOR_PID" ] && kill -0 "$SENSOR_PID" 2>/dev/null; then
        kill -TERM "$SENSOR_PID" 2>/dev/null || true
        wait "$SENSOR_PID" 2>/dev/null || true
    fi
}
trap stop_sensor EXIT

echo "== start: $SENSOR run --managerip 127.0.0.1 --managerport $PORT --log-level warn"
"$SENSOR" run --managerip 127.0.0.1 --managerport "$PORT" --log-level warn &
SENSOR_PID=$!

# Wait (up to 10 s) until the sensor answers getversion.
ready=""
for _ in $(seq 1 100); do
    kill -0 "$SENSOR_PID" 2>/dev/null || { echo "the sensor exited during start-up" >&2; exit 1; }
    if reply=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "getversion\r\n\r\n" >&3; cat <&3' _ "$PORT" 2>/dev/null) \
        && [ -n "$reply" ]; then
        ready=$reply
        break
    fi
    sleep 0.1
done
[ -n "$ready" ] || { echo "the sensor did not answer on 127.0.0.1:$PORT" >&2; exit 1; }
echo "sensor answers getversion: $ready"

field() { # field NAME LINE
    local kv
    for kv in $2; do
        [ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }
    done
    echo 0
}

echo "== load: command=$COMMAND duration=${DURATION}s warmup=${WARMUP}s"
declare -a SUMMARY=()
for c in $CONCURRENCY; do
    s=$("$LOAD" --addr "127.0.0.1:$PORT" --command "$COMMAND" --concurrency "$c" \
        --duration "$DURATION" --warmup "$WARMUP")
    echo "$s"
    b=$("$LOAD" --baseline --command "$COMMAND" --concurrency "$c" \
        --duration "$DURATION" --warmup "$WARMUP")
    echo "$b"
    ratio=$(awk -v s="$(field 'req/s' "$s")" -v b="$(field 'req/s' "$b")" \
        'BEGIN { if (b > 0) printf "%.2f", s / b; else print "n/a" }')
    echo "ratio concurrency=$c voipsensor/baseline req/s=$ratio"
    SUMMARY+=("$(printf '| %11s | %13s | %7s | %7s | %7s | %6s | %13s | %7s | %7s | %5s |' \
        "$c" "$(field 'req/s' "$s")" "$(field p50_us "$s")" "$(field p99_us "$s")" \
        "$(field max_us "$s")" "$(field errors "$s")" \
        "$(field 'req/s' "$b")" "$(field p50_us "$b")" "$(field p99_us "$b")" "$ratio")")
done

echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ))"
echo "| concurrency | voipsensor req/s | p50 µs | p99 µs | max µs | errors | baseline req/s | p50 µs | p99 µs | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${SUMMARY[@]}"

echo "== machine"
model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "machine: nproc=$(nproc) cpu=\"${model:-unknown}\" kernel=$(uname -r)"
