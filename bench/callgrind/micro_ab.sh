#!/usr/bin/env bash
# micro_ab.sh SRC_A BUILD_A SRC_B BUILD_B [REPS]: interleaved wall-clock A/B timings of
# micro.cpp's yield-loop iteration, spawn+join and one-way channel hand-off, one build
# against another (release builds; e.g. a git worktree of the commit before a change).
# Each repetition runs A then B for each measure, pinned to one core; prints every
# run and the median of each. Wall clock on a shared machine moves by up to 25 %
# between runs: trust the medians of interleaved runs (and, on a busy machine, the
# fastest runs), and callgrind (micro_instructions.sh) for small differences.
set -eu
SA=$1; BA=$2; SB=$3; BB=$4; R=${5:-7}
o=$(mktemp -d)
trap 'rm -rf "$o"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
for x in A B; do
  if [ $x = A ]; then S=$SA; B=$BA; else S=$SB; B=$BB; fi
  g++ -std=c++20 -O2 -I"$S/core/include" -I"$B/core/include" "$here/micro.cpp" -o "$o/micro$x" \
    -L"$B" -lgrove -Wl,-rpath,"$B" -lspdlog -lfmt -pthread
done
declare -A n=([yield]=20000000 [spawn]=5000000 [channel]=20000000)
for w in yield spawn channel; do
  : >"$o/$w.A"; : >"$o/$w.B"
done
for r in $(seq "$R"); do
  for w in yield spawn channel; do
    for x in A B; do
      taskset -c 1 "$o/micro$x" "$w" "${n[$w]}" | awk '{print $2}' >>"$o/$w.$x"
    done
  done
done
for w in yield spawn channel; do
  a=$(sort -g "$o/$w.A" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  b=$(sort -g "$o/$w.B" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  echo "${w}_ns: A $(paste -sd' ' "$o/$w.A") | B $(paste -sd' ' "$o/$w.B")"
  echo "${w}_ns median: A $a B $b (B/A $(python3 -c "print(round($b/$a,3))"))"
  a=$(sort -g "$o/$w.A" | head -1); b=$(sort -g "$o/$w.B" | head -1)
  echo "${w}_ns fastest: A $a B $b (B/A $(python3 -c "print(round($b/$a,3))"))"
done
