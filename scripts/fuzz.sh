#!/usr/bin/env bash
# libFuzzer targets (tests/fuzz): build and run them.
#   scripts/fuzz.sh smoke              CI: set up build-fuzz if missing (clang-14, ASan +
#                                      UBSan, -Dfuzz=true, nothing else), build the
#                                      fuzz-targets alias, replay each target's seed corpus
#                                      (tests/fuzz/corpus/<target>: the regression inputs
#                                      too), then fuzz each for FUZZ_SMOKE_SECONDS (8).
#   scripts/fuzz.sh long [SECONDS] [TARGET...]
#                                      the long runs (bench/README.md, "Fuzzing"): each
#                                      target in turn for SECONDS (default 3600), or until
#                                      FUZZ_RUNS executions if that is set; the corpus
#                                      grows in build-fuzz/corpus/<target>.
# A finding (a crash, a sanitizer report, a property violated, a hang past 10 s)
# fails the run and leaves its input in build-fuzz/findings/<target>/; replay it with
# build-fuzz/tests/fuzz/<target>_fuzz <file>, then add it to tests/fuzz/corpus/<target>/
# once fixed. Needs clang-14 and libclang-rt-14-dev (scripts/setup.sh --test).
set -uo pipefail
cd "$(dirname "$0")/.."

targets_all=(address buffered_stream http_server kv_server tls_stream)
build=build-fuzz

configure() {
  if [ ! -f "$build/build.ninja" ]; then
    CC=clang-14 CXX=clang++-14 meson setup "$build" --buildtype=plain -Dcpp_args=-O1 \
      -Db_sanitize=address,undefined -Db_lundef=false -Ddefault_library=static \
      -Dtests=false -Dsamples=false -Dbenchmarks=false -Dfuzz=true >/dev/null || return 1
  fi
  ninja -C "$build" fuzz-targets
}

export ASAN_OPTIONS="abort_on_error=1:detect_stack_use_after_return=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# run TARGET LOG LIBFUZZER-ARGS...: fuzz TARGET over its working corpus (seeded from
# the repository's) and print its last status line.
run() {
  local t=$1 log=$2; shift 2
  local work="$build/corpus/$t" findings="$build/findings/$t"
  mkdir -p "$work" "$findings"
  local rc=0
  "$build/tests/fuzz/${t}_fuzz" -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$@" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  local execs cov
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED).*cov:' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')
  if [ $rc -eq 0 ]; then
    printf '  %-16s ok      %12s execs  %s\n' "$t" "${execs:-?}" "$cov"
  else
    printf '  %-16s FAILED  (exit %d; %s)\n' "$t" "$rc" "$log"
    grep -E 'property violated|ERROR:|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/    /'
  fi
  return $rc
}

case "${1:-}" in
  smoke)
    configure || exit 1
    secs=${FUZZ_SMOKE_SECONDS:-8}
    mkdir -p "$build/logs"
    status=0
    for t in "${targets_all[@]}"; do
      run "$t" "$build/logs/$t-smoke.log" -max_total_time="$secs" || status=1
    done
    exit $status
    ;;
  long)
    secs=${2:-3600}
    shift $(($# >= 2 ? 2 : 1))
    targets=("$@")
    [ ${#targets[@]} -eq 0 ] && targets=("${targets_all[@]}")
    configure || exit 1
    mkdir -p "$build/logs"
    status=0
    for t in "${targets[@]}"; do
      extra=(-max_total_time="$secs")
      [ -n "${FUZZ_RUNS:-}" ] && extra+=(-runs="$FUZZ_RUNS")
      run "$t" "$build/logs/$t-long.log" "${extra[@]}" || status=1
    done
    exit $status
    ;;
  *)
    echo "usage: $0 smoke | long [SECONDS] [TARGET...]" >&2
    exit 2
    ;;
esac
