"""Run one parser call in a fresh process and measure it: hostile-input tests use this to assert
bounded memory (peak RSS growth over the process's own baseline) and to survive a hang (timeout)
without taking the test process down with it.

    result = measure("feed", "quadratic", timeout=120)   # {'seconds':..., 'rss_growth_mb':..., 'result':...}

The generators live here, so the big inputs are made in the child and never pass through a pipe.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss(items: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Big</title>'
            + items + "</channel></rss>").encode()


def quadratic(size: int = 50_000, uses: int = 50_000) -> bytes:
    """One 50 KB entity used 50,000 times: 2.5 GB once expanded (the 'quadratic blow-up')."""
    return (f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "{"x" * size}">\n]>\n'
            f'<rss version="2.0"><channel><title>Q</title><item><title>q</title><link>https://e.com/q</link>'
            f'<description>{"&a;" * uses}</description></item></channel></rss>').encode()


def quadratic_utf16() -> bytes:
    return quadratic().decode().replace('version="1.0"?>', 'version="1.0" encoding="utf-16"?>', 1).encode("utf-16")


def many_entries(count: int = 100_000) -> bytes:
    return _rss("".join(f"<item><title>Entry {i}</title><link>https://example.com/a/{i}</link>"
                        f"<guid>g{i}</guid></item>"
                        for i in range(count)))


GENERATORS = {"quadratic": quadratic, "quadratic_utf16": quadratic_utf16, "many_entries": many_entries}


def _child(kind: str) -> None:
    from pipelines.core.feed_list import FeedSource
    from pipelines.core.feeds import parse_feed

    data = GENERATORS[kind]()
    baseline = _rss_mb()
    started = time.monotonic()
    result = parse_feed(FeedSource("https://example.com/feed"), data)
    seconds = time.monotonic() - started
    out = {"seconds": seconds, "rss_growth_mb": _rss_mb() - baseline, "bytes": len(data),
           "status": result.report["status"], "entries": len(result.entries),
           "reasons": [reject.reason for reject in result.rejects],
           "longest_text": max((len(e.get("body") or "") for e in result.entries), default=0)}
    print(json.dumps(out))


def measure(kind: str, timeout: float = 180) -> dict:
    """Parse the generated input ``kind`` in a child process; raises TimeoutExpired on a hang."""
    done = subprocess.run([sys.executable, __file__, kind], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _child(sys.argv[1])
