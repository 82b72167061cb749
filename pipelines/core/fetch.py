"""Bounded reads of feed bytes: a local path or a single HTTP GET.

The HTTP part is deliberately minimal (timeouts, a size cap, a User-Agent,
gzip via requests); conditional GET, retries and politeness belong to the
live-feeds work. feedparser never fetches anything itself.
"""

from __future__ import annotations

import requests

import pipelines
from pipelines.core import records as r

MAX_FEED_BYTES = 10 * 1024 * 1024
TIMEOUT_S = (10.0, 30.0)  # connect, read
USER_AGENT = f"news-ingest/{pipelines.__version__} (+https://github.com/news-ingest)"


class FetchError(Exception):
    """Reading a feed failed; ``reason`` is a reject reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def read_capped(stream, limit: int = MAX_FEED_BYTES) -> bytes:
    """Read at most ``limit`` bytes from a binary stream; FetchError past the cap."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise FetchError(r.FEED_TOO_LARGE, f"feed is larger than {limit} bytes")
    return data


def http_get(url: str, limit: int = MAX_FEED_BYTES, timeout=TIMEOUT_S) -> bytes:
    """GET ``url`` and return the body; FetchError on any failure or non-2xx status."""
    try:
        with requests.get(url, timeout=timeout, stream=True,
                          headers={"User-Agent": USER_AGENT}) as response:
            if response.status_code >= 400:
                raise FetchError(r.FEED_HTTP_ERROR, f"HTTP {response.status_code} from {url}")
            chunks, size = [], 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise FetchError(r.FEED_TOO_LARGE, f"feed is larger than {limit} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.RequestException as exc:
        raise FetchError(r.FEED_READ_ERROR, f"{type(exc).__name__}: {exc}") from None
