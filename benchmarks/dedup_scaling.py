"""Scaling of DeduplicateArticles (exact + near, within a run) on DirectRunner.

    .venv/bin/python benchmarks/dedup_scaling.py --sizes 10000 100000 [--repeat 1] [--json out.json]

For each size: generate the synthetic corpus (benchmarks/corpus.py) and normalise it
outside the timing into a JSON-lines file, then time a pipeline that reads the rows,
deduplicates and counts the results. Reports seconds, articles per second, and the time ratio
between consecutive sizes (near-linear growth means ratio ~ size ratio).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from benchmarks.corpus import articles
from pipelines.core.normalize import normalize_article
from pipelines.transforms import DeduplicateArticles

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc)


def _load(line: str) -> dict:
    row = json.loads(line)
    for column in ("published_at", "ingested_at"):
        if row[column]:
            row[column] = dt.datetime.fromisoformat(row[column])
    return row


def write_rows(rows: list[dict], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, default=str) + "\n")


def run_once(rows_path: Path, beam_args: list[str], counts_path: Path) -> tuple[float, dict]:
    """Time one pipeline: read the normalised rows (JSON lines), deduplicate, count."""
    started = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
        rows = p | beam.io.ReadFromText(str(rows_path)) | "Parse" >> beam.Map(_load)
        out = rows | DeduplicateArticles()
        kept = out.articles | "CountKept" >> beam.combiners.Count.Globally()
        dups = out.duplicates | "Methods" >> beam.Map(lambda d: d["method"]) | beam.combiners.Count.PerElement()
        (kept | beam.Map(lambda n: ("kept", n)), dups) | beam.Flatten() | beam.combiners.ToList() | beam.Map(
            lambda items: counts_path.write_text(json.dumps(dict(items))))
    elapsed = time.perf_counter() - started
    return elapsed, json.loads(counts_path.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--json", type=Path)
    args, beam_args = parser.parse_known_args(argv)
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            rows_path, counts_path = Path(tmp) / "rows.jsonl", Path(tmp) / "counts.json"
            rows = [normalize_article(raw, "bench", NOW) for raw in articles(size)]
            if not all(isinstance(row, dict) for row in rows):
                raise SystemExit("the corpus generator made records that Normalize rejects")
            write_rows(rows, rows_path)
            elapsed, counts = run_once(rows_path, beam_args, counts_path)
        results.append({"articles": size, "seconds": round(elapsed, 2),
                        "articles_per_second": round(size / elapsed, 1), "counts": counts})
        print(json.dumps(results[-1]), flush=True)
    for small, large in itertools.pairwise(results):
        print(f"{small['articles']} -> {large['articles']}: {large['articles'] / small['articles']:.1f}x articles, "
              f"{large['seconds'] / small['seconds']:.2f}x time")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
