"""Several real CLI runs into one output, read back the way downstream users read it:
DuckDB (hive_partitioning), pyarrow.dataset and pandas. Each article once, counts equal to the
committed manifests' sums, types as the schema says, schema_version in every file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, SEEDS

import schemas

pytestmark = pytest.mark.slow  # three real CLI runs (multi_run_output) before the first test

CLI = Path(sys.executable).with_name("news-ingest")
COUNT_OF_TABLE = {"articles": "written", "duplicates": "duplicates", "rejects": "rejected"}
_BUILT: dict[str, Path] = {}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "pipelines"]
    return subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def multi_run_output(tmp_path_factory) -> Path:
    """Built once per session (test_compact copies it): three runs into one output.

    r1: the bundled seeds; r2: a generated corpus with exact and near copies, small batches
    (many files); r3: the same corpus again, so every record is a cross-run duplicate.
    """
    if "out" not in _BUILT:
        from benchmarks.corpus import CorpusSpec, write_corpus

        base = tmp_path_factory.mktemp("multi_run")
        corpus = base / "corpus"
        write_corpus(CorpusSpec(records=60, entries_per_feed=20, seed=11), corpus)
        output = base / "out"
        for run_id, seeds, batch in (("r1", SEEDS, "4"), ("r2", corpus, "7"), ("r3", corpus, "7")):
            result = run_cli("run", "--seeds", str(seeds), "--output", str(output), "--enrich", "core",
                             "--run-id", run_id, "--batch-size", batch, "-q")
            assert result.returncode == 0, result.stderr
        _BUILT["out"] = output
    return _BUILT["out"]


def committed_manifests(output: Path) -> list[dict]:
    manifests = [json.loads(p.read_text()) for p in sorted((output / "_runs").glob("*.json"))]
    return [m for m in manifests if m.get("kind") != "compaction" and m["status"] in ("ok", "quarantined")]


def duck(output: Path, table: str, select: str = "*") -> duckdb.DuckDBPyRelation:
    return duckdb.sql(f"select {select} from read_parquet('{output}/{table}/**/*.parquet', hive_partitioning=true)")


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Path:
    return multi_run_output(tmp_path_factory)


def test_runs_committed_and_third_run_wrote_only_duplicates(output):
    manifests = {m["run_id"]: m for m in committed_manifests(output)}
    assert set(manifests) == {"r1", "r2", "r3"}
    assert manifests["r2"]["counts"]["written"] > 40
    assert manifests["r3"]["counts"]["written"] == 0
    assert manifests["r3"]["counts"]["duplicates"] == manifests["r3"]["counts"]["read"]


@pytest.mark.parametrize("table", ["articles", "duplicates", "rejects"])
def test_every_reader_sees_the_sum_of_the_manifests(output, table):
    expected = sum(m["counts"][COUNT_OF_TABLE[table]] for m in committed_manifests(output))
    if not (output / table).exists():
        assert expected == 0
        return
    assert duck(output, table, "count(*)").fetchall()[0][0] == expected
    assert ds.dataset(output / table, format="parquet", partitioning="hive").count_rows() == expected
    assert len(pd.read_parquet(output / table)) == expected


def test_each_article_exactly_once(output):
    ids = [row[0] for row in duck(output, "articles", "article_id").fetchall()]
    assert len(ids) == len(set(ids)) > 0
    frame = pd.read_parquet(output / "articles")
    assert frame["article_id"].is_unique and set(frame["article_id"]) == set(ids)
    # every duplicate points at one article a reader can see
    dangling = duckdb.sql(
        f"select count(*) from read_parquet('{output}/duplicates/**/*.parquet') d anti join "
        f"read_parquet('{output}/articles/**/*.parquet') a on d.canonical_id = a.article_id").fetchall()[0][0]
    assert dangling == 0


def test_files_on_disk_are_the_manifests_files(output):
    listed = sorted(f["path"] for m in committed_manifests(output) for f in m["files"])
    on_disk = sorted(str(p.relative_to(output)) for p in output.rglob("*.parquet")
                     if not str(p.relative_to(output)).startswith("_"))
    assert on_disk == listed


@pytest.mark.parametrize("table", ["articles", "duplicates", "rejects"])
def test_every_file_carries_the_schema_and_its_version(output, table):
    files = list((output / table).rglob("*.parquet"))
    for path in files:
        metadata = pq.read_metadata(path).metadata  # the file's key-value metadata
        assert metadata[b"news_ingest.schema_version"] == schemas.SCHEMA_VERSION.encode()
        assert metadata[b"news_ingest.table"] == table.encode()
        assert pq.read_schema(path).equals(schemas.TABLE_SCHEMAS[table], check_metadata=False)


def duckdb_type(type_: pa.DataType) -> str:
    """The DuckDB type a reader gets for an Arrow type of our schemas."""
    if pa.types.is_string(type_):
        return "VARCHAR"
    if pa.types.is_list(type_):
        return duckdb_type(type_.value_type) + "[]"
    if pa.types.is_struct(type_):
        return "STRUCT(" + ", ".join(f"{f.name} {duckdb_type(f.type)}" for f in type_) + ")"
    return {pa.int32(): "INTEGER", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN", pa.binary(): "BLOB",
            pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE"}[type_]


def test_duckdb_types_are_the_schemas(output):
    for table in ("articles", "duplicates"):
        rows = duckdb.sql(f"describe select * from read_parquet('{output}/{table}/**/*.parquet', "
                          f"hive_partitioning=true)").fetchall()
        described = {name: type_.replace('"', "") for name, type_, *_ in rows}  # DuckDB quotes "text"
        expected = {f.name: duckdb_type(f.type) for f in schemas.TABLE_SCHEMAS[table]}
        assert {k: described[k] for k in expected} == expected
        assert described["ingest_date"] == "DATE"  # the partition key, from the path
        assert list(described) == [*expected, "ingest_date"]


def test_pyarrow_and_pandas_types_are_the_schemas(output):
    table = ds.dataset(output / "articles", format="parquet", partitioning="hive").to_table()
    assert table.schema.remove(table.schema.get_field_index("ingest_date")).equals(
        schemas.ARTICLE_SCHEMA, check_metadata=False)
    frame = pd.read_parquet(output / "articles", dtype_backend="pyarrow")
    for field in schemas.ARTICLE_SCHEMA:
        assert frame[field.name].dtype == pd.ArrowDtype(field.type), field.name
    plain = pd.read_parquet(output / "articles")  # numpy-backed defaults readers most often use
    assert str(plain["published_at"].dtype) == "datetime64[us, UTC]"
    assert str(plain["word_count"].dtype) == "int32"

