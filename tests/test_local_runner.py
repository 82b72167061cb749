"""The batch default runner: Beam's FnApiRunner in-process, without the DirectRunner's Prism attempt.

Real runs in this process (so the runner classes can be watched) on a small seed set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability import prism_runner
from apache_beam.runners.portability.fn_api_runner import fn_runner
from conftest import SEEDS

from pipelines import cli
from pipelines.runners import LOCAL_RUNNER, batch_runner_args

ARGS = ("run", "-q", "--seeds", str(SEEDS), "--no-feeds", "--enrich", "core",
        "--no-seen-index")


@pytest.fixture
def watched(monkeypatch):
    """Which runners ran: Prism's and the FnApiRunner's ``run_pipeline`` record their calls."""
    calls = []
    for cls in (prism_runner.PrismRunner, fn_runner.FnApiRunner):
        original = cls.run_pipeline

        def record(self, *args, _original=original, _name=cls.__name__, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(cls, "run_pipeline", record)
    return calls


@pytest.mark.slow
def test_default_batch_run_uses_the_fnapi_runner_and_never_tries_prism(tmp_path, watched):
    assert cli.main([*ARGS, "--output", str(tmp_path / "out")]) == cli.EXIT_OK
    assert watched == ["FnApiRunner"]
    [manifest] = (tmp_path / "out" / "_runs").glob("*.json")
    assert json.loads(manifest.read_text())["counts"]["written"] >= 1


@pytest.mark.slow
def test_an_explicit_direct_runner_keeps_beams_own_choice(tmp_path, watched):
    assert cli.main([*ARGS, "--output", str(tmp_path / "out"), "--runner", "DirectRunner"]) == cli.EXIT_OK
    assert watched[0] == "PrismRunner"  # Beam tries Prism first (it cannot be fetched here) ...
    assert watched[-1] == "FnApiRunner"  # ... and falls back to the FnApiRunner


def test_runner_arguments():
    assert PipelineOptions(batch_runner_args([])).view_as(StandardOptions).runner == LOCAL_RUNNER
    assert batch_runner_args(["--runner", "DirectRunner", "--x"]) == ["--runner", "DirectRunner", "--x"]
    assert batch_runner_args(["--direct_num_workers", "2"])[:2] == ["--runner", LOCAL_RUNNER]


def _tables(output: Path) -> dict[str, list[tuple]]:
    """The published rows of each table as sorted tuples (run-specific columns left out)."""
    import pyarrow.dataset as ds

    out = {}
    for table in ("articles", "duplicates", "rejects"):
        if not (output / table).exists():
            out[table] = []
            continue
        rows = ds.dataset(str(output / table), format="parquet", partitioning="hive").to_table().to_pylist()
        out[table] = sorted(tuple(sorted((k, repr(v)) for k, v in row.items()
                                         if k not in ("run_id", "ingested_at", "run_date"))) for row in rows)
    return out


@pytest.mark.slow
def test_two_worker_processes_write_what_one_process_writes_and_keep_the_terminal_quiet(tmp_path):
    """``--direct_num_workers 2 --direct_running_mode multi_processing``: the workers run
    ``pipelines.worker`` (Beam's harness, the CLI's logging), the output equals the in-process
    run's row for row, also for a second run that looks its records up in the seen-index (side
    inputs across processes), and a ``-q`` run prints nothing: no Beam or GX start-up lines."""
    import subprocess
    import sys

    from benchmarks.corpus import CorpusSpec, write_corpus

    write_corpus(CorpusSpec(records=150, entries_per_feed=25, near_rate=0.2, tracking_rate=0.1, guid_rate=0.1),
                 tmp_path / "corpus")
    two_workers = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]

    def run(name: str, run_id: str, *extra: str) -> None:
        done = subprocess.run([sys.executable, "-m", "pipelines", "run", "-q", "--seeds", str(tmp_path / "corpus"),
                               "--enrich", "core", "--run-id", run_id, "--output", str(tmp_path / name), *extra],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == cli.EXIT_OK, done.stderr
        assert done.stderr == ""

    for run_id in ("first", "again"):  # the second run finds everything in the seen-index
        run("one", run_id)
        run("two", run_id, *two_workers)
        written = _tables(tmp_path / "one")
        assert _tables(tmp_path / "two") == written
    assert written["articles"] and written["duplicates"]
    counts = [json.loads((tmp_path / name / "_runs" / "again.json").read_text())["counts"] for name in ("one", "two")]
    assert counts[0] == counts[1] and counts[0]["read"] == 150 == counts[0]["duplicates"]  # all seen before
