"""The GX suites and the schema must agree; the real suites must catch real problems."""

import datetime as dt

import pyarrow as pa
import pytest

import schemas
from conftest import article_row
from expectations import SUITES_DIR
from pipelines.core.language import supported_languages
from pipelines.core.validation import BatchValidator, SuiteError, load_suite_json

TABLES = {"articles": schemas.ARTICLE_SCHEMA, "duplicates": schemas.DUPLICATE_SCHEMA,
          "rejects": schemas.REJECT_SCHEMA}


def expectations_of(table, kind):
    return [e["kwargs"] for e in load_suite_json(SUITES_DIR, table)["expectations"] if e["type"] == kind]


@pytest.mark.parametrize("table", sorted(TABLES))
def test_suite_column_list_is_the_schema(table):
    [kwargs] = expectations_of(table, "expect_table_columns_to_match_ordered_list")
    assert kwargs["column_list"] == TABLES[table].names


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_required_column_has_a_not_null_expectation(table):
    required = {f.name for f in TABLES[table] if not f.nullable}
    not_null = {k["column"] for k in expectations_of(table, "expect_column_values_to_not_be_null")}
    assert not_null == required


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_column_named_by_the_suite_exists(table):
    for expectation in load_suite_json(SUITES_DIR, table)["expectations"]:
        column = expectation["kwargs"].get("column")
        if column is not None:
            assert column in TABLES[table].names, expectation


def test_language_set_covers_every_code_the_detector_can_return():
    [kwargs] = [k for k in expectations_of("articles", "expect_column_values_to_be_in_set")
                if k["column"] == "language"]
    assert set(supported_languages()) <= set(kwargs["value_set"])
    assert all(len(code) == 2 and code.islower() for code in kwargs["value_set"])


@pytest.fixture(scope="module")
def validator():
    return BatchValidator(SUITES_DIR, "articles")


def table_of(rows):
    return pa.Table.from_pylist(rows, schema=schemas.ARTICLE_SCHEMA)


def parameters():
    now = dt.datetime.now(dt.timezone.utc)
    return {"now": now, "max_published_at": now + dt.timedelta(days=1)}


def test_good_batch_passes(validator):
    outcome = validator.validate(table_of([article_row(guid="a"), article_row(guid="b")]), parameters())
    assert outcome.success, outcome.failed_expectations


@pytest.mark.parametrize("change, failed", [
    (lambda rows: rows + [dict(rows[0])], "expect_column_values_to_be_unique(article_id)"),
    (lambda rows: [dict(rows[0], url="ftp://example.com/x")], "expect_column_values_to_match_regex(url)"),
    (lambda rows: [dict(rows[0], language="english")], "expect_column_values_to_be_in_set(language)"),
    (lambda rows: [dict(rows[0], word_count=-1)], "expect_column_values_to_be_between(word_count)"),
    (lambda rows: [dict(rows[0], title="")], "expect_column_value_lengths_to_be_between(title)"),
    (lambda rows: [dict(rows[0], published_at=dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc))],
     "expect_column_values_to_be_between(published_at)"),
    (lambda rows: [dict(rows[0], source_type="tweet")], "expect_column_values_to_be_in_set(source_type)"),
])
def test_bad_batches_fail_on_the_right_expectation(validator, change, failed):
    outcome = validator.validate(table_of(change([article_row(guid="a")])), parameters())
    assert not outcome.success
    assert failed in outcome.failed_expectations


def test_missing_or_broken_suite_is_a_clear_error(tmp_path):
    with pytest.raises(SuiteError, match="not found"):
        load_suite_json(tmp_path, "articles")
    (tmp_path / "articles.json").write_text("{not json")
    with pytest.raises(SuiteError, match="cannot read"):
        load_suite_json(tmp_path, "articles")
    (tmp_path / "articles.json").write_text('{"name": "articles", "expectations": [{"type": "expect_nonsense"}]}')
    with pytest.raises(SuiteError, match="invalid expectation suite"):
        BatchValidator(tmp_path, "articles")


def test_readme_column_tables_are_the_schema():
    from conftest import ROOT
    from schemas.__main__ import markdown

    assert markdown().strip() in (ROOT / "README.md").read_text()
