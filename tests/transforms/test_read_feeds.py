import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
import pytest

from conftest import SEEDS
from pipelines.core.feed_list import FeedSource
from pipelines.transforms import ReadFeeds

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>
<item><title>One</title><link>https://example.com/1</link></item>
<item><title>Two</title><link>https://example.com/2</link></item></channel></rss>"""


def test_local_remote_missing_and_malformed_feeds(tmp_path, httpserver):
    httpserver.expect_request("/feed.xml").respond_with_data(RSS, content_type="application/rss+xml")
    httpserver.expect_request("/gone.xml").respond_with_data("gone", status=410)
    (tmp_path / "broken.xml").write_bytes(b"<html><body>This is not a feed</body>")
    sources = [
        FeedSource(str(SEEDS / "feeds" / "world.rss")),
        FeedSource(httpserver.url_for("/feed.xml"), name="Served"),
        FeedSource(httpserver.url_for("/gone.xml")),
        FeedSource(str(tmp_path / "missing.rss")),
        FeedSource(str(tmp_path / "broken.xml")),
    ]
    with TestPipeline() as p:
        feeds = p | ReadFeeds(sources)
        assert_that(feeds.articles | beam.Map(lambda raw: (raw["source_name"], raw["title"])),
                    equal_to([("Example World News", "Climate negotiators meet in Bonn to prepare for the next summit"),
                              ("Example World News", "Mumbai hit by early monsoon floods"),
                              ("Example World News", "Afghan government and Taliban hold first prisoner talks by video link"),
                              ("Example World News", "Fed makes emergency half-point rate cut"),
                              ("Served", "One"), ("Served", "Two")]),
                    label="Articles")
        assert_that(feeds.rejects | beam.Map(lambda rej: (rej.source.rsplit("/", 1)[1], rej.reason)),
                    equal_to([("gone.xml", "FEED_HTTP_ERROR"), ("missing.rss", "FEED_NOT_FOUND"),
                              ("broken.xml", "FEED_MALFORMED")]),
                    label="Rejects")
        assert_that(feeds.reports | beam.Map(lambda rep: (rep["feed"].rsplit("/", 1)[1], rep["status"], rep["entries"])),
                    equal_to([("world.rss", "ok", 4), ("feed.xml", "ok", 2), ("gone.xml", "error", 0),
                              ("missing.rss", "error", 0), ("broken.xml", "error", 0)]),
                    label="Reports")


def test_sources_are_checked_at_construction():
    with pytest.raises(ValueError):
        ReadFeeds(["feeds/world.rss"])
