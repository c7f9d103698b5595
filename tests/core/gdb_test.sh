#!/usr/bin/env bash
# gdb_test.sh TARGET GDB_SCRIPT [--no-core]: the gdb extension (core/gdb/libgrove-gdb.py) on a live
# process, on a core file gdb wrote (generate-core-file) and on one the kernel wrote when the
# process died of SIGABRT (a crash, with grove's default guard pages). TARGET (tests/core/gdb_target.cpp) parks 'gdb-waiter' in
# gdb_target_waits_on_event and 'gdb-sleeper' in gdb_target_sleeps, then stops at
# gdb_target_all_parked. Exit 77 (meson: skipped) where gdb is missing or ptrace is not
# permitted. --no-core (sanitizer builds): no core file; AddressSanitizer's shadow
# memory would make it tens of gigabytes.
set -u
target=$(realpath "$1")
script=$2
with_core=1
[ "${3:-}" = --no-core ] && with_core=0
command -v gdb >/dev/null || { echo "SKIP: gdb is not installed (scripts/setup.sh --test installs it)"; exit 77; }
probe=$(gdb -nx -batch -ex run /bin/true 2>&1)
if ! grep -q "exited normally" <<<"$probe"; then
  echo "SKIP: gdb cannot run a program here (ptrace not permitted?):"
  echo "$probe"
  exit 77
fi

# gdb's generate-core-file saves a mapping only if it can read all of it: the guard
# pages MADV_GUARD_INSTALL puts in the middle of a stack mapping (Linux 6.13+, grove's
# default there) cannot be read, so the green threads' stacks would be missing from
# gdb's core. mprotect guards are mappings of their own, which gcore skips. The kernel's
# core dump (a crash) writes the guard pages as zeros and keeps the stacks: the last part
# of this test runs with the default guards.
default_guard=${GROVE_STACK_GUARD-}
export GROVE_STACK_GUARD=mprotect

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

check() {  # check WHAT FILE PATTERN...: every pattern (grep -E) occurs in FILE
  local what=$1 file=$2
  shift 2
  for pattern in "$@"; do
    if ! grep -Eq -- "$pattern" "$file"; then
      echo "FAIL ($what): no match for: $pattern"
      fail=1
    fi
  done
}

commands=(-ex "info green-threads" -ex "green-thread bt 1" -ex "green-thread apply all bt")
expected=(
  "3 green thread\(s\)"
  "^\* 0 +'main' +running"
  " 1 +'gdb-waiter' +parked +Event::wait"
  " 2 +'gdb-sleeper' +parked +sleep"
  "green thread 1 'gdb-waiter' parked on Event::wait"
  "#[0-9]+ +0x[0-9a-f]+ in grove::detail::Hub::park"
  "in gdb_target_waits_on_event at .*gdb_target.cpp:[0-9]+"
  "in gdb_target_sleeps at .*gdb_target.cpp:[0-9]+"
  "green thread 0 'main' running .*running now"
  "#0 +0x[0-9a-f]+ in gdb_target_all_parked"
)

save_core=()
((with_core)) && save_core=(-ex "generate-core-file $work/core")

# Live: started under gdb, stopped at the breakpoint; then a core file of it.
gdb -nx -batch -ex "source $script" -ex "set pagination off" \
  -ex "break gdb_target_all_parked" -ex run \
  "${commands[@]}" "${save_core[@]}" -ex kill \
  "$target" >"$work/live.txt" 2>&1
echo "=== live process"
cat "$work/live.txt"
check live "$work/live.txt" "${expected[@]}"
# green-thread bt 1 shows the waiter's frames in order: park before the test's function.
if ! awk '/^green thread 1 /{on=1} on && /Hub::park/{p=NR} on && /gdb_target_waits_on_event/{w=NR; exit} END{exit !(p && w && p < w)}' "$work/live.txt"; then
  echo "FAIL (live): green-thread bt 1 does not list Hub::park before gdb_target_waits_on_event"
  fail=1
fi

if grep -q " in make_fcontext" "$work/live.txt"; then
  echo "FAIL (live): a stack goes past its green thread's first frame"
  fail=1
fi

if ((!with_core)); then
  echo "=== core file: not tried (--no-core: a sanitizer build)"
elif [ -s "$work/core" ]; then
  gdb -nx -batch -ex "source $script" -ex "set pagination off" "${commands[@]}" \
    "$target" "$work/core" >"$work/core.txt" 2>&1
  echo "=== core file"
  cat "$work/core.txt"
  check core "$work/core.txt" "${expected[@]}"
else
  echo "FAIL: gdb wrote no core file"
  fail=1
fi

# The kernel's core file of a crash, with the default guard pages: only where the kernel
# writes core files to the working directory (core_pattern not a pipe to a collector).
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo '|')
if ((!with_core)); then
  :
elif [[ $pattern == '|'* || $pattern == */* ]]; then
  echo "=== kernel core file: not tried (core_pattern '$pattern' does not write to the working directory)"
else
  mkdir "$work/crash"
  (
    cd "$work/crash" && ulimit -c unlimited &&
    if [ -n "$default_guard" ]; then export GROVE_STACK_GUARD=$default_guard; else unset GROVE_STACK_GUARD; fi &&
    gdb -nx -batch -ex "break gdb_target_all_parked" -ex run -ex "signal SIGABRT" "$target" >/dev/null 2>&1
  )
  kcore=$(find "$work/crash" -maxdepth 1 -name 'core*' -type f | head -1)
  if [ -z "$kcore" ]; then
    echo "=== kernel core file: none written (ulimit -c or the kernel refused); not checked"
  else
    gdb -nx -batch -ex "source $script" -ex "set pagination off" "${commands[@]}" \
      "$target" "$kcore" >"$work/kcore.txt" 2>&1
    echo "=== kernel core file (default guard pages)"
    cat "$work/kcore.txt"
    check "kernel core" "$work/kcore.txt" "${expected[@]}"
  fi
fi
exit $fail
