import datetime as dt

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import article_row

from expectations import SUITES_DIR
from pipelines.transforms import BatchRows, CheckRows, ValidateBatches
from pipelines.transforms.tags import QUARANTINED, VALID


def test_check_rows_rejects_rows_that_do_not_fit_the_schema():
    good = article_row(guid="good")
    missing = {k: v for k, v in article_row(guid="missing").items() if k != "word_count"}
    wrong = article_row(guid="wrong", word_count="7")
    with TestPipeline() as p:
        out = p | beam.Create([good, missing, wrong]) | CheckRows()
        assert_that(out.rows | beam.Map(lambda r: r["guid"]), equal_to(["good"]), label="Articles")
        assert_that(out.rejects | beam.Map(lambda rej: (rej.guid, rej.reason, rej.message)),
                    equal_to([("missing", "SCHEMA_VIOLATION", "missing column 'word_count'"),
                              ("wrong", "SCHEMA_VIOLATION", "word_count: expected int, got str")]),
                    label="Rejects")


def test_batch_rows_splits_by_partition_and_size():
    day1 = dt.datetime(2026, 1, 1, 10, tzinfo=dt.timezone.utc)
    day2 = dt.datetime(2026, 1, 2, 10, tzinfo=dt.timezone.utc)
    rows = [article_row(guid=f"a{i}", article_id=f"{i:032x}", ingested_at=day1) for i in range(5)]
    rows += [article_row(guid="b", article_id="f" * 32, ingested_at=day2)]
    with TestPipeline() as p:
        batches = p | beam.Create(rows) | BatchRows("articles", batch_size=2, shards=1)
        assert_that(batches | beam.Map(lambda b: (b.partition, len(b.rows))),
                    equal_to([("ingest_date=2026-01-01", 2), ("ingest_date=2026-01-01", 2),
                              ("ingest_date=2026-01-01", 1), ("ingest_date=2026-01-02", 1)]))


def test_batch_rows_checks_arguments():
    with pytest.raises(ValueError):
        BatchRows("nope")
    with pytest.raises(ValueError):
        BatchRows("articles", batch_size=0)


def test_real_suite_passes_good_batches_and_quarantines_bad_ones():
    good = [article_row(guid="g1"), article_row(guid="g2", url="https://example.com/b")]
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)
    bad_rows = [dict(article_row(guid="x1"), published_at=future)]  # passed row checks, but the suite says no
    with TestPipeline() as p:
        good_batches = p | "Good" >> beam.Create(good) | "BatchGood" >> BatchRows("articles", shards=1)
        bad_batches = p | "Bad" >> beam.Create(bad_rows) | "BatchBad" >> BatchRows("articles", shards=1)
        out = (good_batches, bad_batches) | beam.Flatten() | ValidateBatches("articles", str(SUITES_DIR))
        assert_that(out[VALID] | "V" >> beam.Map(lambda e: (len(e[0].rows), e[1]["success"])),
                    equal_to([(2, True)]), label="Valid")
        assert_that(out[QUARANTINED] | "Q" >> beam.Map(lambda e: (len(e[0].rows), e[1]["summary"]["failed"])),
                    equal_to([(1, ["expect_column_values_to_be_between(published_at)"])]),
                    label="Quarantined")


def test_suite_is_read_when_the_graph_is_built_not_on_the_worker(tmp_path):
    """A remote worker has no access to the driver's expectations folder: the suite travels with the DoFn."""
    import shutil

    from pipelines.core.validation import SuiteError

    suites = tmp_path / "suites"
    shutil.copytree(SUITES_DIR, suites)
    with TestPipeline() as p:
        batches = p | beam.Create([article_row(guid="g1")]) | BatchRows("articles", shards=1)
        out = batches | ValidateBatches("articles", str(suites))
        shutil.rmtree(suites)  # gone before any worker runs
        assert_that(out[VALID] | beam.Map(lambda e: e[1]["success"]), equal_to([True]))
    with pytest.raises(SuiteError, match="not found"):
        ValidateBatches("articles", str(tmp_path / "missing"))


def test_check_rows_rejects_values_the_schema_rules_refuse():
    """The per-row part of the suites, checked before GX: the row is a reject naming the rule."""
    good = article_row(guid="good")
    language = article_row(guid="lang", language="english")
    source = article_row(guid="src", source_type="tweet")
    future = dict(article_row(guid="late"), published_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30))
    with TestPipeline() as p:
        out = p | beam.Create([good, language, source, future]) | CheckRows()
        assert_that(out.rows | beam.Map(lambda r: r["guid"]), equal_to(["good"]), label="Articles")
        assert_that(out.rejects | beam.Map(
            lambda rej: (rej.guid, rej.reason, rej.source_type, rej.message.split(":")[0])),
                    equal_to([("lang", "SCHEMA_VIOLATION", "feed", "language"),
                              ("src", "SCHEMA_VIOLATION", "unknown", "source_type"),  # a value the rejects suite takes
                              ("late", "SCHEMA_VIOLATION", "feed", "published_at")]),
                    label="Rejects")


def test_validate_batches_quarantines_the_failing_row_and_writes_the_rest(tmp_path):
    import json
    import shutil

    suites = tmp_path / "suites"
    shutil.copytree(SUITES_DIR, suites, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    articles = json.loads((suites / "articles.json").read_text())
    articles["expectations"].append({"type": "expect_column_values_to_be_in_set",
                                     "kwargs": {"column": "source_name", "value_set": ["A"]}})
    (suites / "articles.json").write_text(json.dumps(articles))
    rows = [article_row(guid="g1"), article_row(guid="g2", url="https://example.com/b", source_name="B"),
            article_row(guid="g3", url="https://example.com/c")]
    with TestPipeline() as p:
        batches = p | beam.Create(rows) | BatchRows("articles", shards=1)
        out = batches | ValidateBatches("articles", str(suites))
        assert_that(out[VALID] | "V" >> beam.Map(lambda e: (sorted(r["guid"] for r in e[0].rows), e[1]["success"])),
                    equal_to([(["g1", "g3"], True)]), label="Valid")
        assert_that(out[QUARANTINED] | "Q" >> beam.Map(
            lambda e: ([(r["guid"], r["failed_expectations"]) for r in e[0].rows], e[1]["success"])),
            equal_to([([("g2", ["expect_column_values_to_be_in_set(source_name)"])], False)]), label="Quarantined")
