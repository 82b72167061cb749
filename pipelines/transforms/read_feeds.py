"""ReadFeeds: feed list entries (local paths or http(s) URLs) -> raw articles; SaveFeedState.

In:  the pipeline root; the feed sources are given to the constructor.
Out: ``articles`` (raw article dicts), ``rejects`` (``Reject``: a feed that could not be read
or parsed at all, one per feed), ``reports`` (one dict per feed for the run manifest, see
``core.feeds.feed_report``) and ``states`` (one ``FeedState`` per feed, for SaveFeedState).

    feeds = p | ReadFeeds(sources, FetchPolicy(), FeedSchedule(), state_dir="out/_state", now=started_at)
    ...
    feeds.states | SaveFeedState("out/_state", manifest)   # after the outputs are committed

Politeness inside Beam: feeds are keyed by host and grouped (``GroupByKey``), and one
``FetchHostFeedsFn`` call fetches all of one host's feeds one after another, with the policy's
minimum interval between requests. Hosts run in parallel on as many workers as the runner
gives; one host never does, whatever the runner, worker count or bundle split, and no worker
needs to know what another is doing (no shared rate limiter, which a distributed runner could
not provide). ``FetchPolicy.host_concurrency`` > 1 splits a host into that many sequential lanes.
Local files get a key each, so they are read in parallel as before.

State: without ``state_dir`` every feed is fetched unconditionally, as before this stage
had state. With it, each host's call loads its feeds' state files (``core.feed_state``) and
skips what is not due, sends conditional GETs and skips unchanged bodies; a state file that
cannot be used is reported (the report's ``state_error``) and the feed fetched afresh. The new
states are an output, not written here: SaveFeedState writes them once the run manifest exists
and says the outputs were committed, so a failed run fetches the same content again next time.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

from pipelines.core import manifest as run_manifest
from pipelines.core.feed_list import FeedSource
from pipelines.core.feed_state import FeedSchedule, FeedState, FeedStateStore
from pipelines.core.feeds import (
    FEED_COUNTERS,
    STAGE,
    STATUS_BOZO,
    STATUS_ERROR,
    STATUS_OK,
    feed_counts,
    update_host_feeds,
)
from pipelines.core.fetch import FetchPolicy, host_key, make_session
from pipelines.core.records import Reject
from pipelines.transforms.tags import ARTICLES, REJECTS, REPORTS, Row

LOG = logging.getLogger("news_ingest")

STATES = "states"
METRICS_NAMESPACE = STAGE  # Beam counters: read_feeds/<name> for each name in FEED_COUNTERS
# Manifest statuses after which the state is saved (the outputs are committed).
COMMITTED = (run_manifest.STATUS_OK, run_manifest.STATUS_QUARANTINED)


def _key_by_host(source: FeedSource, lanes: int) -> tuple[str, FeedSource]:
    return host_key(source.location, lanes), source


def log_feed_report(report: dict) -> None:
    status = report["status"]
    if status == STATUS_ERROR:
        LOG.warning("feed %s: %s %s", report["feed"], report["reason"], report["error"])
    elif status in (STATUS_OK, STATUS_BOZO):
        LOG.info("feed %s: %d entries (%d new)%s", report["feed"], report["entries"], report["new_entries"],
                 f" (malformed: {report['bozo']})" if report["bozo"] else "")
    else:  # not modified, not due, dead
        LOG.info("feed %s: %s%s", report["feed"], status.replace("_", " "),
                 f", next due {report['next_due']}" if report["next_due"] else "")


def read_feed_counters(result) -> dict[str, int]:
    """ReadFeeds' Beam counters from a finished PipelineResult, by name (absent: 0).

    The same totals as ``core.feeds.feed_counts(reports)``, which the manifest can compute from
    the reports without waiting for the runner's metrics.
    """
    query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    counts = dict.fromkeys(FEED_COUNTERS, 0)
    for counter in query["counters"]:
        if counter.key.metric.name in counts:
            value = counter.committed if counter.committed is not None else counter.attempted
            counts[counter.key.metric.name] += value or 0
    return counts


@beam.typehints.with_output_types(Row, rejects=Reject, reports=Dict[str, Any], states=FeedState)
class FetchHostFeedsFn(beam.DoFn):
    """(host key, that host's feeds) -> articles, rejects, reports, states; one host at a time."""

    def __init__(self, policy: FetchPolicy, schedule: FeedSchedule, state_dir: str | None,
                 now: dt.datetime | None) -> None:
        self.policy, self.schedule, self.state_dir, self.now = policy, schedule, state_dir, now
        self.counters = {name: Metrics.counter(METRICS_NAMESPACE, name) for name in FEED_COUNTERS}

    def setup(self) -> None:
        self.session = make_session(self.policy)
        self.store = FeedStateStore(self.state_dir) if self.state_dir else None

    def process(self, element):
        _, sources = element
        sources = list(sources)
        now = self.now or dt.datetime.now(dt.timezone.utc)
        loaded = {s.location: self.store.load_checked(s.location) for s in sources} if self.store else {}
        previous = {location: state for location, (state, _) in loaded.items()}
        for update in update_host_feeds(sources, previous, now, self.session, self.policy, self.schedule):
            result = update.result
            state_error = loaded.get(update.state.url, (None, None))[1]
            if state_error:  # a corrupt state file: reported in the manifest, not only logged
                result.report["state_error"] = state_error
            log_feed_report(result.report)
            for name, value in feed_counts([result.report]).items():
                if value:
                    self.counters[name].inc(value)
            yield from result.entries
            for reject in result.rejects:
                yield beam.pvalue.TaggedOutput(REJECTS, reject)
            yield beam.pvalue.TaggedOutput(REPORTS, result.report)
            yield beam.pvalue.TaggedOutput(STATES, update.state)

    def teardown(self) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.close()


class ReadFeeds(beam.PTransform):
    """Feed sources -> ``articles``, ``rejects``, ``reports``, ``states`` (see the module docstring).

    ``now`` is the run's start (UTC); it decides which feeds are due. Without it, each host's
    call uses the time it starts.
    """

    def __init__(self, sources: Sequence[FeedSource], policy: FetchPolicy | None = None,
                 schedule: FeedSchedule | None = None, state_dir: str | None = None,
                 now: dt.datetime | None = None) -> None:
        super().__init__()
        if any(not isinstance(source, FeedSource) for source in sources):
            raise ValueError("ReadFeeds takes FeedSource entries (see core.feed_list)")
        if policy is not None and not isinstance(policy, FetchPolicy):
            raise ValueError("policy must be a FetchPolicy")
        if schedule is not None and not isinstance(schedule, FeedSchedule):
            raise ValueError("schedule must be a FeedSchedule")
        if state_dir is not None and (not isinstance(state_dir, str) or not state_dir.strip()):
            raise ValueError("state_dir must be a non-empty path or None")
        if now is not None and (now.tzinfo is None or now.utcoffset() != dt.timedelta(0)):
            raise ValueError("now must be a UTC datetime")
        self.sources = list(sources)
        self.policy = policy or FetchPolicy()
        self.schedule = schedule or FeedSchedule()
        self.state_dir = state_dir
        self.now = now

    def expand(self, pbegin):
        return (
            pbegin
            | "ListFeeds" >> beam.Create(self.sources)
            | "KeyByHost" >> beam.Map(_key_by_host, self.policy.host_concurrency)
            | "GroupByHost" >> beam.GroupByKey()  # one host's feeds in one call, hosts in parallel
            | "FetchHostFeeds" >> beam.ParDo(
                FetchHostFeedsFn(self.policy, self.schedule, self.state_dir, self.now)
            ).with_outputs(REJECTS, REPORTS, STATES, main=ARTICLES)
        )


class _KeepIfCommittedFn(beam.DoFn):
    def process(self, state: FeedState, manifest: dict):
        if manifest.get("status") in COMMITTED:
            yield state


class _WriteFeedStateFn(beam.DoFn):
    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir

    def setup(self) -> None:
        self.store = FeedStateStore(self.state_dir)

    def process(self, state: FeedState):
        yield self.store.save(state)


class SaveFeedState(beam.PTransform):
    """ReadFeeds' ``states`` -> one file per feed under ``state_dir``, after the run is committed.

    In:  the ``states`` of ReadFeeds; ``manifest`` is the one-element PCollection of the written
    run manifest (WriteManifest's output). It is a side input, so nothing is saved before the
    manifest exists, and nothing at all unless its status is ok or quarantined.
    Out: the paths written.

        feeds.states | "SaveFeedState" >> SaveFeedState(state_dir, manifest)
    """

    def __init__(self, state_dir: str, manifest: beam.PCollection) -> None:
        super().__init__()
        if not isinstance(state_dir, str) or not state_dir.strip():
            raise ValueError("SaveFeedState needs a state directory")
        if not isinstance(manifest, beam.PCollection):
            raise ValueError("SaveFeedState needs the manifest PCollection (WriteManifest's output)")
        self.state_dir, self.manifest = state_dir, manifest

    def expand(self, states):
        return (
            states
            | "WaitForManifest" >> beam.ParDo(_KeepIfCommittedFn(), beam.pvalue.AsSingleton(self.manifest))
            | "WriteFeedState" >> beam.ParDo(_WriteFeedStateFn(self.state_dir))
        )
