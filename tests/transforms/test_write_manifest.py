import json

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.core.manifest import file_record
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


def staged_files(output, run_id):
    """Two staged file records (data + validation each) and one staged index file, as the writers leave them."""
    records = []
    for destination, rows in (("articles", 2), ("duplicates", 1)):
        relative, validation = f"{destination}/d=1/part-{run_id}.parquet", f"_validation/{run_id}/{destination}.json"
        for name in (relative, validation):
            path = output / "_staging" / run_id / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(name)
        records.append(file_record(destination, destination, relative, rows, "b", validation, True, [],
                                   staged=str(output / "_staging" / run_id / relative),
                                   staged_validation=str(output / "_staging" / run_id / validation)))
    index = output / "_staging" / run_id / "index-part.parquet"
    index.write_text("index")
    return [("file", r) for r in records] + [("index", str(index), "_index/part.parquet", 4)]


def visible(output):
    return sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file()
                  and not str(p.relative_to(output)).startswith(("_staging", "_journal")))


def test_a_reconciled_run_commits_its_files_index_and_manifest_together(tmp_path):
    items = [("read", 3)] + staged_files(tmp_path, "r3")
    with TestPipeline() as p:
        p | beam.Create(items) | WriteManifest(str(tmp_path), {"run_id": "r3"})
    assert visible(tmp_path) == ["_index/part.parquet", "_runs/r3.json", "_validation/r3/articles.json",
                                 "_validation/r3/duplicates.json", "articles/d=1/part-r3.parquet",
                                 "duplicates/d=1/part-r3.parquet"]
    manifest = json.loads((tmp_path / "_runs" / "r3.json").read_text())
    assert manifest["status"] == "ok" and manifest["published"] is True
    assert manifest["index_files"] == [{"path": "_index/part.parquet", "rows": 4}]
    assert all("staged" not in key for record in manifest["files"] for key in record)  # private to the commit
    assert not list((tmp_path / "_journal").iterdir())


def test_an_unreconciled_run_publishes_nothing_but_its_failed_manifest(tmp_path):
    items = [("read", 5)] + staged_files(tmp_path, "r4")
    with TestPipeline() as p:
        p | beam.Create(items) | WriteManifest(str(tmp_path), {"run_id": "r4"})
    assert visible(tmp_path) == ["_runs/r4.json"]
    manifest = json.loads((tmp_path / "_runs" / "r4.json").read_text())
    assert manifest["status"] == "failed" and manifest["published"] is False and manifest["index_files"] == []
