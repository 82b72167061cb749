"""Raw article (from a reader) -> article row, or a reject.

Text becomes clean plain text, a leading dateline is split off the body (before
hashing, so two wire copies with different credits hash alike), URLs are
checked and canonicalised, and the stable ``article_id`` and ``content_hash``
are set. Enrichment columns stay None for the Enrich stage.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import schemas
from pipelines.core import records as r
from pipelines.core.cleaning import clean_text, repair_hyphenation
from pipelines.core.dateline import parse_dateline
from pipelines.core.text import content_hash, html_to_text, normalize_line
from pipelines.core.urls import canonical_url

STAGE = "normalize"
# Publishers' clocks and zones are often off by hours; a day later than the run is a wrong date.
FUTURE_TOLERANCE = dt.timedelta(days=1)


def _distinct(values: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        line = normalize_line(value)
        if line and line not in seen:
            seen[line] = None
    return list(seen)


def normalize_article(raw: dict[str, Any], run_id: str, ingested_at: dt.datetime) -> dict[str, Any] | r.Reject:
    """Normalise one raw article (``records.RAW_FIELDS``) into an article row.

    Text is cleaned (ftfy) before the dateline is split off, and broken mid-word
    hyphenation is repaired before the content hash, so OCR-damaged copies hash alike.
    """

    def reject(reason: str, message: str) -> r.Reject:
        return r.Reject(STAGE, reason, message, raw["source_type"], raw["source"],
                        guid=raw.get("guid"), title=title or None, payload=r.json_payload(raw),
                        position=raw.get("position"))

    def to_text(value: str) -> str:
        return clean_text(html_to_text(value) if raw.get("text_is_html") else value)

    title, title_repairs = repair_hyphenation(normalize_line(clean_text(raw.get("title") or "")))
    if not title:
        return reject(r.MISSING_TITLE, "record has no title")

    url = raw.get("url")
    canonical = None
    if url:
        canonical = canonical_url(url)
        if canonical is None:
            return reject(r.BAD_URL, f"link is not an absolute http(s) URL: {url[:200]!r}")

    published = raw.get("published_at")
    if published is not None:
        if published.tzinfo is None:  # readers give UTC; a naive time from elsewhere is read as UTC
            published = published.replace(tzinfo=dt.timezone.utc)
        published = published.astimezone(dt.timezone.utc)
    if published is not None and published > ingested_at + FUTURE_TOLERANCE:
        return reject(r.FUTURE_PUBLISHED_DATE,
                      f"published_at {published.isoformat()} is after the run started")

    dateline, body = parse_dateline(to_text(raw.get("body") or ""))
    body, body_repairs = repair_hyphenation(body.strip())  # to_text cleaned it; the rest stays clean
    summary = to_text(raw["summary"]) if raw.get("summary") else None
    digest = content_hash(body or title)
    row = schemas.empty_row()
    row.update(
        article_id=r.article_id(raw["source_type"], raw.get("feed_url"), raw.get("guid"), url, digest),
        url=url,
        canonical_url=canonical,
        source_type=raw["source_type"],
        source_name=raw.get("source_name"),
        feed_url=raw.get("feed_url"),
        guid=raw.get("guid"),
        title=title,
        summary=summary or None,
        body=body,
        authors=_distinct(raw.get("authors") or []),
        categories=_distinct(raw.get("categories") or []),
        published_at=published,
        ingested_at=ingested_at,
        dateline_location=dateline.location if dateline else None,
        dateline_credit=dateline.credit if dateline else None,
        dateline_qualifier=dateline.qualifier if dateline else None,
        hyphen_repairs=title_repairs + body_repairs,
        content_hash=digest,
        cluster_size=1,
        run_id=run_id,
        failed_expectations=None,  # set in quarantine only
    )
    return row
