#!/usr/bin/env python3
"""Make tensorrt-stubs 10.13 parse: some generated signatures are not valid Python.

- plugin methods name a parameter `in` (a keyword): renamed `in_`;
- some methods put a parameter without a default after ones with defaults: given `= ...`.
Usage: fix_tensorrt_stubs.py STUBS_DIR
"""
import re
import sys
from pathlib import Path

DEF = re.compile(r"^(\s*def \w+\()(.*)(\)\s*->.*:\s*)$")


def fix_params(params: str) -> str:
    out, seen_default, depth, current = [], False, 0, ""
    parts = []
    for ch in params:  # split on top-level commas
        depth += ch in "[(" and 1 or 0
        depth -= ch in "])" and 1 or 0
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    for p in parts:
        stripped = p.strip()
        if "=" in stripped:
            seen_default = True
        elif seen_default and stripped and not stripped.startswith("*"):
            p = p + " = ..."
        out.append(p)
    return ",".join(out)


def main() -> None:
    for path in Path(sys.argv[1]).rglob("*.pyi"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            line = re.sub(r"([(,]\s*)in:", r"\1in_:", line)
            m = DEF.match(line)
            if m:
                line = m.group(1) + fix_params(m.group(2)) + m.group(3)
            lines[i] = line
        path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
