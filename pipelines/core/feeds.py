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

Hostile XML: feedparser's expat parser fetches no external entity or DTD and bounds entity
amplification, but on any XML error feedparser parses again with its loose parser, which
expands the internal entities of the prolog itself, with no limit (a 50 KB entity used 50,000
times is a 2.5 GB string). defusedxml guards expat only, so :func:`unsafe_dtd` checks the
prolog first (our own code, a few regexes): external or parameter entities, entities made of
other entities, or more than :data:`MAX_ENTITY_EXPANSION` characters of expansion make the
feed one ``FEED_UNSAFE_XML`` reject; a plain DOCTYPE (RSS 0.91's Netscape DTD) and small
entities like ``<!ENTITY nbsp "&#160;">`` pass. An entry whose title or text is over the
limits of ``core.records`` is one ``TITLE_TOO_LONG``/``BODY_TOO_LONG`` reject; the other
entries of its feed go on.

Feed URLs may carry credentials: reports, rejects, raw articles and messages carry
``urls.redact_url(location)``; only the fetch uses the real URL.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import hashlib
import io
import re
import time
from email.message import Message
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser
import requests

from pipelines.core import records as r
from pipelines.core.feed_list import FeedSource
from pipelines.core.feed_state import (
    FeedSchedule,
    FeedState,
    after_failure,
    after_not_modified,
    after_success,
    is_due,
    rescheduled,
)
from pipelines.core.fetch import FetchError, FetchPolicy, HostPacer, fetch_url, read_local, retry_after_seconds
from pipelines.core.records import one_line, stable_hash
from pipelines.core.text import html_to_text
from pipelines.core.urls import is_web_url, redact_text, redact_url

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
    row it has failed, ``final_url`` where a redirected feed was found, ``state_error`` why the
    feed's saved state could not be used (it was then fetched afresh; None: no problem).
    """
    report = {"feed": redact_url(source.location), "name": source.name, "status": status, "http_status": None,
              "bytes": 0, "entries": 0, "new_entries": 0, "format": None, "content_type": None,
              "bozo": None, "error": None, "reason": None, "next_due": None, "failures": 0,
              "final_url": None, "state_error": None, **fields}
    if report["final_url"]:
        report["final_url"] = redact_url(report["final_url"])
    return report


def failed_feed(source: FeedSource, reason: str, message: str, data: bytes | None = None) -> FeedResult:
    """The result for a feed that could not be read or parsed at all (secrets of its URL redacted)."""
    message = redact_text(message, source.location)
    reject = r.Reject(STAGE, reason, message, "feed", redact_url(source.location), payload=data)
    report = feed_report(source, STATUS_ERROR, reason=reason, error=one_line(message),
                         bytes=len(data or b""))
    return FeedResult([], [reject], report)


# --- hostile XML ------------------------------------------------------------------------------------

MAX_ENTITY_EXPANSION = 1 << 20  # characters all entity references of a feed may expand to
_ELEMENT_START_RE = re.compile(r"<\w")  # feedparser's own end of the prolog
_ENTITY_RE = re.compile(r"<!ENTITY", re.IGNORECASE)
_ENTITY_DECL_RE = re.compile(
    r"<!ENTITY\s+(%\s*)?([^\s\"'>%;]+)\s*(?:(SYSTEM|PUBLIC)\b|\"([^\"]*)\"|'([^']*)')?", re.IGNORECASE)
_CHAR_REF_RE = re.compile(r"&#(?:[0-9]+|x[0-9a-fA-F]+);")


def _text_views(data: bytes) -> Iterator[str]:
    """``data`` as text in every encoding a DTD could hide in: bytes as Latin-1 (covers UTF-8 and
    the other ASCII-compatible charsets), and UTF-16/32 or EBCDIC when the bytes suggest them."""
    yield data.decode("latin-1")
    if b"\x00" in data[:1024]:
        for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
            yield data.decode(codec, "replace")
    if data.startswith(b"\x4c\x6f\xa7\x94"):  # '<?xm' in EBCDIC, which feedparser reads too
        yield data.decode("cp037", "replace")


def _check_prolog(text: str) -> str | None:
    start = _ELEMENT_START_RE.search(text)
    head = text[: start.start()] if start else text
    declared = len(_ENTITY_RE.findall(head))
    if not declared:
        return None
    sizes: dict[str, int] = {}
    matches = list(_ENTITY_DECL_RE.finditer(head))
    for match in matches:
        percent, name, external, double, single = match.groups()
        if percent:
            return f"the DTD declares a parameter entity (%{one_line(name, 40)})"
        if external:
            return f"the DTD declares an external entity ({one_line(name, 40)}, {external.upper()})"
        value = double if double is not None else single
        if value is None:
            return f"the DTD declares an entity it does not give a value ({one_line(name, 40)})"
        if "&" in _CHAR_REF_RE.sub("", value) or "%" in value:
            return f"the DTD declares an entity made of other entities ({one_line(name, 40)})"
        sizes[name] = max(sizes.get(name, 0), len(value))
    if len(matches) != declared:
        return "the DTD has entity declarations that cannot be read"
    # sgmllib (feedparser's loose parser) also expands "&name" without the semicolon
    expansion = sum(size * len(re.findall(rf"&{re.escape(name)}(?![-.\w])", text)) for name, size in sizes.items())
    if expansion > MAX_ENTITY_EXPANSION:
        return (f"the DTD's entities would expand to {expansion} characters "
                f"(limit {MAX_ENTITY_EXPANSION})")
    return None


def unsafe_dtd(data: bytes) -> str | None:
    """Why a feed's DTD is unsafe to hand to feedparser, or None (see the module docstring)."""
    if b"<!" not in data and b"\x00" not in data[:1024] and not data.startswith(b"\x4c\x6f\xa7\x94"):
        return None  # no declaration at all: the common case costs one scan
    for text in _text_views(data):
        problem = _check_prolog(text)
        if problem:
            return problem
    return None


# A feed entry dated before this is a placeholder (epoch 0, 1900-01-01), not news: RSS is from 1999.
EARLIEST_PUBLISHED = dt.datetime(1990, 1, 1, tzinfo=dt.timezone.utc)


def _timestamp(parsed) -> dt.datetime | None:
    if not parsed:
        return None
    try:
        stamp = dt.datetime.fromtimestamp(calendar.timegm(parsed), tz=dt.timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None
    return stamp if stamp >= EARLIEST_PUBLISHED else None


def _base_url(location: str | None) -> str | None:
    """``location`` without credentials, query or fragment, to resolve relative links against."""
    if not location or not is_web_url(location):
        return None
    parts = urlsplit(location)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        return None
    return urlunsplit((parts.scheme.lower(), f"{netloc}:{port}" if port else netloc, parts.path or "/", "", ""))


def _absolute_link(link: str | None, base: str | None) -> str | None:
    link = (link or "").strip() or None
    if link is None or base is None or urlsplit(link).scheme:
        return link  # absolute, or a scheme Normalize will refuse (javascript:, data:)
    return urljoin(base, link)


def _is_html(detail: Any) -> bool:
    return bool(detail) and "html" in str(detail.get("type", ""))


def _entry_to_raw(entry: Any, source: FeedSource, source_name: str | None,
                  base: str | None = None, position: int | None = None) -> dict[str, Any] | r.Reject:
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
    body = content.get("value") if content else summary
    location = redact_url(source.location)
    too_large = r.oversize(title, body, summary)
    if too_large:  # checked before any text work: a 5 MB title costs nothing more
        reason, message = too_large
        guid = (entry.get("id") or "").strip()[:500] or None
        return r.Reject(STAGE, reason, message, "feed", location, guid=guid,
                        title=one_line(title, 500) if title else None,
                        payload=r.json_payload({"guid": guid, "link": entry.get("link"), "title": title,
                                                "summary": summary, "body": body}), position=position)
    if title is not None and _is_html(entry.get("title_detail")):
        title = html_to_text(title)
    return {
        "source_type": "feed",
        "source": location,
        "source_name": source_name,
        "feed_url": location,
        "guid": (entry.get("id") or "").strip() or None,
        "url": _absolute_link(entry.get("link"), base),
        "title": title,
        "summary": summary,
        "body": body,
        "text_is_html": body_html,
        "authors": authors,
        "categories": categories,
        # dict.get: FeedParserDict maps a missing updated_parsed to published_parsed with a DeprecationWarning
        "published_at": _timestamp(dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")),
        "position": position,
    }


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return charset.strip() if isinstance(charset, str) and charset.strip() else None


def parse_feed(source: FeedSource, data: bytes, content_type: str | None = None,
               base_url: str | None = None) -> FeedResult:
    """Parse one feed's bytes into raw articles, rejects and a report.

    ``content_type`` is the HTTP Content-Type, if any: its charset overrides the XML declaration.
    Relative links resolve against ``xml:base``, else ``base_url`` (where the feed was fetched
    from; default: the source itself when it is a URL), else the feed's own ``<link>``; never
    with the feed URL's credentials or query. Entries dated before :data:`EARLIEST_PUBLISHED`
    get no date.
    """
    if not data.strip():
        return failed_feed(source, r.FEED_MALFORMED, "feed is empty (0 bytes of content)", data)
    unsafe = unsafe_dtd(data)
    if unsafe:
        return failed_feed(source, r.FEED_UNSAFE_XML, f"not parsed: {unsafe}", data)
    charset = _charset(content_type)
    headers = {"content-type": f"application/xml; charset={charset}"} if charset else {}
    base = _base_url(base_url or source.location)
    if base:  # with any header feedparser wants a type; application/xml defers to the XML declaration
        headers = {"content-type": "application/xml", **headers, "content-location": base}
    # A stream, never bytes: feedparser opens bytes that name a local file or fetches a URL.
    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=True, resolve_relative_uris=True,
                              response_headers=headers or None)
    bozo = one_line(str(parsed.get("bozo_exception"))) if parsed.get("bozo") else None
    if not parsed.entries and (bozo or not parsed.get("version")):
        served = f" (served as {one_line(content_type, 80)})" if content_type else ""
        return failed_feed(source, r.FEED_MALFORMED,
                           f"not a feed{served}: {bozo or 'no RSS/Atom root element'}", data)
    source_name = source.name or (parsed.feed.get("title") or "").strip() or None
    entries: list[dict[str, Any]] = []
    rejects: list[r.Reject] = []
    for position, entry in enumerate(parsed.entries):  # the position tells identical entries apart
        raw = _entry_to_raw(entry, source, source_name, base or _base_url(parsed.feed.get("link")), position)
        if isinstance(raw, r.Reject):
            rejects.append(raw)
        else:
            entries.append(raw)
    count = len(parsed.entries)
    report = feed_report(source, STATUS_BOZO if bozo else STATUS_OK, bytes=len(data), entries=count,
                         new_entries=count, bozo=bozo, format=parsed.get("version") or None,
                         content_type=content_type)
    return FeedResult(entries, rejects, report)


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
    if remote and previous is not None:  # due under this run's interval and backoff, not the last run's
        previous = rescheduled(previous, schedule)
    if remote and previous is not None and not is_due(previous, now):
        return _skipped(source, previous)
    try:
        if remote:
            if session is None:  # reported like any other failure, below
                raise ValueError(f"no HTTP session to fetch {source.location}")
            with pacer or HostPacer(0):
                fetched = fetch_url(session, source.location, policy,
                                    etag=previous.etag if previous else None,
                                    last_modified=previous.last_modified if previous else None)
        else:
            fetched = read_local(source.location, policy.max_bytes)
    except FetchError as exc:
        return _failure(source, previous, now, schedule, failed_feed(source, exc.reason, str(exc)),
                        exc.http_status, exc.retry_after)
    except Exception as exc:  # noqa: BLE001 - an exotic failure in the HTTP stack must not stop the run either
        return _failure(source, previous, now, schedule,
                        failed_feed(source, r.STAGE_ERROR, f"{type(exc).__name__}: {exc}"), None)
    redirected = fetched.final_url if fetched.final_url not in (None, source.location) else None
    http = {"http_status": fetched.http_status, "content_type": fetched.content_type, "final_url": redirected}
    body_hash = hashlib.sha256(fetched.body).hexdigest() if fetched.body is not None else None
    if fetched.body is None or body_hash is None or (  # body_hash is None just when the body is
            remote and previous is not None and previous.body_hash == body_hash):
        state = after_not_modified(previous, source.location, now, schedule, status=STATUS_NOT_MODIFIED,
                                   http_status=fetched.http_status, etag=fetched.etag,
                                   last_modified=fetched.last_modified)
        report = feed_report(source, STATUS_NOT_MODIFIED, bytes=len(fetched.body or b""), **http,
                             **_schedule_fields(source, state))
        return FeedUpdate(FeedResult([], [], report), state)
    try:
        result = parse_feed(source, fetched.body, fetched.content_type, fetched.final_url)
    except Exception as exc:  # noqa: BLE001 - one bad feed must not stop the run; it is reported and kept
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
