"""Exact deduplication rules: keys, the kept-article rule and cluster merging.

A *cluster* is ``(kept_row, dropped)`` where ``dropped`` lists
``(row, method, similarity)``. Deduplication runs one key after another
(:data:`METHODS`); in each pass the clusters sharing a key merge, the best
kept row (by :func:`priority`) wins and everything the losers held moves
under it, so a dropped row always points at the final kept article.

Kept-article rule: earliest ``published_at`` (unknown dates last), then the
longest body, then the smallest ``article_id``. It is a total order, so the
result does not depend on bundle order, runner or worker count.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable

from pipelines.core.text import word_count

METHODS = ("guid", "url", "content")
# Below this many words a body is too short to call two records the same story by text alone.
MIN_CONTENT_WORDS = 25

Row = dict[str, Any]
Dropped = tuple[Row, str, float]
Cluster = tuple[Row, list[Dropped]]

_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S")
_FAR_FUTURE = dt.datetime.max.replace(tzinfo=dt.timezone.utc)


def dedup_key(row: Row, method: str) -> str | None:
    """The row's key for ``method``, or None when the row has none (it then merges with nothing).

    guid: a guid that is an absolute URI (``tag:``, ``urn:``, ``http...``) is global; any
    other ("12345", "2020/03/4411") only means something within its own feed.
    """
    if method == "guid":
        guid = row.get("guid")
        if not guid:
            return None
        return guid if _URI_RE.match(guid) else f"{row.get('feed_url')}\x1f{guid}"
    if method == "url":
        return row.get("canonical_url")
    if method == "content":
        return row["content_hash"] if word_count(row["body"]) >= MIN_CONTENT_WORDS else None
    raise ValueError(f"unknown dedup method {method!r}; expected one of {METHODS}")


def priority(row: Row) -> tuple:
    """Sort key of the kept-article rule: the smallest wins."""
    published = row.get("published_at")
    return (published is None, published or _FAR_FUTURE, -len(row.get("body") or ""), row["article_id"])


def merge_clusters(clusters: Iterable[Cluster], method: str) -> Cluster:
    """Merge clusters that share a ``method`` key into one, kept row chosen by :func:`priority`."""
    ordered = sorted(clusters, key=lambda cluster: priority(cluster[0]))
    kept, dropped = ordered[0]
    dropped = list(dropped)
    for loser, loser_dropped in ordered[1:]:
        dropped.append((loser, method, 1.0))
        dropped.extend(loser_dropped)
    return kept, dropped


def kept_row(cluster: Cluster) -> Row:
    """The kept article with ``cluster_size`` set."""
    kept, dropped = cluster
    return {**kept, "cluster_size": 1 + len(dropped)}


def duplicate_rows(cluster: Cluster) -> list[Row]:
    """One ``duplicates/`` row per dropped record, pointing at the kept article."""
    kept, dropped = cluster
    rows = [
        {
            "article_id": row["article_id"], "url": row["url"], "title": row["title"],
            "source_type": row["source_type"], "source_name": row["source_name"],
            "feed_url": row["feed_url"], "guid": row["guid"], "canonical_id": kept["article_id"],
            "method": method, "similarity": similarity, "ingested_at": row["ingested_at"],
            "run_id": row["run_id"],
        }
        for row, method, similarity in dropped
    ]
    return sorted(rows, key=lambda row: row["article_id"])
