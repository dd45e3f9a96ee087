#!/usr/bin/env bash
# Memory and throughput of `getfile`: a release sensor serves one large spool file (1 GiB by
# default) to `voipsensor send-manager-cmd --output /dev/null`, in plaintext and encrypted
# (`-a`, AES-128-CBC with the spec §9 test key), and optionally zipped (`getfile_zip`). For
# each run it prints the throughput (MB/s, 10^6 bytes, the file's size over the client's wall
# time) and the sensor's memory: its resident set before the run, the highest VmRSS sampled
# every 50 ms during it, and VmHWM (the kernel's peak, reset before each run through
# /proc/PID/clear_refs). Streaming shows as a peak that stays a few MiB above the idle RSS
# whatever SIZE is; buffering the file would add SIZE to it. The client's own peak RSS
# (/usr/bin/time) is printed too.
#
# Usage: bash bench/getfile_rss.sh            (from anywhere in the repository)
# Environment: SIZE_MB (default 1024), ZIP (default 0; 1 adds getfile_zip runs, slow: gzip
#              level 6 runs at tens of MB/s), VERIFY (default 0; 1 also fetches the file to
#              disk once and compares it, which needs SIZE_MB more free space).
# Everything lives in a temporary directory (removed on exit); the sensor listens on
# 127.0.0.1 only and is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
ZIP=${ZIP:-0}
VERIFY=${VERIFY:-0}
# The test key of spec §9 (never a production key).
AES_KEY=MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=
AES_IV=QUJDREVGR0hJSktMTU5PUA==

echo "== build"
cargo build --release -p voipsensor
SENSOR=${CARGO_TARGET_DIR:-target}/release/voipsensor

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=""
for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 10000))
    if port_is_free "$p"; then PORT=$p; break; fi
done
[ -n "$PORT" ] || { echo "no free port found" >&2; exit 1; }

SENSOR_PID=""
SAMPLER_PID=""
WORK=$(mktemp -d "${TMPDIR:-/tmp}/voipsensor-getfile.XXXXXX")
cleanup() {
    if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
    if [ -n "$SENSOR_PID" ] && kill -0 "$SENSOR_PID" 2>/dev/null; then
        kill -TERM "$SENSOR_PID" 2>/dev/null || true
        wait "$SENSOR_PID" 2>/dev/null || true
    fi
    rm -rf -- "$WORK"
}
trap cleanup EXIT

SPOOL=$WORK/spool
REL=2024-01-01/00/00/RTP/big.pcap
mkdir -p "$SPOOL/$(dirname "$REL")"
echo "== create a ${SIZE_MB} MiB file (random bytes: not a pcap, not compressible)"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$SPOOL/$REL"
SIZE=$(stat -c %s "$SPOOL/$REL")

CONF=$WORK/voipsensor.conf
(
    umask 077
    printf 'spooldir = %s\nmanager_aes_key = %s\nmanager_aes_iv = %s\nmanager_enable_unencrypted = yes\n' \
        "$SPOOL" "$AES_KEY" "$AES_IV" >"$CONF"
)
echo "== start: $SENSOR run --config $CONF --managerip 127.0.0.1 --managerport $PORT"
"$SENSOR" run --config "$CONF" --managerip 127.0.0.1 --managerport "$PORT" \
    --sqlitedb "$WORK/voipsensor.db" --log-level warn &
SENSOR_PID=$!
for _ in $(seq 1 100); do
    if [ "$("$SENSOR" send-manager-cmd -p "$PORT" -c getversion 2>/dev/null)" != "" ]; then break; fi
    kill -0 "$SENSOR_PID" 2>/dev/null || { echo "the sensor exited" >&2; exit 1; }
    sleep 0.1
done

status_kb() { # status_kb FIELD -> kB value from /proc/PID/status
    awk -v f="$1:" '$1 == f { print $2 }' "/proc/$SENSOR_PID/status"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# One measured fetch: fetch NAME CMD [send-manager-cmd flags...]
fetch() {
    local name=$1 cmd=$2
    shift 2
    # Reset the kernel's peak RSS for this process (writing 5 to clear_refs, Linux >= 4.0).
    echo 5 >"/proc/$SENSOR_PID/clear_refs" 2>/dev/null || true
    local before
    before=$(status_kb VmRSS)
    local samples=$WORK/rss.$name
    : >"$samples"
    (
        while kill -0 "$SENSOR_PID" 2>/dev/null; do
            status_kb VmRSS >>"$samples"
            sleep 0.05
        done
    ) &
    SAMPLER_PID=$!
    local start end client_kb
    start=$(date +%s.%N)
    client_kb=$( { /usr/bin/time -f '%M' "$SENSOR" send-manager-cmd -p "$PORT" --timeout 60 \
        "$@" -c "$cmd" --output /dev/null; } 2>&1 >/dev/null | tail -n 1)
    end=$(date +%s.%N)
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    local max hwm
    max=$(sort -n "$samples" | tail -n 1)
    hwm=$(status_kb VmHWM)
    awk -v n="$name" -v s="$SIZE" -v a="$start" -v b="$end" -v r0="$before" -v rm="$max" \
        -v h="$hwm" -v c="$client_kb" 'BEGIN {
        t = b - a
        printf "%-14s %8.1f MB/s  %6.2f s   sensor RSS before %6.1f MiB, max sampled %6.1f MiB, VmHWM %6.1f MiB   client peak %5.1f MiB\n",
            n, s / t / 1e6, t, r0 / 1024, rm / 1024, h / 1024, c / 1024 }'
}

AES=(-a --aes-key "$AES_KEY" --aes-iv "$AES_IV")
echo "== fetch ${SIZE} bytes with send-manager-cmd --output /dev/null"
fetch plain "getfile $REL"
fetch aes-128-cbc "getfile $REL" "${AES[@]}"
fetch plain-again "getfile $REL"
if [ "$ZIP" = 1 ]; then
    fetch zip "getfile_zip $REL"
    fetch zip+aes "getfile_zip $REL" "${AES[@]}"
fi
if [ "$VERIFY" = 1 ]; then
    echo "== verify: fetch to disk (encrypted) and compare"
    "$SENSOR" send-manager-cmd -p "$PORT" "${AES[@]}" -c "getfile $REL" --output "$WORK/copy"
    cmp "$SPOOL/$REL" "$WORK/copy" && echo "identical"
fi
echo "== sensor RSS after: $(mib "$(status_kb VmRSS)") MiB"
