#!/usr/bin/env bash
# Installs what grove needs on Debian 12, from Debian's packages.
#   ./scripts/setup.sh          what building libgrove, libgrove_monkey and the samples needs
#   ./scripts/setup.sh --test   that, plus what the tests, benchmarks and API docs need
#                               (what scripts/test.sh and CI run)
# Idempotent: does nothing (and needs no network) when everything is present.
set -euo pipefail

BUILD_PACKAGES=(
  g++ meson ninja-build pkg-config
  libev-dev libboost-context-dev libboost-dev libspdlog-dev
  libhttp-parser-dev  # samples/http_server
  libssl-dev  # TLS (net/src/tls_*): OpenSSL 3
  libunwind-dev libdw-dev  # call stacks in dumps (optional: without them dumps have none)
)
TEST_PACKAGES=(
  doctest-dev python3 strace binutils netcat-openbsd socat curl gnuplot-nox
  openssl  # tests/samples/drive_tls.py: s_client, s_server and a throwaway CA
  redis-server redis-tools libhiredis-dev
  libcurl4-openssl-dev  # samples/monkey_fetch and the monkey tests
  nginx-light  # the peer of samples/http_server in bench/servers
  wrk  # drives samples/http_server
  cmake  # tests/consumers
  dpkg-dev debhelper lintian help2man  # tests/consumers/deb.sh: the Debian packages
  doxygen  # the API reference (ninja -C build api-docs)
  gdb  # tests/core/gdb_test.sh: the gdb extension (core/gdb/)
  valgrind  # bench/callgrind: the instruction-count gate (suite perf) and instruction figures
  python3-gevent  # bench/process/spawn_bench: subprocess.run under gevent, the peer
  clang-14 libclang-rt-14-dev libfuzzer-14-dev  # scripts/fuzz.sh: the libFuzzer targets in tests/fuzz
)

case "${1:-}" in
  "") PACKAGES=("${BUILD_PACKAGES[@]}") ;;
  --test) PACKAGES=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# redis-server's package starts a system service on port 6379; grove's tests start
# their own servers on free loopback ports and do not use it.
echo "setup: done"
