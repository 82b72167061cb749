"""Per-feed state between runs: validators, body hash, failures, next due time.

In:  the previous :class:`FeedState` of a feed (or ``None``: never seen, or its file was lost)
and what happened this run. Out: the next :class:`FeedState`. The transitions are pure
functions of the previous state and ``now``, so due times and backoff are tested without
sleeping, and one run's decisions depend only on its start time.

Semantics (after lemon24/reader's update rules):

- A healthy feed is due ``interval`` after its last fetch. A 304, or a 200 whose body hashes
  like the last good one, is a success that brings nothing new.
- Each consecutive failure doubles the wait: ``max(interval, min_backoff) * 2**(failures-1)``,
  capped at ``max_backoff``; a ``Retry-After`` pushes it further (within the same cap). A
  failing feed is never dropped, and its first success resets it to the normal interval.
- Due times count from the last attempt under the schedule in force (:func:`rescheduled`): a run
  with another interval or backoff applies it at once; only a ``Retry-After`` is kept as it was.
  Validators and the body hash change only on success, so a failure never hides new content.
- HTTP 410 Gone marks the feed dead: it is reported every run but asked again only after
  ``dead_recheck``; a dead feed that answers again comes back to life.

:class:`FeedStateStore` keeps one JSON file per feed under the state directory, read and
written through Beam's ``FileSystems`` so the state can live next to a ``gs://``/``s3://``
output as well as on a local disk. One file per feed: workers read and write only their own
feeds' files (no shared file to merge), and a corrupt file loses one feed's state, not all.
Writes go to a staging file renamed into place (atomic on a local disk, whole-object on
object stores). A missing or unreadable file means "fetch everything", never a crash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from pipelines import signals, storage
from pipelines.core import records as r
from pipelines.core.records import one_line, stable_hash
from pipelines.core.urls import redact_text, redact_url

LOG = logging.getLogger("news_ingest")

STATE_VERSION = 1
MAX_ENTRY_KEYS = 2000  # remembered entry keys per feed (for "new entries"), newest first
MAX_STATE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class FeedSchedule:
    """When feeds are due. Times in seconds."""

    interval: float = 1800.0  # a healthy feed is fetched at most this often
    min_backoff: float = 900.0  # the first wait after a failure, when interval is shorter
    max_backoff: float = 86400.0  # the longest wait after consecutive failures
    dead_recheck: float = 7 * 86400.0  # a 410 Gone feed is asked again after this long

    def __post_init__(self) -> None:
        for name in ("interval", "min_backoff", "max_backoff", "dead_recheck"):
            if getattr(self, name) < 0:
                raise ValueError(f"FeedSchedule.{name} must not be negative, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class FeedState:
    """What we remember about one feed (keyed by its feed list location)."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # sha256 of the last body parsed successfully
    entry_keys: tuple[str, ...] = ()  # keys of that body's entries, to count new ones
    last_status: str | None = None  # report status of the last attempt
    http_status: int | None = None
    failures: int = 0  # consecutive
    dead: bool = False
    next_due: dt.datetime | None = None
    not_before: dt.datetime | None = None  # the server's Retry-After, as a time
    last_attempt: dt.datetime | None = None
    last_success: dt.datetime | None = None
    last_reason: str | None = None
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["entry_keys"] = list(self.entry_keys)
        for name in _TIMES:
            data[name] = _iso(getattr(self, name))
        return {"version": STATE_VERSION, **data}

    @classmethod
    def from_json(cls, data: Any) -> FeedState:
        """The state in ``data``; ValueError when it is not a state this version wrote."""
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError(f"not a version {STATE_VERSION} feed state")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(fields) - {"version"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name in fields:
            value = data.get(name)
            if name in _TIMES:
                value = _parse_time(value, name)
            elif name == "entry_keys":
                if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                    raise ValueError("entry_keys must be a list of strings")
                value = tuple(value)
            elif name in ("failures", "http_status"):
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                    raise ValueError(f"{name} must be a whole number")
                if name == "failures":
                    value = value or 0
            elif name == "dead":
                if not isinstance(value, bool):
                    raise ValueError("dead must be true or false")
            elif value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be text")
            values[name] = value
        if not values["url"]:
            raise ValueError("url is missing")
        return cls(**values)


_TIMES = ("next_due", "not_before", "last_attempt", "last_success")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any, name: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO 8601 time")
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{name} must carry a time zone")
    try:
        return parsed.astimezone(dt.timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: no UTC time in range
        raise ValueError(f"{name} is out of range") from None


# --- transitions --------------------------------------------------------------------------------------

def is_due(state: FeedState | None, now: dt.datetime) -> bool:
    """Whether a feed should be fetched at ``now``; a feed without state always is."""
    return state is None or state.next_due is None or now >= state.next_due


def rescheduled(state: FeedState, schedule: FeedSchedule) -> FeedState:
    """``state`` with its next due time worked out again from its last attempt under ``schedule``
    (a changed ``--feed-interval`` or backoff applies at once), never before its ``Retry-After``."""
    if state.last_attempt is None or state.next_due is None:  # never fetched, or a file: read every run
        return state
    if state.dead:
        wait = dt.timedelta(seconds=schedule.dead_recheck)
    elif state.failures:
        wait = failure_delay(state.failures, schedule)
    else:
        wait = dt.timedelta(seconds=schedule.interval)
    due = state.last_attempt + wait
    if state.not_before is not None and state.not_before > due:
        due = state.not_before
    return dataclasses.replace(state, next_due=due)


def failure_delay(failures: int, schedule: FeedSchedule) -> dt.timedelta:
    """The wait after ``failures`` consecutive failures (1 = the first)."""
    base = max(schedule.interval, schedule.min_backoff)
    seconds = base * 2.0 ** min(max(failures - 1, 0), 64)
    return dt.timedelta(seconds=min(seconds, schedule.max_backoff))


def _previous(previous: FeedState | None, url: str) -> FeedState:
    return previous if previous is not None and previous.url == url else FeedState(url)


def after_success(previous: FeedState | None, url: str, now: dt.datetime, schedule: FeedSchedule, *,
                  status: str, http_status: int | None, etag: str | None, last_modified: str | None,
                  body_hash: str, entry_keys: Iterable[str]) -> FeedState:
    """A body was fetched and parsed: new validators and body hash, failures reset."""
    return dataclasses.replace(
        _previous(previous, url), etag=etag, last_modified=last_modified, body_hash=body_hash,
        entry_keys=tuple(dict.fromkeys(entry_keys))[:MAX_ENTRY_KEYS], last_status=status,
        http_status=http_status, failures=0, dead=False,
        next_due=now + dt.timedelta(seconds=schedule.interval), not_before=None, last_attempt=now,
        last_success=now, last_reason=None, last_error=None)


def after_not_modified(previous: FeedState | None, url: str, now: dt.datetime, schedule: FeedSchedule, *,
                       status: str, http_status: int | None, etag: str | None = None,
                       last_modified: str | None = None) -> FeedState:
    """A 304, or the same body as last time: a success with nothing new."""
    state = _previous(previous, url)
    return dataclasses.replace(
        state, etag=etag or state.etag, last_modified=last_modified or state.last_modified,
        last_status=status, http_status=http_status, failures=0, dead=False,
        next_due=now + dt.timedelta(seconds=schedule.interval), not_before=None, last_attempt=now,
        last_success=now, last_reason=None, last_error=None)


def after_failure(previous: FeedState | None, url: str, now: dt.datetime, schedule: FeedSchedule, *,
                  status: str, reason: str, error: str, http_status: int | None = None,
                  retry_after: float | None = None) -> FeedState:
    """The feed could not be read: one more failure, a later due time; 410 marks it dead."""
    state = _previous(previous, url)
    failures = state.failures + 1
    dead = reason == r.FEED_GONE
    not_before = None
    if dead:
        wait = dt.timedelta(seconds=schedule.dead_recheck)
    else:
        wait = failure_delay(failures, schedule)
        if retry_after is not None:
            not_before = now + dt.timedelta(seconds=min(retry_after, schedule.max_backoff))
            wait = max(wait, not_before - now)
    return dataclasses.replace(
        state, last_status=status, http_status=http_status, failures=failures, dead=dead,
        next_due=now + wait, not_before=not_before, last_attempt=now, last_reason=reason,
        last_error=one_line(error))


# --- store --------------------------------------------------------------------------------------------

class FeedStateStore:
    """One JSON file per feed under ``state_dir`` (a local path or a Beam filesystem URL).

        store = FeedStateStore("out/_state")
        state = store.load("https://example.com/rss")   # None: fetch everything
        store.save(next_state)                          # after the run's outputs are committed
    """

    def __init__(self, state_dir: str) -> None:
        if not isinstance(state_dir, str) or not state_dir.strip():
            raise ValueError("FeedStateStore needs a state directory")
        self.state_dir = state_dir

    def path(self, url: str) -> str:
        return storage.join(self.state_dir, "feeds", f"{stable_hash(url)}.json")

    def load(self, url: str) -> FeedState | None:
        """The saved state of ``url``; None when there is none or it cannot be used (logged)."""
        return self.load_checked(url)[0]

    def load_checked(self, url: str) -> tuple[FeedState | None, str | None]:
        """``(state, problem)``: the saved state of ``url``, or None with why its file was unusable.

        A missing file is ``(None, None)``: a feed never seen. An unreadable, truncated, foreign
        or garbage file is ``(None, "one line")``, logged as a warning; the feed is then fetched
        afresh and the run's report says so (``state_error``).
        """
        path = self.path(url)
        try:
            if not FileSystems.exists(path):
                return None, None
            with FileSystems.open(path) as handle:
                data = handle.read(MAX_STATE_BYTES + 1)
            if len(data) > MAX_STATE_BYTES:
                raise ValueError("file is too large")
            state = FeedState.from_json(json.loads(data.decode("utf-8")))
            if state.url != url:
                raise ValueError(f"file is for another feed ({redact_url(state.url)})")
            return state, None
        except (OSError, BeamIOError, ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
            problem = one_line(redact_text(f"{type(exc).__name__}: {exc}", url))
            LOG.warning("feed state %s unusable, fetching %s afresh: %s", path, redact_url(url), problem)
            return None, f"state file {path.rsplit('/', 1)[-1]} unusable ({problem}); fetched afresh"

    def save(self, state: FeedState) -> str:
        """Write ``state`` atomically (staging file + rename); returns the path. Raises on I/O errors."""
        final = self.path(state.url)
        staging = storage.join(self.state_dir, storage.STAGING_DIR, f"{uuid.uuid4().hex}.json")
        with signals.held():  # a stop request leaves no staged state file behind
            storage.publish_bytes(storage.json_bytes(state.to_json()), final, staging)
        return final


def save_feed_states(state_dir: str, states: Iterable[FeedState]) -> list[str]:
    """Save many states (for a driver that collects them); returns the paths written."""
    store = FeedStateStore(state_dir)
    return [store.save(state) for state in states]
