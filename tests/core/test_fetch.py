"""core.fetch: bounded reads, against a real HTTP server on localhost (pytest-httpserver)."""

import gzip
import io
import socket
import time

import pytest
from werkzeug import Response

from pipelines.core import records as r
from pipelines.core.fetch import USER_AGENT, FetchError, http_get, read_capped

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'


# --- read_capped --------------------------------------------------------------------------------------

def test_read_capped_under_and_at_the_limit():
    assert read_capped(io.BytesIO(b"x" * 10), limit=10) == b"x" * 10
    assert read_capped(io.BytesIO(b""), limit=10) == b""


def test_read_capped_over_the_limit():
    with pytest.raises(FetchError) as info:
        read_capped(io.BytesIO(b"x" * 11), limit=10)
    assert info.value.reason == r.FEED_TOO_LARGE
    assert "10 bytes" in str(info.value)


# --- http_get -----------------------------------------------------------------------------------------

def test_200_returns_the_body(httpserver):
    httpserver.expect_request("/feed.rss").respond_with_data(FEED, content_type="application/rss+xml")
    assert http_get(httpserver.url_for("/feed.rss")) == FEED


def test_sends_the_user_agent(httpserver):
    httpserver.expect_request("/ua", headers={"User-Agent": USER_AGENT}).respond_with_data(b"ok")
    assert http_get(httpserver.url_for("/ua")) == b"ok"
    assert USER_AGENT.startswith("news-ingest/")


def test_follows_redirects(httpserver):
    httpserver.expect_request("/old").respond_with_response(
        Response(status=301, headers={"Location": httpserver.url_for("/new")}))
    httpserver.expect_request("/new").respond_with_data(FEED)
    assert http_get(httpserver.url_for("/old")) == FEED


def test_gzip_is_decoded(httpserver):
    httpserver.expect_request("/gz").respond_with_data(gzip.compress(FEED), headers={"Content-Encoding": "gzip"})
    assert http_get(httpserver.url_for("/gz")) == FEED


@pytest.mark.parametrize("status", [404, 410, 500, 503])
def test_http_errors(httpserver, status):
    httpserver.expect_request("/feed").respond_with_data(b"nope", status=status)
    with pytest.raises(FetchError) as info:
        http_get(httpserver.url_for("/feed"))
    assert info.value.reason == r.FEED_HTTP_ERROR
    assert f"HTTP {status}" in str(info.value)


def test_body_over_the_cap(httpserver):
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)
    with pytest.raises(FetchError) as info:
        http_get(httpserver.url_for("/big"), limit=1000)
    assert info.value.reason == r.FEED_TOO_LARGE
    assert "1000 bytes" in str(info.value)


def test_body_exactly_at_the_cap(httpserver):
    httpserver.expect_request("/exact").respond_with_data(b"y" * 1000)
    assert http_get(httpserver.url_for("/exact"), limit=1000) == b"y" * 1000


def test_cap_counts_decoded_bytes(httpserver):
    bomb = gzip.compress(b"\0" * 200_000)  # a few hundred bytes on the wire
    assert len(bomb) < 1000
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError) as info:
        http_get(httpserver.url_for("/bomb"), limit=10_000)
    assert info.value.reason == r.FEED_TOO_LARGE


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_connection():
    with pytest.raises(FetchError) as info:
        http_get(f"http://127.0.0.1:{_closed_port()}/feed.rss", timeout=2)
    assert info.value.reason == r.FEED_READ_ERROR
    assert "ConnectionError" in str(info.value)


def test_read_timeout(httpserver):
    def slow(request):
        time.sleep(0.5)
        return Response(FEED)

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(FetchError) as info:
        http_get(httpserver.url_for("/slow"), timeout=(2, 0.1))
    assert info.value.reason == r.FEED_READ_ERROR
    assert "Timeout" in str(info.value)


@pytest.mark.parametrize("url", ["not a url", "http://", "ftp://127.0.0.1/feed"])
def test_unusable_urls_are_read_errors(url):
    with pytest.raises(FetchError) as info:
        http_get(url, timeout=1)
    assert info.value.reason == r.FEED_READ_ERROR

