"""The GX suites and the schema must agree; the real suites must catch real problems."""

import datetime as dt
import json

import pyarrow as pa
import pytest
from conftest import INGESTED_AT, RUN_ID, article_row

import schemas
from expectations import SUITES_DIR
from pipelines.core.batches import ID_COLUMNS
from pipelines.core.language import supported_languages
from pipelines.core.records import Reject
from pipelines.core.validation import (
    BatchValidator,
    SuiteError,
    expectation_name,
    load_suite_json,
    row_failures,
    suite_parameters,
)
from schemas.rules import RULES, check_values

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


# --- row checks and suites agree ---------------------------------------------------------------------

# Expectations that are not a per-row value rule: the schema's (column list, nulls, tested above), the
# ids' (uniqueness: no single row can break it), or the batch's as a whole.
NOT_VALUE_RULES = {"expect_table_columns_to_match_ordered_list", "expect_column_values_to_not_be_null",
                   "expect_column_values_to_be_unique", "expect_column_unique_value_count_to_be_between"}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_per_row_expectations_of_the_suite_are_the_schema_rules(table):
    """Every per-row expectation has a row check (CheckRows runs schemas.check_values), and every
    rule is in the suite, with the same arguments."""
    suite = [{"type": e["type"], "kwargs": e["kwargs"]} for e in load_suite_json(SUITES_DIR, table)["expectations"]
             if e["type"] not in NOT_VALUE_RULES]
    rules = [rule.expectation() for rule in RULES[table]]
    assert sorted(map(json.dumps, suite)) == sorted(map(json.dumps, rules))


def test_a_suite_expectation_without_a_rule_is_caught():
    kinds = {e["type"] for table in TABLES for e in load_suite_json(SUITES_DIR, table)["expectations"]}
    assert kinds - NOT_VALUE_RULES == {rule.expectation()["type"] for table in TABLES for rule in RULES[table]}
    extra = {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "source_name", "value_set": ["A"]}}
    assert json.dumps(extra) not in {json.dumps(rule.expectation()) for rule in RULES["articles"]}


def _valid_row(table: str) -> dict:
    if table == "articles":
        return article_row(guid="a")
    if table == "duplicates":
        return {"article_id": "a" * 32, "url": "https://example.com/copy", "title": "T", "source_type": "feed",
                "source_name": None, "feed_url": None, "guid": None, "canonical_id": "b" * 32, "method": "url",
                "similarity": 1.0, "ingested_at": INGESTED_AT, "run_id": RUN_ID, "failed_expectations": None}
    return Reject("normalize", "MISSING_TITLE", "no title", "feed", "feeds/a.rss", payload=b"{}",
                  position=0).to_row(RUN_ID, INGESTED_AT)


def _breaking(rule, schema: pa.Schema, parameters: dict):
    """A value of the rule's column that has the column's type and breaks the rule."""
    if rule.kind == "regex":
        return "not a match"
    if rule.kind == "in_set":
        return "zz-not-in-the-set"
    if rule.kind == "min_length":
        return ""
    if isinstance(rule.max_value, str):
        return parameters[rule.max_value] + dt.timedelta(days=1)
    low = rule.min_value
    return low - 1 if pa.types.is_integer(schema.field(rule.column).type) else float(low) - 0.5


@pytest.fixture(scope="module")
def validators():
    return {table: BatchValidator(SUITES_DIR, table) for table in TABLES}


@pytest.mark.parametrize("table, rule", [(t, rule) for t in sorted(TABLES) for rule in RULES[t]],
                         ids=lambda value: getattr(value, "column", value))
def test_row_check_and_gx_refuse_the_same_value(validators, table, rule):
    """A row breaking one rule: check_values names that column, and the real suite fails on that
    expectation alone, naming the row (the rule and the expectation mean the same)."""
    parameters = suite_parameters(dt.datetime.now(dt.timezone.utc))
    good = _valid_row(table)
    assert schemas.check_row(good, TABLES[table]) == [] and check_values(good, table, parameters) == []
    bad = dict(good, **{ID_COLUMNS[table]: "f" * 32})  # two rows: GX sees what the rule is about, not ids
    bad[rule.column] = _breaking(rule, TABLES[table], parameters)
    assert schemas.check_row(bad, TABLES[table]) == []
    [problem] = check_values(bad, table, parameters)
    assert problem.startswith(f"{rule.column}: ")
    outcome = validators[table].validate(pa.Table.from_pylist([good, bad], schema=TABLES[table]), parameters)
    assert outcome.failed_expectations == [expectation_name(rule.expectation())]
    assert row_failures(outcome.result) == ({1: [expectation_name(rule.expectation())]}, [])
