"""One writer at a time: real CLI runs overlapping on one output, as a scheduler would start them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.corpus import CorpusSpec, write_corpus
from conftest import ROOT

CLI = Path(sys.executable).with_name("news-ingest")
EXIT_LOCKED = 75


def command(seeds: Path, output: Path, run_id: str, *extra: str) -> list[str]:
    return [str(CLI), "run", "--seeds", str(seeds), "--output", str(output), "--run-id", run_id,
            "--enrich", "core", "--no-feed-state", "-q", *extra]


def test_a_second_run_exits_75_and_a_waiting_run_goes_after_the_first(tmp_path):
    seeds, output = tmp_path / "seeds", tmp_path / "out"
    write_corpus(CorpusSpec(records=150, entries_per_feed=40, seed=5), seeds)
    first = subprocess.Popen(command(seeds, output, "first"), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    lock_file = output / "_lock"
    deadline = time.monotonic() + 120
    while not (lock_file.exists() and lock_file.read_text()) and time.monotonic() < deadline:
        assert first.poll() is None, first.stderr.read()
        time.sleep(0.05)
    assert json.loads(lock_file.read_text())["owner"] == "first"

    waiting = subprocess.Popen(command(seeds, output, "waiting", "--wait-for-lock", "300"), cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    skipped = subprocess.run(command(seeds, output, "skipped"), cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    assert first.poll() is None, "the first run ended before the second could find it running"
    assert skipped.returncode == EXIT_LOCKED, skipped.stderr
    lines = skipped.stderr.strip().splitlines()
    assert len(lines) == 1, skipped.stderr
    assert lines[0].startswith("news-ingest: run skipped skipped: ") and "locked by run first" in lines[0]
    assert f"pid {first.pid}" in lines[0] and "--wait-for-lock" in lines[0]
    assert skipped.stdout == ""
    assert not (output / "_runs" / "skipped.json").exists() and not (output / "_staging" / "skipped").exists()

    first_out, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    waiting_out, waiting_err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, waiting_err
    runs = {p.stem: json.loads(p.read_text()) for p in (output / "_runs").glob("*.json")}
    assert set(runs) == {"first", "waiting"}
    assert runs["first"]["counts"]["written"] > 0
    # the waiting run started after the first committed: everything is a duplicate of it
    assert runs["waiting"]["counts"]["written"] == 0
    assert runs["waiting"]["counts"]["duplicates"] == \
        runs["first"]["counts"]["written"] + runs["first"]["counts"]["duplicates"]
    assert runs["waiting"]["started_at"] < runs["first"]["finished_at"] < runs["waiting"]["finished_at"]
    assert os.path.exists(output / "_lock") and (output / "_lock").read_text() == ""  # released, not removed


def test_wait_for_lock_is_parsed_into_the_config_and_checked(tmp_path):
    import pytest

    from pipelines.cli import EXIT_LOCKED as CLI_EXIT_LOCKED, UsageError, make_config, parse_args

    assert CLI_EXIT_LOCKED == EXIT_LOCKED
    args, beam_args = parse_args(["run", "--seeds", str(ROOT / "seeds"), "--output", str(tmp_path),
                                  "--wait-for-lock", "90"])
    assert make_config(args, beam_args)[0].lock_wait == 90
    args, beam_args = parse_args(["run", "--seeds", str(ROOT / "seeds"), "--output", str(tmp_path)])
    assert make_config(args, beam_args)[0].lock_wait == 0
    for bad in ("-1", "inf", "soon"):
        with pytest.raises(UsageError):
            parse_args(["run", "--wait-for-lock", bad])
