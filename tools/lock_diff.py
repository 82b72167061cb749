"""Print the packages whose installed version differs from requirements.lock (for make test-latest).

    python tools/lock_diff.py requirements.lock .venv-latest/versions.txt
"""

from __future__ import annotations

import re
import sys

from packaging.markers import Marker


def pins(path: str) -> dict[str, str]:
    """``name==version`` lines that apply to this interpreter (by their markers), names normalised (PEP 503)."""
    found = {}
    with open(path, encoding="utf-8") as lines:
        text = lines.read().splitlines()
    for line in text:
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;(.*))?$", line.strip())
        if match and (not match.group(3) or Marker(match.group(3)).evaluate()):
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def main(lock: str, installed: str) -> int:
    locked, newest = pins(lock), pins(installed)
    changed = sorted(name for name in newest if name in locked and locked[name] != newest[name])
    for name in changed:
        print(f"  {name}: {locked[name]} (lock) -> {newest[name]} (newest)")
    for name in sorted(set(newest) - set(locked)):
        print(f"  {name}: not in the lock -> {newest[name]}")
    if not changed:
        print("  none: the newest allowed versions are the locked ones")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
