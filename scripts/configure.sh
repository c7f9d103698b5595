#!/usr/bin/env bash
# scripts/configure.sh DIR NAME=VALUE...: makes DIR a meson build of this tree with
# these options (-DNAME=VALUE): `meson setup --buildtype=release` when DIR is not a
# build yet, else `meson configure` of only the options whose values differ (nothing
# when none does, so nothing is rebuilt). scripts/build.sh and scripts/test.sh share
# build/ this way: build.sh sets it up without tests and benchmarks, test.sh turns
# them on.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
shift
if [ ! -f "$dir/build.ninja" ]; then
  args=()
  for o in "$@"; do args+=("-D$o"); done
  if [ -f "$dir/meson-private/coredata.dat" ]; then args+=(--reconfigure); fi  # an interrupted setup
  exec meson setup "$dir" --buildtype=release "${args[@]}"
fi
# The options as DIR has them now; one it does not know yet (DIR was configured before
# the option existed) has its default, true for tests, benchmarks and samples.
changed=$(python3 - "$dir/meson-info/intro-buildoptions.json" "$@" <<'PY'
import json, sys
have = {o["name"]: o["value"] for o in json.load(open(sys.argv[1]))}
for arg in sys.argv[2:]:
    name, want = arg.split("=", 1)
    now = have.get(name, True)
    now = str(now).lower() if isinstance(now, bool) else str(now)
    if now != want:
        print("-D" + arg)
PY
)
if [ -n "$changed" ]; then
  echo "configure: $dir: $(echo $changed)"
  # shellcheck disable=SC2086
  meson configure "$dir" $changed
fi
