"""Schema evolution: the current schemas keep every released version readable.

Each released version is frozen in ``schemas/history/<table>-v<N>.json``; the current schemas
may only add nullable columns at the end, and ``SCHEMA_VERSION`` must be bumped (and frozen)
when the columns change. Broken schemas below show that the check can fail. Then v1 files and
current files in one dataset, read with DuckDB (``union_by_name``), pyarrow and pandas.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import schemas
from pipelines.core.batches import parquet_bytes
from schemas.history import current_tables, describe, problems, snapshots

TABLES = current_tables()
SNAPSHOTS = snapshots()
CURRENT = int(schemas.SCHEMA_VERSION)
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def test_every_version_up_to_the_current_one_is_frozen():
    for table in TABLES:
        assert sorted(v for t, v in SNAPSHOTS if t == table) == list(range(1, CURRENT + 1)), table


@pytest.mark.parametrize("table", sorted(TABLES))
def test_current_version_snapshot_is_the_current_schema(table):
    """Columns changed without a bump (or without freezing the new version) fail here."""
    assert SNAPSHOTS[(table, CURRENT)] == describe(TABLES[table]), (
        f"{table} differs from the frozen v{CURRENT}: bump SCHEMA_VERSION and run python -m schemas.history")


@pytest.mark.parametrize("table, version", sorted(SNAPSHOTS))
def test_current_schema_reads_every_released_version(table, version):
    assert problems(SNAPSHOTS[(table, version)], TABLES[table]) == []


def test_v1_is_the_schema_before_the_enrichment_columns():
    v1 = [c["name"] for c in SNAPSHOTS[("articles", 1)]]
    assert v1[-1] == "run_id" and "dateline_country" not in v1
    assert [c["name"] for c in SNAPSHOTS[("articles", 2)]][:len(v1)] == v1


def _replace(schema: pa.Schema, name: str, field: pa.Field) -> pa.Schema:
    return schema.set(schema.get_field_index(name), field)


A = schemas.ARTICLE_SCHEMA
BROKEN = {
    "removed": (A.remove(A.get_field_index("summary")), "removed"),
    "removed last": (A.remove(len(A) - 1), "'failed_expectations' removed"),
    "renamed": (_replace(A, "title", A.field("title").with_name("headline")), "renamed"),
    "retyped": (_replace(A, "word_count", A.field("word_count").with_type(pa.int64())), "retyped"),
    "nested retyped": (_replace(A, "authors", A.field("authors").with_type(pa.list_(pa.string()))), "retyped"),
    "made required": (_replace(A, "url", A.field("url").with_nullable(False)), "made required"),
    "reordered": (pa.schema([A.field("url"), A.field("article_id"), *list(A)[2:]]), "reordered"),
    "new column not at the end": (A.insert(3, pa.field("extra", pa.string())), "go at the end"),
    "new required column": (A.append(pa.field("extra", pa.string(), nullable=False)), "must be nullable"),
}


@pytest.mark.parametrize("change", sorted(BROKEN))
def test_breaking_changes_are_caught(change):
    schema, expected = BROKEN[change]
    found = [problem for version in range(1, CURRENT + 1)
             for problem in problems(SNAPSHOTS[("articles", version)], schema)]
    assert any(expected in problem for problem in found), found


def test_a_nullable_column_at_the_end_is_allowed_but_needs_a_bump():
    grown = A.append(pa.field("sentiment_label", pa.string(), nullable=True))
    assert problems(SNAPSHOTS[("articles", CURRENT)], grown) == []
    assert SNAPSHOTS[("articles", CURRENT)] != describe(grown)  # so the snapshot test above would fail


# --- v1 and current files in one dataset ------------------------------------------------------

V1 = pa.schema([A.field(c["name"]) for c in SNAPSHOTS[("articles", 1)]],
               metadata={"news_ingest.table": "articles", "news_ingest.schema_version": "1"})


def _row(article_id: str, **extra) -> dict:
    row = {name: None for name in A.names}
    row.update(article_id=article_id, source_type="document", title=f"T {article_id}", body="b", authors=[],
               categories=[], ingested_at=NOW, word_count=1, content_hash="c" * 64, cluster_size=1, run_id="r")
    row.update(extra)
    return row


@pytest.fixture
def mixed_dataset(tmp_path):
    old = [_row("a" * 32), _row("b" * 32)]
    new = [_row("c" * 32, dateline_country="AF", reading_time_s=3, persons=["X"])]
    v1_table = pa.Table.from_pylist([{k: r[k] for k in V1.names} for r in old], schema=V1)
    (tmp_path / "articles" / "ingest_date=2025-01-01").mkdir(parents=True)
    (tmp_path / "articles" / "ingest_date=2026-01-02").mkdir(parents=True)
    (tmp_path / "articles/ingest_date=2025-01-01/part-old.parquet").write_bytes(parquet_bytes(v1_table))
    (tmp_path / "articles/ingest_date=2026-01-02/part-new.parquet").write_bytes(
        parquet_bytes(pa.Table.from_pylist(new, schema=A)))
    return tmp_path / "articles"


def test_written_files_carry_their_schema_version(mixed_dataset):
    versions = {p.name: pq.read_metadata(p).metadata[b"news_ingest.schema_version"]
                for p in mixed_dataset.rglob("*.parquet")}
    assert versions == {"part-old.parquet": b"1", "part-new.parquet": schemas.SCHEMA_VERSION.encode()}


def test_duckdb_union_by_name_reads_old_and_new(mixed_dataset):
    rows = duckdb.sql(
        f"select article_id, dateline_country, reading_time_s, persons, ingest_date from read_parquet("
        f"'{mixed_dataset}/**/*.parquet', hive_partitioning=true, union_by_name=true) order by article_id"
    ).fetchall()
    assert [(r[0][0], r[1], r[2], r[3], str(r[4])) for r in rows] == [
        ("a", None, None, None, "2025-01-01"), ("b", None, None, None, "2025-01-01"),
        ("c", "AF", 3, ["X"], "2026-01-02")]


def test_pyarrow_and_pandas_read_old_files_under_the_current_schema(mixed_dataset):
    schema = A.append(pa.field("ingest_date", pa.string()))
    dataset = ds.dataset(mixed_dataset, format="parquet", partitioning="hive", schema=schema)
    table = dataset.to_table().sort_by("article_id")
    assert table.schema.remove(len(A)).equals(A, check_metadata=False)
    assert table.column("dateline_country").to_pylist() == [None, None, "AF"]
    assert table.column("reading_time_s").to_pylist() == [None, None, 3]
    frame = pd.read_parquet(mixed_dataset, schema=schema).sort_values("article_id")
    assert frame["dateline_country"].isna().tolist() == [True, True, False]
    assert list(frame.columns[:len(A)]) == A.names
