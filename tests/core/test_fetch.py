"""core.fetch: the polite HTTP client, against real servers on localhost (pytest-httpserver, and a
threaded http.server for stalls, drips, resets and timing). No mocked client."""

import datetime as dt
import gzip
import io
import socket
import zlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from live_server import LiveServer, sequence
from werkzeug import Response

from pipelines.core import records as r
from pipelines.core.fetch import (
    MAX_FEED_BYTES,
    USER_AGENT,
    FetchError,
    FetchPolicy,
    HostPacer,
    fetch_url,
    host_key,
    make_session,
    read_capped,
    read_local,
    retry_after_seconds,
)

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
FAST = FetchPolicy(connect_timeout=2, read_timeout=2, deadline=5, retries=2, backoff_factor=0.01,
                   backoff_max=0.05, backoff_jitter=0.01, max_retry_after=2, host_interval=0)
UTC = dt.timezone.utc


def fetch(url, policy=FAST, **kwargs):
    with make_session(policy) as session:
        return fetch_url(session, url, policy, **kwargs)


def failure(url, policy=FAST, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, policy, **kwargs)
    return info.value


# --- 200, headers -------------------------------------------------------------------------------------

def test_200_returns_body_validators_and_type(httpserver):
    httpserver.expect_request("/feed.rss").respond_with_data(
        FEED, content_type="application/rss+xml",
        headers={"ETag": '"v1"', "Last-Modified": "Wed, 25 Nov 2026 10:00:00 GMT"})
    fetched = fetch(httpserver.url_for("/feed.rss"))
    assert fetched.body == FEED
    assert fetched.http_status == 200
    assert fetched.etag == '"v1"'
    assert fetched.last_modified == "Wed, 25 Nov 2026 10:00:00 GMT"
    assert fetched.content_type.startswith("application/rss+xml")
    assert fetched.final_url == httpserver.url_for("/feed.rss")


def test_sends_a_descriptive_user_agent_and_accepts_gzip(httpserver):
    httpserver.expect_request("/ua", headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
                              ).respond_with_data(b"ok")
    assert fetch(httpserver.url_for("/ua")).body == b"ok"
    assert USER_AGENT.startswith("news-ingest/") and "+http" in USER_AGENT


def test_user_agent_is_configurable(httpserver):
    policy = FetchPolicy(user_agent="my-bot/2.0 (+mailto:ops@example.com)", retries=0)
    httpserver.expect_request("/ua", headers={"User-Agent": policy.user_agent}).respond_with_data(b"ok")
    assert fetch(httpserver.url_for("/ua"), policy).body == b"ok"


def test_no_conditional_headers_without_validators(httpserver):
    seen = []
    httpserver.expect_request("/f").respond_with_handler(
        lambda request: seen.append(dict(request.headers)) or Response(FEED))
    fetch(httpserver.url_for("/f"))
    assert "If-None-Match" not in seen[0] and "If-Modified-Since" not in seen[0]


# --- conditional GET ----------------------------------------------------------------------------------

def _conditional(etag=None, last_modified=None):
    """A handler that honours one validator, like a real server."""
    def handler(request):
        headers = {k: v for k, v in (("ETag", etag), ("Last-Modified", last_modified)) if v}
        if etag and request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers=headers)
        if last_modified and request.headers.get("If-Modified-Since") == last_modified:
            return Response(status=304, headers=headers)
        return Response(FEED, headers=headers, content_type="application/rss+xml")
    return handler


def test_304_via_etag(httpserver):
    httpserver.expect_request("/f").respond_with_handler(_conditional(etag='"abc"'))
    first = fetch(httpserver.url_for("/f"))
    assert first.body == FEED and first.etag == '"abc"'
    second = fetch(httpserver.url_for("/f"), etag=first.etag)
    assert second.body is None and second.http_status == 304
    assert second.etag == '"abc"'
    assert httpserver.log[1][0].headers["If-None-Match"] == '"abc"'


def test_304_via_last_modified(httpserver):
    stamp = "Tue, 24 Nov 2026 08:00:00 GMT"
    httpserver.expect_request("/f").respond_with_handler(_conditional(last_modified=stamp))
    first = fetch(httpserver.url_for("/f"))
    assert first.body == FEED and first.last_modified == stamp and first.etag is None
    second = fetch(httpserver.url_for("/f"), last_modified=first.last_modified)
    assert second.body is None and second.http_status == 304
    assert second.last_modified == stamp  # kept when the 304 does not repeat it


def test_a_server_that_ignores_validators_answers_200(httpserver):
    httpserver.expect_request("/f").respond_with_data(FEED)
    fetched = fetch(httpserver.url_for("/f"), etag='"old"', last_modified="Tue, 24 Nov 2026 08:00:00 GMT")
    assert fetched.body == FEED and fetched.http_status == 200  # the body hash catches this (core.feeds)


# --- redirects ----------------------------------------------------------------------------------------

def _redirect(httpserver, path, target, status=301):
    httpserver.expect_request(path).respond_with_response(
        Response(status=status, headers={"Location": httpserver.url_for(target)}))


def test_301_302_chain_is_followed(httpserver):
    _redirect(httpserver, "/a", "/b", 301)
    _redirect(httpserver, "/b", "/c", 302)
    httpserver.expect_request("/c").respond_with_data(FEED, headers={"ETag": '"c"'})
    fetched = fetch(httpserver.url_for("/a"))
    assert fetched.body == FEED and fetched.etag == '"c"'
    assert fetched.final_url == httpserver.url_for("/c")


def test_redirect_loop(httpserver):
    _redirect(httpserver, "/loop1", "/loop2")
    _redirect(httpserver, "/loop2", "/loop1", 302)
    error = failure(httpserver.url_for("/loop1"))
    assert error.reason == r.FEED_TOO_MANY_REDIRECTS
    assert f"more than {FAST.max_redirects} redirects" in str(error)
    assert len(httpserver.log) == FAST.max_redirects + 1  # bounded


def test_redirect_limit(httpserver):
    for hop in range(3):
        _redirect(httpserver, f"/r{hop}", f"/r{hop + 1}", 307)
    httpserver.expect_request("/r3").respond_with_data(FEED)
    policy = FetchPolicy(retries=0, max_redirects=3)
    assert fetch(httpserver.url_for("/r0"), policy).body == FEED
    policy = FetchPolicy(retries=0, max_redirects=2)
    assert failure(httpserver.url_for("/r0"), policy).reason == r.FEED_TOO_MANY_REDIRECTS


def test_redirect_without_location_is_an_http_error(httpserver):
    httpserver.expect_request("/nowhere").respond_with_response(Response(status=302))
    error = failure(httpserver.url_for("/nowhere"))
    assert (error.reason, error.http_status) == (r.FEED_HTTP_ERROR, 302)


# --- errors, retries, Retry-After ---------------------------------------------------------------------

@pytest.mark.parametrize("status,reason", [(404, r.FEED_HTTP_ERROR), (403, r.FEED_HTTP_ERROR),
                                           (410, r.FEED_GONE)])
def test_client_errors_are_not_retried(httpserver, status, reason):
    httpserver.expect_request("/feed").respond_with_data(b"nope", status=status)
    error = failure(httpserver.url_for("/feed"))
    assert (error.reason, error.http_status) == (reason, status)
    assert f"HTTP {status}" in str(error)
    assert len(httpserver.log) == 1


def test_500_then_success(httpserver):
    httpserver.expect_ordered_request("/flaky").respond_with_data(b"oops", status=500)
    httpserver.expect_ordered_request("/flaky").respond_with_data(FEED)
    assert fetch(httpserver.url_for("/flaky")).body == FEED
    assert len(httpserver.log) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_then_reported(httpserver, status):
    httpserver.expect_request("/down").respond_with_data(b"oops", status=status)
    error = failure(httpserver.url_for("/down"))
    assert (error.reason, error.http_status) == (r.FEED_HTTP_ERROR, status)
    assert len(httpserver.log) == FAST.retries + 1


def test_no_retries_when_switched_off(httpserver):
    httpserver.expect_request("/down").respond_with_data(b"oops", status=503)
    failure(httpserver.url_for("/down"), FetchPolicy(retries=0))
    assert len(httpserver.log) == 1


def test_429_with_a_long_retry_after_is_not_waited_for(httpserver):
    httpserver.expect_request("/limited").respond_with_data(b"slow down", status=429,
                                                             headers={"Retry-After": "3600"})
    error = failure(httpserver.url_for("/limited"))
    assert (error.reason, error.http_status, error.retry_after) == (r.FEED_RATE_LIMITED, 429, "3600")
    assert "Retry-After: 3600" in str(error)
    assert len(httpserver.log) == 1  # asked once: the next due time moves instead (core.feed_state)


def test_503_with_a_long_http_date_retry_after(httpserver):
    later = "Fri, 27 Nov 2099 12:00:00 GMT"
    httpserver.expect_request("/maint").respond_with_data(b"", status=503, headers={"Retry-After": later})
    error = failure(httpserver.url_for("/maint"))
    assert (error.reason, error.http_status, error.retry_after) == (r.FEED_HTTP_ERROR, 503, later)
    assert len(httpserver.log) == 1


def test_429_with_a_short_retry_after_is_waited_for_then_retried():
    with LiveServer() as server:
        server.route("/limited", sequence(lambda h: h.reply(429, b"wait", {"Retry-After": "1"}),
                                          lambda h: h.reply(200, FEED)))
        assert fetch(server.url("/limited")).body == FEED
        first, second = server.hits("/limited")
    assert second.started - first.ended >= 0.9  # the server's wish, not our backoff (0.01 s)


def test_429_without_retry_after_gets_backoff_retries(httpserver):
    httpserver.expect_request("/limited").respond_with_data(b"", status=429)
    error = failure(httpserver.url_for("/limited"))
    assert error.reason == r.FEED_RATE_LIMITED and error.retry_after is None
    assert len(httpserver.log) == FAST.retries + 1


def test_garbled_retry_after_falls_back_to_backoff(httpserver):
    httpserver.expect_ordered_request("/odd").respond_with_data(b"", status=503, headers={"Retry-After": "soon"})
    httpserver.expect_ordered_request("/odd").respond_with_data(FEED)
    assert fetch(httpserver.url_for("/odd")).body == FEED


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_connection():
    error = failure(f"http://127.0.0.1:{_closed_port()}/feed.rss")
    assert error.reason == r.FEED_READ_ERROR and error.http_status is None
    assert "ConnectionError" in str(error)


def test_reset_connection_is_retried():
    with LiveServer() as server:
        server.route("/reset-once", sequence(lambda h: h.reset(), lambda h: h.reply(200, FEED)))
        server.route("/reset", lambda h: h.reset())
        assert fetch(server.url("/reset-once")).body == FEED
        assert len(server.hits("/reset-once")) == 2
        error = failure(server.url("/reset"))
        assert error.reason == r.FEED_READ_ERROR
        assert len(server.hits("/reset")) == FAST.retries + 1


def test_response_slower_than_the_read_timeout():
    policy = FetchPolicy(read_timeout=0.2, retries=1, backoff_factor=0.01, backoff_jitter=0)
    with LiveServer() as server:
        server.route("/slow", lambda h: h.reply(200, FEED, delay=1.0))
        error = failure(server.url("/slow"), policy)
        assert error.reason == r.FEED_TIMEOUT
        assert "timed out" in str(error).lower()
        assert len(server.hits("/slow")) == 2  # retried once


def test_a_dripping_body_is_cut_at_the_deadline():
    policy = FetchPolicy(read_timeout=1, deadline=0.3, retries=0)
    with LiveServer() as server:
        server.route("/drip", lambda h: h.drip(FEED, every=0.05))  # ~4 s in all, each byte well within 1 s
        error = failure(server.url("/drip"), policy)
    assert error.reason == r.FEED_TIMEOUT and error.http_status == 200
    assert "within 0.3s" in str(error)


# --- body size and encoding ---------------------------------------------------------------------------

def _chunked(data: bytes, size: int = 1000):
    return Response(data[i:i + size] for i in range(0, len(data), size))  # no Content-Length


def test_body_over_the_cap_while_streaming(httpserver):
    httpserver.expect_request("/big").respond_with_response(_chunked(b"x" * 5000))
    error = failure(httpserver.url_for("/big"), FetchPolicy(max_bytes=1000, retries=0))
    assert error.reason == r.FEED_TOO_LARGE and "1000 bytes" in str(error)


def test_content_length_over_the_cap_is_refused_before_reading(httpserver):
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)
    error = failure(httpserver.url_for("/big"), FetchPolicy(max_bytes=1000, retries=0))
    assert error.reason == r.FEED_TOO_LARGE and "Content-Length 5000" in str(error)


def test_body_exactly_at_the_cap(httpserver):
    httpserver.expect_request("/exact").respond_with_response(_chunked(b"y" * 1000, 300))
    assert fetch(httpserver.url_for("/exact"), FetchPolicy(max_bytes=1000, retries=0)).body == b"y" * 1000


def test_default_cap_is_10_mb():
    assert FetchPolicy().max_bytes == MAX_FEED_BYTES == 10 * 1024 * 1024


def test_gzip_is_decoded(httpserver):
    httpserver.expect_request("/gz").respond_with_data(gzip.compress(FEED), headers={"Content-Encoding": "gzip"})
    assert fetch(httpserver.url_for("/gz")).body == FEED


def test_deflate_is_decoded(httpserver):
    httpserver.expect_request("/deflate").respond_with_data(zlib.compress(FEED),
                                                            headers={"Content-Encoding": "deflate"})
    assert fetch(httpserver.url_for("/deflate")).body == FEED


def test_cap_counts_decoded_bytes(httpserver):
    bomb = gzip.compress(b"\0" * 200_000)  # a few hundred bytes on the wire
    assert len(bomb) < 1000
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    error = failure(httpserver.url_for("/bomb"), FetchPolicy(max_bytes=10_000, retries=0))
    assert error.reason == r.FEED_TOO_LARGE


def test_broken_gzip_is_a_read_error(httpserver):
    httpserver.expect_request("/gz").respond_with_data(b"not gzip at all", headers={"Content-Encoding": "gzip"})
    assert failure(httpserver.url_for("/gz")).reason == r.FEED_READ_ERROR


def test_wrong_content_type_is_passed_on_not_refused(httpserver):
    httpserver.expect_request("/feed").respond_with_data(FEED, content_type="text/html; charset=utf-8")
    fetched = fetch(httpserver.url_for("/feed"))
    assert fetched.body == FEED and fetched.content_type == "text/html; charset=utf-8"


@pytest.mark.parametrize("url", ["not a url", "http://", "ftp://127.0.0.1/feed"])
def test_unusable_urls_are_read_errors(url):
    assert failure(url).reason == r.FEED_READ_ERROR


# --- Retry-After parsing ------------------------------------------------------------------------------

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("value,seconds", [
    ("120", 120.0), (" 5 ", 5.0), ("0", 0.0),
    ("Fri, 27 Nov 2026 13:00:00 GMT", 3600.0),
    ("Fri, 27 Nov 2026 11:00:00 GMT", 0.0),  # in the past: now
    ("soon", None), ("", None), ("-5", None), ("1.5", None), (None, None),
])
def test_retry_after_seconds(value, seconds):
    assert retry_after_seconds(value, NOW) == seconds


# --- local files --------------------------------------------------------------------------------------

def test_read_capped_under_and_at_the_limit():
    assert read_capped(io.BytesIO(b"x" * 10), limit=10) == b"x" * 10
    assert read_capped(io.BytesIO(b""), limit=10) == b""


def test_read_capped_over_the_limit():
    with pytest.raises(FetchError) as info:
        read_capped(io.BytesIO(b"x" * 11), limit=10)
    assert info.value.reason == r.FEED_TOO_LARGE
    assert "10 bytes" in str(info.value)


def test_read_local(tmp_path):
    (tmp_path / "a.rss").write_bytes(FEED)
    fetched = read_local(str(tmp_path / "a.rss"))
    assert fetched.body == FEED and fetched.http_status is None and fetched.etag is None
    with pytest.raises(FetchError) as info:
        read_local(str(tmp_path / "missing.rss"))
    assert info.value.reason == r.FEED_NOT_FOUND
    with pytest.raises(FetchError) as info:
        read_local(str(tmp_path / "a.rss"), limit=10)
    assert info.value.reason == r.FEED_TOO_LARGE
    with pytest.raises(FetchError) as info:
        read_local(str(tmp_path))  # a directory
    assert info.value.reason == r.FEED_READ_ERROR


# --- politeness helpers and the policy ----------------------------------------------------------------

def test_host_key():
    assert host_key("https://Ex.com/a") == host_key("http://ex.com:8080/b?x=1") == "ex.com"
    assert host_key("https://other.com/a") == "other.com"
    assert host_key("/feeds/a.rss") != host_key("/feeds/b.rss")  # files need no pacing
    lanes = {host_key(f"https://ex.com/{i}", lanes=3) for i in range(60)}
    assert lanes == {"ex.com#0", "ex.com#1", "ex.com#2"}
    assert host_key("https://ex.com/7", lanes=3) == host_key("https://ex.com/7", lanes=3)


def test_host_pacer_keeps_the_interval_between_requests():
    now, slept = [100.0], []

    def sleep(seconds):
        slept.append(round(seconds, 6))
        now[0] += seconds

    pacer = HostPacer(2.0, sleep=sleep, clock=lambda: now[0])
    with pacer:
        now[0] += 0.5  # the first request takes 0.5 s
    assert slept == []  # no wait before the first
    with pacer:
        now[0] += 0.1
    assert slept == [2.0]
    now[0] += 1.5  # time passed elsewhere counts
    with pacer:
        pass
    assert slept == [2.0, 0.5]
    now[0] += 5
    with pacer:
        pass
    assert slept == [2.0, 0.5]


@pytest.mark.parametrize("kwargs", [
    {"connect_timeout": 0}, {"read_timeout": -1}, {"deadline": 0}, {"retries": -1}, {"max_redirects": -1},
    {"backoff_factor": -0.1}, {"max_bytes": 0}, {"host_concurrency": 0}, {"host_interval": -1},
    {"user_agent": " "}, {"user_agent": "a\nb"},
])
def test_policy_is_checked(kwargs):
    with pytest.raises(ValueError):
        FetchPolicy(**kwargs)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=40)))
@example("\u00b2")  # a digit to str.isdigit(), not to float()
@example("Fri, 27 Nov 99999 13:00:00 GMT")
def test_retry_after_seconds_never_raises(value):
    seconds = retry_after_seconds(value, NOW)
    assert seconds is None or seconds >= 0
