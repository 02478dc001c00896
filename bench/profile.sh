#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Where the server's time goes, per workload: user-space instructions per
# operation from callgrind (exact and repeatable on a noisy machine) and
# the split of its CPU time between user space and the kernel from
# /proc/PID/stat under the real load.
#
#   bench/profile.sh [BUILD]              # BUILD defaults to build
#   WORKLOADS="echo connect" bench/profile.sh
#
# Writes callgrind.out.WORKLOAD into a temporary directory it names, for
# callgrind_annotate.  Needs valgrind; takes about a minute per workload.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
APP="$BUILD/src/wirewatch"
LOAD="$BUILD/bench/wwload"
WORKLOADS=${WORKLOADS:-"echo fanout connect"}
for f in "$APP" "$LOAD"; do
  [ -x "$f" ] || { echo "profile: $f is missing (ninja -C $BUILD)" >&2; exit 2; }
done
command -v valgrind >/dev/null || { echo "profile: valgrind is missing" >&2; exit 2; }

OUT=$(mktemp -d "${TMPDIR:-/tmp}/ww-profile-XXXXXX")
SERVER_PID=
cleanup () {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP PIPE

free_port () {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_healthz () {
  tries=300
  while [ $tries -gt 0 ]; do
    curl -s -o /dev/null "http://127.0.0.1:$1/healthz" && return 0
    sleep 0.1; tries=$((tries - 1))
  done
  echo "profile: the server did not answer on port $1" >&2
  exit 1
}

load_args () {
  case "$1" in
    echo) echo "-w echo -c 100 -d 10 -s 64" ;;
    fanout) echo "-w fanout -c 1000" ;;
    connect) echo "-w connect -k 8" ;;
    *) echo "profile: unknown workload $1" >&2; exit 2 ;;
  esac
}

# The count of operations a wwload JSON line reports.
ops () {
  python3 -c 'import json,sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
w = d["workload"]
print(d["wire"]["in_msgs"] if w in ("echo", "fanout") else d["handshakes"])' "$1"
}

SERVER_ARGS="--headless --no-persist --heartbeat 0 --rate-limit 0 --max-connections 100000 --max-per-address 100000"

echo "| workload | user-space instructions per operation | server CPU in the kernel | operations/s (server core share) |"
echo "|---|---|---|---|"
for w in $WORKLOADS; do
  args=$(load_args "$w")

  # 1. callgrind: instrumentation only while wwload runs.
  port=$(free_port)
  # shellcheck disable=SC2086
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out.$w" \
    "$APP" $SERVER_ARGS --port "$port" >"$OUT/valgrind.$w.log" 2>&1 &
  SERVER_PID=$!
  wait_healthz "$port"
  callgrind_control -i on "$SERVER_PID" >/dev/null
  # shellcheck disable=SC2086
  "$LOAD" -p "$port" $args -t 5 >"$OUT/cg-load.$w.json" 2>/dev/null
  callgrind_control -i off "$SERVER_PID" >/dev/null
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  ir=$(callgrind_annotate "$OUT/callgrind.out.$w" 2>/dev/null |
       awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
  ops=$(ops "$OUT/cg-load.$w.json")

  # 2. the real server pinned to core 1, wwload on core 0: user vs kernel.
  port=$(free_port)
  # shellcheck disable=SC2086
  taskset -c 1 "$APP" $SERVER_ARGS --port "$port" >/dev/null 2>&1 &
  SERVER_PID=$!
  wait_healthz "$port"
  # shellcheck disable=SC2086
  taskset -c 0 "$LOAD" -p "$port" --pid "$SERVER_PID" $args -t 4 --warmup 1 >"$OUT/load.$w.json" 2>/dev/null &
  LOAD_PID=$!
  sleep 2
  set -- $(awk '{ print $14, $15 }' "/proc/$SERVER_PID/stat")
  u0=$1 s0=$2
  sleep 3
  set -- $(awk '{ print $14, $15 }' "/proc/$SERVER_PID/stat")
  u1=$1 s1=$2
  wait "$LOAD_PID" || true
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  python3 - "$w" "$ir" "$ops" "$((u1 - u0))" "$((s1 - s0))" "$OUT/load.$w.json" <<'PY'
import json, sys
w, ir, n, du, ds, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
d = json.loads(open(path).read().strip().splitlines()[-1])
rate = d.get('msgs_per_s') or d.get('deliveries_per_s') or d.get('handshakes_per_s') or 0
kernel = ds / (du + ds) if du + ds else float('nan')
print(f'| {w} | {ir / max(n, 1):,.0f} ({n:,} operations) | {kernel:.0%} | {rate:,.0f} ({d["cpu"]["server"]:.2f}) |')
PY
done
echo
echo "callgrind files: $OUT (callgrind_annotate --inclusive=yes FILE)"
