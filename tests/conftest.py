"""Shared fixtures. Everything is real: files on disk, Beam's TestPipeline, GX suites."""

from __future__ import annotations

import datetime as dt
import os
import random
import time
from pathlib import Path
from typing import Callable, TypeVar

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED_DOCUMENT = SEEDS / "documents" / "000_fc173cf85abe3055.txt"
RUN_ID = "test-run"
INGESTED_AT = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)

# How long a test waits for an event (a file appearing, a request arriving, a line printed) before
# it fails: generous, since it only matters when the event never comes; a slow machine just waits.
EVENT_TIMEOUT = 120.0
SEED_ENV = "NEWS_INGEST_TEST_SEED"
_SEED_KEY = pytest.StashKey[int]()
T = TypeVar("T")


def files_under(folder: Path, pattern: str = "*") -> list[Path]:
    """Every file under ``folder`` (at any depth) whose name matches ``pattern``, sorted.

    A folder that does not exist holds no files: ``[]``. Use it where an absent folder is as
    good as an empty one (``_staging`` after a commit, ``rejects`` of a run without rejects);
    where the folder must be there, assert that it exists."""
    if not folder.exists():
        return []
    assert folder.is_dir(), f"{folder} is not a folder"
    return sorted(path for path in folder.rglob(pattern) if path.is_file())


def wait_until(condition: Callable[[], T], *, timeout: float = EVENT_TIMEOUT, interval: float = 0.02,
               process=None) -> T | None:
    """Poll ``condition`` until it returns something truthy, and return that.

    Returns None (the caller asserts, with what it knows) when ``timeout`` seconds pass first,
    or, given a ``subprocess.Popen`` ``process``, when that process ends first (the condition is
    looked at once more after it ended). ``interval`` is only the polling granularity."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            return condition() or None
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def seed_from_env() -> int:
    """The seed for a test's random choices: ``$NEWS_INGEST_TEST_SEED`` when set (to repeat a
    failure), else a fresh random one. Prefer the ``random_seed`` fixture, which reports it."""
    value = os.environ.get(SEED_ENV, "").strip()
    return int(value) if value else random.SystemRandom().randrange(1 << 30)


@pytest.fixture
def random_seed(request) -> int:
    """A reproducible seed (see :func:`seed_from_env`) for ``random.Random(random_seed)``. A failing
    test's report shows it in a "random seed" section, with the variable that repeats the run."""
    seed = seed_from_env()
    request.node.stash[_SEED_KEY] = seed
    request.node.user_properties.append(("random_seed", seed))
    return seed


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    seed = item.stash.get(_SEED_KEY, None)
    if seed is not None and report.failed:
        report.sections.append(("random seed", f"{SEED_ENV}={seed} repeats this test's random choices"))


def pytest_report_header(config) -> str | None:
    if os.environ.get(SEED_ENV, "").strip():
        return f"{SEED_ENV}={os.environ[SEED_ENV].strip()} (random choices in tests are repeated)"
    return None


@pytest.fixture
def ingested_at() -> dt.datetime:
    return INGESTED_AT


def raw_article(**overrides) -> dict:
    """A raw article as a reader hands it to Normalize."""
    raw = {
        "source_type": "feed", "source": "/feeds/a.rss", "source_name": "A", "feed_url": "/feeds/a.rss",
        "guid": None, "url": "https://example.com/a", "title": "A title", "summary": None,
        "body": "Some body text.", "text_is_html": False, "authors": [], "categories": [],
        "published_at": None,
    }
    raw.update(overrides)
    return raw


def article_row(**overrides) -> dict:
    """A complete, valid article row (as after Enrich); raw fields are overridden before Normalize."""
    from pipelines.core.enrich import enrich_core
    from pipelines.core.normalize import normalize_article
    from pipelines.core.records import RAW_FIELDS

    raw = raw_article(**{k: v for k, v in overrides.items() if k in RAW_FIELDS})
    row = enrich_core(normalize_article(raw, RUN_ID, INGESTED_AT))
    row.update({k: v for k, v in overrides.items() if k not in RAW_FIELDS})
    return row


def suites_with_word_cap(folder: Path, max_words: int = 100) -> Path:
    """A copy of the real suites whose articles suite also caps word_count: a batch with a longer
    article fails validation (for quarantine tests)."""
    import json
    import shutil

    from expectations import SUITES_DIR

    shutil.copytree(SUITES_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    articles = json.loads((folder / "articles.json").read_text())
    articles["expectations"].append({"type": "expect_column_values_to_be_between",
                                     "kwargs": {"column": "word_count", "max_value": max_words}})
    (folder / "articles.json").write_text(json.dumps(articles))
    return folder


def assert_reconciles(output: Path, manifest: dict) -> None:
    """The manifest's counts add up, and each table holds as many rows as the manifest says."""
    import duckdb

    counts = manifest["counts"]
    assert manifest["reconciled"] is True
    assert counts["read"] == counts["written"] + counts["duplicates"] + counts["rejected"] + counts["quarantined"]
    for folder, key in (("articles", "written"), ("duplicates", "duplicates"), ("rejects", "rejected"),
                        ("quarantine", "quarantined")):
        found = 0
        if files_under(output / folder, "*.parquet"):
            [(found,)] = duckdb.sql(f"select count(*) from read_parquet('{output}/{folder}/**/*.parquet')").fetchall()
        assert found == counts[key], folder


@pytest.fixture(scope="module")
def stoppable_corpus(tmp_path_factory) -> Path:
    """150 generated records in feeds of 40 entries: a run long enough to be stopped midway."""
    from benchmarks.corpus import CorpusSpec, write_corpus

    root = tmp_path_factory.mktemp("corpus")
    write_corpus(CorpusSpec(records=150, entries_per_feed=40, seed=11), root)
    return root
