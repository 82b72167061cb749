"""Record types that flow between stages, the reject (dead-letter) record and id rules.

A raw article is a plain ``dict`` with the keys of :data:`RAW_FIELDS`, produced by
the readers; Normalize turns it into an article row (a ``dict`` keyed like
``schemas.ARTICLE_SCHEMA``). Dicts, not classes, so rows go straight into
``pyarrow.Table.from_pylist`` and pickle cheaply between Beam workers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

# What a reader hands to Normalize. ``text_is_html`` tells Normalize how to read body/summary;
# ``position`` is the entry's index in its feed (None for a document: the file is the record).
RAW_FIELDS = (
    "source_type", "source", "source_name", "feed_url", "guid", "url", "title",
    "summary", "body", "text_is_html", "authors", "categories", "published_at", "position",
)

PAYLOAD_CAP = 1 << 20

# Reason codes. One place, so the README table and the tests can list them.
EMPTY_DOCUMENT = "EMPTY_DOCUMENT"
DOCUMENT_READ_ERROR = "DOCUMENT_READ_ERROR"
DOCUMENT_TOO_LARGE = "DOCUMENT_TOO_LARGE"
BINARY_CONTENT = "BINARY_CONTENT"
DECODE_ERROR = "DECODE_ERROR"
BAD_FRONT_MATTER = "BAD_FRONT_MATTER"
BAD_PUBLISHED_DATE = "BAD_PUBLISHED_DATE"
BAD_URL = "BAD_URL"
MISSING_TITLE = "MISSING_TITLE"
FEED_NOT_FOUND = "FEED_NOT_FOUND"
FEED_READ_ERROR = "FEED_READ_ERROR"
FEED_HTTP_ERROR = "FEED_HTTP_ERROR"
FEED_TOO_LARGE = "FEED_TOO_LARGE"
FEED_MALFORMED = "FEED_MALFORMED"
SCHEMA_VIOLATION = "SCHEMA_VIOLATION"
FUTURE_PUBLISHED_DATE = "FUTURE_PUBLISHED_DATE"
STAGE_ERROR = "STAGE_ERROR"
FEED_GONE = "FEED_GONE"  # HTTP 410: the feed is marked dead and asked again only rarely
FEED_TIMEOUT = "FEED_TIMEOUT"  # connect/read timeout or the total deadline of a fetch
FEED_TOO_MANY_REDIRECTS = "FEED_TOO_MANY_REDIRECTS"  # a redirect loop or a chain over the limit
FEED_RATE_LIMITED = "FEED_RATE_LIMITED"  # HTTP 429 after the retries (or a Retry-After too long to wait for)
FEED_UNSAFE_XML = "FEED_UNSAFE_XML"  # a DTD with external or parameter entities, or entities that expand too far
TITLE_TOO_LONG = "TITLE_TOO_LONG"  # over MAX_TITLE_CHARS: not a headline (a feed that put its body in <title>)
BODY_TOO_LONG = "BODY_TOO_LONG"  # over MAX_BODY_CHARS

# Limits of one record, as read (markup included). A headline is a line; a long article is
# ~100,000 characters, so 2 million is a mistake or an attack, not news.
MAX_TITLE_CHARS = 2_000
MAX_BODY_CHARS = 2_000_000


@dataclass(frozen=True)
class Reject:
    """A record that cannot go on: where it stopped, why, and what it was.

    ``position``: the entry's index in its feed; None when the record is a whole feed or
    document, or a row refused after Normalize (then its own id is in the payload).
    """

    stage: str
    reason: str
    message: str
    source_type: str
    source: str
    guid: str | None = None
    title: str | None = None
    payload: bytes | None = None
    position: int | None = None

    def to_row(self, run_id: str, ingested_at: dt.datetime) -> dict[str, Any]:
        payload = self.payload
        truncated = False
        if payload is not None and len(payload) > PAYLOAD_CAP:
            payload, truncated = payload[:PAYLOAD_CAP], True
        return {
            **{k: v for k, v in asdict(self).items() if k != "payload"},
            "reject_id": reject_id(self.stage, self.reason, self.source, self.position, self.guid, payload),
            "message": one_line(self.message),
            "payload": payload,
            "payload_truncated": truncated,
            "ingested_at": ingested_at,
            "run_id": run_id,
            "failed_expectations": None,
        }


def reject_id(stage: str, reason: str, source: str, position: int | None, guid: str | None,
              payload: bytes | None) -> str:
    """The id of one refused input record: where it stopped and why, where it came from (source and
    position in it) and what it was. Two identical entries of one feed differ by position."""
    key = json.dumps([stage, reason, source, position, guid or ""], ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8") + b"\x1f" + (payload or b"")).hexdigest()[:32]


def oversize(title: str | None, body: str | None, summary: str | None = None) -> tuple[str, str] | None:
    """``(reason, message)`` when a record's title or text is over the limits above, else None."""
    if title is not None and len(title) > MAX_TITLE_CHARS:
        return TITLE_TOO_LONG, f"title has {len(title)} characters (limit {MAX_TITLE_CHARS})"
    for name, text in (("body", body), ("summary", summary)):
        if text is not None and len(text) > MAX_BODY_CHARS:
            return BODY_TOO_LONG, f"{name} has {len(text)} characters (limit {MAX_BODY_CHARS})"
    return None


def stage_error(stage: str, record: dict[str, Any], exc: Exception, payload: bytes | None = None) -> Reject:
    """A reject for a record a stage's code failed on: the run goes on, the record is kept whole
    (``payload``, or the record as JSON)."""
    return Reject(stage, STAGE_ERROR, f"{type(exc).__name__}: {exc}",
                  record.get("source_type") or "unknown",
                  record.get("source") or record.get("feed_url") or record.get("url") or "",
                  guid=record.get("guid"), title=str(record.get("title") or "")[:500] or None,
                  payload=json_payload(record) if payload is None else payload,
                  position=record.get("position"))


def one_line(text: str, limit: int = 300) -> str:
    """Collapse ``text`` to one line of at most ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def json_payload(record: dict[str, Any]) -> bytes:
    """A raw record as JSON bytes for a reject's payload (datetimes as ISO strings)."""
    return json.dumps(record, default=str, ensure_ascii=False, sort_keys=True).encode()


def stable_hash(*parts: str | None, length: int = 32) -> str:
    """Hex sha256 over ``parts`` (encoded as a JSON list, so no two part lists collide)."""
    encoded = json.dumps([part or "" for part in parts], ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:length]


def article_id(source_type: str, feed_url: str | None, guid: str | None,
               url: str | None, content_hash: str) -> str:
    """The id of one published record, stable across runs.

    Identity is where the record came from and what it was called there: the
    entry guid within its feed, else its link as published, else its content.
    Two copies of one story (two feeds, a re-post under a tracking URL) keep
    distinct ids, so ``duplicates/`` can say which copy was dropped for which.
    """
    key = f"guid:{guid}" if guid else f"url:{url}" if url else f"content:{content_hash}"
    return stable_hash(source_type, feed_url, key)
