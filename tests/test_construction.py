"""Every graph variant is built (not run) with Beam's type checking on: a construction error from a
new Beam release shows here in seconds, not as a failed run."""

from __future__ import annotations

import itertools

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, TypeOptions

from expectations import SUITES_DIR
from pipelines.config import RunConfig
from pipelines.core.feed_list import FeedSource
from pipelines.pipeline import build_pipeline
from pipelines.runners import batch_runner_args
from pipelines.streaming import build_streaming_pipeline
from tests.conftest import INGESTED_AT, SEED_DOCUMENT

FEEDS = [FeedSource("/nowhere/a.rss", "A"), FeedSource("http://127.0.0.1:9/b.rss", "B")]
VARIANTS = list(itertools.product(["core", "full"], [True, False], [True, False]))


def _config(tmp_path, enrich: str, seen_index: bool, near: bool, **extra) -> RunConfig:
    base = RunConfig(output=str(tmp_path / "out"), documents_pattern=str(SEED_DOCUMENT), feed_list=None,
                     expectations_dir=str(SUITES_DIR), run_id="construct", started_at=INGESTED_AT,
                     enrich=enrich, seen_index=seen_index, state_dir=str(tmp_path / "state"), **extra)
    return base if near else RunConfig(**{**base.__dict__, "near": None})


def _pipeline(beam_args: list[str]) -> beam.Pipeline:
    options = PipelineOptions(beam_args)
    checks = options.view_as(TypeOptions)
    assert checks.pipeline_type_check and checks.type_check_strictness == "DEFAULT_TO_ANY"
    return beam.Pipeline(options=options)


@pytest.mark.parametrize("enrich, seen_index, near", VARIANTS)
def test_the_batch_graph_builds(tmp_path, enrich, seen_index, near):
    config = _config(tmp_path, enrich, seen_index, near)
    manifest = build_pipeline(_pipeline(batch_runner_args([])), config, FEEDS)
    assert isinstance(manifest, beam.PCollection)


@pytest.mark.parametrize("enrich, seen_index, near", VARIANTS)
def test_the_streaming_graph_builds(tmp_path, enrich, seen_index, near):
    config = _config(tmp_path, enrich, seen_index, near, poll_interval=5.0, window=60)
    manifests = build_streaming_pipeline(_pipeline(["--streaming"]), config, FEEDS, 0.0, 60.0, None)
    assert isinstance(manifests, beam.PCollection)


def test_the_batch_graph_builds_and_translates_for_dask(tmp_path):
    from apache_beam.runners.dask.overrides import dask_overrides

    from pipelines.runners import DASK_RUNNER, _translator, require_dask

    require_dask()
    args = ["--runner", DASK_RUNNER, "--dask_client_address", "tcp://127.0.0.1:9"]
    config = _config(tmp_path, "core", True, True, beam_args=tuple(args))
    pipeline = _pipeline(args)
    build_pipeline(pipeline, config, FEEDS)
    pipeline.replace_all(dask_overrides())
    translator = _translator(4, {}, "construct")
    pipeline.visit(translator)  # dask bags are lazy: nothing runs
    assert translator.leaves()
