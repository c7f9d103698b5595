#!/usr/bin/env bash
# Release build of grove, its samples, tests and benchmarks into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release
fi
ninja -C build
