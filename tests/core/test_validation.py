"""core.validation.validate_batch: rows GX names go to quarantine alone, the rest is validated again;
a failed expectation on the whole batch quarantines the batch. Real GX, real suites (plus one
expectation each, as a suite passed with --expectations would add it)."""

import datetime as dt

import pytest
from conftest import article_row

from expectations import SUITES_DIR
from pipelines.core.batches import make_batches, parquet_bytes
from pipelines.core.validation import BatchValidator, load_suite_json, row_failures, suite_parameters, validate_batch

PARTITION = "ingest_date=2026-11-27"
IN_SET = "expect_column_values_to_be_in_set(source_name)"
ROW_COUNT = "expect_table_row_count_to_be_between()"


def validator_with(*extra: dict) -> BatchValidator:
    suite = load_suite_json(SUITES_DIR, "articles")
    return BatchValidator(None, "articles", suite_json={**suite, "expectations": [*suite["expectations"], *extra]})


@pytest.fixture(scope="module")
def in_set_validator():
    return validator_with({"type": "expect_column_values_to_be_in_set",
                           "kwargs": {"column": "source_name", "value_set": ["Wire"]}})


def batch_of(*rows):
    [batch] = make_batches("articles", PARTITION, rows, batch_size=100)
    return batch


def wire(guid: str) -> dict:
    return article_row(guid=guid, url=f"https://example.com/{guid}", source_name="Wire")


def parameters():
    return suite_parameters(dt.datetime.now(dt.timezone.utc))


def test_a_passing_batch_is_written_whole(in_set_validator):
    batch = batch_of(wire("a"), wire("b"))
    [(valid, written, result)] = validate_batch(in_set_validator, batch, parameters())
    assert valid and written == batch and result["success"] and result["summary"]["batch_id"] == batch.batch_id


def test_only_the_row_breaking_a_value_set_is_quarantined(in_set_validator):
    rows = [wire("a"), dict(wire("b"), source_name="Other"), wire("c")]
    batch = batch_of(*rows)
    [(q_valid, quarantined, first), (valid, rest, second)] = validate_batch(in_set_validator, batch, parameters())
    assert not q_valid and valid
    assert [row["guid"] for row in quarantined.rows] == ["b"]
    assert quarantined.rows[0]["failed_expectations"] == [IN_SET]
    assert sorted(row["guid"] for row in rest.rows) == ["a", "c"]
    assert all(row["failed_expectations"] is None for row in rest.rows)
    assert len({batch.batch_id, quarantined.batch_id, rest.batch_id}) == 3  # three files, three names
    # both results are kept: the first names the failing row, the second says where the rest came from
    assert not first["success"] and first["summary"]["failed"] == [IN_SET]
    assert first["summary"]["batch_id"] == batch.batch_id and first["summary"]["quarantined_rows"] == 1
    assert second["success"] and second["summary"]["batch_id"] == rest.batch_id
    assert second["summary"]["split_from"] == batch.batch_id
    parquet_bytes(quarantined.to_arrow())  # a quarantined row still fits its table's schema


def test_rows_sharing_an_id_are_quarantined_together_and_the_rest_written(in_set_validator):
    twin = wire("a")
    batch = batch_of(twin, dict(twin), wire("b"))
    [(_, quarantined, _), (valid, rest, _)] = validate_batch(in_set_validator, batch, parameters())
    assert valid and [row["guid"] for row in rest.rows] == ["b"]
    assert [row["failed_expectations"] for row in quarantined.rows] == [
        ["expect_column_values_to_be_unique(article_id)"]] * 2


def test_a_failed_aggregate_quarantines_the_whole_batch():
    validator = validator_with({"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 2}},
                               {"type": "expect_column_values_to_be_in_set",
                                "kwargs": {"column": "source_name", "value_set": ["Wire"]}})
    batch = batch_of(wire("a"), dict(wire("b"), source_name="Other"), wire("c"))
    [(valid, quarantined, result)] = validate_batch(validator, batch, parameters())
    assert not valid and quarantined.batch_id == batch.batch_id and len(quarantined.rows) == 3
    names = {row["guid"]: row["failed_expectations"] for row in quarantined.rows}
    assert names == {"a": [ROW_COUNT], "b": [IN_SET, ROW_COUNT], "c": [ROW_COUNT]}
    assert sorted(result["summary"]["failed"]) == sorted([IN_SET, ROW_COUNT])


def test_the_rest_is_quarantined_whole_when_it_fails_again():
    """Three rows pass a row count of at least 3; without the failing row the rest no longer does."""
    validator = validator_with({"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 3}},
                               {"type": "expect_column_values_to_be_in_set",
                                "kwargs": {"column": "source_name", "value_set": ["Wire"]}})
    batch = batch_of(wire("a"), dict(wire("b"), source_name="Other"), wire("c"))
    [(_, quarantined, _), (valid, rest, second)] = validate_batch(validator, batch, parameters())
    assert not valid and [row["guid"] for row in quarantined.rows] == ["b"]
    assert [row["failed_expectations"] for row in rest.rows] == [[ROW_COUNT], [ROW_COUNT]]
    assert second["summary"]["split_from"] == batch.batch_id


def test_every_row_failing_keeps_the_batch_whole(in_set_validator):
    batch = batch_of(dict(wire("a"), source_name="X"), dict(wire("b"), source_name="Y"))
    [(valid, quarantined, _)] = validate_batch(in_set_validator, batch, parameters())
    assert not valid and quarantined.batch_id == batch.batch_id
    assert [row["failed_expectations"] for row in quarantined.rows] == [[IN_SET], [IN_SET]]


def test_row_failures_blames_the_batch_when_a_failed_expectation_names_no_row():
    def item(kind, success, indices=None):
        result = {} if indices is None else {"unexpected_index_list": indices}
        return {"success": success, "expectation_config": {"type": kind, "kwargs": {"column": "c"}},
                "result": result}

    result = {"results": [item("expect_a", False, [0, 2]), item("expect_b", False, [2]), item("expect_c", True, [1]),
                          item("expect_d", False), item("expect_e", False, [])]}
    assert row_failures(result) == ({0: ["expect_a(c)"], 2: ["expect_a(c)", "expect_b(c)"]},
                                    ["expect_d(c)", "expect_e(c)"])
