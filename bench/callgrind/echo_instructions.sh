#!/usr/bin/env bash
# echo_instructions.sh BUILD [CONNS] [SECONDS] [SERVER ARGS...]: user-space
# instructions per echoed message in BUILD/samples/echo_server (e.g. `--hubs 2`: all
# hubs' threads summed), counted by callgrind over exactly the load
# window: the counters are zeroed after a one-second warm-up and dumped at the end,
# and the total is divided by the messages bench/echo's load generator reports.
# Instruction counts repeat to within a few per message, where wall-clock time on a
# shared machine moves by 25 %. Needs valgrind (callgrind_control) and nc.
# With GROVE_CALLGRIND_KEEP=DIR the profile and the message count are kept there.
set -euo pipefail
B=$1; C=${2:-100}; S=${3:-3}
shift $(($# < 3 ? $# : 3))
port=$((20000 + RANDOM % 20000))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" -q \
  "$B/samples/echo_server" --port "$port" "$@" >/dev/null 2>&1 &
vp=$!
for _ in $(seq 100); do nc -z 127.0.0.1 "$port" 2>/dev/null && break; sleep 0.2; done
taskset -c 1 "$B/bench/echo/echo_load" --port "$port" --conns "$C" --seconds 1 --warmup 0 >/dev/null
callgrind_control -z "$vp" >/dev/null
res=$(taskset -c 1 "$B/bench/echo/echo_load" --port "$port" --conns "$C" --seconds "$S" --warmup 0)
callgrind_control -d "$vp" >/dev/null
msgs=$(echo "$res" | awk '/^msgs:/{print $2}')
kill "$vp"; wait "$vp" 2>/dev/null || true
ir=$(awk '/^summary:|^totals:/{print $2}' "$out"/cg.*.1 | tail -1)
if [ -n "${GROVE_CALLGRIND_KEEP:-}" ]; then  # bench/callgrind/instruction_gate.py reads these
  cp "$(ls "$out"/cg.*.1 | head -n 1)" "$GROVE_CALLGRIND_KEEP/echo_${C}.cg"
  echo "$msgs" >"$GROVE_CALLGRIND_KEEP/echo_${C}.units"
fi
echo "echo_instructions_per_msg_${C}: $(python3 -c "print(round($ir/$msgs,1))") instructions"
