"""The seen-index: the dedup keys of everything earlier runs wrote to ``articles/``.

Kept in the output itself (``<output>/_index/part-<run_id>-<n>.parquet``, schema
``schemas.SEEN_SCHEMA``) so it works on any runner without an external database. A
run reads the entries younger than the retention window, drops every new record whose
key (or verified near-duplicate) was seen, and adds the keys of what it wrote. Files
are immutable; a new run adds files, never rewrites one.
"""

from __future__ import annotations

import array
import datetime as dt
import hashlib
import re
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

import schemas
from pipelines.core.dedupe import METHODS, Cluster, dedup_key
from pipelines.core.near_dedupe import NearConfig, Sketch, band_keys, sketch
from pipelines.core.urls import canonical_url

INDEX_DIR = "_index"
CORRUPT_DIR = "_corrupt"  # _index/_corrupt/: unreadable index files, kept for inspection
_INDEX_NAME_RE = re.compile(r"^part-(?P<run_id>[A-Za-z0-9][A-Za-z0-9_.-]*)-[0-9a-f]{16}\.parquet$")
NEAR_METADATA_KEY = b"news_ingest.near"
DEFAULT_RETENTION = dt.timedelta(days=30)
_KIND_ORDER = {kind: rank for rank, kind in enumerate((*METHODS, "near"))}


def exact_keys(cluster: Cluster) -> list[tuple[str, str]]:
    """``(kind, key)`` of every exact key of the cluster's kept row and of its dropped rows."""
    kept, dropped = cluster
    keys = {(method, key) for row in [kept, *(d[0] for d in dropped)] for method in METHODS
            if (key := dedup_key(row, method)) is not None}
    return sorted(keys)


def band_shard(key: str, shards: int) -> int:
    """The shard of a band key ``"<band>:<hash>"``: its band, modulo ``shards``. Band keys
    travel grouped by shard: one element per article and shard instead of one per band."""
    return int(key.split(":", 1)[0]) % shards


_BAND_KEYS: dict[tuple, bytes | tuple[str, ...] | None] = {}
BAND_KEY_CACHE_SIZE = 200_000  # ~400 bytes an entry (40 band hashes packed as uint32): ~80 MB at most


def _pack_keys(keys: list[str]) -> bytes | tuple[str, ...]:
    """``["0:1a2b3c4d", "1:...", ...]`` as 4 bytes a key (a tuple when not in that exact form)."""
    try:
        packed = array.array("I", (int(key.split(":", 1)[1], 16) for key in keys)).tobytes()
    except (ValueError, IndexError, OverflowError):
        return tuple(keys)
    return packed if _unpack_keys(packed) == keys else tuple(keys)


def _unpack_keys(packed: bytes | tuple[str, ...]) -> list[str]:
    if isinstance(packed, tuple):
        return list(packed)
    return [f"{band}:{value:08x}" for band, value in enumerate(array.array("I", packed))]


def text_band_keys(article_id: str, body: str, near: NearConfig, found: Sketch | None = None,
                   ) -> list[str] | None:
    """The LSH band keys of an article's text (None when too short to sketch), remembered.

    Deduplication needs an article's band keys up to three times (near pass, seen-index
    lookup, index entries) and they cost most of a sketch: on one worker the later stages
    find them here. Keyed by id, a digest of the text and the parameters, so a changed text
    or configuration never reuses a stale entry; kept packed, and emptied when full. ``found``:
    the text's sketch, when the caller already has it.
    """
    digest = hashlib.blake2b(body.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    key = (article_id, digest, near)
    try:
        packed = _BAND_KEYS[key]
    except KeyError:
        found = found if found is not None else sketch(article_id, body, near)
        keys = band_keys(found.shingles, near) if found is not None else None
        if len(_BAND_KEYS) >= BAND_KEY_CACHE_SIZE:
            _BAND_KEYS.clear()
        _BAND_KEYS[key] = _pack_keys(keys) if keys is not None else None
        return keys
    return _unpack_keys(packed) if packed is not None else None


def cluster_keys(cluster: Cluster, near: NearConfig | None) -> list[tuple[str, str]]:
    """Everything the index stores for a kept cluster: exact keys, then LSH band keys."""
    keys = exact_keys(cluster)
    if near is not None:
        found = text_band_keys(cluster[0]["article_id"], cluster[0]["body"], near)
        if found is not None:
            keys += [("band", key) for key in found]
    return keys


def best_match(matches: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """From ``(kind, old_article_id)`` matches, the one to report: guid, url, content, near; then smallest id."""
    ordered = sorted(matches, key=lambda match: (_KIND_ORDER[match[0]], match[1]))
    return ordered[0] if ordered else None


def index_table(rows: list[dict[str, Any]] | dict[str, list], near: NearConfig | None) -> pa.Table:
    """Index rows (a list of dicts, or columns as ``{name: values}``) as a table; the near-dup
    parameters go into the metadata (band keys depend on them)."""
    metadata = dict(schemas.SEEN_SCHEMA.metadata)
    if near is not None:
        metadata[NEAR_METADATA_KEY] = near.fingerprint().encode()
    schema = schemas.SEEN_SCHEMA.with_metadata(metadata)
    if isinstance(rows, dict):
        return pa.Table.from_pydict(rows, schema=schema)
    return pa.Table.from_pylist(rows, schema=schema)


def read_index_table(handle, since: dt.datetime, near: NearConfig | None) -> tuple[pa.Table, bool]:
    """Entries of one index file seen at or after ``since``, as a table (columns of ``SEEN_SCHEMA``).

    Band entries are dropped when the file was written with other near-dup parameters
    (their keys would never match); the second value says whether that happened.
    """
    table = pq.read_table(handle)
    fingerprint = (table.schema.metadata or {}).get(NEAR_METADATA_KEY, b"").decode()
    compatible = near is not None and fingerprint == near.fingerprint()
    keep = pc.greater_equal(table["seen_at"], pa.scalar(since, table.schema.field("seen_at").type))
    if not compatible:
        keep = pc.and_(keep, pc.not_equal(table["kind"], "band"))
    return table.filter(keep), bool(fingerprint) and near is not None and not compatible


def exact_entry_key(kind: str, key: str) -> str:
    """How exact keys are matched between a run and the index: ``"<kind>\\x1f<key>"``."""
    return f"{kind}\x1f{key}"


class KeySet:
    """A run's keys for index lookups, matched against column after column (file after file).

    Two ways to find the rows of a column whose key is in the set, picked per column by size:
    ``pyarrow.compute.is_in`` hashes all the keys again on every call (~1 s for the 4 million band
    keys of a 100,000-record run) but probes in C; a Python set is hashed once and probed row by
    row (~0.3 us a row). A column longer than the set goes to ``is_in``, a shorter one to the set.
    """

    def __init__(self, keys) -> None:
        self.keys = frozenset(keys)
        self._array: pa.Array | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def mask(self, column) -> pa.Array:
        if len(self.keys) <= len(column):
            if self._array is None:
                self._array = pa.array(list(self.keys), pa.string())
            return pc.is_in(column, value_set=self._array)
        keys = self.keys
        return pa.array([key in keys for key in column.to_pylist()], pa.bool_())


def matching_entries(table: pa.Table, kind: str, wanted: KeySet) -> pa.Table:
    """The rows of an index table that ``wanted`` asks for (no other row becomes a Python object):
    ``kind="exact"``: the exact-key rows whose :func:`exact_entry_key` is in ``wanted``;
    ``kind="band"``: the band rows whose key is in ``wanted``. The result has the table's columns
    plus ``match`` (the matched key)."""
    if kind == "exact":
        rows = table.filter(pc.not_equal(table["kind"], "band"))
        keys = pc.binary_join_element_wise(rows["kind"], rows["key"], "\x1f")
    elif kind == "band":
        rows = table.filter(pc.equal(table["kind"], "band"))
        keys = rows["key"]
    else:
        raise ValueError(f"kind must be 'exact' or 'band', got {kind!r}")
    return rows.append_column("match", keys).filter(wanted.mask(keys))


def run_of_index_file(name: str) -> str | None:
    """The run that wrote ``_index/part-<run_id>-<hash16>.parquet``, or None for another name."""
    match = _INDEX_NAME_RE.match(name)
    return match["run_id"] if match else None


def _files(pattern: str) -> list[str]:
    found = FileSystems.match([pattern])[0].metadata_list
    return sorted(m.path for m in found if not FileSystems.split(m.path)[1].startswith((".", "_")))


def rebuild_index_rows(output: str, run_id: str, near: NearConfig | None) -> list[dict[str, Any]]:
    """The seen-index entries of one run, rebuilt from the dataset (``articles/`` and ``duplicates/``).

    Used when an index file is unreadable: the index is derived data, so the run's rows in
    the dataset say what it held. Kept articles give every key (guid, url, content, bands,
    the file path). Dropped copies give their guid and canonical link; their content hash and,
    for a copy with neither guid nor link, its identity key (it needs the publication date) are
    not in ``duplicates/``: that loses nothing for content and near copies (their text matches
    the kept article's keys) and little for guid/url copies (they match on those).
    Files are found by listing, so compacted files are found too; rows by their ``run_id``.
    """
    entries: dict[tuple[str, str, str], dict[str, Any]] = {}
    kept_paths: dict[str, str] = {}

    def add(kind: str, key: str, article_id: str, path: str, seen_at) -> None:
        entries.setdefault((kind, key, article_id), {"kind": kind, "key": key, "article_id": article_id,
                                                     "path": path, "seen_at": seen_at, "run_id": run_id})

    def read(path: str) -> pa.Table:
        try:
            with FileSystems.open(path) as handle:
                return pq.read_table(handle)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise ValueError(f"{path} is unreadable too: {exc}") from None

    prefix = output.rstrip("/") + "/"
    for path in _files(FileSystems.join(output, "articles", "*", "*.parquet")):
        table = read(path)
        relative = path[len(prefix):] if path.startswith(prefix) else path
        for row in table.filter(pc.equal(table["run_id"], run_id)).to_pylist():
            kept_paths[row["article_id"]] = relative
            for kind, key in cluster_keys((row, []), near):
                add(kind, key, row["article_id"], relative, row["ingested_at"])
    for path in _files(FileSystems.join(output, "duplicates", "*", "*.parquet")):
        table = read(path)
        for row in table.filter(pc.equal(table["run_id"], run_id)).to_pylist():
            kept = kept_paths.get(row["canonical_id"])
            if kept is None:  # dropped against an earlier run's article: that run's entries hold it
                continue
            guid_key = dedup_key({**row, "canonical_url": None, "published_at": None}, "guid") \
                if row.get("guid") else None
            url_key = canonical_url(row["url"]) if row.get("url") else None
            for kind, copy_key in (("guid", guid_key), ("url", url_key)):
                if copy_key:
                    add(kind, copy_key, row["canonical_id"], kept, row["ingested_at"])
    return sorted(entries.values(), key=lambda r: (r["kind"], r["key"], r["article_id"]))
