#!/usr/bin/env python3
"""Checks that the docs show docs/examples/*.cpp verbatim.

A snippet is a fenced code block right after a marker line
    <!-- example: docs/examples/NAME.cpp -->
in README.md or docs/*.md. Each marked block must equal the file, and every
docs/examples/*.cpp must be shown at least once. Usage: check_snippets.py SOURCE_ROOT
"""
import pathlib
import re
import sys

MARKER = re.compile(r"^<!-- example: (\S+) -->\s*$")


def snippets(md):
    """Yields (line number, path, code) for each marked block of a markdown file."""
    lines = md.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        i += 1
        if not m:
            continue
        start = i
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines) or not lines[i].startswith("```"):
            yield start, m.group(1), None
            continue
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        yield start, m.group(1), "\n".join(body) + "\n"


def main():
    root = pathlib.Path(sys.argv[1])
    docs = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
    shown = set()
    errors = []
    for md in docs:
        for line, rel, code in snippets(md):
            where = f"{md.relative_to(root)}:{line}"
            path = root / rel
            if code is None:
                errors.append(f"{where}: marker for {rel} is not followed by a code block")
            elif not path.is_file():
                errors.append(f"{where}: {rel} does not exist")
            elif path.read_text() != code:
                errors.append(f"{where}: the block differs from {rel}; copy the file verbatim")
            shown.add(path.resolve())
    for f in sorted((root / "docs" / "examples").glob("*.cpp")):
        if f.resolve() not in shown:
            errors.append(f"{f.relative_to(root)} is not shown in any doc (add a marked block)")
    for e in errors:
        print(e)
    print(f"docs_snippets: {len(shown)} example file(s) checked, {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
