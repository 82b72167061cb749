"""The two baselines the pipeline is measured against; ``bench.py`` runs each as its own process.

``floor``: feedparser parses every feed of the feed list and each document is read from disk;
nothing else. No tool that reads these feeds can be faster than this (short of a faster parser).

``naive``: the script a user would write instead of the pipeline: feedparser, one pandas row
per entry (documents split at their front matter with PyYAML), ``drop_duplicates`` on the link,
``to_parquet``. It catches only the duplicates that repeat the link verbatim; tracking
parameters, near copies and documents without a link (pandas treats their missing links as
equal, so it keeps one of them) are its blind spots, which is why the pipeline exists.

    .venv/bin/python -m benchmarks.baselines floor --seeds DIR [--feed-list FILE]
    .venv/bin/python -m benchmarks.baselines naive --seeds DIR [--feed-list FILE] --output DIR

Both print one JSON line of counts. Deliberately independent of the ``pipelines`` package:
this is the code a user would have instead of it.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import urllib.request
from pathlib import Path

import feedparser
import yaml


def feed_locations(feed_list: Path) -> list[str]:
    """Feed paths (absolute) and http(s) URLs from a ``feeds.yaml`` of plain entries."""
    entries = yaml.safe_load(feed_list.read_text(encoding="utf-8"))["feeds"]
    locations = []
    for entry in entries:
        location = entry["url"] if isinstance(entry, dict) else entry
        if not location.startswith(("http://", "https://")):
            location = str((feed_list.parent / location).resolve())
        locations.append(location)
    return locations


def read_bytes(location: str) -> bytes:
    if location.startswith(("http://", "https://")):
        with urllib.request.urlopen(location, timeout=60) as response:
            return response.read()
    return Path(location).read_bytes()


def documents(seeds: Path) -> list[Path]:
    folder = seeds / "documents"
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []


def floor(seeds: Path, feed_list: Path) -> dict:
    entries = feeds = 0
    for location in feed_locations(feed_list):
        entries += len(feedparser.parse(io.BytesIO(read_bytes(location))).entries)
        feeds += 1
    docs = documents(seeds)
    for path in docs:
        path.read_text(encoding="utf-8")
    return {"feeds": feeds, "entries": entries, "documents": len(docs), "read": entries + len(docs)}


def _entry_row(entry, feed: str) -> dict:
    content = entry.get("content")
    return {"id": entry.get("id"), "link": entry.get("link"), "title": entry.get("title"),
            "published": entry.get("published"), "author": entry.get("author"), "feed": feed,
            "summary": entry.get("summary"), "text": content[0].value if content else entry.get("summary")}


def _document_row(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    meta = {}
    if text.startswith("---\n"):
        _, front, text = text.split("---\n", 2)
        meta = yaml.safe_load(front) or {}
    title, _, body = text.strip().partition("\n")
    return {"id": None, "link": meta.get("url"), "title": title.strip(),
            "published": str(meta["published"]) if meta.get("published") else None, "author": None,
            "feed": None, "summary": None, "text": body.strip()}


def naive(seeds: Path, feed_list: Path, output: Path) -> dict:
    import pandas as pd

    rows = []
    for location in feed_locations(feed_list):
        parsed = feedparser.parse(io.BytesIO(read_bytes(location)))
        rows.extend(_entry_row(entry, location) for entry in parsed.entries)
    rows.extend(_document_row(path) for path in documents(seeds))
    frame = pd.DataFrame(rows)
    kept = frame.drop_duplicates(subset="link")
    output.mkdir(parents=True, exist_ok=True)
    kept.to_parquet(output / "articles.parquet", index=False)
    return {"read": len(frame), "written": len(kept), "duplicates": len(frame) - len(kept)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", choices=("floor", "naive"))
    parser.add_argument("--seeds", type=Path, required=True)
    parser.add_argument("--feed-list", type=Path, help="default: SEEDS/feeds.yaml")
    parser.add_argument("--output", type=Path, help="naive: where articles.parquet goes")
    args = parser.parse_args(argv)
    feed_list = args.feed_list or args.seeds / "feeds.yaml"
    if args.baseline == "floor":
        counts = floor(args.seeds, feed_list)
    else:
        if args.output is None:
            parser.error("naive needs --output")
        counts = naive(args.seeds, feed_list, args.output)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
