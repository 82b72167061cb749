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


def _snapshot(output: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``output`` (but the lock, whose owner line comes and goes) with size and mtime."""
    return {str(p.relative_to(output)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in output.rglob("*") if p.is_file() and p.name != "_lock"}


def test_a_used_run_id_is_refused_and_a_failed_one_may_be_retried(tmp_path_factory, tmp_path):
    """Reusing --run-id of a run that published its files would overwrite its manifest and leave
    its files listed nowhere: refused (exit 2, one line, nothing written). A failed run's id may be
    used again (nothing of it was published)."""
    import shutil

    from test_readers import SEEDS, multi_run_output, run_cli

    output = tmp_path / "out"
    shutil.copytree(multi_run_output(tmp_path_factory), output)
    before = _snapshot(output)
    for used in ("r1",):
        refused = run_cli("run", "--seeds", str(SEEDS), "--output", str(output), "--run-id", used,
                          "--enrich", "core", "--no-feed-state", "-q")
        assert refused.returncode == 2, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and refused.stdout == "", refused.stderr
        assert lines[0].startswith(f"news-ingest: error: run id '{used}' is already used") and "unique" in lines[0]
        assert _snapshot(output) == before  # nothing written, the earlier manifest untouched

    failed = {"run_id": "retry", "status": "failed", "published": False, "reconciled": False,
              "started_at": "2026-01-01T00:00:00+00:00", "files": [], "counts": None}
    (output / "_runs" / "retry.json").write_text(json.dumps(failed))
    retried = run_cli("run", "--seeds", str(SEEDS), "--output", str(output), "--run-id", "retry",
                      "--enrich", "core", "--no-feed-state", "-q")
    assert retried.returncode == 0, retried.stderr
    manifest = json.loads((output / "_runs" / "retry.json").read_text())
    assert manifest["status"] == "ok" and manifest["started_at"] != failed["started_at"]
    assert manifest["counts"]["written"] == 0  # the seeds were r1's: all duplicates


def test_only_this_attempts_manifest_counts_as_committed(tmp_path):
    """A run that fails reports "committed, failed afterwards" only for a manifest it wrote itself,
    never for an earlier run's manifest under the same id."""
    from pipelines.cli import make_config, parse_args
    from pipelines.pipeline import _committed_manifest

    args, beam_args = parse_args(["run", "--seeds", str(ROOT / "seeds"), "--output", str(tmp_path), "--run-id", "r"])
    config, _ = make_config(args, beam_args)
    path = tmp_path / "_runs" / "r.json"
    path.parent.mkdir()
    earlier = {"run_id": "r", "status": "ok", "published": True, "started_at": "2020-01-01T00:00:00+00:00"}
    path.write_text(json.dumps(earlier))
    assert _committed_manifest(str(path), config) is None
    mine = dict(earlier, started_at=config.started_at.isoformat())
    path.write_text(json.dumps(mine))
    assert _committed_manifest(str(path), config) == mine
    path.write_text(json.dumps(dict(mine, status="failed", published=False)))
    assert _committed_manifest(str(path), config) is None
