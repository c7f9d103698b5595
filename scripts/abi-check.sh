#!/usr/bin/env bash
# scripts/abi-check.sh: compares the dynamic symbols that libgrove.so and libgrove_monkey.so
# export with the lists kept under version control (abi/libgrove.symbols,
# abi/libgrove_monkey.symbols), so that a release cannot drop a symbol silently.
#
#   scripts/abi-check.sh [--update] [DIR]
#
# DIR holds the built libraries (a build directory such as build/, or an installed
# <libdir>); default build/ (the release build of scripts/build.sh). Each list holds the library's soname and its exported
# symbols, mangled (exact), one a line: the strong definitions of `nm -D --defined-only`
# (T, D, B, R). Weak ones are left out: inline functions and template instantiations,
# which a program compiles itself, and which come and go with the optimizer's choices;
# so are the members of private `Impl` structs (public_only below).
#
# Fails (exit 1) when a listed symbol is gone and the soname is unchanged: a program
# linked against the old library would no longer load. Then either bring the symbol
# back, or bump the soname (grove_soversion in meson.build) and run --update.
# New symbols are reported, not failed on (adding to the ABI is compatible); --update
# rewrites the lists from DIR's libraries (commit them with the change that made them).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
update=0
if [ "${1:-}" = "--update" ]; then update=1; shift; fi
dir=${1:-$root/build}
[ $# -le 1 ] || { echo "usage: $0 [--update] [DIR]" >&2; exit 2; }

# Drops the members of a class's private implementation struct (`X::Impl::`, the pimpl
# of StreamServer, PreforkSupervisor, ...): they are exported only because the enclosing
# class is, and no program can name them (the headers only declare `struct Impl;`), so
# they come and go with the implementation without touching the ABI.
public_only() {
  local syms
  syms=$(cat)
  [ -n "$syms" ] || return 0
  paste -d' ' <(echo "$syms") <(c++filt <<<"$syms") | awk '$0 !~ /::Impl::/ { print $1 }'
}

status=0
for lib in libgrove libgrove_monkey; do
  list="$root/abi/$lib.symbols"
  so=$(find "$dir" -maxdepth 2 -name "$lib.so.*" -type f | sort | head -n 1)
  [ -n "$so" ] || { echo "abi-check: no $lib.so.* in $dir (build it first)" >&2; exit 2; }
  soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
  current=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ { print $3 }' | public_only | LC_ALL=C sort -u)
  if [ "$update" = 1 ]; then
    mkdir -p "$root/abi"
    {
      echo "# The dynamic symbols $soname exports (mangled; c++filt demangles them)."
      echo "# Written by scripts/abi-check.sh --update; checked by scripts/abi-check.sh."
      echo "soname $soname"
      echo "$current"
    } >"$list"
    echo "abi-check: $lib: wrote $(wc -l <<<"$current") symbols of $soname to abi/$lib.symbols"
    continue
  fi
  [ -f "$list" ] || { echo "abi-check: $list is missing: run $0 --update" >&2; exit 2; }
  old_soname=$(sed -n 's/^soname //p' "$list")
  recorded=$(grep -v -e '^#' -e '^soname ' "$list" | public_only | LC_ALL=C sort -u)
  removed=$(LC_ALL=C comm -23 <(echo "$recorded") <(echo "$current"))
  added=$(LC_ALL=C comm -13 <(echo "$recorded") <(echo "$current"))
  if [ -n "$removed" ]; then
    if [ "$soname" = "$old_soname" ]; then
      echo "abi-check: $lib: FAIL: $(wc -l <<<"$removed") exported symbol(s) removed with the soname still $soname:"
      c++filt <<<"$removed" | paste -d' ' - <(echo "$removed") | sed 's/^/    /; s/ \([^ ]*\)$/   [\1]/'
      echo "    Bring them back, or bump grove_soversion in meson.build and run scripts/abi-check.sh --update."
      status=1
    else
      echo "abi-check: $lib: soname changed from $old_soname to $soname; $(wc -l <<<"$removed") symbol(s) removed (allowed). Run scripts/abi-check.sh --update and commit abi/."
    fi
  fi
  if [ -n "$added" ]; then
    echo "abi-check: $lib: note: $(wc -l <<<"$added") new exported symbol(s), not in abi/$lib.symbols:"
    c++filt <<<"$added" | sed 's/^/    /'
    echo "    Adding symbols is compatible. Record them: ninja -C build, scripts/abi-check.sh --update, commit abi/."
  fi
  if [ -z "$removed" ] && [ -z "$added" ]; then
    echo "abi-check: $lib: $soname exports the $(wc -l <<<"$current") recorded symbols"
  fi
done
exit $status
