import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from conftest import INGESTED_AT, RUN_ID, raw_article
from pipelines.core.normalize import normalize_article
from pipelines.transforms import EnrichArticles

EN = "The technical teams met for two hours and agreed to a follow-on meeting in the next two days."
FR = "Les grands musées de la capitale ont rouvert leurs portes mardi matin après plusieurs jours de grève."


def test_word_count_and_language():
    rows = [normalize_article(raw_article(title="En", body=EN, guid="en"), RUN_ID, INGESTED_AT),
            normalize_article(raw_article(title="Fr", body=FR, guid="fr"), RUN_ID, INGESTED_AT),
            normalize_article(raw_article(title="Headline only", body="", guid="h"), RUN_ID, INGESTED_AT)]
    broken = dict(rows[0], guid="broken", body=None)  # the enrichment code fails on it -> reject
    with TestPipeline() as p:
        out = p | beam.Create(rows + [broken]) | EnrichArticles()
        assert_that(out.articles | beam.Map(lambda r: (r["guid"], r["word_count"], r["language"])),
                    equal_to([("en", 18, "en"), ("fr", 17, "fr"), ("h", 0, None)]), label="Articles")
        assert_that(out.rejects | beam.Map(lambda rej: (rej.guid, rej.stage, rej.reason)),
                    equal_to([("broken", "enrich", "STAGE_ERROR")]), label="Rejects")
