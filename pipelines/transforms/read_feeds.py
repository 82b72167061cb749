"""ReadFeeds: feed list entries (local paths or http(s) URLs) -> raw articles.

In:  the pipeline root; the feed sources are given to the constructor.
Out: ``articles`` (raw article dicts), ``rejects`` (``Reject``: a feed that
could not be read or parsed at all, one per feed) and ``reports`` (one dict
per feed for the run manifest).

    feeds = p | ReadFeeds(load_feed_list("seeds/feeds.yaml"))   # feeds.articles, .rejects, .reports
"""

from __future__ import annotations

import logging
from typing import Sequence

import apache_beam as beam
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from pipelines.core import records as r
from pipelines.core.feed_list import FeedSource
from pipelines.core.feeds import FeedResult, failed_feed, parse_feed
from pipelines.core.fetch import FetchError, http_get, read_capped
from pipelines.transforms.tags import ARTICLES, REJECTS, REPORTS

LOG = logging.getLogger("news_ingest")


def read_feed_bytes(source: FeedSource) -> bytes:
    """The feed's bytes from its URL or path; FetchError when they cannot be had."""
    if source.is_remote:
        return http_get(source.location)
    if not FileSystems.exists(source.location):
        raise FetchError(r.FEED_NOT_FOUND, f"feed file not found: {source.location}")
    try:
        with FileSystems.open(source.location) as handle:
            return read_capped(handle)
    except (OSError, BeamIOError) as exc:
        raise FetchError(r.FEED_READ_ERROR, f"cannot read feed: {exc}") from None


def read_feed(source: FeedSource) -> FeedResult:
    """Fetch and parse one feed; never raises for bad input."""
    try:
        data = read_feed_bytes(source)
    except FetchError as exc:
        return failed_feed(source, exc.reason, str(exc))
    try:
        return parse_feed(source, data)
    except Exception as exc:  # one bad feed must not stop the run; it is reported and kept
        return failed_feed(source, r.STAGE_ERROR, f"{type(exc).__name__}: {exc}", data)


class ReadFeedFn(beam.DoFn):
    def process(self, source: FeedSource):
        result = read_feed(source)
        report = result.report
        if report["status"] == "error":
            LOG.warning("feed %s: %s %s", source.location, report["reason"], report["error"])
        else:
            LOG.info("feed %s: %d entries%s", source.location, report["entries"],
                     f" (malformed: {report['bozo']})" if report["bozo"] else "")
        yield from result.entries
        for reject in result.rejects:
            yield beam.pvalue.TaggedOutput(REJECTS, reject)
        yield beam.pvalue.TaggedOutput(REPORTS, report)


class ReadFeeds(beam.PTransform):
    def __init__(self, sources: Sequence[FeedSource]) -> None:
        super().__init__()
        if any(not isinstance(source, FeedSource) for source in sources):
            raise ValueError("ReadFeeds takes FeedSource entries (see core.feed_list)")
        self.sources = list(sources)

    def expand(self, pbegin):
        return (
            pbegin
            | "ListFeeds" >> beam.Create(self.sources)
            | "SpreadFeeds" >> beam.Reshuffle()  # fetches run in parallel, not in one bundle
            | "ReadFeed" >> beam.ParDo(ReadFeedFn()).with_outputs(REJECTS, REPORTS, main=ARTICLES)
        )
