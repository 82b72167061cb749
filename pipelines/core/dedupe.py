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

from pipelines.core.records import article_id, stable_hash
from pipelines.core.text import word_count

METHODS = ("guid", "url", "content")  # exact passes, in order; "near" follows them
# Below this many words a body is too short to call two records the same story by text alone.
MIN_CONTENT_WORDS = 25

Row = dict[str, Any]
Dropped = tuple[Row, str, float]
Cluster = tuple[Row, list[Dropped]]

_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S")
_FAR_FUTURE = dt.datetime.max.replace(tzinfo=dt.timezone.utc)


def dedup_key(row: Row, method: str) -> str | None:
    """The row's key for ``method``, or None when the row has none (it then merges with nothing).

    guid: the fallback chain of feed readers. A guid that is an absolute URI (``tag:``,
    ``urn:``, ``http...``) is global; any other ("12345", "2020/03/4411") means something
    only within its own feed. A record without a guid is identified by its canonical link
    (the ``url`` pass), and one with neither by a hash of feed, link, title and date.
    """
    if method == "guid":
        guid = row.get("guid")
        if guid:
            return guid if _URI_RE.match(guid) else f"{row.get('feed_url')}\x1f{guid}"
        if row.get("canonical_url"):
            return None
        published = row["published_at"].isoformat() if row.get("published_at") else ""
        return "identity\x1f" + stable_hash(row.get("feed_url"), row.get("url"), row["title"].casefold(), published)
    if method == "url":
        return row.get("canonical_url")
    if method == "content":
        return row["content_hash"] if word_count(row["body"]) >= MIN_CONTENT_WORDS else None
    raise ValueError(f"unknown dedup method {method!r}; expected one of {METHODS}")


def same_entry(a: Row, b: Row) -> bool:
    """Whether two records sharing a guid really are one entry.

    Some feeds repeat one guid on every item; a shared guid counts only when the link,
    the title or the content agrees as well.
    """
    if a.get("canonical_url") and a.get("canonical_url") == b.get("canonical_url"):
        return True
    return a["title"].casefold() == b["title"].casefold() or a["content_hash"] == b["content_hash"]


def priority(row: Row) -> tuple:
    """Sort key of the kept-article rule: the smallest wins."""
    published = row.get("published_at")
    return (published is None, published or _FAR_FUTURE, -len(row.get("body") or ""), row["article_id"])


def merge_clusters(clusters: Iterable[Cluster], method: str) -> Cluster:
    """Merge clusters that share a ``method`` key into one, kept row chosen by :func:`priority`."""
    ordered = sorted(clusters, key=lambda cluster: priority(cluster[0]))
    return absorb(ordered[0], [(cluster, method, 1.0) for cluster in ordered[1:]])


def merge_group(clusters: Iterable[Cluster], method: str) -> list[Cluster]:
    """Merge the clusters of one key group; for guids only those that :func:`same_entry` agrees on.

    Entries a feed gave one guid that stay apart would share their guid-based ``article_id``:
    each of them is then identified as if it had no guid (its link, else its content), so two
    kept articles never share an id.
    """
    if method != "guid":
        return [merge_clusters(clusters, method)]
    remaining = sorted(clusters, key=lambda cluster: priority(cluster[0]))
    merged = []
    while remaining:
        leader = remaining[0]
        group = [c for c in remaining if c is leader or same_entry(leader[0], c[0])]
        merged.append(merge_clusters(group, method))
        remaining = [c for c in remaining if not any(c is g for g in group)]
    ids = [row["article_id"] for row, _ in merged]
    return [(row, dropped) if ids.count(row["article_id"]) == 1 else (_without_guid_id(row), dropped)
            for row, dropped in merged]


def _without_guid_id(row: Row) -> Row:
    """``row`` identified by its link, else its content (rows its guid does not tell apart differ in both)."""
    return {**row, "article_id": article_id(row["source_type"], row["feed_url"], None, row["url"], row["content_hash"])}


def absorb(kept: Cluster, members: Iterable[tuple[Cluster, str, float]]) -> Cluster:
    """``kept`` with other clusters moved under it, each with its method and similarity."""
    row, dropped = kept
    dropped = list(dropped)
    for (member_row, member_dropped), method, similarity in members:
        dropped.append((member_row, method, similarity))
        dropped.extend(member_dropped)
    return row, dropped


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
            "run_id": row["run_id"], "failed_expectations": None,
        }
        for row, method, similarity in dropped
    ]
    return sorted(rows, key=lambda row: row["article_id"])
