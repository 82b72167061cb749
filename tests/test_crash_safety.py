"""Scheduled runs killed at any moment: real CLI processes, SIGKILL, a reader watching the output.

One output goes through: a run that dies in the middle of its commit's renames (the
test-only fault point ``NEWS_INGEST_FAULT=journal-mid-rename``, an ``os._exit(137)``), a run
SIGKILLed as soon as it has staged a file, a run SIGKILLed after a random delay, and a
clean run. Meanwhile a watcher reads every Parquet file that appears under a data folder.
At the end the articles must be exactly those of an uninterrupted reference run: the same
ids, each exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import EVENT_TIMEOUT, ROOT, files_under, wait_until

from benchmarks.corpus import CorpusSpec, write_corpus
from pipelines.lock import OutputLock

pytestmark = pytest.mark.slow  # five real CLI runs, some killed: about two minutes

CLI = Path(sys.executable).with_name("news-ingest")
DATA_FOLDERS = ("articles", "duplicates", "rejects", "quarantine")
FAST = ("--enrich", "core", "--batch-size", "15", "--no-feed-state", "-q")


def command(seeds: Path, output: Path, run_id: str) -> list[str]:
    return [str(CLI), "run", "--seeds", str(seeds), "--output", str(output), "--run-id", run_id, *FAST]


def run_to_end(seeds: Path, output: Path, run_id: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command(seeds, output, run_id), cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def start(seeds: Path, output: Path, run_id: str) -> subprocess.Popen:
    return subprocess.Popen(command(seeds, output, run_id), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)


class Watcher(threading.Thread):
    """Reads every Parquet file visible under a data folder, again and again, until stopped."""

    def __init__(self, output: Path) -> None:
        super().__init__(daemon=True)
        self.output, self.stop, self.problems, self.checked = output, threading.Event(), [], set()

    def run(self) -> None:
        while not self.stop.is_set():
            for folder in DATA_FOLDERS:
                for path in files_under(self.output / folder):  # a folder not created yet: nothing to read
                    if path in self.checked:
                        continue
                    if path.suffix != ".parquet":
                        self.problems.append(f"not a data file: {path}")
                        continue
                    try:
                        pq.read_table(path)
                        self.checked.add(path)
                    except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
                        self.problems.append(f"{path}: {type(exc).__name__}: {exc}")
            time.sleep(0.05)


def article_ids(output: Path) -> list[str]:
    return [row[0] for row in duckdb.sql(
        f"select article_id from read_parquet('{output}/articles/*/*.parquet')").fetchall()]


def manifests(output: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (output / "_runs").glob("*.json")}


def rows_of_run(output: Path, folder: str, run_id: str) -> int:
    if not files_under(output / folder, "*.parquet"):  # nothing of that kind written
        return 0
    return duckdb.sql(f"select count(*) from read_parquet('{output}/{folder}/**/*.parquet') "
                      f"where run_id = '{run_id}'").fetchall()[0][0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(CorpusSpec(records=150, entries_per_feed=40, seed=11), root)
    return root


def test_runs_killed_at_any_moment_lose_nothing_and_double_nothing(corpus, tmp_path, random_seed):
    seed = random_seed  # NEWS_INGEST_TEST_SEED repeats the random kill moment (as a share of a run)
    rng = random.Random(seed)
    seed_note = f"random seed {seed}"
    reference = tmp_path / "reference"  # uninterrupted, on its own output, alongside the first runs
    ref = subprocess.Popen(command(corpus, reference, "reference"), cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)

    output = tmp_path / "out"
    watcher = Watcher(output)
    watcher.start()
    try:
        # 1. dies halfway through its commit's renames: some files visible, the journal pending
        started = time.monotonic()
        crashed = run_to_end(corpus, output, "crash-in-commit", env={"NEWS_INGEST_FAULT": "journal-mid-rename"})
        duration = time.monotonic() - started  # about a whole run
        assert crashed.returncode == 137, crashed.stderr
        assert files_under(output / "_journal", "*.json"), "the crashed commit left no journal"
        assert not (output / "_runs" / "crash-in-commit.json").exists()

        # 2. SIGKILLed as soon as it has staged a data file (it recovered run 1 before that)
        process = start(corpus, output, "killed-when-staging")
        staging = output / "_staging" / "killed-when-staging"
        staged = wait_until(lambda: files_under(staging, "*.parquet"), process=process)
        kill(process)
        assert staged, f"run 2 never staged a data file (exit {process.returncode})"
        assert process.returncode == -signal.SIGKILL, f"run 2 ended by itself ({process.returncode})"
        recovered = manifests(output)["crash-in-commit"]
        assert recovered["status"] == "ok" and recovered["recovered_at"], recovered
        assert files_under(output / "_journal", "*.json") == []

        # the killed holder left no stale lock: it can be taken at once
        OutputLock(str(output), wait_s=0).acquire().release()

        # 3. SIGKILLed at a random moment (anywhere from start-up to its commit): a random share of
        # run 1's duration, so the seed repeats the moment relative to how fast this machine runs
        share = rng.uniform(0.0, 1.0)
        moment = 0.5 + share * max(0.0, duration - 0.5)
        seed_note = f"random seed {seed}: killed {moment:.1f} s into a {duration:.1f} s run"
        process = start(corpus, output, "killed-at-random")
        time.sleep(moment)  # the random kill moment itself, not a wait for something
        kill(process)

        # 4. a clean run completes whatever is left
        final = run_to_end(corpus, output, "clean")
        assert final.returncode == 0, f"{seed_note}: {final.stderr}"
    finally:
        watcher.stop.set()
        watcher.join(timeout=EVENT_TIMEOUT)
        _, ref_err = ref.communicate(timeout=600)
    assert ref.returncode == 0, ref_err
    expected = article_ids(reference)
    assert expected and len(expected) == len(set(expected))

    assert watcher.problems == [], seed_note
    assert watcher.checked, "the watcher never saw a data file"
    got = article_ids(output)
    assert len(got) == len(set(got)), f"articles written twice ({seed_note})"
    assert set(got) == set(expected), seed_note

    runs = manifests(output)
    assert runs["clean"]["status"] == "ok"
    assert files_under(output / "_journal", "*.json") == [], seed_note
    assert files_under(output / "_staging") == [], f"staged files left after the clean run ({seed_note})"
    committed = {run_id: m for run_id, m in runs.items() if m["status"] in ("ok", "quarantined")}
    listed = set()
    for run_id, manifest in committed.items():  # each committed run's rows are on disk and reconcile
        counts = manifest["counts"]
        assert manifest["reconciled"] and counts["read"] == (
            counts["written"] + counts["duplicates"] + counts["rejected"] + counts["quarantined"])
        assert rows_of_run(output, "articles", run_id) == counts["written"], (run_id, seed_note)
        assert rows_of_run(output, "duplicates", run_id) == counts["duplicates"], (run_id, seed_note)
        assert rows_of_run(output, "rejects", run_id) == counts["rejected"], (run_id, seed_note)
        listed |= {f["path"] for f in manifest["files"]}
    visible = {str(p.relative_to(output)) for folder in DATA_FOLDERS for p in files_under(output / folder, "*.parquet")}
    assert visible == listed, f"a visible file no committed manifest lists ({seed_note})"
