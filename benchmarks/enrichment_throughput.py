"""Throughput of the enrichment profiles on the seed document, in articles per second.

Not a test. Run from the repository root (one core; the pipeline's parallelism is Beam's):

    .venv/bin/python benchmarks/enrichment_throughput.py [--copies 200]

Prints articles/s for ``enrich_core``, for ``enrich_full`` (batched), for the spaCy part of
``enrich_full`` alone, and for the model's default pipeline (tagger, parser, lemmatizer and
all) as the reference the NER-only configuration is compared with.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from eval_enrichment import prepare_row  # noqa: E402
from pipelines.core import nlp  # noqa: E402
from pipelines.core.enrich import enrich_core, enrich_full, load_model  # noqa: E402

SEED = "seeds/documents/000_fc173cf85abe3055.txt"


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
    args = parser.parse_args()
    row, _ = prepare_row(SEED)
    rows = [dict(row, article_id=f"{i:032x}") for i in range(args.copies)]
    start = time.perf_counter()
    models = load_model()
    load_s = time.perf_counter() - start
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


if __name__ == "__main__":
    main()
