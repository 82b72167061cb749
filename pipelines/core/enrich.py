"""Per-article enrichment: word count and language.

The dateline is split off in Normalize (it must be gone before the content
hash); geocoding it and further columns belong here.
"""

from __future__ import annotations

from typing import Any

from pipelines.core.language import detect_language
from pipelines.core.text import word_count


def enrich_article(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``row`` with ``word_count``, ``language`` and ``language_confidence`` set."""
    language, confidence = detect_language(f"{row['title']}\n\n{row['body']}")
    return {**row, "word_count": word_count(row["body"]), "language": language,
            "language_confidence": confidence}
