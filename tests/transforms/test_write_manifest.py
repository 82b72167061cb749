import json

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.transforms import WriteManifest


def test_manifest_reconciles_and_is_written(tmp_path):
    files = [{"destination": "articles", "table": "articles", "path": "articles/a.parquet", "rows": 3},
             {"destination": "duplicates", "table": "duplicates", "path": "duplicates/d.parquet", "rows": 1},
             {"destination": "rejects", "table": "rejects", "path": "rejects/r.parquet", "rows": 1}]
    items = [("read", 2), ("read", 3)] + [("file", f) for f in files] + [("feed", {"feed": "/f.rss", "status": "ok"})]
    with TestPipeline() as p:
        p | beam.Create(items) | WriteManifest(str(tmp_path), {"run_id": "r1"})
    manifest = json.loads((tmp_path / "_runs" / "r1.json").read_text())
    assert manifest["status"] == "ok" and manifest["reconciled"] is True
    assert manifest["counts"] == {"read": 5, "written": 3, "duplicates": 1, "rejected": 1, "quarantined": 0}
    assert [f["path"] for f in manifest["files"]] == ["articles/a.parquet", "duplicates/d.parquet",
                                                      "rejects/r.parquet"]


def test_counts_that_do_not_add_up_fail_the_run(tmp_path):
    items = [("read", 4), ("file", {"destination": "articles", "path": "a", "rows": 3})]
    with TestPipeline() as p:
        p | beam.Create(items) | WriteManifest(str(tmp_path), {"run_id": "r2"})
    manifest = json.loads((tmp_path / "_runs" / "r2.json").read_text())
    assert manifest["status"] == "failed"
    assert "read 4, accounted 3" in manifest["error"]
