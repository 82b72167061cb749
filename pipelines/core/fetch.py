"""A feed's bytes: a polite HTTP client for URLs, bounded reads for local paths.

In:  a URL plus the validators of its last fetch (ETag, Last-Modified), or a local path.
Out: :class:`Fetched` (the body, or ``None`` for 304 Not Modified, with the new validators,
content type and final URL), or :class:`FetchError` whose ``reason`` is a reject reason code.

    session = make_session(policy)                      # once per worker (DoFn.setup)
    fetched = fetch_url(session, url, policy, etag='"abc"', last_modified=None)

Which part does what (libraries first; we add only what they lack):

- **requests** sends the GET, follows at most ``max_redirects`` redirects (a loop ends there
  too), sends a descriptive User-Agent and ``Accept-Encoding: gzip, deflate``; urllib3
  decompresses.
- **urllib3's Retry** retries connection errors, timeouts before the response and HTTP
  429/500/502/503/504 with exponential backoff and jitter, and waits out a ``Retry-After``.
  :class:`_PoliteRetry` changes three things, each said where it is done: the first retry
  waits too; a ``Retry-After`` longer than ``max_retry_after`` is not waited for (the
  response is returned and the caller moves the feed's next due time instead); a garbled
  ``Retry-After`` falls back to backoff instead of failing the request.
- **Ours:** the body is streamed and counted after decompression, so a gzip bomb stops at
  ``max_bytes``; a ``Content-Length`` over the cap is refused before reading. requests has no
  total deadline, so we check one between reads of the body (each read is bounded by the read
  timeout, so a server that drips bytes is cut off at most one read timeout late). It counts
  from the start of the GET, so time spent in retries counts too; the retries themselves are
  bounded by their number, the timeouts and ``backoff_max``/``max_retry_after``.
- :class:`HostPacer` keeps a minimum interval between requests to one host; the caller runs
  one host's feeds sequentially (see ``transforms/read_feeds.py``), so a host is never asked
  twice at once.

Not retried within a run: an error in the middle of a body (the next run tries again, after
the feed's failure backoff). feedparser never fetches anything itself.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import re
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import requests
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    DecodeError,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

import pipelines
from pipelines.core import records as r
from pipelines.core.records import stable_hash
from pipelines.core.urls import redact_text

MAX_FEED_BYTES = 10 * 1024 * 1024
USER_AGENT = f"news-ingest/{pipelines.__version__} (+https://github.com/news-ingest)"
ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
          "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CHUNK = 64 * 1024
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes '²'


@dataclass(frozen=True)
class FetchPolicy:
    """How politely and how patiently feeds are fetched. Times in seconds.

    ``host_interval`` is the least gap between the end of one request to a host and the start
    of the next; ``host_concurrency`` is how many of one host's feeds may be fetched at once
    (1: strictly one after another).
    """

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 60.0
    retries: int = 3
    backoff_factor: float = 1.0  # waits factor * 2**(n-1) (+ jitter) before retry n
    backoff_max: float = 30.0
    backoff_jitter: float = 1.0
    max_retry_after: float = 60.0  # a longer Retry-After is not waited for within the run
    max_redirects: int = 5
    max_bytes: int = MAX_FEED_BYTES
    user_agent: str = USER_AGENT
    host_interval: float = 1.0
    host_concurrency: int = 1

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "deadline"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FetchPolicy.{name} must be positive, got {getattr(self, name)!r}")
        for name in ("retries", "max_redirects", "backoff_factor", "backoff_max", "backoff_jitter",
                     "max_retry_after", "host_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"FetchPolicy.{name} must not be negative, got {getattr(self, name)!r}")
        if self.max_bytes < 1:
            raise ValueError(f"FetchPolicy.max_bytes must be at least 1, got {self.max_bytes!r}")
        if self.host_concurrency < 1:
            raise ValueError(f"FetchPolicy.host_concurrency must be at least 1, got {self.host_concurrency!r}")
        if not self.user_agent.strip() or "\n" in self.user_agent or "\r" in self.user_agent:
            raise ValueError("FetchPolicy.user_agent must be one non-empty line")


class FetchError(Exception):
    """Reading a feed failed; ``reason`` is a reject reason code.

    ``http_status`` is the last status seen (if any); ``retry_after`` the raw ``Retry-After``
    header of a 429/503, for the caller to move the feed's next due time.
    """

    def __init__(self, reason: str, message: str, http_status: int | None = None,
                 retry_after: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.http_status = http_status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Fetched:
    """A successful fetch. ``body`` is ``None`` when the server answered 304 Not Modified."""

    body: bytes | None
    http_status: int | None = None  # None for a local file
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    final_url: str | None = None  # where the body came from, after redirects


# --- retries --------------------------------------------------------------------------------------------

def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """``Retry-After`` (delta-seconds or an HTTP date) as seconds from ``now``; None if absent or garbled."""
    if value is None:
        return None
    value = value.strip()
    if _DIGITS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


class _PoliteRetry(Retry):
    """urllib3's Retry with three changes (the rest, counting and backoff, is urllib3's)."""

    def __init__(self, *args, max_wait: float = 60.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_wait = max_wait

    def new(self, **kwargs):  # carry max_wait into the Retry that urllib3 makes for each attempt
        kwargs.setdefault("max_wait", self.max_wait)
        return super().new(**kwargs)

    def get_backoff_time(self) -> float:
        # urllib3 retries the first failure at once; a polite client waits backoff_factor first.
        backoff = super().get_backoff_time()
        if backoff or not self.history:
            return backoff
        return min(self.backoff_max, self.backoff_factor + random.random() * self.backoff_jitter)

    def get_retry_after(self, response) -> float | None:
        # urllib3 fails the whole request on a garbled Retry-After; backoff is the better answer.
        try:
            return super().get_retry_after(response)
        except InvalidHeader:
            return None

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        # A server asking for more patience than we have gets no retry now (urllib3 would
        # sleep that long or, capped, come back early): give up; raise_on_status=False makes
        # urllib3 return the response, and the caller moves the feed's next due time.
        if response is not None and self.respect_retry_after_header:
            wait = retry_after_seconds(response.headers.get("Retry-After"),
                                       dt.datetime.now(dt.timezone.utc))
            if wait is not None and wait > self.max_wait:
                raise MaxRetryError(_pool, url, ResponseError(f"Retry-After {wait:.0f}s is too long"))
        return super().increment(method, url, response=response, error=error, _pool=_pool,
                                 _stacktrace=_stacktrace)


def make_session(policy: FetchPolicy) -> requests.Session:
    """A requests Session with the policy's retries, redirect limit and headers. One per worker."""
    retry = _PoliteRetry(
        total=policy.retries, connect=policy.retries, read=policy.retries, status=policy.retries,
        other=0, allowed_methods=frozenset({"GET"}), status_forcelist=RETRY_STATUSES,
        backoff_factor=policy.backoff_factor, backoff_max=policy.backoff_max,
        backoff_jitter=policy.backoff_jitter, respect_retry_after_header=True,
        raise_on_status=False, max_wait=policy.max_retry_after,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.max_redirects = policy.max_redirects
    session.headers.update({"User-Agent": policy.user_agent, "Accept": ACCEPT,
                            "Accept-Encoding": "gzip, deflate"})
    return session


# --- HTTP -----------------------------------------------------------------------------------------------

def _is_timeout(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.Timeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None  # MaxRetryError inside
    return isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError)


def _read_body(raw, url: str, limit: int, deadline_at: float, deadline: float,
               clock: Callable[[], float]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if clock() > deadline_at:
            raise FetchError(r.FEED_TIMEOUT, f"no complete response from {url} within {deadline:g}s")
        try:
            chunk = raw.read1(_CHUNK, decode_content=True)  # one network read at most
        except ReadTimeoutError as exc:
            raise FetchError(r.FEED_TIMEOUT, f"ReadTimeout: {exc}") from None
        except DecodeError as exc:
            raise FetchError(r.FEED_READ_ERROR, f"cannot decompress the body: {exc}") from None
        except (Urllib3Error, OSError) as exc:
            raise FetchError(r.FEED_READ_ERROR, f"{type(exc).__name__}: {exc}") from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise FetchError(r.FEED_TOO_LARGE, f"feed is larger than {limit} bytes")
        chunks.append(chunk)


def fetch_url(session: requests.Session, url: str, policy: FetchPolicy, etag: str | None = None,
              last_modified: str | None = None, clock: Callable[[], float] = time.monotonic) -> Fetched:
    """One conditional GET of ``url`` (with the session's retries); FetchError when no body can be had.

    The request uses ``url`` as given; a FetchError's message has its secrets redacted
    (``urls.redact_text``: requests and urllib3 quote the path and query in their messages).
    """
    try:
        return _fetch_url(session, url, policy, etag, last_modified, clock)
    except FetchError as exc:
        exc.args = (redact_text(str(exc), url),)
        raise


def _fetch_url(session: requests.Session, url: str, policy: FetchPolicy, etag: str | None,
               last_modified: str | None, clock: Callable[[], float]) -> Fetched:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    started = clock()
    try:
        response = session.get(url, headers=headers, stream=True,
                               timeout=(policy.connect_timeout, min(policy.read_timeout, policy.deadline)))
    except requests.TooManyRedirects:
        raise FetchError(r.FEED_TOO_MANY_REDIRECTS,
                         f"more than {policy.max_redirects} redirects from {url}") from None
    except requests.RequestException as exc:
        reason = r.FEED_TIMEOUT if _is_timeout(exc) else r.FEED_READ_ERROR
        raise FetchError(reason, f"{type(exc).__name__}: {exc}") from None
    with response:
        status = response.status_code
        retry_after = response.headers.get("Retry-After")
        if status == 304:
            return Fetched(None, status, response.headers.get("ETag") or etag,
                           response.headers.get("Last-Modified") or last_modified,
                           response.headers.get("Content-Type"), response.url)
        if status == 410:
            raise FetchError(r.FEED_GONE, f"HTTP 410 Gone from {url}", status)
        if status == 429:
            raise FetchError(r.FEED_RATE_LIMITED, f"HTTP 429 Too Many Requests from {url}"
                             + (f" (Retry-After: {retry_after})" if retry_after else ""), status, retry_after)
        if status >= 300:  # a 3xx here is a redirect without a usable Location
            raise FetchError(r.FEED_HTTP_ERROR, f"HTTP {status} from {url}"
                             + (f" (Retry-After: {retry_after})" if retry_after else ""), status, retry_after)
        length = response.headers.get("Content-Length", "").strip()
        if _DIGITS.fullmatch(length) and int(length) > policy.max_bytes:
            raise FetchError(r.FEED_TOO_LARGE, f"feed is larger than {policy.max_bytes} bytes "
                                               f"(Content-Length {length})", status)
        try:
            body = _read_body(response.raw, url, policy.max_bytes, started + policy.deadline,
                              policy.deadline, clock)
        except FetchError as exc:
            exc.http_status = status
            raise
        return Fetched(body, status, response.headers.get("ETag"), response.headers.get("Last-Modified"),
                       response.headers.get("Content-Type"), response.url)


# --- local files ----------------------------------------------------------------------------------------

def read_capped(stream, limit: int = MAX_FEED_BYTES) -> bytes:
    """Read at most ``limit`` bytes from a binary stream; FetchError past the cap."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise FetchError(r.FEED_TOO_LARGE, f"feed is larger than {limit} bytes")
    return data


def read_local(path: str, limit: int = MAX_FEED_BYTES) -> Fetched:
    """A local (or Beam-filesystem) feed file's bytes; FetchError when they cannot be had."""
    if not FileSystems.exists(path):
        raise FetchError(r.FEED_NOT_FOUND, f"feed file not found: {path}")
    try:
        with FileSystems.open(path) as handle:
            return Fetched(read_capped(handle, limit))
    except (OSError, BeamIOError) as exc:
        raise FetchError(r.FEED_READ_ERROR, f"cannot read feed: {exc}") from None


# --- politeness -----------------------------------------------------------------------------------------

def host_key(location: str, lanes: int = 1) -> str:
    """The politeness key of a feed: its host (split into ``lanes`` by URL hash), or the path itself.

    Local files get a key each: they cost a server nothing, so they need no pacing.
    """
    if not location.lower().startswith(("http://", "https://")):
        return f"file:{location}"
    host = (urlsplit(location).hostname or "").lower()
    if lanes > 1:
        return f"{host}#{int(stable_hash(location, length=8), 16) % lanes}"
    return host


class HostPacer:
    """Keeps ``interval`` seconds between the end of one request and the start of the next.

    One pacer per host and per run of that host's feeds; ``sleep`` and ``clock`` are
    parameters so tests can watch the waits instead of taking them.
    """

    def __init__(self, interval: float, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self._sleep, self._clock = interval, sleep, clock
        self._last_end: float | None = None

    def __enter__(self) -> HostPacer:
        if self._last_end is not None:
            remaining = self.interval - (self._clock() - self._last_end)
            if remaining > 0:
                self._sleep(remaining)
        return self

    def __exit__(self, *exc_info) -> None:
        self._last_end = self._clock()
