import json
import os

import apache_beam as beam
import duckdb
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import RUN_ID, article_row

import schemas
from pipelines import journal
from pipelines.core.batches import make_batches
from pipelines.transforms import WriteParquetBatches


def test_writes_staged_files_that_the_commit_makes_visible(tmp_path):
    rows = [article_row(guid=f"g{i}", url=f"https://example.com/{i}") for i in range(3)]
    batch = make_batches("articles", "ingest_date=2026-11-27", rows, batch_size=10)[0]
    result = {"success": True, "results": [], "summary": {"rows": 3, "failed": []}}
    expected_path = f"articles/ingest_date=2026-11-27/part-{RUN_ID}-{batch.batch_id}.parquet"
    expected_validation = f"_validation/{RUN_ID}/articles-{batch.batch_id}.json"
    staging = tmp_path / "_staging" / RUN_ID
    with TestPipeline() as p:
        written = p | beam.Create([(batch, result)]) | WriteParquetBatches(str(tmp_path), RUN_ID, "articles")
        assert_that(written.files | beam.Map(lambda r: (r["path"], r["rows"], r["validation"], r["destination"],
                                                        r["staged"], r["staged_validation"])),
                    equal_to([(expected_path, 3, expected_validation, "articles", str(staging / expected_path),
                               str(staging / expected_validation))]), label="Files")
        assert_that(written.locations, equal_to([(row["article_id"], expected_path) for row in rows]),
                    label="Locations")
    # nothing is visible before the run's commit: only staged files
    assert not (tmp_path / "articles").exists() and not (tmp_path / "_validation").exists()
    table = pq.read_table(staging / expected_path)
    assert table.schema.equals(schemas.ARTICLE_SCHEMA, check_metadata=False)
    assert table.schema.metadata[b"news_ingest.schema_version"] == schemas.SCHEMA_VERSION.encode()
    assert pq.ParquetFile(staging / expected_path).metadata.row_group(0).column(0).compression == "ZSTD"
    assert sorted(table.column("guid").to_pylist()) == ["g0", "g1", "g2"]
    assert json.loads((staging / expected_validation).read_text())["success"] is True

    renames = [(str(staging / expected_validation), str(tmp_path / expected_validation)),
               (str(staging / expected_path), str(tmp_path / expected_path))]
    journal.commit(str(tmp_path), RUN_ID, renames, {"run_id": RUN_ID}, str(tmp_path / "_runs" / "m.json"))
    count = duckdb.sql(f"select count(*) from read_parquet('{tmp_path}/articles/*/*.parquet', "
                       "hive_partitioning=true) where ingest_date = '2026-11-27'").fetchall()[0][0]
    assert count == 3
    assert json.loads((tmp_path / expected_validation).read_text())["success"] is True
    staged = [f for _, _, files in os.walk(staging) for f in files]
    assert staged == []


def test_quarantine_goes_under_its_table(tmp_path):
    batch = make_batches("articles", "ingest_date=2026-11-27", [article_row()], batch_size=10)[0]
    result = {"success": False, "results": [], "summary": {"rows": 1, "failed": ["x"]}}
    with TestPipeline() as p:
        p | beam.Create([(batch, result)]) | WriteParquetBatches(str(tmp_path), RUN_ID, "quarantine")
    assert list((tmp_path / "_staging" / RUN_ID / "quarantine" / "articles" / "ingest_date=2026-11-27")
                .glob("*.parquet"))
    assert not (tmp_path / "articles").exists() and not (tmp_path / "quarantine").exists()


def test_destination_is_checked():
    with pytest.raises(ValueError):
        WriteParquetBatches("out", RUN_ID, "../elsewhere")
