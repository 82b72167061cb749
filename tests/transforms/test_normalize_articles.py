import datetime as dt

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import INGESTED_AT, RUN_ID, raw_article

from pipelines.transforms import NormalizeArticles


def test_rows_and_rejects():
    raws = [
        raw_article(title="  Kabul   talks ", body="KABUL (Agencies): Officials met on Sunday.", guid="g1"),
        raw_article(title="", guid="g2"),
        raw_article(url="javascript:alert(1)", guid="g3"),
        # a value the normaliser cannot handle must become a STAGE_ERROR reject, not a crash
        raw_article(title=12345, guid="g4"),
    ]
    with TestPipeline() as p:
        out = p | beam.Create(raws) | NormalizeArticles(RUN_ID, INGESTED_AT)
        assert_that(out.articles | beam.Map(lambda r: (r["title"], r["body"], r["dateline_location"],
                                                        r["dateline_credit"], r["run_id"])),
                    equal_to([("Kabul talks", "Officials met on Sunday.", "KABUL", "Agencies", RUN_ID)]),
                    label="Articles")
        assert_that(out.rejects | beam.Map(lambda rej: (rej.guid, rej.stage, rej.reason)),
                    equal_to([("g2", "normalize", "MISSING_TITLE"), ("g3", "normalize", "BAD_URL"),
                              ("g4", "normalize", "STAGE_ERROR")]),
                    label="Rejects")


def test_constructor_checks_arguments():
    with pytest.raises(ValueError):
        NormalizeArticles("", INGESTED_AT)
    with pytest.raises(ValueError):
        NormalizeArticles(RUN_ID, dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))))
