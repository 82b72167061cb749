"""A feed list entry -> raw articles, a reject or nothing, one report and its next state.

In:  a :class:`FeedSource`, its previous :class:`FeedState` (or None) and the run's ``now``.
Out: :class:`FeedUpdate`: the raw articles and rejects of a :class:`FeedResult`, a report for
the run manifest, and the feed's next state (saved only after the run's outputs are committed).

    update = update_feed(source, store.load(source.location), now, session, policy, schedule)

:func:`update_feed` fetches (``core.fetch``) only a due feed, skips a 304 or a body that hashes
like the last good one, parses the bytes with feedparser and moves the state on
(``core.feed_state``). Local files are always read: state, due times and body hashes are for
servers. :func:`update_host_feeds` does one host's feeds one after another with the policy's
minimum interval between requests.

feedparser is given bytes only (it must never fetch); of the HTTP Content-Type only the charset
is passed on (text/xml without one would make feedparser assume US-ASCII). A feed feedparser
flags as malformed ("bozo") keeps every entry it recovered; the problem is recorded in the feed
report. A feed that yields nothing and is malformed becomes one reject, so the bytes are kept
and the count still reconciles. A feed that is not due, not modified or dead produces no
article and no reject, only its report (it was not an input record).
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import hashlib
import io
import time
from email.message import Message
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple

import feedparser
import requests

from pipelines.core import records as r
from pipelines.core.feed_list import FeedSource
from pipelines.core.feed_state import (
    FeedSchedule, FeedState, after_failure, after_not_modified, after_success, is_due,
)
from pipelines.core.fetch import FetchError, FetchPolicy, HostPacer, fetch_url, read_local, retry_after_seconds
from pipelines.core.records import one_line, stable_hash
from pipelines.core.text import html_to_text

STAGE = "read_feeds"

# Report statuses. ok/bozo: read (bozo = malformed but entries kept); error: one reject;
# the rest: nothing read and nothing rejected this run.
STATUS_OK = "ok"
STATUS_BOZO = "bozo"
STATUS_ERROR = "error"
STATUS_NOT_MODIFIED = "not_modified"  # 304, or the same body as the last good fetch
STATUS_NOT_DUE = "not_due"  # its next due time (interval or failure backoff) is later
STATUS_DEAD = "dead"  # answered 410 Gone; asked again only after FeedSchedule.dead_recheck
FEED_STATUSES = (STATUS_OK, STATUS_BOZO, STATUS_ERROR, STATUS_NOT_MODIFIED, STATUS_NOT_DUE, STATUS_DEAD)

# Counter names, the same for the Beam counters of ReadFeeds and for feed_counts().
FEED_COUNTERS = ("feeds", "fetched", "bozo", "not_modified", "not_due", "dead", "failed", "bytes", "entries",
                 "new_entries")


class FeedResult(NamedTuple):
    entries: list[dict[str, Any]]
    rejects: list[r.Reject]
    report: dict[str, Any]


class FeedUpdate(NamedTuple):
    result: FeedResult  # entries, rejects, report
    state: FeedState  # to save once the run's outputs are committed


def feed_report(source: FeedSource, status: str, **fields: Any) -> dict[str, Any]:
    """One feed's line in the run manifest.

    ``http_status`` is the last HTTP status (None for files), ``bytes`` the body size
    (decompressed), ``new_entries`` the entries not in the last good body, ``next_due`` when
    the feed will be fetched again (ISO 8601; None: every run), ``failures`` how many runs in a
    row it has failed, ``final_url`` where a redirected feed was found.
    """
    return {"feed": source.location, "name": source.name, "status": status, "http_status": None,
            "bytes": 0, "entries": 0, "new_entries": 0, "format": None, "content_type": None,
            "bozo": None, "error": None, "reason": None, "next_due": None, "failures": 0,
            "final_url": None, **fields}


def failed_feed(source: FeedSource, reason: str, message: str, data: bytes | None = None) -> FeedResult:
    """The result for a feed that could not be read or parsed at all."""
    reject = r.Reject(STAGE, reason, message, "feed", source.location, payload=data)
    report = feed_report(source, STATUS_ERROR, reason=reason, error=one_line(message),
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


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return charset.strip() if isinstance(charset, str) and charset.strip() else None


def parse_feed(source: FeedSource, data: bytes, content_type: str | None = None) -> FeedResult:
    """Parse one feed's bytes into raw articles, rejects and a report.

    ``content_type`` is the HTTP Content-Type, if any: its charset overrides the XML declaration.
    """
    if not data.strip():
        return failed_feed(source, r.FEED_MALFORMED, "feed is empty (0 bytes of content)", data)
    charset = _charset(content_type)
    headers = {"content-type": f"application/xml; charset={charset}"} if charset else None
    # A stream, never bytes: feedparser opens bytes that name a local file or fetches a URL.
    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=True, resolve_relative_uris=True,
                              response_headers=headers)
    bozo = one_line(str(parsed.get("bozo_exception"))) if parsed.get("bozo") else None
    if not parsed.entries and (bozo or not parsed.get("version")):
        served = f" (served as {one_line(content_type, 80)})" if content_type else ""
        return failed_feed(source, r.FEED_MALFORMED,
                           f"not a feed{served}: {bozo or 'no RSS/Atom root element'}", data)
    source_name = source.name or (parsed.feed.get("title") or "").strip() or None
    entries = [_entry_to_raw(entry, source, source_name) for entry in parsed.entries]
    report = feed_report(source, STATUS_BOZO if bozo else STATUS_OK, bytes=len(data), entries=len(entries),
                         new_entries=len(entries), bozo=bozo, format=parsed.get("version") or None,
                         content_type=content_type)
    return FeedResult(entries, [], report)


# --- one feed's update --------------------------------------------------------------------------------

def entry_key(entry: dict[str, Any]) -> str:
    """A short key for an entry within its feed: guid, else link, else title and body."""
    if entry.get("guid"):
        return stable_hash("guid", entry["guid"], length=16)
    if entry.get("url"):
        return stable_hash("url", entry["url"], length=16)
    return stable_hash("text", entry.get("title"), entry.get("body"), length=16)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _schedule_fields(source: FeedSource, state: FeedState) -> dict[str, Any]:
    return {"next_due": _iso(state.next_due) if source.is_remote else None, "failures": state.failures}


def _skipped(source: FeedSource, state: FeedState) -> FeedUpdate:
    if state.dead:
        report = feed_report(source, STATUS_DEAD, reason=r.FEED_GONE, http_status=state.http_status,
                             error=f"gone (HTTP 410) since {_iso(state.last_attempt)}",
                             **_schedule_fields(source, state))
    else:
        backing_off = (f"backing off after {state.failures} failure(s): {state.last_reason}"
                       if state.failures else None)
        report = feed_report(source, STATUS_NOT_DUE, error=backing_off, **_schedule_fields(source, state))
    return FeedUpdate(FeedResult([], [], report), state)


def _failure(source: FeedSource, previous: FeedState | None, now: dt.datetime, schedule: FeedSchedule,
             result: FeedResult, http_status: int | None, retry_after: str | None = None) -> FeedUpdate:
    report = result.report
    state = after_failure(previous, source.location, now, schedule, status=report["status"],
                          reason=report["reason"], error=report["error"] or "", http_status=http_status,
                          retry_after=retry_after_seconds(retry_after, now))
    if not source.is_remote:
        state = dataclasses.replace(state, next_due=None)  # files are read every run
    report.update(http_status=http_status, **_schedule_fields(source, state))
    return FeedUpdate(result, state)


def update_feed(source: FeedSource, previous: FeedState | None, now: dt.datetime,
                session: requests.Session | None, policy: FetchPolicy = FetchPolicy(),
                schedule: FeedSchedule = FeedSchedule(), pacer: HostPacer | None = None) -> FeedUpdate:
    """Fetch (if due), parse and report one feed, and work out its next state. Never raises for bad input.

    ``now`` is the run's time (timezone-aware): it decides what is due and when to come back.
    ``pacer`` (one per host) spaces the requests; ``session`` may be None for a local file.
    """
    if previous is not None and previous.url != source.location:
        previous = None
    remote = source.is_remote
    if remote and previous is not None and not is_due(previous, now):
        return _skipped(source, previous)
    try:
        if remote:
            with pacer or HostPacer(0):
                fetched = fetch_url(session, source.location, policy,
                                    etag=previous.etag if previous else None,
                                    last_modified=previous.last_modified if previous else None)
        else:
            fetched = read_local(source.location, policy.max_bytes)
    except FetchError as exc:
        return _failure(source, previous, now, schedule, failed_feed(source, exc.reason, str(exc)),
                        exc.http_status, exc.retry_after)
    except Exception as exc:  # an exotic failure in the HTTP stack must not stop the run either
        return _failure(source, previous, now, schedule,
                        failed_feed(source, r.STAGE_ERROR, f"{type(exc).__name__}: {exc}"), None)
    redirected = fetched.final_url if fetched.final_url not in (None, source.location) else None
    http = {"http_status": fetched.http_status, "content_type": fetched.content_type, "final_url": redirected}
    body_hash = hashlib.sha256(fetched.body).hexdigest() if fetched.body is not None else None
    if fetched.body is None or (remote and previous is not None and previous.body_hash == body_hash):
        state = after_not_modified(previous, source.location, now, schedule, status=STATUS_NOT_MODIFIED,
                                   http_status=fetched.http_status, etag=fetched.etag,
                                   last_modified=fetched.last_modified)
        report = feed_report(source, STATUS_NOT_MODIFIED, bytes=len(fetched.body or b""), **http,
                             **_schedule_fields(source, state))
        return FeedUpdate(FeedResult([], [], report), state)
    try:
        result = parse_feed(source, fetched.body, fetched.content_type)
    except Exception as exc:  # one bad feed must not stop the run; it is reported and kept
        result = failed_feed(source, r.STAGE_ERROR, f"{type(exc).__name__}: {exc}", fetched.body)
    if result.report["status"] == STATUS_ERROR:
        update = _failure(source, previous, now, schedule, result, fetched.http_status)
        update.result.report.update(content_type=fetched.content_type, final_url=redirected)
        return update
    keys = [entry_key(entry) for entry in result.entries]
    seen = set(previous.entry_keys) if previous is not None else set()
    state = after_success(previous, source.location, now, schedule, status=result.report["status"],
                          http_status=fetched.http_status, etag=fetched.etag,
                          last_modified=fetched.last_modified, body_hash=body_hash, entry_keys=keys)
    if not remote:
        state = dataclasses.replace(state, next_due=None)
    result.report.update(new_entries=sum(1 for key in keys if key not in seen), **http,
                         **_schedule_fields(source, state))
    return FeedUpdate(result, state)


def update_host_feeds(sources: Iterable[FeedSource], previous: Mapping[str, FeedState | None],
                      now: dt.datetime, session: requests.Session | None, policy: FetchPolicy = FetchPolicy(),
                      schedule: FeedSchedule = FeedSchedule(), sleep: Callable[[float], None] = time.sleep,
                      clock: Callable[[], float] = time.monotonic) -> Iterator[FeedUpdate]:
    """:func:`update_feed` for one host's feeds, one after another, ``policy.host_interval`` apart.

    Feeds go in order of location, so a run's requests do not depend on input order. Only real
    requests are spaced; a feed that is not due costs no wait.
    """
    pacer = HostPacer(policy.host_interval, sleep, clock)
    for source in sorted(sources, key=lambda s: s.location):
        yield update_feed(source, previous.get(source.location), now, session, policy, schedule, pacer)


def feed_counts(reports: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Totals over feed reports, named like ReadFeeds' Beam counters (:data:`FEED_COUNTERS`).

    ``fetched``: read and parsed (ok or bozo), ``bozo``: of those, the malformed ones;
    ``failed``: one reject each; ``bytes``: bodies downloaded (also unchanged and unparseable ones).
    """
    counts = dict.fromkeys(FEED_COUNTERS, 0)
    for report in reports:
        counts["feeds"] += 1
        status = report["status"]
        if status in (STATUS_OK, STATUS_BOZO):
            counts["fetched"] += 1
            counts["bozo"] += status == STATUS_BOZO
        elif status == STATUS_ERROR:
            counts["failed"] += 1
        elif status in (STATUS_NOT_MODIFIED, STATUS_NOT_DUE, STATUS_DEAD):
            counts[status] += 1
        counts["bytes"] += report.get("bytes") or 0
        counts["entries"] += report.get("entries") or 0
        counts["new_entries"] += report.get("new_entries") or 0
    return counts
