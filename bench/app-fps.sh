#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Frames per second of the desktop window under load (issue 9): the app
# runs under its own Xvfb and D-Bus session with WW_FPS_LOG, serving on a
# pinned port; wwload holds IDLE idle connections and drives a /ws fan-out
# of RATE CHATs/s to SUBS subscribers (RATE × SUBS deliveries/s, 50,000 by
# default).  The Traffic page, then the Clients page, stays visible for
# SECS seconds each; the script prints the frames per second and the
# longest frame of each from the app's once-a-second FPS lines.
#
#   bench/app-fps.sh [BUILD]          # BUILD defaults to build-app2
#   FPS_MODE=stress bench/app-fps.sh  # redraw the page on every frame
#   PORT=18231 IDLE=10000 SUBS=100 RATE=500 SECS=20 bench/app-fps.sh
#
# Xvfb draws with cairo on the CPU and the load generator shares the same
# cores as the app: read the numbers as a lower bound for a real desktop.
set -eu

BUILD=${1:-build-app2}
PORT=${PORT:-18231}
IDLE=${IDLE:-10000}
SUBS=${SUBS:-100}
RATE=${RATE:-500}
SECS=${SECS:-20}
FPS_MODE=${FPS_MODE:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
APP="$BUILD/src/wirewatch"
LOAD="$BUILD/bench/wwload"
for f in "$APP" "$LOAD"; do
  [ -x "$f" ] || { echo "app-fps: $f is missing (ninja -C $BUILD src/wirewatch bench/wwload)" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ww-app-fps-XXXXXX")
XVFB_PID= APP_PID= IDLE_PID= FAN_PID= DBUS_PID= TAIL=
cleanup () {
  for pid in $TAIL $FAN_PID $IDLE_PID $APP_PID $DBUS_PID $XVFB_PID; do
    kill "$pid" 2>/dev/null || true
  done
  sleep 0.5
  for pid in $TAIL $FAN_PID $IDLE_PID $APP_PID $DBUS_PID $XVFB_PID; do
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "app-fps: logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP PIPE

# Bounded wait: at most $1 tenths of a second for the command to succeed.
wait_until () {
  n=$1; shift
  while [ "$n" -gt 0 ]; do
    if "$@" 2>/dev/null; then return 0; fi
    sleep 0.1; n=$((n - 1))
  done
  return 1
}

# An X server and a D-Bus session of our own.
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$WORK/display" 2>"$WORK/xvfb.log" &
XVFB_PID=$!
wait_until 100 test -s "$WORK/display" || { echo "app-fps: Xvfb did not start" >&2; exit 1; }
DISPLAY=:$(cat "$WORK/display"); export DISPLAY
dbus-daemon --session --nofork --nopidfile --print-address=3 3>"$WORK/bus" >/dev/null 2>&1 &
DBUS_PID=$!
wait_until 100 test -s "$WORK/bus" || { echo "app-fps: dbus-daemon did not start" >&2; exit 1; }
DBUS_SESSION_BUS_ADDRESS=$(head -n1 "$WORK/bus"); export DBUS_SESSION_BUS_ADDRESS

# Settings and state of our own.  The window takes --rate-limit from the
# settings only (0 there means the built-in 20/s): allow the publisher's rate.
mkdir -p "$WORK/config/glib-2.0/settings" "$WORK/state" "$WORK/data"
printf '[io/github/wirewatch/Wirewatch]\nrate-limit=1000000\n' \
  >"$WORK/config/glib-2.0/settings/keyfile"
export XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/state" XDG_DATA_HOME="$WORK/data"
export GSETTINGS_BACKEND=keyfile GSETTINGS_SCHEMA_DIR="$BUILD/data" GDK_BACKEND=x11
export GSK_RENDERER=cairo NO_AT_BRIDGE=1 GTK_A11Y=none WW_FPS_LOG="$FPS_MODE"
"$APP" --port "$PORT" --no-persist --rate-limit 0 --max-connections 100000 \
       --max-per-address 100000 --heartbeat 0 >"$WORK/app.log" 2>&1 &
APP_PID=$!
wait_until 150 grep -q "FPS page=" "$WORK/app.log" || { echo "app-fps: the window did not paint" >&2; cat "$WORK/app.log" >&2; exit 1; }

page () {
  gdbus call --session --dest io.github.wirewatch.Wirewatch \
        --object-path /io/github/wirewatch/Wirewatch/window/1 \
        --method org.gtk.Actions.Activate page "[<'$1'>]" "{}" >/dev/null
}

# The load: idle connections first, then the fan-out.
"$LOAD" --workload idle --port "$PORT" -c "$IDLE" --duration $((SECS * 2 + 30)) \
        --pid "$APP_PID" >"$WORK/idle.json" 2>"$WORK/idle.log" &
IDLE_PID=$!
wait_until 600 sh -c "ss -tn state established '( sport = :$PORT )' | tail -n +2 | wc -l | awk '{ exit !(\$1 >= $IDLE) }'" ||
  echo "app-fps: warning: not all $IDLE idle connections came up" >&2
"$LOAD" --workload fanout --port "$PORT" --path /ws -c "$SUBS" --rate "$RATE" \
        --duration $((SECS * 2 + 4)) --warmup 1 --pid "$APP_PID" >"$WORK/fanout.json" 2>"$WORK/fanout.log" &
FAN_PID=$!
sleep 3

report () {
  # The FPS lines logged while $1 was visible, after its first second.
  awk -v page="$1" '
    index($0, "FPS page=" page " ") {
      n++; if (n == 1) next
      for (i = 1; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "fps") { sum += kv[2]; cnt++; if (min == "" || kv[2] < min) min = kv[2] }
        if (kv[1] == "longest-frame-ms" && kv[2] > lf) lf = kv[2]
        if (kv[1] == "longest-gap-ms" && kv[2] > lg) lg = kv[2]
      }
    }
    END {
      if (cnt == 0) { printf "%-8s no samples\n", page; exit }
      printf "%-8s fps mean %.1f  min %.1f  longest frame %.1f ms  longest gap %.1f ms  (%d s)\n",
             page, sum / cnt, min, lf, lg, cnt
    }' "$2"
}

page traffic
: >"$WORK/traffic.log"
tail -n 0 -f "$WORK/app.log" >"$WORK/traffic.log" &
TAIL=$!
sleep "$SECS"
kill "$TAIL"; TAIL=
page clients
: >"$WORK/clients.log"
tail -n 0 -f "$WORK/app.log" >"$WORK/clients.log" &
TAIL=$!
sleep "$SECS"
kill "$TAIL"; TAIL=

wait "$FAN_PID" 2>/dev/null || true
FAN_PID=

echo "Wirewatch window under load: $IDLE idle clients, $SUBS subscribers × $RATE CHAT/s (WW_FPS_LOG=$FPS_MODE)"
echo "connections at the end: $(ss -tn state established "( sport = :$PORT )" | tail -n +2 | wc -l)"
report traffic "$WORK/traffic.log"
report clients "$WORK/clients.log"
echo "fan-out (wwload):"
cat "$WORK/fanout.json"
