#!/usr/bin/env bash
# tests/consumers/run.sh: proves that grove can be linked into an application the
# ways users link it. Configures a release build of this tree in a temporary
# directory (libraries shared and static: -Ddefault_library=both compiles each file
# once), installs it into a temporary prefix, and then, outside the source tree:
#
#   install      headers under include/grove/, grove.pc and grove-monkey.pc, sonames,
#                symbol visibility, GROVE_VERSION == the project version
#   headers      every public header (grove/detail/ aside) compiles on its own, and none
#                pulls in libev's or Boost's headers or macros
#   pkg-config   consumer.cpp with `pkg-config --cflags --libs grove`, linked and run
#   gdb-autoload gdb loads the installed gdb extension with libgrove by itself
#   static       consumer.cpp against libgrove.a with `pkg-config --static --libs grove`
#   monkey       monkey_consumer.cpp with `pkg-config --cflags --libs grove-monkey`
#   preload      LD_PRELOAD=<libdir>/libgrove_monkey.so works from this prefix (which
#                ld.so does not search) under `sh -c` and `timeout`, with no
#                LD_LIBRARY_PATH: the library's $ORIGIN run path finds libgrove.so.0
#   subproject   meson-app/: a meson project with grove in subprojects/grove (a symlink
#                to this tree) through dependency('grove', fallback : ...), forced
#   cmake        cmake-app/: a CMake project with find_package(grove 0.2) and the imported
#                targets grove::grove and grove::monkey; again with GROVE_USE_STATIC_LIBS=ON
#   cmake-pc     cmake-pkgconfig-app/: a CMake project with pkg_check_modules(IMPORTED_TARGET grove)
#   abi          scripts/abi-check.sh: the installed libraries export every symbol listed in
#                abi/*.symbols (new ones are reported, not failed on)
# (docs/install.md shows meson-app/meson.build and both CMakeLists.txt verbatim.)
# tests/consumers/deb.sh does the same for the Debian packages (scripts/test.sh runs both).
#
# Needs what scripts/setup.sh --test installs (g++, meson, ninja, pkg-config, cmake).
# Takes about a minute on two idle cores (two compiles of libgrove). Prints one line
# per step; on a failure, the step's log and the kept work directory.
#   KEEP=1 tests/consumers/run.sh     keeps the work directory
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
work=$(mktemp -d "${TMPDIR:-/tmp}/grove-consumers.XXXXXX")
prefix="$work/prefix"

tag=consumers
# shellcheck source=tests/consumers/lib.sh
source "$here/lib.sh"

CXX=${CXX:-g++}
# Consumers compile with warnings as errors: grove's headers must be clean in users' builds.
cxxflags=(-std=c++20 -O1 -Wall -Wextra -Werror)

# --- build and install -----------------------------------------------------------

begin install "meson setup + install into $prefix (shared and static)"
timeout 900 meson setup "$work/build" "$src" --prefix="$prefix" --buildtype=release \
  -Ddefault_library=both -Dtests=false -Dbenchmarks=false -Dsamples=false >>"$step_log" 2>&1
timeout 900 meson install -C "$work/build" >>"$step_log" 2>&1
version=$(meson introspect "$work/build" --projectinfo |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
pcfile=$(find "$prefix" -name grove.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pcfile" ] || fail "grove.pc was not installed"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pcfile")
libdir=$(pkg-config --variable=libdir grove)
includedir=$(pkg-config --variable=includedir grove)
for f in grove/grove.hpp grove/version.hpp grove/export.hpp grove/detail/green_thread_state.hpp \
         grove/net/net.hpp grove/monkey.hpp; do
  [ -f "$includedir/$f" ] || fail "missing header $includedir/$f"
done
for f in libgrove.a libgrove_monkey.a "libgrove.so.$version" "libgrove_monkey.so.$version"; do
  [ -f "$libdir/$f" ] || fail "missing library $libdir/$f"
done
for f in cmake/grove/groveConfig.cmake cmake/grove/groveConfigVersion.cmake; do
  [ -f "$libdir/$f" ] || fail "missing CMake package file $libdir/$f"
done
[ "$(pkg-config --modversion grove)" = "$version" ] || fail "grove.pc version is not $version"
[ "$(pkg-config --modversion grove-monkey)" = "$version" ] || fail "grove-monkey.pc version is not $version"
grep -q "define GROVE_VERSION \"$version\"" "$includedir/grove/version.hpp" ||
  fail "version.hpp does not define GROVE_VERSION \"$version\""
soname=$(readelf -d "$libdir/libgrove.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libgrove.so.${version%%.*}" ] || fail "libgrove soname is '$soname'"
soname=$(readelf -d "$libdir/libgrove_monkey.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libgrove_monkey.so.${version%%.*}" ] || fail "libgrove_monkey soname is '$soname'"
# A shared link needs only -lgrove; libev and Boost.Context are for a static link.
pkg-config --libs grove | grep -qE -- '-lev|-lboost' && fail "grove.pc Libs names libev or Boost"
pkg-config --static --libs grove | grep -q -- '-lev' || fail "grove.pc Libs.private lacks -lev"
pkg-config --static --libs grove | grep -q -- '-lboost_context' || fail "grove.pc Libs.private lacks -lboost_context"
pkg-config --print-requires grove | grep -q '^spdlog' || fail "grove.pc does not require spdlog"
# Visibility: the API is exported, internals are not.
exported=$(nm -D --defined-only "$libdir/libgrove.so" | c++filt)
grep -q 'grove::yield()' <<<"$exported" || fail "grove::yield() is not exported"
grep -q 'grove::detail::ContextEntry' <<<"$exported" &&
  fail "internal grove::detail::ContextEntry is exported (visibility)"
grep -q 'grove::detail::context::prepare' <<<"$exported" &&
  fail "internal grove::detail::context::prepare is exported (visibility)"
# The exceptions, exported only for libgrove_monkey (not public API): grove::detail::Hub
# and what its switch path reaches (core/src/hub_switch.hpp), which monkey inlines.
for sym in 'grove::detail::Hub::park_nothrow' 'grove_jump_fcontext' 'grove::detail::report_canary_overflow'; do
  grep -q "$sym" <<<"$exported" || fail "$sym is not exported (libgrove_monkey needs it)"
done
# The flags every later step uses (pkg-config's output split into words).
read -ra grove_cflags <<<"$(pkg-config --cflags grove)"
read -ra grove_libs <<<"$(pkg-config --libs grove)"
read -ra grove_static_libs <<<"$(pkg-config --static --libs grove)"
read -ra monkey_flags <<<"$(pkg-config --cflags --libs grove-monkey)"
echo "grove $version: ${grove_cflags[*]} ${grove_libs[*]}" >>"$step_log"
end

# --- headers -----------------------------------------------------------------------

begin headers "each public header compiles alone; no libev or Boost header leaks"
mkdir -p "$work/headers"
# grove/detail/ holds implementation pieces that public headers include; they are not
# meant to be included alone, and come in through the public ones.
(cd "$includedir" && find grove -name '*.hpp' -not -path 'grove/detail/*' | sort) >"$work/headers/list"
[ "$(wc -l <"$work/headers/list")" -ge 20 ] || fail "fewer than 20 public headers installed"
export CXX_CMD="$CXX ${cxxflags[*]} -fsyntax-only ${grove_cflags[*]} -x c++ -"
# shellcheck disable=SC2016
xargs -P "$jobs" -I{} sh -c 'echo "#include <{}>" | $CXX_CMD || { echo "header {} does not compile on its own"; exit 255; }' \
  <"$work/headers/list" >>"$step_log" 2>&1
sed 's/.*/#include <&>/' "$work/headers/list" >"$work/headers/all.cpp"
$CXX "${cxxflags[@]}" "${grove_cflags[@]}" -M "$work/headers/all.cpp" >"$work/headers/deps"
if grep -E '/ev\.h|/ev\+\+\.h|/boost/' "$work/headers/deps" >>"$step_log"; then
  fail "public headers include libev or Boost headers (listed above)"
fi
# No short libev macros either (ev.h defines EV_READ, ev_init, ...).
$CXX "${cxxflags[@]}" "${grove_cflags[@]}" -dM -E "$work/headers/all.cpp" >"$work/headers/macros"
if grep -E '#define (EV_[A-Z_]+|ev_[a-z_]+)[ (]' "$work/headers/macros" >>"$step_log"; then
  fail "public headers define libev macros (listed above)"
fi
end

# --- pkg-config, shared ----------------------------------------------------------

begin pkg-config "consumer.cpp with pkg-config --cflags --libs grove"
mkdir -p "$work/pc"
cp "$here/consumer.cpp" "$here/monkey_consumer.cpp" "$work/pc/"
$CXX "${cxxflags[@]}" "$work/pc/consumer.cpp" -o "$work/pc/consumer" \
  "${grove_cflags[@]}" "${grove_libs[@]}" -Wl,-rpath,"$libdir" >>"$step_log" 2>&1
readelf -d "$work/pc/consumer" | grep -q 'NEEDED.*\[libgrove\.so\.' || fail "consumer does not need libgrove.so"
run_program "grove $version consumer ok" "$work/pc/consumer"
end

# --- gdb auto-load -----------------------------------------------------------------

begin gdb-autoload "gdb loads the installed extension with libgrove (info green-threads)"
# gdb looks for <scripts-directory>/<the library's real path>-gdb.py; a distribution's
# gdb searches /usr/share/gdb/auto-load, this prefix's is $prefix/share/gdb/auto-load.
if ! command -v gdb >/dev/null; then
  echo "gdb is not installed: not checked (scripts/setup.sh --test installs it)" >>"$step_log"
elif ! gdb -nx -batch -ex run /bin/true 2>&1 | grep -q "exited normally"; then
  echo "gdb cannot run a program here (ptrace not permitted?): not checked" >>"$step_log"
else
  autoload=$(find "$prefix" -path '*/gdb/auto-load/*' -name "libgrove.so.$version-gdb.py" | head -n 1)
  [ -n "$autoload" ] || fail "the gdb extension was not installed under <datadir>/gdb/auto-load"
  gdb -nx -batch -iex "set auto-load scripts-directory ${autoload%%/gdb/auto-load/*}/gdb/auto-load" \
    -iex "set auto-load safe-path $prefix" -iex "set breakpoint pending on" -ex "break grove::detail::Hub::park" -ex run \
    -ex "info green-threads" -ex kill "$work/pc/consumer" >"$work/gdb-autoload.txt" 2>&1 || true
  cat "$work/gdb-autoload.txt" >>"$step_log"
  grep -Eq "^[0-9]+ green thread\(s\)" "$work/gdb-autoload.txt" ||
    fail "gdb did not auto-load $autoload for $libdir/libgrove.so.$version (no 'info green-threads')"
fi
end

# --- pkg-config, static ----------------------------------------------------------

begin static "consumer.cpp against libgrove.a with pkg-config --static --libs grove"
# A directory holding only the archive, searched first, so that -lgrove picks it.
mkdir -p "$work/static/lib"
cp "$libdir/libgrove.a" "$work/static/lib/"
$CXX "${cxxflags[@]}" "$work/pc/consumer.cpp" -o "$work/static/consumer" \
  "${grove_cflags[@]}" -L"$work/static/lib" "${grove_static_libs[@]}" >>"$step_log" 2>&1
readelf -d "$work/static/consumer" | grep -q 'NEEDED.*libgrove' && fail "static consumer still needs libgrove.so"
run_program "grove $version consumer ok" "$work/static/consumer"
end

# --- monkey ------------------------------------------------------------------------

begin monkey "monkey_consumer.cpp with pkg-config --cflags --libs grove-monkey"
$CXX "${cxxflags[@]}" "$work/pc/monkey_consumer.cpp" -o "$work/pc/monkey_consumer" \
  "${monkey_flags[@]}" -Wl,-rpath,"$libdir" >>"$step_log" 2>&1
run_program "grove $version monkey consumer ok" "$work/pc/monkey_consumer"
end

# --- LD_PRELOAD from a prefix ld.so does not search --------------------------------

begin preload "LD_PRELOAD=<libdir>/libgrove_monkey.so under sh -c and timeout, no LD_LIBRARY_PATH"
# libgrove_monkey needs libgrove.so.0 and finds it next to itself through its run path
# ($ORIGIN); without one, every program started under the preload (a shell, timeout)
# dies at start: "libgrove.so.0: cannot open shared object file".
monkey_so="$libdir/libgrove_monkey.so"
readelf -d "$monkey_so" >>"$step_log"
readelf -d "$monkey_so" | grep -qE 'R(UN)?PATH.*\[\$ORIGIN\]' || fail "libgrove_monkey.so has no \$ORIGIN run path"
if ldconfig -p 2>/dev/null | grep -q 'libgrove\.so\.0 '; then
  echo "note: a libgrove.so.0 is installed system-wide; the run path is checked by readelf above" >>"$step_log"
fi
# shellcheck disable=SC2016
run_program "preloaded into sh" env LD_PRELOAD="$monkey_so" \
  sh -c 'grep -q libgrove_monkey /proc/$$/maps && echo "libgrove_monkey preloaded into sh"'
run_program "preloaded under timeout" env LD_PRELOAD="$monkey_so" \
  timeout 10 sh -c 'grep -q libgrove_monkey /proc/$$/maps && echo "libgrove_monkey preloaded under timeout"'
# A grove program that does not link monkey, patched at load through the preload.
run_program "grove $version consumer ok" env LD_PRELOAD="$monkey_so" GROVE_MONKEY=1 \
  timeout 10 sh -c '"$1"' sh "$work/pc/consumer"
end

# --- meson subproject --------------------------------------------------------------

begin subproject "a meson project with grove as a subproject (fallback forced)"
proj="$work/meson-app"
mkdir -p "$proj/subprojects"
ln -s "$src" "$proj/subprojects/grove"
cp "$here/consumer.cpp" "$here/monkey_consumer.cpp" "$here/meson-app/meson.build" "$proj/"
unset PKG_CONFIG_PATH
# Unoptimized (-O0): this checks the subproject's wiring, and builds grove a second
# time in this script (96 s at -O3 in CI, 57 s at -O0).
timeout 600 meson setup "$proj/build" "$proj" --buildtype=debug --force-fallback-for=grove,grove-monkey \
  >>"$step_log" 2>&1
grep -q 'Subproject grove finished' "$work/logs/subproject.log" ||
  fail "grove was not configured as a subproject"
timeout 900 meson compile -C "$proj/build" consumer monkey_consumer >>"$step_log" 2>&1
run_program "grove $version consumer ok" "$proj/build/consumer"
run_program "grove $version monkey consumer ok" "$proj/build/monkey_consumer"
end

# --- CMake: find_package(grove) ---------------------------------------------------

begin cmake "a CMake project with find_package(grove 0.2): grove::grove, grove::monkey"
proj="$work/cmake-app"
mkdir -p "$proj"
cp "$here/consumer.cpp" "$here/monkey_consumer.cpp" "$here/cmake-app/CMakeLists.txt" "$proj/"
# The documented way: CMAKE_PREFIX_PATH names the prefix; find_package looks in its
# lib/<arch>/cmake/grove. No CMAKE_CXX_STANDARD in the project: grove::grove asks for C++20.
timeout 300 cmake -S "$proj" -B "$proj/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >>"$step_log" 2>&1
timeout 300 cmake --build "$proj/build" -v >>"$step_log" 2>&1
grep -q -- '-std=gnu++20\|-std=c++20' "$step_log" || fail "grove::grove did not ask for C++20"
readelf -d "$proj/build/consumer" | grep 'NEEDED.*\[libgrove\.so\.' >/dev/null || fail "consumer does not need libgrove.so"
run_program "grove $version consumer ok" "$proj/build/consumer"
run_program "grove $version monkey consumer ok" "$proj/build/monkey_consumer"
# Static: GROVE_USE_STATIC_LIBS=ON links libgrove.a, with libev and Boost.Context.
timeout 300 cmake -S "$proj" -B "$proj/build-static" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DGROVE_USE_STATIC_LIBS=ON >>"$step_log" 2>&1
timeout 300 cmake --build "$proj/build-static" --target consumer >>"$step_log" 2>&1
readelf -d "$proj/build-static/consumer" | grep 'NEEDED.*libgrove' >/dev/null && fail "static consumer still needs libgrove.so"
run_program "grove $version consumer ok" "$proj/build-static/consumer"
# A version this grove does not satisfy is refused (0.x: another minor is incompatible).
mkdir -p "$work/cmake-version"
printf 'cmake_minimum_required(VERSION 3.16)\nproject(v CXX)\nfind_package(grove %s REQUIRED)\n' \
  "${version%%.*}.$(( $(cut -d. -f2 <<<"$version") + 1 ))" >"$work/cmake-version/CMakeLists.txt"
if timeout 300 cmake -S "$work/cmake-version" -B "$work/cmake-version/build" \
     -DCMAKE_PREFIX_PATH="$prefix" >>"$step_log" 2>&1; then
  fail "find_package(grove <next minor>) accepted grove $version"
fi
end

# --- CMake through pkg-config --------------------------------------------------------

begin cmake-pc "a CMake project with pkg_check_modules(IMPORTED_TARGET grove)"
proj="$work/cmake-pkgconfig-app"
mkdir -p "$proj"
cp "$here/consumer.cpp" "$here/monkey_consumer.cpp" "$here/cmake-pkgconfig-app/CMakeLists.txt" "$proj/"
# CMAKE_PREFIX_PATH names the prefix; pkg_check_modules looks in its lib/<arch>/pkgconfig.
unset PKG_CONFIG_PATH
timeout 300 cmake -S "$proj" -B "$proj/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >>"$step_log" 2>&1
timeout 300 cmake --build "$proj/build" >>"$step_log" 2>&1
run_program "grove $version consumer ok" "$proj/build/consumer"
run_program "grove $version monkey consumer ok" "$proj/build/monkey_consumer"
end

# --- ABI: the exported symbols ---------------------------------------------------------

begin abi "scripts/abi-check.sh: no symbol of abi/*.symbols gone without a soname bump"
abi_status=0
"$src/scripts/abi-check.sh" "$libdir" >"$work/abi.out" 2>&1 || abi_status=$?
cat "$work/abi.out" >>"$step_log"
sed 's/^/consumers:            /' "$work/abi.out"
[ "$abi_status" = 0 ] || fail "scripts/abi-check.sh failed (exit $abi_status)"
end

echo "consumers: all steps passed ($((SECONDS - t_start)) s)"
