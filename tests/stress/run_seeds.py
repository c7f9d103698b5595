#!/usr/bin/env python3
"""run_seeds.py: runs a doctest executable under many schedule seeds.

    run_seeds.py [--seeds N] [--first S] [--timeout SEC] [--name NAME] EXE [DOCTEST ARGS...]
    run_seeds.py [--seeds N] [--first S] [--timeout SEC] --build DIR --area AREA|all

Runs EXE with GROVE_SCHEDULE_SEED=S, S+1, ..., S+N-1 (grove's hubs then pick among
ready green threads, and among timers and fds ready together, in an order drawn from
the seed: docs/reliability.md, "Schedule exploration"). Stops at the first seed that
fails and prints the seed, the failing test cases and, for each, the command that
replays it alone (the test main restarts a hub's schedule from the seed at every test
case, so a case run alone with -tc gets the schedule it had in the whole run). Exits 0
if every seed passed, 1 at the first failure, 2 on a usage error.

DOCTEST ARGS select cases as usual (-tc=, -sf=, -tce=...). --area runs one of grove's
areas from AREAS below (or all of them, one after the other) out of the build dir DIR. The cases in EXCLUDE below
are never run under a seed: each checks an order grove promises only without one.
Any grove test executable works, and so does a user's own doctest executable; for
other frameworks, loop over GROVE_SCHEDULE_SEED in a shell (docs/reliability.md).
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import time

# Test cases that check FIFO scheduling itself, which grove promises only without a
# seed (grove/schedule_seed.hpp): under a seed they fail by design, not by a bug.
EXCLUDE = [
    # tests/core/schedule_seed_test.cpp: checks that no seed means oldest first; under
    # GROVE_SCHEDULE_SEED there is a seed.
    "without a seed, ready green threads run oldest first",
    # tests/core/schedule_seed_test.cpp: compares seeded orders with the FIFO one (no
    # seed), which a run under GROVE_SCHEDULE_SEED does not have.
    "under a seed two timers that expire before one poll come in either order",
    # tests/core/yield_test.cpp: FIFO's promise that yield runs every other ready green
    # thread first; under a seed yield promises only that at least one other runs.
    "yield lets every other ready green thread run before the caller",
    # tests/net/server_test.cpp: kills handlers before they first run, a state it reaches
    # through FIFO order (the test's green thread runs right after the acceptor, before
    # the handlers the acceptor spawned); under a seed the handlers may run first.
    "handlers killed before they first run give their connection slots back",
]


# grove's areas under schedule exploration: (executable in the build dir, doctest args).
AREAS = {
    # Events, locks, semaphores, queues, channels, the thread pool, locals.
    "sync": ("tests/sync/sync_tests", ["-sfe=*/group_test.cpp,*/pool_test.cpp"]),
    # kill, Timeout, wait/joinall, links, deadlock detection.
    "kill-timeout": ("tests/core/core_tests",
                     ["-sf=*/kill_test.cpp,*/timeout_test.cpp,*/wait_test.cpp,*/link_test.cpp,*/deadlock_test.cpp"]),
    "group-pool": ("tests/sync/sync_tests", ["-sf=*/group_test.cpp,*/pool_test.cpp"]),
    # Sockets, servers, streams, faults and edge cases (one process, one hub but where
    # a case starts more).
    "net": ("tests/net/net_tests", []),
}


def escape_filter(name):
    """A test case name as one doctest filter (commas separate filters)."""
    return name.replace("\\", "\\\\").replace(",", "\\,")


def failing_cases(output):
    """Names of the test cases with an ERROR or a crash in doctest's console output."""
    names = []
    for block in re.split(r"^={20,}$", output, flags=re.M):
        m = re.search(r"^TEST CASE:\s+(.*?)\s*$", block, flags=re.M)
        if m and re.search(r"\bERROR\b|CRASHED|TEST CASE FAILED|THREW exception", block):
            if m.group(1) not in names:
                names.append(m.group(1))
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=int(os.environ.get("GROVE_STRESS_SEEDS", "200")),
                    help="how many seeds (default: $GROVE_STRESS_SEEDS or 200)")
    ap.add_argument("--first", type=int, default=int(os.environ.get("GROVE_STRESS_FIRST_SEED", "1")),
                    help="the first seed (default: $GROVE_STRESS_FIRST_SEED or 1)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per run before it counts as hung")
    ap.add_argument("--name", default=None, help="a name for the summary line")
    ap.add_argument("--build", default=None, help="the build dir, with --area")
    ap.add_argument("--area", default=None, help="one of " + ", ".join(AREAS) + ", or all")
    ap.add_argument("exe", nargs="?")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.seeds < 1 or a.first < 0:
        print("run_seeds.py: --seeds must be at least 1 and --first at least 0", file=sys.stderr)
        return 2
    if a.area:
        if not a.build or a.exe:
            print("run_seeds.py: --area needs --build DIR and no EXE", file=sys.stderr)
            return 2
        names = list(AREAS) if a.area == "all" else [a.area]
        for n in names:
            if n not in AREAS:
                print(f"run_seeds.py: no area {n!r} (areas: {', '.join(AREAS)}, all)", file=sys.stderr)
                return 2
        for n in names:
            exe, args = AREAS[n]
            rc = run(a, os.path.join(a.build, exe), list(args), n)
            if rc:
                return rc
        return 0
    if not a.exe:
        print("run_seeds.py: give EXE or --build DIR --area AREA", file=sys.stderr)
        return 2
    return run(a, a.exe, list(a.args), a.name or os.path.basename(a.exe))


def run(a, exe, args, name):
    """Runs exe under a.seeds seeds; 0 if all passed, 1 at the first failure."""
    if not os.access(exe, os.X_OK):
        print(f"run_seeds.py: {exe} is not an executable", file=sys.stderr)
        return 2
    excluded = ",".join(escape_filter(n) for n in EXCLUDE)
    args.append("-tce=" + excluded)
    t0 = time.monotonic()
    for seed in range(a.first, a.first + a.seeds):
        env = dict(os.environ, GROVE_SCHEDULE_SEED=str(seed))
        cmd = [exe] + args
        try:
            p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=a.timeout, text=True, errors="replace")
            out, rc, hung = p.stdout, p.returncode, False
        except subprocess.TimeoutExpired as e:
            out = e.stdout if isinstance(e.stdout, str) else (e.stdout or b"").decode(errors="replace")
            rc, hung = None, True
        if rc == 0:
            continue
        sys.stdout.write(out)
        done = seed - a.first
        print(f"\n{name}: FAILED at seed {seed} ({done} seed(s) passed before it, "
              f"{time.monotonic() - t0:.1f} s)")
        if hung:
            print(f"  the run did not end within {a.timeout:.0f} s (a hang); the last case started "
                  "is the one doctest -s prints last")
        else:
            print(f"  exit status {rc}")
        base = " ".join(shlex.quote(x) for x in [exe] + [x for x in args if not x.startswith("-tce=")])
        cases = failing_cases(out)
        for c in cases:
            print(f"  test case: {c}")
            print(f"    replay: GROVE_SCHEDULE_SEED={seed} {shlex.quote(exe)} "
                  f"{shlex.quote('-tc=' + escape_filter(c))}")
        if not cases:
            print(f"  replay: GROVE_SCHEDULE_SEED={seed} {base} -s")
        return 1
    print(f"{name}: {a.seeds} seed(s) from {a.first} passed "
          f"({a.first}..{a.first + a.seeds - 1}, {time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
