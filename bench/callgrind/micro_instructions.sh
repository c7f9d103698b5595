#!/usr/bin/env bash
# micro_instructions.sh SRC BUILD: instructions per yield-loop iteration (two green
# threads, one yield each), per spawn+join and per one-way channel hand-off (an
# unbuffered Channel ping-pong, as sync_bench's channel_handoff_ns; micro.cpp counts
# n hand-offs as n/2 round trips), from callgrind runs of micro.cpp at
# two iteration counts (the difference cancels start-up). SRC is a grove source tree,
# BUILD a release build of it. With GROVE_CALLGRIND_KEEP=DIR the profiles are kept there.
set -eu
S=$1; B=$2; o=$(mktemp -d)
trap 'rm -rf "$o"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
g++ -std=c++20 -O2 -I"$S/core/include" -I"$B/core/include" "$here/micro.cpp" -o "$o/micro" \
  -L"$B" -lgrove -Wl,-rpath,"$B" -lspdlog -lfmt -pthread
for w in yield spawn channel; do
  for n in 100000 200000; do
    valgrind --tool=callgrind --callgrind-out-file="$o/cg.$w.$n" -q "$o/micro" "$w" "$n"
  done
  a=$(awk '/^totals:|^summary:/{print $2}' "$o/cg.$w.100000" | tail -1)
  b=$(awk '/^totals:|^summary:/{print $2}' "$o/cg.$w.200000" | tail -1)
  if [ -n "${GROVE_CALLGRIND_KEEP:-}" ]; then  # bench/callgrind/instruction_gate.py reads these
    cp "$o/cg.$w.100000" "$GROVE_CALLGRIND_KEEP/${w}_small.cg"
    cp "$o/cg.$w.200000" "$GROVE_CALLGRIND_KEEP/${w}_big.cg"
  fi
  echo "${w}_instructions: $(python3 -c "print(round(($b-$a)/100000,1))") instructions"
done
