"""Builds the batch graph from a RunConfig and runs it.

    ReadDocuments ─┐
                   ├─ Normalize ─ Deduplicate ─ Enrich ─ CheckRows ─ Batch ─ Validate ─ WriteParquet
    ReadFeeds ─────┘     │  (every stage's rejects) ─────────────────── Batch ─ Validate ─ WriteParquet
    ReadSeenIndex ───────┘             (duplicates) ─ CheckRows ─────── Batch ─ Validate ─ WriteParquet
    kept keys + written locations ─ StageIndexEntries ─┐
    read count + file records + feed reports ──────────┴─ WriteManifest (the commit: files, index, manifest)
    feed states ─ SaveFeedState (once the manifest says the run committed)

:func:`build_pipeline` only wires transforms (usable in tests and other
pipelines); :func:`run` executes it and returns the manifest.
"""

from __future__ import annotations

import datetime as dt
import logging

import apache_beam as beam
from apache_beam.io.filesystem import BeamIOError
from apache_beam.options.pipeline_options import PipelineOptions

import pipelines
import schemas
from pipelines import journal, storage
from pipelines.compact import recover_pending_compactions
from pipelines.config import RunConfig
from pipelines.core.feed_list import FeedSource
from pipelines.core.manifest import STATUS_FAILED
from pipelines.core.records import one_line
from pipelines.core.urls import redact_url
from pipelines.lock import OutputLock
from pipelines.transforms import (
    BatchRows, CheckRows, DeduplicateArticles, EnrichArticles, NormalizeArticles, ReadDocuments,
    ReadFeeds, SaveFeedState, ValidateBatches, WriteManifest, WriteParquetBatches,
)
from pipelines.transforms.manifest import manifest_path
from pipelines.transforms.seen_index import ReadSeenIndex, StageIndexEntries
from pipelines.transforms.tags import QUARANTINED, VALID

LOG = logging.getLogger("news_ingest")


def manifest_header(config: RunConfig, feeds: list[FeedSource]) -> dict:
    return {
        "run_id": config.run_id,
        "started_at": config.started_at.isoformat(),
        "news_ingest_version": pipelines.__version__,
        "schema_version": schemas.SCHEMA_VERSION,
        "output": config.output,
        "inputs": {
            "documents": config.documents_pattern,
            "feed_list": config.feed_list,
            "feeds": [redact_url(source.location) for source in feeds],
            "state_dir": config.state_dir,
        },
        "enrich": config.enrich,
        "beam_args": list(config.beam_args),
    }


class _ValidateAndWriteTable(beam.PTransform):
    """Batch -> GX -> Parquet for one table; valid batches to their folder, failing ones to quarantine."""

    def __init__(self, table: str, destination: str, config: RunConfig) -> None:
        super().__init__()
        self.table, self.destination, self.config = table, destination, config

    def expand(self, rows):
        config = self.config
        checked = (
            rows
            | "Batch" >> BatchRows(self.table, config.batch_size, config.shards)
            | "Validate" >> ValidateBatches(self.table, config.expectations_dir)
        )
        written = checked[VALID] | "Write" >> WriteParquetBatches(config.output, config.run_id, self.destination)
        quarantined = checked[QUARANTINED] | "Quarantine" >> WriteParquetBatches(
            config.output, config.run_id, "quarantine")
        return (written.files, quarantined.files) | "Files" >> beam.Flatten(), written.locations


def build_pipeline(p: beam.Pipeline, config: RunConfig, feeds: list[FeedSource]):
    """Wire the whole run into ``p``; returns the PCollection holding the manifest."""
    inputs, reader_rejects, feed_reports = [], [], None
    if config.documents_pattern:
        docs = p | "ReadDocuments" >> ReadDocuments(config.documents_pattern)
        inputs.append(docs.articles)
        reader_rejects.append(docs.rejects)
    if feeds:
        read = p | "ReadFeeds" >> ReadFeeds(feeds, config.fetch_policy, config.feed_schedule,
                                            state_dir=config.state_dir, now=config.started_at)
        inputs.append(read.articles)
        reader_rejects.append(read.rejects)
        feed_reports = read.reports

    raw = inputs | "MergeInputs" >> beam.Flatten(pipeline=p)
    normalized = raw | "Normalize" >> NormalizeArticles(config.run_id, config.started_at)
    earlier = None
    if config.seen_index:
        earlier = p | "ReadSeenIndex" >> ReadSeenIndex(config.output, config.started_at - config.retention,
                                                       config.near)
    deduplicated = normalized.articles | "Deduplicate" >> DeduplicateArticles(
        near=config.near, earlier=earlier, output=config.output)
    enriched = deduplicated.articles | "Enrich" >> EnrichArticles(config.enrich)
    checked = enriched.articles | "CheckRows" >> CheckRows("articles")
    checked_duplicates = deduplicated.duplicates | "CheckDuplicateRows" >> CheckRows("duplicates")
    rejects = reader_rejects + [normalized.rejects, enriched.rejects, checked.rejects, checked_duplicates.rejects]

    reject_rows = (
        rejects
        | "MergeRejects" >> beam.Flatten(pipeline=p)
        | "RejectRows" >> beam.Map(lambda reject: reject.to_row(config.run_id, config.started_at))
    )
    article_files, locations = checked.rows | "Articles" >> _ValidateAndWriteTable("articles", "articles", config)
    duplicate_files, _ = checked_duplicates.rows | "Duplicates" >> _ValidateAndWriteTable(
        "duplicates", "duplicates", config)
    reject_files, _ = reject_rows | "Rejects" >> _ValidateAndWriteTable("rejects", "rejects", config)
    files = (article_files, duplicate_files, reject_files)
    read_count = (  # every input record leaves a reader as an article or a reject
        inputs + reader_rejects
        | "MergeReads" >> beam.Flatten(pipeline=p)
        | "CountRead" >> beam.combiners.Count.Globally()
    )
    items = [
        read_count | "ReadItem" >> beam.Map(lambda n: ("read", n)),
        files | "MergeFiles" >> beam.Flatten() | "FileItems" >> beam.Map(lambda f: ("file", f)),
    ]
    if feed_reports is not None:
        items.append(feed_reports | "FeedItems" >> beam.Map(lambda r: ("feed", r)))
    if config.seen_index:
        items.append((deduplicated.keys, locations) | "StageIndex" >> StageIndexEntries(
            config.output, config.run_id, config.started_at, config.near, config.shards))
    manifest = (
        items
        | "MergeManifestItems" >> beam.Flatten()
        | "WriteManifest" >> WriteManifest(config.output, manifest_header(config, feeds))
    )
    if feeds and config.state_dir:
        read.states | "SaveFeedState" >> SaveFeedState(config.state_dir, manifest)
    return manifest


def failed_manifest(config: RunConfig, feeds: list[FeedSource], error: str) -> dict:
    """The manifest of a run that stopped before writing its own."""
    return {
        **manifest_header(config, feeds),
        "status": STATUS_FAILED,
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "counts": None,
        "reconciled": False,
        "error": one_line(error),
        "files": [],
        "feeds": [],
        "feed_counts": None,
    }


def run_metrics(result) -> dict[str, int]:
    """The run's Beam counters as ``{"namespace/name": value}`` (empty where the runner keeps none)."""
    try:
        counters = result.metrics().query()["counters"]
    except (AttributeError, NotImplementedError, KeyError):
        return {}
    totals: dict[str, int] = {}
    for counter in counters:
        name = f"{counter.key.metric.namespace}/{counter.key.metric.name}"
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[name] = totals.get(name, 0) + (value or 0)
    return dict(sorted(totals.items()))


def run(config: RunConfig, feeds: list[FeedSource]) -> dict:
    """Run the batch pipeline; returns the manifest (also written to ``_runs/<run_id>.json``).

    One writer at a time: the output's lock (``pipelines/lock.py``) is held for the whole
    run, waiting up to ``config.lock_wait`` seconds (:class:`LockBusy` when it cannot be
    had; nothing is written then). Holding it, the run first completes any commit an
    interrupted run left in ``_journal/`` and removes uncommitted staging
    (``journal.recover``; the manifest lists them in ``recovered``).

    The pipeline writes the manifest itself, in its commit; afterwards the driver adds the
    run's Beam counters (``metrics``: hyphen repairs, feeds fetched, ...). A pipeline that
    raises before its commit leaves a manifest with status ``failed`` before the exception
    propagates; one that raises after it keeps its committed manifest, with ``error_after_commit``.
    """
    with OutputLock(config.output, config.lock_wait, owner=config.run_id):
        return _run_locked(config, feeds)


def _committed_manifest(path: str) -> dict | None:
    try:
        manifest = storage.read_json(path)
    except (OSError, BeamIOError, ValueError):
        return None
    return manifest if manifest.get("status") != STATUS_FAILED else None


def _run_locked(config: RunConfig, feeds: list[FeedSource]) -> dict:
    options = PipelineOptions(list(config.beam_args))
    path = manifest_path(config.output, config.run_id)
    recovered: list[str] = []

    def staged(*name: str) -> str:
        return storage.join(config.output, storage.STAGING_DIR, config.run_id, *name)

    try:
        recovered = journal.recover(config.output)
        recovered += [f"compaction:{c}" for c in recover_pending_compactions(config.output)]
        p = beam.Pipeline(options=options)
        build_pipeline(p, config, feeds)
        result = p.run()
        result.wait_until_finish()
        manifest = storage.read_json(path)
        manifest["metrics"] = run_metrics(result)
        manifest["recovered"] = recovered
        storage.publish_bytes(storage.json_bytes(manifest), path, staged("manifest-metrics.json"))
    except Exception as exc:
        error = one_line(f"{type(exc).__name__}: {exc}")
        manifest = _committed_manifest(path)
        if manifest is not None:  # the data are published; say what failed afterwards
            manifest["error_after_commit"] = error
        else:
            manifest = failed_manifest(config, feeds, error)
            manifest["recovered"] = recovered
        try:
            storage.publish_bytes(storage.json_bytes(manifest), path, staged("manifest.json"))
        except (OSError, BeamIOError) as write_error:  # e.g. the output itself is unusable
            LOG.error("could not write the failed run's manifest: %s", write_error)
        raise
    finally:
        try:  # never what a pending journal still needs: the next run's recover completes it
            journal.remove_staging(config.output, config.run_id)
        except (OSError, BeamIOError, ValueError) as cleanup_error:
            LOG.warning("could not remove %s: %s", staged(), cleanup_error)
    return manifest
