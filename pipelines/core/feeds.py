"""RSS 0.9x/1.0/2.0 and Atom bytes -> raw articles, with feedparser.

feedparser is given bytes only (it must never fetch). A feed feedparser
flags as malformed ("bozo") keeps every entry it recovered; the problem is
recorded in the feed report. A feed that yields nothing and is malformed
becomes one reject, so the bytes are kept and the count still reconciles.
"""

from __future__ import annotations

import calendar
import io
import datetime as dt
from typing import Any, NamedTuple

import feedparser

from pipelines.core import records as r
from pipelines.core.feed_list import FeedSource
from pipelines.core.records import one_line
from pipelines.core.text import html_to_text

STAGE = "read_feeds"


class FeedResult(NamedTuple):
    entries: list[dict[str, Any]]
    rejects: list[r.Reject]
    report: dict[str, Any]


def feed_report(source: FeedSource, status: str, **fields: Any) -> dict[str, Any]:
    """One feed's line in the run manifest."""
    return {"feed": source.location, "name": source.name, "status": status, "bytes": 0,
            "entries": 0, "format": None, "bozo": None, "error": None, "reason": None, **fields}


def failed_feed(source: FeedSource, reason: str, message: str, data: bytes | None = None) -> FeedResult:
    """The result for a feed that could not be read or parsed at all."""
    reject = r.Reject(STAGE, reason, message, "feed", source.location, payload=data)
    report = feed_report(source, "error", reason=reason, error=one_line(message),
                         bytes=len(data or b""))
    return FeedResult([], [reject], report)


def _timestamp(parsed) -> dt.datetime | None:
    if not parsed:
        return None
    try:
        return dt.datetime.fromtimestamp(calendar.timegm(parsed), tz=dt.timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


def _is_html(detail: Any) -> bool:
    return bool(detail) and "html" in str(detail.get("type", ""))


def _entry_to_raw(entry: Any, source: FeedSource, source_name: str | None) -> dict[str, Any]:
    contents = [c for c in entry.get("content", []) if c.get("value")]
    content = contents[0] if contents else None
    summary = entry.get("summary")
    if content is not None and summary == content.get("value"):
        summary = None  # feedparser copies content into summary when there is no summary
    body_html = any(_is_html(d) for d in (content, entry.get("summary_detail")) if d)
    authors = [a.get("name", "").strip() for a in entry.get("authors", []) if a.get("name")]
    if not authors and entry.get("author"):
        authors = [entry["author"].strip()]
    categories = [t.get("term", "").strip() for t in entry.get("tags", []) if t.get("term")]
    title = entry.get("title")
    if title is not None and _is_html(entry.get("title_detail")):
        title = html_to_text(title)
    return {
        "source_type": "feed",
        "source": source.location,
        "source_name": source_name,
        "feed_url": source.location,
        "guid": (entry.get("id") or "").strip() or None,
        "url": (entry.get("link") or "").strip() or None,
        "title": title,
        "summary": summary,
        "body": content.get("value") if content else summary,
        "text_is_html": body_html,
        "authors": authors,
        "categories": categories,
        "published_at": _timestamp(entry.get("published_parsed") or entry.get("updated_parsed")),
    }


def parse_feed(source: FeedSource, data: bytes) -> FeedResult:
    """Parse one feed's bytes into raw articles, rejects and a report."""
    if not data.strip():
        return failed_feed(source, r.FEED_MALFORMED, "feed is empty (0 bytes of content)", data)
    # A stream, never bytes: feedparser opens bytes that name a local file or fetches a URL.
    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=True, resolve_relative_uris=True)
    bozo = one_line(str(parsed.get("bozo_exception"))) if parsed.get("bozo") else None
    if not parsed.entries and (bozo or not parsed.get("version")):
        return failed_feed(source, r.FEED_MALFORMED,
                           f"not a feed: {bozo or 'no RSS/Atom root element'}", data)
    source_name = source.name or (parsed.feed.get("title") or "").strip() or None
    entries = [_entry_to_raw(entry, source, source_name) for entry in parsed.entries]
    report = feed_report(source, "bozo" if bozo else "ok", bytes=len(data), entries=len(entries),
                         bozo=bozo, format=parsed.get("version") or None)
    return FeedResult(entries, [], report)
