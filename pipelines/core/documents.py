"""Plain-text news documents -> raw articles.

Format: optional front matter between ``---`` lines (YAML mapping with ``url``,
``source``, ``published``), then the headline on the first non-empty line, then
the body. Documents must be UTF-8 (a byte-order mark is allowed); anything else
is rejected rather than guessed at, so no text is silently mis-decoded. A first line
over ``records.MAX_TITLE_CHARS`` is not a headline (``TITLE_TOO_LONG``); a body over
``records.MAX_BODY_CHARS`` is ``BODY_TOO_LONG``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml

from pipelines.core import records as r
from pipelines.core.urls import is_web_url

STAGE = "read_documents"
FRONT_MATTER_KEYS = {"url", "source", "published"}
_BINARY_CONTROL_SHARE = 0.05


def _reject(source: str, reason: str, message: str, data: bytes) -> r.Reject:
    return r.Reject(STAGE, reason, message, "document", source, payload=data)


def parse_timestamp(value: Any) -> dt.datetime:
    """An ISO 8601 timestamp (string, date or datetime) as an aware UTC datetime.

    A value without a zone is read as UTC; a bare date as midnight UTC.
    Raises ``ValueError`` when it is not a timestamp.
    """
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        stamp = dt.datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(dt.timezone.utc)


def _looks_binary(data: bytes) -> bool:
    if b"\x00" in data:
        return True
    sample = data[:4096]
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return control > _BINARY_CONTROL_SHARE * len(sample)


def _split_front_matter(text: str) -> tuple[str | None, str]:
    """``(front matter or None, rest)``; raises ``ValueError`` when it is not closed."""
    stripped = text.lstrip("\n")
    if not stripped.startswith("---\n"):
        return None, text
    lines = stripped.split("\n")
    for index, line in enumerate(lines[1:], start=1):
        if line.rstrip() == "---":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1:])
    raise ValueError("front matter has no closing '---'")


def parse_document(source: str, data: bytes) -> dict[str, Any] | r.Reject:
    """Parse one document's bytes into a raw article (see ``records.RAW_FIELDS``) or a reject."""
    if not data.strip():
        return _reject(source, r.EMPTY_DOCUMENT, "document is empty", data)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16/32 byte-order marks (NUL bytes follow)
        return _reject(source, r.DECODE_ERROR, "not UTF-8 (a UTF-16 or UTF-32 byte-order mark)", data)
    if _looks_binary(data):
        return _reject(source, r.BINARY_CONTENT, "document is binary, not text", data)
    try:
        text = data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        return _reject(source, r.DECODE_ERROR,
                       f"not UTF-8 (byte {exc.start}: {data[exc.start:exc.start + 1]!r})", data)

    try:
        front_text, text = _split_front_matter(text)
    except ValueError as exc:
        return _reject(source, r.BAD_FRONT_MATTER, str(exc), data)
    meta: dict[str, Any] = {}
    if front_text is not None:
        try:
            loaded = yaml.safe_load(front_text) if front_text.strip() else {}
        except (yaml.YAMLError, ValueError) as exc:  # ValueError: YAML dates like 2020-13-01
            return _reject(source, r.BAD_FRONT_MATTER, f"front matter is not valid YAML: {exc}", data)
        if not isinstance(loaded, dict):
            return _reject(source, r.BAD_FRONT_MATTER, "front matter is not a mapping", data)
        unknown = sorted(str(k) for k in loaded if k not in FRONT_MATTER_KEYS)
        if unknown:
            return _reject(source, r.BAD_FRONT_MATTER,
                           f"unknown front matter keys {unknown}; allowed: {sorted(FRONT_MATTER_KEYS)}",
                           data)
        meta = loaded

    url = meta.get("url")
    if url is not None and (not isinstance(url, str) or not is_web_url(url)):
        return _reject(source, r.BAD_URL, f"front matter url is not an http(s) URL: {url!r}", data)
    published = None
    if meta.get("published") is not None:
        try:
            published = parse_timestamp(meta["published"])
        except (ValueError, TypeError, OverflowError) as exc:
            return _reject(source, r.BAD_PUBLISHED_DATE, f"published is not ISO 8601: {exc}", data)

    lines = text.strip().split("\n", 1)
    title = lines[0].strip()
    if not title:
        return _reject(source, r.EMPTY_DOCUMENT, "document has front matter but no text", data)
    body = lines[1] if len(lines) > 1 else ""
    too_large = r.oversize(title, body)
    if too_large:
        return _reject(source, *too_large, data)
    source_name = meta.get("source")
    return {
        "source_type": "document",
        "source": source,
        "source_name": str(source_name) if source_name is not None else None,
        "feed_url": None,
        "guid": None,
        "url": url.strip() if url else None,
        "title": title,
        "summary": None,
        "body": body,
        "text_is_html": False,
        "authors": [],
        "categories": [],
        "published_at": published,
        "position": None,  # the file is the record
    }
