#!/usr/bin/env bash
# Requests per second of the manager API: `getversion` over loopback TCP, one connection per
# request, at concurrency 1, 4, 16 and 64. Each concurrency runs three loads back to back:
#   plain      `getversion\r\n\r\n` to the sensor;
#   encrypted  the same command as an AES-128-CBC frame (`aes-128-cbc:` … `:sea`), every reply
#              decrypted and checked by the client; printed as the ratio encrypted/plain;
#   baseline   plain against a trivial in-process server (`manager-load --baseline`), printed
#              as the ratio voipsensor/baseline, comparable across machines and runs (absolute
#              numbers on a noisy machine are not).
# The sensor runs with a temporary config that sets the test manager key (spec §9) and a
# temporary `--sqlitedb`, both in a temporary directory removed on exit.
#
# Usage: bash bench/manager_rps.sh            (from anywhere in the repository)
# Environment: DURATION (measured seconds per run, default 5), WARMUP (default 1),
#              CONCURRENCY (default "1 4 16 64"), COMMAND (default getversion; a protected
#              command sent in plaintext only measures the `need aes!` refusal),
#              BASELINE (default 1; 0 skips the baseline runs).
# The load only ever goes to 127.0.0.1; the sensor is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONCURRENCY=${CONCURRENCY:-"1 4 16 64"}
COMMAND=${COMMAND:-getversion}
BASELINE=${BASELINE:-1}
# The test key of spec §9 (never a production key): the sensor takes it from the config, the
# load generator from its flags.
AES_KEY=MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=
AES_IV=QUJDREVGR0hJSktMTU5PUA==

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

field() { # field NAME LINE
    local kv
    for kv in $2; do
        [ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }
    done
    echo 0
}

ratio() { # ratio NUMERATOR DENOMINATOR
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

SENSOR_PID=""
WORK=$(mktemp -d "${TMPDIR:-/tmp}/voipsensor-rps.XXXXXX")
stop_sensor() {
    if [ -n "$SENSOR_PID" ] && kill -0 "$SENSOR_PID" 2>/dev/null; then
        kill -TERM "$SENSOR_PID" 2>/dev/null || true
        wait "$SENSOR_PID" 2>/dev/null || true
    fi
    rm -rf -- "$WORK"
}
trap stop_sensor EXIT

CONF=$WORK/voipsensor.conf
DB=$WORK/voipsensor.db
(
    umask 077
    printf 'manager_aes_key = %s\nmanager_aes_iv = %s\n' "$AES_KEY" "$AES_IV" >"$CONF"
)

echo "== start: $SENSOR run --config $CONF --managerip 127.0.0.1 --managerport $PORT --sqlitedb $DB --log-level warn"
"$SENSOR" run --config "$CONF" --managerip 127.0.0.1 --managerport "$PORT" --sqlitedb "$DB" \
    --log-level warn &
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

# The sensor must answer an encrypted request with the configured key (the config key wins
# over the one stored in the database).
check=$("$LOAD" --addr "127.0.0.1:$PORT" --command "$COMMAND" --aes-key "$AES_KEY" --aes-iv "$AES_IV" \
    --concurrency 1 --duration 5 --warmup 0 --max-requests 1)
[ "$(field errors "$check")" = 0 ] && [ "$(field requests "$check")" = 1 ] \
    || { echo "the sensor does not answer encrypted requests with the test key: $check" >&2; exit 1; }
echo "sensor answers encrypted $COMMAND: $check"

echo "== load: command=$COMMAND duration=${DURATION}s warmup=${WARMUP}s baseline=$BASELINE"
declare -a SUMMARY=()
for c in $CONCURRENCY; do
    s=$("$LOAD" --addr "127.0.0.1:$PORT" --command "$COMMAND" --concurrency "$c" \
        --duration "$DURATION" --warmup "$WARMUP")
    echo "$s"
    e=$("$LOAD" --addr "127.0.0.1:$PORT" --command "$COMMAND" --concurrency "$c" \
        --duration "$DURATION" --warmup "$WARMUP" --aes-key "$AES_KEY" --aes-iv "$AES_IV")
    echo "$e"
    enc_ratio=$(ratio "$(field 'req/s' "$e")" "$(field 'req/s' "$s")")
    echo "ratio concurrency=$c encrypted/plain req/s=$enc_ratio"
    if [ "$BASELINE" != 0 ]; then
        b=$("$LOAD" --baseline --command "$COMMAND" --concurrency "$c" \
            --duration "$DURATION" --warmup "$WARMUP")
        echo "$b"
        base_ratio=$(ratio "$(field 'req/s' "$s")" "$(field 'req/s' "$b")")
        echo "ratio concurrency=$c voipsensor/baseline req/s=$base_ratio"
        base_cols=$(printf '%s | %s | %s | %s' "$(field 'req/s' "$b")" "$(field p50_us "$b")" \
            "$(field p99_us "$b")" "$base_ratio")
    else
        base_cols="- | - | - | -"
    fi
    SUMMARY+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' \
        "$c" "$(field 'req/s' "$s")" "$(field p50_us "$s")" "$(field p99_us "$s")" \
        "$(field errors "$s")" \
        "$(field 'req/s' "$e")" "$(field p50_us "$e")" "$(field p99_us "$e")" \
        "$(field errors "$e")" "$enc_ratio" "$base_cols")")
done

echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ))"
echo "| concurrency | plain req/s | p50 µs | p99 µs | errors | encrypted req/s | p50 µs | p99 µs | errors | encrypted / plain | baseline req/s | p50 µs | p99 µs | plain / baseline |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${SUMMARY[@]}"

echo "== machine"
model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
aesni=no
grep -q -m1 -w aes /proc/cpuinfo && aesni=yes
echo "machine: nproc=$(nproc) cpu=\"${model:-unknown}\" kernel=$(uname -r) aes-ni=$aesni"
