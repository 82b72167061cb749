"""Our YAKE port against the yake package's ``extract_keywords``: equal output, and time.

Not a test. Run from the repository root (one core):

    .venv/bin/python -m benchmarks.corpus --records 1000 --out /tmp/corpus
    .venv/bin/python benchmarks/yake_port.py --corpus /tmp/corpus [--articles 300 --runs 7]

Texts: the seed documents and enrichment fixtures, then ``--articles`` benchmark corpus
stories, each cut as ``keywords()`` cuts it. Prints how many outputs are equal (phrases and
scores) and the median time of each implementation over ``--runs`` interleaved runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from benchmarks.enrichment_throughput import corpus_rows  # noqa: E402
from pipelines.core import keywords as kw  # noqa: E402
from pipelines.core.enrich import enrich_core  # noqa: E402
from pipelines.core.nlp import analysis_text  # noqa: E402


def texts(corpus: str, articles: int) -> list[tuple[str, str]]:
    """``(language, text)`` pairs as ``keywords()`` hands them to YAKE."""
    from eval_enrichment import prepare_row

    paths = sorted((ROOT / "seeds/documents").glob("*.txt")) + sorted(
        (ROOT / "tests/fixtures/enrichment").glob("*.txt"))
    rows = [prepare_row(path.relative_to(ROOT))[0] for path in paths] + corpus_rows(corpus, articles)
    result = []
    for row in rows:
        language = enrich_core(row)["language"]
        if language not in kw.YAKE_LANGUAGES:
            continue
        text = analysis_text(row["title"], row["body"])
        if len(text) > kw.KEYWORD_MAX_CHARS:
            text = text[:kw._cut_point(text, kw.KEYWORD_MAX_CHARS)]
        result.append((language, text))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True, help="a benchmarks.corpus directory")
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cases = [(kw._keyword_extractor(kw.YAKE_LANGUAGES[lang]), text) for lang, text in texts(args.corpus, args.articles)]
    port = [kw._yake(ex, text) for ex, text in cases]
    package = [ex.extract_keywords(text) for ex, text in cases]
    same = sum(a == b for a, b in zip(port, package))
    same_phrases = sum([p for p, _ in a] == [p for p, _ in b] for a, b in zip(port, package))
    seconds: dict[str, list[float]] = {"port": [], "package": []}
    for _ in range(args.runs):  # interleaved, so a busy machine slows both alike
        start = time.perf_counter()
        for ex, text in cases:
            kw._yake(ex, text)
        seconds["port"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for ex, text in cases:
            ex.extract_keywords(text)
        seconds["package"].append(time.perf_counter() - start)
    chars = sum(len(text) for _, text in cases)
    print(f"{len(cases)} texts, mean {chars / len(cases):.0f} characters; {args.runs} runs")
    print(f"equal output (phrases and scores): {same}/{len(cases)}; equal phrase lists: {same_phrases}/{len(cases)}")
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    for name, median in medians.items():
        print(f"  {name:8} median {median:7.2f} s  {median * 1000 / len(cases):6.2f} ms/text  "
              f"(min {min(seconds[name]):.2f}, max {max(seconds[name]):.2f})")
    print(f"package / port: x{medians['package'] / medians['port']:.2f}")


if __name__ == "__main__":
    main()
