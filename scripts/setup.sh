#!/usr/bin/env bash
# Installs what grove needs to build and test on Debian 12, from Debian's packages.
# Idempotent: does nothing (and needs no network) when everything is present.
set -euo pipefail

PACKAGES=(
  # build
  g++ meson ninja-build pkg-config
  libev-dev libboost-context-dev libboost-dev libspdlog-dev doctest-dev
  libhttp-parser-dev  # samples/http_server
  # tests and benchmarks
  python3 strace binutils netcat-openbsd socat curl gnuplot-nox
  redis-server redis-tools libhiredis-dev libcurl4-openssl-dev
  nginx-light  # the peer of samples/http_server in bench/servers
  wrk  # drives samples/http_server
  cmake
  # docs: the API reference (ninja -C build api-docs)
  doxygen
)

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
