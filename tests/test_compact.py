"""news-ingest compact on real runs' output: same rows, fewer files, index still valid, a record,
the lock, crash recovery, and readers (DuckDB, pyarrow) looping during repeated compactions."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from conftest import EVENT_TIMEOUT, files_under, wait_until
from test_readers import committed_manifests, multi_run_output, run_cli

from pipelines import compact as compaction
from pipelines.core.near_dedupe import NearConfig, pack_sketch, sketch
from pipelines.lock import LockBusy, OutputLock
from pipelines.transforms.seen_index import VerifyEarlierFileFn
from schemas import SCHEMA_VERSION

pytestmark = pytest.mark.slow  # three real CLI runs to compact (multi_run_output), more CLI runs

LATER = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)  # today's partitions are closed then


@pytest.fixture
def output(tmp_path_factory, tmp_path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(multi_run_output(tmp_path_factory), copy)
    return copy


def rows(output: Path, table: str) -> list[tuple]:
    return sorted(duckdb.sql(f"select * exclude (ingest_date) from read_parquet('{output}/{table}/**/*.parquet', "
                             f"hive_partitioning=true)").fetchall(), key=repr)


def data_files(output: Path) -> list[str]:
    return sorted(str(p.relative_to(output)) for t in compaction.TABLES for p in (output / t).rglob("*.parquet"))


def test_compaction_keeps_the_rows_and_merges_the_files(output):
    before = {t: rows(output, t) for t in ("articles", "duplicates")}
    files_before = data_files(output)
    record = compaction.compact(str(output), dt.timedelta(0), now=LATER)
    assert {t: rows(output, t) for t in ("articles", "duplicates")} == before
    assert len(data_files(output)) == len(record["partitions"]) < len(files_before)
    assert sorted(record["files_removed"]) == files_before
    assert record["rows_before"] == record["rows_after"] == sum(len(r) for r in before.values())
    saved = json.loads((output / "_runs" / f"{record['run_id']}.json").read_text())
    assert saved["kind"] == "compaction" and saved["files_added"] == record["files_added"]
    # manifests + compaction records still name exactly the files on disk, and the counts add up
    assert compaction.live_files(str(output)) == data_files(output)
    assert len(before["articles"]) == sum(m["counts"]["written"] for m in committed_manifests(output))
    for path in data_files(output):  # merged files keep the schema version in their metadata
        assert pq.read_metadata(output / path).metadata[b"news_ingest.schema_version"] == SCHEMA_VERSION.encode()
    # nothing left over but the retired files (kept for the grace period)
    assert files_under(output / "_staging", "*.parquet") == []
    assert not list((output / "_compact").rglob("plan.json"))
    again = compaction.compact(str(output), dt.timedelta(0), now=LATER, grace=dt.timedelta(0))
    assert again["partitions"] == [] and again["purged"] == [record["run_id"]]
    assert not (output / "_compact" / record["run_id"]).exists()


def test_open_partitions_are_left_alone(output):
    record = compaction.compact(str(output), dt.timedelta(days=1))  # today's partition is open
    assert record["partitions"] == [] and not list((output / "_runs").glob("compact-*.json"))


def assert_index_lookups_work(output: Path) -> None:
    near = NearConfig()
    index = ds.dataset(output / "_index", format="parquet").to_table().to_pylist()
    assert index
    for entry in index:
        path = output / entry["path"]
        assert path.exists(), entry["path"]
        assert entry["article_id"] in pq.read_table(path, columns=["article_id"]).column(0).to_pylist()
    # the real lookup later runs use for near matches
    band = next(e for e in index if e["kind"] == "band")
    rows = pq.read_table(output / band["path"], columns=["article_id", "body"]).to_pylist()
    body = next(row["body"] for row in rows if row["article_id"] == band["article_id"])
    same_text = pack_sketch(sketch("new", body, near))
    found = list(VerifyEarlierFileFn(str(output), near).process(
        (band["path"], [("pair", "new", band["article_id"]), ("sketch", "new", same_text)])))
    assert [(cid, kind, old_id) for cid, (kind, old_id, _) in found] == [("new", "near", band["article_id"])]


def test_seen_index_points_at_the_compacted_files(output):
    record = compaction.compact(str(output), dt.timedelta(0), now=LATER)
    assert record["index_files_rewritten"]
    assert_index_lookups_work(output)
    metadata = [pq.read_metadata(output / p).metadata for p in record["index_files_rewritten"]]
    assert all(b"news_ingest.near" in m for m in metadata)  # near parameters kept


def test_a_run_after_compaction_still_sees_everything_as_seen(output, tmp_path_factory):
    compaction.compact(str(output), dt.timedelta(0), now=LATER)
    corpus = multi_run_output(tmp_path_factory).parent / "corpus"
    result = run_cli("run", "--seeds", str(corpus), "--output", str(output), "--enrich", "core",
                     "--run-id", "r4", "-q")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((output / "_runs" / "r4.json").read_text())
    assert manifest["counts"]["written"] == 0 and "missing file" not in result.stderr


def test_cli_compact_and_lock(output):
    with OutputLock(str(output), owner="test"):
        busy = run_cli("compact", "--output", str(output), "--older-than", "0", "--now", LATER.isoformat())
        assert busy.returncode == 75 and len(busy.stderr.strip().splitlines()) == 1, busy.stderr
        with pytest.raises(LockBusy):
            compaction.compact(str(output), dt.timedelta(0), now=LATER)
    done = run_cli("compact", "--output", str(output), "--older-than", "0", "--now", LATER.isoformat())
    assert done.returncode == 0, done.stderr
    assert "compact compact-" in done.stdout and "rows" in done.stdout
    nothing = run_cli("compact", "--output", str(output), "--older-than", "0", "--now", LATER.isoformat())
    assert nothing.returncode == 0 and "nothing to compact" in nothing.stdout


@pytest.mark.parametrize("fault, completed_by", [("compact-after-plan", "run"), ("compact-mid-exchange", "compact")])
def test_a_killed_compaction_is_completed_by_the_next(output, fault, completed_by, tmp_path_factory):
    before = {t: rows(output, t) for t in ("articles", "duplicates")}
    killed = subprocess.run(
        [sys.executable, "-m", "pipelines", "compact", "--output", str(output), "--older-than", "0",
         "--now", LATER.isoformat()], env={**os.environ, "NEWS_INGEST_FAULT": fault},
        capture_output=True, text=True, timeout=300)
    assert killed.returncode == 137, killed.stderr
    assert {t: rows(output, t) for t in ("articles", "duplicates")} == before  # readable meanwhile
    if completed_by == "compact":
        record = compaction.compact(str(output), dt.timedelta(0), now=LATER)
        assert len(record["recovered"]) == 1
    else:  # a pipeline run finishes it under the lock before it reads anything
        corpus = multi_run_output(tmp_path_factory).parent / "corpus"
        result = run_cli("run", "--seeds", str(corpus), "--output", str(output), "--enrich", "core",
                         "--run-id", "r5", "-q")
        assert result.returncode == 0, result.stderr
        manifest = json.loads((output / "_runs" / "r5.json").read_text())
        assert [r for r in manifest["recovered"] if r.startswith("compaction:")]
        assert manifest["counts"]["written"] == 0
        assert [row for row in rows(output, "duplicates") if "r5" not in row] == before["duplicates"]
        before["duplicates"] = rows(output, "duplicates")  # plus r5's: every record of it is a duplicate
    assert {t: rows(output, t) for t in ("articles", "duplicates")} == before
    assert compaction.live_files(str(output)) == data_files(output)
    assert_index_lookups_work(output)


READER = textwrap.dedent("""
    import json, os, sys, duckdb, pyarrow.dataset as ds
    root, stop = sys.argv[1], sys.argv[2]
    con = duckdb.connect()
    while not os.path.exists(stop):
        for reader in ("duckdb", "pyarrow"):
            try:
                if reader == "duckdb":
                    ids = [r[0] for r in con.sql(f"select article_id from read_parquet('{root}/articles/**/*.parquet', "
                                                 f"hive_partitioning=true)").fetchall()]
                else:
                    ids = ds.dataset(root + "/articles", format="parquet", partitioning="hive").to_table(
                        columns=["article_id"]).column(0).to_pylist()
                print(json.dumps({"reader": reader, "ids": sorted(ids)}), flush=True)
            except Exception as exc:  # a file listed before a swap and opened after it: loud, never wrong
                print(json.dumps({"reader": reader, "error": str(exc)[:300]}), flush=True)
""")


class Lines(threading.Thread):
    """Collects the lines a stream gives, as they come."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream, self.lines = stream, []

    def run(self) -> None:
        for line in self.stream:
            self.lines.append(line)


def test_readers_never_see_a_row_twice_or_miss_one_during_compactions(output, tmp_path):
    expected = sorted(r[0] for r in duckdb.sql(
        f"select article_id from read_parquet('{output}/articles/**/*.parquet')").fetchall())
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(output), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = Lines(reader.stdout), Lines(reader.stderr)
    out.start(), err.start()
    compactions, now = 0, LATER
    try:
        # both readers have read once before the first compaction, and at least one more read
        # happens between two compactions (however slow the reader starts or reads)
        assert wait_until(lambda: len(out.lines) >= 2, process=reader), f"the reader never read: {err.lines}"
        for round_ in range(12):  # alternate file sizes so every round rewrites the partition
            now += dt.timedelta(seconds=2)
            record = compaction.compact(str(output), dt.timedelta(0), tables=["articles"], now=now,
                                        max_rows=5 + round_ % 2 * 3, grace=dt.timedelta(seconds=3))
            compactions += bool(record["partitions"])
            reads_so_far = len(out.lines)
            assert wait_until(lambda n=reads_so_far: len(out.lines) > n, process=reader), \
                f"the reader stopped reading: {err.lines}"
    finally:
        stop.touch()
        try:
            reader.wait(timeout=EVENT_TIMEOUT)
        finally:
            reader.kill()  # only if it did not stop by itself
            out.join(timeout=EVENT_TIMEOUT), err.join(timeout=EVENT_TIMEOUT)
            reader.stdout.close(), reader.stderr.close()
    results = [json.loads(line) for line in out.lines]
    stderr = "".join(err.lines)
    reads = [r for r in results if "ids" in r]
    errors = [r["error"] for r in results if "error" in r]
    assert compactions == 12
    assert {r["reader"] for r in reads} == {"duckdb", "pyarrow"}, stderr
    wrong = [r for r in reads if r["ids"] != expected]
    assert not wrong, f"{len(wrong)} of {len(reads)} reads saw another row set"
    assert all("No such file" in e or "not found" in e.lower() for e in errors), errors
    print(f"{len(reads)} consistent reads, {len(errors)} failed loudly (file listed before a swap)")


def _compact_cli(output: Path, fault: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines", "compact", "--output", str(output), "--older-than", "0",
                           "--now", LATER.isoformat()], env={**os.environ, "NEWS_INGEST_FAULT": fault},
                          capture_output=True, text=True, timeout=300)


def test_a_filesystem_without_rename_exchange_is_refused_before_any_plan(output):
    """NFS and the like answer renameat2(RENAME_EXCHANGE) with EINVAL (simulated): refused in one line
    before anything is staged, no plan left behind to wedge later runs and compactions."""
    before, files = {t: rows(output, t) for t in ("articles", "duplicates")}, data_files(output)
    refused = _compact_cli(output, "compact-exchange-einval")
    assert refused.returncode == 1, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot exchange directories atomically" in lines[0], refused.stderr
    assert "RENAME_EXCHANGE" in lines[0]
    assert not (output / "_compact").exists() or not any((output / "_compact").iterdir()), \
        sorted((output / "_compact").rglob("*"))  # not even an empty plan folder
    assert data_files(output) == files and {t: rows(output, t) for t in ("articles", "duplicates")} == before
    assert _compact_cli(output).returncode == 0  # nothing wedged


def test_a_plan_whose_first_exchange_fails_is_abandoned(output):
    """A plan written where the exchange then fails (an output moved to NFS, EXDEV, a plan of an older
    version) is abandoned, not rolled forward forever: nothing of it was visible."""
    before, files = {t: rows(output, t) for t in ("articles", "duplicates")}, data_files(output)
    killed = _compact_cli(output, "compact-after-plan")
    assert killed.returncode == 137, killed.stderr
    [plan] = list((output / "_compact").rglob("plan.json"))
    compact_id = plan.parent.name
    refused = _compact_cli(output, "compact-exchange-einval")
    assert refused.returncode == 1, refused.stderr
    assert f"compaction {compact_id} abandoned" in refused.stderr
    assert not (output / "_compact" / compact_id).exists()
    assert not list((output / "_compact").rglob("plan.json"))
    assert data_files(output) == files and {t: rows(output, t) for t in ("articles", "duplicates")} == before
    done = _compact_cli(output)
    assert done.returncode == 0, done.stderr
    assert {t: rows(output, t) for t in ("articles", "duplicates")} == before
    assert compaction.live_files(str(output)) == data_files(output)


def test_a_run_goes_on_when_a_pending_compaction_cannot_be_finished(output, tmp_path_factory):
    """Half a compaction swapped, and the other exchanges fail: the run logs it, lists it in its
    manifest and commits all the same (readers still see every row once)."""
    before = {t: rows(output, t) for t in ("articles", "duplicates")}
    killed = _compact_cli(output, "compact-mid-exchange")
    assert killed.returncode == 137, killed.stderr
    [plan] = list((output / "_compact").rglob("plan.json"))
    corpus = multi_run_output(tmp_path_factory).parent / "corpus"
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "run", "--seeds", str(corpus), "--output", str(output),
         "--enrich", "core", "--run-id", "r6", "--no-feed-state", "-q"],
        env={**os.environ, "NEWS_INGEST_FAULT": "compact-exchange-einval"}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"could not finish the interrupted compaction {plan.parent.name}" in result.stderr
    manifest = json.loads((output / "_runs" / "r6.json").read_text())
    [failed] = [r for r in manifest["recovered"] if r.startswith("compaction-failed:")]
    assert failed.startswith(f"compaction-failed:{plan.parent.name}: ") and "cannot exchange" in failed
    assert manifest["status"] == "ok" and manifest["counts"]["written"] == 0
    assert plan.exists()  # kept: one partition is swapped, `compact` finishes it where exchanges work
    assert rows(output, "articles") == before["articles"]  # each row once


def test_an_unreadable_index_file_does_not_stop_compaction(output, caplog):
    """rewrite_index skips a seen-index file it cannot read (the next pipeline run rebuilds it)."""
    broken = sorted((output / "_index").glob("*.parquet"))[0]
    broken.write_bytes(b"PAR1 cut short")
    with caplog.at_level("WARNING", logger="news_ingest"):
        record = compaction.compact(str(output), dt.timedelta(0), now=LATER)
    assert record["partitions"] and f"_index/{broken.name}" not in record["index_files_rewritten"]
    assert broken.read_bytes() == b"PAR1 cut short"
    assert any(broken.name in r.getMessage() and "unreadable" in r.getMessage() for r in caplog.records)
