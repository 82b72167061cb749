import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import INGESTED_AT, RUN_ID, SEED_DOCUMENT, raw_article

from pipelines.core.documents import parse_document
from pipelines.core.normalize import normalize_article
from pipelines.transforms import EnrichArticles

EN = "The technical teams met for two hours and agreed to a follow-on meeting in the next two days."
FR = "Les grands musées de la capitale ont rouvert leurs portes mardi matin après plusieurs jours de grève."


def rows():
    seed = normalize_article(parse_document(str(SEED_DOCUMENT), SEED_DOCUMENT.read_bytes()), RUN_ID, INGESTED_AT)
    return [normalize_article(raw_article(title="En", body=EN, guid="en"), RUN_ID, INGESTED_AT),
            normalize_article(raw_article(title="Fr", body=FR, guid="fr"), RUN_ID, INGESTED_AT),
            normalize_article(raw_article(title="Headline only", body="", guid="h"), RUN_ID, INGESTED_AT),
            dict(seed, guid="seed")]


@pytest.mark.parametrize("profile", ["core", "full"])
def test_profiles_set_their_columns_and_reject_what_fails(profile):
    broken = dict(rows()[0], guid="broken", body=None)  # the enrichment code fails on it -> reject
    with TestPipeline() as p:
        out = p | beam.Create(rows() + [broken]) | EnrichArticles(profile, batch_size=3)
        assert_that(out.articles | beam.Map(lambda r: (r["guid"], r["word_count"], r["language"],
                                                        r["dateline_country"], r["persons"] is None)),
                    equal_to([("en", 18, "en", None, profile == "core"), ("fr", 17, "fr", None, True),
                              ("h", 0, None, None, True),  # no language, no entities
                              ("seed", 532, "en", "AF", profile == "core")]), label="Articles")
        assert_that(out.rejects | beam.Map(lambda rej: (rej.guid, rej.stage, rej.reason)),
                    equal_to([("broken", "enrich", "STAGE_ERROR")]), label="Rejects")


def test_full_profile_finds_the_seed_documents_people_and_quotes():
    with TestPipeline() as p:
        out = p | beam.Create(rows()[3:]) | EnrichArticles("full")
        assert_that(out.articles | beam.Map(lambda r: (
            {"Zalmay Khalilzad", "Jawed Faisal", "Suhail Shaheen", "Hamid Saifi"} <= set(r["persons"]),
            {"Kabul", "Qatar", "Doha"} <= set(r["locations"]), "AF" in r["countries"],
            any(q["speaker"] == "Jawed Faisal" for q in r["quotes"]), -1 <= r["tone"] <= 1)),
            equal_to([(True, True, True, True, True)]))


def test_profile_is_checked():
    with pytest.raises(ValueError):
        EnrichArticles("everything")
