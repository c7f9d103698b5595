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
#   static       consumer.cpp against libgrove.a with `pkg-config --static --libs grove`
#   monkey       monkey_consumer.cpp with `pkg-config --cflags --libs grove-monkey`
#   preload      LD_PRELOAD=<libdir>/libgrove_monkey.so works from this prefix (which
#                ld.so does not search) under `sh -c` and `timeout`, with no
#                LD_LIBRARY_PATH: the library's $ORIGIN run path finds libgrove.so.0
#   subproject   meson-app/: a meson project with grove in subprojects/grove (a symlink
#                to this tree) through dependency('grove', fallback : ...), forced
#   cmake        cmake-app/: a CMake project with pkg_check_modules(IMPORTED_TARGET grove)
# (docs/install.md shows meson-app/meson.build and cmake-app/CMakeLists.txt verbatim.)
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
mkdir -p "$work/logs"

# An installed grove elsewhere on the machine must not stand in for this one.
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR CMAKE_PREFIX_PATH LD_LIBRARY_PATH

step_name=""
step_log=""
step_t0=0
t_start=$SECONDS

begin() {  # begin NAME DESCRIPTION
  step_name=$1
  step_log="$work/logs/$1.log"
  step_t0=$SECONDS
  : >"$step_log"
  printf 'consumers: %-10s %s\n' "$1" "$2"
}
end() {
  printf 'consumers: %-10s ok (%d s)\n' "$step_name" "$((SECONDS - step_t0))"
  step_name=""
}
fail() {  # fail MESSAGE: explain, then exit (the EXIT trap prints the log)
  echo "$*" >>"$step_log"
  exit 1
}
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "consumers: ${step_name:-?} FAILED (exit $rc); last lines of $step_log:"
    tail -n 60 "$step_log" 2>/dev/null | sed 's/^/    /'
    echo "consumers: work directory kept: $work"
  elif [ "${KEEP:-0}" = 1 ]; then
    echo "consumers: work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap on_exit EXIT

# Runs a built program from the work directory (outside the source tree), bounded,
# showing its output; fails unless it exits 0 and prints `expect`.
run_program() {  # run_program EXPECT PROGRAM [ARGS...]
  local expect=$1; shift
  local out
  out=$(cd "$work" && timeout 30 "$@" 2>>"$step_log") || fail "$* exited with $?: $out"
  echo "$out" >>"$step_log"
  printf 'consumers:            %s\n' "$out"
  case "$out" in *"$expect"*) ;; *) fail "$*: expected output containing '$expect'" ;; esac
}

CXX=${CXX:-g++}
# Consumers compile with warnings as errors: grove's headers must be clean in users' builds.
cxxflags=(-std=c++20 -O1 -Wall -Wextra -Werror)

# --- build and install -----------------------------------------------------------

begin install "meson setup + install into $prefix (shared and static)"
timeout 900 meson setup "$work/build" "$src" --prefix="$prefix" --buildtype=release \
  -Ddefault_library=both -Dtests=false -Dbenchmarks=false >>"$step_log" 2>&1
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
grep -q 'grove_jump_fcontext' <<<"$exported" &&
  fail "internal grove_jump_fcontext is exported (visibility)"
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
timeout 600 meson setup "$proj/build" "$proj" --buildtype=release --force-fallback-for=grove,grove-monkey \
  >>"$step_log" 2>&1
grep -q 'Subproject grove finished' "$work/logs/subproject.log" ||
  fail "grove was not configured as a subproject"
timeout 900 meson compile -C "$proj/build" consumer monkey_consumer >>"$step_log" 2>&1
run_program "grove $version consumer ok" "$proj/build/consumer"
run_program "grove $version monkey consumer ok" "$proj/build/monkey_consumer"
end

# --- CMake through pkg-config --------------------------------------------------------

begin cmake "a CMake project with pkg_check_modules(IMPORTED_TARGET grove)"
proj="$work/cmake-app"
mkdir -p "$proj"
cp "$here/consumer.cpp" "$here/monkey_consumer.cpp" "$here/cmake-app/CMakeLists.txt" "$proj/"
# The documented way: CMAKE_PREFIX_PATH names the prefix; pkg_check_modules looks in
# its lib/<arch>/pkgconfig.
unset PKG_CONFIG_PATH
timeout 300 cmake -S "$proj" -B "$proj/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >>"$step_log" 2>&1
timeout 300 cmake --build "$proj/build" >>"$step_log" 2>&1
run_program "grove $version consumer ok" "$proj/build/consumer"
run_program "grove $version monkey consumer ok" "$proj/build/monkey_consumer"
end

echo "consumers: all steps passed ($((SECONDS - t_start)) s)"
