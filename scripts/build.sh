#!/usr/bin/env bash
# Release build of libgrove, libgrove_monkey and the samples into build/, without the
# tests and benchmarks. scripts/test.sh turns those on in the same build/; after it,
# this script leaves them on (they are built already: turning them off would make meson
# delete them, and the next test.sh would build them all again).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f build/build.ninja ]; then
  scripts/configure.sh build samples=true
else
  scripts/configure.sh build tests=false benchmarks=false samples=true
fi
ninja -C build
