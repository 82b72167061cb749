import datetime as dt
import itertools

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import SEEDS
from live_server import LiveServer
from werkzeug import Response

from pipelines.core.feed_list import FeedSource
from pipelines.core.feed_state import FeedSchedule, FeedStateStore
from pipelines.core.fetch import FetchPolicy
from pipelines.transforms import ReadFeeds
from pipelines.transforms.read_feeds import SaveFeedState, read_feed_counters

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>
<item><title>One</title><link>https://example.com/1</link></item>
<item><title>Two</title><link>https://example.com/2</link></item></channel></rss>"""
UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FAST = FetchPolicy(connect_timeout=2, read_timeout=2, deadline=5, retries=1, backoff_factor=0.01,
                   backoff_max=0.02, backoff_jitter=0.0, host_interval=0)


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
        feeds = p | ReadFeeds(sources)  # as existing callers use it: default policy, no state
        assert_that(feeds.articles | beam.Map(lambda raw: (raw["source_name"], raw["title"])),
                    equal_to([("Example World News", "Climate negotiators meet in Bonn to prepare for the next summit"),
                              ("Example World News", "Mumbai hit by early monsoon floods"),
                              ("Example World News", "Afghan government and Taliban hold first prisoner talks by video link"),
                              ("Example World News", "Fed makes emergency half-point rate cut"),
                              ("Served", "One"), ("Served", "Two")]),
                    label="Articles")
        assert_that(feeds.rejects | beam.Map(lambda rej: (rej.source.rsplit("/", 1)[1], rej.reason)),
                    equal_to([("gone.xml", "FEED_GONE"), ("missing.rss", "FEED_NOT_FOUND"),
                              ("broken.xml", "FEED_MALFORMED")]),
                    label="Rejects")
        assert_that(feeds.reports | beam.Map(lambda rep: (rep["feed"].rsplit("/", 1)[1], rep["status"], rep["entries"])),
                    equal_to([("world.rss", "ok", 4), ("feed.xml", "ok", 2), ("gone.xml", "error", 0),
                              ("missing.rss", "error", 0), ("broken.xml", "error", 0)]),
                    label="Reports")
        assert_that(feeds.states | beam.Map(lambda state: (state.url.rsplit("/", 1)[1], state.failures, state.dead)),
                    equal_to([("world.rss", 0, False), ("feed.xml", 0, False), ("gone.xml", 1, True),
                              ("missing.rss", 1, False), ("broken.xml", 1, False)]),
                    label="States")


def _counters(result) -> dict:
    return {name: value for name, value in read_feed_counters(result).items() if value}


def _run(sources, state_dir, now, manifest_status):
    """One run: ReadFeeds with state, then SaveFeedState gated by a manifest with ``manifest_status``."""
    p = TestPipeline()
    feeds = p | ReadFeeds(sources, FAST, FeedSchedule(interval=600), state_dir=str(state_dir), now=now)
    manifest = p | "Manifest" >> beam.Create([{"run_id": "r", "status": manifest_status}])
    feeds.states | "SaveFeedState" >> SaveFeedState(str(state_dir), manifest)
    reports = feeds.reports | beam.Map(lambda rep: (rep["feed"].rsplit("/", 1)[1], rep["status"], rep["http_status"]))
    titles = feeds.articles | beam.Map(lambda raw: raw["title"])
    result = p.run()
    result.wait_until_finish()
    return result, reports, titles


def test_state_is_saved_only_after_a_committed_run_and_used_by_the_next(tmp_path, httpserver):
    def handler(request):
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(RSS, headers={"ETag": '"v1"'}, content_type="application/rss+xml")

    httpserver.expect_request("/feed.xml").respond_with_handler(handler)
    httpserver.expect_request("/down.xml").respond_with_data("oops", status=503)
    feed, down = FeedSource(httpserver.url_for("/feed.xml")), FeedSource(httpserver.url_for("/down.xml"))
    state_dir = tmp_path / "_state"
    store = FeedStateStore(str(state_dir))

    # 1: the run failed (its manifest says so): nothing is saved, the next run fetches everything
    result, *_ = _run([feed, down], state_dir, NOW, "failed")
    assert store.load(feed.location) is None and store.load(down.location) is None
    assert _counters(result) == {"feeds": 2, "fetched": 1, "failed": 1, "bytes": len(RSS), "entries": 2,
                                 "new_entries": 2}

    # 2: committed: the states are saved
    _run([feed, down], state_dir, NOW, "ok")
    saved = store.load(feed.location)
    assert saved.etag == '"v1"' and saved.next_due == NOW + dt.timedelta(minutes=10)
    assert store.load(down.location).failures == 1

    # 3: a later run sends the validators; the failing feed waits out its backoff
    p = TestPipeline()
    feeds = p | ReadFeeds([feed, down], FAST, FeedSchedule(interval=600), state_dir=str(state_dir),
                          now=NOW + dt.timedelta(minutes=10))
    assert_that(feeds.articles, equal_to([]), label="NoArticles")
    assert_that(feeds.rejects, equal_to([]), label="NoRejects")
    assert_that(feeds.reports | beam.Map(lambda rep: (rep["feed"].rsplit("/", 1)[1], rep["status"], rep["http_status"])),
                equal_to([("feed.xml", "not_modified", 304), ("down.xml", "not_due", None)]), label="Reports")
    result = p.run()
    result.wait_until_finish()
    assert _counters(result) == {"feeds": 2, "not_modified": 1, "not_due": 1}
    assert [entry[0].headers.get("If-None-Match") for entry in httpserver.log if entry[0].path == "/feed.xml"] == [
        None, None, '"v1"']


def test_one_host_is_never_fetched_in_parallel(tmp_path):
    policy = FetchPolicy(retries=0, host_interval=0.1)
    with LiveServer() as server:
        paths = [f"/f{i}.xml" for i in range(3)]
        for path in paths:
            server.route(path, lambda h: h.reply(200, RSS, delay=0.1))
        sources = [FeedSource(server.url(path, host)) for host in ("127.0.0.1", "localhost") for path in paths]
        options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_threading"])
        with TestPipeline(options=options) as p:
            feeds = p | ReadFeeds(sources, policy, now=NOW)
            assert_that(feeds.reports | beam.Map(lambda rep: rep["status"]), equal_to(["ok"] * 6))
        hits = server.hits()
    assert len(hits) == 6
    for host in ("127.0.0.1", "localhost"):
        mine = sorted((hit for hit in hits if hit.host == host), key=lambda hit: hit.started)
        assert [hit.path for hit in mine] == paths  # one after another, in order of URL
        for before, after in itertools.pairwise(mine):
            assert after.started - before.ended >= 0.09  # never overlapping, and spaced


def test_arguments_are_checked_at_construction():
    with pytest.raises(ValueError):
        ReadFeeds(["feeds/world.rss"])
    with pytest.raises(ValueError):
        ReadFeeds([], policy={"retries": 1})
    with pytest.raises(ValueError):
        ReadFeeds([], schedule=600)
    with pytest.raises(ValueError):
        ReadFeeds([], state_dir="  ")
    with pytest.raises(ValueError):
        ReadFeeds([], now=dt.datetime(2026, 11, 27, 12, 0))  # naive
    with pytest.raises(ValueError):
        SaveFeedState("out/_state", manifest=[{"status": "ok"}])
    with pytest.raises(ValueError):
        SaveFeedState("", manifest=None)


def test_no_feeds_is_fine():
    with TestPipeline() as p:
        feeds = p | ReadFeeds([], state_dir="/nonexistent/state")
        assert_that(feeds.reports, equal_to([]))
