"""Quarantine holds the rows that broke an expectation, each naming it; ids tell input records apart.

The real CLI in a subprocess, real GX suites (the bundled ones, or a copy with one expectation more
passed with --expectations), the output read back with DuckDB and pyarrow.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest
from conftest import FIXTURES, ROOT, SEEDS, assert_reconciles, files_under

from expectations import SUITES_DIR

CLI = Path(sys.executable).with_name("news-ingest")
CORPUS = FIXTURES / "feedparser_corpus"
FRENCH_ONLY_SET = "expect_column_values_to_be_in_set(language)"
ROW_COUNT = "expect_table_row_count_to_be_between()"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "pipelines"]
    return subprocess.run([*command, "run", "--enrich", "core", "--no-seen-index", "--no-feed-state", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def manifest_of(output: Path) -> dict:
    [path] = (output / "_runs").glob("*.json")
    return json.loads(path.read_text())


def rows(output: Path, folder: str, columns: str = "*") -> list[dict]:
    if not files_under(output / folder, "*.parquet"):
        return []
    relation = duckdb.sql(f"select {columns} from read_parquet('{output}/{folder}/**/*.parquet')")
    return [dict(zip(relation.columns, values)) for values in relation.fetchall()]


def assert_quarantine_reconciles(output: Path, manifest: dict) -> None:
    assert_reconciles(output, manifest)
    counts = manifest["counts"]
    assert sum(manifest["quarantined_by"].values()) >= counts["quarantined"]
    assert bool(manifest["quarantined_by"]) == bool(counts["quarantined"])


def suites_with(folder: Path, table: str, expectation: dict) -> Path:
    """A copy of the bundled suites with one more expectation for ``table``."""
    shutil.copytree(SUITES_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    suite = json.loads((folder / f"{table}.json").read_text())
    suite["expectations"].append(expectation)
    (folder / f"{table}.json").write_text(json.dumps(suite))
    return folder


@pytest.mark.slow
def test_identical_broken_entries_are_two_rejects_with_two_ids(tmp_path):
    untitled = "<item><description>The same text, no title.</description></item>"
    feed = tmp_path / "twins.rss"
    feed.write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>Twins</title>'
                    f"{untitled}<item><title>A story</title><link>https://example.com/a</link>"
                    f"<description>Text.</description></item>{untitled}</channel></rss>")
    (tmp_path / "feeds.yaml").write_text("feeds:\n  - twins.rss\n")
    output = tmp_path / "out"

    result = run_cli("--no-documents", "--feed-list", str(tmp_path / "feeds.yaml"), "--output", str(output), "-q")

    assert result.returncode == 0, result.stderr
    manifest = manifest_of(output)
    assert manifest["status"] == "ok"
    assert manifest["counts"] == {"read": 3, "written": 1, "duplicates": 0, "rejected": 2, "quarantined": 0}
    assert_quarantine_reconciles(output, manifest)
    rejects = rows(output, "rejects", "reject_id, reason, position, payload")
    assert sorted((r["reason"], r["position"]) for r in rejects) == [("MISSING_TITLE", 0), ("MISSING_TITLE", 2)]
    assert len({r["reject_id"] for r in rejects}) == 2
    assert not (output / "quarantine").exists()


@pytest.mark.slow
def test_only_the_row_breaking_a_value_set_is_quarantined(tmp_path):
    """A suite of one's own refuses French: the seeds' one French article goes to quarantine alone,
    naming the expectation; the rest of its batch is written."""
    from schemas.rules import LANGUAGES

    suites = suites_with(tmp_path / "suites", "articles", {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "language", "value_set": [code for code in LANGUAGES if code != "fr"]}})
    output = tmp_path / "out"

    result = run_cli("--seeds", str(SEEDS), "--output", str(output), "--expectations", str(suites), "--shards", "1")

    assert result.returncode == 3, result.stderr
    manifest = manifest_of(output)
    assert manifest["status"] == "quarantined"
    assert manifest["counts"] == {"read": 18, "written": 9, "duplicates": 8, "rejected": 0, "quarantined": 1}
    assert manifest["quarantined_by"] == {FRENCH_ONLY_SET: 1}
    assert_quarantine_reconciles(output, manifest)
    [row] = rows(output, "quarantine/articles", "language, failed_expectations, title")
    assert row["language"] == "fr" and row["failed_expectations"] == [FRENCH_ONLY_SET]
    assert all(r["language"] != "fr" and r["failed_expectations"] is None
               for r in rows(output, "articles", "language, failed_expectations"))
    # pyarrow reads quarantine under the table's schema
    table = ds.dataset(output / "quarantine" / "articles", format="parquet", partitioning="hive").to_table()
    assert table.column("failed_expectations").to_pylist() == [[FRENCH_ONLY_SET]]
    # both validation results are kept: the batch's, naming the row, and the rest's, written
    [quarantined] = [f for f in manifest["files"] if f["destination"] == "quarantine"]
    [written] = [f for f in manifest["files"] if f["destination"] == "articles"]
    first = json.loads((output / quarantined["validation"]).read_text())
    second = json.loads((output / written["validation"]).read_text())
    [failed] = [item for item in first["results"] if not item["success"]]
    assert len(failed["result"]["unexpected_index_list"]) == 1 and first["summary"]["rows"] == 10
    assert second["success"] and second["summary"]["rows"] == 9
    assert second["summary"]["split_from"] == first["summary"]["batch_id"]
    assert quarantined["quarantined_by"] == {FRENCH_ONLY_SET: 1} and written["validation_success"]
    assert f"quarantined by: {FRENCH_ONLY_SET} 1" in result.stdout


@pytest.mark.slow
def test_a_failed_aggregate_expectation_quarantines_the_whole_batch(tmp_path):
    suites = suites_with(tmp_path / "suites", "articles", {
        "type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 5}})
    output = tmp_path / "out"

    result = run_cli("--seeds", str(SEEDS), "--output", str(output), "--expectations", str(suites), "--shards", "1")

    assert result.returncode == 3, result.stderr
    manifest = manifest_of(output)
    assert manifest["counts"] == {"read": 18, "written": 0, "duplicates": 8, "rejected": 0, "quarantined": 10}
    assert manifest["quarantined_by"] == {ROW_COUNT: 10}
    assert_quarantine_reconciles(output, manifest)
    assert not (output / "articles").exists()
    quarantined = rows(output, "quarantine/articles", "failed_expectations")
    assert [r["failed_expectations"] for r in quarantined] == [[ROW_COUNT]] * 10
    [record] = [f for f in manifest["files"] if f["destination"] == "quarantine"]
    assert record["failed_expectations"] == [ROW_COUNT] and record["rows"] == 10


@pytest.mark.slow
def test_feedparser_corpus_puts_at_most_one_percent_in_quarantine(tmp_path):
    """feedparser's own odd feeds (a sample, tests/fixtures/feedparser_corpus): every record is
    written, a duplicate or a reject with its reason; no correctly handled one is quarantined."""
    output = tmp_path / "out"

    result = run_cli("--no-documents", "--feed-list", str(CORPUS / "feeds.yaml"), "--output", str(output), "-q")

    assert result.returncode in (0, 3), result.stderr
    manifest = manifest_of(output)
    counts = manifest["counts"]
    assert_quarantine_reconciles(output, manifest)
    assert counts["read"] >= 150 and counts["rejected"] >= 50  # the corpus is odd: many records refused
    assert counts["quarantined"] <= counts["read"] // 100, manifest["quarantined_by"]
    assert result.returncode == (3 if counts["quarantined"] else 0)
    rejects = rows(output, "rejects", "reject_id, reason, source, position")
    assert len({r["reject_id"] for r in rejects}) == len(rejects)
    twins = [r for r in rejects if r["source"].endswith("entry_content_xml_lang_blank_3.xml")]
    assert sorted((r["reason"], r["position"]) for r in twins) == [("MISSING_TITLE", 0), ("MISSING_TITLE", 1)]
