#!/usr/bin/env bash
# monkey_echo_instructions.sh BUILD [CONNS] [SECONDS]: user-space instructions per
# echoed message in the monkey-patched blocking echo server, counted by callgrind as
# echo_instructions.sh counts samples/echo_server (two load runs, differenced).
# The server is bench/threads_vs_green/tvg_green: one green thread per connection,
# each a plain blocking loop of read() and write() under grove::monkey::patch_all(),
# so every message goes through monkey's read and write hooks and their park.
# GROVE_ECHO_SERVER=PATH counts another server taking --port (e.g. a wrapper that
# runs bench/threads_vs_green/tvg_threads under LD_PRELOAD=libgrove_monkey.so).
# Prints monkey_echo_instructions_per_msg_CONNS; GROVE_CALLGRIND_KEEP as there.
set -euo pipefail
B=$1; C=${2:-100}; S=${3:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
GROVE_ECHO_SERVER=${GROVE_ECHO_SERVER:-$B/bench/threads_vs_green/tvg_green} GROVE_ECHO_NAME=monkey_echo \
  exec bash "$HERE/echo_instructions.sh" "$B" "$C" "$S"
