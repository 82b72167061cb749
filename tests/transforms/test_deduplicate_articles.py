import datetime as dt
import random
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import INGESTED_AT, RUN_ID, raw_article

from pipelines.core.normalize import normalize_article
from pipelines.transforms import DeduplicateArticles

STORY = " ".join(["Negotiators from nearly two hundred countries opened technical talks on carbon markets."] * 4)


def rows():
    def row(**kw):
        return normalize_article(raw_article(**kw), RUN_ID, INGESTED_AT)

    early = dt.datetime(2020, 3, 9, 8, 0, tzinfo=dt.timezone.utc)
    return [
        row(url="https://ex.org/bonn?id=1", guid="tag:ex.org,2020:1", body=STORY, published_at=early, feed_url="/a"),
        row(url="https://ex.org/bonn?id=1&utm_source=x", guid="g-b", body=STORY, feed_url="/b",
            published_at=early + dt.timedelta(hours=1)),
        row(url="https://other.org/copy", guid="tag:ex.org,2020:1", body="Short copy.", feed_url="/c"),
        row(url="https://third.org/wire", guid="g-d", body="ROME (AP) — " + STORY, feed_url="/d"),
        row(url="https://ex.org/unrelated", guid="g-e", body="Nothing in common with the rest.", feed_url="/e"),
        row(url="https://ex.org/short-1", guid="g-f", body="Same short line.", feed_url="/f"),
        row(url="https://ex.org/short-2", guid="g-g", body="Same short line.", feed_url="/g"),
    ]


@pytest.mark.parametrize("seed", [0, *(pytest.param(seed, marks=pytest.mark.slow) for seed in (1, 2))])
def test_clusters_and_kept_article_do_not_depend_on_input_order(seed):
    inputs = rows()
    random.Random(seed).shuffle(inputs)
    ids = {r["url"]: r["article_id"] for r in inputs}
    with TestPipeline() as p:
        out = p | beam.Create(inputs) | DeduplicateArticles()
        assert_that(out.articles | "Kept" >> beam.Map(lambda r: (r["url"], r["cluster_size"])),
                    equal_to([("https://ex.org/bonn?id=1", 4), ("https://ex.org/unrelated", 1),
                              ("https://ex.org/short-1", 1), ("https://ex.org/short-2", 1)]),
                    label="Kept")
        assert_that(out.duplicates | "Dups" >> beam.Map(lambda d: (d["url"], d["method"], d["canonical_id"])),
                    equal_to([("https://ex.org/bonn?id=1&utm_source=x", "url", ids["https://ex.org/bonn?id=1"]),
                              ("https://other.org/copy", "guid", ids["https://ex.org/bonn?id=1"]),
                              ("https://third.org/wire", "content", ids["https://ex.org/bonn?id=1"])]),
                    label="Duplicates")


def test_methods_are_checked():
    with pytest.raises(ValueError):
        DeduplicateArticles(["near-ish"])
    with pytest.raises(ValueError):
        DeduplicateArticles([])


KABUL = (Path(__file__).resolve().parents[2] / "seeds" / "documents" / "000_fc173cf85abe3055.txt").read_text()
KABUL_BODY = KABUL.split("\n", 1)[1].strip()


def near_rows():
    paragraphs = KABUL_BODY.split("\n\n")

    def row(guid, body, **kw):
        return normalize_article(raw_article(guid=guid, url=f"https://ex.org/{guid}", title=f"T {guid}",
                                             body=body, feed_url=f"/{guid}", **kw), RUN_ID, INGESTED_AT)

    early = dt.datetime(2020, 3, 8, tzinfo=dt.timezone.utc)
    edited = KABUL_BODY.replace("Sunday", "Sunday afternoon").replace("two hours", "about two hours")
    figures = ("The city council approved a budget of 120 million dollars on Monday, with 45 votes in favour "
               "and 12 against, after a debate that lasted most of the day and drew a large crowd of residents "
               "to the chamber. The mayor said the spending plan would fund 300 new teachers and repair 18 bridges.")
    return [
        row("original", KABUL_BODY, published_at=early),
        row("trimmed", "\n\n".join(paragraphs[:4])),
        row("edited", "WASHINGTON (AP) — " + edited + "\n\nCopyright 2020 The Associated Press."),
        row("budget-a", figures),
        row("budget-b", figures.replace("120", "135").replace("45 votes", "39 votes").replace("12 against", "18 against")),
        row("tiny-a", "Read more on our website."),
        row("tiny-b", "Read more on our website."),
    ]


def test_near_duplicates_merge_under_the_earliest_and_hard_negatives_stay():
    inputs = near_rows()
    ids = {r["guid"]: r["article_id"] for r in inputs}
    with TestPipeline() as p:
        out = p | beam.Create(inputs) | DeduplicateArticles()
        assert_that(out.articles | "Kept" >> beam.Map(lambda r: (r["guid"], r["cluster_size"])),
                    equal_to([("original", 3), ("budget-a", 1), ("budget-b", 1), ("tiny-a", 1), ("tiny-b", 1)]),
                    label="Kept")
        assert_that(out.duplicates | "Dups" >> beam.Map(lambda d: (d["guid"], d["method"], d["canonical_id"],
                                                                   0.9 <= d["similarity"] <= 1.0)),
                    equal_to([("trimmed", "near", ids["original"], True),
                              ("edited", "near", ids["original"], True)]),
                    label="Duplicates")


def test_near_pass_can_be_switched_off():
    with TestPipeline() as p:
        out = p | beam.Create(near_rows()) | DeduplicateArticles(near=None)
        assert_that(out.duplicates, equal_to([]))
