#!/usr/bin/env python3
"""Checks that libgrove_monkey exports exactly the C symbols docs/monkey.md lists.

usage: check_symbols.py NM LIBRARY DOC [sanitized]
The doc lists them between the lines `<!-- symbols -->` and `<!-- /symbols -->`, each
as `name` in backticks. With `sanitized` (an ASan or TSan build), the paragraphs
"Threads:" and "Locks:" must not be exported (monkey/src/thread_hook.hpp) and the rest
exactly.
"""
import re
import subprocess
import sys

nm, lib, doc = sys.argv[1:4]
sanitized = len(sys.argv) > 4 and sys.argv[4] == "sanitized"
out = subprocess.run([nm, "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
exported = {line.split()[-1] for line in out.splitlines()
            if line.split() and not line.split()[-1].startswith("_Z")}
text = open(doc, encoding="utf-8").read()
block = text.split("<!-- symbols -->")[1].split("<!-- /symbols -->")[0]
documented = set(re.findall(r"`([A-Za-z_0-9]+)`", block))
if sanitized:
    threads_area = set()
    for para in block.split("\n\n"):
        if para.strip().startswith(("Threads:", "Locks:")):
            threads_area |= set(re.findall(r"`([A-Za-z_0-9]+)`", para))
    if not threads_area:
        print("no Threads: / Locks: paragraphs in the symbols block")
        sys.exit(1)
    leaked = threads_area & exported
    if leaked:
        print("exported in a sanitizer build:", " ".join(sorted(leaked)))
        sys.exit(1)
    documented -= threads_area
missing = documented - exported
extra = exported - documented
if missing:
    print("documented but not exported:", " ".join(sorted(missing)))
if extra:
    print("exported but not documented:", " ".join(sorted(extra)))
sys.exit(1 if missing or extra else 0)
