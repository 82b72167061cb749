"""Row batches: the unit that is validated and written as one Parquet file."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

import schemas
from pipelines.core.records import stable_hash

ID_COLUMNS = {"articles": "article_id", "duplicates": "article_id", "rejects": "reject_id"}
PARQUET_COMPRESSION = "zstd"


@dataclass(frozen=True)
class RowBatch:
    """Rows of one table and one partition, sorted, with an id derived from their content."""

    table: str  # key of schemas.TABLE_SCHEMAS
    partition: str  # Hive-style, e.g. "ingest_date=2026-11-27"
    batch_id: str
    rows: tuple[dict[str, Any], ...]

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table under the table's schema.

        Raises ``ValueError`` on what Arrow itself lets through: a column the schema does
        not have (Arrow would drop it) or a null in a required column.
        """
        schema = schemas.TABLE_SCHEMAS[self.table]
        unknown = set().union(*(row.keys() for row in self.rows)) - set(schema.names)
        if unknown:
            raise ValueError(f"columns not in the {self.table} schema: {sorted(unknown)}")
        table = pa.Table.from_pylist(list(self.rows), schema=schema)
        nulls = [f.name for f in schema if not f.nullable and table.column(f.name).null_count]
        if nulls:
            raise ValueError(f"nulls in required {self.table} columns: {nulls}")
        return table


def partition_of(row: dict[str, Any]) -> str:
    """Hive partition of a row: the UTC date of the run that ingested it."""
    return f"ingest_date={row['ingested_at'].date().isoformat()}"


def shard_of(row: dict[str, Any], table: str, shards: int) -> int:
    """Stable shard of a row: equal ids always land in the same shard (and batch)."""
    return int(row[ID_COLUMNS[table]][:8], 16) % shards


def _sort_key(table: str):
    id_column = ID_COLUMNS[table]
    return lambda row: (row[id_column], repr(sorted(row.items())))


def make_batches(table: str, partition: str, rows: Iterable[dict[str, Any]],
                 batch_size: int) -> list[RowBatch]:
    """Split rows into batches of at most ``batch_size``, in a deterministic order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    ordered = sorted(rows, key=_sort_key(table))
    batches = []
    for start in range(0, len(ordered), batch_size):
        chunk = tuple(ordered[start:start + batch_size])
        batch_id = stable_hash(table, partition, *(row[ID_COLUMNS[table]] for row in chunk), length=16)
        batches.append(RowBatch(table, partition, batch_id, chunk))
    return batches


def tag_rows(batch: RowBatch, names: Sequence[list[str]]) -> RowBatch:
    """``batch`` (same id) with each row's ``failed_expectations`` set: ``names[i]`` for row ``i``."""
    rows = tuple({**row, "failed_expectations": list(found)} for row, found in zip(batch.rows, names, strict=True))
    return RowBatch(batch.table, batch.partition, batch.batch_id, rows)


def take_rows(batch: RowBatch, indices: Sequence[int], role: str,
              failed: Mapping[int, list[str]] | None = None) -> RowBatch:
    """The rows of ``batch`` at ``indices`` as a batch of their own, its id derived from the batch's
    and ``role`` (so the parts of one batch never share a file name); with ``failed``, each row's
    ``failed_expectations`` is set from it."""
    rows = tuple(batch.rows[i] if failed is None else {**batch.rows[i], "failed_expectations": list(failed[i])}
                 for i in indices)
    return RowBatch(batch.table, batch.partition, stable_hash(batch.batch_id, role, length=16), rows)


def quarantined_by(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many of ``rows`` each expectation sent to quarantine (a row may count for several)."""
    counts: dict[str, int] = {}
    for row in rows:
        for name in row.get("failed_expectations") or ():
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def parquet_bytes(table: pa.Table) -> bytes:
    """A complete Parquet file (zstd, schema metadata kept) as bytes."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION)
    return sink.getvalue()
