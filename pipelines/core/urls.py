"""URL checks and canonicalisation.

Tracking parameters are stripped by courlan's tracker list (``utm_*``,
``fbclid``, ``gclid``, ``mc_*``, ``ref`` ...) in its non-strict mode, which keeps
every other parameter: a query that carries the article id survives.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import courlan

MAX_URL_LENGTH = 4096


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def canonical_url(url: str) -> str | None:
    """Canonical form of an http(s) URL, or None when it is not one.

    Lower-case scheme and host, no default port, no fragment, tracking
    parameters removed, remaining parameters sorted.
    """
    url = url.strip()
    if len(url) > MAX_URL_LENGTH or not is_web_url(url):
        return None
    try:
        normalized = courlan.normalize_url(url, strict=False)
    except (ValueError, AttributeError):
        return None
    parts = urlsplit(normalized)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))
