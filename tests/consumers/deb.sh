#!/usr/bin/env bash
# tests/consumers/deb.sh: builds grove's Debian packages (debian/) from a copy of this
# tree with `dpkg-buildpackage -us -uc -b`, checks them with lintian (no errors), unpacks
# them with `dpkg -x` into an empty directory (no root, no system install), and builds
# and runs consumers against the unpacked files:
#
#   package      copy the tree to a work directory (nothing lands beside the clone),
#                dpkg-buildpackage: libgrove0, libgrove-dev, grove-samples
#   lintian      lintian on the .changes: no errors (warnings are listed in the log)
#   unpack       dpkg -x into <work>/root: sonames, headers, .pc, CMake files, archives,
#                samples and their man pages where the packages say
#   pkg-config   consumer.cpp with the unpacked grove.pc (PKG_CONFIG_SYSROOT_DIR)
#   cmake        cmake-app/ with find_package(grove 0.2), CMAKE_PREFIX_PATH=<root>/usr
#   samples      the unpacked echo_server answers --help and echoes a line
#
# Needs what scripts/setup.sh --test installs (dpkg-dev, debhelper, lintian, help2man,
# cmake, and grove's build dependencies). Takes about two minutes on two cores (one
# compile of libgrove and the samples).   KEEP=1 tests/consumers/deb.sh keeps the work directory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
work=$(mktemp -d "${TMPDIR:-/tmp}/grove-deb.XXXXXX")
tag=deb
# shellcheck source=tests/consumers/lib.sh
source "$here/lib.sh"

CXX=${CXX:-g++}
cxxflags=(-std=c++20 -O1 -Wall -Wextra -Werror)
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
root="$work/root"

# --- build the packages ----------------------------------------------------------------

begin package "dpkg-buildpackage -us -uc -b from a copy of the tree"
# The files git knows (tracked, and new ones not ignored: a local change is tested too),
# or, outside a git checkout, everything but build directories.
mkdir -p "$work/src/grove"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf -) 2>>"$step_log" | tar -xf - -C "$work/src/grove"
else
  tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$work/src/grove"
fi
# noopt (-O0): the packaging is what is checked here, and an optimized build is CI's
# release stage; it halves this step (195 s -> 94 s on CI's two cores).
(cd "$work/src/grove" && DEB_BUILD_OPTIONS="nocheck noopt parallel=$jobs" \
  timeout 1200 dpkg-buildpackage -us -uc -b) >>"$step_log" 2>&1
version=$(cd "$work/src/grove" && dpkg-parsechangelog -SVersion)
changes=$(find "$work/src" -maxdepth 1 -name "grove_${version}_*.changes" | head -n 1)
[ -n "$changes" ] || fail "no .changes file was written"
for p in libgrove0 libgrove-dev grove-samples; do
  deb=$(find "$work/src" -maxdepth 1 -name "${p}_${version}_*.deb")
  [ -n "$deb" ] || fail "package $p was not built"
  printf 'deb:            %s (%s KiB)\n' "$(basename "$deb")" "$(( $(stat -c %s "$deb") / 1024 ))"
done
end

# --- lintian ----------------------------------------------------------------------------

begin lintian "lintian on $(basename "$changes"): no errors"
lintian --fail-on error --info "$changes" >>"$step_log" 2>&1 || fail "lintian reports errors (above)"
tags=$(grep -cE '^[WE]: ' "$step_log" || true)
printf 'deb:            %s warning(s); see the log with KEEP=1\n' "$tags"
end

# --- unpack ------------------------------------------------------------------------------

begin unpack "dpkg -x into $root"
mkdir -p "$root"
for p in libgrove0 libgrove-dev grove-samples; do
  dpkg -x "$work/src/${p}_${version}_"*.deb "$root"
  dpkg -c "$work/src/${p}_${version}_"*.deb >>"$step_log"
done
upstream=${version%-*}
libdir="$root/usr/lib/$arch"
for f in "$libdir/libgrove.so.$upstream" "$libdir/libgrove.so.0" "$libdir/libgrove_monkey.so.0" \
         "$libdir/libgrove.so" "$libdir/libgrove.a" "$libdir/libgrove_monkey.a" \
         "$libdir/pkgconfig/grove.pc" "$libdir/pkgconfig/grove-monkey.pc" \
         "$libdir/cmake/grove/groveConfig.cmake" "$libdir/cmake/grove/groveConfigVersion.cmake" \
         "$root/usr/include/grove/grove.hpp" "$root/usr/include/grove/version.hpp" \
         "$root/usr/include/grove/net/net.hpp" "$root/usr/include/grove/monkey.hpp" \
         "$root/usr/bin/echo_server" "$root/usr/share/man/man1/echo_server.1.gz" \
         "$root/usr/share/doc/libgrove0/copyright"; do
  [ -e "$f" ] || fail "missing $f"
done
# Each sample has its man page. (In the pipelines below grep reads all its input, no -q:
# with pipefail, a writer cut off by grep's early exit would fail the step.)
for b in "$root"/usr/bin/*; do
  [ -s "$root/usr/share/man/man1/$(basename "$b").1.gz" ] || fail "no man page for $(basename "$b")"
done
# The shared libraries are in libgrove0, the link-time files in libgrove-dev.
dpkg -c "$work/src/libgrove0_${version}_"*.deb | awk '{ print $6 }' | grep '\.a$' >/dev/null &&
  fail "libgrove0 holds an archive"
dpkg -c "$work/src/libgrove-dev_${version}_"*.deb | awk '{ print $6 }' | grep '\.so\.' >/dev/null &&
  fail "libgrove-dev holds a shared library"
dpkg-deb -f "$work/src/libgrove-dev_${version}_"*.deb Depends | grep "libgrove0 (= $version)" >/dev/null ||
  fail "libgrove-dev does not depend on libgrove0 (= $version)"
dpkg-deb -f "$work/src/grove-samples_${version}_"*.deb Depends | grep "libgrove0 (>= $upstream)" >/dev/null ||
  fail "grove-samples does not depend on libgrove0 (>= $upstream) (shlibs)"
end

# --- consumers against the unpacked files -------------------------------------------------

begin pkg-config "consumer.cpp with the unpacked grove.pc"
mkdir -p "$work/pc"
# grove.pc says prefix=/usr: PKG_CONFIG_SYSROOT_DIR puts <root> in front of its paths
# (and /usr/include is a system directory pkg-config would otherwise leave out).
export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root"
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
read -ra flags <<<"$(pkg-config --cflags --libs grove)"
echo "${flags[*]}" >>"$step_log"
$CXX "${cxxflags[@]}" "$here/consumer.cpp" -o "$work/pc/consumer" "${flags[@]}" \
  -Wl,-rpath,"$libdir" >>"$step_log" 2>&1
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_ALLOW_SYSTEM_CFLAGS PKG_CONFIG_ALLOW_SYSTEM_LIBS
ldd "$work/pc/consumer" >>"$step_log"
ldd "$work/pc/consumer" | grep "libgrove\.so\.0 => $libdir/" >/dev/null || fail "consumer does not load the unpacked libgrove"
run_program "grove $upstream consumer ok" "$work/pc/consumer"
end

begin cmake "cmake-app/ with find_package(grove 0.2) against <root>/usr"
proj="$work/cmake-app"
mkdir -p "$proj"
cp "$here/consumer.cpp" "$here/monkey_consumer.cpp" "$here/cmake-app/CMakeLists.txt" "$proj/"
timeout 300 cmake -S "$proj" -B "$proj/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$root/usr" >>"$step_log" 2>&1
timeout 300 cmake --build "$proj/build" >>"$step_log" 2>&1
ldd "$proj/build/consumer" | grep "libgrove\.so\.0 => $libdir/" >/dev/null || fail "consumer does not load the unpacked libgrove"
run_program "grove $upstream consumer ok" "$proj/build/consumer"
run_program "grove $upstream monkey consumer ok" "$proj/build/monkey_consumer"
end

begin samples "the unpacked echo_server: --help, and an echoed line"
export LD_LIBRARY_PATH="$libdir"
run_program "usage: echo_server" "$root/usr/bin/echo_server" --help
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout 30 "$root/usr/bin/echo_server" --port "$port" --host 127.0.0.1 >>"$step_log" 2>&1 &
server=$!
run_program "hello grove" python3 - "$port" <<'PY'
import socket, sys, time
deadline = time.monotonic() + 10
while True:
    try:
        c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
c.sendall(b"hello grove\n")
print(c.recv(100).decode().strip())
PY
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
unset LD_LIBRARY_PATH
end

echo "deb: all steps passed ($((SECONDS - t_start)) s)"
