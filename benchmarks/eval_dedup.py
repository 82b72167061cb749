"""Precision, recall and F1 of deduplication on the hand-made evaluation set.

    .venv/bin/python benchmarks/eval_dedup.py [--corpus tests/fixtures/dedup_eval/corpus.jsonl] [--show-errors]

Runs the real DeduplicateArticles transform on DirectRunner over the corpus (each item a
document with its own URL, so only content decides) and scores it over pairs: two items the
pipeline put in one cluster are a predicted positive; two items of one labelled cluster
are a true positive.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import sys
from pathlib import Path

import apache_beam as beam

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.core.near_dedupe import NearConfig  # noqa: E402
from pipelines.core.normalize import normalize_article  # noqa: E402
from pipelines.transforms import DeduplicateArticles  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "dedup_eval" / "corpus.jsonl"
INGESTED_AT = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def to_row(item: dict) -> dict:
    raw = {"source_type": "document", "source": item["id"], "source_name": None, "feed_url": None,
           "guid": None, "url": f"https://eval.example/{item['id']}", "title": item["title"], "summary": None,
           "body": item["body"],
           "text_is_html": False, "authors": [], "categories": [], "published_at": None}
    row = normalize_article(raw, "eval", INGESTED_AT)
    if not isinstance(row, dict):
        raise ValueError(f"{item['id']} was rejected: {row.reason}")
    return row


def predicted_clusters(items: list[dict], near: NearConfig | None, out_dir: Path) -> dict[str, str]:
    """item id -> id of the item it was kept under (itself when kept)."""
    rows = [to_row(item) for item in items]
    id_of = {row["article_id"]: row["url"].rsplit("/", 1)[1] for row in rows}
    out = out_dir / "pairs.jsonl"
    with beam.Pipeline() as p:
        result = p | beam.Create(rows) | DeduplicateArticles(near=near)
        (result.duplicates
         | beam.Map(lambda d: json.dumps([d["article_id"], d["canonical_id"]]))
         | beam.io.WriteToText(str(out), shard_name_template=""))
    leader = {item["id"]: item["id"] for item in items}
    for line in out.read_text().splitlines():
        dropped, kept = json.loads(line)
        leader[id_of[dropped]] = id_of[kept]
    return leader


def score(items: list[dict], leader: dict[str, str]) -> dict:
    label = {item["id"]: item["cluster"] for item in items}
    tp = fp = fn = 0
    errors = []
    for a, b in itertools.combinations(sorted(label), 2):
        truth, predicted = label[a] == label[b], leader[a] == leader[b]
        tp += truth and predicted
        fp += predicted and not truth
        fn += truth and not predicted
        if truth != predicted:
            errors.append(("false merge" if predicted else "missed", a, b))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"items": len(items), "true_pairs": tp + fn, "tp": tp, "fp": fp, "fn": fn,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "errors": errors}


def main(argv=None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--exact-only", action="store_true", help="score the exact passes alone")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)
    items = load(args.corpus)
    with tempfile.TemporaryDirectory() as tmp:
        leader = predicted_clusters(items, None if args.exact_only else NearConfig(), Path(tmp))
    result = score(items, leader)
    errors = result.pop("errors")
    print(json.dumps(result))
    if args.show_errors:
        for error in errors:
            print(*error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
