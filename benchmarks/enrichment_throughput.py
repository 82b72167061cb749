"""Throughput of the enrichment profiles on the seed document or on a benchmark corpus, in
articles per second.

Not a test. Run from the repository root (one core; the pipeline's parallelism is Beam's):

    .venv/bin/python benchmarks/enrichment_throughput.py [--copies 200]
    .venv/bin/python -m benchmarks.corpus --records 1000 --out /tmp/corpus
    .venv/bin/python benchmarks/enrichment_throughput.py --corpus /tmp/corpus [--articles 300]

Prints articles/s for ``enrich_core``, for ``enrich_full`` (batched), for the spaCy part of
``enrich_full`` alone, and for the model's default pipeline (tagger, parser, lemmatizer and
all) as the reference the NER-only configuration is compared with. With ``--corpus`` the
rows are the first ``--articles`` distinct stories of a ``benchmarks.corpus`` directory
(feeds then documents), parsed and normalised as the pipeline does, enriched in batches of
``--batch`` rows (the pipeline's ``EnrichArticles`` batch size), and the time of
``enrich_full`` is broken down by part (``--no-parts`` skips that).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pipelines.core import nlp  # noqa: E402
from pipelines.core.enrich import enrich_core, enrich_full, load_model  # noqa: E402

SEED = "seeds/documents/000_fc173cf85abe3055.txt"
INGESTED_AT = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)  # eval_enrichment's


def corpus_rows(root: str | Path, limit: int) -> list[dict]:
    """Up to ``limit`` article rows of a ``benchmarks.corpus`` directory, as Enrich gets them:
    feed entries and documents parsed and normalised, exact copies (same content hash) left out."""
    from pipelines.core import records as r
    from pipelines.core.documents import parse_document
    from pipelines.core.feed_list import FeedSource
    from pipelines.core.feeds import parse_feed
    from pipelines.core.normalize import normalize_article

    root = Path(root)
    raws = []
    for path in sorted((root / "feeds").iterdir()):
        raws.extend(parse_feed(FeedSource(str(path)), path.read_bytes()).entries)
    for path in sorted((root / "documents").glob("*.txt")):
        raws.append(parse_document(str(path), path.read_bytes()))
    rows, hashes = [], set()
    for raw in raws:
        if isinstance(raw, r.Reject):
            continue
        row = normalize_article(raw, "bench", INGESTED_AT)
        if isinstance(row, r.Reject) or row.get("content_hash") in hashes:
            continue
        hashes.add(row.get("content_hash"))
        rows.append(row)
        if len(rows) == limit:
            break
    return rows


def in_batches(rows: list[dict], models, size: int) -> list[dict]:
    out = []
    for i in range(0, len(rows), size):
        out.extend(enrich_full(rows[i:i + size], models))
    return out


def parts(rows: list[dict], models) -> dict[str, float]:
    """Seconds per part of ``enrich_full`` (one pass each, on the English rows)."""
    from pipelines.core.enrich import enrich_core as core

    result = {}
    start = time.perf_counter()
    cored = [core(row) for row in rows]
    result["enrich_core (language, dateline)"] = time.perf_counter() - start
    english = [row for row in cored if row["language"] in nlp.MODEL_LANGUAGES]
    texts = [nlp.analysis_text(row["title"], row["body"]) for row in english]
    start = time.perf_counter()
    docs = list(models.nlp.pipe(texts, batch_size=nlp.BATCH_SIZE))
    result["spaCy NER (nlp.pipe)"] = time.perf_counter() - start
    start = time.perf_counter()
    mentions = [nlp._mentions(doc) for doc in docs]
    result["mentions"] = time.perf_counter() - start
    start = time.perf_counter()
    for doc, ms in zip(docs, mentions):
        nlp.keywords(doc.text, "en", ms)
    result["keywords (YAKE)"] = time.perf_counter() - start
    start = time.perf_counter()
    for doc in docs:
        nlp.tone(doc.text, models.sentiment)
    result["tone (VADER)"] = time.perf_counter() - start
    start = time.perf_counter()
    for doc, ms in zip(docs, mentions):
        nlp.extract_quotes(doc.text, ms, nlp._canonical_map([m.name for m in ms if m.label == "PERSON"]))
    result["quotes"] = time.perf_counter() - start
    return result


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def timed(fn, repeat: int = 3) -> float:
    """Best of ``repeat`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--corpus", help="a benchmarks.corpus directory instead of the seed document")
    parser.add_argument("--articles", type=int, default=300, help="rows taken from --corpus")
    parser.add_argument("--batch", type=int, default=32, help="rows per enrich_full call with --corpus")
    parser.add_argument("--no-parts", action="store_true", help="no per-part breakdown with --corpus")
    args = parser.parse_args()
    start = time.perf_counter()
    models = load_model()
    load_s = time.perf_counter() - start
    if args.corpus:
        corpus(args, models, load_s)
        return
    from eval_enrichment import prepare_row

    row, _ = prepare_row(SEED)
    rows = [dict(row, article_id=f"{i:032x}") for i in range(args.copies)]
    enrich_full(rows[:4], models)  # warm caches (wordfreq, YAKE stopwords)

    core_s = timed(lambda: [enrich_core(r) for r in rows])
    full_s = timed(lambda: enrich_full(rows, models), repeat=2)
    texts = [nlp.analysis_text(r["title"], r["body"]) for r in rows]
    ner_s = timed(lambda: list(models.nlp.pipe(texts, batch_size=nlp.BATCH_SIZE)), repeat=2)

    import spacy
    default = spacy.load(nlp.MODEL_PACKAGE)
    list(default.pipe(texts[:4]))
    default_s = timed(lambda: list(default.pipe(texts, batch_size=nlp.BATCH_SIZE)), repeat=1)

    words = enrich_core(row)["word_count"]
    print(f"seed document: {words} words, {len(texts[0])} characters; {args.copies} copies; "
          f"model load {load_s:.1f} s")
    print(f"enrich_core                       {rate(len(rows), core_s):8.1f} articles/s")
    print(f"enrich_full                       {rate(len(rows), full_s):8.1f} articles/s")
    print(f"  spaCy NER only (nlp.pipe)       {rate(len(rows), ner_s):8.1f} articles/s")
    print(f"  spaCy default pipeline          {rate(len(rows), default_s):8.1f} articles/s  (reference)")
    print(f"NER-only vs default pipeline: x{default_s / ner_s:.2f}; "
          f"enrich_full vs default pipeline alone: x{default_s / full_s:.2f}")


def corpus(args, models, load_s: float) -> None:
    rows = corpus_rows(args.corpus, args.articles)
    in_batches(rows[:8], models, args.batch)  # warm caches
    full_s = timed(lambda: in_batches(rows, models, args.batch), repeat=2)
    chars = sum(len(nlp.analysis_text(r["title"], r["body"])) for r in rows)
    print(f"corpus {args.corpus}: {len(rows)} articles, mean {chars / len(rows):.0f} characters; "
          f"batches of {args.batch}; model load {load_s:.1f} s")
    print(f"enrich_full                       {rate(len(rows), full_s):8.1f} articles/s")
    if not args.no_parts:
        for name, seconds in parts(rows, models).items():
            print(f"  {name:32}{seconds * 1000 / len(rows):8.2f} ms/article")


if __name__ == "__main__":
    main()
