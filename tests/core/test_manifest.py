"""core.manifest: file records and the run manifest with counts that reconcile."""

import json

import pytest

from pipelines.core.manifest import (
    COUNT_OF_DESTINATION,
    STATUS_FAILED,
    STATUS_OK,
    STATUS_QUARANTINED,
    build_manifest,
    file_record,
)

HEADER = {"run_id": "run-1", "started_at": "2026-01-02T03:04:05+00:00", "inputs": {"documents": "seeds/documents"}}
FINISHED = "2026-01-02T03:05:00+00:00"


def record(destination, rows, path=None, table=None, success=True, failed=()):
    table = table or {"articles": "articles", "duplicates": "duplicates", "rejects": "rejects",
                      "quarantine": "articles"}[destination]
    path = path or f"{destination}/ingest_date=2026-01-02/{table}-{rows}.parquet"
    return file_record(destination, table, path, rows, f"batch-{path}", "validation.json", success, list(failed))


def test_counts_come_from_file_records():
    files = [record("articles", 7, "articles/a.parquet"), record("articles", 3, "articles/b.parquet"),
             record("duplicates", 4), record("rejects", 2)]
    manifest = build_manifest(HEADER, 16, files, [], FINISHED)
    assert manifest["counts"] == {"read": 16, "written": 10, "duplicates": 4, "rejected": 2, "quarantined": 0}
    assert manifest["reconciled"] is True
    assert manifest["status"] == STATUS_OK == "ok"
    assert manifest["error"] is None


def test_empty_run_reconciles():
    manifest = build_manifest(HEADER, 0, [], [], FINISHED)
    assert manifest["status"] == STATUS_OK and manifest["reconciled"] is True
    assert manifest["files"] == [] and manifest["feeds"] == []
    assert manifest["counts"] == {"read": 0, "written": 0, "duplicates": 0, "rejected": 0, "quarantined": 0}


def test_quarantined_rows_make_the_run_quarantined():
    files = [record("articles", 5), record("quarantine", 3, success=False, failed=["expect_x"])]
    manifest = build_manifest(HEADER, 8, files, [], FINISHED)
    assert manifest["counts"]["quarantined"] == 3 and manifest["counts"]["written"] == 5
    assert manifest["reconciled"] is True
    assert manifest["status"] == STATUS_QUARANTINED == "quarantined"


@pytest.mark.parametrize("read", [9, 7, 0])
def test_counts_that_do_not_add_up_fail_the_run(read):
    files = [record("articles", 5), record("rejects", 3)]
    manifest = build_manifest(HEADER, read, files, [], FINISHED)
    assert manifest["reconciled"] is False
    assert manifest["status"] == STATUS_FAILED == "failed"
    assert manifest["error"] == f"counts do not reconcile: read {read}, accounted 8"


def test_failed_beats_quarantined():
    files = [record("quarantine", 3)]
    assert build_manifest(HEADER, 4, files, [], FINISHED)["status"] == STATUS_FAILED


def test_files_and_feeds_are_sorted():
    files = [record("rejects", 1, "rejects/z.parquet"), record("articles", 1, "articles/a.parquet"),
             record("duplicates", 1, "duplicates/m.parquet")]
    feeds = [{"feed": "https://z.example/rss", "status": "ok"}, {"feed": "/a/world.rss", "status": "error"}]
    manifest = build_manifest(HEADER, 3, files, feeds, FINISHED)
    assert [f["path"] for f in manifest["files"]] == ["articles/a.parquet", "duplicates/m.parquet",
                                                      "rejects/z.parquet"]
    assert [f["feed"] for f in manifest["feeds"]] == ["/a/world.rss", "https://z.example/rss"]


def test_manifest_is_independent_of_file_order():
    files = [record("articles", 2, "articles/b.parquet"), record("articles", 1, "articles/a.parquet"),
             record("rejects", 1)]
    assert build_manifest(HEADER, 4, files, [], FINISHED) == build_manifest(HEADER, 4, files[::-1], [], FINISHED)


def test_manifest_is_json_serialisable():
    manifest = build_manifest(HEADER, 1, [record("articles", 1)], [{"feed": "x", "status": "ok", "bozo": None}], FINISHED)
    assert json.loads(json.dumps(manifest)) == manifest


def test_every_destination_has_a_count():
    assert set(COUNT_OF_DESTINATION) == {"articles", "duplicates", "rejects", "quarantine"}
    for destination, count in COUNT_OF_DESTINATION.items():
        manifest = build_manifest(HEADER, 2, [record(destination, 2)], [], FINISHED)
        assert manifest["counts"][count] == 2 and manifest["reconciled"]


def test_unknown_destination_is_an_error():
    with pytest.raises(KeyError):
        build_manifest(HEADER, 1, [file_record("elsewhere", "articles", "x", 1, "b", None, True, [])], [], FINISHED)


def test_manifest_says_which_expectations_sent_how_many_rows_to_quarantine():
    def quarantine(rows, by):
        return file_record("quarantine", "articles", f"quarantine/articles/x/{rows}.parquet", rows, f"b{rows}",
                           "v.json", False, sorted(by), quarantined_by=by)

    files = [record("articles", 5), quarantine(2, {"expect_a(c)": 2, "expect_b(d)": 1}),
             quarantine(3, {"expect_a(c)": 3})]
    manifest = build_manifest(HEADER, 10, files, [], FINISHED)
    assert manifest["counts"]["quarantined"] == 5 and manifest["reconciled"] is True
    assert manifest["quarantined_by"] == {"expect_a(c)": 5, "expect_b(d)": 1}
    assert {f["path"]: f["quarantined_by"] for f in manifest["files"]}["quarantine/articles/x/2.parquet"] == {
        "expect_a(c)": 2, "expect_b(d)": 1}
    assert build_manifest(HEADER, 5, files[:1], [], FINISHED)["quarantined_by"] == {}
