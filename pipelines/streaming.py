"""``run --streaming``: poll the feed list on a tick, and validate, write and commit per fixed window.

    TickSource ─ PollFeeds ─┬─ (entries) ─ Window ─ Normalize ─ MergeBy guid/url/content (per window)
                            │        ─ DropSeenInState (Beam state per key, expiry timers; seen-index side input)
                            │        ─ Emit ─ Enrich ─ CheckRows ─ Batch ─ Validate ─ WriteParquet (staged)
                            ├─ (rejects, and every stage's) ──────────── Batch ─ Validate ─ WriteParquet
                            └─ (reports, states) ─┐
    read count + file records + keys/locations ───┴─ GroupByKey per window ─ CommitWindow
        (journal.commit: files + seen-index + _runs/<run_id>/window-<start>.json; then feed states)

:func:`build_window_graph` wires everything after the reader, so tests drive it with a
``TestStream`` of raw articles; :func:`run_streaming` is the driver.

How the driver runs it. The graph is a streaming graph (unbounded tick source, fixed
windows, state and event-time timers); a runner with real streaming runs it as one
pipeline. Beam's local runners (2.77 and 2.78) cannot: the streaming bundle-based DirectRunner cannot
expand a splittable DoFn (PeriodicImpulse fails with "_GroupByKeyOnly was not replaced as
expected"), and the FnApiRunner (the DirectRunner's choice when Prism cannot be fetched)
runs the tick source to its end before any window fires. So on the DirectRunner
:func:`run_streaming` runs the same graph once per window: a pipeline whose tick source
spans one window, committed when it ends, then the next one. Dedup state then lives for
one window; the seen-index (re-read by each window's pipeline, and extended by each
window's commit) carries exact and near keys across windows, as across runs: near matches
are verified against the earlier article's text, read from its committed file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
import sys
import threading
import time

import apache_beam as beam
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

import pipelines
import schemas
from pipelines import journal, signals, storage
from pipelines.compact import recover_pending_compactions
from pipelines.config import RunConfig
from pipelines.core.dedupe import METHODS
from pipelines.core.feed_list import FeedSource
from pipelines.core.manifest import STATUS_FAILED, STATUS_OK, STATUS_QUARANTINED, build_manifest
from pipelines.core.records import one_line
from pipelines.core.seen_index import cluster_keys
from pipelines.core.urls import redact_url
from pipelines.lock import OutputLock
from pipelines.pipeline import ValidateAndWriteTable
from pipelines.runners import runner_of
from pipelines.transforms import CheckRows, EnrichArticles, NormalizeArticles
from pipelines.transforms.dedupe import EmitClusterFn, MergeBy
from pipelines.transforms.manifest import manifest_path
from pipelines.transforms.seen_index import ReadSeenIndex
from pipelines.transforms.stream import (
    STATES,
    CommitWindowFn,
    DropSeenInState,
    PollFeedsFn,
    TickSource,
    forget_stop,
    request_stop,
)
from pipelines.transforms.tags import ARTICLES, DUPLICATES, REJECTS, REPORTS

LOG = logging.getLogger("news_ingest")
STOP_GRACE_S = 120.0  # after a stop request, the open window gets this long (plus one window) to commit


def streaming_header(config: RunConfig, feeds: list[FeedSource]) -> dict:
    return {
        "run_id": config.run_id,
        "mode": "streaming",
        "started_at": config.started_at.isoformat(),
        "news_ingest_version": pipelines.__version__,
        "schema_version": schemas.SCHEMA_VERSION,
        "output": config.output,
        "inputs": {"feed_list": config.feed_list, "feeds": [redact_url(s.location) for s in feeds],
                   "state_dir": config.state_dir},
        "streaming": {"poll_interval": config.poll_interval, "window": config.window,
                      "max_duration": config.max_duration, "dedup_ttl": config.dedup_ttl},
        "enrich": config.enrich,
        "beam_args": list(config.beam_args),
    }


def earlier_keys(p: beam.Pipeline, config: RunConfig):
    """The seen-index, read once (side inputs): exact keys ``("kind\\x1fkey", article_id)`` and
    band keys ``("band\\x1fkey", (article_id, path))``."""
    index = p | "ReadSeenIndex" >> ReadSeenIndex(config.output, config.started_at - config.retention, config.near)
    exact = (
        index
        | "ExactEntries" >> beam.Filter(lambda row: row["kind"] != "band")
        | "KeyEntries" >> beam.Map(lambda row: (f"{row['kind']}\x1f{row['key']}", row["article_id"]))
    )
    bands = (
        index
        | "BandEntries" >> beam.Filter(lambda row: row["kind"] == "band")
        | "KeyBands" >> beam.Map(lambda row: (f"band\x1f{row['key']}", (row["article_id"], row["path"])))
    )
    return exact, bands


def build_window_graph(p: beam.Pipeline, config: RunConfig, raw, reader_rejects=None, feed_items=None,
                       earlier=None, feeds: list[FeedSource] = ()):
    """Wire everything after the reader; returns the PCollection of window manifests.

    ``raw``: raw articles timestamped with their poll; ``reader_rejects``: ``Reject``s of the
    reader; ``feed_items``: ``("feed", report)`` and ``("state", FeedState)`` items;
    ``earlier``: :func:`earlier_keys` or None.
    """
    window = beam.window.FixedWindows(config.window)
    run_id, started = config.run_id, config.started_at
    raw = raw | "Window" >> beam.WindowInto(window)
    reader_rejects = (reader_rejects if reader_rejects is not None else p | "NoReaderRejects" >> beam.Create([])) \
        | "WindowRejects" >> beam.WindowInto(window)
    normalized = raw | "Normalize" >> NormalizeArticles(run_id, started)
    clusters = normalized.articles | "StartClusters" >> beam.Map(lambda row: (row, []))
    for method in METHODS:  # within the window: the batch rules, kept-article rule included
        clusters = clusters | f"MergeBy{method.capitalize()}" >> MergeBy(method)
    earlier_exact, earlier_bands = earlier if earlier is not None else (None, None)
    fresh = clusters | "DropSeen" >> DropSeenInState(config.window, config.dedup_ttl, config.near, earlier_exact,
                                                     earlier_bands, config.output)
    emitted = fresh[ARTICLES] | "EmitClusters" >> beam.ParDo(EmitClusterFn()).with_outputs(
        DUPLICATES, main=ARTICLES)
    duplicates = (emitted[DUPLICATES], fresh[DUPLICATES]) | "AllDuplicates" >> beam.Flatten()
    enriched = emitted[ARTICLES] | "Enrich" >> EnrichArticles(config.enrich)
    checked = enriched.articles | "CheckRows" >> CheckRows("articles")
    checked_duplicates = duplicates | "CheckDuplicateRows" >> CheckRows("duplicates")
    reject_rows = (
        (reader_rejects, normalized.rejects, enriched.rejects, checked.rejects, checked_duplicates.rejects)
        | "MergeRejects" >> beam.Flatten()
        | "RejectRows" >> beam.Map(lambda reject: reject.to_row(run_id, started))
    )
    article_files, locations = checked.rows | "Articles" >> ValidateAndWriteTable("articles", "articles", config)
    duplicate_files, _ = checked_duplicates.rows | "Duplicates" >> ValidateAndWriteTable(
        "duplicates", "duplicates", config)
    reject_files, _ = reject_rows | "Rejects" >> ValidateAndWriteTable("rejects", "rejects", config)
    items = [
        (raw, reader_rejects) | "MergeReads" >> beam.Flatten()
        | "CountReads" >> beam.combiners.Count.Globally().without_defaults()
        | "ReadItems" >> beam.Map(lambda n: ("read", n)),
        (article_files, duplicate_files, reject_files) | "MergeFiles" >> beam.Flatten()
        | "FileItems" >> beam.Map(lambda f: ("file", f)),
    ]
    if feed_items is not None:
        items.append(feed_items | "WindowFeedItems" >> beam.WindowInto(window))
    if config.seen_index:
        near = config.near
        items.append(fresh[ARTICLES] | "KeyItems" >> beam.Map(
            lambda c: ("keys", (c[0]["article_id"], cluster_keys(c, near)))))
        items.append(locations | "LocationItems" >> beam.Map(lambda loc: ("location", loc)))
    return (
        items
        | "MergeItems" >> beam.Flatten()
        | "KeyWindow" >> beam.Map(lambda item: (None, item))
        | "GroupWindow" >> beam.GroupByKey()
        | "CommitWindow" >> beam.ParDo(CommitWindowFn(config.output, streaming_header(config, list(feeds)),
                                                      config.state_dir, config.near))
    )


def build_streaming_pipeline(p: beam.Pipeline, config: RunConfig, feeds: list[FeedSource], start: float,
                             stop: float, stop_token: str | None):
    """The whole streaming graph: ticks in ``[start, stop)`` (epoch seconds) -> window manifests."""
    polled = (
        p
        | "Ticks" >> TickSource(start, stop, config.poll_interval, stop_token)
        | "PollFeeds" >> beam.ParDo(PollFeedsFn(feeds, config.fetch_policy, config.feed_schedule,
                                                config.state_dir)).with_outputs(REJECTS, REPORTS, STATES,
                                                                                main=ARTICLES)
    )
    feed_items = (
        polled[REPORTS] | "FeedItems" >> beam.Map(lambda r: ("feed", r)),
        polled[STATES] | "StateItems" >> beam.Map(lambda s: ("state", s)),
    ) | "MergeFeedItems" >> beam.Flatten()
    earlier = earlier_keys(p, config) if config.seen_index else None
    return build_window_graph(p, config, polled[ARTICLES], polled[REJECTS], feed_items, earlier, feeds)


# --- driver ---------------------------------------------------------------------------------------------

def _is_direct(beam_args) -> bool:
    return (runner_of(beam_args) or "DirectRunner").lower() in ("directrunner", "direct")


def _window_manifests(output: str, run_id: str) -> list[dict]:
    [result] = FileSystems.match([storage.join(output, "_runs", run_id, "window-*.json")])
    return [storage.read_json(m.path) for m in sorted(result.metadata_list, key=lambda m: m.path)]


def summary_manifest(config: RunConfig, feeds: list[FeedSource], windows: list[dict], error: str | None,
                     stopped_by: str) -> dict:
    """The run's summary over its window manifests: counts summed, every file, status the worst."""
    header = {**streaming_header(config, feeds), "stopped_by": stopped_by}
    files = [f for w in windows for f in w["files"]]
    reports = [r for w in windows for r in w["feeds"]]
    read = sum(w["counts"]["read"] for w in windows)
    manifest = build_manifest(header, read, files, reports, dt.datetime.now(dt.timezone.utc).isoformat())
    manifest["windows"] = [{"window_start": w["window_start"], "status": w["status"], "counts": w["counts"],
                            "reconciled": w["reconciled"], "manifest": f"_runs/{config.run_id}/window-"
                            f"{dt.datetime.fromisoformat(w['window_start']):%Y%m%dT%H%M%SZ}.json"}
                           for w in windows]
    manifest["index_files"] = [f for w in windows for f in w.get("index_files", [])]
    statuses = {w["status"] for w in windows}
    if error or STATUS_FAILED in statuses or not all(w["reconciled"] for w in windows):
        manifest["status"] = STATUS_FAILED
        manifest["error"] = error or manifest["error"] or "a window failed"
    elif STATUS_QUARANTINED in statuses:
        manifest["status"] = STATUS_QUARANTINED
    else:
        manifest["status"] = STATUS_OK
    return manifest


def _overdue(grace: float) -> None:
    """The stop request's watchdog (``signals.Watchdog``): say so and end the process."""
    print(f"news-ingest: the open window did not commit within {grace:g} s of the stop request; "
          "exiting without it (its staged files are removed by the next run)", file=sys.stderr, flush=True)
    os._exit(1)


def run_streaming(config: RunConfig, feeds: list[FeedSource], stop: threading.Event | None = None,
                  install_signals: bool = True) -> dict:
    """Poll until ``config.max_duration`` or a stop request; returns the summary manifest.

    SIGINT/SIGTERM (when ``install_signals``, in the main thread) or setting ``stop`` end the
    tick source: the open window is flushed and committed, feed state saved, then the summary
    ``_runs/<run_id>.json`` is written. A run that does not finish within ``STOP_GRACE_S``
    plus one window of the request exits the process with status 1.
    """
    if config.poll_interval is None:
        raise ValueError("a streaming run needs a poll interval")
    if not feeds:
        raise ValueError("a streaming run needs feeds to poll")
    stop = stop or threading.Event()
    token = f"{config.run_id}-{os.getpid()}-{id(stop)}"
    stopped_by = ["max-duration" if config.max_duration else "stop"]
    grace = STOP_GRACE_S + config.window
    watchdog = signals.Watchdog(grace, lambda _signum: _overdue(grace))

    def on_signal(signum: int) -> None:
        stopped_by[0] = signals.name(signum)
        LOG.warning("%s: stopping after the open window commits", stopped_by[0])
        stop.set()

    def relay() -> None:  # a stop request, by signal or by the caller: end the tick source, start the countdown
        stop.wait()
        request_stop(token)
        watchdog.arm(0)

    threading.Thread(target=relay, daemon=True).start()
    try:
        handled = signals.handled(on_signal) if install_signals else contextlib.nullcontext()
        with handled, OutputLock(config.output, config.lock_wait, owner=config.run_id):
            return _run_windows(config, feeds, stop, token, stopped_by)
    finally:
        watchdog.disarm()
        stop.set()  # ends the relay thread
        forget_stop(token)


def _run_windows(config: RunConfig, feeds: list[FeedSource], stop: threading.Event, token: str,
                 stopped_by: list[str]) -> dict:
    recovered = journal.recover(config.output)
    compaction_failures: list[str] = []
    recovered += [f"compaction:{c}" for c in recover_pending_compactions(config.output, compaction_failures)]
    recovered += compaction_failures
    journal.check_run_id_unused(config.output, config.run_id)
    began = time.time()
    deadline = began + config.max_duration if config.max_duration else math.inf
    direct = _is_direct(config.beam_args)
    error = None
    try:
        while not stop.is_set():
            now = time.time()
            if now >= deadline:
                break
            window_end = math.floor(now / config.window) * config.window + config.window
            segment_stop = min(window_end, deadline) if direct else deadline
            if segment_stop == math.inf:
                segment_stop = float(2 ** 40)  # a runner with real streaming: until a stop request
            _run_segment(config, feeds, now, segment_stop, token, direct)
            if direct:  # the tick source ends at its last tick, not at the window's end: never start
                stop.wait(max(0.0, segment_stop - time.time()))  # a second segment in a committed window
    except Exception as exc:  # the summary records it; committed windows stay committed
        error = one_line(f"{type(exc).__name__}: {exc}")
        LOG.error("streaming run failed: %s", error, exc_info=LOG.isEnabledFor(logging.DEBUG))
    finally:
        try:
            journal.remove_staging(config.output, config.run_id)
        except (OSError, BeamIOError, ValueError) as cleanup_error:
            LOG.warning("could not remove the staged files of %s: %s", config.run_id, cleanup_error)
    windows = _window_manifests(config.output, config.run_id)
    manifest = summary_manifest(config, feeds, windows, error, stopped_by[0])
    manifest["recovered"] = recovered
    storage.publish_bytes(storage.json_bytes(manifest), manifest_path(config.output, config.run_id),
                          storage.join(config.output, storage.STAGING_DIR, f"{config.run_id}-summary.json"))
    if error:
        raise RuntimeError(error)
    return manifest


def _run_segment(config: RunConfig, feeds: list[FeedSource], start: float, stop: float, token: str,
                 direct: bool) -> None:
    args = [a for a in config.beam_args if a != "--streaming"]
    if direct:
        from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

        # In-process, so the tick source sees the stop event; one window per pipeline (module docstring).
        p = beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(args))
    else:
        p = beam.Pipeline(options=PipelineOptions([*args, "--streaming"]))
    build_streaming_pipeline(p, config, feeds, start, stop, token)
    p.run().wait_until_finish()
