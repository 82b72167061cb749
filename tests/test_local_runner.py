"""The batch default runner: Beam's FnApiRunner in-process, without the DirectRunner's Prism attempt.

Real runs in this process (so the runner classes can be watched) on a small seed set.
"""

from __future__ import annotations

import json

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


def test_default_batch_run_uses_the_fnapi_runner_and_never_tries_prism(tmp_path, watched):
    assert cli.main([*ARGS, "--output", str(tmp_path / "out")]) == cli.EXIT_OK
    assert watched == ["FnApiRunner"]
    [manifest] = (tmp_path / "out" / "_runs").glob("*.json")
    assert json.loads(manifest.read_text())["counts"]["written"] >= 1


def test_an_explicit_direct_runner_keeps_beams_own_choice(tmp_path, watched):
    assert cli.main([*ARGS, "--output", str(tmp_path / "out"), "--runner", "DirectRunner"]) == cli.EXIT_OK
    assert watched[0] == "PrismRunner"  # Beam tries Prism first (it cannot be fetched here) ...
    assert watched[-1] == "FnApiRunner"  # ... and falls back to the FnApiRunner


def test_runner_arguments():
    assert PipelineOptions(batch_runner_args([])).view_as(StandardOptions).runner == LOCAL_RUNNER
    assert batch_runner_args(["--runner", "DirectRunner", "--x"]) == ["--runner", "DirectRunner", "--x"]
    assert batch_runner_args(["--direct_num_workers", "2"])[:2] == ["--runner", LOCAL_RUNNER]
