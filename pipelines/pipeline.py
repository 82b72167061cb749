"""Builds the batch graph from a RunConfig and runs it.

    ReadDocuments ─┐
                   ├─ Normalize ─ Deduplicate ─ Enrich ─ CheckRows ─ Batch ─ Validate ─ WriteParquet
    ReadFeeds ─────┘     │  (every stage's rejects) ─────────────────── Batch ─ Validate ─ WriteParquet
    SeenIndex files ─────┘             (duplicates) ─ CheckRows ─────── Batch ─ Validate ─ WriteParquet
    kept keys + written locations ─ StageIndexEntries ─┐
    read count + file records + feed reports ──────────┴─ WriteManifest (the commit: files, index, manifest)
    feed states ─ SaveFeedState (once the manifest says the run committed)

:func:`build_pipeline` only wires transforms (usable in tests and other
pipelines); :func:`run` executes it and returns the manifest.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import re

import apache_beam as beam
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

import pipelines
import schemas
from pipelines import journal, signals, storage
from pipelines.compact import recover_pending_compactions
from pipelines.config import RunConfig
from pipelines.core import validation
from pipelines.core.feed_list import FeedSource
from pipelines.core.manifest import STATUS_FAILED, STATUS_INTERRUPTED
from pipelines.core.records import one_line
from pipelines.core.urls import redact_url
from pipelines.lock import OutputLock
from pipelines.runners import batch_runner_args, runner_of
from pipelines.transforms import (
    BatchRows,
    CheckRows,
    DeduplicateArticles,
    EnrichArticles,
    NormalizeArticles,
    ReadDocuments,
    ReadFeeds,
    SaveFeedState,
    ValidateBatches,
    WriteManifest,
    WriteParquetBatches,
)
from pipelines.transforms.manifest import manifest_path
from pipelines.transforms.seen_index import StageIndexEntries, open_seen_index
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


class ValidateAndWriteTable(beam.PTransform):
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
        earlier = open_seen_index(p, config.output, config.started_at - config.retention)
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
    article_files, locations = checked.rows | "Articles" >> ValidateAndWriteTable("articles", "articles", config)
    duplicate_files, _ = checked_duplicates.rows | "Duplicates" >> ValidateAndWriteTable(
        "duplicates", "duplicates", config)
    reject_files, _ = reject_rows | "Rejects" >> ValidateAndWriteTable("rejects", "rejects", config)
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
    (``journal.recover``; the manifest lists them in ``recovered``), finishes an interrupted
    compaction (one it cannot finish is logged and listed as ``compaction-failed:<id>: <reason>``:
    the run goes on), then refuses a run id whose run published its files
    (:class:`journal.RunIdUsed`, nothing written; the CLI exits 2).

    The pipeline writes the manifest itself, in its commit; afterwards the driver adds the
    run's Beam counters (``metrics``: hyphen repairs, feeds fetched, ...). A pipeline that
    raises before its commit leaves a manifest with status ``failed`` before the exception
    propagates; one that raises after it keeps its committed manifest, with ``error_after_commit``.
    Stopped by SIGINT/SIGTERM (``pipelines/signals.py``, when the CLI handles them), it raises
    :class:`signals.Interrupted` after leaving a manifest with status ``interrupted`` (or, after its
    commit, the committed one with ``interrupted_after_commit``).
    """
    with signals.interruptible():  # a stop request while waiting for the lock: nothing read or written
        lock = OutputLock(config.output, config.lock_wait, owner=config.run_id).acquire()
    try:
        return _run_locked(config, feeds)
    finally:
        lock.release()


class OutputFull(OSError):
    """The run failed because the output's filesystem is full (or a file size limit was hit)."""


_FULL_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                errno.EFBIG: "file too large"}
_ERRNO_RE = re.compile(r"\[Errno (\d+)\]")
_STAGE_RE = re.compile(r"\[while running '([^']+)'\]")


def output_full(exc: BaseException) -> str | None:
    """What "full" error ended a run (ENOSPC, EDQUOT, EFBIG), or None.

    Runners wrap a worker's OSError in their own exception and often keep only its text
    (``RuntimeError: OSError: [Errno 28] ...``), so the chain and the text are both looked at.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            return _FULL_ERRNOS[exc.errno]
        for number in _ERRNO_RE.findall(str(exc)):
            if int(number or 0) in _FULL_ERRNOS:
                return _FULL_ERRNOS[int(number)]
        for code, text in _FULL_ERRNOS.items():  # a BeamIOError lists its causes as reprs
            if os.strerror(code).lower() in str(exc).lower():
                return text
        exc = exc.__cause__ or exc.__context__
    return None


def start_validation_service(config: RunConfig) -> None:
    """Start the GX child process for the run's three suites (not when a suite cannot be read:
    building the pipeline then fails with that error, as without the service)."""
    try:
        suites = {table: validation.load_suite_json(config.expectations_dir, table)
                  for table in ("articles", "duplicates", "rejects")}
    except validation.SuiteError:
        return
    try:
        validation.start_service(suites)
    except Exception as exc:  # noqa: BLE001 - e.g. no child processes allowed here: validate in-process
        LOG.warning("validation runs in this process (could not start its own: %s)", one_line(str(exc)))


def _stage_of(exc: BaseException) -> str:
    match = _STAGE_RE.search(str(exc))
    return f" while running {match.group(1)}" if match else ""


def _committed_manifest(path: str, config: RunConfig) -> dict | None:
    """The manifest at ``path`` if THIS attempt committed it (same run id and ``started_at``), else None."""
    manifest = journal.published_manifest(path)
    if manifest is None or manifest.get("status") == STATUS_FAILED:
        return None
    mine = manifest.get("run_id") == config.run_id and manifest.get("started_at") == config.started_at.isoformat()
    return manifest if mine else None


def _interrupted(config: RunConfig, feeds: list[FeedSource], path: str, recovered: list[str], signum: int,
                 keep_staging: bool) -> signals.Interrupted:
    """Leave the manifest an interrupted run owes (none over an earlier run's); the Interrupted to raise."""
    by = signals.name(signum)
    manifest = _committed_manifest(path, config)
    if manifest is not None:  # published: it stays as it is, saying what came after
        manifest["interrupted_after_commit"] = by
        detail = (f"after its commit: its files are published (status {manifest['status']}); the feed state "
                  "was not saved, so the next run fetches those feeds again (their entries are duplicates then)")
    elif journal.published_manifest(path) is not None:  # an earlier run's (the id was not checked yet)
        return signals.Interrupted(signum, "before it wrote anything")
    else:
        if FileSystems.exists(journal.journal_path(config.output, config.run_id)):  # a worker cut mid-commit
            detail = "during its commit: its journal stands and the next run completes the commit"
        elif keep_staging:
            detail = ("before its commit: nothing was published; its staged files are left for the next run, "
                      "which removes them")
        else:
            detail = ("before its commit: nothing was published, its staged files were removed and the feed "
                      "state was not advanced (the next run reads the same inputs)")
        manifest = {**failed_manifest(config, feeds, f"interrupted by {by} {detail}"),
                    "status": STATUS_INTERRUPTED, "interrupted_by": by, "published": False,
                    "recovered": recovered}
    try:
        staged = storage.join(config.output, storage.STAGING_DIR, config.run_id, "manifest-interrupted.json")
        storage.publish_bytes(storage.json_bytes(manifest), path, staged)
    except (OSError, BeamIOError) as write_error:
        LOG.error("could not write the interrupted run's manifest: %s", write_error)
        return signals.Interrupted(signum, f"{detail} (its manifest could not be written)")
    return signals.Interrupted(signum, f"{detail} (manifest: _runs/{config.run_id}.json)", manifest)


def _run_locked(config: RunConfig, feeds: list[FeedSource]) -> dict:
    options = PipelineOptions(batch_runner_args(config.beam_args))  # LocalRunner unless --runner is given
    in_process = (runner_of(config.beam_args) is None
                  and options.view_as(DirectOptions).direct_running_mode in ("in_memory", "multi_threading"))
    path = manifest_path(config.output, config.run_id)
    recovered: list[str] = []
    journaled = False  # the run failed on a full disk after writing its commit journal
    # a stop request leaves staging to the next run where another process may still be writing it
    keep_staging = runner_of(config.beam_args) is not None
    stopped = False  # by SIGINT/SIGTERM

    def staged(*name: str) -> str:
        return storage.join(config.output, storage.STAGING_DIR, config.run_id, *name)

    try:
        recovered = journal.recover(config.output)
        compaction_failures: list[str] = []  # logged; the run goes on (readers see a consistent output)
        recovered += [f"compaction:{c}" for c in recover_pending_compactions(config.output, compaction_failures)]
        recovered += compaction_failures
        journal.check_run_id_unused(config.output, config.run_id)  # before anything of this run is written
        signals.check()
        if in_process:  # GX imports in a child while this process reads (see validation.ValidationService)
            start_validation_service(config)
        with signals.interruptible():  # SIGINT/SIGTERM stop the pipeline at once (never mid-commit)
            p = beam.Pipeline(options=options)
            build_pipeline(p, config, feeds)
            result = p.run()
            result.wait_until_finish()
        manifest = storage.read_json(path)
        manifest["metrics"] = run_metrics(result)
        manifest["recovered"] = recovered
        storage.publish_bytes(storage.json_bytes(manifest), path, staged("manifest-metrics.json"))
    except journal.RunIdUsed:
        raise  # nothing of this run was written; the earlier run's manifest stays as it is
    except signals.Interrupted as exc:
        stopped = True
        raise _interrupted(config, feeds, path, recovered, exc.signum, keep_staging) from None
    except Exception as exc:
        signum = signals.received()
        if signum is not None:  # a stop request a stage or the runner turned into an error of its own
            stopped = True
            raise _interrupted(config, feeds, path, recovered, signum, keep_staging) from None
        full = output_full(exc)
        error = (f"the output {config.output} is full ({full}){_stage_of(exc)}" if full
                 else one_line(f"{type(exc).__name__}: {exc}"))
        manifest = _committed_manifest(path, config)
        if manifest is not None:  # the data are published; say what failed afterwards
            manifest["error_after_commit"] = error
        elif journal.published_manifest(path) is not None:  # an earlier run's: never overwrite it
            LOG.error("run %s failed: %s (the published manifest %s of an earlier run left as it is)",
                      config.run_id, error, path)
            raise
        else:
            journaled = full and FileSystems.exists(journal.journal_path(config.output, config.run_id))
            if journaled:  # full after its journal was written: the commit stands, the next run completes it
                error += ("; its commit is journaled and the next run completes it (the feed state was not "
                          "advanced, so the next run reads the same inputs again and writes nothing twice)")
            elif full:
                error += "; nothing of the run was published and the feed state was not advanced"
            manifest = failed_manifest(config, feeds, error)
            manifest["recovered"] = recovered
        try:
            storage.publish_bytes(storage.json_bytes(manifest), path, staged("manifest.json"))
        except (OSError, BeamIOError) as write_error:  # e.g. the output itself is unusable
            if full:  # said in the one line below, not in a line of its own
                raise OutputFull(f"{error} (its manifest could not be written either)") from exc
            LOG.error("could not write the failed run's manifest: %s", write_error)
        if full:  # one clear line for the user instead of a runner's wrapped worker error
            raise OutputFull(error) from exc
        raise
    finally:
        try:
            validation.stop_service(now=stopped)
        except Exception as stop_error:  # noqa: BLE001 - never hides the run's own outcome
            LOG.warning("could not stop the validation process: %s", stop_error)
        try:  # never what a pending journal still needs: the next run's recover completes it
            if not journaled and not (stopped and keep_staging):  # (a journaled commit's staging is kept;
                journal.remove_staging(config.output, config.run_id)  # the failure line says so)
        except (OSError, BeamIOError, ValueError) as cleanup_error:
            LOG.warning("could not remove %s: %s", staged(), cleanup_error)
    return manifest
