"""Streaming stages: a stoppable tick source, feed polling per tick, deduplication across
windows in Beam state, and the per-window commit.

TickSource           in: the pipeline root; out: one float (seconds since the epoch) per poll,
                     timestamped with it, from ``start`` until ``stop`` or until the run's stop
                     event is set (``request_stop``).
PollFeedsFn          in: ticks; out: raw articles (main), ``rejects``, ``reports``, ``states``,
                     each carrying its tick's timestamp (so a poll's output lands in one window).
DropSeenInState      in: dedup clusters (after the within-window exact passes), in fixed
                     windows; out: ``articles`` (clusters not seen before) and ``duplicates``
                     (rows pointing at the earlier article). Seen = an exact key in Beam state
                     (earlier windows of this run), in the seen-index side input (earlier
                     runs and committed windows), or a verified near-duplicate: of a sketch in
                     a band key's state, or of an article the seen-index's band keys point at
                     (verified against its text, read from its file, as the batch run does).
CommitWindowFn       in: ``(None, items)`` grouped per window; writes the window's manifest through
                     one journal commit and then saves the feed states of its polls.

    ticks = p | TickSource(start, stop, interval, stop_token="run-1")
    fresh = clusters | DropSeenInState(window_s, ttl_s, near, earlier_keys)

State is keyed by dedup key (``guid``/``url``/``content`` keys as in ``core.dedupe``, or a
MinHash band key from ``core.near_dedupe``) in the *global* window, so it outlives the fixed
windows; an event-time timer ``ttl`` after a key was last seen clears it, so memory stays
bounded by the keys of the last ``ttl`` seconds (band buckets also by ``NearConfig.max_bucket``).

The stop event is process-local (a module-level registry of ``threading.Event``), so a
signal handler in the driver can end the tick source: it is for in-process runners (the
DirectRunner's in-memory mode); elsewhere ``stop`` (``--max-duration``) or cancelling the
job ends a run.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from typing import Any, Dict, Sequence, Tuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.coders import PickleCoder
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp

from pipelines import journal, storage
from pipelines.core.batches import parquet_bytes
from pipelines.core.dedupe import priority
from pipelines.core.feed_list import FeedSource
from pipelines.core.feed_state import FeedSchedule, FeedState, FeedStateStore
from pipelines.core.feeds import update_host_feeds
from pipelines.core.fetch import FetchPolicy, host_key, make_session
from pipelines.core.manifest import STATUS_OK, STATUS_QUARANTINED, build_manifest, commit_renames
from pipelines.core.near_dedupe import NearConfig, band_keys, sketch, verify
from pipelines.core.records import Reject, stable_hash
from pipelines.core.seen_index import INDEX_DIR, exact_keys, index_table
from pipelines.transforms.read_feeds import log_feed_report
from pipelines.transforms.seen_index import split_seen
from pipelines.transforms.tags import ARTICLES, DUPLICATES, REJECTS, REPORTS, Row

LOG = logging.getLogger("news_ingest")
STATES = "states"
STOP_CHECK_S = 0.25  # how soon a waiting tick source notices the stop event
COMMITTED = (STATUS_OK, STATUS_QUARANTINED)

_STOP_EVENTS: dict[str, threading.Event] = {}
_STOP_LOCK = threading.Lock()


def stop_event(token: str) -> threading.Event:
    """The stop event of ``token`` (created on first use); set it to end that run's tick source."""
    with _STOP_LOCK:
        return _STOP_EVENTS.setdefault(token, threading.Event())


def request_stop(token: str) -> None:
    stop_event(token).set()


def forget_stop(token: str) -> None:
    with _STOP_LOCK:
        _STOP_EVENTS.pop(token, None)


# --- ticks ---------------------------------------------------------------------------------------------

class _TickRestrictionProvider(beam.transforms.core.RestrictionProvider):
    """Offsets 0..n-1: the n ticks in [start, stop)."""

    def initial_restriction(self, element):
        start, stop, interval = element
        return OffsetRange(0, max(0, math.ceil((stop - start) / interval)))

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return restriction.size()

    def truncate(self, element, restriction):  # on drain, emit nothing more
        return None


class TickFn(beam.DoFn):
    """PeriodicImpulse's ImpulseSeqGenDoFn, plus a stop event.

    ``(start, stop, interval)`` -> one tick per interval, each when its time has come (the
    remainder is deferred until then, at most ``STOP_CHECK_S`` at a time). Once the stop
    event is set the remaining offsets are claimed without output: the restriction ends, the
    watermark reaches the end, and every open window fires and commits.
    """

    def __init__(self, stop_token: str | None = None) -> None:
        self.stop_token = stop_token

    @beam.DoFn.unbounded_per_element()
    def process(self, element,
                tracker=beam.DoFn.RestrictionParam(_TickRestrictionProvider()),
                watermark=beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider())):
        start, _, interval = element
        index = tracker.current_restriction().start
        event = stop_event(self.stop_token) if self.stop_token else None
        while True:
            if event is not None and event.is_set():
                last = tracker.current_restriction().stop
                while index < last and tracker.try_claim(index):
                    index += 1
                return
            at = start + interval * index
            now = time.time()
            if at > now:
                current = watermark.current_watermark()
                if current is None or Timestamp.of(at) > current:
                    watermark.set_watermark(Timestamp.of(at))
                tracker.defer_remainder(Timestamp.of(min(at, now + STOP_CHECK_S)))
                return
            if not tracker.try_claim(index):
                return
            current = watermark.current_watermark()
            if current is None or Timestamp.of(at) > current:
                watermark.set_watermark(Timestamp.of(at))
            yield TimestampedValue(at, at)
            index += 1


class TickSource(beam.PTransform):
    """Root -> ticks from ``start`` (epoch seconds) every ``interval`` s until ``stop`` or the stop event."""

    def __init__(self, start: float, stop: float, interval: float, stop_token: str | None = None) -> None:
        super().__init__()
        if not interval > 0:
            raise ValueError("the tick interval must be positive")
        if stop < start:
            raise ValueError("stop must not be before start")
        self.start, self.stop, self.interval, self.stop_token = start, stop, interval, stop_token

    def expand(self, pbegin):
        return (
            pbegin
            | "TickRange" >> beam.Create([(self.start, self.stop, self.interval)])
            | "Tick" >> beam.ParDo(TickFn(self.stop_token))
        )


# --- polling -------------------------------------------------------------------------------------------

@beam.typehints.with_input_types(float)
@beam.typehints.with_output_types(Row, rejects=Reject, reports=Dict[str, Any], states=FeedState)
class PollFeedsFn(beam.DoFn):
    """tick -> the due feeds' entries, rejects, reports and next states (``core.feeds``).

    Each feed's state moves on from tick to tick inside this DoFn (validators, due time,
    backoff), starting from the state store; it is *saved* only by the window's commit.
    Hosts are polled one after another within a tick, each host's feeds ``host_interval``
    apart. The state lives in the DoFn instance: it is exact on a runner that sends all ticks
    to one instance (one tick source element does), a re-read of the store elsewhere.
    """

    def __init__(self, sources: Sequence[FeedSource], policy: FetchPolicy, schedule: FeedSchedule,
                 state_dir: str | None) -> None:
        self.sources, self.policy, self.schedule, self.state_dir = list(sources), policy, schedule, state_dir

    def setup(self) -> None:
        self.session = make_session(self.policy)
        store = FeedStateStore(self.state_dir) if self.state_dir else None
        loaded = {s.location: store.load_checked(s.location) if store else (None, None) for s in self.sources}
        self.states = {url: state for url, (state, _) in loaded.items()}
        self.state_errors = {url: problem for url, (_, problem) in loaded.items() if problem}

    def process(self, tick: float):
        now = dt.datetime.fromtimestamp(tick, dt.timezone.utc)
        hosts: dict[str, list[FeedSource]] = {}
        for source in self.sources:
            hosts.setdefault(host_key(source.location), []).append(source)
        for host in sorted(hosts):
            for update in update_host_feeds(hosts[host], self.states, now, self.session, self.policy,
                                            self.schedule):
                result = update.result
                state_error = self.state_errors.pop(update.state.url, None)  # reported once, by its first poll
                if state_error:
                    result.report["state_error"] = state_error
                log_feed_report(result.report)
                self.states[update.state.url] = update.state
                yield from result.entries
                for reject in result.rejects:
                    yield beam.pvalue.TaggedOutput(REJECTS, reject)
                yield beam.pvalue.TaggedOutput(REPORTS, {**result.report, "polled_at": now.isoformat()})
                yield beam.pvalue.TaggedOutput(STATES, update.state)

    def teardown(self) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.close()


# --- deduplication across windows ----------------------------------------------------------------------

def window_of(timestamp: float, window_s: int) -> int:
    """Start (epoch seconds) of the fixed window holding ``timestamp``."""
    return int(math.floor(timestamp / window_s) * window_s)


class ExactSeenFn(beam.DoFn):
    """(``kind\\x1fkey``, (cluster_id, window_start)) -> (cluster_id, (kind, old_id, 1.0)) for a seen key.

    The first cluster with a key owns it until the key has not been seen for ``ttl_s``.
    A key seen by an earlier run (``earlier``: the seen-index side input) is owned by that
    run's article. Two clusters of one window never share an exact key (the within-window
    passes merged them), except a guid that ``same_entry`` kept apart: those stay apart.
    """

    OWNER = userstate.ReadModifyWriteStateSpec("owner", PickleCoder())
    EXPIRY = userstate.TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s

    def process(self, element, earlier, timestamp=beam.DoFn.TimestampParam,
                owner=beam.DoFn.StateParam(OWNER), expiry=beam.DoFn.TimerParam(EXPIRY)):
        key, (cluster_id, window_start) = element
        known = owner.read()
        if known is None and key in earlier:
            known = (earlier[key], None)
        if known is None:
            owner.write((cluster_id, window_start))
        elif known[1] != window_start:  # the same id again too: a re-fetched entry
            yield cluster_id, (key.split("\x1f", 1)[0], known[0], 1.0)
        if known is not None and known[1] is None:
            owner.write(known)  # an earlier run's key: held in state from now on, with the same expiry
        expiry.set(timestamp + Duration(self.ttl_s))

    @userstate.on_timer(EXPIRY)
    def expire(self, owner=beam.DoFn.StateParam(OWNER)):
        owner.clear()


class NearSeenFn(beam.DoFn):
    """(band key, (cluster_id, window_start, Sketch, priority)) -> (cluster_id, ("near", old_id, score)).

    Keeps the sketches of one LSH band bucket seen in the last ``ttl_s`` (at most
    ``max_bucket``). A new sketch verified against an earlier window's is a duplicate of it;
    within one window the kept-article rule (``core.dedupe.priority``) picks the one kept,
    whichever arrived first.
    """

    BUCKET = userstate.BagStateSpec("bucket", PickleCoder())
    EXPIRY = userstate.TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, ttl_s: float, near: NearConfig, output: str | None = None) -> None:
        self.ttl_s, self.near, self.output = ttl_s, near, output

    def setup(self) -> None:
        self._earlier: dict[str, Any] = {}  # old article_id -> its Sketch (or None), read once per worker

    def _earlier_sketch(self, old_id: str, path: str):
        """The sketch of an earlier run's (or window's) article, read from its file under the output."""
        if old_id not in self._earlier:
            found = None
            try:
                with FileSystems.open(storage.join(self.output, path)) as handle:
                    table = pq.read_table(handle, columns=["article_id", "body"])
                for row in table.to_pylist():
                    if row["article_id"] == old_id:
                        found = sketch(old_id, row["body"], self.near)
            except (OSError, ValueError, pa.ArrowException) as exc:
                LOG.warning("seen-index points at an unreadable file %s: its near matches are skipped (%s)",
                            path, exc)
            if len(self._earlier) >= 10_000:  # bounded: a long streaming pipeline keeps no more
                self._earlier.clear()
            self._earlier[old_id] = found
        return self._earlier[old_id]

    def process(self, element, earlier_bands, timestamp=beam.DoFn.TimestampParam,
                bucket=beam.DoFn.StateParam(BUCKET), expiry=beam.DoFn.TimerParam(EXPIRY)):
        band, (cluster_id, window_start, new, rank) = element
        # the seen-index (earlier runs, and earlier windows' commits): verified against the article's text
        try:  # a dict on some runners, Beam's MultiMap (no .get) on others
            candidates = list(earlier_bands[band]) if self.output else []
        except KeyError:
            candidates = []
        for old_id, path in candidates:
            old = self._earlier_sketch(old_id, path)
            score = verify(new, old, self.near) if old is not None else None
            if score is not None:
                yield cluster_id, ("near", old_id, score)
        entries = list(bucket.read())
        for _seen_at, old_id, old_window, old, old_rank in entries:
            if old_id == cluster_id and old_window == window_start:
                continue
            score = verify(new, old, self.near)
            if score is None:
                continue
            if old_window != window_start or old_rank < rank:
                yield cluster_id, ("near", old_id, score)
            else:
                yield old_id, ("near", cluster_id, score)
        if len(entries) < self.near.max_bucket:
            bucket.add((float(timestamp), cluster_id, window_start, new, rank))
        expiry.set(timestamp + Duration(self.ttl_s))

    @userstate.on_timer(EXPIRY)
    def expire(self, fired=beam.DoFn.TimestampParam, bucket=beam.DoFn.StateParam(BUCKET),
               expiry=beam.DoFn.TimerParam(EXPIRY)):
        kept = [entry for entry in bucket.read() if entry[0] + self.ttl_s > float(fired)]
        bucket.clear()
        for entry in kept:
            bucket.add(entry)
        if kept:
            expiry.set(Timestamp.of(max(entry[0] for entry in kept) + self.ttl_s))


def _cluster_id(cluster) -> str:
    return cluster[0]["article_id"]


class DropSeenInState(beam.PTransform):
    """Clusters (fixed windows) -> ``articles`` (new clusters) and ``duplicates`` (rows), see the module docstring.

    ``earlier`` is an ``AsDict``-able PCollection ``("kind\\x1fkey", article_id)`` of the seen-index
    (global window), or None.
    """

    def __init__(self, window_s: int, ttl_s: float, near: NearConfig | None, earlier=None,
                 earlier_bands=None, output: str | None = None) -> None:
        super().__init__()
        if window_s < 1 or not ttl_s > 0:
            raise ValueError("the window must be at least 1 s and the dedup TTL positive")
        self.window_s, self.ttl_s, self.near, self.earlier = window_s, ttl_s, near, earlier
        self.earlier_bands, self.output = earlier_bands, output

    def expand(self, clusters):
        window_s, near = self.window_s, self.near
        by_id = clusters | "KeyById" >> beam.Map(lambda c: (_cluster_id(c), c))
        # State must outlive a fixed window: the per-key steps run in the global window
        # (elements keep their timestamps, so re-windowing puts their results back in place).
        in_global = clusters | "GlobalWindow" >> beam.WindowInto(beam.window.GlobalWindows())
        earlier = self.earlier if self.earlier is not None else (
            clusters.pipeline | "NoEarlierKeys" >> beam.Create([]))
        exact = (
            in_global
            | "ExactKeys" >> beam.FlatMap(
                lambda c, ts=beam.DoFn.TimestampParam: [
                    (f"{kind}\x1f{key}", (_cluster_id(c), window_of(float(ts), window_s)))
                    for kind, key in exact_keys(c)]).with_output_types(Tuple[str, Any])
            | "ExactSeen" >> beam.ParDo(ExactSeenFn(self.ttl_s), beam.pvalue.AsDict(earlier))
        )
        matches = [exact]
        if near is not None:
            earlier_bands = self.earlier_bands if self.earlier_bands is not None else (
                clusters.pipeline | "NoEarlierBands" >> beam.Create([]))
            matches.append(
                in_global
                | "BandKeys" >> beam.FlatMap(_band_entries, near, window_s).with_output_types(Tuple[str, Any])
                | "NearSeen" >> beam.ParDo(NearSeenFn(self.ttl_s, near, self.output),
                                           beam.pvalue.AsMultiMap(earlier_bands))
            )
        windowed = (
            matches
            | "AllMatches" >> beam.Flatten()
            | "BackToWindows" >> beam.WindowInto(beam.window.FixedWindows(window_s))
        )
        split = (
            {"cluster": by_id, "match": windowed}
            | "JoinMatches" >> beam.CoGroupByKey()
            | "SplitSeen" >> beam.FlatMap(split_seen).with_outputs(DUPLICATES, main=ARTICLES)
        )
        # Y near X in this window while X itself is a copy of an earlier article E: Y must point at
        # E, which is in articles/, not at X, which is not.
        resolved = split[DUPLICATES]
        for step in (1, 2):  # chains of up to three copies within one window
            redirects = resolved | f"DroppedIds{step}" >> beam.Map(
                lambda row: (row["article_id"], row["canonical_id"]))
            resolved = (
                {"row": resolved | f"ByCanonical{step}" >> beam.Map(lambda row: (row["canonical_id"], row)),
                 "to": redirects}
                | f"JoinCanonical{step}" >> beam.CoGroupByKey()
                | f"Resolve{step}" >> beam.FlatMap(_resolve_canonical)
            )
        return {ARTICLES: split[ARTICLES], DUPLICATES: resolved}


def _resolve_canonical(element):
    """Duplicate rows of one ``canonical_id``; if that id was itself dropped in this window, re-point
    them at what it was dropped for."""
    _canonical, joined = element
    targets = sorted(set(joined["to"]))
    for row in joined["row"]:
        yield {**row, "canonical_id": targets[0]} if targets else row


def _band_entries(cluster, near: NearConfig, window_s: int, ts=beam.DoFn.TimestampParam):
    found = sketch(_cluster_id(cluster), cluster[0]["body"], near)
    if found is None:
        return []
    value = (_cluster_id(cluster), window_of(float(ts), window_s), found, priority(cluster[0]))
    return [(f"band\x1f{key}", value) for key in band_keys(found.shingles, near)]


# --- per-window commit ---------------------------------------------------------------------------------

def window_label(start: Timestamp) -> str:
    return f"{start.to_utc_datetime():%Y%m%dT%H%M%SZ}"


def window_manifest_path(output: str, run_id: str, label: str) -> str:
    return storage.join(output, "_runs", run_id, f"window-{label}.json")


class CommitWindowFn(beam.DoFn):
    """(None, items of one window) -> that window's manifest, after its commit.

    Items: ``("read", n)``, ``("file", record)``, ``("feed", report)``, ``("state", FeedState)``,
    ``("keys", (article_id, [(kind, key)...]))`` of kept clusters and ``("location", (article_id, path))``
    of written articles (joined into the window's seen-index rows, ``seen_at`` = window start).
    When the counts reconcile, the window's staged files and its seen-index file become visible
    in one ``journal.commit`` (id ``<run_id>-w<label>``) that ends with
    ``_runs/<run_id>/window-<label>.json``; then its polls' feed states are saved (the last one
    of each feed). Otherwise only the manifest is written (status failed).
    """

    def __init__(self, output: str, header: dict, state_dir: str | None, near: NearConfig | None) -> None:
        self.output, self.header, self.state_dir, self.near = output, header, state_dir, near

    def process(self, element, window=beam.DoFn.WindowParam):
        _, items = element
        items = list(items)
        label = window_label(window.start)
        run_id = self.header["run_id"]
        read = sum(item[1] for item in items if item[0] == "read")
        files = [item[1] for item in items if item[0] == "file"]
        feeds = [item[1] for item in items if item[0] == "feed"]
        index_rows = seen_rows(items, run_id, window.start.to_utc_datetime())
        header = {**self.header, "window_start": window.start.to_utc_datetime().isoformat(),
                  "window_end": window.end.to_utc_datetime().isoformat()}
        manifest = build_manifest(header, read, files, feeds, dt.datetime.now(dt.timezone.utc).isoformat())
        path = window_manifest_path(self.output, run_id, label)
        staging = storage.join(self.output, storage.STAGING_DIR, run_id)
        if not manifest["reconciled"]:
            manifest.update(index_files=[], published=False)
            storage.publish_bytes(storage.json_bytes(manifest), path, storage.join(staging, f"window-{label}.json"))
            yield manifest
            return
        renames = commit_renames(lambda relative: storage.join(self.output, relative), files)
        manifest["index_files"] = []
        if index_rows:
            name = f"part-{run_id}-{stable_hash(*(r['kind'] + r['key'] for r in index_rows), length=16)}.parquet"
            staged = storage.join(staging, INDEX_DIR, name)
            storage.write_bytes(parquet_bytes(index_table(index_rows, self.near)), staged)
            renames.append((staged, storage.join(self.output, INDEX_DIR, name)))
            manifest["index_files"] = [{"path": f"{INDEX_DIR}/{name}", "rows": len(index_rows)}]
        manifest["published"] = True
        journal.commit(self.output, f"{run_id}-w{label}", renames, manifest, path)
        LOG.info("window %s committed: read %d = written %d + duplicates %d + rejected %d + quarantined %d",
                 label, *(manifest["counts"][k] for k in ("read", "written", "duplicates", "rejected",
                                                          "quarantined")))
        if self.state_dir and manifest["status"] in COMMITTED:
            latest: dict[str, FeedState] = {}
            for state in (item[1] for item in items if item[0] == "state"):
                previous = latest.get(state.url)
                if previous is None or (state.last_attempt or dt.datetime.min.replace(tzinfo=dt.timezone.utc)) >= (
                        previous.last_attempt or dt.datetime.min.replace(tzinfo=dt.timezone.utc)):
                    latest[state.url] = state
            store = FeedStateStore(self.state_dir)
            for state in latest.values():
                store.save(state)
        yield manifest


def seen_rows(items: list, run_id: str, seen_at: dt.datetime) -> list[dict[str, Any]]:
    """Seen-index rows of a window's written articles: their keys joined to their file."""
    paths = dict(item[1] for item in items if item[0] == "location")
    rows = []
    for article_id, keys in (item[1] for item in items if item[0] == "keys"):
        if article_id in paths:
            rows += [{"kind": kind, "key": key, "article_id": article_id, "path": paths[article_id],
                      "seen_at": seen_at, "run_id": run_id} for kind, key in keys]
    return sorted(rows, key=lambda r: (r["kind"], r["key"], r["article_id"]))
