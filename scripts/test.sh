#!/usr/bin/env bash
# Everything CI runs: the release build and its whole test suite (benchmark smoke runs
# included), then the same tests under AddressSanitizer + UndefinedBehaviorSanitizer,
# then the tests that use more than one OS thread under ThreadSanitizer (suite 'tsan',
# tests/tsan/meson.build), then a short run of each libFuzzer target (scripts/fuzz.sh
# smoke, build-fuzz/ with clang), then the install/consumer checks. Prints how long each stage
# took and ends with the failed tests' names and an "N passed, N failed" line. Exits
# non-zero if anything failed.
# Needs the packages of `scripts/setup.sh --test`; README.md says how long it takes and
# what it needs.
set -uo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc 2>/dev/null || echo 2)
status=0
declare -a stage_names stage_secs

stage() {  # stage NAME COMMAND...
  local name=$1; shift
  local t0=$SECONDS
  echo
  echo "=== stage: $name"
  if "$@"; then
    echo "=== stage: $name: ok ($((SECONDS - t0)) s)"
  else
    echo "=== stage: $name: FAILED ($((SECONDS - t0)) s)"
    status=1
  fi
  stage_names+=("$name")
  stage_secs+=("$((SECONDS - t0))")
}

release_build() {
  # build/ may come from scripts/build.sh (no tests, no benchmarks): turn them on.
  scripts/configure.sh build tests=true benchmarks=true samples=true || return 1
  ninja -C build
}

release_tests() {
  meson test -C build --print-errorlogs --num-processes "$jobs"
}

asan_build() {
  if [ ! -f build-asan/build.ninja ]; then
    # -O1 and line tables only (-g1): what ASan's own documentation suggests, and half
    # the compile time of -O2 -g; reports keep their file:line frames.
    meson setup build-asan --buildtype=debugoptimized -Doptimization=1 -Dcpp_args=-g1 \
      -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=false || return 1
  fi
  ninja -C build-asan
}

asan_tests() {
  # LeakSanitizer stays on; a report fails the test (halt_on_error / -fno-sanitize-recover).
  # Not the schedule-seed runs (suite stress: the same tests run here once already).
  ASAN_OPTIONS="abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    meson test -C build-asan --print-errorlogs --num-processes "$jobs" --no-suite bench-smoke --no-suite slow \
      --no-suite stress
}

tsan_build() {
  # Only what suite 'tsan' runs (the tsan-tests alias): no samples, benchmarks or monkey.
  if [ ! -f build-tsan/build.ninja ]; then
    meson setup build-tsan --buildtype=debugoptimized -Db_sanitize=thread \
      -Db_lundef=false -Dbenchmarks=false -Dsamples=false || return 1
  fi
  ninja -C build-tsan tsan-tests
}

tsan_tests() {
  # Any report fails the test (halt_on_error: the process exits 66 at the first).
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}" \
    meson test -C build-tsan --no-rebuild --print-errorlogs --num-processes "$jobs" --suite tsan
}

consumers() {
  # run.sh: meson install, pkg-config, CMake, subproject, ABI; deb.sh: the Debian packages.
  local rc=0
  tests/consumers/run.sh || rc=1
  tests/consumers/deb.sh || rc=1
  return $rc
}

stage "release build" release_build
stage "release tests" release_tests
stage "sanitizer build (asan+ubsan)" asan_build
stage "sanitizer tests (asan+ubsan)" asan_tests
stage "tsan build" tsan_build
stage "tsan tests" tsan_tests
stage "fuzz smoke (libFuzzer, asan+ubsan)" scripts/fuzz.sh smoke
stage "install and consumers" consumers

echo
echo "=== stage times"
for i in "${!stage_names[@]}"; do
  printf '  %-32s %5d s\n' "${stage_names[$i]}" "${stage_secs[$i]}"
done
printf '  %-32s %5d s\n' "total" "$SECONDS"

# One closing line over the three test runs, from meson's machine-readable logs.
python3 - <<'PY'
import json, os
passed = failed = skipped = 0
failures = []
for d in ("build", "build-asan", "build-tsan"):
    p = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(p):
        continue
    for line in open(p):
        try:
            t = json.loads(line)
            r = t["result"]
        except Exception:
            continue
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
            failures.append(f"  {d}: {t.get('name', '?')}: {r} after {t.get('duration', 0):.1f} s")
# Named again here, at the end, where a log cut to its last lines still shows them.
if failures:
    print("failed:")
    print("\n".join(failures))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
