"""core.feeds.update_feed / update_host_feeds: fetch + parse + state against a real server on localhost.

Time is the ``now`` argument, so due times and backoff are checked without sleeping; HTTP retries
use tiny backoff settings.
"""

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from live_server import LiveServer
from werkzeug import Response

from pipelines.core import records as r
from pipelines.core.feed_list import FeedSource
from pipelines.core.feed_state import FeedSchedule, FeedState, FeedStateStore
from pipelines.core.feeds import FEED_COUNTERS, feed_counts, update_feed, update_host_feeds
from pipelines.core.fetch import FetchPolicy, make_session

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLICY = FetchPolicy(connect_timeout=2, read_timeout=2, deadline=5, retries=1, backoff_factor=0.01,
                     backoff_max=0.02, backoff_jitter=0.01, max_retry_after=1, host_interval=0)
SCHEDULE = FeedSchedule(interval=1800, min_backoff=900, max_backoff=6 * 3600, dead_recheck=7 * 86400)
HOUR = dt.timedelta(hours=1)


def rss(*titles: str, channel: str = "Channel", encoding: str | None = "utf-8", charset: str = "utf-8") -> bytes:
    decl = f'<?xml version="1.0" encoding="{encoding}"?>' if encoding else '<?xml version="1.0"?>'
    items = "".join(f"<item><title>{t}</title><link>https://ex.com/{i}</link><guid>g-{t}</guid></item>"
                    for i, t in enumerate(titles))
    return f'{decl}<rss version="2.0"><channel><title>{channel}</title>{items}</channel></rss>'.encode(charset)


@pytest.fixture
def session():
    with make_session(POLICY) as s:
        yield s


def update(source, previous, now=NOW, session=None):
    with make_session(POLICY) as own:
        return update_feed(source, previous, now, session or own, POLICY, SCHEDULE)


def test_first_fetch_then_304_via_etag(httpserver):
    def handler(request):
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(rss("One", "Two"), headers={"ETag": '"v1"'}, content_type="application/rss+xml")

    httpserver.expect_request("/f").respond_with_handler(handler)
    source = FeedSource(httpserver.url_for("/f"), "Feed")
    first = update(source, None)
    report = first.result.report
    assert [e["title"] for e in first.result.entries] == ["One", "Two"]
    assert (report["status"], report["http_status"], report["entries"], report["new_entries"]) == ("ok", 200, 2, 2)
    assert report["next_due"] == (NOW + dt.timedelta(minutes=30)).isoformat()
    assert first.state.etag == '"v1"' and first.state.body_hash

    later = NOW + HOUR
    second = update(source, first.state, later)
    assert second.result.entries == [] and second.result.rejects == []  # a 304 costs nothing downstream
    report = second.result.report
    assert (report["status"], report["http_status"], report["bytes"], report["entries"]) == ("not_modified", 304, 0, 0)
    assert report["next_due"] == (later + dt.timedelta(minutes=30)).isoformat()
    assert httpserver.log[1][0].headers.get("If-None-Match") == '"v1"'
    assert second.state.body_hash == first.state.body_hash and second.state.last_success == later


def test_304_via_last_modified(httpserver):
    stamp = "Thu, 26 Nov 2026 09:00:00 GMT"

    def handler(request):
        if request.headers.get("If-Modified-Since") == stamp:
            return Response(status=304)
        return Response(rss("One"), headers={"Last-Modified": stamp})

    httpserver.expect_request("/f").respond_with_handler(handler)
    source = FeedSource(httpserver.url_for("/f"))
    first = update(source, None)
    assert first.state.last_modified == stamp and first.state.etag is None
    second = update(source, first.state, NOW + HOUR)
    assert second.result.report["status"] == "not_modified" and second.result.report["http_status"] == 304
    assert httpserver.log[1][0].headers.get("If-Modified-Since") == stamp


def test_a_server_ignoring_validators_is_caught_by_the_body_hash(httpserver):
    body = [rss("One", "Two")]
    httpserver.expect_request("/f").respond_with_handler(
        lambda request: Response(body[0], headers={"ETag": '"always-new"'}))
    source = FeedSource(httpserver.url_for("/f"))
    first = update(source, None)
    same = update(source, first.state, NOW + HOUR)
    report = same.result.report
    assert same.result.entries == [] and same.result.rejects == []
    assert (report["status"], report["http_status"], report["bytes"]) == ("not_modified", 200, len(body[0]))
    body[0] = rss("One", "Two", "Three")  # the feed really changes
    changed = update(source, same.state, NOW + 2 * HOUR)
    report = changed.result.report
    assert (report["status"], report["entries"], report["new_entries"]) == ("ok", 3, 1)
    assert changed.state.body_hash != first.state.body_hash


def test_a_feed_that_is_not_due_is_not_asked(httpserver):
    httpserver.expect_request("/f").respond_with_data(rss("One"))
    source = FeedSource(httpserver.url_for("/f"))
    first = update(source, None)
    skipped = update(source, first.state, NOW + dt.timedelta(minutes=10))
    assert len(httpserver.log) == 1
    report = skipped.result.report
    assert (report["status"], report["entries"], report["error"]) == ("not_due", 0, None)
    assert report["next_due"] == first.result.report["next_due"]
    assert skipped.state == first.state and skipped.result.rejects == []


def test_failing_feed_backs_off_is_kept_and_recovers(httpserver):
    healthy = [True]
    httpserver.expect_request("/f").respond_with_handler(
        lambda request: Response(rss("One"), headers={"ETag": '"v1"'}) if healthy[0] else Response("oops", status=500))
    source = FeedSource(httpserver.url_for("/f"))
    good = update(source, None)
    healthy[0] = False

    now = good.state.next_due
    failed = update(source, good.state, now)
    [reject] = failed.result.rejects
    assert reject.reason == r.FEED_HTTP_ERROR
    report = failed.result.report
    assert (report["status"], report["reason"], report["http_status"], report["failures"]) == ("error", r.FEED_HTTP_ERROR, 500, 1)
    assert failed.state.next_due == now + dt.timedelta(minutes=30)
    assert failed.state.etag == '"v1"'  # validators of the last good fetch are kept

    waiting = update(source, failed.state, now + dt.timedelta(minutes=5))
    assert waiting.result.report["status"] == "not_due"
    assert "backing off after 1 failure(s): FEED_HTTP_ERROR" in waiting.result.report["error"]

    now = failed.state.next_due
    again = update(source, failed.state, now)
    assert again.state.failures == 2 and again.state.next_due == now + HOUR  # doubled

    healthy[0] = True
    now = again.state.next_due
    recovered = update(source, again.state, now)
    assert recovered.result.report["status"] == "not_modified"  # same body as the last good fetch
    assert recovered.state.failures == 0 and recovered.state.next_due == now + dt.timedelta(minutes=30)


def test_410_marks_the_feed_dead_and_it_is_not_asked_every_run(httpserver):
    gone = [True]
    httpserver.expect_request("/f").respond_with_handler(
        lambda request: Response("gone", status=410) if gone[0] else Response(rss("Back")))
    source = FeedSource(httpserver.url_for("/f"))
    first = update(source, None)
    assert [rej.reason for rej in first.result.rejects] == [r.FEED_GONE]
    assert first.result.report["status"] == "error" and first.state.dead

    for days in (1, 3, 6):
        skipped = update(source, first.state, NOW + dt.timedelta(days=days))
        report = skipped.result.report
        assert (report["status"], report["reason"], skipped.result.rejects) == ("dead", r.FEED_GONE, [])
    assert len(httpserver.log) == 1

    gone[0] = False
    back = update(source, first.state, NOW + dt.timedelta(days=7))
    assert back.result.report["status"] == "ok" and not back.state.dead and back.state.failures == 0


def test_429_retry_after_moves_the_next_due_time(httpserver):
    httpserver.expect_request("/f").respond_with_data("slow down", status=429, headers={"Retry-After": "7200"})
    result = update(FeedSource(httpserver.url_for("/f")), None)
    assert result.result.report["reason"] == r.FEED_RATE_LIMITED
    assert result.state.next_due == NOW + dt.timedelta(hours=2)
    assert len(httpserver.log) == 1


def test_redirect_is_reported_with_the_final_url(httpserver):
    httpserver.expect_request("/old").respond_with_response(
        Response(status=301, headers={"Location": httpserver.url_for("/new")}))
    httpserver.expect_request("/new").respond_with_data(rss("One"))
    report = update(FeedSource(httpserver.url_for("/old")), None).result.report
    assert report["status"] == "ok" and report["final_url"] == httpserver.url_for("/new")


def test_bozo_feed_keeps_what_was_recovered(httpserver):
    cut = rss("One", "Two")[:-40]
    httpserver.expect_request("/f").respond_with_data(cut)
    result = update(FeedSource(httpserver.url_for("/f")), None)
    report = result.result.report
    assert report["status"] == "bozo" and report["bozo"] and report["entries"] >= 1
    assert result.result.rejects == [] and result.state.failures == 0


def test_a_feed_that_yields_nothing_is_reported_not_fatal(httpserver):
    page = b"<!DOCTYPE html><html><body><p>Not a feed</p></body></html>"
    httpserver.expect_request("/page").respond_with_data(page, content_type="text/html; charset=utf-8")
    result = update(FeedSource(httpserver.url_for("/page")), None)
    [reject] = result.result.rejects
    assert reject.reason == r.FEED_MALFORMED and reject.payload == page
    assert "served as text/html" in reject.message
    report = result.result.report
    assert (report["status"], report["http_status"], report["bytes"], report["content_type"]) == (
        "error", 200, len(page), "text/html; charset=utf-8")
    assert result.state.failures == 1 and result.state.body_hash is None  # will be fetched in full again


def test_rss_served_with_a_wrong_content_type_is_still_read(httpserver):
    httpserver.expect_request("/f").respond_with_data(rss("One"), content_type="text/html")
    report = update(FeedSource(httpserver.url_for("/f")), None).result.report
    assert (report["status"], report["entries"], report["content_type"]) == ("ok", 1, "text/html")


@pytest.mark.parametrize("title,encoding,charset,content_type", [
    ("Café crème brûlée", "ISO-8859-1", "latin-1", "text/xml"),  # declared in XML, none in HTTP
    ("Café crème brûlée", None, "latin-1", "application/rss+xml; charset=ISO-8859-1"),  # HTTP only
    ("Новости дня: Москва", "windows-1251", "cp1251", "application/rss+xml"),
    ("Новости дня: Москва", None, "cp1251", "text/xml; charset=windows-1251"),
])
def test_legacy_encodings(httpserver, title, encoding, charset, content_type):
    httpserver.expect_request("/f").respond_with_data(rss(title, channel=title, encoding=encoding, charset=charset),
                                                      content_type=content_type)
    result = update(FeedSource(httpserver.url_for("/f")), None)
    assert result.result.report["status"] == "ok", result.result.report["bozo"]
    [entry] = result.result.entries
    assert entry["title"] == title and entry["source_name"] == title


def test_local_files_are_always_read_and_new_entries_counted(tmp_path):
    path = tmp_path / "a.rss"
    path.write_bytes(rss("One", "Two"))
    source = FeedSource(str(path))
    first = update(source, None)
    assert first.result.report["next_due"] is None and first.state.next_due is None
    second = update(source, first.state, NOW)  # same time, same body: still read
    assert (second.result.report["status"], second.result.report["entries"],
            second.result.report["new_entries"]) == ("ok", 2, 0)
    path.write_bytes(rss("One", "Two", "Three"))
    assert update(source, second.state).result.report["new_entries"] == 1
    missing = update(FeedSource(str(tmp_path / "missing.rss")), None)
    assert missing.result.rejects[0].reason == r.FEED_NOT_FOUND
    assert missing.result.report["next_due"] is None


def test_state_of_another_feed_is_ignored(httpserver):
    httpserver.expect_request("/f").respond_with_data(rss("One"))
    other = FeedState("https://other.example/rss", etag='"x"', next_due=NOW + HOUR)
    result = update(FeedSource(httpserver.url_for("/f")), other)
    assert result.result.report["status"] == "ok" and result.state.url == httpserver.url_for("/f")
    assert "If-None-Match" not in httpserver.log[0][0].headers


# --- one host's feeds ---------------------------------------------------------------------------------

def test_host_feeds_are_fetched_in_order_and_spaced(session):
    slept = []
    with LiveServer() as server:
        for name in ("a", "b", "c", "d"):
            server.route(f"/{name}", lambda h, name=name: h.reply(200, rss(name)))
        sources = [FeedSource(server.url(f"/{name}")) for name in ("d", "b", "a", "c")]
        not_due = FeedState(server.url("/c"), next_due=NOW + HOUR)
        updates = list(update_host_feeds(sources, {not_due.url: not_due}, NOW, session,
                                         FetchPolicy(host_interval=30, retries=0), SCHEDULE,
                                         sleep=slept.append))
        hits = [hit.path for hit in server.hits()]
    assert [u.result.report["feed"].rsplit("/", 1)[1] for u in updates] == ["a", "b", "c", "d"]
    assert [u.result.report["status"] for u in updates] == ["ok", "ok", "not_due", "ok"]
    assert hits == ["/a", "/b", "/d"]  # one at a time, in order, the not-due one skipped
    assert len(slept) == 2 and all(29 < s <= 30 for s in slept)  # before /b and /d, not before /a or /c


# --- a restart: state written by one process is used by the next --------------------------------------

RUN_ONCE = textwrap.dedent("""
    import datetime as dt, json, sys
    from pipelines.core.feed_list import FeedSource
    from pipelines.core.feed_state import FeedSchedule, FeedStateStore
    from pipelines.core.feeds import update_feed
    from pipelines.core.fetch import FetchPolicy, make_session

    url, state_dir, now = sys.argv[1], sys.argv[2], dt.datetime.fromisoformat(sys.argv[3])
    store = FeedStateStore(state_dir)
    policy = FetchPolicy(retries=0, host_interval=0)
    with make_session(policy) as session:
        update = update_feed(FeedSource(url), store.load(url), now, session, policy, FeedSchedule(interval=60))
    store.save(update.state)
    print(json.dumps(update.result.report))
""")


@pytest.mark.slow
def test_state_survives_a_process_restart(httpserver, tmp_path):
    def handler(request):
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(rss("One"), headers={"ETag": '"v1"'})

    httpserver.expect_request("/f").respond_with_handler(handler)
    url, state_dir = httpserver.url_for("/f"), str(tmp_path / "_state")

    def run(now: dt.datetime) -> dict:
        done = subprocess.run([sys.executable, "-c", RUN_ONCE, url, state_dir, now.isoformat()], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert run(NOW)["status"] == "ok"
    assert run(NOW + dt.timedelta(seconds=60))["status"] == "not_modified"  # validators from the first process
    state_file = FeedStateStore(state_dir).path(url)
    Path(state_file).write_text("{ corrupt")
    assert run(NOW + dt.timedelta(seconds=61))["status"] == "ok"  # a broken file: fetch everything, no crash
    assert [entry[0].headers.get("If-None-Match") for entry in httpserver.log] == [None, '"v1"', None]


# --- feed_counts --------------------------------------------------------------------------------------

def test_feed_counts():
    reports = [
        {"status": "ok", "bytes": 100, "entries": 3, "new_entries": 1},
        {"status": "bozo", "bytes": 50, "entries": 2, "new_entries": 2},
        {"status": "error", "bytes": 10, "entries": 0, "new_entries": 0},
        {"status": "not_modified", "bytes": 0, "entries": 0, "new_entries": 0},
        {"status": "not_modified", "bytes": 70, "entries": 0, "new_entries": 0},
        {"status": "not_due", "bytes": 0, "entries": 0, "new_entries": 0},
        {"status": "dead", "bytes": 0, "entries": 0, "new_entries": 0},
    ]
    assert feed_counts(reports) == {"feeds": 7, "fetched": 2, "bozo": 1, "not_modified": 2, "not_due": 1, "dead": 1,
                                    "failed": 1, "bytes": 230, "entries": 5, "new_entries": 3}
    assert feed_counts([]) == dict.fromkeys(FEED_COUNTERS, 0)
