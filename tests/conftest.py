"""Shared fixtures. Everything is real: files on disk, Beam's TestPipeline, GX suites."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED_DOCUMENT = SEEDS / "documents" / "000_fc173cf85abe3055.txt"
RUN_ID = "test-run"
INGESTED_AT = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)


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
