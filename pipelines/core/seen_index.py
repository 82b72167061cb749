"""The seen-index: the dedup keys of everything earlier runs wrote to ``articles/``.

Kept in the output itself (``<output>/_index/part-<run_id>-<n>.parquet``, schema
``schemas.SEEN_SCHEMA``) so it works on any runner without an external database. A
run reads the entries younger than the retention window, drops every new record whose
key (or verified near-duplicate) was seen, and adds the keys of what it wrote. Files
are immutable; a new run adds files, never rewrites one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

import schemas
from pipelines.core.dedupe import METHODS, Cluster, dedup_key
from pipelines.core.near_dedupe import NearConfig, band_keys, sketch

INDEX_DIR = "_index"
NEAR_METADATA_KEY = b"news_ingest.near"
DEFAULT_RETENTION = dt.timedelta(days=30)
_KIND_ORDER = {kind: rank for rank, kind in enumerate((*METHODS, "near"))}


def exact_keys(cluster: Cluster) -> list[tuple[str, str]]:
    """``(kind, key)`` of every exact key of the cluster's kept row and of its dropped rows."""
    kept, dropped = cluster
    keys = {(method, key) for row in [kept, *(d[0] for d in dropped)] for method in METHODS
            if (key := dedup_key(row, method)) is not None}
    return sorted(keys)


def cluster_keys(cluster: Cluster, near: NearConfig | None) -> list[tuple[str, str]]:
    """Everything the index stores for a kept cluster: exact keys, then LSH band keys."""
    keys = exact_keys(cluster)
    if near is not None:
        found = sketch(cluster[0]["article_id"], cluster[0]["body"], near)
        if found is not None:
            keys += [("band", key) for key in band_keys(found.shingles, near)]
    return keys


def best_match(matches: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """From ``(kind, old_article_id)`` matches, the one to report: guid, url, content, near; then smallest id."""
    ordered = sorted(matches, key=lambda match: (_KIND_ORDER[match[0]], match[1]))
    return ordered[0] if ordered else None


def index_table(rows: list[dict[str, Any]], near: NearConfig | None) -> pa.Table:
    """Index rows as a table; the near-dup parameters go into the metadata (band keys depend on them)."""
    metadata = dict(schemas.SEEN_SCHEMA.metadata)
    if near is not None:
        metadata[NEAR_METADATA_KEY] = near.fingerprint().encode()
    return pa.Table.from_pylist(rows, schema=schemas.SEEN_SCHEMA.with_metadata(metadata))


def read_index_file(handle, since: dt.datetime, near: NearConfig | None) -> tuple[list[dict[str, Any]], bool]:
    """Entries of one index file seen at or after ``since``.

    Band entries are dropped when the file was written with other near-dup parameters
    (their keys would never match); the second value says whether that happened.
    """
    table = pq.read_table(handle)
    fingerprint = (table.schema.metadata or {}).get(NEAR_METADATA_KEY, b"").decode()
    compatible = near is not None and fingerprint == near.fingerprint()
    rows = [row for row in table.to_pylist() if row["seen_at"] >= since
            and (row["kind"] != "band" or compatible)]
    return rows, bool(fingerprint) and near is not None and not compatible
