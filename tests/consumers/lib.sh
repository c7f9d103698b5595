# tests/consumers/lib.sh: what run.sh and deb.sh share: one line per step, the step's
# log on a failure, the work directory removed on success (kept with KEEP=1).
# The sourcing script sets `work` (its work directory) and `tag` (its name in the output).
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
  printf '%s: %-10s %s\n' "$tag" "$1" "$2"
}
end() {
  printf '%s: %-10s ok (%d s)\n' "$tag" "$step_name" "$((SECONDS - step_t0))"
  step_name=""
}
fail() {  # fail MESSAGE: explain, then exit (the EXIT trap prints the log)
  echo "$*" >>"$step_log"
  exit 1
}
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "$tag: ${step_name:-?} FAILED (exit $rc); last lines of $step_log:"
    tail -n 60 "$step_log" 2>/dev/null | sed 's/^/    /'
    echo "$tag: work directory kept: $work"
  elif [ "${KEEP:-0}" = 1 ]; then
    echo "$tag: work directory kept: $work"
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
  printf '%s:            %s\n' "$tag" "$out"
  case "$out" in *"$expect"*) ;; *) fail "$*: expected output containing '$expect'" ;; esac
}
