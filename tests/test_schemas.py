"""schemas.article: the three table schemas, empty_row and check_row."""

import datetime as dt
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from schemas import ARTICLE_SCHEMA, DUPLICATE_SCHEMA, REJECT_SCHEMA, SCHEMA_VERSION, TABLE_SCHEMAS, check_row, empty_row

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def article_row(**overrides):
    row = empty_row(ARTICLE_SCHEMA)  # the nullable enrichment columns: None / []
    row.update({
        "article_id": "0" * 32, "url": "https://ex.com/a", "canonical_url": "https://ex.com/a",
        "source_type": "feed", "source_name": "Ex", "feed_url": "https://ex.com/rss", "guid": "g1",
        "title": "Title", "summary": None, "body": "Body text.", "authors": ["A"], "categories": [],
        "published_at": NOW, "ingested_at": NOW, "language": "en", "language_confidence": 0.99,
        "dateline_location": None, "dateline_credit": None, "word_count": 2, "content_hash": "f" * 64,
        "cluster_size": 1, "run_id": "run-1",
    })
    row.update(overrides)
    return row


def reject_row(**overrides):
    row = {
        "reject_id": "1" * 32, "stage": "normalize", "reason": "BAD_URL", "message": "m",
        "source_type": "feed", "source": "x", "guid": None, "title": None, "payload": b"{}",
        "payload_truncated": False, "ingested_at": NOW, "run_id": "run-1", "position": 0,
        "failed_expectations": None,
    }
    row.update(overrides)
    return row


def duplicate_row(**overrides):
    row = {
        "article_id": "2" * 32, "url": None, "title": "T", "source_type": "document",
        "source_name": None, "feed_url": None, "guid": None, "canonical_id": "3" * 32,
        "method": "content", "similarity": 1.0, "ingested_at": NOW, "run_id": "run-1",
        "failed_expectations": None,
    }
    row.update(overrides)
    return row


# --- the schemas -------------------------------------------------------------------------------

def test_table_schemas_map_tables_to_schemas():
    assert set(TABLE_SCHEMAS) == {"articles", "duplicates", "rejects"}
    assert TABLE_SCHEMAS["articles"] is ARTICLE_SCHEMA
    assert TABLE_SCHEMAS["duplicates"] is DUPLICATE_SCHEMA
    assert TABLE_SCHEMAS["rejects"] is REJECT_SCHEMA


@pytest.mark.parametrize("schema,table", [(ARTICLE_SCHEMA, b"articles"), (DUPLICATE_SCHEMA, b"duplicates"),
                                          (REJECT_SCHEMA, b"rejects")])
def test_schema_metadata_names_table_and_version(schema, table):
    assert schema.metadata[b"news_ingest.table"] == table
    assert schema.metadata[b"news_ingest.schema_version"] == SCHEMA_VERSION.encode()


@pytest.mark.parametrize("schema", [ARTICLE_SCHEMA, DUPLICATE_SCHEMA, REJECT_SCHEMA])
def test_every_column_is_documented_and_unique(schema):
    assert len(set(schema.names)) == len(schema.names)
    for field in schema:
        assert field.metadata and field.metadata.get(b"doc"), field.name


def test_article_schema_key_columns():
    assert ARTICLE_SCHEMA.names[0] == "article_id"
    assert not ARTICLE_SCHEMA.field("article_id").nullable
    assert ARTICLE_SCHEMA.field("published_at").nullable
    assert ARTICLE_SCHEMA.field("published_at").type == pa.timestamp("us", tz="UTC")
    assert ARTICLE_SCHEMA.field("word_count").type == pa.int32()
    authors = ARTICLE_SCHEMA.field("authors").type
    assert pa.types.is_list(authors) and not authors.value_field.nullable


@pytest.mark.parametrize("schema", [ARTICLE_SCHEMA, DUPLICATE_SCHEMA, REJECT_SCHEMA])
def test_check_row_supports_every_column_type(schema):
    # a schema change that adds a type must extend _type_problem (else "unsupported type")
    row = {field.name: object() for field in schema}
    problems = check_row(row, schema)
    assert len(problems) == len(schema)
    assert not [p for p in problems if "unsupported type" in p]


def test_schemas_package_exports():
    assert set(schemas.__all__) >= {"ARTICLE_SCHEMA", "check_row", "empty_row", "TABLE_SCHEMAS"}


# --- empty_row -----------------------------------------------------------------------------------

@pytest.mark.parametrize("schema", [ARTICLE_SCHEMA, DUPLICATE_SCHEMA, REJECT_SCHEMA])
def test_empty_row_has_every_column_in_order(schema):
    row = empty_row(schema)
    assert list(row) == schema.names
    for field in schema:
        expected = [] if pa.types.is_list(field.type) else None
        assert row[field.name] == expected


def test_empty_row_defaults_to_article_schema_and_lists_are_fresh():
    first, second = empty_row(), empty_row()
    assert list(first) == ARTICLE_SCHEMA.names
    first["authors"].append("x")
    assert second["authors"] == []


@pytest.mark.parametrize("schema", [ARTICLE_SCHEMA, DUPLICATE_SCHEMA, REJECT_SCHEMA])
def test_check_row_on_empty_row_lists_the_required_scalar_columns(schema):
    required = {f.name for f in schema if not f.nullable and not pa.types.is_list(f.type)}
    assert set(check_row(empty_row(schema), schema)) == {f"{name} is null" for name in required}


def test_empty_article_row_needs_the_documented_columns():
    problems = check_row(empty_row())
    assert "article_id is null" in problems
    assert "authors is null" not in problems  # lists start as []
    assert "url is null" not in problems  # nullable


# --- check_row: valid rows -------------------------------------------------------------------------

@pytest.mark.parametrize("schema,row", [(ARTICLE_SCHEMA, article_row()), (REJECT_SCHEMA, reject_row()),
                                        (DUPLICATE_SCHEMA, duplicate_row())])
def test_valid_rows_have_no_problems(schema, row):
    assert check_row(row, schema) == []


def test_valid_rows_are_accepted_by_pyarrow_too():
    table = pa.Table.from_pylist([article_row()], schema=ARTICLE_SCHEMA)
    assert table.num_rows == 1


def test_nullable_columns_may_be_none():
    row = article_row(url=None, canonical_url=None, published_at=None, language=None,
                      language_confidence=None, summary=None, guid=None)
    assert check_row(row) == []


def test_utc_equivalent_zone_is_accepted():
    winter_london = dt.datetime(2026, 1, 2, 12, tzinfo=ZoneInfo("Europe/London"))
    assert check_row(article_row(published_at=winter_london)) == []


def test_float_column_accepts_int():
    assert check_row(article_row(language_confidence=1)) == []


# --- check_row: problems ----------------------------------------------------------------------------

def test_unknown_and_missing_columns():
    row = article_row(extra="x")
    del row["run_id"]
    assert check_row(row) == ["unknown column 'extra'", "missing column 'run_id'"]


def test_null_in_required_column():
    assert check_row(article_row(title=None)) == ["title is null"]


@pytest.mark.parametrize("column,value,expected", [
    ("title", 5, "title: expected str, got int"),
    ("word_count", "3", "word_count: expected int, got str"),
    ("word_count", True, "word_count: expected int, got bool"),
    ("word_count", 3.0, "word_count: expected int, got float"),
    ("word_count", 2**31, f"word_count: {2**31} out of range for int32"),
    ("cluster_size", -(2**31) - 1, f"cluster_size: {-(2**31) - 1} out of range for int32"),
    ("language_confidence", True, "language_confidence: expected float, got bool"),
    ("language_confidence", "0.5", "language_confidence: expected float, got str"),
    ("published_at", "2026-01-01", "published_at: expected datetime, got str"),
    ("published_at", dt.datetime(2026, 1, 1), "published_at: timestamp is not UTC"),
    ("published_at", dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))),
     "published_at: timestamp is not UTC"),
    ("authors", ("a",), "authors: expected list, got tuple"),
    ("authors", ["a", None], "authors: null list item"),
    ("categories", ["a", 1], "categories: list item: expected str, got int"),
])
def test_article_type_problems(column, value, expected):
    assert check_row(article_row(**{column: value})) == [expected]


def test_int32_bounds_are_inclusive():
    assert check_row(article_row(word_count=2**31 - 1, cluster_size=-(2**31))) == []


@pytest.mark.parametrize("column,value,expected", [
    ("payload", "text", "payload: expected bytes, got str"),
    ("payload_truncated", 0, "payload_truncated: expected bool, got int"),
    ("payload_truncated", None, "payload_truncated is null"),
])
def test_reject_type_problems(column, value, expected):
    assert check_row(reject_row(**{column: value}), REJECT_SCHEMA) == [expected]


def test_duplicate_row_checked_against_its_own_schema():
    assert check_row(duplicate_row(similarity="1"), DUPLICATE_SCHEMA) == ["similarity: expected float, got str"]
    # an article row is not a duplicate row
    problems = check_row(article_row(), DUPLICATE_SCHEMA)
    assert "missing column 'canonical_id'" in problems
    assert "unknown column 'body'" in problems


def test_several_problems_are_all_reported():
    problems = check_row(article_row(title=None, word_count="x", authors=None))
    assert sorted(problems) == ["authors is null", "title is null", "word_count: expected int, got str"]


_ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
                       st.binary(max_size=5), st.lists(st.one_of(st.none(), st.text(max_size=3)), max_size=3),
                       st.datetimes(timezones=st.one_of(st.none(), st.just(UTC))))


_VALID_ROW = {ARTICLE_SCHEMA: article_row, DUPLICATE_SCHEMA: duplicate_row, REJECT_SCHEMA: reject_row}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([ARTICLE_SCHEMA, DUPLICATE_SCHEMA, REJECT_SCHEMA]), st.data())
def test_check_row_never_raises_and_agrees_with_pyarrow(schema, data):
    changes = data.draw(st.dictionaries(st.sampled_from(schema.names), _ANY_VALUE, max_size=3))
    row = _VALID_ROW[schema](**changes)
    problems = check_row(row, schema)
    assert all(isinstance(p, str) for p in problems)
    # every problem names a column that was changed
    assert all(any(name in p for name in changes) for p in problems)
    if not problems:  # what check_row accepts, pyarrow stores
        assert pa.Table.from_pylist([row], schema=schema).num_rows == 1
