"""Accuracy of the enrichment on the hand-labelled fixtures: precision and recall per field.

Not a test (pytest does not collect it); ``tests/core/test_enrich_full.py`` imports the
helpers. Run from the repository root:

    .venv/bin/python tests/eval_enrichment.py

Fixtures: ``tests/fixtures/enrichment/expected.json`` names each document (the seed
document, the dateline forms, a German and a French article, one without a dateline, one
with mojibake and broken hyphens) and what its enrichment should be. Rows are prepared
the way Normalize is meant to prepare them: ``clean_text`` before the dateline is split
off, ``repair_hyphenation`` on the body, and the dateline qualifier kept as
``dateline_qualifier``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipelines.core.cleaning import _PAIR_RE, clean_text, repair_hyphenation  # noqa: E402
from pipelines.core.dateline import parse_dateline  # noqa: E402
from pipelines.core.documents import parse_document  # noqa: E402
from pipelines.core.normalize import normalize_article  # noqa: E402

EXPECTED = ROOT / "tests" / "fixtures" / "enrichment" / "expected.json"
SET_FIELDS = ("persons", "organizations", "locations", "countries")
INGESTED_AT = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)
COORDINATE_TOLERANCE = 0.1  # degrees


@functools.lru_cache(maxsize=1)
def shared_models():
    """``load_model()`` once per process: the test modules share one loaded model."""
    from pipelines.core.enrich import load_model

    return load_model()


def load_expected() -> dict[str, dict[str, Any]]:
    """Expected values by document path (relative to the repository root)."""
    return json.loads(EXPECTED.read_text(encoding="utf-8"))["documents"]


def prepare_row(path: str | Path) -> tuple[dict[str, Any], int]:
    """``(article row as Normalize should hand it to Enrich, hyphen repairs)`` for a document."""
    path = ROOT / path
    raw = parse_document(str(path), path.read_bytes())
    raw = {**raw, "title": clean_text(raw["title"]), "body": clean_text(raw["body"])}
    dateline, _ = parse_dateline(raw["body"])
    row = normalize_article(raw, "eval", INGESTED_AT)
    row["body"], repairs = repair_hyphenation(row["body"])
    row["dateline_qualifier"] = dateline.qualifier if dateline else None
    return row, repairs


def _key(text: str) -> str:
    return " ".join(text.casefold().replace("’", "'").split())


def _matches(predicted: str, gold: str | list[str]) -> bool:
    options = gold if isinstance(gold, list) else [gold]
    return any(_key(predicted) == _key(option) for option in options)


Score = tuple[int, int, int, int]  # (right predictions, predictions, expected found, expected)


def score_set(predicted: list[str], gold: list) -> Score:
    """Names or codes: a prediction is right when it matches an expected one (or its variants)."""
    correct = sum(1 for p in predicted if any(_matches(p, g) for g in gold))
    hits = sum(1 for g in gold if any(_matches(p, g) for p in predicted))
    return correct, len(predicted), hits, len(gold)


def _quote_matches(predicted: dict, gold: dict) -> bool:
    """The same speaker, and the predicted text starts with the expected opening words."""
    return (_key(predicted["speaker"] or "") == _key(gold["speaker"])
            and _key(predicted["text"]).startswith(_key(gold["text"])))


def score_quotes(predicted: list[dict], gold: list[dict]) -> Score:
    """Quotes: the same speaker and the same opening words."""
    correct = sum(1 for p in predicted if any(_quote_matches(p, g) for g in gold))
    hits = sum(1 for g in gold if any(_quote_matches(p, g) for p in predicted))
    return correct, len(predicted), hits, len(gold)


def _words(phrase: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"\w+", phrase.casefold())}


def score_keywords(predicted: list[str], gold: list[str]) -> Score:
    """Lenient: a phrase matches when one's words (plural s aside) are all in the other's."""
    def close(a: str, b: str) -> bool:
        wa, wb = _words(a), _words(b)
        return bool(wa) and bool(wb) and (wa <= wb or wb <= wa)
    correct = sum(1 for p in predicted if any(close(p, g) for g in gold))
    hits = sum(1 for g in gold if any(close(p, g) for p in predicted))
    return correct, len(predicted), hits, len(gold)


def hyphen_joins(before: str, after: str) -> set[str]:
    """Hyphenated pairs of ``before`` that are gone from ``after``."""
    return {m.group(0) for m in _PAIR_RE.finditer(before) if m.group(0) not in after}


def evaluate(rows: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]],
             originals: dict[str, str]) -> dict[str, dict[str, float]]:
    """Precision/recall (or accuracy) per field over the documents."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # a Score, summed

    def add(field: str, score: Score) -> None:
        for i, n in enumerate(score):
            counts[field][i] += n

    accuracy: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # right, total
    for path, gold in expected.items():
        row = rows[path]
        accuracy["language"][0] += row["language"] == gold["language"]
        accuracy["language"][1] += 1
        accuracy["dateline_country"][0] += row["dateline_country"] == gold["dateline_country"]
        accuracy["dateline_country"][1] += 1
        if gold["dateline_lat"] is None:
            right = row["dateline_lat"] is None and row["dateline_lon"] is None
        else:
            right = (row["dateline_lat"] is not None
                     and abs(row["dateline_lat"] - gold["dateline_lat"]) <= COORDINATE_TOLERANCE
                     and abs(row["dateline_lon"] - gold["dateline_lon"]) <= COORDINATE_TOLERANCE)
        accuracy["dateline_lat_lon"][0] += right
        accuracy["dateline_lat_lon"][1] += 1
        for field in (*SET_FIELDS, "quotes", "tone"):
            if gold[field] is None:
                accuracy[f"null_when_unsupported({field})"][0] += row[field] is None
                accuracy[f"null_when_unsupported({field})"][1] += 1
        if gold["tone"] is not None:
            low, high = gold["tone"]
            accuracy["tone_in_range"][0] += row["tone"] is not None and low <= row["tone"] <= high
            accuracy["tone_in_range"][1] += 1
        for field in SET_FIELDS:
            if gold[field] is not None:
                add(field, score_set(row[field] or [], gold[field]))
        if gold["quotes"] is not None:
            add("quotes", score_quotes(row["quotes"] or [], gold["quotes"]))
        add("keywords (lenient)", score_keywords(row["keywords"] or [], gold["keywords"]))
        if "hyphen_joins" in gold:
            joined = hyphen_joins(originals[path], row["body"])
            gold_joins = set(gold["hyphen_joins"])
            both = len(joined & gold_joins)
            add("hyphen_repairs", (both, len(joined), both, len(gold_joins)))
            accuracy["hyphen_compounds_kept"][0] += sum(k in row["body"] for k in gold["hyphen_keeps"])
            accuracy["hyphen_compounds_kept"][1] += len(gold["hyphen_keeps"])
    report = {}
    for field, (correct, predicted, hits, total) in counts.items():
        report[field] = {"precision": correct / predicted if predicted else 1.0,
                         "recall": hits / total if total else 1.0,
                         "right": correct, "predicted": predicted, "found": hits, "expected": total}
    for field, (right, total) in accuracy.items():
        report[field] = {"accuracy": right / total if total else 1.0, "right": right, "total": total}
    return report


def run() -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, dict[str, Any]]]:
    """``({split: report}, enriched rows by path)``; splits "dev", "heldout" and "all"."""
    from pipelines.core.enrich import enrich_full

    expected = load_expected()
    prepared = {path: prepare_row(path)[0] for path in expected}
    originals = {}
    for path in expected:
        raw = parse_document(path, (ROOT / path).read_bytes())
        originals[path] = clean_text(raw["body"])
    enriched = enrich_full(list(prepared.values()), shared_models())
    rows = dict(zip(prepared, enriched, strict=True))
    reports = {}
    for split in ("dev", "heldout", "all"):
        subset = {p: g for p, g in expected.items() if split == "all" or g.get("split", "dev") == split}
        reports[split] = evaluate(rows, subset, originals)
    return reports, rows


def main() -> None:
    reports, rows = run()
    splits = list(reports)
    fields = list(dict.fromkeys(f for report in reports.values() for f in report))
    header = "".join(f"{split + ' P':>11}{split + ' R':>11}" for split in splits)
    print(f"{'field':38}{header}")
    for field in fields:
        if any("precision" in reports[s].get(field, {}) for s in splits):
            cells = "".join(
                f"{reports[s][field]['precision']:11.3f}{reports[s][field]['recall']:11.3f}"
                if field in reports[s] else f"{'-':>11}{'-':>11}" for s in splits)
            counts = reports["all"][field]
            print(f"{field:38}{cells}   all: {counts['right']}/{counts['predicted']} right, "
                  f"{counts['found']}/{counts['expected']} found")
    print(f"\n{'field':38}" + "".join(f"{split + ' acc':>11}" for split in splits))
    for field in fields:
        if any("accuracy" in reports[s].get(field, {}) for s in splits):
            cells = "".join(f"{reports[s][field]['accuracy']:11.3f}" if field in reports[s] else f"{'-':>11}"
                            for s in splits)
            counts = reports["all"][field]
            print(f"{field:38}{cells}   all: {counts['right']}/{counts['total']}")
    if "-v" in sys.argv:
        expected = load_expected()
        for path, row in rows.items():
            gold = expected[path]
            print(f"\n== {path}")
            for field in SET_FIELDS:
                if row[field] is not None and gold[field] is not None:
                    extra = [p for p in row[field] if not any(_matches(p, g) for g in gold[field])]
                    missing = [g for g in gold[field] if not any(_matches(p, g) for p in row[field])]
                    print(f"  {field}: extra={extra} missing={missing}")
            if row["quotes"] is not None and gold["quotes"] is not None:
                extra = [q for q in row["quotes"] if not any(_quote_matches(q, g) for g in gold["quotes"])]
                missing = [g for g in gold["quotes"] if not any(_quote_matches(q, g) for q in row["quotes"])]
                print(f"  quotes: extra={extra} missing={missing}")
            print(f"  keywords: {row['keywords']}  tone: {row['tone']}")


if __name__ == "__main__":
    main()
