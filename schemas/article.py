"""Arrow schemas of the three record tables, and the row checks derived from them.

Column order here is the column order in every Parquet file. Only nullable
columns may ever be added (readers of older files must keep working); bump
``SCHEMA_VERSION`` when you add one. The version is stored in each file's
key-value metadata under ``news_ingest.schema_version``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = "3"  # 2: enrichment columns (all nullable); 3: failed_expectations, rejects.position

_TS = pa.timestamp("us", tz="UTC")
_STRINGS = pa.list_(pa.field("item", pa.string(), nullable=False))
_QUOTES = pa.list_(pa.field("item", pa.struct([
    pa.field("text", pa.string(), nullable=False),
    pa.field("speaker", pa.string(), nullable=True),
]), nullable=False))


def _f(name: str, type_: pa.DataType, nullable: bool, doc: str) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


# schema_version 3: every table ends with it. Set only on rows under quarantine/<table>/.
_FAILED_EXPECTATIONS = _f("failed_expectations", _STRINGS, True,
                          "Expectations the row failed, e.g. 'expect_column_values_to_be_in_set(language)'; "
                          "set in quarantine/ only (null elsewhere).")


ARTICLE_SCHEMA = pa.schema(
    [
        _f("article_id", pa.string(), False,
           "Stable id: sha256 of (source_type, feed_url, guid or url or content hash), 32 hex chars."),
        _f("url", pa.string(), True, "Link as published (feed entry link or document front matter)."),
        _f("canonical_url", pa.string(), True,
           "url with lower-case scheme/host, no fragment, default port or tracking parameters."),
        _f("source_type", pa.string(), False, "'feed' or 'document'."),
        _f("source_name", pa.string(), True, "Feed title or feeds.yaml name; document front matter 'source'."),
        _f("feed_url", pa.string(), True, "Feed list entry the article came from (null for documents)."),
        _f("guid", pa.string(), True, "Feed entry id/guid as published."),
        _f("title", pa.string(), False, "Headline, whitespace-normalised."),
        _f("summary", pa.string(), True, "Feed entry summary as plain text (null for documents)."),
        _f("body", pa.string(), False,
           "Plain text, paragraphs separated by a blank line, dateline removed; may be empty."),
        _f("authors", _STRINGS, False, "Author names, in feed order."),
        _f("categories", _STRINGS, False, "Feed categories/tags."),
        _f("published_at", _TS, True, "Publication time in UTC; null when the source gives none."),
        _f("ingested_at", _TS, False, "Start time of the run that wrote the row (UTC)."),
        _f("language", pa.string(), True, "ISO 639-1 code detected from the text; null when unsure."),
        _f("language_confidence", pa.float64(), True, "Probability of the detected language, 0..1."),
        _f("dateline_location", pa.string(), True, "Place of a leading dateline, e.g. 'KABUL'."),
        _f("dateline_credit", pa.string(), True, "Credit of a leading dateline, e.g. 'Agencies'."),
        _f("word_count", pa.int32(), False, "Words in body."),
        _f("content_hash", pa.string(), False, "sha256 of the normalised body (or title when body is empty)."),
        _f("cluster_size", pa.int32(), False, "1 + number of duplicates dropped in favour of this row."),
        _f("run_id", pa.string(), False, "Run that wrote the row."),
        # schema_version 2: enrichment. New columns go at the end and are nullable.
        _f("dateline_qualifier", pa.string(), True, "What stands between place and credit: 'India', 'March 3'."),
        _f("dateline_country", pa.string(), True,
           "ISO 3166 alpha-2 country of the dateline place (offline gazetteer)."),
        _f("dateline_lat", pa.float64(), True, "Latitude of the dateline city; null when only the country is known."),
        _f("dateline_lon", pa.float64(), True, "Longitude of the dateline city."),
        _f("persons", _STRINGS, True, "People named (English, --enrich full); null when not computed."),
        _f("organizations", _STRINGS, True, "Organisations named (English, --enrich full)."),
        _f("locations", _STRINGS, True, "Places named, dateline place included (English, --enrich full)."),
        _f("countries", _STRINGS, True, "ISO 3166 alpha-2 codes of countries mentioned (English, --enrich full)."),
        _f("keywords", _STRINGS, True, "Key phrases by YAKE (--enrich full; languages with YAKE stopwords)."),
        _f("tone", pa.float64(), True, "Mean VADER compound score of the sentences, -1..1 (English, --enrich full)."),
        _f("quotes", _QUOTES, True, "Direct quotations with an attributed speaker (English, --enrich full)."),
        _f("reading_time_s", pa.int32(), True, "Seconds to read the body at 238 words per minute."),
        _f("hyphen_repairs", pa.int32(), True, "Broken mid-word hyphenations repaired in title and body."),
        _FAILED_EXPECTATIONS,
    ],
    metadata={"news_ingest.table": "articles", "news_ingest.schema_version": SCHEMA_VERSION},
)

DUPLICATE_SCHEMA = pa.schema(
    [
        _f("article_id", pa.string(), False, "Id the dropped record would have had."),
        _f("url", pa.string(), True, "Link of the dropped record."),
        _f("title", pa.string(), False, "Headline of the dropped record."),
        _f("source_type", pa.string(), False, "'feed' or 'document'."),
        _f("source_name", pa.string(), True, "Source of the dropped record."),
        _f("feed_url", pa.string(), True, "Feed of the dropped record (null for documents)."),
        _f("guid", pa.string(), True, "Feed entry guid of the dropped record."),
        _f("canonical_id", pa.string(), False, "article_id of the kept article in articles/."),
        _f("method", pa.string(), False, "Key that matched: 'guid', 'url' or 'content'."),
        _f("similarity", pa.float64(), False, "1.0 for exact keys."),
        _f("ingested_at", _TS, False, "Start time of the run."),
        _f("run_id", pa.string(), False, "Run that wrote the row."),
        _FAILED_EXPECTATIONS,
    ],
    metadata={"news_ingest.table": "duplicates", "news_ingest.schema_version": SCHEMA_VERSION},
)

REJECT_SCHEMA = pa.schema(
    [
        _f("reject_id", pa.string(), False,
           "sha256 of (stage, reason, source, position, guid, payload), 32 hex chars: one per input record."),
        _f("stage", pa.string(), False, "Stage that refused the record, e.g. 'read_documents'."),
        _f("reason", pa.string(), False, "UPPER_SNAKE reason code."),
        _f("message", pa.string(), False, "One line for a human."),
        _f("source_type", pa.string(), False, "'feed' or 'document'."),
        _f("source", pa.string(), False, "Document path or feed list entry."),
        _f("guid", pa.string(), True, "Feed entry guid, when known."),
        _f("title", pa.string(), True, "Title, when known."),
        _f("payload", pa.binary(), True, "The record as read (bytes or JSON), capped at 1 MiB."),
        _f("payload_truncated", pa.bool_(), False, "True when payload was cut at the cap."),
        _f("ingested_at", _TS, False, "Start time of the run."),
        _f("run_id", pa.string(), False, "Run that wrote the row."),
        _f("position", pa.int32(), True,
           "Entry index in its feed (0-based); null for a whole feed or document, or a row refused after Normalize."),
        _FAILED_EXPECTATIONS,
    ],
    metadata={"news_ingest.table": "rejects", "news_ingest.schema_version": SCHEMA_VERSION},
)

# The seen-index (<output>/_index/): what earlier runs wrote, so later runs do not write it again.
SEEN_SCHEMA = pa.schema(
    [
        _f("kind", pa.string(), False, "Key kind: 'guid', 'url', 'content' or 'band'."),
        _f("key", pa.string(), False, "The dedup key (band: '<band>:<hash>')."),
        _f("article_id", pa.string(), False, "Kept article the key belongs to."),
        _f("path", pa.string(), False, "Its file under articles/, relative to the output root."),
        _f("seen_at", _TS, False, "Start of the run that wrote it; entries older than the retention are ignored."),
        _f("run_id", pa.string(), False, "Run that wrote it."),
    ],
    metadata={"news_ingest.table": "seen_index", "news_ingest.schema_version": SCHEMA_VERSION},
)

# The tables. Quarantined rows keep their table's schema under quarantine/<table>/, failed_expectations set.
TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "articles": ARTICLE_SCHEMA,
    "duplicates": DUPLICATE_SCHEMA,
    "rejects": REJECT_SCHEMA,
}

_INT_RANGES = {pa.int32(): (-(2**31), 2**31 - 1), pa.int64(): (-(2**63), 2**63 - 1)}


def _type_problem(value: Any, type_: pa.DataType) -> str | None:
    """Return why ``value`` cannot be stored as ``type_``, or None when it can."""
    if pa.types.is_string(type_):
        return None if isinstance(value, str) else f"expected str, got {type(value).__name__}"
    if pa.types.is_binary(type_):
        return None if isinstance(value, bytes) else f"expected bytes, got {type(value).__name__}"
    if pa.types.is_boolean(type_):
        return None if isinstance(value, bool) else f"expected bool, got {type(value).__name__}"
    if pa.types.is_integer(type_):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected int, got {type(value).__name__}"
        low, high = _INT_RANGES[type_]
        return None if low <= value <= high else f"{value} out of range for {type_}"
    if pa.types.is_floating(type_):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected float, got {type(value).__name__}"
        if isinstance(value, int) and abs(value) > 2**53:
            return f"{value} is not exactly representable as a float"
        return None
    if pa.types.is_timestamp(type_):
        if not isinstance(value, dt.datetime):
            return f"expected datetime, got {type(value).__name__}"
        return None if value.utcoffset() == dt.timedelta(0) else "timestamp is not UTC"
    if pa.types.is_list(type_):
        if not isinstance(value, list):
            return f"expected list, got {type(value).__name__}"
        item = type_.value_field
        for element in value:
            if element is None and not item.nullable:
                return "null list item"
            if element is not None and (problem := _type_problem(element, item.type)):
                return f"list item: {problem}"
        return None
    if pa.types.is_struct(type_):
        if not isinstance(value, dict):
            return f"expected dict, got {type(value).__name__}"
        problems = check_row(value, pa.schema(list(type_)))
        return "; ".join(problems) or None
    return f"unsupported type {type_}"  # a schema change must extend this function


def check_row(row: dict[str, Any], schema: pa.Schema = ARTICLE_SCHEMA) -> list[str]:
    """Problems that stop ``row`` from being written under ``schema`` (empty when none).

    Checks exactly what the schema says: the set of columns, nullability and
    value types. The value rules (URL format, languages, ranges) are
    :func:`schemas.rules.check_values`'s.
    """
    problems = [f"unknown column {name!r}" for name in row if schema.get_field_index(name) < 0]
    for field in schema:
        if field.name not in row:
            problems.append(f"missing column {field.name!r}")
            continue
        value = row[field.name]
        if value is None:
            if not field.nullable:
                problems.append(f"{field.name} is null")
        elif problem := _type_problem(value, field.type):
            problems.append(f"{field.name}: {problem}")
    return problems


_ROW_LAYOUTS: dict[int, tuple[pa.Schema, tuple[str, ...], tuple[str, ...]]] = {}


def _row_layout(schema: pa.Schema) -> tuple[pa.Schema, tuple[str, ...], tuple[str, ...]]:
    """``(schema, column names, list column names)``, worked out once per schema object."""
    layout = _ROW_LAYOUTS.get(id(schema))
    if layout is None or layout[0] is not schema:  # the schema is held, so its id is not reused
        is_list = {field.name: pa.types.is_list(field.type) for field in schema}
        layout = (schema, tuple(is_list), tuple(name for name, listed in is_list.items() if listed))
        if len(_ROW_LAYOUTS) < 64:
            _ROW_LAYOUTS[id(schema)] = layout
    return layout


def empty_row(schema: pa.Schema = ARTICLE_SCHEMA) -> dict[str, Any]:
    """A row with every column of ``schema`` set to None (lists to a new [] each)."""
    _, names, list_names = _row_layout(schema)
    row = dict.fromkeys(names)
    for name in list_names:
        row[name] = []
    return row
