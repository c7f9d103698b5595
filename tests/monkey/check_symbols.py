#!/usr/bin/env python3
"""Checks that libgrove_monkey exports exactly the C symbols docs/monkey.md lists.

usage: check_symbols.py NM LIBRARY DOC
The doc lists them between the lines `<!-- symbols -->` and `<!-- /symbols -->`, each
as `name` in backticks.
"""
import re
import subprocess
import sys

nm, lib, doc = sys.argv[1:4]
out = subprocess.run([nm, "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
exported = {line.split()[-1] for line in out.splitlines()
            if line.split() and not line.split()[-1].startswith("_Z")}
text = open(doc, encoding="utf-8").read()
block = text.split("<!-- symbols -->")[1].split("<!-- /symbols -->")[0]
documented = set(re.findall(r"`([A-Za-z_0-9]+)`", block))
missing = documented - exported
extra = exported - documented
if missing:
    print("documented but not exported:", " ".join(sorted(missing)))
if extra:
    print("exported but not documented:", " ".join(sorted(extra)))
sys.exit(1 if missing or extra else 0)
