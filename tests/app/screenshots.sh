#!/bin/sh
# Renders each page of the window into data/screenshots/*.png.
# Usage: tests/app/screenshots.sh BUILD_DIR   (run by `make screenshots`)
set -eu

build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/data/screenshots"
helper="$build/tests/app/ww-screenshot"

if [ ! -x "$helper" ]; then
  echo "screenshots.sh: $helper is missing; build first (meson compile -C $build)" >&2
  exit 1
fi
mkdir -p "$out"

export GDK_BACKEND=x11 GSK_RENDERER=cairo GDK_DEBUG=gl-disable GTK_A11Y=none
export GSETTINGS_BACKEND=memory GSETTINGS_SCHEMA_DIR="$build/data" LC_ALL=C.UTF-8
export GIO_USE_PROXY_RESOLVER=dummy

if [ -n "${DISPLAY:-}" ]; then
  timeout 90 "$helper" "$out"
else
  timeout 90 xvfb-run -a -s '-screen 0 1280x1024x24' "$helper" "$out"
fi
