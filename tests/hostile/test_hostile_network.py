"""Issue 9: HTTP faults the existing fetch tests leave out, secrets in feed URLs, and output paths that
never come from content. Real servers on localhost (tests/live_server.py), the real CLI."""

from __future__ import annotations

import array
import datetime as dt
import fcntl
import itertools
import termios
import threading
import time

import pytest
from cli_helpers import everything_written, manifest_of, rejects_of, rows_of, run_cli
from conftest import EVENT_TIMEOUT, wait_until
from live_server import LiveServer

from pipelines.core import records as r
from pipelines.core.feed_list import FeedListError, FeedSource, parse_feed_list
from pipelines.core.feeds import update_feed
from pipelines.core.fetch import FetchError, FetchPolicy, fetch_url, make_session

FAST = FetchPolicy(connect_timeout=2, read_timeout=2, deadline=5, retries=2, backoff_factor=0.2,
                   backoff_max=1, backoff_jitter=0, max_retry_after=2, host_interval=0)
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>x</title></item></channel></rss>'
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def failure(url: str, policy: FetchPolicy = FAST) -> FetchError:
    with make_session(policy) as session, pytest.raises(FetchError) as info:
        fetch_url(session, url, policy)
    return info.value


# --- HTTP faults -------------------------------------------------------------------------------------

def _unacknowledged(handler) -> int:
    """Bytes the server sent that the client's TCP has not acknowledged yet (Linux SIOCOUTQ)."""
    pending = array.array("i", [0])
    fcntl.ioctl(handler.connection.fileno(), termios.TIOCOUTQ, pending)
    return pending[0]


def _reset_mid_body(handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(FEED[:40])
    handler.wfile.flush()
    # the status line, headers and the first bytes have reached the client (a reset would drop
    # what is still in the server's send queue), then the reset: the client reads them first
    assert wait_until(lambda: _unacknowledged(handler) == 0, interval=0.001), "the client never received the headers"
    handler.reset()


def test_a_reset_in_the_middle_of_the_body_is_a_read_error_not_retried():
    with LiveServer() as server:
        server.route("/cut", _reset_mid_body)
        error = failure(server.url("/cut"))
        assert (error.reason, error.http_status) == (r.FEED_READ_ERROR, 200)
        assert len(server.hits("/cut")) == 1  # the next run tries again, after the feed's backoff


def test_a_stall_after_the_headers_is_a_timeout():
    policy = FetchPolicy(read_timeout=0.3, deadline=60, retries=0)
    resume = threading.Event()  # the server stalls until the client has given up
    with LiveServer() as server:
        server.route("/stall", lambda h: (h.send_response(200), h.send_header("Content-Length", "999"),
                                          h.end_headers(), h.wfile.write(b"<rss>"), h.wfile.flush(),
                                          resume.wait(EVENT_TIMEOUT)))
        started = time.monotonic()
        try:
            assert failure(server.url("/stall"), policy).reason == r.FEED_TIMEOUT
            took = time.monotonic() - started
        finally:
            resume.set()
    assert took < 30, took  # the read timeout (0.3 s) ended it, not the deadline (60 s)


def test_a_5xx_storm_is_retried_with_backoff_not_in_a_tight_loop():
    with LiveServer() as server:
        server.route("/storm", lambda h: h.reply(503, b"down"))
        assert failure(server.url("/storm")).reason == r.FEED_HTTP_ERROR
        hits = server.hits("/storm")
    assert len(hits) == FAST.retries + 1  # bounded
    gaps = [b.started - a.ended for a, b in itertools.pairwise(hits)]
    assert all(gap >= 0.15 for gap in gaps), gaps  # backoff_factor 0.2 before every retry


def test_an_endless_redirect_chain_stops_at_the_limit():
    with LiveServer() as server:
        for hop in range(50):
            server.route(f"/r{hop}", lambda h, n=hop: h.reply(302, headers={"Location": f"/r{n + 1}"}))
        assert failure(server.url("/r0")).reason == r.FEED_TOO_MANY_REDIRECTS
        assert len(server.hits()) == FAST.max_redirects + 1


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/x", "javascript:alert(1)"])
def test_a_redirect_to_another_scheme_is_not_followed(location, tmp_path):
    with LiveServer() as server:
        server.route("/jump", lambda h: h.reply(302, headers={"Location": location}))
        error = failure(server.url("/jump"))
    assert error.reason in (r.FEED_READ_ERROR, r.FEED_HTTP_ERROR) and "root:" not in str(error)


def test_a_50_mb_body_is_cut_without_being_read():
    sent = []

    def endless(handler) -> None:  # no Content-Length: only the streamed cap can stop it
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        chunk = b"<item><title>x</title></item>" * 2000
        total = 0
        try:
            while total < 50 * 1024 * 1024:
                handler.wfile.write(chunk)
                total += len(chunk)
        finally:
            sent.append(total)

    policy = FetchPolicy(max_bytes=1024 * 1024, retries=0, read_timeout=5, deadline=20)
    with LiveServer() as server:
        server.route("/huge", endless)
        assert failure(server.url("/huge"), policy).reason == r.FEED_TOO_LARGE
        assert wait_until(lambda: sent), "the server never stopped sending"  # its write failed: we hung up
    assert sent[0] < 20 * 1024 * 1024  # the server could not push it all: we stopped reading


# --- secrets in feed URLs ------------------------------------------------------------------------------

def test_credentials_are_redacted_in_errors_reports_and_rejects_but_used_to_fetch():
    with LiveServer() as server:
        server.route("/feed?token=t0k3n-secret&id=7", lambda h: h.reply(500, b"down"))
        url = server.url("/feed?token=t0k3n-secret&id=7").replace("http://", "http://bob:pa55-secret@")
        with make_session(FAST) as session:
            update = update_feed(FeedSource(url), None, NOW, session, FAST)
        [hit] = server.hits()[:1]
    assert "authorization" in {k.lower() for k in hit.headers}  # the real URL was used
    report, [reject] = update.result.report, update.result.rejects
    text = repr(report) + repr(reject)
    assert "t0k3n-secret" not in text and "pa55-secret" not in text
    assert "token=REDACTED" in report["feed"] and "id=7" in report["feed"] and "bob:REDACTED@" in reject.source


@pytest.mark.slow
def test_credentials_never_reach_the_logs_the_rejects_or_the_feed_reports(tmp_path):
    with LiveServer() as server:
        server.route("/ok?api_key=k3y-secret", lambda h: h.reply(200, FEED.replace(b"<title>x</title>",
                                                                                   b"<title>x</title><link>/a</link>")))
        server.route("/down?access_token=t0k-secret", lambda h: h.reply(404, b"no"))
        ok = server.url("/ok?api_key=k3y-secret").replace("http://", "http://u:pw-secret@")
        down = server.url("/down?access_token=t0k-secret")
        listing = tmp_path / "feeds.yaml"
        listing.write_text(f"feeds:\n  - {ok}\n  - {down}\n")
        output = tmp_path / "out"
        done = run_cli("--feed-list", str(listing), "--no-documents", "--output", str(output), "-v",
                       "--http-retries", "0", "--host-interval", "0")
    assert done.returncode == 0, done.stderr
    manifest = manifest_of(output)
    data = everything_written(output / "rejects") + everything_written(output / "articles") + repr(manifest)
    for secret in ("k3y-secret", "pw-secret", "t0k-secret"):
        assert secret not in done.stderr + done.stdout
        assert secret not in data
    assert [reason for _, reason, _ in rejects_of(output)] == [r.FEED_HTTP_ERROR]
    assert rows_of(output, "articles", "url")[0][0].endswith("/a")  # the relative link, without credentials


# --- nothing let in ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_output_paths_never_come_from_content(tmp_path):
    seeds = tmp_path / "seeds"
    (seeds / "documents").mkdir(parents=True)
    (seeds / "documents" / "..%2F..%2Fetc%2Fx").write_text("---\nurl: https://example.com/../../etc/x\n---\n"
                                                           "../../etc/x\n\nbody")
    (seeds / "documents" / "a b ; rm -rf").write_text("/etc/passwd\n\nbody \x00")
    feed = tmp_path / "evil.rss"
    feed.write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>../../../tmp/evil</title>'
                    '<item><title>/etc/passwd</title><guid>../../etc/x</guid><link>https://e.com/../../x</link></item>'
                    '<item><title>..\\..\\windows</title><guid>/abs/path&#0;nul</guid><link>https://e.com/y</link></item>'
                    "</channel></rss>")
    listing = tmp_path / "feeds.yaml"
    listing.write_text(f"feeds:\n  - {feed}\n")
    output = tmp_path / "out"
    done = run_cli("--seeds", str(seeds), "--feed-list", str(listing), "--output", str(output))
    assert done.returncode == 0, done.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(seeds) and p != feed
               and p != listing]
    assert written and all(p.resolve().is_relative_to(output.resolve()) for p in written)
    for path in written:
        name = path.relative_to(output).as_posix()
        assert "etc" not in name and "passwd" not in name and "evil" not in name and ".." not in name
    assert manifest_of(output)["reconciled"] is True and manifest_of(output)["counts"]["read"] >= 3


@pytest.mark.parametrize("entry", ["file:///etc/passwd", "ftp://h/x", "data:text/plain,x", "javascript:x",
                                   "gopher://h/", "feeds/a\x00.rss", "https://h/\nfeed"])
def test_feed_list_entries_other_than_http_and_paths_are_refused(entry):
    with pytest.raises(FeedListError):
        parse_feed_list(f"feeds:\n  - {entry!r}\n".replace("'", '"'), "/base")
