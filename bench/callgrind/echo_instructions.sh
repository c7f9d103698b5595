#!/usr/bin/env bash
# echo_instructions.sh BUILD [CONNS] [SECONDS] [SERVER ARGS...]: user-space
# instructions per echoed message in BUILD/samples/echo_server (e.g. `--hubs 2`: all
# hubs' threads summed; GROVE_ECHO_SERVER=PATH counts another server taking --port,
# e.g. bench/threads_vs_green/tvg_green), counted by callgrind. After a one-second
# warm-up, two load runs of SECONDS and 2 x SECONDS, each dumped on its own; the
# count is the difference of their instructions over the difference of their
# messages, so what each run pays once (CONNS connections accepted, their green
# threads spawned, closed) cancels, and the figure does not depend on how many
# messages the run managed (on a busy machine, a few times fewer). Instruction counts
# repeat to within a few per message, where wall-clock time on a shared machine moves
# by 25 %. Needs valgrind (callgrind_control).
# With GROVE_CALLGRIND_KEEP=DIR both profiles and message counts are kept there.
# GROVE_ECHO_NAME=NAME (default echo) names the figure NAME_instructions_per_msg_CONNS
# and the kept files (monkey_echo_instructions.sh sets monkey_echo).
set -euo pipefail
B=$1; C=${2:-100}; S=${3:-3}
shift $(($# < 3 ? $# : 3))
server=${GROVE_ECHO_SERVER:-$B/samples/echo_server}
name=${GROVE_ECHO_NAME:-echo}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Ready when the server itself says it listens (a probe of the port could find another
# program's listener there); a random port another program holds makes the server
# exit, and the next try takes another.
start_server() {
  port=$((20000 + RANDOM % 20000))
  taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" -q \
    "$server" --port "$port" "$@" >"$out/server.log" 2>&1 &
  vp=$!
  for _ in $(seq 300); do
    grep -q "listening on" "$out/server.log" && return 0
    kill -0 "$vp" 2>/dev/null || break
    sleep 0.2
  done
  kill "$vp" 2>/dev/null; wait "$vp" 2>/dev/null || true
  rm -f "$out"/cg.*
  return 1
}
started=
for _ in 1 2 3; do start_server "$@" && { started=1; break; }; done
if [ -z "$started" ]; then
  echo "echo_instructions: $server did not start listening; its last output:" >&2
  tail -n 5 "$out/server.log" >&2
  exit 1
fi
load() {
  taskset -c 1 "$B/bench/echo/echo_load" --port "$port" --conns "$C" --seconds "$1" --warmup 0 |
    awk '/^msgs:/{print $2}'
}
load 1 >/dev/null
callgrind_control -z "$vp" >/dev/null
m1=$(load "$S")
callgrind_control -d "$vp" >/dev/null  # dumps and zeroes
m2=$(load "$((2 * S))")
callgrind_control -d "$vp" >/dev/null
kill "$vp"; wait "$vp" 2>/dev/null || true
ir() { awk '/^summary:|^totals:/{print $2}' "$1" | tail -1; }
f1=$(ls "$out"/cg.*.1 | head -n 1); f2=$(ls "$out"/cg.*.2 | head -n 1)
if [ -n "${GROVE_CALLGRIND_KEEP:-}" ]; then  # bench/callgrind/instruction_gate.py reads these
  cp "$f1" "$GROVE_CALLGRIND_KEEP/${name}_${C}_small.cg"
  cp "$f2" "$GROVE_CALLGRIND_KEEP/${name}_${C}_big.cg"
  echo "$m1" >"$GROVE_CALLGRIND_KEEP/${name}_${C}_small.units"
  echo "$m2" >"$GROVE_CALLGRIND_KEEP/${name}_${C}_big.units"
fi
echo "${name}_instructions_per_msg_${C}: $(python3 -c "print(round(($(ir "$f2") - $(ir "$f1")) / ($m2 - $m1), 1))") instructions"
