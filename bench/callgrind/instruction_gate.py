#!/usr/bin/env python3
"""The instruction-count gate: grove's hot path counted with callgrind, against the
counts kept in bench/callgrind/limits.txt.

    instruction_gate.py SOURCE_ROOT BUILD_DIR [--update]

Measures, with the scripts beside this one:
  yield_instructions, spawn_instructions, channel_instructions   (micro_instructions.sh)
  echo_instructions_per_msg_100   (echo_instructions.sh: samples/echo_server, 100
                                   connections, 64-byte messages, load runs of 2 s
                                   and 4 s, differenced)
  monkey_echo_instructions_per_msg_100   (monkey_echo_instructions.sh: the monkey-
                                   patched blocking server tvg_green, 100
                                   connections, load runs of 1 s and 2 s)
Instruction counts repeat to within a fraction of a percent on any machine, where
wall-clock time on a shared one moves by 25 %. A count more than 5 % above its recorded
figure fails the gate, which then prints the functions whose count per unit (per
iteration, per message) grew most against the per-function profile recorded with it
(bench/callgrind/baseline/NAME.txt). --update rewrites limits.txt and the profiles from
this run: raising a figure is a deliberate commit that says why.
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LIMITS = os.path.join(HERE, "limits.txt")
BASELINE_DIR = os.path.join(HERE, "baseline")
TOLERANCE = 0.05
SHOWN = 12  # functions listed for a measure that grew

LINE = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$")


def functions(profile):
    """{function: self instructions} of a callgrind profile, via callgrind_annotate."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", profile],
                         capture_output=True, text=True, check=True).stdout
    counts, started = {}, False
    for line in out.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started:
            continue
        m = LINE.match(line)
        if not m:
            continue
        name = re.sub(r" \[[^\]]*\]$", "", m.group(2)).strip()
        name = re.sub(r"'\d+$", "", name)  # callgrind's recursion marks
        counts[name] = counts.get(name, 0) + int(m.group(1).replace(",", ""))
    return counts


def plausible(prof, total):
    """Drops what cannot be one function's own count: with green threads switching stacks
    under it, callgrind charges some calls' costs to the wrong frame, and a few entries
    (the switch, the outermost frames) come out larger than the whole measure."""
    return {f: v for f, v in prof.items() if v <= 0.5 * total}


def per_unit(keep):
    """{measure: {function: instructions per unit}} from the kept profiles."""
    profiles = {}
    for w in ("yield", "spawn", "channel"):
        small, big = (os.path.join(keep, f"{w}_{s}.cg") for s in ("small", "big"))
        if os.path.exists(small) and os.path.exists(big):
            a, b = functions(small), functions(big)
            profiles[f"{w}_instructions"] = {f: (b.get(f, 0) - a.get(f, 0)) / 100000 for f in set(a) | set(b)}
    for name in ("echo", "monkey_echo"):
        small, big = (os.path.join(keep, f"{name}_100_{s}.cg") for s in ("small", "big"))
        if os.path.exists(small) and os.path.exists(big):
            m1, m2 = (int(open(os.path.join(keep, f"{name}_100_{s}.units")).read()) for s in ("small", "big"))
            a, b = functions(small), functions(big)
            profiles[f"{name}_instructions_per_msg_100"] = {f: (b.get(f, 0) - a.get(f, 0)) / (m2 - m1)
                                                            for f in set(a) | set(b)}
    return profiles


def run_script(args, env):
    r = subprocess.run(["bash", *args], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"instruction_gate: {' '.join(args)} failed (exit {r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def measure(src, build, keep):
    env = dict(os.environ, GROVE_CALLGRIND_KEEP=keep)
    out = run_script([os.path.join(HERE, "micro_instructions.sh"), src, build], env)
    out += run_script([os.path.join(HERE, "echo_instructions.sh"), build, "100", "2"], env)
    # Shorter than the echo's: the monkey server's figure repeats as closely, and the
    # gate's time stays small.
    out += run_script([os.path.join(HERE, "monkey_echo_instructions.sh"), build, "100", "1"], env)
    values = {}
    for line in out.splitlines():
        m = re.match(r"^(\w+): ([\d.]+) instructions$", line)
        if m:
            values[m.group(1)] = float(m.group(2))
    return values


def read_limits():
    limits = {}
    for line in open(LIMITS):
        line = line.strip()
        if line and not line.startswith("#"):
            name, value = line.split()[:2]
            limits[name] = float(value)
    return limits


def read_baseline(name):
    path = os.path.join(BASELINE_DIR, name + ".txt")
    base = {}
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("#") or "\t" not in line:
                continue
            value, fn = line.rstrip("\n").split("\t", 1)
            base[fn] = float(value)
    return base


def update(values, profiles):
    with open(LIMITS, "w") as f:
        f.write("# Instructions per unit recorded by bench/callgrind/instruction_gate.py --update;\n"
                "# the gate fails when a count exceeds its figure by more than 5 %.\n")
        for name in sorted(values):
            f.write(f"{name} {values[name]}\n")
    os.makedirs(BASELINE_DIR, exist_ok=True)
    for name, prof in profiles.items():
        with open(os.path.join(BASELINE_DIR, name + ".txt"), "w") as f:
            f.write(f"# {name}: instructions per unit by function (self), as recorded with limits.txt\n")
            for fn, v in sorted(prof.items(), key=lambda kv: -kv[1]):
                if v >= 0.05:
                    f.write(f"{v:.2f}\t{fn}\n")
    print(f"instruction_gate: wrote {LIMITS} and {BASELINE_DIR}/")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src, build = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as keep:
        values = measure(src, build, keep)
        profiles = {name: plausible(prof, values.get(name, 0)) for name, prof in per_unit(keep).items()}
        if "--update" in sys.argv:
            update(values, profiles)
            return 0
        limits = read_limits()
        failed = []
        for name, recorded in sorted(limits.items()):
            if name not in values:
                print(f"{name}: not measured")
                failed.append(name)
                continue
            v = values[name]
            verdict = "ok" if v <= recorded * (1 + TOLERANCE) else "GREW"
            print(f"{name}: {v} instructions (recorded {recorded}, limit {recorded * (1 + TOLERANCE):.1f}) {verdict}")
            if verdict != "ok":
                failed.append(name)
        for name in failed:
            if name not in profiles:
                continue
            base = read_baseline(name)
            now = profiles[name]
            grew = sorted(((now.get(f, 0) - base.get(f, 0), f) for f in set(now) | set(base)), reverse=True)
            print(f"\n{name}: the functions that grew most (instructions per unit, recorded -> now):")
            for delta, fn in grew[:SHOWN]:
                if delta <= 0.05:
                    break
                print(f"  +{delta:7.2f}  {base.get(fn, 0):8.2f} -> {now.get(fn, 0):8.2f}  {fn}")
        if failed:
            print("\ninstruction_gate: FAILED. If the growth is deliberate, run "
                  "bench/callgrind/instruction_gate.py SRC BUILD --update and commit why.")
            return 1
        print("instruction_gate: ok")
        return 0


if __name__ == "__main__":
    sys.exit(main())
